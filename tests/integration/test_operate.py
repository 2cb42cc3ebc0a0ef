"""Operating the deployed pipeline with the same commands as on AWS: status, trace, logs, redrive,
replay-failures. The local emulator answers them through the same APIs (CloudWatch Logs lines written by
the function workers, message move tasks, metrics and alarms it evaluates itself)."""

import json
import time

import pytest

from tests.support import sample


def tapctl_json(deployment, *command):
    result = deployment.tapctl(*command, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def eventually(check, wait=20.0, every=0.5):
    """The first truthy answer of ``check()`` within ``wait`` seconds (log lines and metrics lag a little)."""
    deadline = time.monotonic() + wait
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(every)


def traced(deployment, event_id, verdict, wait=20.0, outcomes=None):
    """The trace once its verdict is ``verdict`` and, if given, its log's outcomes are ``outcomes``: log
    lines reach CloudWatch Logs in batches, so a dead letter can be found before the last attempt's line."""
    def done(report):
        complete = outcomes is None or [line["outcome"] for line in report["log"]] == outcomes
        return report if report["verdict"] == verdict and complete else None
    return eventually(lambda: done(tapctl_json(deployment, "trace", event_id)), wait)


def drain(deployment, output, until=lambda bodies: True, wait=10.0):
    """Every message now in a queue, deleted: the bodies."""
    sqs, url, bodies = deployment.client("sqs"), deployment.outputs[output], []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        bodies += [message["Body"] for message in batch]
        if not batch and until(bodies):
            break
    return bodies


def test_status_counts_what_waits_in_each_queue(deployment):
    for output in ("payments_queue_url", "refunds_queue_url", "disputes_queue_url"):
        drain(deployment, output, wait=3)
    events = [sample("refund") for _ in range(3)]
    for event in events:
        assert deployment.post(event)[0] == 200
    for event in events:
        assert traced(deployment, event["event_id"], "routed")
    report = tapctl_json(deployment, "status")
    assert (report["queues"]["refunds"]["visible"], report["queues"]["refunds"]["in_flight"]) == (3, 0)
    assert report["queues"]["payments"]["visible"] == 0
    assert set(report["queues"]) == {"payments", "payments_dlq", "refunds", "refunds_dlq", "disputes", "disputes_dlq",
                                     "router_failures"}
    assert all(function["matches_checkout"] for function in report["functions"].values())
    text = deployment.tapctl("status").stdout
    assert f"refunds-queue-{deployment.env}" in text and "alarms in ALARM" in text


@pytest.mark.parametrize("kind", ["routed", "duplicate", "rejected", "unauthenticated", "unknown"])
def test_trace_gives_the_verdict(deployment, kind):
    event = sample("payment")
    if kind in ("routed", "duplicate"):
        assert deployment.post(event)[0] == 200
        if kind == "duplicate":
            assert deployment.post(event)[0] == 409
    elif kind == "rejected":  # the gateway's model lets an impossible date through; the validator does not
        assert deployment.post({**event, "timestamp": "2026-02-30T17:45:00Z"})[0] == 400
    elif kind == "unauthenticated":
        assert deployment.post(event, secret=None)[0] == 401
    # A request refused for its signature is logged before its body is read: it has no event_id to find.
    expected = {"routed": "routed", "duplicate": "routed", "rejected": "rejected", "unauthenticated": "not_received",
                "unknown": "not_received"}[kind]
    report = traced(deployment, event["event_id"], expected)
    assert report, f"no {expected} verdict for {kind}"
    outcomes = [line["outcome"] for line in report["log"]]
    if kind == "routed":
        assert report["queue"] == f"payments-queue-{deployment.env}" and outcomes == ["accepted", "routed"]
        assert report["record"]["received_at"] and report["record"]["expires_at"]
    if kind == "duplicate":  # the refused re-send and the router's line may come in either order
        assert eventually(lambda: sorted(line["outcome"] for line in tapctl_json(deployment, "trace", event["event_id"])["log"])
                          == ["accepted", "duplicate", "routed"] or None)
    if kind == "rejected":
        assert outcomes == ["rejected"] and report["record"] is None
        assert report["summary"].startswith("rejected: 400 timestamp must be an ISO 8601 date-time")
    if kind == "unauthenticated":
        assert report["summary"].endswith("tapctl logs --outcome unauthenticated)")
        assert event["event_id"] not in deployment.tapctl("logs", "--outcome", "unauthenticated").stdout
    result = deployment.tapctl("trace", event["event_id"])
    assert result.stdout.splitlines()[-1] == f"verdict: {report['summary']}"
    drain(deployment, "payments_queue_url", wait=2)


def test_logs_finds_an_events_lines_and_filters_by_outcome(deployment):
    event = sample("dispute")
    assert deployment.post(event)[0] == 200
    lines = eventually(lambda: (lambda found: found if len(found) == 2 else None)(
        [json.loads(line) for line in deployment.tapctl("logs", "--event-id", event["event_id"], "--json").stdout.splitlines()]))
    assert [(line["role"], line["outcome"]) for line in lines] == [("validator", "accepted"), ("router", "routed")]
    routed = deployment.tapctl("logs", "--function", "router", "--outcome", "routed", "--since", "1m").stdout
    assert event["event_id"] in routed and "validator" not in routed
    readable = deployment.tapctl("logs", "--event-id", event["event_id"]).stdout.splitlines()
    assert readable[0].split()[1:4] == ["validator", "accepted", "200"]
    drain(deployment, "disputes_queue_url", wait=2)


def test_logs_follow_prints_lines_as_they_arrive(deployment):
    import subprocess
    import sys
    import threading

    event = sample("payment")
    follow = subprocess.Popen(
        [sys.executable, "-m", "tapctl.cli", "logs", *deployment.options, "--follow", "--event-id", event["event_id"],
         "--since", "1m"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watchdog = threading.Timer(60, follow.terminate)  # lines that never come end the read, and the test
    watchdog.start()
    try:
        assert deployment.post(event)[0] == 200  # sent after --follow started: only following can show it
        seen = []
        for line in follow.stdout:
            seen.append(line.split()[1:3])
            if len(seen) == 2:
                break
        assert seen == [["validator", "accepted"], ["router", "routed"]]
    finally:
        watchdog.cancel()
        follow.terminate()
        follow.wait(timeout=10)
    drain(deployment, "payments_queue_url", wait=2)


def test_a_dead_letter_is_found_raises_its_alarm_and_redrive_brings_it_back_once(deployment):
    sqs = deployment.client("sqs")
    queue, dlq = deployment.outputs["payments_queue_url"], deployment.outputs["payments_dlq_url"]
    drain(deployment, "payments_queue_url", wait=2)
    event = sample("payment")
    assert deployment.post(event)[0] == 200
    assert traced(deployment, event["event_id"], "routed")
    for _ in range(4):  # a consumer that fails it three times; the fourth receive moves it to the DLQ
        sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=1)
    report = traced(deployment, event["event_id"], "in_dlq")
    assert report and report["queue"] == "payments_dlq"

    alarm = f"payments-dlq-{deployment.env}-not-empty"
    assert eventually(lambda: alarm in [a["name"] for a in tapctl_json(deployment, "status")["alarms"]], wait=40), (
        "the DLQ's alarm should fire once the emulator's monitor has evaluated it")

    result = tapctl_json(deployment, "redrive", "--queue", "payments", "--dry-run")
    assert (result["waiting"], result["would_move"], result["moved"]) == (1, 1, 0)
    result = tapctl_json(deployment, "redrive", "--queue", "payments")
    assert (result["moved"], result["method"], result["status"]) == (1, "message move task", "COMPLETED")
    assert int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"]) == 0
    bodies = drain(deployment, "payments_queue_url", until=lambda found: any(event["event_id"] in b for b in found))
    assert [json.loads(body)["event_id"] for body in bodies].count(event["event_id"]) == 1


def test_redrive_with_a_maximum_moves_that_many(deployment):
    sqs, dlq = deployment.client("sqs"), deployment.outputs["refunds_dlq_url"]
    drain(deployment, "refunds_queue_url", wait=2)
    drain(deployment, "refunds_dlq_url", wait=2)
    for number in range(3):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"event_id": f"max-{number}"}),
                         MessageAttributes={"event_id": {"DataType": "String", "StringValue": f"max-{number}"}})
    result = tapctl_json(deployment, "redrive", "--queue", "refunds", "--max", "2")
    assert (result["moved"], result["method"]) == (2, "one by one")
    moved = drain(deployment, "refunds_queue_url", until=lambda found: len(found) >= 2)
    assert sorted(json.loads(body)["event_id"] for body in moved) == ["max-0", "max-1"]  # in order, none twice
    assert [json.loads(body)["event_id"] for body in drain(deployment, "refunds_dlq_url", wait=2)] == ["max-2"]


def test_a_router_failure_is_replayed_to_its_queue_exactly_once(local_only):
    deployment = local_only
    lambda_client = deployment.client("lambda")
    name = deployment.outputs["router_function_name"]
    original = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    broken = {**original, "REFUNDS_QUEUE_URL": original["REFUNDS_QUEUE_URL"] + "-broken"}
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": broken})
    event = sample("refund")
    try:
        assert deployment.post(event)[0] == 200
        attempts = ["accepted", "failed", "failed", "failed"]
        report = traced(deployment, event["event_id"], "in_router_failures", wait=30, outcomes=attempts)
    finally:
        lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": original})
    assert report, ("the event should reach router_failures after the first attempt and two retries, all logged: "
                    f"{tapctl_json(deployment, 'trace', event['event_id'])}")
    drain(deployment, "refunds_queue_url", wait=2)

    assert tapctl_json(deployment, "replay-failures", "--dry-run")["replayed"] == [event["event_id"]]
    result = tapctl_json(deployment, "replay-failures")
    assert (result["replayed"], result["failed"]) == ([event["event_id"]], [])
    assert traced(deployment, event["event_id"], "routed")
    bodies = drain(deployment, "refunds_queue_url", until=lambda found: any(event["event_id"] in b for b in found))
    delivered = [json.loads(body) for body in bodies if event["event_id"] in body]
    assert len(delivered) == 1
    assert {key: delivered[0][key] for key in event} == event  # what the router would have sent at first
    assert tapctl_json(deployment, "replay-failures")["replayed"] == []
