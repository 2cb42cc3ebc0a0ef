"""event-router: puts an accepted event on the queue of its transaction_type, then confirms it.

Invoked asynchronously by the validator (or the outbox sweeper, or tapctl replay-failures) with
``{"message_body": "<the event as JSON text>"}``. The text is sent to SQS unchanged, so amounts arrive
exactly as the sender wrote them. Every failure to send raises: Lambda then retries the invocation and
finally hands it to the on-failure destination, so no event is ever swallowed here. Once the message is
in its queue, the event's record stops being pending (handlers/records.py); if that confirmation fails,
the sweeper hands the event over once more, so it may arrive twice but is never lost.
"""

import json
import os
import time

from handlers import records, runtime

FUNCTION = "event-router"
TABLE_ENV = "DYNAMODB_TABLE"
QUEUE_URL_ENV = {
    "payment": "PAYMENTS_QUEUE_URL",
    "refund": "REFUNDS_QUEUE_URL",
    "dispute": "DISPUTES_QUEUE_URL",
}


class RoutingError(Exception):
    """The event cannot be routed as it stands; raised so that Lambda's retries and destination take over."""


def route(payload):
    """Send one event to its queue; return ``(event_id, queue_url, message_id)``."""
    body = payload.get("message_body") if isinstance(payload, dict) else None
    if not isinstance(body, str):
        raise RoutingError("payload has no message_body text")
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise RoutingError(f"message_body is not JSON: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
        raise RoutingError("message_body has no event_id")
    event_id = event["event_id"]
    transaction_type = event.get("transaction_type")
    variable = QUEUE_URL_ENV.get(transaction_type) if isinstance(transaction_type, str) else None
    if variable is None:
        raise RoutingError(f"unknown transaction_type {transaction_type!r} for event {event_id}")
    queue_url = os.environ.get(variable)
    if not queue_url:
        raise RoutingError(f"{variable} is not set")
    answer = runtime.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes={
            "event_id": {"DataType": "String", "StringValue": event_id},
            "transaction_type": {"DataType": "String", "StringValue": transaction_type},
        },
    )
    return event_id, queue_url, answer["MessageId"], event.get("received_at")


def confirm(event_id, received_at):
    """Clear the record's pending mark; None when done, else why not (the sweeper will hand over again)."""
    table = os.environ.get(TABLE_ENV)
    if not table or not isinstance(received_at, str):
        return "no table or received_at to confirm with"
    return records.Records(table, runtime.client("dynamodb")).clear(event_id, received_at=received_at)


def _event_id_of(payload):
    try:
        event_id = json.loads(payload["message_body"]).get("event_id")
    except Exception:  # only for the log line: the failure itself is reported by route()
        return None
    return event_id if isinstance(event_id, str) else None


def lambda_handler(event, context):
    started = time.perf_counter()
    log = {
        "function": runtime.function_name(context, FUNCTION),
        "request": runtime.request_id(context),
        "started": started,
    }
    try:
        event_id, queue_url, message_id, received_at = route(event)
    except Exception as exc:
        runtime.log_invocation(
            **log,
            event_id=_event_id_of(event),
            outcome="failed",
            status=500,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    unconfirmed = confirm(event_id, received_at)
    # The queue and the message id let an operator follow the event (tapctl trace) without reading the queue.
    runtime.log_invocation(**log, event_id=event_id, outcome="routed", status=200,
                           queue=queue_url.rsplit("/", 1)[-1], message_id=message_id,
                           confirmation=f"failed: {unconfirmed}" if unconfirmed else None)
    return {"event_id": event_id, "queue_url": queue_url, "message_id": message_id}
