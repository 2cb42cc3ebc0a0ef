"""Benchmark: the handlers' cold start, AWS calls and CPU per event, packaging, and the CLI's start.

Every timing is reported next to a reference measured in the same run (these machines are noisy), as
the median of several runs. Run with `make bench`; prints a table and writes bench/results/handlers.json.
A benchmark, not a test: it reports, it does not judge.
"""

import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUNS = int(os.environ.get("BENCH_RUNS", "31"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))

FLOOR = {
    "validator": "import boto3; from botocore.config import Config; c = Config(connect_timeout=2, read_timeout=5, retries={'mode': 'standard', 'max_attempts': 3}); boto3.client('dynamodb', config=c); boto3.client('lambda', config=c)",
    "router": "import boto3; from botocore.config import Config; c = Config(connect_timeout=2, read_timeout=5, retries={'mode': 'standard', 'max_attempts': 3}); boto3.client('sqs', config=c)",
}
HANDLER = {
    "validator": "import handlers.validator; from handlers import runtime; runtime.client('dynamodb'); runtime.client('lambda')",
    "router": "import handlers.router; from handlers import runtime; runtime.client('sqs')",
}


def wall(command, env=None, cwd=ROOT):
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def median_ms(samples):
    return round(statistics.median(samples) * 1000, 2)


def cold_starts():
    """Each handler imported from its unpacked zip, as Lambda does: the zip holds no bytecode and the
    task folder is read-only, so its modules are compiled at every cold start (boto3's are not)."""
    from tapctl import package

    env = {**os.environ, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "PYTHONDONTWRITEBYTECODE": "1"}
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        zips = {p.function: p.path for p in package.build(ROOT, Path(scratch) / "build")}
        for name, function in (("validator", "webhook-validator"), ("router", "event-router")):
            task = Path(scratch) / function
            zipfile.ZipFile(zips[function]).extractall(task)
            results[name] = _cold_start(name, task, env)
    return results


def _cold_start(name, task, env):
    floor, handler = [], []
    for _ in range(RUNS):  # interleaved, so drift in the machine's load hits both alike
        floor.append(wall([sys.executable, "-c", FLOOR[name]], env, cwd=task))
        handler.append(wall([sys.executable, "-c", HANDLER[name]], env, cwd=task))
    return {
        "floor_ms": median_ms(floor),
        "handler_ms": median_ms(handler),
        # the median of each pair's difference: steadier than the difference of the medians
        "overhead_ms": median_ms([mine - theirs for mine, theirs in zip(handler, floor)]),
    }


class Answering:
    """In-memory clients that answer at once, so only the handler's own work is measured."""

    def put_item(self, **_):
        return {}

    def delete_item(self, **_):
        return {}

    def invoke(self, **_):
        return {"StatusCode": 202}

    def send_message(self, **_):
        return {"MessageId": "m"}


def cpu_per_event():
    from handlers import router, runtime, validator

    os.environ.update(DYNAMODB_TABLE="t", ROUTER_LAMBDA_NAME="r", PAYMENTS_QUEUE_URL="q", REFUNDS_QUEUE_URL="q",
                      DISPUTES_QUEUE_URL="q")
    fake = Answering()
    for service in ("dynamodb", "lambda", "sqs"):
        runtime.use_client(service, fake)
    bodies = [
        json.dumps({"event_id": f"evt-{uuid.uuid4().hex}", "transaction_type": "payment", "amount": 149.99,
                    "timestamp": "2026-11-29T17:45:00Z", "currency": "EUR"})
        for _ in range(EVENTS)
    ]
    events = [{"body": body, "isBase64Encoded": False} for body in bodies]
    payload = {"message_body": bodies[0]}
    sink = io.StringIO()
    results = {}
    with redirect_stdout(sink):
        for handler, name, inputs in ((validator.lambda_handler, "validator", events),
                                      (router.lambda_handler, "router", [payload] * EVENTS)):
            rounds = []
            for _ in range(3):
                sink.seek(0), sink.truncate()
                started = time.process_time()
                for item in inputs:
                    handler(item, None)
                rounds.append((time.process_time() - started) / len(inputs))
            results[name] = {"cpu_us_per_event": round(statistics.median(rounds) * 1e6, 1)}
    runtime.reset_clients()
    return results


def calls_per_event():
    """API calls each handler makes, counted with botocore's event hooks against a moto server."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from handlers import router, runtime, validator

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    try:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/config", method="POST",
                               data=json.dumps({"lambda": {"use_docker": False}}).encode()))
        boto3.client("dynamodb").create_table(
            TableName="bench", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}])
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        boto3.client("lambda").create_function(FunctionName="router", Runtime="python3.11", Role=role,
                                               Handler="h.h", Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18})
        queue = boto3.client("sqs").create_queue(QueueName="q")["QueueUrl"]
        os.environ.update(DYNAMODB_TABLE="bench", ROUTER_LAMBDA_NAME="router", PAYMENTS_QUEUE_URL=queue,
                          REFUNDS_QUEUE_URL=queue, DISPUTES_QUEUE_URL=queue)
        runtime.reset_clients()
        calls = []
        for service in ("dynamodb", "lambda", "sqs"):
            runtime.client(service).meta.events.register("before-call", lambda **kwargs: calls.append(1))

        def count(handler, event):
            calls.clear()
            with redirect_stdout(io.StringIO()):
                handler(event, None)
            return len(calls)

        body = json.dumps({"event_id": "evt-calls", "transaction_type": "refund", "amount": 1,
                           "timestamp": "2026-11-29T17:45:00Z"})
        accepted = count(validator.lambda_handler, {"body": body})
        duplicate = count(validator.lambda_handler, {"body": body})
        invalid = count(validator.lambda_handler, {"body": "{}"})
        routed = count(router.lambda_handler, {"message_body": body})
        return {"validator_accepted": accepted, "validator_duplicate": duplicate, "validator_invalid": invalid,
                "router": routed}
    finally:
        runtime.reset_clients()
        server.stop()


def packaging():
    from tapctl import package

    with tempfile.TemporaryDirectory() as scratch:
        build = Path(scratch) / "build"
        scratch_times, unchanged_times = [], []
        for _ in range(RUNS):
            shutil.rmtree(build, ignore_errors=True)
            started = time.perf_counter()
            packages = package.build(ROOT, build)
            scratch_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            package.build(ROOT, build)
            unchanged_times.append(time.perf_counter() - started)
        return {
            "from_scratch_ms": median_ms(scratch_times),
            "unchanged_ms": median_ms(unchanged_times),
            "sizes_bytes": {p.function: p.size for p in packages},
        }


def cli_start():
    tapctl = shutil.which("tapctl", path=str(Path(sys.executable).parent)) or "tapctl"
    # An installed CLI runs from bytecode: one run first writes it, whatever PYTHONDONTWRITEBYTECODE says.
    installed = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([tapctl, "--help"], check=True, env=installed, stdout=subprocess.DEVNULL)
    floor, cli = [], []
    for _ in range(RUNS):
        floor.append(wall([sys.executable, "-c", "pass"]))
        cli.append(wall([tapctl, "--help"]))
    return {"python_pass_ms": median_ms(floor), "tapctl_help_ms": median_ms(cli),
            "overhead_ms": median_ms([mine - theirs for mine, theirs in zip(cli, floor)])}


def main():
    results = {
        "cold_start": cold_starts(),
        "aws_calls_per_event": calls_per_event(),
        "cpu_per_event": cpu_per_event(),
        "packaging": packaging(),
        "cli_start": cli_start(),
    }
    rows = [
        ("validator cold start over floor", f"{results['cold_start']['validator']['overhead_ms']} ms",
         f"floor {results['cold_start']['validator']['floor_ms']} ms", "<= 10 ms"),
        ("router cold start over floor", f"{results['cold_start']['router']['overhead_ms']} ms",
         f"floor {results['cold_start']['router']['floor_ms']} ms", ""),
        ("AWS calls: accepted/duplicate/invalid",
         "{validator_accepted}/{validator_duplicate}/{validator_invalid}".format(**results["aws_calls_per_event"]),
         "", "2/1/0"),
        ("AWS calls: router", str(results["aws_calls_per_event"]["router"]), "", "1"),
        ("validator CPU per event", f"{results['cpu_per_event']['validator']['cpu_us_per_event']} us", "", "<= 50 us"),
        ("router CPU per event", f"{results['cpu_per_event']['router']['cpu_us_per_event']} us", "", ""),
        ("package from scratch / unchanged",
         f"{results['packaging']['from_scratch_ms']} / {results['packaging']['unchanged_ms']} ms",
         json.dumps(results["packaging"]["sizes_bytes"]), ""),
        ("tapctl --help over python -c pass", f"{results['cli_start']['overhead_ms']} ms",
         f"floor {results['cli_start']['python_pass_ms']} ms", ""),
    ]
    print(f"{'measure':<40} {'value':<18} {'reference':<46} goal")
    for row in rows:
        print(f"{row[0]:<40} {row[1]:<18} {row[2]:<46} {row[3]}")
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
               "runs": RUNS, "events": EVENTS}
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "handlers.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
