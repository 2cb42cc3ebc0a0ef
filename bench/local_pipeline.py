"""Benchmark: events/s and latency through the local pipeline, against the emulator's own floor.

The floor is what the emulator does for one event at its cheapest: one PutItem and one SendMessage,
from the same number of clients, measured in the same run on fresh resources. The pipeline phase
sends valid events of all three types through the local API endpoint; afterwards every accepted event
must be in its queue exactly once. Loopback only, bounded in count and time.

Run with `make bench-pipeline` (needs terraform, and the AWS provider from a mirror or the registry). Prints a table and writes
bench/results/local_pipeline.json. A benchmark, not a test: it reports, it does not judge.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tapctl.config import QUEUE_OUTPUTS  # noqa: E402
from tapctl.smoke import post_json  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
EVENTS = int(os.environ.get("BENCH_PIPELINE_EVENTS", "1200"))


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_phase(work, items):
    """Run ``work(item) -> latency`` from CLIENTS threads; (events/s, p50 ms, p99 ms)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        latencies = list(pool.map(work, items))
    elapsed = time.perf_counter() - started
    return {
        "events_per_s": round(len(items) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def floor(endpoint):
    dynamodb, sqs = client("dynamodb", endpoint), client("sqs", endpoint)
    table = f"floor-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}])
    queue = sqs.create_queue(QueueName=table)["QueueUrl"]

    def work(number):
        started = time.perf_counter()
        event_id = f"floor-{number}"
        dynamodb.put_item(TableName=table, Item={"event_id": {"S": event_id}},
                          ConditionExpression="attribute_not_exists(event_id)")
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"event_id": event_id}))
        return time.perf_counter() - started

    return run_phase(work, range(EVENTS))


def pipeline(url, secret):
    kinds = list(QUEUE_OUTPUTS)
    events = [{"event_id": f"bench-{uuid.uuid4().hex}", "transaction_type": kinds[n % 3], "amount": 10.5,
               "timestamp": "2026-11-29T17:45:00Z"} for n in range(EVENTS)]
    statuses = {}

    def work(event):
        started = time.perf_counter()
        status, _, _ = post_json(url, event, secret=secret)  # signed, as senders must
        statuses[event["event_id"]] = status
        return time.perf_counter() - started

    return run_phase(work, events), events, statuses


def delivered(endpoint, outputs, expected, wait=60):
    sqs = client("sqs", endpoint)
    seen = {}
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and len(seen) < len(expected):
        for kind, output in QUEUE_OUTPUTS.items():
            url = outputs[output]
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                event_id = json.loads(message["Body"])["event_id"]
                seen.setdefault(event_id, []).append(kind)
    lost = [event_id for event_id in expected if event_id not in seen]
    wrong = [event_id for event_id, kinds in seen.items() if event_id in expected and kinds != [expected[event_id]]]
    return {"accepted": len(expected), "lost": len(lost), "duplicated_or_misrouted": len(wrong)}


def main():
    tapctl = [sys.executable, "-m", "tapctl.cli"]
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "TAPCTL_STATE_DIR": scratch}
        common = ["--env", "benchpipe", "--target", "local"]
        subprocess.run([*tapctl, "deploy", *common, "--auto-approve"], check=True, env=env, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            outputs = json.loads(subprocess.run([*tapctl, "output", *common, "--json"], check=True, env=env, cwd=ROOT,
                                                capture_output=True, text=True).stdout)
            endpoint = json.loads((Path(scratch) / "local" / "benchpipe" / "emulator.json").read_text())["endpoint"]
            floor_figures = floor(endpoint)
            secret = json.loads(subprocess.run([*tapctl, "secret", "show", *common, "--json"], check=True, env=env,
                                               cwd=ROOT, capture_output=True, text=True).stdout)["current"]
            pipeline_figures, events, statuses = pipeline(outputs["api_endpoint"], secret)
            expected = {e["event_id"]: e["transaction_type"] for e in events if statuses.get(e["event_id"]) == 200}
            accounting = delivered(endpoint, outputs, expected)
        finally:
            subprocess.run([*tapctl, "destroy", *common, "--auto-approve"], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {
        "clients": CLIENTS,
        "events": EVENTS,
        "floor_put_item_plus_send_message": floor_figures,
        "pipeline": pipeline_figures,
        "rate_vs_floor": round(pipeline_figures["events_per_s"] / floor_figures["events_per_s"], 3),
        "p99_vs_floor": round(pipeline_figures["p99_ms"] / floor_figures["p99_ms"], 2),
        "delivery": accounting,
    }
    print(f"{'phase':<34} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, figures in (("floor: PutItem + SendMessage", floor_figures), ("pipeline: POST /webhook", pipeline_figures)):
        print(f"{name:<34} {figures['events_per_s']:>9} {figures['p50_ms']:>8} {figures['p99_ms']:>8}")
    print(f"rate vs floor {results['rate_vs_floor']} (goal >= 0.9); p99 vs floor {results['p99_vs_floor']} (goal <= 1.3)")
    print(f"accepted {accounting['accepted']}, lost {accounting['lost']}, "
          f"duplicated or misrouted {accounting['duplicated_or_misrouted']}")
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "local_pipeline.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
