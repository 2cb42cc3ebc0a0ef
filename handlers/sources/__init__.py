"""The payment providers a POST /webhook/{source} comes from, one module each: the provider's own
signature verified on the raw bytes, and each of its events mapped to the canonical event exactly.
Pure stdlib, no AWS call: a forgery costs nothing but the HMAC.

Every source module has:

- ``SCHEME``: the name of its verification scheme, for the log line (and the archive).
- ``verify(request, keys, settings, now)``: the index in ``keys`` of the key that verified the request;
  raises ``Unverified`` (a 401) when none did. ``keys`` are the source's key versions, newest first (a
  provider rolling its secret keeps the old one valid for a while).
- ``deliveries(request, settings)``: the request's events as ``Delivery`` values, one per provider event
  (an Adyen batch holds several); raises ``handlers.event.Rejected`` (a 400) for a body the provider
  never sends.
- ``ACCEPTED``: the success answer the provider expects, as ``(content type, body)``.

``settings`` is the source's part of the environment's ``webhook_sources`` (terraform): ``types``
overrides the default mapping of the provider's event types to transaction types; Stripe also takes
``tolerance_seconds``, Square ``notification_url``.

The names are tapctl's (tapctl/config.py SOURCES; tests/unit/test_sources.py checks the two agree).
"""

import importlib
from decimal import Decimal

from handlers.event import Rejected, body_text, parse_body, validate

NAMES = ("stripe", "adyen", "braintree", "razorpay", "square")
# A mapping's value that acknowledges an event type without routing it.
IGNORE = "ignore"


class Unverified(Exception):
    """Why a request is not the provider's: the 401's ``error``, saying nothing secret."""


class NoMatch(Unverified):
    """Well-formed, signed, but with none of the keys held: the keys may be newer than the cache."""


def key_text(secret):
    """A key version of a source's secret (handlers.signature.parse_secret_value): the provider's text as
    the provider gives it; Braintree's is ``<public key>:<private key>``."""
    if not isinstance(secret, str) or not secret:
        raise ValueError("each secret of a source is the provider's non-empty text")
    return secret


def module(name):
    """The source's module, imported on its first request (a container imports only what it serves)."""
    if name not in NAMES:
        raise KeyError(name)
    return importlib.import_module(f"handlers.sources.{name}")


class Request:
    """One provider request: its body's bytes as sent, its headers by lower-case name, and the URL the
    provider posted to (Square signs it)."""

    __slots__ = ("body", "headers", "url", "_parsed")

    def __init__(self, body, headers, url=""):
        self.body, self.headers, self.url, self._parsed = body, headers, url, None

    def header(self, name):
        return self.headers.get(name, "")

    def parsed(self, parse):
        """``parse(body)``, once per request: verification and mapping read the same parse."""
        if self._parsed is None:
            self._parsed = parse(self.body)
        return self._parsed

    def json(self):
        """The body as a JSON object (numbers as exact Decimals), or ``Rejected``."""
        return self.parsed(_json_object)


def _json_object(body):
    return parse_body(body_text(body))


class Delivery:
    """One provider event of a request: its de-duplication key and type, and the canonical event it
    becomes, or ``None`` when the mapping does not route its type (acknowledged, not queued)."""

    __slots__ = ("event_id", "source_event_type", "event")

    def __init__(self, event_id, source_event_type, event):
        self.event_id, self.source_event_type, self.event = event_id, source_event_type, event


def mapped(defaults, settings, event_type, qualifier=None):
    """The transaction type an event type maps to, or ``None``: the environment's ``types`` first, then
    the source's defaults; ``type:qualifier`` (e.g. Adyen's ``AUTHORISATION:true``) before ``type``."""
    overrides = settings.get("types") or {}
    keys = ([f"{event_type}:{qualifier}"] if qualifier is not None else []) + [event_type]
    for mapping in (overrides, defaults):
        for key in keys:
            if key in mapping:
                found = mapping[key]
                return None if found in (None, IGNORE) else found
    return None


def delivery(source, *, source_event_id, source_event_type, transaction_type, amount, amount_minor, currency,
             timestamp, payload):
    """A ``Delivery`` whose canonical event carries the provider's fields, checked against the request
    contract (handlers.event), so a provider event the router would refuse never gets in."""
    event = {
        "event_id": f"{source}:{source_event_id}",
        "transaction_type": transaction_type,
        "amount": amount,
        "currency": currency,
        "timestamp": timestamp,
        "source": source,
        "source_event_id": source_event_id,
        "source_event_type": source_event_type,
        "amount_minor": None if amount_minor is None else Decimal(amount_minor),
        "source_payload": payload,
    }
    validate(event)
    return Delivery(event["event_id"], source_event_type, event)


def ignored(source, source_event_id, source_event_type):
    """A ``Delivery`` of an event type the mapping does not route."""
    return Delivery(f"{source}:{source_event_id}", source_event_type, None)


def bad(source, error):
    """A 400 for a body that cannot be the provider's event."""
    return Rejected(400, f"Not a {source} event: {error}", "rejected")


def text(value):
    """A JSON string field, or ``None``."""
    return value if isinstance(value, str) and value else None


def integer(value):
    """A JSON integer (parsed as an integral Decimal), or ``None``."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


def member(container, *path):
    """``container[path[0]][path[1]]...`` through JSON objects, or ``None``."""
    for key in path:
        if not isinstance(container, dict):
            return None
        container = container.get(key)
    return container
