"""The evidence archive: every accepted request, exactly as received, write-once in S3 (Object Lock).

What a disputes team or an auditor asks, months later, is "what exactly did the sender send for this
event, and did it verify?". The validator captures the request (``request_evidence``: the body's bytes,
the headers as received, the caller, the signature's verdict and the events the request holds) and
keeps it in each event's outbox record (handlers/records.py), with the message. The router reads it back
with its routing lease and writes it once the message is in its queue; an event is confirmed only once
it is both queued and archived, so a crash at any step leaves the record pending for the sweeper
(handlers/router.py).

The key layout (this module owns it; tapctl reads the archive through it):

- ``events/<event key>.json``: the evidence of one event (the whole request it came in, its verdict,
  every event of the request, and this event's message as queued). One GET by event_id. An event_id
  accepted again after its de-duplication window is a new version of the same key: the bucket keeps
  every version, locked.
- ``received/<source>/<received_at>/<transaction_type>/<event key>``: an empty object per event, listed
  by time. ``received_at`` is fixed-width UTC (2026-12-01T13:45:00.500Z), so keys sort by time: a time
  range of one source is one contiguous listing (``StartAfter`` its start, stopped at its end), and the
  type is read from the key, with no GET. ``source`` is ``webhook`` for POST /webhook, else the
  provider's name.

The event key is the event_id with every character but letters, digits, "-", "_" and "." written as
"!<hex of its UTF-8 bytes>" ("adyen:X" is "adyen!3aX"), so keys hold only characters S3 calls safe and
name their id back; an id whose encoding would pass 800 bytes is named by its SHA-256 instead
(``sha256-<hex>``).
"""

import base64
import hashlib
import json

BUCKET_ENV = "ARCHIVE_BUCKET"  # the router's environment (terraform/functions.tf)
FORMAT = 1  # the evidence document's version
CANONICAL_SOURCE = "webhook"  # the source of POST /webhook
EVENTS_PREFIX = "events/"
RECEIVED_PREFIX = "received/"
_MAX_KEY_PART = 800  # bytes: the longest prefix and suffix leave S3's 1 024 well clear
# What an event key keeps of an event_id; any other character is written as "!" and the hex of each of its
# UTF-8 bytes (":" is "!3a"). Only characters S3 calls safe appear in a key: "%", which S3 says to avoid
# (and tools decode), never does.
_KEPT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def event_key(event_id):
    """The part of the keys that names ``event_id``."""
    encoded = "".join(ch if ch in _KEPT else "".join(f"!{byte:02x}" for byte in ch.encode("utf-8", "surrogatepass"))
                      for ch in event_id)
    if len(encoded) <= _MAX_KEY_PART:
        return encoded
    return "sha256-" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()


def event_id_of(key_part):
    """The event_id an event key names (None for a hashed one: read it from the evidence)."""
    if key_part.startswith("sha256-"):
        return None
    data, index = bytearray(), 0
    while index < len(key_part):
        if key_part[index] == "!":
            data.append(int(key_part[index + 1:index + 3], 16))
            index += 3
        else:
            data += key_part[index].encode("ascii")
            index += 1
    return data.decode("utf-8", "surrogatepass")


def evidence_key(event_id):
    return f"{EVENTS_PREFIX}{event_key(event_id)}.json"


def received_prefix(source):
    return f"{RECEIVED_PREFIX}{source}/"


def received_key(source, received_at, transaction_type, event_id):
    return f"{received_prefix(source)}{received_at}/{transaction_type}/{event_key(event_id)}"


def parse_received_key(key):
    """``{source, received_at, transaction_type, event_id}`` of a ``received/`` key, or None."""
    parts = key.split("/")
    if len(parts) != 5 or f"{parts[0]}/" != RECEIVED_PREFIX:
        return None
    return {"source": parts[1], "received_at": parts[2], "transaction_type": parts[3],
            "event_id": event_id_of(parts[4]), "event_key": parts[4]}


# -- what the validator captures ---------------------------------------------------------------------


def request_evidence(proxy_event, raw, *, source, verification, events):
    """The request part of the evidence, as JSON text (carried in the hand-over and the record)."""
    context = proxy_event.get("requestContext") if isinstance(proxy_event.get("requestContext"), dict) else {}
    identity = context.get("identity") if isinstance(context.get("identity"), dict) else {}
    try:
        body, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return json.dumps({
        "source": source,
        "request": {
            "api_request_id": context.get("requestId"),
            "source_ip": identity.get("sourceIp"),
            "user_agent": identity.get("userAgent"),
            "method": proxy_event.get("httpMethod"),
            "path": proxy_event.get("path"),
            "headers": _headers(proxy_event),
            "body": body,
            "body_encoding": encoding,
            "body_sha256": hashlib.sha256(raw).hexdigest(),
        },
        "verification": verification,
        "events": events,
    }, ensure_ascii=False, separators=(",", ":"))


def _headers(proxy_event):
    # Every value as received (a REST API gives them all in multiValueHeaders), names as the sender wrote them.
    multi = proxy_event.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        return {name: list(values) for name, values in multi.items() if isinstance(values, list)}
    single = proxy_event.get("headers") if isinstance(proxy_event.get("headers"), dict) else {}
    return {name: [value] for name, value in single.items()}


def body_bytes(request):
    """The exact bytes of an archived request's body."""
    if request.get("body_encoding") == "base64":
        return base64.b64decode(request["body"])
    return request["body"].encode("utf-8")


# -- what the router writes --------------------------------------------------------------------------


def document(evidence, *, event, message_body):
    """``(the evidence object of one event, its source)``: the request's evidence (None for an event handed
    over by a release that did not capture it) and the event's message as it was queued."""
    found = json.loads(evidence) if evidence else {}
    source = found.get("source") or _source_of(event)
    data = json.dumps({
        "archive_format": FORMAT,
        "event_id": event["event_id"],
        "transaction_type": event["transaction_type"],
        "received_at": event["received_at"],
        "source": source,
        **{name: found.get(name) for name in ("request", "verification", "events")},
        "message_body": message_body,
    }, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return data, source


def _source_of(event):
    # Only for an event whose hand-over carried no evidence: a provider event names its source (one word).
    source = event.get("source") if "source_event_id" in event else None
    return source if isinstance(source, str) and source.isalnum() and source.islower() else CANONICAL_SOURCE


def write(s3, bucket, data, *, event, source):
    """Put the evidence and its time index; ``(key, version id)`` of the evidence. Both are plain puts of
    keys derived from the event: writing them again (a retry) adds a version and loses nothing."""
    key = evidence_key(event["event_id"])
    answer = s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json",
                           ContentMD5=_md5(data))
    s3.put_object(Bucket=bucket, Body=b"", ContentMD5=_md5(b""),
                  Key=received_key(source, event["received_at"], event["transaction_type"], event["event_id"]))
    return key, answer.get("VersionId")


def _md5(data):
    # Object Lock refuses a put without an integrity check; Content-MD5 works with any boto3 the runtime has.
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")  # noqa: S324 (S3's integrity header)
