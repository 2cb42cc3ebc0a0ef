"""The payment-provider sources (handlers/sources/): each provider's official SDK is the yardstick. What it
signs, ours verifies, and what ours verifies, it does; forged, stale and tampered requests are refused;
each mapped event type becomes the canonical event with the exact amount, as that provider defines the
currency's decimals. Fixtures (tests/fixtures/sources/) are the providers' documented example events.
The SDKs are test extras: never in a Lambda zip (tests/functional/test_package.py)."""

import ast
import base64
import copy
import hashlib
import hmac
import json
import sys
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from handlers import sources
from handlers.event import Rejected
from handlers.sources import Request, Unverified, adyen, braintree, money, razorpay, square, stripe
from tapctl import config
from tests.support import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "sources"
NOW = 1767225600


def fixtures(source):
    return json.loads((FIXTURES / f"{source}.json").read_text())


def events_of(module, request, settings=None):
    return [(d.event_id, d.source_event_type, d.event) for d in module.deliveries(request, settings or {})]


def test_sources_import_nothing_beyond_the_standard_library_and_handlers():
    for path in sorted((ROOT / "handlers" / "sources").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.partition(".")[0]
                assert top == "handlers" or top in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_the_sources_are_tapctls():
    assert sources.NAMES == config.SOURCES
    for name in sources.NAMES:
        assert sources.module(name).NAME == name
    with pytest.raises(KeyError):
        sources.module("os")


# -- Stripe ------------------------------------------------------------------------------------------

stripe_sdk = pytest.importorskip("stripe")
STRIPE_SECRET = "whsec_test_0123456789abcdef"


def stripe_request(event, secret=STRIPE_SECRET, timestamp=NOW, header=None):
    body = json.dumps(event, indent=2)
    header = header or stripe_sdk.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return Request(body.encode(), {"stripe-signature": header})


@pytest.mark.parametrize("name", list(fixtures("stripe")))
def test_stripe_verifies_what_the_sdk_signs_and_the_sdk_agrees(name):
    request = stripe_request(fixtures("stripe")[name], timestamp=int(time.time()))
    assert stripe.verify(request, ["whsec_other", STRIPE_SECRET], {}, time.time()) == 1
    stripe_sdk.Webhook.construct_event(request.body, request.headers["stripe-signature"], STRIPE_SECRET)


def test_stripe_refuses_forged_stale_and_downgraded_requests():
    event = fixtures("stripe")["payment_intent.succeeded"]
    genuine = stripe_request(event)
    assert stripe.verify(genuine, [STRIPE_SECRET], {}, NOW + 300) == 0
    tampered = Request(genuine.body.replace(b"2000", b"2001", 1), genuine.headers)
    v0_only = {"stripe-signature": genuine.headers["stripe-signature"].replace("v1=", "v0=")}
    cases = {
        "tampered": (tampered, NOW, "matches no signing secret"),
        "another secret": (genuine, NOW, "matches no signing secret"),
        "v0 only": (Request(genuine.body, v0_only), NOW, "no v1 signature"),
        "no header": (Request(genuine.body, {}), NOW, "missing"),
        "no timestamp": (Request(genuine.body, {"stripe-signature": "v1=00"}), NOW, "no timestamp"),
        "stale": (genuine, NOW + 301, "more than 300 s"),
        "from the future": (genuine, NOW - 301, "more than 300 s"),
    }
    for case, (request, now, error) in cases.items():
        keys = ["whsec_another"] if case == "another secret" else [STRIPE_SECRET]
        with pytest.raises(Unverified, match=error):
            stripe.verify(request, keys, {}, now)
    assert stripe.verify(genuine, [STRIPE_SECRET], {"tolerance_seconds": 3600}, NOW + 3000) == 0


def test_stripe_rolling_secret_sends_one_signature_per_secret():
    event = fixtures("stripe")["refund.created"]
    body = json.dumps(event)
    old = hmac.new(b"whsec_old", f"{NOW}.{body}".encode(), hashlib.sha256).hexdigest()
    new = stripe_sdk.WebhookSignature.generate_signature_header(body, STRIPE_SECRET, timestamp=NOW).split("v1=")[1]
    request = Request(body.encode(), {"stripe-signature": f"t={NOW},v1={old},v1={new},v0=deadbeef"})
    assert stripe.verify(request, [STRIPE_SECRET], {}, NOW) == 0
    assert stripe.verify(request, ["whsec_unknown", "whsec_old"], {}, NOW) == 1


def test_stripe_events_become_canonical_events_exactly():
    examples = fixtures("stripe")
    [(event_id, kind, event)] = events_of(stripe, stripe_request(examples["payment_intent.succeeded"]))
    assert (event_id, kind) == ("stripe:evt_3PgafyB7WZ01zgkW1a0pi001", "payment_intent.succeeded")
    assert {key: event[key] for key in ("transaction_type", "amount", "amount_minor", "currency", "timestamp")} == {
        "transaction_type": "payment", "amount": Decimal("20.00"), "amount_minor": 2000, "currency": "USD",
        "timestamp": "2025-12-31T23:59:52.000Z"}
    assert event["source_payload"]["data"]["object"]["latest_charge"] == "ch_3PgafyB7WZ01zgkW1XYmPNZs"
    assert (event["source"], event["source_event_id"]) == ("stripe", "evt_3PgafyB7WZ01zgkW1a0pi001")
    assert [e["transaction_type"] for _, _, e in events_of(stripe, stripe_request(examples["refund.created"]))] == [
        "refund"]
    for name in ("charge.dispute.created", "charge.dispute.closed"):
        [(_, _, event)] = events_of(stripe, stripe_request(examples[name]))
        assert (event["transaction_type"], event["amount"]) == ("dispute", Decimal("20.00"))
    # Not mapped by default: acknowledged, not routed, unless the environment maps it.
    [(_, kind, event)] = events_of(stripe, stripe_request(examples["charge.succeeded"]))
    assert (kind, event) == ("charge.succeeded", None)
    [(_, _, event)] = events_of(stripe, stripe_request(examples["charge.refunded"]), {"types": {"charge.refunded": "refund"}})
    assert (event["transaction_type"], event["amount"]) == ("refund", Decimal("5.00"))  # amount_refunded
    [(_, _, event)] = events_of(stripe, stripe_request(examples["payment_intent.succeeded"]),
                                {"types": {"payment_intent.succeeded": "ignore"}})
    assert event is None


@pytest.mark.parametrize("currency, minor, amount", [
    ("usd", 2000, "20.00"), ("eur", 1999, "19.99"), ("inr", 50000, "500.00"), ("jpy", 1000, "1000"),
    ("kwd", 12340, "12.340"), ("isk", 50000, "500.00"), ("ugx", 50000, "500.00"), ("mga", 5000, "5000"),
])
def test_stripe_amounts_follow_stripes_currency_decimals(currency, minor, amount):
    event = copy.deepcopy(fixtures("stripe")["payment_intent.succeeded"])
    event["data"]["object"].update(currency=currency, amount_received=minor)
    [(_, _, canonical)] = events_of(stripe, stripe_request(event))
    assert (str(canonical["amount"]), canonical["amount_minor"], canonical["currency"]) == (
        amount, minor, currency.upper())


def test_stripe_bodies_stripe_never_sends_are_400():
    event = fixtures("stripe")["payment_intent.succeeded"]
    for change, error in [({"id": ""}, "id and type"), ({"created": "yesterday"}, "created"),
                          ({"data": {"object": {**event["data"]["object"], "amount_received": 20.5}}}, "integer"),
                          ({"data": {"object": {**event["data"]["object"], "currency": "dollars"}}}, "ISO 4217")]:
        with pytest.raises(Rejected, match=error) as refused:
            stripe.deliveries(stripe_request({**event, **change}), {})
        assert refused.value.status == 400


# -- Adyen -------------------------------------------------------------------------------------------

adyen_util = pytest.importorskip("Adyen.util")
ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"  # the SDK's own test key


def adyen_request(body):
    return Request(json.dumps(body).encode(), {"content-type": "application/json"})


def adyen_item(**fields):
    item = copy.deepcopy(fixtures("adyen")["AUTHORISATION"]["notificationItems"][0]["NotificationRequestItem"])
    item.update(fields)
    item["additionalData"]["hmacSignature"] = adyen_util.generate_notification_sig(item, ADYEN_KEY).decode()
    return item


def adyen_body(*items):
    return {"live": "false", "notificationItems": [{"NotificationRequestItem": item} for item in items]}


@pytest.mark.parametrize("name", list(fixtures("adyen")))
def test_adyen_verifies_every_item_the_sdk_signs(name):
    body = fixtures("adyen")[name]
    for wrapper in body["notificationItems"]:
        assert adyen_util.is_valid_hmac_notification(wrapper["NotificationRequestItem"], ADYEN_KEY)
    assert adyen.verify(adyen_request(body), ["00" * 32, ADYEN_KEY], {}, NOW) == 1


def test_adyen_signs_fields_as_received_with_colons_and_backslashes():
    item = adyen_item(merchantReference="order:1\\2")
    assert "originalReference" not in item and adyen.signing_string(item).split(":")[1] == ""  # missing: empty
    assert adyen.verify(adyen_request(adyen_body(item)), [ADYEN_KEY], {}, NOW) == 0


def test_adyen_refuses_a_batch_with_one_forged_item():
    genuine, forged = adyen_item(), adyen_item(pspReference="8535296650153317")
    forged["amount"] = {"currency": "EUR", "value": 100000}  # changed after signing
    assert adyen_util.is_valid_hmac_notification(adyen_body(genuine, forged), ADYEN_KEY)  # the SDK checks item 1 only
    with pytest.raises(Unverified, match="item 2"):
        adyen.verify(adyen_request(adyen_body(genuine, forged)), [ADYEN_KEY], {}, NOW)
    unsigned = adyen_item()
    del unsigned["additionalData"]["hmacSignature"]
    with pytest.raises(Unverified, match="no additionalData.hmacSignature"):
        adyen.verify(adyen_request(adyen_body(unsigned)), [ADYEN_KEY], {}, NOW)
    with pytest.raises(Unverified, match="matches no HMAC key"):
        adyen.verify(adyen_request(adyen_body(genuine)), ["not hex", "11" * 32], {}, NOW)


def test_adyen_items_become_canonical_events():
    examples = fixtures("adyen")
    [(event_id, kind, event)] = events_of(adyen, adyen_request(examples["AUTHORISATION"]))
    assert (event_id, kind) == ("adyen:AUTHORISATION:QFQTPCQ8HXSKGK82:true", "AUTHORISATION")
    assert {key: event[key] for key in ("transaction_type", "amount", "amount_minor", "currency", "timestamp")} == {
        "transaction_type": "payment", "amount": Decimal("10.00"), "amount_minor": 1000, "currency": "EUR",
        "timestamp": "2021-01-01T01:00:00+01:00"}
    assert event["source_payload"]["merchantAccountCode"] == "YOUR_MERCHANT_ACCOUNT"
    routed = {name: [e and e["transaction_type"] for _, _, e in events_of(adyen, adyen_request(examples[name]))]
              for name in examples}
    assert routed["AUTHORISATION_refused"] == [None]  # a refused payment moved no money
    assert routed["CAPTURE"] == [None]  # automatic capture: the authorisation is the payment (map CAPTURE:true)
    assert routed["REFUND_FAILED"] == ["refund"] and routed["CANCEL_OR_REFUND"] == ["refund"]
    for name in ("CHARGEBACK", "NOTIFICATION_OF_CHARGEBACK", "CHARGEBACK_REVERSED", "SECOND_CHARGEBACK",
                 "PREARBITRATION_WON", "PREARBITRATION_LOST", "REQUEST_FOR_INFORMATION"):
        assert routed[name] == ["dispute"], name
    assert len(routed["BATCH_2_ITEMS"]) == 2
    [(_, _, captured)] = events_of(adyen, adyen_request(examples["CAPTURE"]), {"types": {"CAPTURE:true": "payment"}})
    assert captured["transaction_type"] == "payment"


def test_a_failed_and_a_successful_authorisation_are_two_events():
    failed, succeeded = adyen_item(success="false"), adyen_item(success="true")
    ids = [d.event_id for d in adyen.deliveries(adyen_request(adyen_body(failed, succeeded)), {})]
    assert ids == ["adyen:AUTHORISATION:QFQTPCQ8HXSKGK82:false", "adyen:AUTHORISATION:QFQTPCQ8HXSKGK82:true"]


@pytest.mark.parametrize("currency, minor, amount", [
    ("USD", 2000, "20.00"), ("JPY", 1000, "1000"), ("KWD", 12345, "12.345"), ("IDR", 15000, "15000"),
    ("CLP", 15000, "150.00"), ("ISK", 15000, "150.00"), ("CVE", 100, "100"), ("INR", 50000, "500.00"),
])
def test_adyen_amounts_follow_adyens_currency_decimals(currency, minor, amount):
    body = adyen_body(adyen_item(amount={"currency": currency, "value": minor}))
    [(_, _, event)] = events_of(adyen, adyen_request(body))
    assert (str(event["amount"]), event["amount_minor"], event["currency"]) == (amount, minor, currency)


def test_adyen_bodies_adyen_never_sends_are_400():
    for body, error in [({"live": "false"}, "notificationItems"), (adyen_body(adyen_item(success=True)), "success"),
                        (adyen_body(adyen_item(eventDate="yesterday")), "eventDate")]:
        with pytest.raises(Rejected, match=error):
            adyen.deliveries(adyen_request(body), {})


# -- Braintree ---------------------------------------------------------------------------------------

braintree_sdk = pytest.importorskip("braintree")
BRAINTREE_KEY = "my_public_key:my_private_key"


@pytest.fixture(scope="module")
def gateway():
    return braintree_sdk.BraintreeGateway(braintree_sdk.Configuration(
        environment=braintree_sdk.Environment.Sandbox, merchant_id="my_merchant_id",
        public_key="my_public_key", private_key="my_private_key"))


def braintree_request(signed):
    payload = signed["bt_payload"]
    payload = payload.decode() if isinstance(payload, bytes) else payload
    body = urlencode({"bt_signature": signed["bt_signature"], "bt_payload": payload})
    return Request(body.encode(), {"content-type": "application/x-www-form-urlencoded"})


KINDS = {
    "transaction_settled": ("payment", "100.00", 10000, "USD"),
    "subscription_charged_successfully": ("payment", "49.99", None, None),  # the sample's transaction has no currency
    "dispute_opened": ("dispute", "100.00", 10000, "USD"),
    "dispute_won": ("dispute", "100.00", 10000, "USD"),
    "dispute_lost": ("dispute", "100.00", 10000, "USD"),
    "refund_failed": ("refund", "100", None, None),  # Braintree's sample names no currency
    "transaction_settlement_declined": (None,) * 4,
    "check": (None,) * 4,
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_braintree_verifies_the_sdks_sample_notifications(gateway, kind):
    signed = gateway.webhook_testing.sample_notification(kind, "my_id_1")
    assert gateway.webhook_notification.parse(signed["bt_signature"], signed["bt_payload"]).kind == kind
    request = braintree_request(signed)
    assert braintree.verify(request, ["other:key", BRAINTREE_KEY], {}, NOW) == 1
    [(event_id, source_kind, event)] = events_of(braintree, request)
    subject = "check" if kind == "check" else "my_id_1"  # a check's subject is <check>true</check>
    assert event_id.startswith(f"braintree:{kind}:{subject}:") and source_kind == kind
    routed = (event["transaction_type"], str(event["amount"]), event["amount_minor"], event["currency"]) if event else (
        None,) * 4
    assert routed == KINDS[kind]


def test_braintree_refuses_forged_and_mangled_requests(gateway):
    signed = gateway.webhook_testing.sample_notification("transaction_settled", "my_id_1")
    payload = signed["bt_payload"].decode() if isinstance(signed["bt_payload"], bytes) else signed["bt_payload"]
    cases = {
        "another key": ({**signed}, ["my_public_key:another_private_key"], "matches no API key pair"),
        "another public key": ({**signed}, ["their_public_key:my_private_key"], "matches no API key pair"),
        "tampered": ({**signed, "bt_payload": payload.replace("A", "B", 1)}, [BRAINTREE_KEY], "matches no"),
        "plus as space": ({**signed, "bt_payload": payload.replace("+", " ")}, [BRAINTREE_KEY], "not base64"),
    }
    for form, keys, error in cases.values():
        with pytest.raises(Unverified, match=error):
            braintree.verify(braintree_request(form), keys, {}, NOW)
    with pytest.raises(Unverified, match="bt_signature and bt_payload"):
        braintree.verify(Request(b"bt_payload=abc", {}), [BRAINTREE_KEY], {}, NOW)


def test_braintree_xml_is_parsed_without_dtds_or_entities(gateway):
    # Signed with the right key, so only the parser stands between the payload and the pipeline.
    for xml, error in [
        (b'<!DOCTYPE n [<!ENTITY a "aaaaaaaaaa">]><notification><kind>&a;</kind></notification>', "DTD"),
        (b'<notification><kind>&a;</kind></notification>', "undefined entity"),
        (b"<notification>" + b"<a>" * 40 + b"</a>" * 40 + b"</notification>", "deeper"),
    ]:
        payload = base64.b64encode(xml)
        signature = hmac.new(hashlib.sha1(b"my_private_key").digest(), payload, hashlib.sha1).hexdigest()
        request = braintree_request({"bt_signature": f"my_public_key|{signature}", "bt_payload": payload})
        assert braintree.verify(request, [BRAINTREE_KEY], {}, NOW) == 0
        with pytest.raises(Rejected, match=error):
            braintree.deliveries(request, {})


def test_a_settled_credit_is_a_refund(gateway):
    signed = gateway.webhook_testing.sample_notification("transaction_settled", "my_id_1")
    payload = base64.b64encode(base64.b64decode(signed["bt_payload"]).replace(b"<type>sale</type>", b"<type>credit</type>"))
    signature = hmac.new(hashlib.sha1(b"my_private_key").digest(), payload, hashlib.sha1).hexdigest()
    request = braintree_request({"bt_signature": f"my_public_key|{signature}", "bt_payload": payload})
    [(_, _, event)] = events_of(braintree, request)
    assert event["transaction_type"] == "refund"


# -- Razorpay ----------------------------------------------------------------------------------------

razorpay_sdk = pytest.importorskip("razorpay")
RAZORPAY_SECRET = "razorpay webhook secret"


def razorpay_request(event, event_id="Ev_O8kqSCJ9aYIPk3", secret=RAZORPAY_SECRET):
    body = json.dumps(event, indent=2)
    signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()  # the SDK only verifies
    return Request(body.encode(), {"x-razorpay-signature": signature, "x-razorpay-event-id": event_id})


@pytest.mark.parametrize("name", list(fixtures("razorpay")))
def test_razorpay_verifies_what_the_sdk_verifies(name):
    request = razorpay_request(fixtures("razorpay")[name])
    assert razorpay_sdk.Utility().verify_webhook_signature(
        request.body.decode(), request.headers["x-razorpay-signature"], RAZORPAY_SECRET) is True
    assert razorpay.verify(request, ["old secret", RAZORPAY_SECRET], {}, NOW) == 1
    tampered = Request(request.body.replace(b'"amount"', b'"amount" ', 1), request.headers)
    with pytest.raises(Unverified):
        razorpay.verify(tampered, [RAZORPAY_SECRET], {}, NOW)
    with pytest.raises(razorpay_sdk.errors.SignatureVerificationError):
        razorpay_sdk.Utility().verify_webhook_signature(
            tampered.body.decode(), tampered.headers["x-razorpay-signature"], RAZORPAY_SECRET)


def test_razorpay_events_become_canonical_events():
    examples = fixtures("razorpay")
    routed = {name: events_of(razorpay, razorpay_request(examples[name]))[0] for name in examples}
    event_id, kind, event = routed["payment.captured"]
    assert (event_id, kind) == ("razorpay:Ev_O8kqSCJ9aYIPk3", "payment.captured")
    assert (event["transaction_type"], event["amount"], event["amount_minor"], event["currency"]) == (
        "payment", Decimal("1.00"), 100, "INR")
    assert routed["payment.authorized"][2] is None
    assert routed["refund.processed"][2]["transaction_type"] == "refund"
    for name in ("payment.dispute.created", "payment.dispute.won", "payment.dispute.lost", "payment.dispute.closed"):
        assert routed[name][2]["transaction_type"] == "dispute", name
    with pytest.raises(Rejected, match="x-razorpay-event-id"):
        razorpay.deliveries(razorpay_request(examples["payment.captured"], event_id=""), {})


@pytest.mark.parametrize("currency, minor, amount", [
    ("INR", 50000, "500.00"), ("JPY", 1000, "1000"), ("KWD", 12340, "12.340"), ("ISK", 500, "500"),
    ("MGA", 5000, "50.00"), ("USD", 1999, "19.99"), ("EUR", 1, "0.01"),
])
def test_razorpay_amounts_follow_razorpays_exponents(currency, minor, amount):
    event = copy.deepcopy(fixtures("razorpay")["payment.captured"])
    event["payload"]["payment"]["entity"].update(currency=currency, amount=minor)
    [(_, _, canonical)] = events_of(razorpay, razorpay_request(event))
    assert (str(canonical["amount"]), canonical["amount_minor"]) == (amount, minor)


# -- Square ------------------------------------------------------------------------------------------

square_helper = pytest.importorskip("square.utils.webhooks_helper")
SQUARE_KEY = "square signature key"
SQUARE_URL = "https://abc.execute-api.us-east-1.amazonaws.com/v1/webhook/square"


def square_request(event, key=SQUARE_KEY, url=SQUARE_URL):
    body = json.dumps(event, indent=2)
    signature = base64.b64encode(hmac.new(key.encode(), (url + body).encode(), hashlib.sha256).digest()).decode()
    assert square_helper.verify_signature(request_body=body, signature_header=signature, signature_key=key,
                                          notification_url=url)
    return Request(body.encode(), {"x-square-hmacsha256-signature": signature}, url=SQUARE_URL)


@pytest.mark.parametrize("name", list(fixtures("square")))
def test_square_verifies_what_the_sdk_verifies(name):
    request = square_request(fixtures("square")[name])
    assert square.verify(request, ["old key", SQUARE_KEY], {}, NOW) == 1
    assert square.verify(request, [SQUARE_KEY], {"notification_url": SQUARE_URL}, NOW) == 0
    with pytest.raises(Unverified, match="notification URL"):
        square.verify(request, [SQUARE_KEY], {"notification_url": SQUARE_URL + "/"}, NOW)
    tampered = Request(request.body + b" ", request.headers, url=SQUARE_URL)
    with pytest.raises(Unverified):
        square.verify(tampered, [SQUARE_KEY], {}, NOW)
    assert not square_helper.verify_signature(request_body=tampered.body.decode(), signature_key=SQUARE_KEY,
                                              signature_header=request.headers["x-square-hmacsha256-signature"],
                                              notification_url=SQUARE_URL)


def test_square_events_become_canonical_events():
    examples = fixtures("square")
    routed = {name: events_of(square, square_request(examples[name]))[0] for name in examples}
    event_id, kind, event = routed["payment.updated"]
    assert (event_id, kind) == ("square:6a8f5f28-54a1-4eb0-a98a-3111513fd4fc", "payment.updated")
    assert (event["transaction_type"], event["amount"], event["amount_minor"], event["currency"], event["timestamp"]) == (
        "payment", Decimal("1.00"), 100, "USD", "2020-02-06T21:27:34.308Z")
    assert routed["payment.created"][2] is None  # APPROVED, not yet COMPLETED
    assert routed["refund.created"][2] is None  # PENDING
    assert routed["refund.updated"][2]["transaction_type"] == "refund"
    assert routed["dispute.created"][2]["amount"] == Decimal("88.01")
    assert routed["dispute.state.updated"][2]["transaction_type"] == "dispute"


@pytest.mark.parametrize("currency, minor, amount", [("USD", 100, "1.00"), ("JPY", 100, "100"), ("KWD", 1000, "1.000"),
                                                     ("EUR", 250, "2.50"), ("INR", 50000, "500.00")])
def test_square_amounts_follow_iso_4217(currency, minor, amount):
    event = copy.deepcopy(fixtures("square")["payment.updated"])
    event["data"]["object"]["payment"]["amount_money"] = {"amount": minor, "currency": currency}
    [(_, _, canonical)] = events_of(square, square_request(event))
    assert (str(canonical["amount"]), canonical["amount_minor"]) == (amount, minor)


# -- money -------------------------------------------------------------------------------------------


def test_minor_amounts_and_their_currencies():
    assert money.from_minor(Decimal(5), "jpy", money.STRIPE) == (Decimal("5"), 5, "JPY")
    assert money.from_major("10", "USD", money.ISO_4217) == (Decimal("10"), 1000, "USD")
    assert money.from_major("100", None, money.ISO_4217) == (Decimal("100"), None, None)
    for call, error in [(lambda: money.from_minor(True, "USD", money.STRIPE), "integer"),
                        (lambda: money.from_minor(Decimal("1.5"), "USD", money.STRIPE), "integer"),
                        (lambda: money.from_major("1.005", "USD", money.ISO_4217), "more decimals"),
                        (lambda: money.from_major("1.5", "JPY", money.ISO_4217), "more decimals"),
                        (lambda: money.from_major(" 1", "USD", money.ISO_4217), "decimal number"),
                        (lambda: money.from_major("NaN", "USD", money.ISO_4217), "decimal number"),
                        (lambda: money.currency("US"), "ISO 4217")]:
        with pytest.raises(money.BadAmount, match=error):
            call()


def _form_by_parse_qs(body):
    """What a form decoder makes of a Braintree post: the reference for braintree's fast path."""
    from urllib.parse import parse_qs

    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    signature, payload = fields.get("bt_signature", []), fields.get("bt_payload", [])
    if len(signature) != 1 or len(payload) != 1 or not payload[0].isascii():
        return None
    return signature[0], payload[0].encode("ascii")


def _form_or_refusal(body):
    try:
        return braintree._form_fields(body)
    except Unverified:
        return None


@pytest.mark.parametrize("body", [
    urlencode({"bt_signature": "pub|abc", "bt_payload": base64.encodebytes(b"<n>" * 40).decode()}).encode(),
    urlencode({"bt_payload": "QUJD\n", "bt_signature": "a|1&b|2"}).encode(),  # another order, two pairs
    b"bt_signature=pub%7cabc&bt_payload=QUJD%0a",  # lower-case escapes
    b"bt_signature=pub|abc&bt_payload=QU+JD",  # "+" is a space
    b"bt_signature=pub|abc&bt_payload=QUJD%252B",  # an escaped "%"
    b"bt_signature=pub|abc&bt_payload=QU%2%2BJD",  # a broken escape
    b"bt_signature=pub|abc&bt_payload=QUJD&bt_payload=QUJE",  # a field twice
    b"bt_signature=pub|abc&bt_payload=QUJD&x=1", b"bt_signature=pub|abc", b"", b"bt_payload=%FF&bt_signature=a",
])
def test_braintrees_form_is_read_as_a_form_decoder_reads_it(body):
    assert _form_or_refusal(body) == _form_by_parse_qs(body)


def test_braintrees_form_fast_path_agrees_with_a_form_decoder_on_random_forms():
    import random

    rng = random.Random(20261204)
    pieces = ["A", "z", "9", "+", "/", "=", "\n", "|", "%", "%2B", "%2b", "%0A", "%3D", "%7C", "&", " ", "~", "%25"]
    for _ in range(3000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 30)))
        encoded = urlencode({"bt_signature": "pub|" + value, "bt_payload": value}).encode() if rng.random() < 0.5 \
            else f"bt_signature=pub|{value}&bt_payload={value}".encode()
        assert _form_or_refusal(encoded) == _form_by_parse_qs(encoded), encoded
