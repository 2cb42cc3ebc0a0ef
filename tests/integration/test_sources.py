"""Every payment-provider source end to end on the session's deployment (tests/conftest.py enables all
five): its secret set with tapctl, its requests signed as the provider signs them (tapctl.providers,
held to the SDKs in tests/unit/test_providers.py), over HTTP through the API to its queue with the exact
amount; a retry acknowledged and queued once; a forgery refused with nothing stored."""

import json
import time
from decimal import Decimal

import pytest

from tapctl import providers
from tapctl.config import QUEUE_OUTPUTS, SOURCES
from tests.integration.test_pipeline import has_event, receive_all

SECRETS = {"stripe": "whsec_integration_secret", "adyen": "0f" * 32, "braintree": "itest_public:itest_private",
           "razorpay": "integration razorpay secret", "square": "integration_square_key"}


@pytest.fixture(scope="module")
def sources(deployment):
    for name in SOURCES:
        result = deployment.tapctl("secret set", "--source", name, input=SECRETS[name])
        assert result.exit_code == 0, result.output
    return deployment.outputs["webhook_sources"]


def send(route, source, document, secret=None, event_id=None):
    url = route["notification_url"] or route["url"]
    headers, body = providers.signed(source, document, secret or SECRETS[source], url=url, event_id=event_id)
    return providers.post(route["url"], headers, body)


def test_the_routes_and_their_secrets_are_listed(deployment, sources):
    result = deployment.tapctl("sources", "--json")
    assert result.exit_code == 0, result.output
    listed = {entry["source"]: entry for entry in json.loads(result.stdout)}
    assert sorted(listed) == sorted(SOURCES)
    assert all(entry["secret"] == "set" and entry["url"] == sources[name]["url"] for name, entry in listed.items())
    assert "payment_intent.succeeded" in listed["stripe"]["subscribe"]


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_reaches_its_queue_once_with_its_exact_amount(deployment, sources, source):
    document, provider_id = providers.sample(source, "refund", 12340, "KWD")
    status, answer, _ = send(sources[source], source, document, event_id=provider_id)
    assert status == 200, answer
    assert send(sources[source], source, document, event_id=provider_id)[0] == 200  # the provider's retry
    event_id = f"{source}:{provider_id}"
    sqs = deployment.client("sqs")
    found = receive_all(sqs, deployment.outputs[QUEUE_OUTPUTS["refund"]], wait=30, until=has_event(event_id))
    mine = [json.loads(message["Body"], parse_float=Decimal) for message in found if event_id in message["Body"]]
    assert len(mine) == 1, f"{event_id} queued {len(mine)} times"
    assert (mine[0]["amount"], mine[0]["amount_minor"], mine[0]["currency"], mine[0]["source"]) == (
        Decimal("12.340"), 12340, "KWD", source)
    # Found by the provider's own id, as a team looking up a provider's event would (log lines lag a little).
    deadline = time.monotonic() + 20
    while True:
        result = deployment.tapctl("trace", provider_id, "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        if report["verdict"] == "routed" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (report["event_id"], report["verdict"]) == (event_id, "routed"), report


@pytest.mark.parametrize("source", SOURCES)
def test_a_forgery_at_each_source_is_refused_with_nothing_stored(deployment, sources, source):
    forged = {"stripe": "whsec_forged", "adyen": "11" * 32, "braintree": "itest_public:forged"}.get(source, "forged")
    document, provider_id = providers.sample(source, "payment")
    status, answer, _ = send(sources[source], source, document, secret=forged, event_id=provider_id)
    assert status == 401, answer
    dynamodb = deployment.client("dynamodb")
    key = {"event_id": {"S": f"{source}:{provider_id}"}}
    assert "Item" not in dynamodb.get_item(TableName=deployment.outputs["dynamodb_table_name"], Key=key)


def test_a_source_that_is_not_enabled_has_no_route(deployment, sources):
    url = sources["stripe"]["url"].rsplit("/", 1)[0] + "/paypal"
    status, _, _ = providers.post(url, {"Content-Type": "application/json"}, b"{}")
    assert status == 403  # API Gateway's answer to a path it does not know; no function ran
