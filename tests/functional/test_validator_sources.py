"""POST /webhook/<source> through the validator against moto: each provider's request (tapctl.providers,
which tests/unit/test_providers.py holds to the SDKs) is answered as that provider requires, recorded
once and handed to the router, which queues the canonical event with the exact amount. Duplicates are
acknowledged, forgeries refused without a call to AWS, and a batch is handled item by item."""

import io
import json
import os
from contextlib import redirect_stdout
from decimal import Decimal

import boto3
import pytest

from handlers import router, runtime, signing_keys, sources, validator
from tapctl import providers
from tapctl.config import SOURCES
from tests.support import Context, source_event

SECRETS = {"stripe": "whsec_tapctl_test", "adyen": "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
           "braintree": "my_public_key:my_private_key", "razorpay": "razorpay secret", "square": "square_signature_key"}
URL = "https://abc.execute-api.us-east-1.amazonaws.com/v1/webhook/square"


@pytest.fixture
def enabled(pipeline, monkeypatch):
    """Every source enabled, each with its secret set, as tapctl secret set --source stores it."""
    secretsmanager = boto3.client("secretsmanager")
    settings = {}
    for name in SOURCES:
        value = json.dumps({"secrets": [{"secret": SECRETS[name], "expires_at": None}]})
        arn = secretsmanager.create_secret(Name=f"webhook-{name}-test", SecretString=value)["ARN"]
        settings[name] = {"types": {}, "secret_arn": arn}
    settings["stripe"]["tolerance_seconds"] = 300
    settings["square"]["notification_url"] = URL
    monkeypatch.setenv(validator.SOURCES_ENV, json.dumps(settings))
    signing_keys.forget_sources()
    yield pipeline
    signing_keys.forget_sources()


@pytest.fixture
def calls(enabled):
    made = []
    for service in ("dynamodb", "lambda", "secretsmanager"):
        runtime.client(service).meta.events.register(
            "before-call", lambda event_name, **_: made.append(event_name.split(".", 1)[1]))
    return made


def post(source, transaction_type="payment", *, document=None, secret=None, minor=2000, currency="USD"):
    event_id = None
    if document is None:
        document, event_id = providers.sample(source, transaction_type, minor, currency)
    headers, body = providers.signed(source, document, secret or SECRETS[source], url=URL, event_id=event_id)
    return source_event(source, headers, body), event_id


def handle(event):
    out = io.StringIO()
    with redirect_stdout(out):
        response = validator.lambda_handler(event, Context())
    return response, [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_is_accepted_once_and_routed_with_its_exact_amount(enabled, source, monkeypatch):
    event, provider_id = post(source, "refund", minor=12340, currency="KWD")
    response, logged = handle(event)
    content_type, body = sources.module(source).ACCEPTED
    assert (response["statusCode"], response["headers"]["Content-Type"], response["body"]) == (200, content_type, body)
    event_id = f"{source}:{provider_id}"
    assert [(line["event_id"], line["outcome"], line["source"]) for line in logged] == [(event_id, "accepted", source)]
    assert enabled.record(event_id)["transaction_type"] == {"S": "refund"}

    # The provider's retry: acknowledged as a success, recorded and handed over once.
    response, logged = handle(event)
    assert response["statusCode"] == 200 and [line["outcome"] for line in logged] == ["duplicate"]
    assert len(enabled.invokes) == 1

    with redirect_stdout(io.StringIO()):
        router.lambda_handler(enabled.invokes[0]["payload"], Context(function_name="event-router-test"))
    [message] = enabled.messages("refund")
    queued = json.loads(message["Body"], parse_float=Decimal)
    assert (queued["event_id"], queued["source"], queued["source_event_id"]) == (event_id, source, provider_id)
    assert (queued["amount"], queued["amount_minor"], queued["currency"]) == (Decimal("12.340"), 12340, "KWD")
    assert queued["source_payload"] and queued["source_event_type"] == providers.SAMPLE_TYPES[source]["refund"]


@pytest.mark.parametrize("source", SOURCES)
def test_a_forgery_is_401_with_nothing_stored_and_no_call_when_warm(calls, enabled, source):
    handle(post(source)[0])  # warm: the source's secret is held
    calls.clear()
    forged = "whsec_forged" if source == "stripe" else "00" * 32 if source == "adyen" else (
        "my_public_key:not_the_key" if source == "braintree" else "forged")
    event, provider_id = post(source, secret=forged)
    response, logged = handle(event)
    assert response["statusCode"] == 401 and json.loads(response["body"])["error"]
    assert [line["outcome"] for line in logged] == ["unauthenticated"]
    assert enabled.record(f"{source}:{provider_id}") is None
    # The secret was read less than 10 s ago, so an unmatched signature does not read it again: a flood of
    # forgeries costs no call (handlers/signing_keys.py).
    assert calls == []


def test_warm_calls_per_event_are_two_for_new_one_for_duplicate(calls, enabled):
    handle(post("stripe")[0])
    calls.clear()
    event, _ = post("stripe")
    handle(event)
    assert calls == ["dynamodb.PutItem", "lambda.Invoke"]
    calls.clear()
    handle(event)
    assert calls == ["dynamodb.PutItem"]


def test_an_unrouted_type_is_acknowledged_and_logged_ignored(calls, enabled):
    document, _ = providers.sample("stripe", "payment")
    document["type"] = "customer.created"
    calls.clear()
    response, logged = handle(post("stripe", document=document)[0])
    assert response["statusCode"] == 200
    assert [(line["outcome"], line["source_event_type"]) for line in logged] == [("ignored", "customer.created")]
    assert [call for call in calls if call.startswith("dynamodb")] == []


def test_a_source_not_enabled_is_404(enabled, monkeypatch):
    settings = json.loads(os.environ[validator.SOURCES_ENV])
    del settings["razorpay"]
    monkeypatch.setenv(validator.SOURCES_ENV, json.dumps(settings))
    response, logged = handle(post("razorpay")[0])
    assert response["statusCode"] == 404 and "razorpay" in json.loads(response["body"])["error"]
    assert [line["outcome"] for line in logged] == ["unknown_source"]


def test_a_source_without_its_secret_is_503_fail_closed(enabled, monkeypatch):
    settings = json.loads(os.environ[validator.SOURCES_ENV])
    settings["stripe"]["secret_arn"] = boto3.client("secretsmanager").create_secret(Name="webhook-stripe-unset")["ARN"]
    monkeypatch.setenv(validator.SOURCES_ENV, json.dumps(settings))
    signing_keys.forget_sources()
    response, logged = handle(post("stripe")[0])
    assert response["statusCode"] == 503 and response["headers"]["Retry-After"] == "1"
    assert "tapctl secret set --source stripe" in logged[0]["error"]


def test_a_batch_is_handled_item_by_item_and_its_retry_completes_it(enabled, monkeypatch):
    first, _ = providers.sample("adyen", "payment")
    second, _ = providers.sample("adyen", "dispute")
    batch = {"live": "false", "notificationItems": first["notificationItems"] + second["notificationItems"]}
    event, _ = post("adyen", document=batch)
    ids = [f"adyen:{item['NotificationRequestItem']['eventCode']}:{item['NotificationRequestItem']['pspReference']}:true"
           for item in batch["notificationItems"]]

    invoke = runtime.client("lambda").invoke
    answers = iter([lambda **kwargs: invoke(**kwargs), lambda **kwargs: {"StatusCode": 500}])
    monkeypatch.setattr(runtime.client("lambda"), "invoke", lambda **kwargs: next(answers)(**kwargs))
    response, logged = handle(event)
    assert response["statusCode"] == 503
    assert [(line["event_id"], line["outcome"]) for line in logged] == [(ids[0], "accepted"), (None, "handover_failed")]
    assert enabled.record(ids[0]) and enabled.record(ids[1]) is None  # the failed item left nothing behind

    monkeypatch.setattr(runtime.client("lambda"), "invoke", invoke)
    response, logged = handle(event)
    assert response["statusCode"] == 200 and response["body"] == "[accepted]"
    assert [(line["event_id"], line["outcome"]) for line in logged] == [(ids[0], "duplicate"), (ids[1], "accepted")]


def test_a_bad_item_signature_refuses_the_whole_batch(enabled):
    first, _ = providers.sample("adyen", "payment")
    headers, body = providers.signed("adyen", first, SECRETS["adyen"])
    document = json.loads(body)
    second, _ = providers.sample("adyen", "refund")
    providers.signed("adyen", second, "11" * 32)  # signed with another key
    document["notificationItems"] += second["notificationItems"]
    response, logged = handle(source_event("adyen", headers, json.dumps(document).encode()))
    assert response["statusCode"] == 401 and "item 2" in json.loads(response["body"])["error"]
    item = first["notificationItems"][0]["NotificationRequestItem"]
    assert enabled.record(f"adyen:AUTHORISATION:{item['pspReference']}:true") is None
