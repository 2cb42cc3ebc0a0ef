"""Nothing accepted is lost when a function's process dies mid-request: SIGKILL at every step of the
flow, on the deployed local pipeline, with no retry by the sender.

Each step is made to hang by pointing one of the function's AWS endpoints at a listener that accepts
connections and never answers; the function's worker process is then killed while it waits. The
events whose record was written must reach their queue within 2 minutes (the outbox sweeper runs every
minute), at most once more than they should (a bounded duplicate); an event killed before its record is
not accepted (the sender got a 5xx) and its retry is. Every accepted event ends archived as well, the one
whose router died between SendMessage and its archive write included. A provider's batch (Adyen's) whose validator dies
after recording its first item is completed by the provider's retry of the whole batch.
"""

import os
import select
import signal
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from handlers import archive
from tapctl import providers
from tests.conftest import SOURCE_SECRETS
from tests.reliability.test_nothing_lost import Collector, drain, function_environment
from tests.support import sample

RECOVERY_SECONDS = 120


@contextmanager
def blackhole():
    """A loopback address that accepts connections into its backlog and never answers; yields the URL and
    a check that some client is waiting on it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield (f"http://127.0.0.1:{listener.getsockname()[1]}",
               lambda: bool(select.select([listener], [], [], 0)[0]))
    finally:
        listener.close()


@contextmanager
def passing_then_hanging(upstream, passes):
    """A loopback proxy to ``upstream`` that forwards the first ``passes`` requests and then never answers:
    a function whose first call to a service works and whose next one hangs (no real service does that on
    cue). Yields the URL and a check that a request is held."""
    host, port = upstream.rsplit("/", 1)[-1].split(":")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    seen, held, stop = [0], threading.Event(), threading.Event()

    def pipe(source, target, count):
        try:
            while not stop.is_set() and (data := source.recv(65536)):
                if count:
                    seen[0] += data.count(b" HTTP/1.1\r\n")
                    if seen[0] > passes:
                        held.set()
                        stop.wait()
                        return
                target.sendall(data)
        except OSError:
            pass

    def serve():
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection((host, int(port)))
            threading.Thread(target=pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=pipe, args=(server, client, False), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", held.is_set
    finally:
        stop.set()
        listener.close()


def workers(function_name):
    """Process ids of the emulator's workers (warm containers) of ``function_name``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"tapctl.local.worker" in command and any(f"/functions/{function_name}-".encode() in part for part in command):
            found.append(int(proc.name))
    return found


def wait_for(check, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {check.__doc__ or check}")


def kill_the_one_worker(function_name):
    """SIGKILL the only worker of ``function_name`` (its new configuration has given it fresh containers)."""
    [pid] = wait_for(lambda: (lambda found: found if len(found) == 1 else None)(workers(function_name)))
    os.kill(pid, signal.SIGKILL)
    return time.monotonic()


def recorded(deployment, event_id):
    table = deployment.outputs["dynamodb_table_name"]
    return "Item" in deployment.client("dynamodb").get_item(TableName=table, Key={"event_id": {"S": event_id}},
                                                            ConsistentRead=True)


def queued(deployment, output):
    attributes = deployment.client("sqs").get_queue_attributes(
        QueueUrl=deployment.outputs[output], AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def send_in_background(deployment, event, post=None):
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(status=(post or deployment.post)(event)[0]))
    thread.start()
    return thread, answer


@pytest.fixture
def clean(local_only):
    drain(local_only, wait=0)
    return local_only


def test_a_process_killed_at_any_step_loses_no_accepted_event(clean):
    deployment = clean
    validator, router = deployment.outputs["validator_function_name"], deployment.outputs["router_function_name"]
    killed_at, expected, not_accepted = {}, {}, []

    # 1. The validator dies waiting on its record: nothing was accepted; the sender got a 5xx.
    event = sample("payment")
    with blackhole() as (url, _), function_environment(deployment, "validator_function_name",
                                                       variables={"AWS_ENDPOINT_URL_DYNAMODB": url}):
        thread, answer = send_in_background(deployment, event)
        kill_the_one_worker(validator)
        thread.join(timeout=30)
    assert answer["status"] >= 500 and not recorded(deployment, event["event_id"])
    not_accepted.append(event)

    # 2. The validator dies after its record, waiting on the hand-over: the sweeper hands it over.
    event = sample("refund")
    with blackhole() as (url, _), function_environment(deployment, "validator_function_name",
                                                       variables={"AWS_ENDPOINT_URL_LAMBDA": url}):
        thread, answer = send_in_background(deployment, event)
        wait_for(lambda: recorded(deployment, event["event_id"]))
        killed_at[event["event_id"]] = kill_the_one_worker(validator)
        thread.join(timeout=30)
    assert answer["status"] >= 500  # the sender saw a failure; it will not be needed to retry
    expected[event["event_id"]] = "refund_queue"

    # 3. The router dies waiting on SendMessage, holding the event's routing lease: once it has run out,
    # a retry or the sweeper delivers the event.
    event = sample("dispute")
    with blackhole() as (url, waiting), function_environment(deployment, "router_function_name",
                                                             variables={"AWS_ENDPOINT_URL_SQS": url}) as restore:
        assert deployment.post(event)[0] == 200
        wait_for(waiting)  # the router is waiting on SendMessage
        restore()  # the retry runs with the working configuration
        killed_at[event["event_id"]] = kill_the_one_worker(router)
    expected[event["event_id"]] = "dispute_queue"

    # 4. The router dies after SendMessage, waiting to clear the mark: the message is out once; a retry
    # (or the sweeper) may deliver it once more.
    event = sample("payment")
    before = queued(deployment, "payments_queue_url")
    with passing_then_hanging(deployment.endpoint, passes=1) as (url, held), function_environment(
            deployment, "router_function_name", variables={"AWS_ENDPOINT_URL_DYNAMODB": url}) as restore:
        assert deployment.post(event)[0] == 200  # the router's lease passes; its confirmation hangs
        wait_for(lambda: queued(deployment, "payments_queue_url") > before and held())
        restore()
        killed_at[event["event_id"]] = kill_the_one_worker(router)
    expected[event["event_id"]] = "payment_queue"

    # 6. The router dies after SendMessage, waiting on the archive write: the record stays pending, so a retry
    # or the sweeper sends it again (a bounded duplicate) and archives it.
    event = sample("refund")
    before = queued(deployment, "refunds_queue_url")
    with blackhole() as (url, waiting), function_environment(deployment, "router_function_name",
                                                             variables={"AWS_ENDPOINT_URL_S3": url}) as restore:
        assert deployment.post(event)[0] == 200
        wait_for(lambda: queued(deployment, "refunds_queue_url") > before and waiting())
        restore()
        killed_at[event["event_id"]] = kill_the_one_worker(router)
    expected[event["event_id"]] = "refund_queue"
    archived_late = event["event_id"]

    # 5. The validator dies after recording the first item of an Adyen batch, waiting on its hand-over:
    # the sweeper hands that item over, and Adyen's retry of the batch (its answer was a 5xx) is
    # acknowledged, the first item a duplicate and the second one accepted.
    route = deployment.outputs["webhook_sources"]["adyen"]
    batch, first = providers.sample("adyen", "payment")
    second_batch, second = providers.sample("adyen", "refund")
    batch["notificationItems"] += second_batch["notificationItems"]
    headers, body = providers.signed("adyen", batch, SOURCE_SECRETS["adyen"])
    first, second = f"adyen:{first}", f"adyen:{second}"
    with blackhole() as (url, _), function_environment(deployment, "validator_function_name",
                                                       variables={"AWS_ENDPOINT_URL_LAMBDA": url}):
        thread, answer = send_in_background(deployment, body, post=lambda data: providers.post(route["url"], headers, data))
        wait_for(lambda: recorded(deployment, first))
        killed_at[first] = kill_the_one_worker(validator)
        thread.join(timeout=30)
    assert answer["status"] >= 500 and not recorded(deployment, second)
    assert providers.post(route["url"], headers, body)[:2] == (200, "[accepted]")  # Adyen's retry
    expected.update({first: "payment_queue", second: "refund_queue"})

    # The sender retries only what was not accepted (case 1); everything else is the system's to repair.
    for event in not_accepted:
        assert deployment.post(event)[0] == 200
        expected[event["event_id"]] = f"{event['transaction_type']}_queue"

    collector = Collector(deployment)
    s3, bucket = deployment.client("s3"), deployment.outputs["archive_bucket_name"]

    def archived(event_id):
        return "Contents" in s3.list_objects_v2(Bucket=bucket, Prefix=archive.evidence_key(event_id))

    arrived, archived_at = {}, None
    deadline = time.monotonic() + RECOVERY_SECONDS + 15
    while (set(expected) - set(arrived) or archived_at is None) and time.monotonic() < deadline:
        for place in collector.places:
            collector.sweep(place)
        for event_id in expected:
            if event_id in collector.located and event_id not in arrived:
                arrived[event_id] = time.monotonic()
        if archived_at is None and archived(archived_late):
            archived_at = time.monotonic()
        time.sleep(0.5)
    located = collector.until(ids=expected, wait=5)

    lost = sorted(set(expected) - set(located))
    assert lost == [], f"lost: {lost}"
    for event_id, place in expected.items():
        places = located[event_id]
        assert set(places) == {place}, (event_id, places)
        assert len(places) <= 2, (event_id, places)  # at most one duplicate
    for event_id, killed in killed_at.items():
        assert arrived[event_id] - killed <= RECOVERY_SECONDS, (event_id, arrived[event_id] - killed)
    # Every accepted event is archived too; the one whose router died before its archive write within 2 minutes.
    assert archived_at is not None and archived_at - killed_at[archived_late] <= RECOVERY_SECONDS, archived_at
    archived_in = time.monotonic() + 30
    while (missing := [event_id for event_id in expected if not archived(event_id)]) and time.monotonic() < archived_in:
        time.sleep(0.5)
    assert missing == [], f"queued but not archived: {missing}"
    print("process death: " + "; ".join(
        f"{event_id[:24]} in {arrived[event_id] - killed:.0f} s ({len(located[event_id])} delivery)"
        for event_id, killed in killed_at.items())
        + f"; archived {archived_at - killed_at[archived_late]:.0f} s after its router died")
