"""Stripe: ``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 under the endpoint's
signing secret (the whole ``whsec_...`` text) over ``<t>.<body>``, one ``v1`` per secret while a secret
rolls (docs.stripe.com/webhooks; stripe-python's ``WebhookSignature``). Other schemes (``v0``, test
events' fake signature) are ignored, as Stripe says to, against downgrades.

The event is a JSON Event: its ``id`` (``evt_...``) is the de-duplication key, ``created`` its time, and
``data.object`` the PaymentIntent, Refund or Dispute, with the amount in the currency's minor unit as
Stripe defines it (money.STRIPE).
"""

import hashlib
import hmac

from handlers.event import iso_utc
from handlers.sources import NoMatch, Unverified, bad, delivery, ignored, integer, mapped, member, text
from handlers.sources.money import STRIPE, BadAmount, from_minor

NAME = "stripe"
SCHEME = "stripe-v1"
HEADER = "stripe-signature"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_SIGNATURES = 32  # a rolling secret sends two; more is a flood, not Stripe
ACCEPTED = ("application/json", '{"received": true}')

# What Stripe recommends listening to for each: a payment's success, a refund's creation and failure,
# a dispute's whole life. Other types are acknowledged and ignored unless an environment maps them.
DEFAULT_TYPES = {
    "payment_intent.succeeded": "payment",
    "refund.created": "refund",
    "refund.failed": "refund",
    "charge.dispute.created": "dispute",
    "charge.dispute.updated": "dispute",
    "charge.dispute.closed": "dispute",
    "charge.dispute.funds_withdrawn": "dispute",
    "charge.dispute.funds_reinstated": "dispute",
}
# The amount an event is about, by its object: what a PaymentIntent collected, not what it asked for.
AMOUNT_FIELDS = {"payment_intent": "amount_received"}
# ... and for the Charge events that carry another one.
EVENT_AMOUNT_FIELDS = {"charge.refunded": "amount_refunded", "charge.captured": "amount_captured"}


def _parts(header):
    timestamp, signatures = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and timestamp is None:
            timestamp = value
        elif name == "v1":
            signatures.append(value.encode("utf-8", "replace"))
    return timestamp, signatures


def verify(request, keys, settings, now):
    header = request.header(HEADER)
    if not header:
        raise Unverified("Stripe-Signature header is missing")
    timestamp, signatures = _parts(header)
    if timestamp is None or not timestamp.isdigit() or len(timestamp) > 12:
        raise Unverified("Stripe-Signature has no timestamp t=")
    if not signatures:
        raise Unverified("Stripe-Signature has no v1 signature")
    if len(signatures) > MAX_SIGNATURES:
        raise Unverified(f"Stripe-Signature has more than {MAX_SIGNATURES} signatures")
    signed = timestamp.encode("ascii") + b"." + request.body
    for index, key in enumerate(keys):
        expected = hmac.new(key.encode("utf-8"), signed, hashlib.sha256).hexdigest().encode("ascii")
        # Every signature is compared, so the time taken does not tell which one matched.
        if sum(hmac.compare_digest(expected, signature) for signature in signatures):
            break
    else:
        raise NoMatch("Stripe-Signature v1 matches no signing secret of this source")
    tolerance = int(settings.get("tolerance_seconds", DEFAULT_TOLERANCE_SECONDS))
    if abs(now - int(timestamp)) > tolerance:
        raise Unverified(f"Stripe-Signature timestamp is more than {tolerance} s from now")
    return index


def deliveries(request, settings):
    event = request.json()
    event_id, event_type = text(event.get("id")), text(event.get("type"))
    created, obj = integer(event.get("created")), member(event, "data", "object")
    if event_id is None or event_type is None:
        raise bad(NAME, "id and type must be non-empty strings")
    if created is None:
        raise bad(NAME, "created must be a Unix time in seconds")
    kind = mapped(DEFAULT_TYPES, settings, event_type)
    if kind is None:
        return [ignored(NAME, event_id, event_type)]
    if not isinstance(obj, dict):
        raise bad(NAME, "data.object must be an object")
    field = EVENT_AMOUNT_FIELDS.get(event_type) or AMOUNT_FIELDS.get(obj.get("object"), "amount")
    try:
        amount, minor, currency = from_minor(obj.get(field), obj.get("currency"), STRIPE)
    except BadAmount as error:
        raise bad(NAME, f"data.object.{field}: {error}") from None
    return [delivery(NAME, source_event_id=event_id, source_event_type=event_type, transaction_type=kind,
                     amount=amount, amount_minor=minor, currency=currency, timestamp=iso_utc(created),
                     payload=event)]
