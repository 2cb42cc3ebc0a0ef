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

# The floor of a cold start: boto3 imported and the same clients created, with the same configuration
# (handlers/runtime.py CLIENT_CONFIG); the validator's floor also makes the one call a cold start adds,
# GetSecretValue, against the same moto server as the handler.
_CONFIG = "from botocore.config import Config; c = Config(connect_timeout=1, read_timeout=2, retries={'mode': 'standard', 'max_attempts': 2})"
FLOOR = {
    "validator": f"import os, boto3; {_CONFIG}; boto3.client('dynamodb', config=c); boto3.client('lambda', config=c); "
                 "boto3.client('secretsmanager', config=c).get_secret_value(SecretId=os.environ['SIGNING_SECRET_ARN'])",
    "router": f"import boto3; {_CONFIG}; boto3.client('sqs', config=c); boto3.client('dynamodb', config=c)",
}
HANDLER = {
    "validator": "import os, time, handlers.validator; from handlers import runtime; from handlers.signing_keys import keys; "
                 "runtime.client('dynamodb'); runtime.client('lambda'); keys.active(os.environ['SIGNING_SECRET_ARN'], 300, time.time())",
    "router": "import handlers.router; from handlers import runtime; runtime.client('sqs'); runtime.client('dynamodb')",
}


def wall(command, env=None, cwd=ROOT):
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def median_ms(samples):
    return round(statistics.median(samples) * 1000, 2)


def cold_starts(endpoint, secret_arn):
    """Each handler imported from its unpacked zip, as Lambda does: the zip holds no bytecode and the
    task folder is read-only, so its modules are compiled at every cold start (boto3's are not)."""
    from tapctl import package

    env = {**os.environ, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "PYTHONDONTWRITEBYTECODE": "1", "AWS_ENDPOINT_URL": endpoint, "SIGNING_SECRET_ARN": secret_arn}
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

    def get_secret_value(self, **_):
        from tests.support import secret_value

        return {"SecretString": secret_value()}

    def put_item(self, **_):
        return {}

    def delete_item(self, **_):
        return {}

    def update_item(self, **_):
        return {}

    def invoke(self, **_):
        return {"StatusCode": 202}

    def send_message(self, **_):
        return {"MessageId": "m"}


def cpu_per_event():
    from handlers import router, runtime, validator
    from handlers.signing_keys import keys
    from tapctl import signing
    from tests.support import TEST_SECRET

    os.environ.update(DYNAMODB_TABLE="t", ROUTER_LAMBDA_NAME="r", PAYMENTS_QUEUE_URL="q", REFUNDS_QUEUE_URL="q",
                      DISPUTES_QUEUE_URL="q", SIGNING_SECRET_ARN="arn")
    fake = Answering()
    for service in ("dynamodb", "lambda", "sqs", "secretsmanager"):
        runtime.use_client(service, fake)
    keys.forget()
    bodies = [
        json.dumps({"event_id": f"evt-{uuid.uuid4().hex}", "transaction_type": "payment", "amount": 149.99,
                    "timestamp": "2026-11-29T17:45:00Z", "currency": "EUR"})
        for _ in range(EVENTS)
    ]
    events = [{"body": body, "isBase64Encoded": False, "headers": signing.headers(TEST_SECRET, body.encode())}
              for body in bodies]
    # As the validator hands it over: the router leases it, sends it and confirms it (two UpdateItems).
    payload = {"message_body": json.dumps({**json.loads(bodies[0]), "received_at": "2026-11-29T17:45:01.000Z"})}
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
    keys.forget()
    return results


def verification_cpu():
    """CPU of verifying one signature (headers, window, HMAC of the body), warm, for 1 KB and 64 KB bodies."""
    from handlers import signature
    from tapctl import signing
    from tests.support import TEST_SECRET

    key = [signature.decode_secret(TEST_SECRET)]
    results = {}
    for label, size in (("1KB", 1024), ("64KB", 64 * 1024)):
        body = json.dumps({"event_id": "evt-1", "pad": "x" * (size - 30)}).encode()[:size]
        event = {"headers": signing.headers(TEST_SECRET, body)}
        count = max(1000, EVENTS // (1 if size < 4096 else 16))
        rounds = []
        for _ in range(3):
            started = time.process_time()
            for _ in range(count):
                now = time.time()
                msg_id, timestamp, signatures = signature.check_headers(signature.signature_headers(event), now, 300)
                signature.verify(key, msg_id, timestamp, signatures, body)
            rounds.append((time.process_time() - started) / count)
        results[label] = {"cpu_us_per_event": round(statistics.median(rounds) * 1e6, 1)}
    return results


def source_cpu():
    """CPU of one provider request, warm: its verification and its mapping to the canonical event, for a
    request of about 1 KB signed as each provider signs it (tapctl.providers)."""
    from handlers import sources
    from tapctl import providers

    secrets = {"stripe": "whsec_bench", "adyen": "0f" * 32, "braintree": "public:private", "razorpay": "bench",
               "square": "bench key"}
    url = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/v1/webhook/square"
    results = {}
    for name in sources.NAMES:
        module = sources.module(name)
        document, event_id = providers.sample(name, "payment")
        pad = "x" * 600  # about 1 KB, as a provider's event with its metadata is
        if name == "braintree":
            document = document.replace("</transaction>", f"<description>{pad}</description></transaction>")
        elif name == "adyen":
            document["notificationItems"][0]["NotificationRequestItem"]["additionalData"]["note"] = pad
        else:
            document["metadata"] = {"note": pad}
        headers, body = providers.signed(name, document, secrets[name], url=url, event_id=event_id)
        lowered = {key.lower(): value for key, value in headers.items()}
        count = max(1000, EVENTS // 4)
        rounds = []
        for _ in range(3):
            started = time.process_time()
            for _ in range(count):
                request = sources.Request(body, lowered, url=url)
                module.verify(request, [secrets[name]], {}, time.time())
                module.deliveries(request, {})
            rounds.append((time.process_time() - started) / count)
        results[name] = {"bytes": len(body), "cpu_us_per_request": round(statistics.median(rounds) * 1e6, 1)}
    return results


def moto_server():
    """A moto server on loopback with the environment's signing secret: (server, endpoint, secret ARN)."""
    import logging
    import urllib.request

    import boto3
    from moto.server import ThreadedMotoServer

    from tests.support import secret_value

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/config", method="POST",
                           data=json.dumps({"lambda": {"use_docker": False}}).encode()))
    arn = boto3.client("secretsmanager").create_secret(Name="webhook-signing-bench", SecretString=secret_value())["ARN"]
    return server, endpoint, arn


def calls_per_event(secret_arn):
    """API calls each handler makes, counted with botocore's event hooks against a moto server."""
    import boto3

    from handlers import router, runtime, validator
    from handlers.signing_keys import keys
    from tapctl import signing
    from tests.support import TEST_SECRET

    os.environ["SIGNING_SECRET_ARN"] = secret_arn
    keys.forget()
    try:
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
        for service in ("dynamodb", "lambda", "sqs", "secretsmanager"):
            runtime.client(service).meta.events.register("before-call", lambda **kwargs: calls.append(1))

        def count(handler, event):
            calls.clear()
            with redirect_stdout(io.StringIO()):
                handler(event, None)
            return len(calls)

        def signed(text):
            return {"body": text, "headers": signing.headers(TEST_SECRET, text.encode())}

        first = json.dumps({"event_id": "evt-cold", "transaction_type": "payment", "amount": 1,
                            "timestamp": "2026-11-29T17:45:00Z"})
        body = json.dumps({"event_id": "evt-calls", "transaction_type": "refund", "amount": 1,
                           "timestamp": "2026-11-29T17:45:00Z"})
        cold = count(validator.lambda_handler, signed(first))
        accepted = count(validator.lambda_handler, signed(body))
        # The validator's own hand-over of it (its record's delivery), as the router receives it.
        record = boto3.client("dynamodb").get_item(TableName="bench", Key={"event_id": {"S": "evt-calls"}})["Item"]
        handed_over = record["message_body"]["S"]
        duplicate = count(validator.lambda_handler, signed(body))
        invalid = count(validator.lambda_handler, signed("{}"))
        unsigned = count(validator.lambda_handler, {"body": body})
        routed = count(router.lambda_handler, {"message_body": handed_over})
        return {"validator_cold_accepted": cold, "validator_accepted": accepted, "validator_duplicate": duplicate,
                "validator_invalid": invalid, "validator_unauthenticated": unsigned, "router": routed}
    finally:
        runtime.reset_clients()
        keys.forget()


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
    server, endpoint, secret_arn = moto_server()
    try:
        cold_start = cold_starts(endpoint, secret_arn)
        calls = calls_per_event(secret_arn)
    finally:
        server.stop()
    results = {
        "cold_start": cold_start,
        "aws_calls_per_event": calls,
        "cpu_per_event": cpu_per_event(),
        "signature_verification": verification_cpu(),
        "sources": source_cpu(),
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
        ("AWS calls: cold accepted / unsigned", "{validator_cold_accepted} / {validator_unauthenticated}".format(
            **results["aws_calls_per_event"]), "", "3 / 0"),
        ("signature verification CPU, 1 KB / 64 KB",
         f"{results['signature_verification']['1KB']['cpu_us_per_event']} / "
         f"{results['signature_verification']['64KB']['cpu_us_per_event']} us", "", "<= 15 us (1 KB)"),
        ("provider source verify + map, ~1 KB", ", ".join(
            f"{name} {entry['cpu_us_per_request']}" for name, entry in results["sources"].items()) + " us", "",
         "<= 20 us each"),
        ("AWS calls: router (lease, send, confirm)", str(results["aws_calls_per_event"]["router"]), "", "3"),
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
