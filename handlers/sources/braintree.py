"""Braintree: a form post of ``bt_signature`` and ``bt_payload`` (base64 of an XML notification).
``bt_signature`` is ``<public key>|<hex HMAC-SHA1 of the payload under SHA-1(private key)>``, several
pairs joined by ``&``; the pair of this source's public key counts, over the payload as posted or with
the newline Braintree's encoder ends it with (braintree-python's ``WebhookNotificationGateway``). A key
version is the API key pair, ``<public key>:<private key>``.

The XML is parsed only once verified, and safely: no DTD, no entity declaration, no external entity.
A notification has no id of its own: the de-duplication key is its kind, its subject's id and its
timestamp. Amounts are decimal text in major units (exact as sent; the minor amount follows from the
currency, ISO 4217).
"""

import base64
import binascii
import hashlib
import hmac
import re
from urllib.parse import parse_qs
from xml.parsers import expat

from handlers.event import MAX_DEPTH, valid_timestamp
from handlers.sources import NoMatch, Unverified, bad, delivery, ignored, mapped, text
from handlers.sources.money import ISO_4217, BadAmount, from_major

NAME = "braintree"
SCHEME = "braintree-hmac-sha1"
ACCEPTED = ("application/json", '{"received": true}')
_NOT_PAYLOAD = re.compile(rb"[^A-Za-z0-9+=/\n]")  # what the SDK refuses before it checks a signature
# The form as Braintree posts it: its two fields, each value of unreserved characters and the escapes
# of base64's "+", "/", "=", newline and "|". Such a value is decoded by replacing those escapes, exactly
# as a form decoder would: no "+" (a space) and no other escape is left (lower-case ones included), and
# no replacement is a hex digit, so none makes a new escape. Any other form goes through parse_qs.
_PLAIN_VALUE = re.compile(rb"[A-Za-z0-9._~|%-]*")
_ESCAPES = ((b"%2B", b"+"), (b"%2F", b"/"), (b"%3D", b"="), (b"%0A", b"\n"), (b"%7C", b"|"))  # as encoders write them

# A settled sale is a payment and a settled credit a refund (Braintree sends transaction webhooks for
# ACH and SEPA direct debit); a subscription's successful charge is a payment; a dispute every stage.
DEFAULT_TYPES = {
    "transaction_settled:sale": "payment",
    "transaction_settled:credit": "refund",
    "subscription_charged_successfully": "payment",
    "refund_failed": "refund",
    **dict.fromkeys(
        ("dispute_opened", "dispute_won", "dispute_lost", "dispute_accepted", "dispute_auto_accepted",
         "dispute_disputed", "dispute_expired", "dispute_under_review"),
        "dispute",
    ),
}


def _form(request):
    return request.parsed(_form_fields)


def _plain(body):
    """``(signature, payload)`` of a form as Braintree posts it, or None for parse_qs to decode."""
    fields = {}
    for part in body.split(b"&"):
        name, _, value = part.partition(b"=")
        if name not in (b"bt_signature", b"bt_payload") or name in fields or not _PLAIN_VALUE.fullmatch(value):
            return None
        for escape, character in _ESCAPES:
            value = value.replace(escape, character)
        if b"%" in value:
            return None
        fields[name] = value
    if len(fields) != 2:
        return None
    return fields[b"bt_signature"].decode("ascii"), fields[b"bt_payload"]


def _form_fields(body):
    plain = _plain(body)
    if plain is not None:
        return plain
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise Unverified("the body is not a form of bt_signature and bt_payload") from None
    signature, payload = fields.get("bt_signature", []), fields.get("bt_payload", [])
    if len(signature) != 1 or len(payload) != 1:
        raise Unverified("the form must carry bt_signature and bt_payload once each")
    try:
        return signature[0], payload[0].encode("ascii")
    except UnicodeEncodeError:  # an escape of a byte no base64 holds (%FF): not Braintree's
        raise Unverified("bt_payload is not base64") from None


def _key(version):
    public, separator, private = version.partition(":")
    return (public, hashlib.sha1(private.encode("utf-8")).digest()) if separator else (None, None)


def verify(request, keys, settings, now):
    signature, payload = _form(request)
    if not payload or _NOT_PAYLOAD.search(payload):
        raise Unverified("bt_payload is not base64")
    pairs = [pair.split("|", 1) for pair in signature.split("&") if "|" in pair]
    for index, version in enumerate(keys):
        public, key = _key(version)
        given = next((value for name, value in pairs if name == public), None)
        if given is None:
            continue
        given = given.encode("utf-8", "replace")
        if sum(hmac.compare_digest(hmac.new(key, signed, hashlib.sha1).hexdigest().encode(), given)
               for signed in (payload, payload + b"\n")):
            return index
    raise NoMatch("bt_signature matches no API key pair of this source")


# -- the notification's XML --------------------------------------------------------------------------


class _Refused(Exception):
    pass


def _refuse(*_):
    raise _Refused("DTDs and entity declarations are not accepted")


def parse_xml(data):
    """Braintree's XML as nested dicts: an element with children is a dict of them (a list where Braintree
    marks ``type="array"``), a leaf its text (``None`` where marked ``nil="true"``). Refuses DTDs and
    entities, so nothing in the payload can expand or reach outside it."""
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True  # one call per run of text, not one per line or entity
    root = {"children": [], "text": []}
    stack = [root]

    def start(name, attributes):
        if len(stack) > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
        element = {"name": name, "attributes": attributes, "children": [], "text": []}
        stack[-1]["children"].append(element)
        stack.append(element)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: stack.pop()
    parser.CharacterDataHandler = lambda data: stack[-1]["text"].append(data)
    parser.Parse(data, True)
    if len(root["children"]) != 1:
        raise _Refused("not one root element")
    element = root["children"][0]
    return element["name"], _value(element)


def _value(element):
    attributes = element["attributes"]
    if attributes.get("type") == "array":
        return [_value(child) for child in element["children"]]
    if element["children"]:
        value = {}
        for child in element["children"]:
            value.setdefault(child["name"], _value(child))
        return value
    return None if attributes.get("nil") == "true" else "".join(element["text"]).strip()


def notification(payload):
    """The decoded, parsed notification of a verified ``bt_payload``, or ``Rejected``."""
    try:
        name, value = parse_xml(base64.b64decode(payload))
    except (binascii.Error, ValueError, expat.ExpatError, _Refused) as error:
        raise bad(NAME, f"bt_payload is not a notification's XML: {error}") from None
    if name != "notification" or not isinstance(value, dict):
        raise bad(NAME, "bt_payload is not a <notification>")
    return value


def _subject(note):
    # <subject> holds one object: a transaction, a dispute, a subscription (with its transactions), ...
    subject = note.get("subject")
    if not isinstance(subject, dict) or not subject:
        return None, None
    name, obj = next(iter(subject.items()))
    return name, obj if isinstance(obj, dict) else None


def _money(name, obj):
    if name == "subscription":  # what the charge collected: the subscription's newest transaction
        transactions = obj.get("transactions")
        obj = transactions[0] if isinstance(transactions, list) and transactions and isinstance(
            transactions[0], dict) else {}
    return obj.get("amount"), obj.get("currency-iso-code")


def deliveries(request, settings):
    _, payload = _form(request)
    note = notification(payload)
    kind, timestamp = text(note.get("kind")), note.get("timestamp")
    name, obj = _subject(note)
    if kind is None or not isinstance(timestamp, str) or not valid_timestamp(timestamp):
        raise bad(NAME, "a notification needs a kind and a timestamp")
    subject_id = text(obj.get("id")) if obj else None
    event_id = f"{kind}:{subject_id or name or 'none'}:{timestamp}"
    route = mapped(DEFAULT_TYPES, settings, kind, text(obj.get("type")) if name == "transaction" else None)
    if route is None:
        return [ignored(NAME, event_id, kind)]
    if obj is None:
        raise bad(NAME, f"a {kind} notification needs a subject")
    try:
        amount, minor, currency = from_major(*_money(name, obj), ISO_4217)
    except BadAmount as error:
        raise bad(NAME, f"{name}: {error}") from None
    return [delivery(NAME, source_event_id=event_id, source_event_type=kind, transaction_type=route, amount=amount,
                     amount_minor=minor, currency=currency, timestamp=timestamp, payload=note)]
