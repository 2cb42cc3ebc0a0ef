"""event-router against a real moto server: routing, attributes, exact bodies, and failures that raise."""

import json

import pytest

from handlers import router, runtime, validator
from tests.support import TRANSACTION_TYPES, Context, proxy_event, sample


def handed_over(pipeline, event):
    """Run the validator on the event and return the payload it sent the router."""
    response = validator.lambda_handler(proxy_event(event), Context())
    assert response["statusCode"] == 200, response
    return pipeline.invokes[-1]["payload"]


def route(payload):
    # The Lambda runtime hands the handler the payload as decoded JSON.
    return router.lambda_handler(json.loads(json.dumps(payload)), Context(function_name="event-router-test"))


@pytest.mark.parametrize("transaction_type", TRANSACTION_TYPES)
def test_each_type_lands_in_its_own_queue_with_attributes(pipeline, transaction_type):
    event = sample(transaction_type)
    result = route(handed_over(pipeline, event))
    assert result["queue_url"] == pipeline.queue_urls[transaction_type]

    [message] = pipeline.messages(transaction_type)
    assert message["MessageId"] == result["message_id"]
    body = json.loads(message["Body"])
    assert {key: body[key] for key in event} == event
    assert body["received_at"].endswith("Z")
    assert message["MessageAttributes"] == {
        "event_id": {"StringValue": event["event_id"], "DataType": "String"},
        "transaction_type": {"StringValue": transaction_type, "DataType": "String"},
    }
    for other in set(TRANSACTION_TYPES) - {transaction_type}:
        assert pipeline.messages(other) == []


def test_amount_reaches_the_queue_exactly_as_sent(pipeline):
    event = sample("payment")
    text = json.dumps(event).replace('"amount": 149.99', '"amount": 98765432109876543210.987654321')
    route(handed_over(pipeline, text))
    [message] = pipeline.messages("payment")
    assert '"amount":98765432109876543210.987654321' in message["Body"]


def test_routed_invocation_logs_one_line(pipeline, capsys):
    event = sample("dispute")
    payload = handed_over(pipeline, event)
    capsys.readouterr()
    route(payload)
    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert (record["function"], record["event_id"], record["outcome"], record["status"]) == (
        "event-router-test",
        event["event_id"],
        "routed",
        200,
    )
    assert "149.99" not in line


@pytest.mark.parametrize(
    "payload, reason",
    [
        ({}, "no message_body"),
        ({"message_body": "{not json"}, "not JSON"),
        ({"message_body": json.dumps({"transaction_type": "payment"})}, "no event_id"),
        ({"message_body": json.dumps({"event_id": "e-1", "transaction_type": "chargeback"})}, "unknown transaction_type"),
        ({"message_body": json.dumps({"event_id": "e-1"})}, "unknown transaction_type"),
        (["not", "an", "object"], "no message_body"),
    ],
)
def test_unroutable_payload_raises(pipeline, payload, reason, capsys):
    with pytest.raises(router.RoutingError, match=reason):
        route(payload)
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (record["outcome"], record["status"]) == ("failed", 500)
    for transaction_type in TRANSACTION_TYPES:
        assert pipeline.messages(transaction_type) == []


def test_missing_queue_variable_raises(pipeline, monkeypatch):
    payload = handed_over(pipeline, sample("refund"))
    monkeypatch.delenv("REFUNDS_QUEUE_URL")
    with pytest.raises(router.RoutingError, match="REFUNDS_QUEUE_URL is not set"):
        route(payload)


def test_queue_that_does_not_exist_raises(pipeline, monkeypatch):
    payload = handed_over(pipeline, sample("payment"))
    monkeypatch.setenv("PAYMENTS_QUEUE_URL", pipeline.queue_urls["payment"] + "-gone")
    with pytest.raises(Exception, match="NonExistentQueue|QueueDoesNotExist"):
        route(payload)


def test_sqs_unreachable_raises(pipeline, monkeypatch, unused_port, capsys):
    event = sample("dispute")
    payload = handed_over(pipeline, event)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{unused_port}")
    runtime.reset_clients()
    with pytest.raises(Exception, match="Could not connect"):
        route(payload)
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (record["event_id"], record["outcome"]) == (event["event_id"], "failed")
