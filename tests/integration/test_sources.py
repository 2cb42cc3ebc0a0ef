"""Every payment-provider source end to end on the session's deployment (tests/conftest.py enables all
five, each with its secret set by tapctl), its requests signed as the provider signs them (tapctl.providers,
held to the SDKs in tests/unit/test_providers.py), over HTTP through the API to its queue with the exact
amount; a retry acknowledged and queued once; a forgery refused with nothing stored."""

import json
import time
from decimal import Decimal

import pytest

from tapctl import providers
from tapctl.config import QUEUE_OUTPUTS, SOURCES
from tests.conftest import SOURCE_SECRETS
from tests.integration.test_pipeline import has_event, receive_all

SECRETS = SOURCE_SECRETS


@pytest.fixture(scope="module")
def sources(deployment):
    """The routes; the session's deployment has each source's secret set (tests/conftest.py)."""
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


@pytest.mark.parametrize("source", SOURCES)
def test_sign_curl_sends_what_the_provider_would(deployment, sources, source, tmp_path):
    import subprocess

    document, provider_id = providers.sample(source, "payment", 990, "JPY")
    path = tmp_path / "document"
    path.write_bytes(document.encode() if isinstance(document, str) else json.dumps(document).encode())
    extra = ["--event-id", provider_id] if source == "razorpay" else []
    result = deployment.tapctl("sign", "--source", source, "--file", str(path), "--curl", *extra)
    assert result.exit_code == 0, result.output
    answer = subprocess.run(["sh", "-c", result.stdout], capture_output=True, text=True, timeout=30)
    assert answer.stdout == providers.source_module(None, source).ACCEPTED[1], answer
    key = {"event_id": {"S": f"{source}:{provider_id}"}}
    item = deployment.client("dynamodb").get_item(TableName=deployment.outputs["dynamodb_table_name"], Key=key)
    assert "Item" in item, f"{source}:{provider_id} was not recorded"


def test_sign_refuses_what_it_cannot_sign_in_one_line(deployment, sources, tmp_path):
    path = tmp_path / "not-json"
    path.write_bytes(b"<xml/>")
    result = deployment.tapctl("sign", "--source", "adyen", "--file", str(path))
    assert result.exit_code == 2 and "an Adyen notification is JSON" in result.stderr, result.output
    result = deployment.tapctl("sign", "--source", "stripe", "--file", str(path), "--event-id", "Ev_1")
    assert result.exit_code == 2 and "--event-id names Razorpay's" in result.stderr, result.output
    assert "Traceback" not in result.output


def test_status_counts_each_sources_events_by_outcome(deployment, sources):
    # After the tests above: each source accepted events, acknowledged a retry, refused a forgery. The
    # counts are the validator's SourceOutcomes metric (on the local target: its metric filter, applied
    # by the emulator as it ships the log lines, published every 10 s).
    for name in SOURCES:
        document, provider_id = providers.sample(name, "payment")
        assert send(sources[name], name, document, event_id=provider_id)[0] == 200
        assert send(sources[name], name, document, event_id=provider_id)[0] == 200
        assert send(sources[name], name, document, secret=providers.forged(name, SECRETS[name]),
                    event_id=provider_id)[0] == 401
    deadline = time.monotonic() + 60
    while True:
        result = deployment.tapctl("status", "--json")
        assert result.exit_code == 0, result.output
        counted = json.loads(result.stdout)["sources"]
        done = all(counted[name]["accepted"] and counted[name]["duplicate"] and counted[name]["unauthenticated"]
                   for name in SOURCES)
        if done or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert sorted(counted) == sorted(SOURCES)
    assert done, counted
    shown = deployment.tapctl("status")
    assert shown.exit_code == 0 and "sources, last 24 h" in shown.stdout, shown.output
