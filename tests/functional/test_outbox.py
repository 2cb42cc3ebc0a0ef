"""The outbox against a real moto server: the validator's record waits as pending with its message until
the router confirms it; the sweeper hands over again what was never confirmed, found through the sparse
index, once per due time, and reports what it cannot hand over."""

import io
import json
import time
from contextlib import redirect_stdout

import boto3
import pytest

from handlers import records, router, runtime, sweeper, validator
from tests.support import Context, proxy_event, sample


def accept(event):
    assert validator.lambda_handler(proxy_event(event), Context())["statusCode"] == 200


def route(pipeline):
    payload = pipeline.invokes[-1]["payload"]
    with redirect_stdout(io.StringIO()) as output:
        router.lambda_handler(json.loads(json.dumps(payload)), Context(function_name="event-router-test"))
    return json.loads(output.getvalue().splitlines()[-1])


def sweep(pipeline, now):
    with redirect_stdout(io.StringIO()) as output:
        counts = sweeper.sweep(table=pipeline.table, router=pipeline.router_name, now=now,
                               dynamodb=runtime.client("dynamodb"), lambda_client=runtime.client("lambda"))
    return counts, [json.loads(line) for line in output.getvalue().splitlines()]


def pending(pipeline):
    """Every pending record, as the sweeper sees it through the index."""
    found = []
    for shard in records.PENDING_SHARDS:
        found += boto3.client("dynamodb").query(
            TableName=pipeline.table, IndexName=records.PENDING_INDEX,
            KeyConditionExpression="pending_shard = :shard", ExpressionAttributeValues={":shard": {"S": shard}},
        )["Items"]
    return {item["event_id"]["S"]: item for item in found}


def test_a_routed_event_is_no_longer_pending_and_its_body_is_gone(pipeline):
    event = sample("payment")
    accept(event)
    assert event["event_id"] in pending(pipeline)
    assert json.loads(pipeline.record(event["event_id"])["message_body"]["S"])["amount"] == event["amount"]
    line = route(pipeline)
    assert "confirmation" not in line  # confirmed
    record = pipeline.record(event["event_id"])
    assert not set(records.OUTBOX_ATTRIBUTES) & set(record)  # no mark, no copy of the financial data
    assert event["event_id"] not in pending(pipeline)
    assert record["received_at"] and record["expires_at"]  # de-duplication keeps working


def test_a_hand_over_of_another_delivery_sends_nothing_and_leaves_the_record_alone(pipeline):
    event = sample("refund")
    accept(event)
    payload = pipeline.invokes[-1]["payload"]
    stale = json.loads(payload["message_body"])
    stale["received_at"] = "2026-01-01T00:00:00.000Z"  # the record of an expired, earlier delivery
    pipeline.invokes.append({"payload": {"message_body": json.dumps(stale)}})
    line = route(pipeline)
    assert (line["outcome"], line["status"], line["reason"]) == ("skipped", 200, "the record is another delivery's")
    assert pipeline.messages("refund") == []
    assert event["event_id"] in pending(pipeline)


def test_a_second_hand_over_of_a_routed_event_sends_nothing(pipeline):
    # The router was behind: the sweeper handed the event over again while the first hand-over was queued.
    event = sample("payment")
    accept(event)
    first = pipeline.invokes[-1]
    sweep(pipeline, time.time() + records.PENDING_GRACE_SECONDS + 1)
    assert len(pipeline.invokes) == 2 and pipeline.invokes[-1]["payload"] == first["payload"]
    assert route(pipeline)["outcome"] == "routed"
    pipeline.invokes.append(first)
    line = route(pipeline)
    assert (line["outcome"], line["reason"]) == ("skipped", "already routed")
    assert [json.loads(m["Body"])["event_id"] for m in pipeline.messages("payment")] == [event["event_id"]]


def test_while_a_router_holds_the_lease_no_other_hand_over_sends(pipeline):
    event = sample("dispute")
    accept(event)
    message = json.loads(pipeline.invokes[-1]["payload"]["message_body"])
    store = records.Records(pipeline.table, runtime.client("dynamodb"))
    due = time.time() + records.PENDING_GRACE_SECONDS + 1
    # A router that started late (its queue was long), took the lease a moment before the sweep, and died.
    until = float(store.start_routing(event["event_id"], received_at=message["received_at"], now=due - 5,
                                      lease_seconds=router.LEASE_SECONDS).until)
    line = route(pipeline)
    assert (line["outcome"], line["reason"]) == ("skipped", "being routed by another invocation")
    assert sweep(pipeline, due)[0]["handed_over"] == 0  # the lease still holds: the sweeper waits
    assert pipeline.messages("dispute") == []
    # Once the lease has run out, the next sweep hands the event over and it is sent, once.
    pipeline.invokes.clear()
    assert sweep(pipeline, until + 1)[0]["handed_over"] == 1
    router.route(pipeline.invokes[-1]["payload"], now=until + 1)
    assert len(pipeline.messages("dispute")) == 1


def test_a_failed_send_gives_the_lease_back_for_lambdas_retry(pipeline, monkeypatch, unused_port):
    event = sample("payment")
    accept(event)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{unused_port}")
    runtime.reset_clients()
    with pytest.raises(Exception, match="Could not connect"):
        route(pipeline)
    assert records.ROUTING_LEASE_ATTRIBUTE not in pipeline.record(event["event_id"])
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS")
    runtime.reset_clients()
    assert route(pipeline)["outcome"] == "routed"  # Lambda's retry, at once


def test_the_sweeper_hands_over_only_what_is_past_due(pipeline):
    late, fresh = sample("dispute"), sample("dispute")
    accept(late)
    accept(fresh)
    now = time.time()
    pipeline.invokes.clear()
    counts, lines = sweep(pipeline, now)  # nothing is due yet: the validator's own hand-over may be in flight
    assert counts == {"found": 0, "handed_over": 0, "failed": 0, "stuck": 0} and pipeline.invokes == []

    counts, lines = sweep(pipeline, now + records.PENDING_GRACE_SECONDS + 1)
    assert counts["handed_over"] == 2
    assert sorted(json.loads(i["payload"]["message_body"])["event_id"] for i in pipeline.invokes) == sorted(
        [late["event_id"], fresh["event_id"]])
    assert {line["outcome"] for line in lines} == {"handed_over"}

    # Handed over, due again a minute later: the next run in the same minute leaves it alone.
    pipeline.invokes.clear()
    counts, _ = sweep(pipeline, now + records.PENDING_GRACE_SECONDS + 2)
    assert counts["handed_over"] == 0 and pipeline.invokes == []


def test_what_the_sweeper_hands_over_reaches_its_queue_and_is_confirmed(pipeline):
    event = sample("payment")
    accept(event)
    pipeline.invokes.clear()  # the validator's hand-over is lost
    sweep(pipeline, time.time() + records.PENDING_GRACE_SECONDS + 1)
    route(pipeline)
    [message] = pipeline.messages("payment")
    assert json.loads(message["Body"])["event_id"] == event["event_id"]
    assert event["event_id"] not in pending(pipeline)


def test_a_record_that_keeps_failing_is_reported_as_stuck(pipeline):
    event = sample("payment")
    accept(event)
    now = time.time() + records.PENDING_GRACE_SECONDS + 1
    outcomes = []
    for attempt in range(sweeper.STUCK_AFTER):
        _, lines = sweep(pipeline, now)
        outcomes += [line["outcome"] for line in lines if line.get("event_id") == event["event_id"]]
        now += sweeper.backoff(attempt) + 1
    assert outcomes == ["handed_over"] * (sweeper.STUCK_AFTER - 1) + ["stuck"]
    assert int(pending(pipeline)[event["event_id"]]["pending_attempts"]["N"]) == sweeper.STUCK_AFTER


def test_a_router_that_cannot_be_invoked_is_a_failed_hand_over_retried_later(pipeline, monkeypatch):
    event = sample("refund")
    accept(event)
    monkeypatch.setattr(runtime, "hand_over", lambda *args: (_ for _ in ()).throw(RuntimeError("router invoke answered 500")))
    counts, lines = sweep(pipeline, time.time() + records.PENDING_GRACE_SECONDS + 1)
    assert (counts["failed"], lines[0]["outcome"], lines[0]["status"]) == (1, "handover_failed", 503)
    assert event["event_id"] in pending(pipeline)  # still pending, due again later


@pytest.mark.parametrize("attempts, pause", [(0, 60), (1, 120), (2, 240), (3, 480), (4, 3600), (9, 3600)])
def test_the_pause_between_hand_overs_grows(attempts, pause):
    assert sweeper.backoff(attempts) == pause


def test_the_sweepers_handler_logs_its_counts(pipeline, capsys):
    event = sample("payment")
    accept(event)
    capsys.readouterr()
    assert sweeper.lambda_handler({}, Context(function_name="outbox-sweeper-test")) == {
        "found": 0, "handed_over": 0, "failed": 0, "stuck": 0}  # nothing due yet
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (line["function"], line["outcome"], line["status"], line["found"]) == ("outbox-sweeper-test", "swept", 200, 0)


def test_a_sweep_that_cannot_read_the_table_fails_the_run_and_says_why(pipeline, capsys, monkeypatch, unused_port):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{unused_port}")
    runtime.reset_clients()
    with pytest.raises(Exception, match="Could not connect"):
        sweeper.lambda_handler({}, Context(function_name="outbox-sweeper-test"))
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (line["outcome"], line["status"]) == ("sweep_failed", 500)
    assert line["error"].startswith("EndpointConnectionError: Could not connect")
