"""Helpers shared by the test tiers: sample events, signed API Gateway proxy events, a Lambda context, the
signing secret of the tests."""

import base64
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tapctl import signing

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"
SCHEMA_FILE = ROOT / "terraform" / "schema" / "webhook_event.schema.json"
TRANSACTION_TYPES = ("payment", "refund", "dispute")


# Number literals a sender may write that no parser reads back as written: more digits than Python's int
# takes, exponents beyond a double's and decimal's range, values that round to infinity or to zero.
HOSTILE_NUMBERS = ["9" * 4301, "-" + "9" * 5000, "1e9999999999999999999", "-1E+999999999999999999", "1e-9999999999999999999",
                   "1e400", "-1e309", "1e-400", "2e-324", "0." + "0" * 200 + "1", "1" + "0" * 101, "1.5e+00000000000000000400"]


def unavailable(reason):
    """Skip a test whose tool is missing on a laptop; under CI (CI=true) fail it, naming what is missing:
    a tier that cannot run must not pass as skipped."""
    import os

    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI=true: a tier that cannot run fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def schema():
    return json.loads(SCHEMA_FILE.read_text())


def sample(transaction_type, **changes):
    """A valid sample event of that type from tests/events/, with a fresh event_id unless given."""
    event = json.loads((EVENTS / f"{transaction_type}.json").read_text())
    event["event_id"] = f"{event['event_id']}-{uuid.uuid4().hex[:12]}"
    event.update(changes)
    return event


def deliver(post, event, *, attempts=40, first_wait=0.05, longest_wait=2.0):
    """Send like a payment provider: a 5xx ("retry later") is retried with exponential back-off and full
    jitter (so throttled senders do not retry in step) until a definite answer; (status, body)."""
    wait = first_wait
    for attempt in range(attempts):
        status, body, _ = post(event)
        if status < 500 or attempt + 1 == attempts:
            return status, body
        time.sleep(random.uniform(0, wait))
        wait = min(2 * wait, longest_wait)
    raise AssertionError("unreachable")


def malformed_cases():
    return json.loads((EVENTS / "malformed.json").read_text())


# The signing secret of the tests' environments (a fixed 32-byte key, so that failures reproduce).
TEST_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-signing-test-AbCdEf"


def secret_value(*secrets):
    """The environment's secret value (the contract's format) holding ``secrets``, none expiring."""
    return json.dumps({"secrets": [{"secret": secret, "expires_at": None} for secret in secrets or (TEST_SECRET,)]})


class SecretsClient:
    """A Secrets Manager client for the unit tier (no network) that answers one value and counts calls."""

    def __init__(self, value=None):
        self.value = value or secret_value()
        self.calls = 0

    def get_secret_value(self, SecretId):
        self.calls += 1
        return {"ARN": SecretId, "SecretString": self.value}


def proxy_event(body, *, base64_encoded=False, secret=TEST_SECRET, headers=None, now=None):
    """An API Gateway REST AWS_PROXY (payload v1) event for POST /webhook, signed with ``secret`` over the
    body's bytes (``secret=None``: unsigned); ``headers`` are added as the sender wrote them."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    all_headers = {"Content-Type": "application/json"}
    if secret is not None:
        all_headers.update(signing.headers(secret, raw, now=now))
    all_headers.update(headers or {})
    if base64_encoded and body is not None:
        body = base64.b64encode(raw).decode("ascii")
    return {
        "resource": "/webhook",
        "path": "/webhook",
        "httpMethod": "POST",
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/webhook",
            "httpMethod": "POST",
            "stage": "dev",
            "requestId": str(uuid.uuid4()),
        },
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def source_event(source, headers, body):
    """The proxy event of a provider's POST /webhook/<source> (tapctl.providers.signed's headers and body)."""
    text = body.decode("utf-8")
    return {
        "resource": f"/webhook/{source}",
        "path": f"/webhook/{source}",
        "httpMethod": "POST",
        "headers": dict(headers),
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": f"/webhook/{source}", "httpMethod": "POST", "stage": "dev",
                           "requestId": str(uuid.uuid4())},
        "body": text,
        "isBase64Encoded": False,
    }


@dataclass
class Context:
    """The attributes of the Lambda context object that the handlers read."""

    function_name: str = "webhook-validator-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 30_000  # the deployed validator's timeout

    def get_remaining_time_in_millis(self):
        return self.remaining_ms


def answer(response):
    """(status, parsed body) of a proxy response, after checking it is JSON as the contract says."""
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])
