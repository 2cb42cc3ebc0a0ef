"""tapctl smoke-test against a stand-in endpoint and moto queues: a healthy pipeline passes, and each
way a pipeline can break fails the check that should catch it.

The stand-in runs the real handlers in-process: the validator answers the HTTP request, and the
router is run with the payload the validator handed to (moto's) Lambda. What the router reports (its
queue and message id, which the deployed router logs to CloudWatch) is what the smoke test reads;
tests/integration reads it from the local target's CloudWatch Logs.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from handlers import router, validator
from tapctl.cli import main
from tapctl.smoke import SmokeTest
from tests.support import Context, proxy_event


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pipeline):
        super().__init__(("127.0.0.1", 0), StandInHandler)
        self.pipeline = pipeline
        self.fault = None
        self.routed = {}  # event_id -> (queue name, message id), as the router's log line says

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1/webhook"


class StandInHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        fault = self.server.fault
        if fault == "wrong_status":
            return self._answer(500, {"message": "Internal server error"})
        invokes = self.server.pipeline.invokes
        before = len(invokes)
        response = validator.lambda_handler(proxy_event(body), Context())
        if response["statusCode"] == 200 and len(invokes) > before and fault != "no_message":
            result = router.lambda_handler(json.loads(json.dumps(invokes[-1]["payload"])), Context("event-router-test"))
            self.server.routed[result["event_id"]] = (result["queue_url"].rsplit("/", 1)[-1], result["message_id"])
        payload = json.loads(response["body"])
        if fault == "wrong_body" and response["statusCode"] == 200:
            payload["message"] = "OK"
        self._answer(response["statusCode"], payload)

    def _answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stand_in(pipeline):
    server = StandIn(pipeline)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def smoke(stand_in, pipeline):
    test = SmokeTest(stand_in.url, pipeline.queue_urls, routed=stand_in.routed.get, wait_seconds=2)
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
        assert checks[f"route {kind}"].detail == f"message {message['MessageId']}"


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
