"""What every function shares: AWS clients made once per container, and the one JSON log line per invocation.

Clients come from the standard environment (``AWS_REGION``, ``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_<SERVICE>``), so the same code talks to AWS or to a local emulator unchanged.
"""

import json
import os
import sys
import time

import boto3
from botocore.config import Config

# A webhook sender waits on the validator, and a stuck connection must fail fast. A call's worst case
# is 2 attempts x (1 s connect + 2 s read) plus at most 1 s of "standard" back-off: CALL_WORST_CASE_S.
# The validator's four calls at most (the signing secret's read, record, hand-over, rollback) then end
# within 28 s: before API Gateway gives up (29 s) and inside the function's timeout (terraform:
# validator_timeout, at least 28 s; handlers.validator.WORST_CASE_S).
# DynamoDB and Lambda's async invoke answer in milliseconds; 2 s is a stuck call, not a slow one.
CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "max_attempts": 2},
)
CALL_WORST_CASE_S = 2 * (1 + 2) + 1

_clients = {}


def client(service):
    """The container's client for ``service``, created on first use and reused while the container is warm."""
    found = _clients.get(service)
    if found is None:
        found = _clients[service] = boto3.client(service, config=CLIENT_CONFIG)
    return found


def use_client(service, replacement):
    """Make ``client(service)`` return ``replacement`` (tests inject stubbed or counting clients)."""
    _clients[service] = replacement


def reset_clients():
    """Forget every client, as a new container would (tests change the environment between cases)."""
    _clients.clear()


def hand_over(lambda_client, router, message_body):
    """Invoke the router asynchronously with one event's message (the validator's and the sweeper's
    hand-over); raises unless Lambda queued it (202)."""
    answer = lambda_client.invoke(FunctionName=router, InvocationType="Event",
                                  Payload=json.dumps({"message_body": message_body}, ensure_ascii=False).encode("utf-8"))
    if answer.get("StatusCode") != 202:
        raise RuntimeError(f"router invoke answered {answer.get('StatusCode')}")


def function_name(context, default):
    return getattr(context, "function_name", None) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or default


def request_id(context):
    return getattr(context, "aws_request_id", None)


def seconds_left(context):
    """Time left before Lambda stops this invocation (unbounded when the context cannot say)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if remaining else float("inf")


def log_invocation(*, function, request, event_id, outcome, status, started, error=None, **fields):
    """Write the invocation's one JSON log line. It never carries the amount, the body or a secret;
    ``fields`` that are None are left out."""
    record = {
        "function": function,
        "request_id": request,
        "event_id": event_id,
        "outcome": outcome,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if error is not None:
        record["error"] = error
    record.update((name, value) for name, value in fields.items() if value is not None)
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
