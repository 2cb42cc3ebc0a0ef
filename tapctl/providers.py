"""Requests as each payment provider sends them: its body and headers, signed with its scheme
(handlers/sources/ verifies them). For tapctl sign --source, tapctl local send --source and the smoke
test; the providers' SDKs are the tests' yardstick (tests/unit/test_providers.py).

``sample(source, transaction_type, amount_minor, currency)`` is one event of that provider that its
source maps to ``transaction_type`` by default; ``signed(source, document, secret, ...)`` the request
that carries it.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from tapctl.config import SOURCES

FORM = "application/x-www-form-urlencoded"

# The event type of each transaction type that each source routes by default (handlers/sources/*.py).
SAMPLE_TYPES = {
    "stripe": {"payment": "payment_intent.succeeded", "refund": "refund.created", "dispute": "charge.dispute.created"},
    "adyen": {"payment": "AUTHORISATION", "refund": "REFUND", "dispute": "CHARGEBACK"},
    "braintree": {"payment": "transaction_settled", "refund": "transaction_settled", "dispute": "dispute_opened"},
    "razorpay": {"payment": "payment.captured", "refund": "refund.processed", "dispute": "payment.dispute.created"},
    "square": {"payment": "payment.updated", "refund": "refund.updated", "dispute": "dispute.created"},
}
assert tuple(SAMPLE_TYPES) == SOURCES


def _token(prefix=""):
    return prefix + uuid.uuid4().hex[:24]


def sample(source, transaction_type, amount_minor=1000, currency="USD", now=None, marker=""):
    """A document of ``source`` whose one event is a ``transaction_type`` of ``amount_minor`` in ``currency``;
    ``(document, provider event id)``. Braintree's document is the notification's XML text. ``marker``
    starts the provider's own id of the event (the smoke test's ``tapctl-smoke-``), so that it is in the
    canonical event's ``source_event_id``."""
    now = int(time.time() if now is None else now)
    kind = SAMPLE_TYPES[source][transaction_type]
    return _SAMPLES[source](kind, transaction_type, amount_minor, currency, now, marker)


def _stripe(kind, transaction_type, minor, currency, now, marker):
    event_id = marker + _token("evt_")
    obj = {"payment": {"id": _token("pi_"), "object": "payment_intent", "amount": minor, "amount_received": minor},
           "refund": {"id": _token("re_"), "object": "refund", "amount": minor, "status": "succeeded"},
           "dispute": {"id": _token("dp_"), "object": "dispute", "amount": minor, "status": "needs_response"},
           }[transaction_type]
    obj.update(currency=currency.lower(), created=now, livemode=False)
    return {"id": event_id, "object": "event", "api_version": "2026-10-28", "created": now, "livemode": False,
            "pending_webhooks": 1, "type": kind, "data": {"object": obj}}, event_id


def _adyen(kind, transaction_type, minor, currency, now, marker):
    psp = marker + str(uuid.uuid4().int)[:16]
    item = {"additionalData": {}, "amount": {"currency": currency, "value": minor}, "eventCode": kind,
            "eventDate": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now)),
            "merchantAccountCode": "TapctlMerchant", "merchantReference": _token("order-"),
            "pspReference": psp, "success": "true"}
    if transaction_type != "payment":
        item["originalReference"] = str(uuid.uuid4().int)[:16]
    return {"live": "false", "notificationItems": [{"NotificationRequestItem": item}]}, f"{kind}:{psp}:true"


def _braintree(kind, transaction_type, minor, currency, now, marker):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    subject_id, amount = marker + _token(), _major(minor, currency)
    if transaction_type == "dispute":
        subject = (f"<dispute><id>{subject_id}</id><amount>{amount}</amount><currency-iso-code>{currency}"
                   f"</currency-iso-code><kind>chargeback</kind><status>open</status></dispute>")
    else:
        sale = "credit" if transaction_type == "refund" else "sale"
        subject = (f"<transaction><id>{subject_id}</id><status>settled</status><type>{sale}</type>"
                   f"<currency-iso-code>{currency}</currency-iso-code><amount>{amount}</amount></transaction>")
    xml = (f'<notification><timestamp type="datetime">{stamp}</timestamp><kind>{escape(kind)}</kind>'
           f"<subject>{subject}</subject></notification>")
    return xml, f"{kind}:{subject_id}:{stamp}"


def _razorpay(kind, transaction_type, minor, currency, now, marker):
    entity = {"payment": "payment", "refund": "refund", "dispute": "dispute"}[transaction_type]
    obj = {"id": _token({"payment": "pay_", "refund": "rfnd_", "dispute": "disp_"}[entity]), "entity": entity,
           "amount": minor, "currency": currency, "status": "captured" if entity == "payment" else "processed",
           "created_at": now}
    event_id = marker + _token("Ev_")
    return {"entity": "event", "account_id": "acc_Tapctl", "event": kind, "contains": [entity],
            "payload": {entity: {"entity": obj}}, "created_at": now}, event_id


def _square(kind, transaction_type, minor, currency, now, marker):
    name = {"payment": "payment", "refund": "refund", "dispute": "dispute"}[transaction_type]
    obj = {"id": _token(), "amount_money": {"amount": minor, "currency": currency}}
    obj.update({"state": "EVIDENCE_REQUIRED"} if name == "dispute" else {"status": "COMPLETED"})
    event_id = marker + str(uuid.uuid4())
    return {"merchant_id": "TAPCTL", "type": kind, "event_id": event_id,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "data": {"type": name, "id": obj["id"], "object": {name: obj}}}, event_id


_SAMPLES = {"stripe": _stripe, "adyen": _adyen, "braintree": _braintree, "razorpay": _razorpay, "square": _square}

# Decimals of the sample currencies, as ISO 4217 has them (Braintree writes amounts in major units).
_DECIMALS = {"JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3}


def _major(minor, currency):
    decimals = _DECIMALS.get(currency, 2)
    if not decimals:
        return str(minor)
    text = str(minor).rjust(decimals + 1, "0")
    return f"{text[:-decimals]}.{text[-decimals:]}"


# -- signing -----------------------------------------------------------------------------------------


def signed(source, document, secret, *, url="", now=None, event_id=None):
    """``(headers, body bytes)`` of the request ``source``'s provider would send for ``document``, signed
    with ``secret`` (Braintree's: ``<public key>:<private key>``; Square's URL is the one it signs;
    Razorpay names the event in a header: ``event_id``). ``document`` may be the body's bytes as a team
    wrote them (tapctl sign --source): Stripe, Razorpay and Square sign those bytes as they are; Adyen signs
    fields inside each notification item, so its body is written anew; Braintree's bytes are the
    notification's XML, which it posts as a signed form."""
    now = int(time.time() if now is None else now)
    if source == "adyen":
        document = _adyen_document(document)
        key = bytes.fromhex(secret)
        for wrapper in document["notificationItems"]:
            item = wrapper["NotificationRequestItem"]
            item.setdefault("additionalData", {})["hmacSignature"] = base64.b64encode(
                hmac.new(key, adyen_signing_string(item).encode(), hashlib.sha256).digest()).decode()
        return {"Content-Type": "application/json"}, json.dumps(document).encode()
    if source == "braintree":
        public, _, private = secret.partition(":")
        payload = base64.encodebytes(document.encode() if isinstance(document, str) else document)
        mac = hmac.new(hashlib.sha1(private.encode()).digest(), payload, hashlib.sha1).hexdigest()
        body = urlencode({"bt_signature": f"{public}|{mac}", "bt_payload": payload.decode()}).encode()
        return {"Content-Type": FORM}, body
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    if source == "stripe":
        mac = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "Stripe-Signature": f"t={now},v1={mac}"}, body
    if source == "razorpay":
        mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "X-Razorpay-Signature": mac,
                "X-Razorpay-Event-Id": event_id or _token("Ev_")}, body
    if source == "square":
        mac = base64.b64encode(hmac.new(secret.encode(), url.encode() + body, hashlib.sha256).digest()).decode()
        return {"Content-Type": "application/json", "X-Square-HmacSha256-Signature": mac}, body
    raise KeyError(source)


def _adyen_document(document):
    """An Adyen notification as a dict, from the dict or its JSON bytes; ``ValueError`` saying what is missing."""
    if isinstance(document, bytes):
        try:
            document = json.loads(document)
        except ValueError as error:
            raise ValueError(f"an Adyen notification is JSON: {error}") from None
    items = document.get("notificationItems") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items or not all(
            isinstance(wrapper, dict) and isinstance(wrapper.get("NotificationRequestItem"), dict) for wrapper in items):
        raise ValueError("an Adyen notification has notificationItems, each a {\"NotificationRequestItem\": {...}}")
    return document


def forged(source, secret):
    """A secret of ``source``'s form that is not ``secret``: what a forger signs with (Braintree's names the
    right public key with a wrong private key)."""
    token = uuid.uuid4().hex
    return {"stripe": f"whsec_{token}", "adyen": token * 2,
            "braintree": f"{secret.partition(':')[0]}:{token}"}.get(source, token)


def adyen_signing_string(item):
    """What Adyen signs of one notification item (handlers/sources/adyen.py verifies the same)."""
    amount = item.get("amount") or {}
    fields = [item.get("pspReference"), item.get("originalReference"), item.get("merchantAccountCode"),
              item.get("merchantReference"), amount.get("value"), amount.get("currency"), item.get("eventCode"),
              item.get("success")]
    return ":".join("" if value is None else str(value) for value in fields)


# -- the secrets providers give ----------------------------------------------------------------------

SECRET_FORMS = {
    "stripe": "the endpoint's signing secret, whsec_...",
    "adyen": "the webhook's HMAC key, in hex",
    "braintree": "the API key pair, <public key>:<private key>",
    "razorpay": "the webhook's secret",
    "square": "the subscription's signature key",
}


def check_secret(source, text):
    """The provider's secret as given, or ``ValueError`` saying what that provider's looks like."""
    valid = bool(text) and text == text.strip()
    if source != "razorpay":  # the others are generated tokens; Razorpay's is text the team chose
        valid = valid and not any(character.isspace() for character in text)
    if source == "stripe":
        valid = valid and text.startswith("whsec_")
    elif source == "adyen":
        try:
            valid = valid and len(bytes.fromhex(text)) >= 16
        except ValueError:
            valid = False
    elif source == "braintree":
        public, _, private = text.partition(":")
        valid = valid and bool(public) and bool(private)
    if not valid:
        raise ValueError(f"that is not a {source} secret: give {SECRET_FORMS[source]}")
    return text


def post(url, headers, body, timeout=15.0):
    """POST ``body`` (bytes) with ``headers``: (status, answer text, latency in ms)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, raw.decode("utf-8", "replace"), (time.perf_counter() - started) * 1000


# -- what a team configures at each provider -------------------------------------------------------------


def project_module(project_dir, name):
    """A pure-stdlib module of the project's handlers (``handlers.event``, ``handlers.sources.<source>``),
    for what the CLI must compute exactly as the deployed functions do; the importable one without a
    project directory."""
    import importlib
    import sys

    root = str(project_dir) if project_dir is not None else None
    if root is not None and root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(name)


def source_module(project_dir, source):
    """The project's handlers/sources/<source>.py: its default mapping is what to subscribe to."""
    return project_module(project_dir, f"handlers.sources.{source}")


def subscribed_types(project_dir, source, overrides=None):
    """The provider's event types this environment routes (the source's defaults, then ``overrides``),
    without the qualifier some mappings add (Adyen's success, Square's status): what to subscribe to."""
    mapping = {**source_module(project_dir, source).DEFAULT_TYPES, **(overrides or {})}
    routed = {key.partition(":")[0] for key, kind in mapping.items() if kind not in (None, "ignore")}
    return sorted(routed)


def listing(target, outputs, settings):
    """Each enabled source: its URL for the provider's dashboard, the event types to subscribe to, and
    whether its secret is set."""
    from tapctl import signing
    from tapctl.signing_secret import SigningSecret

    declared = settings.sources or {}
    found = []
    for name in sorted(outputs.get("webhook_sources") or {}):
        entries = SigningSecret.of_source(target, outputs, settings.env, name).entries()
        live = signing.live(entries or [], time.time())
        found.append({
            "source": name,
            "url": outputs["webhook_sources"][name]["url"],
            "subscribe": subscribed_types(settings.project_dir, name, (declared.get(name) or {}).get("types")),
            "secret": "set" if live else "not set",
            "secret_versions": len(live),
        })
    return found


def send(target, outputs, env, source, count):
    """Post ``count`` sample events of each transaction type as ``source``'s provider would, signed with
    its current secret; one {event_id, transaction_type, status, answer, latency_ms} per event."""
    from tapctl.signing_secret import SigningSecret

    secret = SigningSecret.of_source(target, outputs, env, source).current()
    route = outputs["webhook_sources"][source]
    url, signed_url = route["url"], route.get("notification_url") or route["url"]  # Square signs its registered URL
    sent = []
    for transaction_type in ("payment", "refund", "dispute"):
        for number in range(count):
            document, event_id = sample(source, transaction_type, 1050 * (number + 1))
            headers, body = signed(source, document, secret, url=signed_url, event_id=event_id)
            status, answer, latency = post(url, headers, body)
            sent.append({"event_id": f"{source}:{event_id}", "transaction_type": transaction_type, "status": status,
                         "answer": answer, "latency_ms": round(latency, 1)})
    return sent
