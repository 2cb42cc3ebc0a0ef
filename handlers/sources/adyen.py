"""Adyen standard webhooks: a JSON ``NotificationRequest`` of one or more ``NotificationRequestItem``, each
signed on its own. ``additionalData.hmacSignature`` is the base64 HMAC-SHA256, under the hex-encoded HMAC
key of the webhook, of ``pspReference:originalReference:merchantAccountCode:merchantReference:value:
currency:eventCode:success`` built from the fields as received, a missing one empty (docs.adyen.com
"Verify HMAC signatures"; Adyen's ``util.generate_notification_sig``).

Every item of a request must verify, or the whole request is refused (Adyen's own SDK checks only the
first: one forged item must not ride on a genuine one). The signature covers only those fields, so the
body is parsed before it is verified; nothing is stored until every item has.

The de-duplication key is ``eventCode:pspReference:success``. Adyen names an event by its ``eventCode``
and ``pspReference``, and ``success`` counts too: Adyen can send an AUTHORISATION that failed and then,
for the same pspReference, one that succeeded (its own plugins keep both); a retry repeats all three.
Amounts are in minor units as Adyen defines them (money.ADYEN).
"""

import base64
import binascii
import hashlib
import hmac

from handlers.event import valid_timestamp
from handlers.sources import NoMatch, Unverified, bad, delivery, ignored, mapped, member, text
from handlers.sources.money import ADYEN, BadAmount, from_minor

NAME = "adyen"
SCHEME = "adyen-hmac-sha256"
SIGNED_FIELDS = ("pspReference", "originalReference", "merchantAccountCode", "merchantReference")
ACCEPTED = ("text/plain", "[accepted]")  # any 2xx does today; older integrations expect this body

# A payment is its successful authorisation (with automatic capture, the only payment event; with manual
# capture, map "CAPTURE:true" too); a refund its request's outcome or its failure; a dispute every stage.
DEFAULT_TYPES = {
    "AUTHORISATION:true": "payment",
    "REFUND:true": "refund",
    "REFUND_FAILED": "refund",
    "REFUNDED_REVERSED": "refund",
    "CANCEL_OR_REFUND:true": "refund",
    **dict.fromkeys(
        ("REQUEST_FOR_INFORMATION", "NOTIFICATION_OF_CHARGEBACK", "CHARGEBACK", "CHARGEBACK_REVERSED",
         "SECOND_CHARGEBACK", "PREARBITRATION_WON", "PREARBITRATION_LOST", "DISPUTE_DEFENSE_PERIOD_ENDED",
         "INFORMATION_SUPPLIED"),
        "dispute",
    ),
}


def _items(request):
    body = request.json()
    items = body.get("notificationItems")
    if not isinstance(items, list) or not items:
        raise bad(NAME, "notificationItems must be a non-empty list")
    found = [member(wrapper, "NotificationRequestItem") for wrapper in items]
    if not all(isinstance(item, dict) for item in found):
        raise bad(NAME, "every notificationItems entry must hold a NotificationRequestItem object")
    return found


def _field(value):
    # As received: strings as they are, numbers as written; null and missing are empty, as Adyen signs them.
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def signing_string(item):
    """What Adyen signs for one notification item."""
    amount = item.get("amount") if isinstance(item.get("amount"), dict) else {}
    fields = [item.get(name) for name in SIGNED_FIELDS]
    fields += [amount.get("value"), amount.get("currency"), item.get("eventCode"), item.get("success")]
    return ":".join(_field(value) for value in fields)


def _keys(keys):
    decoded = []
    for key in keys:
        try:
            decoded.append(binascii.unhexlify(key))
        except (binascii.Error, ValueError):
            decoded.append(None)  # not a key Adyen gives (tapctl refuses to store one): matches nothing
    return decoded


def verify(request, keys, settings, now):
    items = _items(request)
    decoded, used = _keys(keys), 0
    for position, item in enumerate(items, start=1):
        given = text(member(item, "additionalData", "hmacSignature"))
        if given is None:
            raise Unverified(f"notification item {position} has no additionalData.hmacSignature")
        signed = signing_string(item).encode("utf-8")
        for index, key in enumerate(decoded):
            if key is not None and hmac.compare_digest(
                    base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()), given.encode("utf-8", "replace")):
                used = max(used, index)
                break
        else:
            raise NoMatch(f"notification item {position}: hmacSignature matches no HMAC key of this source")
    return used


def deliveries(request, settings):
    return [_delivery(item, settings) for item in _items(request)]


def _delivery(item, settings):
    code, psp, success = text(item.get("eventCode")), text(item.get("pspReference")), item.get("success")
    if code is None or psp is None or success not in ("true", "false"):
        raise bad(NAME, "eventCode and pspReference must be strings, success \"true\" or \"false\"")
    event_id = f"{code}:{psp}:{success}"
    kind = mapped(DEFAULT_TYPES, settings, code, success)
    if kind is None:
        return ignored(NAME, event_id, code)
    event_date = item.get("eventDate")
    if not isinstance(event_date, str) or not valid_timestamp(event_date):
        raise bad(NAME, "eventDate must be an ISO 8601 date-time with a UTC offset")
    try:
        amount, minor, currency = from_minor(member(item, "amount", "value"), member(item, "amount", "currency"), ADYEN)
    except BadAmount as error:
        raise bad(NAME, f"amount: {error}") from None
    return delivery(NAME, source_event_id=event_id, source_event_type=code, transaction_type=kind, amount=amount,
                    amount_minor=minor, currency=currency, timestamp=event_date, payload=item)
