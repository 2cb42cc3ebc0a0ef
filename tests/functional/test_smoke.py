"""tapctl smoke-test against a stand-in endpoint and moto queues: a healthy pipeline passes, and each
way a pipeline can break fails the check that should catch it.

The stand-in runs the real handlers in-process: the validator answers the HTTP request (POST /webhook
and each POST /webhook/<source>), and the router is run with the payload the validator handed to
(moto's) Lambda. The functions' log lines (the queue, the message id and the MD5 SQS computed of the
body, which the deployed router logs to CloudWatch) are what the smoke test reads; tests/integration
reads them from the local target's CloudWatch Logs.
"""

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from click.testing import CliRunner

from handlers import router, runtime, signing_keys, validator
from tapctl import providers
from tapctl.cli import main
from tapctl.config import SOURCES
from tapctl.smoke import SmokeTest, SourceRoute
from tests.support import Context, proxy_event, source_event

SECRETS = {"stripe": "whsec_smoke_test", "adyen": "0f" * 32, "braintree": "smoke_public:smoke_private",
           "razorpay": "smoke razorpay secret", "square": "smoke_square_key"}


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pipeline):
        super().__init__(("127.0.0.1", 0), StandInHandler)
        self.pipeline = pipeline
        self.fault = None
        self.lines = []  # the functions' log lines, as CloudWatch Logs would hold them

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1/webhook"

    def logged(self, function, event_id, outcome):
        found = [line for line in self.lines if line["role"] == function and line.get("event_id") == event_id
                 and line["outcome"] == outcome]
        return found[-1] if found else None


class StandInHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        fault = self.server.fault
        if fault == "wrong_status":
            return self._answer(500, {"message": "Internal server error"})
        invokes = self.server.pipeline.invokes
        before = len(invokes)
        source = self.path.removeprefix("/v1/webhook").strip("/")
        if source:
            event = source_event(source, dict(self.headers.items()), raw)
        else:
            event = proxy_event(raw.decode())  # signed here: the stand-in's sender needs no secret
        response = validator.lambda_handler(event, Context())
        for handed in invokes[before:]:
            if fault != "no_message":
                payload = json.loads(json.dumps(handed["payload"]))
                if fault == "altered_body":  # a router that queues something else than it was handed
                    payload["message_body"] = payload["message_body"].replace('"amount":', '"amount": ')
                router.lambda_handler(payload, Context("event-router-test"))
        body = response["body"]
        if fault == "wrong_body" and response["statusCode"] == 200 and not source:
            body = json.dumps({**json.loads(body), "message": "OK"})
        self._answer(response["statusCode"], body, response.get("headers", {}).get("Content-Type", "application/json"))

    def _answer(self, status, payload, content_type="application/json"):
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stand_in(pipeline, monkeypatch):
    server = StandIn(pipeline)
    log_invocation = runtime.log_invocation

    def captured(**fields):
        log_invocation(**fields)
        role = "router" if "router" in fields["function"] else "validator"
        server.lines.append({**{name: value for name, value in fields.items() if value is not None}, "role": role})

    monkeypatch.setattr(runtime, "log_invocation", captured)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sources(stand_in, monkeypatch):
    """Every source enabled at the stand-in, with its secret set; the routes the smoke test posts to."""
    secretsmanager = boto3.client("secretsmanager")
    settings, routes = {}, []
    for name in SOURCES:
        value = json.dumps({"secrets": [{"secret": SECRETS[name], "expires_at": None}]})
        arn = secretsmanager.create_secret(Name=f"webhook-{name}-smoke", SecretString=value)["ARN"]
        settings[name] = {"types": {}, "secret_arn": arn}
        routes.append(SourceRoute(name, f"{stand_in.url}/{name}", f"{stand_in.url}/{name}", {"types": {}},
                                  SECRETS[name]))
    settings["stripe"]["tolerance_seconds"] = 300
    settings["square"]["notification_url"] = routes[-1].signed_url
    routes[-1].settings["notification_url"] = routes[-1].signed_url
    monkeypatch.setenv(validator.SOURCES_ENV, json.dumps(settings))
    signing_keys.forget_sources()
    yield routes
    signing_keys.forget_sources()


def smoke(stand_in, pipeline, sources=()):
    records = (boto3.client("dynamodb"), pipeline.table)
    test = SmokeTest(stand_in.url, pipeline.queue_urls, logged=stand_in.logged, wait_seconds=2, sources=sources,
                     records=records)
    return {check.name: check for check in test.run()}


def test_healthy_pipeline_passes_every_check(stand_in, pipeline):
    checks = smoke(stand_in, pipeline)
    assert sorted(checks) == sorted(
        [f"{step} {kind}" for step in ("accept", "route", "duplicate") for kind in ("payment", "refund", "dispute")]
        + ["reject missing amount"]
    )
    assert all(check.passed for check in checks.values()), [check.line() for check in checks.values()]
    assert all(check.latency_ms > 0 for name, check in checks.items() if not name.startswith("route"))  # HTTP
    for kind in ("payment", "refund", "dispute"):
        [message] = pipeline.messages(kind)  # its own event stays for the consumers, never received by it
        assert json.loads(message["Body"])["smoke_test"] is True
        assert checks[f"route {kind}"].detail == f"message {message['MessageId']}, archived"


def test_wrong_status_fails_the_accept_checks(stand_in, pipeline):
    stand_in.fault = "wrong_status"
    checks = smoke(stand_in, pipeline)
    assert not checks["accept payment"].passed
    assert "got 500" in checks["accept payment"].detail
    assert not checks["reject missing amount"].passed


def test_wrong_body_fails_the_accept_checks(stand_in, pipeline):
    stand_in.fault = "wrong_body"
    checks = smoke(stand_in, pipeline)
    assert not checks["accept refund"].passed
    assert '"message": "OK"' in checks["accept refund"].detail


def test_missing_message_fails_the_route_check(stand_in, pipeline):
    stand_in.fault = "no_message"
    checks = smoke(stand_in, pipeline)
    assert checks["accept dispute"].passed
    assert not checks["route dispute"].passed
    assert checks["route dispute"].detail == "not routed within 2 s (no router log line)"


def test_message_in_the_wrong_queue_is_named(stand_in, pipeline, monkeypatch):
    monkeypatch.setenv("PAYMENTS_QUEUE_URL", pipeline.queue_urls["refund"])
    checks = smoke(stand_in, pipeline)
    assert not checks["route payment"].passed
    assert checks["route payment"].detail == "routed to the refund queue instead"
    assert checks["route refund"].passed


def test_messages_it_did_not_send_stay_in_the_queue(stand_in, pipeline):
    foreign = pipeline.sqs.send_message(
        QueueUrl=pipeline.queue_urls["payment"],
        MessageBody='{"event_id": "someone-else"}',
        MessageAttributes={"event_id": {"DataType": "String", "StringValue": "someone-else"}},
    )
    checks = smoke(stand_in, pipeline)
    assert all(check.passed for check in checks.values())
    [found] = [message for message in pipeline.sqs.receive_message(
        QueueUrl=pipeline.queue_urls["payment"], MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"],
    )["Messages"] if message["MessageId"] == foreign["MessageId"]]
    assert found["Attributes"]["ApproximateReceiveCount"] == "1"  # this receive's: the smoke test never received it


def test_cli_endpoint_mode_prints_one_line_per_check(stand_in, pipeline):
    result = CliRunner().invoke(main, ["smoke-test", "--env", "dev", "--endpoint", stand_in.url])
    assert result.exit_code == 0, result.output
    # The in-process handlers log to the same stdout; their JSON lines are not tapctl's.
    lines = [line for line in result.stdout.splitlines() if not line.startswith("{")]
    assert [line.split()[0] for line in lines[:-1]] == ["PASS"] * 7
    assert all(line.endswith("ms") for line in lines[:-1])
    assert lines[-1] == "7/7 checks passed"


def test_cli_exits_non_zero_when_a_check_fails(stand_in, pipeline):
    stand_in.fault = "wrong_status"
    result = CliRunner().invoke(main, ["smoke-test", "--env", "dev", "--endpoint", stand_in.url, "--json"])
    assert result.exit_code == 1
    report = json.loads("\n".join(line for line in result.stdout.splitlines() if not line.startswith('{"function"')))
    assert report["passed"] is False and any(not check["passed"] for check in report["checks"])
    assert "Error: smoke test failed" in result.stderr


def test_unreachable_endpoint_is_reported_per_check(unused_port):
    result = CliRunner().invoke(main, ["smoke-test", "--env", "dev", "--endpoint", f"http://127.0.0.1:{unused_port}/v1/webhook"])
    assert result.exit_code == 1
    assert "endpoint unreachable" in result.stdout
    assert "Traceback" not in result.output


def test_a_router_that_alters_the_message_fails_the_route_checks(stand_in, pipeline):
    stand_in.fault = "altered_body"
    checks = smoke(stand_in, pipeline)
    assert checks["accept payment"].passed
    assert not checks["route payment"].passed
    assert "is not the event as sent: SQS stored MD5" in checks["route payment"].detail


def test_a_router_that_logs_no_digest_is_named(stand_in, pipeline):
    # A router of an earlier release logs the queue and the message id only.
    logged = stand_in.logged
    stand_in.logged = lambda *key: {k: v for k, v in (logged(*key) or {}).items() if k != "body_md5"} or None
    checks = smoke(stand_in, pipeline)
    assert checks["route refund"].detail == "the router logs no body_md5: deploy this release to check the message"


def test_a_router_that_does_not_archive_is_named(stand_in, pipeline):
    # A router of a release before the archive confirms its events without archiving them.
    logged = stand_in.logged
    stand_in.logged = lambda *key: {k: v for k, v in (logged(*key) or {}).items() if k != "archive"} or None
    checks = smoke(stand_in, pipeline)
    assert not checks["route payment"].passed
    assert checks["route payment"].detail.endswith("is queued but the router logs no archive object: deploy this release")


def test_every_source_passes_with_exact_amounts(stand_in, pipeline, sources):
    checks = smoke(stand_in, pipeline, sources)
    per_source = [f"{step} {name} {kind}" for name in SOURCES for step in ("accept", "route", "duplicate")
                  for kind in ("payment", "refund", "dispute")] + [f"refuse forged {name}" for name in SOURCES]
    assert set(per_source) <= set(checks)
    assert all(check.passed for check in checks.values()), [check.line() for check in checks.values() if not check.passed]
    for kind, amount, currency in (("payment", "10.50", "USD"), ("refund", "1050", "JPY"), ("dispute", "10.500", "KWD")):
        bodies = [json.loads(message["Body"], parse_float=Decimal) for message in pipeline.messages(kind)]
        for name in SOURCES:  # each event queued once, with its exact amount, marked as the smoke test's
            mine = [body for body in bodies if body.get("source") == name]
            assert len(mine) == 1, (name, kind, mine)
            assert "tapctl-smoke-" in mine[0]["source_event_id"]
            assert (str(mine[0]["amount"]), mine[0]["currency"]) == (amount, currency)


def test_a_source_without_a_secret_fails_with_the_remedy(stand_in, pipeline, sources):
    sources[0].secret, sources[0].problem = None, "the stripe secret of dev has no value yet: run `...`"
    checks = smoke(stand_in, pipeline, sources[:1])
    assert not checks["secret stripe"].passed
    assert checks["secret stripe"].detail == sources[0].problem
    assert "accept stripe payment" not in checks


def test_a_source_that_answers_a_duplicate_with_409_fails(stand_in, pipeline, sources, monkeypatch):
    answered = validator.receive

    def conflicting(name, event, context):
        response = answered(name, event, context)
        if any(line["outcome"] == "duplicate" for line in stand_in.lines[-1:]):
            return {**response, "statusCode": 409}
        return response

    monkeypatch.setattr(validator, "receive", conflicting)
    checks = smoke(stand_in, pipeline, sources[:1])
    assert checks["accept stripe payment"].passed and checks["route stripe payment"].passed
    assert not checks["duplicate stripe payment"].passed
    assert "never 409" in checks["duplicate stripe payment"].detail


def test_a_source_that_accepts_a_forgery_fails(stand_in, pipeline, sources, monkeypatch):
    monkeypatch.setattr(providers, "forged", lambda source, secret: secret)
    checks = smoke(stand_in, pipeline, sources[1:2])
    assert not checks["refuse forged adyen"].passed
    assert checks["refuse forged adyen"].detail.startswith("expected 401, got 200")
