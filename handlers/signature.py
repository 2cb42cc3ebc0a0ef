"""Standard Webhooks v1 (symmetric) verification: pure functions, no AWS call.

A sender signs ``{webhook-id}.{webhook-timestamp}.{body}`` (the body's bytes exactly as sent) with
HMAC-SHA256 under a secret ``whsec_<base64 of 24-64 bytes>`` and sends ``webhook-signature: v1,<base64>``,
a space-separated list during a key rotation. Verification happens on the raw bytes, before the body is
parsed, in constant time; header names are matched case-insensitively.

The checks that need no key (headers present, timestamp in the window) come first, so a request that
fails them costs no call for the secret.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re

SCHEME = "standard-webhooks-v1"  # the verdict's name of it (the log line, the archive)
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
SIGNATURE_HEADERS = (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE)
SECRET_PREFIX = "whsec_"
KEY_BYTES = (24, 64)  # the scheme's range of a secret's length
SIGNATURE_BYTES = 32  # HMAC-SHA256
MAX_ENTRIES = 32  # a rotation sends two; more is not a sender but a flood
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class Unauthenticated(Exception):
    """Why a request is not from a holder of the secret; the text is the 401's ``error`` and says nothing secret."""


class NoMatch(Unauthenticated):
    """Well-formed, fresh signatures, none made with a key held: the keys may be newer than the cache."""


def signature_headers(event):
    """The three signature headers of an API Gateway proxy (v1) event, by lower-case name.

    A REST API passes header names as the sender wrote them, the last value in ``headers`` and every
    value in ``multiValueHeaders``: signatures sent in several headers all count; an id or a timestamp
    sent twice with different values is refused."""
    multi = event.get("multiValueHeaders") if isinstance(event.get("multiValueHeaders"), dict) else {}
    single = event.get("headers") if isinstance(event.get("headers"), dict) else {}
    headers = {}
    for name in SIGNATURE_HEADERS:
        values = [value for key, listed in multi.items() if isinstance(key, str) and key.lower() == name
                  for value in (listed if isinstance(listed, list) else []) if isinstance(value, str)]
        if not values:
            values = [value for key, value in single.items()
                      if isinstance(key, str) and key.lower() == name and isinstance(value, str)]
        if name == HEADER_SIGNATURE:
            headers[name] = " ".join(values)
        elif len(set(values)) > 1:
            raise Unauthenticated(f"{name} is given more than once")
        elif values:
            headers[name] = values[0]
    return headers


def check_headers(headers, now, tolerance):
    """(id, timestamp text, signature header) when the headers are present and the timestamp is within
    ``tolerance`` seconds of ``now`` either way; otherwise ``Unauthenticated``."""
    missing = [name for name in SIGNATURE_HEADERS if not headers.get(name)]
    if missing:
        raise Unauthenticated(f"Missing signature headers: {', '.join(missing)}")
    timestamp = headers[HEADER_TIMESTAMP]
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Unauthenticated(f"{HEADER_TIMESTAMP} must be integer Unix seconds")
    age = now - int(timestamp)
    if age > tolerance:
        raise Unauthenticated(f"Signature timestamp is too old: more than {tolerance} s in the past")
    if age < -tolerance:
        raise Unauthenticated(f"Signature timestamp is too new: more than {tolerance} s in the future")
    return headers[HEADER_ID], timestamp, headers[HEADER_SIGNATURE]


def verify(keys, msg_id, timestamp, signature_header, body):
    """The index in ``keys`` of the key one ``v1`` entry of ``signature_header`` is the HMAC of the signed
    content under; otherwise ``Unauthenticated``. Other versions (``v1a``) and malformed entries are skipped."""
    signed = msg_id.encode("utf-8", "surrogatepass") + b"." + timestamp.encode() + b"." + body
    expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in keys]
    for entry in signature_header.split(" ")[:MAX_ENTRIES]:
        version, comma, encoded = entry.partition(",")
        if version != "v1" or not comma:
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(candidate) != SIGNATURE_BYTES:
            continue
        for index, mac in enumerate(expected):
            if hmac.compare_digest(mac, candidate):
                return index
    raise NoMatch("No matching signature")


def decode_secret(text):
    """The key of a ``whsec_`` secret; ``ValueError`` for anything else (the message names no secret)."""
    if not isinstance(text, str) or not text.startswith(SECRET_PREFIX):
        raise ValueError(f"a signing secret starts with {SECRET_PREFIX}")
    encoded = text[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing secret is base64 after its prefix") from None
    if not KEY_BYTES[0] <= len(key) <= KEY_BYTES[1]:
        raise ValueError(f"a signing secret holds {KEY_BYTES[0]} to {KEY_BYTES[1]} bytes, not {len(key)}")
    return key


def parse_secret_value(text, decode=decode_secret):
    """The environment's secret value -> [(key, expires_at or None)], newest first.

    The format is a contract (README): ``{"secrets": [{"secret": "whsec_...", "expires_at": null}, ...]}``,
    ``expires_at`` in epoch seconds; a secret past it no longer verifies. A source's secret holds the
    provider's secrets in the same form, each read by ``decode`` (handlers.sources.key_text)."""
    try:
        document = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError("the secret value is not JSON") from None
    secrets = document.get("secrets") if isinstance(document, dict) else None
    if not isinstance(secrets, list) or not secrets:
        raise ValueError('the secret value has no "secrets" list')
    keys = []
    for entry in secrets:
        expires_at = entry.get("expires_at") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not (expires_at is None or type(expires_at) in (int, float)):
            raise ValueError('each entry of "secrets" is {"secret": "whsec_...", "expires_at": null or epoch seconds}')
        keys.append((decode(entry.get("secret")), expires_at))
    return keys


def active(keys, now):
    """The keys of ``parse_secret_value`` that have not expired at ``now``."""
    return [key for key, expires_at in keys if expires_at is None or expires_at > now]
