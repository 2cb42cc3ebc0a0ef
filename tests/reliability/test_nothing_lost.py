"""Nothing accepted is lost, at every hop of the deployed pipeline: duplicate races, dependency faults,
and load. Every accepted event is found exactly once in exactly one of: its queue, its DLQ, the
router-failures queue.

Fault injection changes a deployed function's configuration through the emulator's Lambda API (and
restores it), so these tests need the local target; the race and load tests also run against AWS.
RELIABILITY_LOAD_COUNT sets the load test's size (default 2 000; `make load` uses 20 000).
"""

import json
import os
import socket
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from tapctl.smoke import post_json
from tests.support import TRANSACTION_TYPES, sample

LOAD = int(os.environ.get("RELIABILITY_LOAD_COUNT", "2000"))
QUEUE_OUTPUT = {"payment": "payments", "refund": "refunds", "dispute": "disputes"}


def deliver(url, event, attempts=50):
    """Send like a webhook sender: retry a 5xx (throttled or failed) until a definite answer."""
    for _ in range(attempts):
        status, body, _ = post_json(url, event)
        if status < 500:
            return status, body
        time.sleep(0.05)
    return status, body


def drain(deployment, wait=10.0, ids=()):
    """Every message now in each queue, DLQ and the failure queue, by where it was (messages deleted);
    waits until each of ``ids`` has turned up (other tests' late messages may come first)."""
    sqs = deployment.client("sqs")
    places = {f"{kind}_queue": deployment.outputs[f"{QUEUE_OUTPUT[kind]}_queue_url"] for kind in TRANSACTION_TYPES}
    places.update({f"{kind}_dlq": deployment.outputs[f"{QUEUE_OUTPUT[kind]}_dlq_url"] for kind in TRANSACTION_TYPES})
    places["router_failures"] = deployment.outputs["router_failures_queue_url"]
    found = {place: [] for place in places}
    deadline = time.monotonic() + wait
    while True:
        empty = True
        for place, url in places.items():
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
                "Messages", []
            )
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                found[place].append(message)
            empty = empty and not messages
        if (empty and set(ids) <= set(where(found))) or time.monotonic() > deadline:
            return found


def event_id_of(place, message):
    if place == "router_failures":
        return json.loads(json.loads(message["Body"])["requestPayload"]["message_body"])["event_id"]
    return json.loads(message["Body"])["event_id"]


def where(found):
    """event_id -> list of places it was found."""
    located = {}
    for place, messages in found.items():
        for message in messages:
            located.setdefault(event_id_of(place, message), []).append(place)
    return located


@pytest.fixture
def clean(deployment):
    drain(deployment, wait=0)
    return deployment


@contextmanager
def function_environment(deployment, output, **changes):
    lambda_client = deployment.client("lambda")
    name = deployment.outputs[output]
    original = lambda_client.get_function_configuration(FunctionName=name)
    variables = {**original["Environment"]["Variables"], **changes.pop("variables", {})}
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": variables}, **changes)
    try:
        yield
    finally:
        lambda_client.update_function_configuration(
            FunctionName=name, Environment=original["Environment"], Timeout=original["Timeout"]
        )


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_duplicate_races_give_one_200_and_one_message_per_event(clean):
    deployment = clean
    events = [sample(TRANSACTION_TYPES[number % 3]) for number in range(100)]
    deliveries = [event for event in events for _ in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda event: (event["event_id"], deliver(deployment.url, event)[0]), deliveries))
    per_id = {}
    for event_id, status in answers:
        per_id.setdefault(event_id, Counter())[status] += 1
    assert all(counts == Counter({200: 1, 409: 19}) for counts in per_id.values()), per_id
    expected = {event["event_id"]: [f"{event['transaction_type']}_queue"] for event in events}
    located = where(drain(deployment, ids=expected))
    assert {event_id: located.get(event_id) for event_id in expected} == expected


def test_dynamodb_unavailable_answers_503_and_stores_nothing(local_only, clean):
    deployment = local_only
    event = sample("payment")
    with function_environment(deployment, "validator_function_name",
                              variables={"AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{closed_port()}"}):
        status, body, _ = post_json(deployment.url, event)
    assert (status, body) == (503, {"error": "Service temporarily unavailable, please retry"})
    record = deployment.client("dynamodb").get_item(
        TableName=deployment.outputs["dynamodb_table_name"], Key={"event_id": {"S": event["event_id"]}}
    )
    assert "Item" not in record
    assert event["event_id"] not in where(drain(deployment, wait=2))
    assert deliver(deployment.url, event)[0] == 200  # the sender's retry, once DynamoDB is back
    assert where(drain(deployment, ids=[event["event_id"]]))[event["event_id"]] == ["payment_queue"]


def test_failed_router_invoke_removes_the_record_and_the_retry_is_accepted(local_only, clean):
    deployment = local_only
    event = sample("refund")
    with function_environment(deployment, "validator_function_name", variables={"ROUTER_LAMBDA_NAME": "no-such-router"}):
        assert post_json(deployment.url, event)[0] == 503
    assert deliver(deployment.url, event)[0] == 200
    assert where(drain(deployment, ids=[event["event_id"]]))[event["event_id"]] == ["refund_queue"]


def test_sqs_failing_for_the_router_ends_in_the_failure_queue(local_only, clean):
    deployment = local_only
    event = sample("dispute")
    with function_environment(deployment, "router_function_name",
                              variables={"AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{closed_port()}"}):
        assert post_json(deployment.url, event)[0] == 200
        located = where(drain(deployment, wait=30, ids=[event["event_id"]]))
    assert located.get(event["event_id"]) == ["router_failures"]


def test_a_router_that_times_out_ends_in_the_failure_queue(local_only, clean):
    deployment = local_only
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(64)  # accepts connections into the backlog and never answers
    event = sample("payment")
    try:
        with function_environment(deployment, "router_function_name", Timeout=2,
                                  variables={"AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{blackhole.getsockname()[1]}"}):
            assert post_json(deployment.url, event)[0] == 200
            located = where(drain(deployment, wait=40, ids=[event["event_id"]]))
    finally:
        blackhole.close()
    assert located.get(event["event_id"]) == ["router_failures"]


def test_load_nothing_lost_nothing_misrouted(clean):
    deployment = clean
    events = [sample(TRANSACTION_TYPES[number % 3], event_id=f"load-{uuid.uuid4().hex}") for number in range(LOAD)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(status for status, _ in pool.map(lambda event: deliver(deployment.url, event), events))
    assert statuses == Counter({200: LOAD})
    expected = {event["event_id"]: [f"{event['transaction_type']}_queue"] for event in events}
    located = where(drain(deployment, wait=60, ids=expected))
    lost = [event_id for event_id in expected if event_id not in located]
    misplaced = {event_id: located[event_id] for event_id in expected if event_id in located and located[event_id] != expected[event_id]}
    assert (lost, misplaced) == ([], {})
