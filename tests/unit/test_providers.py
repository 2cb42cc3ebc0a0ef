"""tapctl's provider requests (tapctl/providers.py): each provider's SDK accepts what tapctl signs, and
the source (handlers/sources/) maps each sample to its transaction type with the exact amount."""

import json
import time
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from handlers import sources
from handlers.sources import Request, adyen
from tapctl import providers
from tapctl.config import SOURCES

SECRETS = {"stripe": "whsec_tapctl_test", "adyen": "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
           "braintree": "my_public_key:my_private_key", "razorpay": "razorpay secret", "square": "square_signature_key"}
URL = "https://abc.execute-api.us-east-1.amazonaws.com/v1/webhook/square"
AMOUNTS = [(2000, "USD", "20.00"), (1000, "JPY", "1000"), (12340, "KWD", "12.340"), (50000, "INR", "500.00"),
           (1999, "EUR", "19.99")]


def request(source, transaction_type, minor=2000, currency="USD", now=None):
    document, event_id = providers.sample(source, transaction_type, minor, currency, now=now)
    headers, body = providers.signed(source, document, SECRETS[source], url=URL, event_id=event_id)
    return Request(body, {name.lower(): value for name, value in headers.items()}, url=URL), event_id


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("transaction_type", ["payment", "refund", "dispute"])
def test_each_sample_verifies_and_maps_to_its_transaction_type(source, transaction_type):
    signed, event_id = request(source, transaction_type)
    module = sources.module(source)
    assert module.verify(signed, [SECRETS[source]], {}, time.time()) == 0
    [delivery] = module.deliveries(signed, {})
    assert delivery.event_id == f"{source}:{event_id}"
    event = delivery.event
    assert (event["transaction_type"], event["amount"], event["currency"]) == (transaction_type, Decimal("20.00"), "USD")


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("minor, currency, amount", AMOUNTS)
def test_amounts_are_exact_in_each_currency(source, minor, currency, amount):
    signed, _ = request(source, "payment", minor, currency)
    [delivery] = sources.module(source).deliveries(signed, {})
    assert (str(delivery.event["amount"]), delivery.event["amount_minor"]) == (amount, minor)


def test_the_sdks_accept_what_tapctl_signs():
    stripe_sdk = pytest.importorskip("stripe")
    signed, _ = request("stripe", "payment")
    assert stripe_sdk.Webhook.construct_event(signed.body, signed.headers["stripe-signature"], SECRETS["stripe"]).id

    adyen_util = pytest.importorskip("Adyen.util")
    signed, _ = request("adyen", "refund")
    for wrapper in json.loads(signed.body)["notificationItems"]:
        item = wrapper["NotificationRequestItem"]
        assert adyen_util.is_valid_hmac_notification(item, SECRETS["adyen"])
        assert providers.adyen_signing_string(item) == adyen.signing_string(item)  # tapctl's copy is the handler's

    braintree_sdk = pytest.importorskip("braintree")
    gateway = braintree_sdk.BraintreeGateway(braintree_sdk.Configuration(
        environment=braintree_sdk.Environment.Sandbox, merchant_id="m", public_key="my_public_key",
        private_key="my_private_key"))
    signed, _ = request("braintree", "dispute")
    form = {name: values[0] for name, values in parse_qs(signed.body.decode()).items()}
    assert gateway.webhook_notification.parse(form["bt_signature"], form["bt_payload"]).kind == "dispute_opened"

    razorpay_sdk = pytest.importorskip("razorpay")
    signed, _ = request("razorpay", "payment")
    assert razorpay_sdk.Utility().verify_webhook_signature(
        signed.body.decode(), signed.headers["x-razorpay-signature"], SECRETS["razorpay"])

    square_helper = pytest.importorskip("square.utils.webhooks_helper")
    signed, _ = request("square", "payment")
    assert square_helper.verify_signature(request_body=signed.body.decode(), notification_url=URL,
                                          signature_header=signed.headers["x-square-hmacsha256-signature"],
                                          signature_key=SECRETS["square"])


def test_a_secret_in_the_providers_form_is_taken_and_another_is_refused_with_its_form():
    for source, secret in [*SECRETS.items(), ("razorpay", "a secret the team chose")]:
        assert providers.check_secret(source, secret) == secret
    for source, secret in [("stripe", "sk_live_123"), ("adyen", "not hex"), ("adyen", "0f"), ("braintree", "public"),
                           ("square", "two words"), ("razorpay", ""), ("stripe", " whsec_x")]:
        with pytest.raises(ValueError, match=f"not a {source} secret: give"):
            providers.check_secret(source, secret)
