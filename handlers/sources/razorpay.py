"""Razorpay: ``X-Razorpay-Signature`` is the hex HMAC-SHA256 of the body under the webhook's secret (the
one set in the dashboard, not the API key's), and ``x-razorpay-event-id`` names the event: its
de-duplication key, which the body does not carry (razorpay.com/docs/webhooks; razorpay-python's
``Utility.verify_webhook_signature``). No timestamp is signed, so there is no tolerance.

The event id header is not covered by the signature. A request captured and replayed with another id
would pass as a new event; TLS is what keeps others from capturing one.
"""

import hashlib
import hmac

from handlers.event import iso_utc
from handlers.sources import NoMatch, Unverified, bad, delivery, ignored, integer, mapped, member, text
from handlers.sources.money import RAZORPAY, BadAmount, from_minor

NAME = "razorpay"
SCHEME = "razorpay-hmac-sha256"
SIGNATURE_HEADER = "x-razorpay-signature"
EVENT_ID_HEADER = "x-razorpay-event-id"
ACCEPTED = ("application/json", '{"received": true}')

DEFAULT_TYPES = {
    "payment.captured": "payment",
    "refund.processed": "refund",
    "refund.failed": "refund",
    **dict.fromkeys(
        ("payment.dispute.created", "payment.dispute.won", "payment.dispute.lost", "payment.dispute.closed",
         "payment.dispute.under_review", "payment.dispute.action_required"),
        "dispute",
    ),
}


def verify(request, keys, settings, now):
    given = request.header(SIGNATURE_HEADER)
    if not given:
        raise Unverified("X-Razorpay-Signature header is missing")
    given = given.encode("utf-8", "replace")
    for index, key in enumerate(keys):
        if hmac.compare_digest(hmac.new(key.encode("utf-8"), request.body, hashlib.sha256).hexdigest().encode(), given):
            return index
    raise NoMatch("X-Razorpay-Signature matches no webhook secret of this source")


def _entity(event_type):
    # payment.* events carry the payment, refund.* the refund, payment.dispute.* the dispute.
    return "dispute" if event_type.startswith("payment.dispute.") else event_type.partition(".")[0]


def deliveries(request, settings):
    event_id = text(request.header(EVENT_ID_HEADER))
    if event_id is None:
        raise bad(NAME, "the x-razorpay-event-id header is missing")
    event = request.json()
    event_type, created = text(event.get("event")), integer(event.get("created_at"))
    if event_type is None or created is None:
        raise bad(NAME, "event must be a string and created_at a Unix time in seconds")
    kind = mapped(DEFAULT_TYPES, settings, event_type)
    if kind is None:
        return [ignored(NAME, event_id, event_type)]
    entity = _entity(event_type)
    obj = member(event, "payload", entity, "entity")
    if not isinstance(obj, dict):
        raise bad(NAME, f"payload.{entity}.entity must be an object")
    try:
        amount, minor, currency = from_minor(obj.get("amount"), obj.get("currency"), RAZORPAY)
    except BadAmount as error:
        raise bad(NAME, f"payload.{entity}.entity: {error}") from None
    return [delivery(NAME, source_event_id=event_id, source_event_type=event_type, transaction_type=kind,
                     amount=amount, amount_minor=minor, currency=currency, timestamp=iso_utc(created),
                     payload=event)]
