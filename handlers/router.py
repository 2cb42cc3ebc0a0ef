"""event-router: puts an accepted event on the queue of its transaction_type, then confirms it.

Invoked asynchronously by the validator (or the outbox sweeper, or tapctl replay-failures) with
``{"message_body": "<the event as JSON text>"}``. The text is sent to SQS unchanged, so amounts arrive
exactly as the sender wrote them. Before sending, the router takes the event's routing lease in its
record (handlers/records.py): a second hand-over of the same event (a sweep of a hand-over that was only
queued, a replay of one that was routed meanwhile) finds the lease taken or the record routed and sends
nothing. Every failure to send raises: Lambda then retries the invocation and finally hands it to the
on-failure destination, so no event is ever swallowed here.

Once the message is in its queue, the router archives the request's evidence (which the validator left
in the event's record: handlers/archive.py), and only then does the event's record stop being pending. If the archive
write fails, the record says the message is queued and the invocation fails: its retry (or the sweeper)
archives the event without sending it again. A router that dies between the two leaves the record
pending, and the next hand-over sends and archives it: the message may arrive twice, and the event is
never routed but unarchived. If the confirmation fails, the sweeper hands the event over once more, so
it may arrive twice but is never lost.
"""

import os
import time

from handlers import archive, records, runtime
from handlers.event import Rejected, parse_body

FUNCTION = "event-router"
TABLE_ENV = "DYNAMODB_TABLE"
ARCHIVE_ENV = archive.BUCKET_ENV
QUEUE_URL_ENV = {
    "payment": "PAYMENTS_QUEUE_URL",
    "refund": "REFUNDS_QUEUE_URL",
    "dispute": "DISPUTES_QUEUE_URL",
}
# The lease covers its own UpdateItem, SendMessage, the archive's two puts and the confirmation, each at its
# worst case, and never outlasts the invocation (a router stopped by its timeout holds it no longer): a
# router holding it is either done or dead when it runs out.
LEASE_SECONDS = 5 * runtime.CALL_WORST_CASE_S


class RoutingError(Exception):
    """The event cannot be routed as it stands; raised so that Lambda's retries and destination take over."""


def message(payload):
    """The hand-over's message: ``(text, event, queue URL)``, or ``RoutingError``. The text is read with
    the validator's own parser (handlers.event), so whatever the validator accepted is routable."""
    body = payload.get("message_body") if isinstance(payload, dict) else None
    if not isinstance(body, str):
        raise RoutingError("payload has no message_body text")
    try:
        event = parse_body(body)
    except Rejected as rejected:
        raise RoutingError(f"message_body is not JSON the validator accepts: {rejected.error}") from None
    if not isinstance(event.get("event_id"), str):
        raise RoutingError("message_body has no event_id")
    transaction_type = event.get("transaction_type")
    variable = QUEUE_URL_ENV.get(transaction_type) if isinstance(transaction_type, str) else None
    if variable is None:
        raise RoutingError(f"unknown transaction_type {transaction_type!r} for event {event['event_id']}")
    queue_url = os.environ.get(variable)
    if not queue_url:
        raise RoutingError(f"{variable} is not set")
    if not isinstance(event.get("received_at"), str):
        raise RoutingError(f"message_body of event {event['event_id']} has no received_at")
    return body, event, queue_url


def send(body, event, queue_url):
    """Put the message on its queue; ``(its SQS message id, the MD5 of the body SQS stored)``."""
    answer = runtime.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes={
            "event_id": {"DataType": "String", "StringValue": event["event_id"]},
            "transaction_type": {"DataType": "String", "StringValue": event["transaction_type"]},
        },
    )
    return answer["MessageId"], answer.get("MD5OfMessageBody")


def route(payload, *, now, seconds_left=float("inf")):
    """Send one event to its queue once, whatever the number of hand-overs, and archive it; return
    ``(event, queue_url, (message_id, body MD5), (archive key, version), why not confirmed)``, or raise
    ``records.NotRoutable`` when this hand-over must not send."""
    body, event, queue_url = message(payload)
    table, bucket = os.environ.get(TABLE_ENV), os.environ.get(ARCHIVE_ENV)
    for name, value in ((TABLE_ENV, table), (ARCHIVE_ENV, bucket)):
        if not value:
            raise RoutingError(f"{name} is not set")
    store = records.Records(table, runtime.client("dynamodb"))
    event_id, received_at = event["event_id"], event["received_at"]
    try:
        lease = store.start_routing(event_id, received_at=received_at, now=now,
                                    lease_seconds=min(LEASE_SECONDS, seconds_left))
    except records.StoreUnavailable as failure:
        raise RoutingError(f"the record cannot be read: {failure}") from None
    sent = lease.queued  # an earlier hand-over queued it and could not archive it: do not send it again
    if sent is None:
        try:
            sent = send(body, event, queue_url)
        except Exception:
            store.stop_routing(event_id, until=lease.until)
            raise
    data, source = archive.document(lease.evidence, event=event, message_body=body)
    try:
        archived = archive.write(runtime.client("s3"), bucket, data, event=event, source=source)
    except Exception:
        store.queued(event_id, until=lease.until, sent=sent)
        raise
    return event, queue_url, sent, archived, store.clear(event_id, received_at=received_at)


def _event_id_of(payload):
    try:
        event_id = parse_body(payload["message_body"]).get("event_id")
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
        routed, queue_url, (message_id, body_md5), (archived, version), unconfirmed = route(
            event, now=time.time(), seconds_left=runtime.seconds_left(context))
    except records.NotRoutable as reason:
        # Another hand-over of this event sends (or sent) it: this one is done, and must not be retried.
        runtime.log_invocation(**log, event_id=_event_id_of(event), outcome="skipped", status=200, reason=str(reason))
        return {"event_id": _event_id_of(event), "skipped": str(reason)}
    except Exception as exc:
        runtime.log_invocation(
            **log,
            event_id=_event_id_of(event),
            outcome="failed",
            status=500,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    # The queue and the message id let an operator follow the event (tapctl trace) without reading the
    # queue; the MD5 SQS computed of the body it stored, with the received_at in that body, lets the smoke
    # test prove the exact message (amount included) without receiving it and without logging the amount.
    event_id = routed["event_id"]
    runtime.log_invocation(**log, event_id=event_id, outcome="routed", status=200,
                           queue=queue_url.rsplit("/", 1)[-1], message_id=message_id, body_md5=body_md5,
                           received_at=routed["received_at"], archive=archived, archive_version=version,
                           confirmation=f"failed: {unconfirmed}" if unconfirmed else None)
    return {"event_id": event_id, "queue_url": queue_url, "message_id": message_id}
