"""Square: ``x-square-hmacsha256-signature`` is the base64 HMAC-SHA256, under the subscription's signature
key, of the notification URL registered in Square's dashboard followed by the body, byte for byte
(developer.squareup.com/docs/webhooks/step3validate; squareup's ``webhooks_helper.verify_signature``).
The URL is the source's ``notification_url`` setting, by default the environment's own URL for it: a
proxy in front must not change what Square signed.

The event's ``event_id`` is the de-duplication key Square documents, ``created_at`` its time, and
``data.object.<data.type>`` the Payment, Refund or Dispute with ``amount_money`` in the currency's
smallest unit (ISO 4217).
"""

import base64
import hashlib
import hmac

from handlers.event import valid_timestamp
from handlers.sources import NoMatch, Unverified, bad, delivery, ignored, mapped, member, text
from handlers.sources.money import ISO_4217, BadAmount, from_minor

NAME = "square"
SCHEME = "square-hmac-sha256"
HEADER = "x-square-hmacsha256-signature"
ACCEPTED = ("application/json", '{"received": true}')

# A payment.updated comes at each change of a payment: it is a payment once COMPLETED; a refund once its
# refund.updated says COMPLETED or FAILED; a dispute at its creation and each change of state.
DEFAULT_TYPES = {
    "payment.updated:COMPLETED": "payment",
    "refund.updated:COMPLETED": "refund",
    "refund.updated:FAILED": "refund",
    "dispute.created": "dispute",
    "dispute.state.updated": "dispute",
    "dispute.state.changed": "dispute",
}


def verify(request, keys, settings, now):
    given = request.header(HEADER)
    if not given:
        raise Unverified("x-square-hmacsha256-signature header is missing")
    url = settings.get("notification_url") or request.url
    signed, given = url.encode("utf-8") + request.body, given.encode("utf-8", "replace")
    for index, key in enumerate(keys):
        if hmac.compare_digest(base64.b64encode(hmac.new(key.encode("utf-8"), signed, hashlib.sha256).digest()), given):
            return index
    raise NoMatch("x-square-hmacsha256-signature matches no signature key of this source for its notification URL")


def _object(event):
    # Square's documented events hold data.object.<data.type>; its SDK's dispute models name it "object".
    kind, holder = text(member(event, "data", "type")), member(event, "data", "object")
    if kind is None or not isinstance(holder, dict):
        return None
    found = holder.get(kind, holder.get("object"))
    return found if isinstance(found, dict) else None


def deliveries(request, settings):
    event = request.json()
    event_id, event_type, created = text(event.get("event_id")), text(event.get("type")), event.get("created_at")
    if event_id is None or event_type is None:
        raise bad(NAME, "event_id and type must be non-empty strings")
    obj = _object(event)
    status = text(obj.get("status")) if obj else None
    kind = mapped(DEFAULT_TYPES, settings, event_type, status)
    if kind is None:
        return [ignored(NAME, event_id, event_type)]
    if obj is None:
        raise bad(NAME, "data.object must hold the object data.type names")
    if not isinstance(created, str) or not valid_timestamp(created):
        raise bad(NAME, "created_at must be an RFC 3339 date-time")
    try:
        amount, minor, currency = from_minor(member(obj, "amount_money", "amount"),
                                             member(obj, "amount_money", "currency"), ISO_4217)
    except BadAmount as error:
        raise bad(NAME, f"amount_money: {error}") from None
    return [delivery(NAME, source_event_id=event_id, source_event_type=event_type, transaction_type=kind,
                     amount=amount, amount_minor=minor, currency=currency, timestamp=created, payload=event)]
