"""webhook-validator against a real moto server: responses, the stored record, the hand-over, races, faults."""

import json
import threading
import time

import boto3
import pytest
from botocore.stub import Stubber

from handlers import runtime, validator
from tests.support import TRANSACTION_TYPES, Context, answer, proxy_event, sample


def deliver(event_body, **kwargs):
    return answer(validator.lambda_handler(proxy_event(event_body, **kwargs), Context()))


def accepted(event_id):
    return 200, {"message": "Event validated and queued for processing", "event_id": event_id}


@pytest.mark.parametrize("transaction_type", TRANSACTION_TYPES)
def test_valid_event_is_accepted_recorded_and_handed_to_the_router(pipeline, transaction_type):
    event = sample(transaction_type)
    before = time.time()
    assert deliver(event) == accepted(event["event_id"])

    item = pipeline.record(event["event_id"])
    assert item is not None
    stored = boto3.dynamodb.types.TypeDeserializer()
    record = {key: stored.deserialize(value) for key, value in item.items()}
    assert record["event_id"] == event["event_id"]
    assert record["transaction_type"] == transaction_type
    assert abs(int(record["expires_at"]) - (before + 30 * 24 * 3600)) <= 1
    assert record["received_at"].endswith("Z")
    assert set(record) == {
        "event_id", "transaction_type", "received_at", "expires_at", "request_id",
        "pending_shard", "pending_due", "message_body", "evidence",  # the outbox entry, until the router confirms
    }  # the amount and the rest of the body only inside the message and the evidence: gone once routed
    evidence = json.loads(record["evidence"])  # the request as received, for the archive (handlers/archive.py)
    assert evidence["source"] == "webhook" and evidence["verification"]["verdict"] == "valid"
    assert evidence["request"]["body_encoding"] == "utf-8"
    assert json.loads(evidence["request"]["body"]) == event
    assert evidence["events"] == [{"event_id": event["event_id"], "transaction_type": transaction_type}]
    assert int(record["pending_due"]) == int(float(record["expires_at"])) - 30 * 24 * 3600 + 30

    [invoke] = pipeline.invokes
    assert invoke["function"] == pipeline.router_name
    assert invoke["type"] == "Event"
    message = json.loads(invoke["payload"]["message_body"])
    assert message == {**event, "received_at": record["received_at"]}


@pytest.mark.parametrize(("setting", "days"), [("31", 31), ("365", 365), ("0", 30), ("thirty", 30)])
def test_the_de_duplication_window_is_the_environments(pipeline, monkeypatch, setting, days):
    # terraform's dedup_ttl_days (1 to 365); what the module would refuse falls back to the default.
    monkeypatch.setenv(validator.TTL_ENV, setting)
    event = sample("payment")
    before = time.time()
    assert deliver(event) == accepted(event["event_id"])
    expires_at = int(pipeline.record(event["event_id"])["expires_at"]["N"])
    assert abs(expires_at - (before + days * 24 * 3600)) <= 1


def test_base64_encoded_body_is_accepted(pipeline):
    event = sample("payment")
    assert deliver(event, base64_encoded=True) == accepted(event["event_id"])


def test_amount_is_stored_exactly(pipeline):
    event = sample("payment")
    body = json.dumps(event).replace('"amount": 149.99', '"amount": 1234567890123456789.0123456789')
    assert deliver(body)[0] == 200
    assert '"amount":1234567890123456789.0123456789' in pipeline.record(event["event_id"])["message_body"]["S"]
    assert '"amount":1234567890123456789.0123456789' in pipeline.invokes[0]["payload"]["message_body"]


def test_second_delivery_is_a_409_after_one_call_and_no_invoke(pipeline):
    event = sample("refund")
    assert deliver(event)[0] == 200
    calls = []
    runtime.client("dynamodb").meta.events.register("before-send.dynamodb", lambda request, **_: calls.append(1))
    assert deliver(event) == (409, {"error": "Duplicate event"})
    assert len(calls) == 1
    assert len(pipeline.invokes) == 1


def test_duplicate_keeps_the_first_record(pipeline):
    event = sample("payment")
    deliver(event)
    first = pipeline.record(event["event_id"])
    deliver({**event, "amount": 1})
    assert pipeline.record(event["event_id"]) == first


def test_expired_record_does_not_block_a_redelivery(pipeline):
    event = sample("dispute")
    pipeline.dynamodb.put_item(
        TableName=pipeline.table,
        Item={
            "event_id": {"S": event["event_id"]},
            "expires_at": {"N": str(int(time.time()) - 60)},
            "request_id": {"S": "an-old-request"},
        },
    )
    assert deliver(event) == accepted(event["event_id"])
    assert int(pipeline.record(event["event_id"])["expires_at"]["N"]) > time.time() + 29 * 24 * 3600
    assert len(pipeline.invokes) == 1


def test_record_not_yet_expired_still_blocks(pipeline):
    event = sample("dispute")
    pipeline.dynamodb.put_item(
        TableName=pipeline.table,
        Item={"event_id": {"S": event["event_id"]}, "expires_at": {"N": str(int(time.time()) + 60)}},
    )
    assert deliver(event) == (409, {"error": "Duplicate event"})


def test_malformed_body_writes_nothing_and_invokes_nothing(pipeline):
    event = sample("payment")
    del event["amount"]
    assert deliver(event) == (400, {"error": "Missing required field: amount"})
    assert pipeline.record(event["event_id"]) is None
    assert pipeline.invokes == []


def test_accepted_request_logs_one_json_line(pipeline, capsys):
    event = sample("payment")
    deliver(event)
    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["function"] == "webhook-validator-test"
    assert (record["event_id"], record["outcome"], record["status"]) == (event["event_id"], "accepted", 200)
    assert record["duration_ms"] > 0
    assert "149.99" not in line and "merchant" not in line


def test_twenty_concurrent_deliveries_of_one_new_event_give_one_200(pipeline):
    event = sample("payment")
    barrier = threading.Barrier(20)
    statuses = []

    def send():
        barrier.wait()
        statuses.append(deliver(event)[0])

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 19
    assert len(pipeline.invokes) == 1


# -- faults --------------------------------------------------------------------------------------------


def test_dynamodb_throttled_is_a_503_and_nothing_is_invoked(pipeline):
    # moto cannot throttle: the one fault injected with a stub.
    dynamodb = runtime.client("dynamodb")
    with Stubber(dynamodb) as stub:
        stub.add_client_error("put_item", "ProvisionedThroughputExceededException", http_status_code=400)
        status, body = deliver(sample("payment"))
    assert (status, body) == (503, {"error": validator.UNAVAILABLE_ERROR})
    assert pipeline.invokes == []


def test_dynamodb_unreachable_is_a_503_with_retry_after(pipeline, monkeypatch, unused_port):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{unused_port}")
    runtime.reset_clients()
    response = validator.lambda_handler(proxy_event(sample("payment")), Context())
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert pipeline.invokes == []


def lambda_unreachable(monkeypatch, port):
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{port}")
    runtime.reset_clients()


def test_failed_invoke_removes_the_record_and_the_retry_is_accepted(pipeline, monkeypatch, capsys, unused_port):
    lambda_unreachable(monkeypatch, unused_port)
    event = sample("payment")
    assert deliver(event) == (503, {"error": validator.UNAVAILABLE_ERROR})
    assert pipeline.record(event["event_id"]) is None
    log = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (log["outcome"], log["status"]) == ("handover_failed", 503)
    assert "EndpointConnectionError" in log["error"]

    monkeypatch.delenv("AWS_ENDPOINT_URL_LAMBDA")
    runtime.reset_clients()
    assert deliver(event) == accepted(event["event_id"])
    assert pipeline.record(event["event_id"]) is not None


@pytest.mark.parametrize(
    "stub_answer",
    [
        lambda stub: stub.add_client_error("invoke", "TooManyRequestsException", http_status_code=429),
        lambda stub: stub.add_response("invoke", {"StatusCode": 200}),
    ],
    ids=["throttled", "not-202"],
)
def test_invoke_not_accepted_is_a_failed_handover(pipeline, stub_answer):
    # Throttling by reserved concurrency, or an answer other than 202, means the router never got the event.
    event = sample("refund")
    with Stubber(runtime.client("lambda")) as stub:
        stub_answer(stub)
        assert deliver(event)[0] == 503
    assert pipeline.record(event["event_id"]) is None


def test_rollback_removes_only_this_requests_record(pipeline, monkeypatch, unused_port):
    # The record changed hands between the write and the rollback (stubbed write, real conditional delete).
    lambda_unreachable(monkeypatch, unused_port)
    event = sample("payment")
    pipeline.dynamodb.put_item(
        TableName=pipeline.table,
        Item={"event_id": {"S": event["event_id"]}, "request_id": {"S": "someone-else"}},
    )
    with Stubber(runtime.client("dynamodb")) as stub:
        stub.add_response("put_item", {})
        stub.add_client_error("delete_item", "ConditionalCheckFailedException", http_status_code=400)
        assert deliver(event)[0] == 503
    assert pipeline.record(event["event_id"])["request_id"] == {"S": "someone-else"}


def test_invoke_and_rollback_both_failing_is_reported(pipeline, monkeypatch, capsys, unused_port):
    lambda_unreachable(monkeypatch, unused_port)
    with Stubber(runtime.client("dynamodb")) as stub:
        stub.add_response("put_item", {})
        stub.add_client_error("delete_item", "InternalServerError", http_status_code=500)
        assert deliver(sample("payment"))[0] == 503
    log = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert log["outcome"] == "handover_failed_record_kept"


def test_a_write_whose_answer_was_lost_is_retried_and_the_event_goes_on(pipeline):
    # DynamoDB stored the record but its answer never arrived (a read timeout), so botocore retries the
    # write, and the retry fails its condition on this request's own record. Without care that is a
    # 409 for an event nobody handed over: lost. The answer is dropped at botocore's retry decision,
    # the one fault injected; the write and the retry are real.
    lost = []

    def lose_the_first_answer(attempts, response, **_):
        if not lost and response is not None and response[0].status_code == 200:
            lost.append(attempts)
            return 0  # retry at once, as after a read timeout

    runtime.client("dynamodb").meta.events.register_first("needs-retry.dynamodb.PutItem", lose_the_first_answer)
    event = sample("dispute")
    assert deliver(event) == accepted(event["event_id"])
    assert lost == [1]
    assert [invoke["function"] for invoke in pipeline.invokes] == [pipeline.router_name]
    assert pipeline.record(event["event_id"]) is not None


def test_the_hand_over_starts_only_with_time_left_to_undo_it(pipeline, capsys):
    # Stopped by its timeout between the write and the rollback, the validator would keep a record
    # with no hand-over: the sender's retry would get a 409.
    event = sample("payment")
    short = Context(remaining_ms=int(2 * runtime.CALL_WORST_CASE_S * 1000) - 1)
    status, body = answer(validator.lambda_handler(proxy_event(event), short))
    assert (status, body) == (503, {"error": validator.UNAVAILABLE_ERROR})
    assert pipeline.invokes == [] and pipeline.record(event["event_id"]) is None
    log = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert log["outcome"] == "handover_failed" and "too little to hand over" in log["error"]

    assert deliver(event) == accepted(event["event_id"])  # with the deployed timeout's time: accepted


def test_missing_configuration_is_an_error_not_an_answer(pipeline, monkeypatch):
    monkeypatch.delenv(validator.TABLE_ENV)
    with pytest.raises(KeyError):
        validator.lambda_handler(proxy_event(sample("payment")), Context())
