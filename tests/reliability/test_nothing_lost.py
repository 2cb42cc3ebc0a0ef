"""Nothing accepted is lost, at every hop of the deployed pipeline: duplicate races, dependency faults,
and load. Every accepted event is found exactly once in exactly one of: its queue, its DLQ, the
router-failures queue.

Fault injection changes a deployed function's configuration through the emulator's Lambda API (and
restores it), so these tests need the local target; the race and load tests also run against AWS.
RELIABILITY_LOAD_COUNT sets the load test's size (default 2 000; `make load` uses 20 000): half of it
canonical events at POST /webhook, half provider events spread over the five sources' routes
(tests/conftest.py enables them), each signed as its provider signs.
"""

import json
import os
import socket
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from tapctl import providers
from tapctl.config import QUEUE_OUTPUTS, SOURCES
from tests.conftest import SOURCE_SECRETS
from tests.support import TRANSACTION_TYPES, sample
from tests.support import deliver as retrying

LOAD = int(os.environ.get("RELIABILITY_LOAD_COUNT", "2000"))
RACE_EVENTS = 200  # each sent by 20 senders at once


def deliver(deployment, event):
    """Send like a webhook sender: signed, and a 5xx (throttled or failed) retried with back-off."""
    return retrying(deployment.post, event)


def provider_request(deployment, source, transaction_type):
    """``(post, event_id)``: a POST of one provider event to its source's route, signed as the provider
    signs when it is sent (each retry signed anew, as Stripe's carry a new timestamp)."""
    route = deployment.outputs["webhook_sources"][source]
    document, provider_id = providers.sample(source, transaction_type, 1050)

    def post(_):
        headers, body = providers.signed(source, document, SOURCE_SECRETS[source],
                                         url=route["notification_url"] or route["url"], event_id=provider_id)
        return providers.post(route["url"], headers, body)

    return post, f"{source}:{provider_id}"


class Collector:
    """Receives and deletes every message in each queue, DLQ and the failure queue, recording where each
    event_id turned up (``located``: event_id -> list of places)."""

    def __init__(self, deployment):
        self.deployment = deployment
        self.places = {f"{kind}_queue": deployment.outputs[output] for kind, output in QUEUE_OUTPUTS.items()}
        self.places.update({f"{kind}_dlq": deployment.outputs[output.replace("_queue_url", "_dlq_url")]
                            for kind, output in QUEUE_OUTPUTS.items()})
        self.places["router_failures"] = deployment.outputs["router_failures_queue_url"]
        self.located = {}
        self._lock = threading.Lock()
        self._sqs = deployment.client("sqs")

    def sweep(self, place, sqs=None):
        """One receive (up to 10 messages) and one batch delete from ``place``; returns how many it took."""
        sqs = sqs or self._sqs
        url = self.places[place]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            entries = [{"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(messages)]
            failed = sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
            assert not failed, failed
        with self._lock:
            for message in messages:
                self.located.setdefault(event_id_of(place, message), []).append(place)
        return len(messages)

    def until(self, ids=(), wait=10.0):
        """Sweeps every place until all are empty and each of ``ids`` has turned up (other tests' late
        messages may come first), or ``wait`` seconds have passed; returns ``located``."""
        deadline = time.monotonic() + wait
        while True:
            taken = sum(self.sweep(place) for place in self.places)
            if (not taken and set(ids) <= self.located.keys()) or time.monotonic() > deadline:
                return self.located

    @contextmanager
    def in_background(self):
        """Drains every place continuously (one thread each) while the body runs, so queues stay shallow:
        moto's SendMessage and ReceiveMessage slow down as a queue fills."""
        stop = threading.Event()

        def keep_draining(place):
            sqs = self.deployment.client("sqs")
            while not stop.is_set():
                if not self.sweep(place, sqs):
                    stop.wait(0.1)

        with ThreadPoolExecutor(max_workers=len(self.places)) as pool:
            running = [pool.submit(keep_draining, place) for place in self.places]
            try:
                yield self
            finally:
                stop.set()
                for future in running:
                    future.result()  # re-raises a drainer's failure


def drain(deployment, wait=10.0, ids=()):
    """Every message now in each queue, DLQ and the failure queue, deleted; event_id -> places found."""
    return Collector(deployment).until(ids, wait)


def event_id_of(place, message):
    if place == "router_failures":
        return json.loads(json.loads(message["Body"])["requestPayload"]["message_body"])["event_id"]
    return json.loads(message["Body"])["event_id"]


@pytest.fixture
def clean(deployment):
    drain(deployment, wait=0)
    return deployment


@contextmanager
def function_environment(deployment, output, **changes):
    """The function with changed settings for the block; yields ``restore`` to put them back earlier."""
    lambda_client = deployment.client("lambda")
    name = deployment.outputs[output]
    original = lambda_client.get_function_configuration(FunctionName=name)
    variables = {**original["Environment"]["Variables"], **changes.pop("variables", {})}
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": variables}, **changes)
    restored = []

    def restore():
        if not restored:
            lambda_client.update_function_configuration(
                FunctionName=name, Environment=original["Environment"], Timeout=original["Timeout"]
            )
            restored.append(True)

    try:
        yield restore
    finally:
        restore()


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_duplicate_races_give_one_200_and_one_message_per_event(clean):
    deployment = clean
    events = [sample(TRANSACTION_TYPES[number % 3]) for number in range(RACE_EVENTS)]
    deliveries = [event for event in events for _ in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda event: (event["event_id"], deliver(deployment, event)[0]), deliveries))
    per_id = {}
    for event_id, status in answers:
        per_id.setdefault(event_id, Counter())[status] += 1
    assert all(counts == Counter({200: 1, 409: 19}) for counts in per_id.values()), per_id
    expected = {event["event_id"]: [f"{event['transaction_type']}_queue"] for event in events}
    located = drain(deployment, ids=expected)
    assert {event_id: located.get(event_id) for event_id in expected} == expected


def test_dynamodb_unavailable_answers_503_and_stores_nothing(local_only, clean):
    deployment = local_only
    event = sample("payment")
    with function_environment(deployment, "validator_function_name",
                              variables={"AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{closed_port()}"}):
        status, body, _ = deployment.post(event)
    assert (status, body) == (503, {"error": "Service temporarily unavailable, please retry"})
    record = deployment.client("dynamodb").get_item(
        TableName=deployment.outputs["dynamodb_table_name"], Key={"event_id": {"S": event["event_id"]}}
    )
    assert "Item" not in record
    assert event["event_id"] not in drain(deployment, wait=2)
    assert deliver(deployment, event)[0] == 200  # the sender's retry, once DynamoDB is back
    assert drain(deployment, ids=[event["event_id"]])[event["event_id"]] == ["payment_queue"]


def test_failed_router_invoke_removes_the_record_and_the_retry_is_accepted(local_only, clean):
    deployment = local_only
    event = sample("refund")
    with function_environment(deployment, "validator_function_name", variables={"ROUTER_LAMBDA_NAME": "no-such-router"}):
        assert deployment.post(event)[0] == 503
    assert deliver(deployment, event)[0] == 200
    assert drain(deployment, ids=[event["event_id"]])[event["event_id"]] == ["refund_queue"]


def test_sqs_failing_for_the_router_ends_in_the_failure_queue(local_only, clean):
    deployment = local_only
    event = sample("dispute")
    with function_environment(deployment, "router_function_name",
                              variables={"AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{closed_port()}"}):
        assert deployment.post(event)[0] == 200
        located = drain(deployment, wait=30, ids=[event["event_id"]])
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
            assert deployment.post(event)[0] == 200
            located = drain(deployment, wait=40, ids=[event["event_id"]])
    finally:
        blackhole.close()
    assert located.get(event["event_id"]) == ["router_failures"]


def test_load_nothing_lost_nothing_misrouted(clean):
    deployment = clean
    sends, expected = [], {}  # (how to send it, what to send) per event; event_id -> where it must be
    for number in range(LOAD):
        transaction_type = TRANSACTION_TYPES[number % 3]
        if number % 2:
            event = sample(transaction_type, event_id=f"load-{uuid.uuid4().hex}")
            sends.append((deployment.post, event))
            expected[event["event_id"]] = [f"{transaction_type}_queue"]
        else:
            post, event_id = provider_request(deployment, SOURCES[number // 2 % len(SOURCES)], transaction_type)
            sends.append((post, None))
            expected[event_id] = [f"{transaction_type}_queue"]
    collector = Collector(deployment)
    started = time.perf_counter()
    with collector.in_background(), ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(status for status, _ in pool.map(lambda send: retrying(*send), sends))
    sent = time.perf_counter() - started
    assert statuses == Counter({200: LOAD})
    located = collector.until(ids=expected, wait=120)
    lost = [event_id for event_id in expected if event_id not in located]
    misplaced = {event_id: located[event_id] for event_id in expected if event_id in located and located[event_id] != expected[event_id]}
    assert (len(lost), misplaced) == (0, {}), lost[:10]
    print(f"load: {LOAD} events accepted in {sent:.1f} s ({LOAD / sent:.1f} events/s, 8 clients; half of them "
          f"provider events over {len(SOURCES)} sources); {len(expected)} found, each once in its own queue; "
          "0 lost, 0 misrouted")
