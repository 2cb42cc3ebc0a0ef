"""One event's whole path, ending in one verdict: its de-duplication record, the validator's and the
router's log lines for its event_id (outcome, the queue, the SQS message id), whether it waits in a
dead-letter queue or the router-failures queue, and its evidence in the archive (one HEAD). Months later,
when the record and the log lines have expired, the archive still says it was accepted.

A live queue is never received from (a receive counts towards maxReceiveCount): that an event reached
its queue is read from the router's log line. DLQs and the router-failures queue are peeked: received
with a short visibility timeout and released again at once.
"""

import json
import time
from datetime import datetime, timezone

from tapctl import logs
from tapctl.config import LIVE_QUEUES, QUEUES

PEEK_LIMIT = 1000  # messages looked at per DLQ; a DLQ deeper than that needs redrive, not a trace
DEFAULT_LOOKBACK_SECONDS = 24 * 3600  # log lines searched for an event without a record


def peek(sqs, queue_url, event_id_of, limit=PEEK_LIMIT):
    """The messages of a DLQ-like queue whose event_id is the one looked for, released again after."""
    found, received = [], []
    try:
        while len(received) < limit:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                        MessageAttributeNames=["All"], AttributeNames=["All"]).get("Messages", [])
            if not batch:
                break
            received.extend(batch)
        for message in received:
            if event_id_of(message):
                found.append(message)
    finally:
        for start in range(0, len(received), 10):
            entries = [{"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                       for index, message in enumerate(received[start:start + 10])]
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    return found


def _dead_letter_event_id(message):
    attribute = message.get("MessageAttributes", {}).get("event_id", {}).get("StringValue")
    if attribute:
        return attribute
    try:
        return json.loads(message["Body"]).get("event_id")
    except (ValueError, AttributeError):
        return None


def failure_event_id(message):
    """The event_id of a router-failures record (Lambda's on-failure record holding the invoke's payload)."""
    try:
        payload = json.loads(message["Body"])["requestPayload"]
        return json.loads(payload["message_body"]).get("event_id")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def record(dynamodb, table, event_id):
    item = dynamodb.get_item(TableName=table, Key={"event_id": {"S": event_id}}, ConsistentRead=True).get("Item")
    if not item:
        return None
    expires = int(item["expires_at"]["N"]) if "expires_at" in item else None
    return {
        "received_at": item.get("received_at", {}).get("S"),
        "expires_at": datetime.fromtimestamp(expires, timezone.utc).isoformat().replace("+00:00", "Z") if expires else None,
        "transaction_type": item.get("transaction_type", {}).get("S"),
    }


def _epoch_ms(iso_text):
    return int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)


def _recorded(dynamodb, table, outputs, event_id):
    """``(event_id, record)``: the id as given, else a provider's own id (evt_...) under the source that
    received it (stripe:evt_...)."""
    found = record(dynamodb, table, event_id)
    if found is None:
        for source in sorted(outputs.get("webhook_sources") or {}):
            candidate = f"{source}:{event_id}"
            found = record(dynamodb, table, candidate)
            if found is not None:
                return candidate, found
    return event_id, found


def trace(target, outputs, event_id, since_seconds=None):
    event_id, found = _recorded(target.client("dynamodb"), outputs["dynamodb_table_name"], outputs, event_id)
    if since_seconds is not None:
        since_ms = int((time.time() - since_seconds) * 1000)
    elif found and found["received_at"]:
        since_ms = _epoch_ms(found["received_at"]) - 5 * 60 * 1000  # clocks and a sender's earlier tries
    else:
        since_ms = int((time.time() - DEFAULT_LOOKBACK_SECONDS) * 1000)
    lines = logs.read(target.client("logs"), logs.groups(outputs), since_ms=since_ms, event_id=event_id)
    sqs = target.client("sqs")
    dead = []
    for name, output in QUEUES.items():
        if name in LIVE_QUEUES:
            continue
        event_id_of = failure_event_id if name == "router_failures" else _dead_letter_event_id
        for message in peek(sqs, outputs[output], lambda message: event_id_of(message) == event_id):
            dead.append({"queue": name, "message_id": message["MessageId"],
                         "receive_count": int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0))})
    archived = _archived(target, outputs, event_id)
    verdict, queue, summary = _verdict(found, lines, dead, archived)
    return {
        "event_id": event_id,
        "verdict": verdict,
        "queue": queue,
        "summary": summary,
        "record": found,
        "log": [line.as_dict() for line in lines],
        "dead_letters": dead,
        "archive": archived,
    }


def _archived(target, outputs, event_id):
    from tapctl.archive import ARCHIVE_OUTPUT, Archive

    if not outputs.get(ARCHIVE_OUTPUT):
        return None  # an environment of a release before the archive
    return Archive(target, outputs, "").head(event_id)


def _verdict(found, lines, dead, archived=None):
    """(verdict, queue, one line): in router failures / in DLQ / routed / accepted (not yet routed) /
    rejected / not received."""
    routed = [line.record for line in lines if line.function == "router" and line.record.get("outcome") == "routed"]
    validator = [line.record for line in lines if line.function == "validator"]
    failures = [entry for entry in dead if entry["queue"] == "router_failures"]
    dlq = [entry for entry in dead if entry["queue"] != "router_failures"]
    if failures:
        return "in_router_failures", "router_failures", (
            "in router failures: the router could not deliver it; tapctl replay-failures re-delivers it")
    if dlq:
        name = dlq[0]["queue"]
        return "in_dlq", name, f"in the {name.replace('_', ' ')}: consumers failed it; tapctl redrive --queue {name.split('_')[0]}"
    if routed:
        last = routed[-1]
        return "routed", last.get("queue"), f"routed to {last.get('queue')} (message {last.get('message_id')})"
    if found:
        return "accepted", None, "accepted and recorded; not routed yet (or its router log line is not in yet)"
    if archived and "version" in archived:
        return "archived", None, "accepted and archived (its record and log lines are gone): tapctl archive get shows it"
    if validator:
        last = validator[-1]
        return "rejected", None, f"rejected: {last.get('status')} {last.get('error') or last.get('outcome')}"
    return "not_received", None, ("not received: no record, no log line (a request refused for its signature is "
                                  "logged before its body is read, so without its event_id: tapctl logs --outcome "
                                  "unauthenticated)")


def lines(report):
    shown = [f"trace {report['event_id']}"]
    found = report["record"]
    shown.append(f"  record      received {found['received_at']}, kept until {found['expires_at']}" if found
                 else "  record      none")
    for line in report["log"]:
        text = logs.Line(0, line["role"], line, "").readable().split("  ", 1)[1]
        shown.append(f"  {line['timestamp']}  {text}")
    for entry in report["dead_letters"]:
        shown.append(f"  {entry['queue']:<11} message {entry['message_id']} (received {entry['receive_count']} times)")
    archived = report.get("archive")
    if archived and "version" in archived:
        shown.append(f"  archive     s3://{archived['bucket']}/{archived['key']} version {archived['version']}, "
                     f"{archived['lock']['mode'] or 'no'} lock until {archived['lock']['retain_until']}")
    elif archived:
        shown.append(f"  archive     {archived['key']}: cannot be read ({archived['error']})")
    shown.append(f"verdict: {report['summary']}")
    return shown
