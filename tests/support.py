"""Helpers shared by the test tiers: sample events, API Gateway proxy events, a Lambda context."""

import base64
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"
SCHEMA_FILE = ROOT / "terraform" / "schema" / "webhook_event.schema.json"
TRANSACTION_TYPES = ("payment", "refund", "dispute")


def schema():
    return json.loads(SCHEMA_FILE.read_text())


def sample(transaction_type, **changes):
    """A valid sample event of that type from tests/events/, with a fresh event_id unless given."""
    event = json.loads((EVENTS / f"{transaction_type}.json").read_text())
    event["event_id"] = f"{event['event_id']}-{uuid.uuid4().hex[:12]}"
    event.update(changes)
    return event


def malformed_cases():
    return json.loads((EVENTS / "malformed.json").read_text())


def proxy_event(body, *, base64_encoded=False):
    """An API Gateway REST AWS_PROXY (payload v1) event for POST /webhook."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if base64_encoded and body is not None:
        body = base64.b64encode(body.encode("utf-8") if isinstance(body, str) else body).decode("ascii")
    return {
        "resource": "/webhook",
        "path": "/webhook",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
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
