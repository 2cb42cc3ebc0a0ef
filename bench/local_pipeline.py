"""Benchmark: events/s and latency through the local pipeline, against the emulator's own floor.

Like with like, in one run, on one emulator:
- the same events: EVENTS valid, signed events spread evenly over the three types, so each of the three
  queues receives EVENTS / 3 messages in every phase (moto slows as a queue deepens: an unmatched floor
  would flatter or hide), every phase on fresh queues;
- the same clients: CLIENTS threads, each reusing one connection (boto3's pool; one keep-alive HTTP
  connection per thread for the pipeline);
- rates end to end: a floor's event is done when its last call returns (its message is then in its
  queue); the pipeline's events are done when the last of them is in its queue (polled), not when the
  sender got its 200.

Two floors, each the calls that moto must serve for one event, made directly with boto3:
- "send": PutItem + SendMessage (the pipeline's two writes);
- "calls": PutItem (the validator's item, outbox attributes and the request's evidence included, on a
  table with the outbox's index) + UpdateItem (the router's lease) + SendMessage + two PutObjects (the
  evidence and its time index, in the environment's own archive bucket: Object Lock, SSE-KMS) +
  UpdateItem (the router's confirmation): every AWS call the pipeline makes per event, so the pipeline's
  ratio to it is the emulator's own cost (HTTP, the gateway's validation, worker processes, the
  asynchronous invoke, logs), which is what can be cut.

Both floors' items carry evidence of the size the validator writes for the same request (like with like).

The rate is compared with "calls" (the same calls, end to end); a sender's latency with "send": its
answer waits for two calls (PutItem, the hand-over), as a "send" floor event does, while the router's
three calls come after the answer.

The floors call the environment's AWS APIs (moto, in the emulator's second process) directly, as the
functions do. Before the rounds, each phase runs once unmeasured (WARM_UP events), so worker processes
and connections exist in every measured phase. Afterwards every accepted event must be in its queue
exactly once. Loopback only, bounded in count and
time. Run with `make bench-pipeline`; prints a table and writes bench/results/local_pipeline.json. A
benchmark, not a test: it reports, it does not judge.
"""

import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers import archive, records, router  # noqa: E402
from tapctl import signing  # noqa: E402
from tapctl.config import QUEUE_OUTPUTS, Settings  # noqa: E402
from tapctl.local import emulator, shared  # noqa: E402
from tapctl.local.aws import QUEUES_PATH  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
EVENTS = int(os.environ.get("BENCH_PIPELINE_EVENTS", "1200"))
ROUNDS = int(os.environ.get("BENCH_PIPELINE_ROUNDS", "3"))
WARM_UP = 8 * CLIENTS
TYPES = list(QUEUE_OUTPUTS)


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def figures(latencies, elapsed):
    return {
        "events_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def client(service, endpoint):
    return shared.client(service, endpoint, "us-east-1")


def events(prefix, count=EVENTS):
    return [{"event_id": f"{prefix}-{uuid.uuid4().hex}", "transaction_type": TYPES[n % 3], "amount": 10.5,
             "timestamp": "2026-11-29T17:45:00Z"} for n in range(count)]


def fresh_queues(sqs, prefix):
    return {kind: sqs.create_queue(QueueName=f"{prefix}-{kind}-{uuid.uuid4().hex[:6]}")["QueueUrl"] for kind in TYPES}


def evidence_of(body, secret):
    """The evidence the validator keeps for ``body`` sent as the pipeline sends it (signed, same headers)."""
    raw = body.encode("utf-8")
    headers = {"Content-Type": "application/json", "Host": "127.0.0.1:1", "User-Agent": "Python-urllib/3.11",
               "Accept-Encoding": "identity", **signing.headers(secret, raw)}
    proxy = {"httpMethod": "POST", "path": "/webhook", "multiValueHeaders": {k: [v] for k, v in headers.items()},
             "requestContext": {"requestId": str(uuid.uuid4()), "identity": {"sourceIp": "127.0.0.1",
                                                                             "userAgent": "Python-urllib/3.11"}}}
    event = json.loads(body)
    return archive.request_evidence(proxy, raw, source=archive.CANONICAL_SOURCE, events=[
        {"event_id": event["event_id"], "transaction_type": event["transaction_type"]}], verification={
        "verdict": "valid", "scheme": "standard-webhooks-v1", "key_version": 0,
        "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-signing-benchpipe-abcdef",
        "secret_version": str(uuid.uuid4())})


def floor(endpoint, *, confirm, bucket, secret, s3_endpoint=None, count=EVENTS):
    """PutItem + SendMessage (+ the router's lease, the archive's two puts and the confirmation, with
    ``confirm``) per event, on fresh resources shaped as the pipeline's (the archive: the environment's
    own bucket); each client thread reuses its own boto3 clients."""
    setup = client("dynamodb", endpoint)
    table = f"floor-{uuid.uuid4().hex[:8]}"
    setup.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"},
                              {"AttributeName": "pending_shard", "AttributeType": "S"},
                              {"AttributeName": "pending_due", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": records.PENDING_INDEX,
                                 "KeySchema": [{"AttributeName": "pending_shard", "KeyType": "HASH"},
                                               {"AttributeName": "pending_due", "KeyType": "RANGE"}],
                                 "Projection": {"ProjectionType": "INCLUDE",
                                                "NonKeyAttributes": ["message_body", "pending_attempts", "received_at"]}}])
    queues = fresh_queues(client("sqs", endpoint), "floor")
    local = threading.local()

    def work(event):
        if not hasattr(local, "dynamodb"):
            local.dynamodb, local.sqs = client("dynamodb", endpoint), client("sqs", endpoint)
            local.s3 = client("s3", s3_endpoint or endpoint)
        evidence = evidence_of(json.dumps(event), secret)  # made before the clock starts, as the request is
        started = time.perf_counter()
        received_at = "2026-11-30T00:00:00.000Z"
        body = json.dumps({**event, "received_at": received_at})
        store = records.Records(table, local.dynamodb)
        store.claim(event, request="bench", now=time.time(), received_at=received_at, message_body=body,
                    evidence=evidence)
        if confirm:
            lease = store.start_routing(event["event_id"], received_at=received_at, now=time.time(),
                                        lease_seconds=router.LEASE_SECONDS)
        local.sqs.send_message(QueueUrl=queues[event["transaction_type"]], MessageBody=body, MessageAttributes={
            "event_id": {"DataType": "String", "StringValue": event["event_id"]},
            "transaction_type": {"DataType": "String", "StringValue": event["transaction_type"]}})
        if confirm:
            routed = {**event, "received_at": received_at}
            data, source = archive.document(lease.evidence, event=routed, message_body=body)
            archive.write(local.s3, bucket, data, event=routed, source=source)
            store.clear(event["event_id"], received_at=received_at)
        return time.perf_counter() - started

    batch = events("floor", count)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        latencies = list(pool.map(work, batch))
    result = figures(latencies, time.perf_counter() - started)
    # Gone afterwards, as the pipeline's messages are once delivered: a heap that grows round after round
    # would slow every later phase (the interpreter's collector walks all of it).
    setup.delete_table(TableName=table)
    sqs = client("sqs", endpoint)
    for url in queues.values():
        sqs.delete_queue(QueueUrl=url)
    return result


def pipeline(url, secret, endpoint, outputs, count=EVENTS):
    """Signed POSTs from CLIENTS threads, one keep-alive connection each; done when every accepted
    event is in its queue. Returns (figures, events, statuses)."""
    target = urlparse(url)
    local = threading.local()
    statuses = {}

    def work(event):
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        data = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", **signing.headers(secret, data)}
        started = time.perf_counter()
        local.connection.request("POST", target.path, body=data, headers=headers)
        answer = local.connection.getresponse()
        answer.read()
        statuses[event["event_id"]] = answer.status
        return time.perf_counter() - started

    batch = events("bench", count)
    counting = {outputs[QUEUE_OUTPUTS[kind]].rsplit("/", 1)[1] for kind in TYPES}

    def queued():
        # The emulator's own count from moto's model (one clock reading for all): SQS's
        # ApproximateNumberOfMessages reads the clock per message, and at 400 messages per queue,
        # polled every 0.1 s, that alone would take a tenth of the AWS APIs' time from the pipeline.
        with urllib.request.urlopen(f"{endpoint}{QUEUES_PATH}", timeout=10) as answer:
            found = json.loads(answer.read())
        return sum(found[name]["visible"] + found[name]["not_visible"] for name in counting if name in found)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        latencies = list(pool.map(work, batch))
    answered = time.perf_counter() - started
    accepted = sum(1 for status in statuses.values() if status == 200)
    deadline = time.monotonic() + 120
    while queued() < accepted and time.monotonic() < deadline:
        time.sleep(0.1)
    result = figures(latencies, time.perf_counter() - started)
    result["answered_s"], result["routed_s"] = round(answered, 2), round(time.perf_counter() - started, 2)
    return result, batch, statuses


def delivered(endpoint, outputs, expected, wait=60):
    sqs = client("sqs", endpoint)
    seen = {}
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and len(seen) < len(expected):
        for kind, output in QUEUE_OUTPUTS.items():
            url = outputs[output]
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if batch:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(batch)])
            for message in batch:
                seen.setdefault(json.loads(message["Body"])["event_id"], []).append(kind)
    lost = [event_id for event_id in expected if event_id not in seen]
    wrong = [event_id for event_id, kinds in seen.items() if event_id in expected and kinds != [expected[event_id]]]
    return {"accepted": len(expected), "lost": len(lost), "duplicated_or_misrouted": len(wrong)}


def main():
    tapctl = [sys.executable, "-m", "tapctl.cli"]
    rounds = []
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "TAPCTL_STATE_DIR": scratch}
        common = ["--env", "benchpipe", "--target", "local"]
        subprocess.run([*tapctl, "deploy", *common, "--auto-approve"], check=True, env=env, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            outputs = json.loads(subprocess.run([*tapctl, "output", *common, "--json"], check=True, env=env, cwd=ROOT,
                                                capture_output=True, text=True).stdout)
            workdir = Settings(project_dir=ROOT, env="benchpipe", target="local", state_dir=Path(scratch)).workdir
            state = emulator.recorded(workdir)
            endpoint = state["aws_endpoint"]
            s3_endpoint = state.get("s3_endpoint", endpoint)  # S3 in a process of its own, as the functions reach it
            secret = json.loads(subprocess.run([*tapctl, "secret", "show", *common, "--json"], check=True, env=env,
                                               cwd=ROOT, capture_output=True, text=True).stdout)["current"]
            bucket = outputs["archive_bucket_name"]
            floor(endpoint, confirm=True, bucket=bucket, secret=secret, s3_endpoint=s3_endpoint, count=WARM_UP)
            _, batch, statuses = pipeline(outputs["api_endpoint"], secret, endpoint, outputs, count=WARM_UP)
            delivered(endpoint, outputs, {e["event_id"]: e["transaction_type"] for e in batch
                                          if statuses.get(e["event_id"]) == 200})
            for _ in range(ROUNDS):  # interleaved, so drift in the machine's load hits every phase alike
                floor_send = floor(endpoint, confirm=False, bucket=bucket, secret=secret)
                floor_calls = floor(endpoint, confirm=True, bucket=bucket, secret=secret, s3_endpoint=s3_endpoint)
                pipeline_figures, batch, statuses = pipeline(outputs["api_endpoint"], secret, endpoint, outputs)
                expected = {e["event_id"]: e["transaction_type"] for e in batch if statuses.get(e["event_id"]) == 200}
                rounds.append({"floor_send": floor_send, "floor_calls": floor_calls, "pipeline": pipeline_figures,
                               "delivery": delivered(endpoint, outputs, expected)})
        finally:
            subprocess.run([*tapctl, "destroy", *common, "--auto-approve"], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def median(phase, figure):
        return round(statistics.median(round_[phase][figure] for round_ in rounds), 2)

    phases = {phase: {figure: median(phase, figure) for figure in ("events_per_s", "p50_ms", "p99_ms")}
              for phase in ("floor_send", "floor_calls", "pipeline")}
    ratios = {
        floor_name: {
            "rate": round(statistics.median(r["pipeline"]["events_per_s"] / r[floor_name]["events_per_s"] for r in rounds), 3),
            "p99": round(statistics.median(r["pipeline"]["p99_ms"] / r[floor_name]["p99_ms"] for r in rounds), 2),
        }
        for floor_name in ("floor_send", "floor_calls")
    }
    delivery = {key: sum(r["delivery"][key] for r in rounds) for key in ("accepted", "lost", "duplicated_or_misrouted")}
    results = {"clients": CLIENTS, "events_per_round": EVENTS, "messages_per_queue": EVENTS // 3, "rounds": ROUNDS,
               "phases": phases, "pipeline_vs": ratios, "delivery": delivery, "each_round": rounds}
    names = {"floor_send": "floor: PutItem + SendMessage", "floor_calls": "floor: + 2 UpdateItems + 2 PutObjects",
             "pipeline": "pipeline: signed POST /webhook"}
    print(f"{CLIENTS} clients, {EVENTS} events per phase ({EVENTS // 3} per queue), median of {ROUNDS} rounds")
    print(f"{'phase':<36} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for phase, name in names.items():
        print(f"{name:<36} {phases[phase]['events_per_s']:>9} {phases[phase]['p50_ms']:>8} {phases[phase]['p99_ms']:>8}")
    # Like with like: the rate against the floor making the same calls (end to end in both); the latency
    # against the floor making two calls before its event is done, as the sender's path does (PutItem,
    # then the hand-over) before its answer.
    print(f"pipeline rate vs {names['floor_calls']}: {ratios['floor_calls']['rate']}x (same calls, end to end)")
    print(f"pipeline p99 vs {names['floor_send']}: {ratios['floor_send']['p99']}x (two calls before the answer)")
    print(f"(not like with like: rate vs {names['floor_send']} {ratios['floor_send']['rate']}x, "
          f"p99 vs {names['floor_calls']} {ratios['floor_calls']['p99']}x)")
    print(f"accepted {delivery['accepted']}, lost {delivery['lost']}, duplicated or misrouted "
          f"{delivery['duplicated_or_misrouted']}")
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "local_pipeline.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
