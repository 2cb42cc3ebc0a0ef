"""The de-duplication records in DynamoDB: one item per accepted event_id, claimed by one conditional
PutItem and released only by the request that claimed it. Each record is also the event's outbox entry:
until the router confirms the message is in its queue, the record holds the message and a "not yet
routed" mark (``pending_due``), which a sparse index makes findable for the sweeper (handlers/sweeper.py).
This module owns every read and write of the table.

The record's life:

    absent / expired --claim: PutItem(condition holds)--> held by this request, pending (message, due time)
    pending --router: start routing (a lease: routing_until), SendMessage, archive (handlers/archive.py),
        then clear--> routed: mark, lease, message and evidence removed; kept until expires_at (now +
        DEDUP_TTL_DAYS, 30 days by default)
    pending, leased --the archive write failed--> queued (the message's id in queued_message), lease given
        back: the next hand-over archives and clears without sending again
    pending, leased by a live router --another hand-over of it--> nothing: the lease holder sends it
    routed --another hand-over of it (a slow first one, a sweep, a replay)--> nothing: sent once
    pending, due time past (the validator died before handing over) --sweeper--> handed over again
    held --hand-over failed--> release: DeleteItem(request_id = ours) --> absent: the sender's retry is accepted
    held by anyone, not expired --claim: PutItem(condition fails)--> Duplicate, nothing else called

A routed record keeps only what de-duplication and ``tapctl trace`` need: event_id, received_at,
transaction_type, expires_at and the request that claimed it. The message (the body, financial data)
and the request's evidence live in the record only while it is pending; the archive keeps the evidence.

``expires_at < :now`` in the condition matters because TTL deletion lags: an expired record must not
turn a legitimate re-delivery into a duplicate. A PutItem whose answer was lost is retried by botocore
and then fails its condition on this request's own record: the failure returns the record
(ReturnValuesOnConditionCheckFailure), so the claim still succeeds, at no extra call.

The lease makes a hand-over idempotent: Lambda may run the router twice for one event (the sweeper handed
over a hand-over that was only queued behind a busy router, a retry, a replay), and only the invocation
holding the lease sends. A router that dies holding it leaves the record pending; the lease runs out
and the sweeper hands the event over again, so only a process that actually died can cause a second
message.
"""

import zlib

from botocore.exceptions import BotoCoreError, ClientError

# How long a record de-duplicates its event_id: the validator's DEDUP_TTL_DAYS (terraform: dedup_ttl_days),
# 30 days unless set; at least as long as any sender retries (Adyen: up to 30 days).
DEFAULT_DEDUP_TTL_DAYS = 30
DEDUP_TTL_SECONDS = DEFAULT_DEDUP_TTL_DAYS * 24 * 60 * 60
TTL_ATTRIBUTE = "expires_at"  # the table's TTL attribute (terraform/locals.tf dedup_ttl_attribute)
DEDUP_CONDITION = f"attribute_not_exists(event_id) OR {TTL_ATTRIBUTE} < :now"
# The outbox (terraform/table.tf names the same index and attributes; tests/terraform checks both agree).
PENDING_INDEX = "pending"
# Pending records spread over a few index partitions: one would take every accepted event's two index
# writes (added, then removed), near one partition's 1 000 writes per second at the pipeline's peak.
PENDING_SHARDS = ("p0", "p1", "p2", "p3")
# How long after its record a hand-over counts as lost. The router confirms within milliseconds; one
# that is merely late (queued behind a busy router, retried after a minute on AWS) is harmless: the
# sweeper's second hand-over finds the record leased or routed and sends nothing.
PENDING_GRACE_SECONDS = 30
ROUTING_LEASE_ATTRIBUTE = "routing_until"
# The request's evidence (handlers/archive.py), held until the event is archived; and, when its message is
# queued but the archive write failed, the message's id and MD5, so the next hand-over only archives.
EVIDENCE_ATTRIBUTE = "evidence"
QUEUED_ATTRIBUTE = "queued_message"
OUTBOX_ATTRIBUTES = ("pending_shard", "pending_due", "pending_attempts", "message_body", EVIDENCE_ATTRIBUTE,
                     QUEUED_ATTRIBUTE, ROUTING_LEASE_ATTRIBUTE)
# The condition of starting to route: the record of this delivery, still pending, and no live lease.
ROUTABLE_CONDITION = (
    f"received_at = :received_at AND attribute_exists(message_body)"
    f" AND (attribute_not_exists({ROUTING_LEASE_ATTRIBUTE}) OR {ROUTING_LEASE_ATTRIBUTE} < :now)"
)


def shard(event_id):
    return PENDING_SHARDS[zlib.crc32(event_id.encode("utf-8", "surrogatepass")) % len(PENDING_SHARDS)]


class Duplicate(Exception):
    """Another request holds this event_id's record."""


class StoreUnavailable(Exception):
    """DynamoDB could not be asked (the cause is chained)."""


class NotRoutable(Exception):
    """This hand-over must not send: the event is routed already, or being routed, or not this delivery's."""


class Records:
    def __init__(self, table, client, ttl_seconds=DEDUP_TTL_SECONDS):
        self.table = table
        self.client = client
        self.ttl_seconds = ttl_seconds  # how long a claimed record de-duplicates its event_id

    def claim(self, event, *, request, now, received_at, message_body, evidence=None):
        """Write this event's record, pending with its message and its request's evidence, unless a live one
        exists; ``Duplicate`` or ``StoreUnavailable`` otherwise."""
        item = {
            "event_id": {"S": event["event_id"]},
            "transaction_type": {"S": event["transaction_type"]},
            "received_at": {"S": received_at},
            TTL_ATTRIBUTE: {"N": str(int(now) + self.ttl_seconds)},
            "request_id": {"S": request},
            "pending_shard": {"S": shard(event["event_id"])},
            "pending_due": {"N": str(int(now) + PENDING_GRACE_SECONDS)},
            "message_body": {"S": message_body},
        }
        if evidence is not None:
            item[EVIDENCE_ATTRIBUTE] = {"S": evidence}
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=DEDUP_CONDITION,
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise StoreUnavailable(error) from error
            if error.response.get("Item", {}).get("request_id") != {"S": request}:
                raise Duplicate(event["event_id"]) from None
            # else: our own first attempt stored it and its answer was lost; the record is ours
        except BotoCoreError as error:
            raise StoreUnavailable(error) from error

    def release(self, event_id, *, request):
        """Delete the record if this request still holds it; False when that could not be done."""
        try:
            self.client.delete_item(
                TableName=self.table,
                Key={"event_id": {"S": event_id}},
                ConditionExpression="request_id = :request_id",
                ExpressionAttributeValues={":request_id": {"S": request}},
            )
        except ClientError as error:
            return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        except BotoCoreError:
            return False
        return True

    def start_routing(self, event_id, *, received_at, now, lease_seconds):
        """Take the lease on routing this delivery of the event: a ``Lease``, or ``NotRoutable`` naming why
        not, or ``StoreUnavailable``. The record's evidence and queued mark come back with it (ALL_OLD), so
        no hand-over needs to carry them."""
        until = f"{now + lease_seconds:.3f}"
        try:
            answer = self.client.update_item(
                TableName=self.table,
                Key={"event_id": {"S": event_id}},
                UpdateExpression=f"SET {ROUTING_LEASE_ATTRIBUTE} = :until",
                ConditionExpression=ROUTABLE_CONDITION,
                ExpressionAttributeValues={":received_at": {"S": received_at}, ":now": {"N": f"{now:.3f}"},
                                           ":until": {"N": until}},
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise StoreUnavailable(error) from error
            raise NotRoutable(_why_not_routable(error.response.get("Item"), received_at)) from None
        except BotoCoreError as error:
            raise StoreUnavailable(error) from error
        return Lease(until, answer.get("Attributes", {}))

    def queued(self, event_id, *, until, sent):
        """The message is in its queue but not archived: say so in the record and give the lease back, so the
        next hand-over (Lambda's retry, the sweeper) archives it without sending it again. False when the
        record could not be told (the next hand-over then sends it once more: a duplicate, nothing lost)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"event_id": {"S": event_id}},
                UpdateExpression=f"SET {QUEUED_ATTRIBUTE} = :sent REMOVE {ROUTING_LEASE_ATTRIBUTE}",
                ConditionExpression=f"{ROUTING_LEASE_ATTRIBUTE} = :until",
                ExpressionAttributeValues={":until": {"N": until}, ":sent": {"S": f"{sent[0]} {sent[1] or ''}"}},
            )
        except (ClientError, BotoCoreError):
            return False
        return True

    def stop_routing(self, event_id, *, until):
        """Give the lease back after a failed send, so Lambda's retry of the router may take it at once."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"event_id": {"S": event_id}},
                UpdateExpression=f"REMOVE {ROUTING_LEASE_ATTRIBUTE}",
                ConditionExpression=f"{ROUTING_LEASE_ATTRIBUTE} = :until",
                ExpressionAttributeValues={":until": {"N": until}},
            )
        except (ClientError, BotoCoreError):
            pass  # the lease runs out by itself

    def clear(self, event_id, *, received_at):
        """The router's confirmation: the message is in its queue, so the record is no longer pending and
        keeps no copy of it. Only the record of this delivery (``received_at``); None when done, else why not."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"event_id": {"S": event_id}},
                UpdateExpression="REMOVE " + ", ".join(OUTBOX_ATTRIBUTES),
                ConditionExpression="received_at = :received_at",
                ExpressionAttributeValues={":received_at": {"S": received_at}},
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            return "the record is another delivery's" if code == "ConditionalCheckFailedException" else code
        except BotoCoreError as error:
            return type(error).__name__
        return None

    # -- the sweeper's view ---------------------------------------------------------------------------

    def due(self, shard, *, now, limit):
        """The pending records (``Due``) of ``shard`` whose due time has passed (through the sparse index)."""
        items = self.client.query(
            TableName=self.table,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="pending_shard = :shard AND pending_due < :now",
            ExpressionAttributeValues={":shard": {"S": shard}, ":now": {"N": str(int(now))}},
            Limit=limit,
        ).get("Items", [])
        return [Due(item) for item in items]

    def postpone(self, due, *, now, next_due):
        """Move a due record's due time on and count the hand-over, only if it is still the one ``due`` read
        and no router holds its lease; False when another sweeper or a router got there first."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"event_id": {"S": due.event_id}},
                UpdateExpression="SET pending_due = :next, pending_attempts = :attempts",
                ConditionExpression=(f"pending_due = :due AND (attribute_not_exists({ROUTING_LEASE_ATTRIBUTE})"
                                     f" OR {ROUTING_LEASE_ATTRIBUTE} < :now)"),
                ExpressionAttributeValues={":next": {"N": str(int(next_due))},
                                           ":attempts": {"N": str(due.attempts + 1)},
                                           ":due": due.item["pending_due"], ":now": {"N": f"{now:.3f}"}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


class Lease:
    """A router's lease on one event: its end (epoch seconds, to the millisecond: a retry a second after a
    timed-out attempt must find it over), the request's evidence (None in a record of a release before the
    archive), and ``queued``: ``(message id, body MD5)`` when an earlier hand-over queued the message but
    could not archive it, else None."""

    __slots__ = ("until", "evidence", "queued")

    def __init__(self, until, item):
        self.until = until
        self.evidence = item.get(EVIDENCE_ATTRIBUTE, {}).get("S")
        queued = item.get(QUEUED_ATTRIBUTE, {}).get("S")
        message_id, _, md5 = (queued or "").partition(" ")
        self.queued = (message_id, md5 or None) if queued else None


class Due:
    """A pending record past its due time, as the sweeper sees it: whose it is, how often it was handed
    over, and the message to hand over again."""

    __slots__ = ("item", "event_id", "attempts", "message_body")

    def __init__(self, item):
        self.item = item  # as read: postpone's condition compares its due time
        self.event_id = item["event_id"]["S"]
        self.attempts = int(item.get("pending_attempts", {}).get("N", "0"))
        self.message_body = item["message_body"]["S"]


def _why_not_routable(item, received_at):
    if not item:
        return "no record of this delivery (released after a failed hand-over, or expired)"
    if item.get("received_at") != {"S": received_at}:
        return "the record is another delivery's"
    if "message_body" not in item:
        return "already routed"
    return "being routed by another invocation"
