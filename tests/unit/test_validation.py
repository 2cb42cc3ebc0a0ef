"""The validator's parsing and checks, with no AWS at all: bad input never reaches a dependency."""

import json
from decimal import Decimal

import pytest

from handlers import event as events
from handlers import runtime, validator
from handlers.signing_keys import keys
from tests.support import SECRET_ARN, Context, SecretsClient, answer, malformed_cases, proxy_event, sample


class Untouchable:
    """A client that fails the test if anything calls it."""

    def __getattr__(self, name):
        raise AssertionError(f"bad input reached AWS: {name}")


@pytest.fixture(autouse=True)
def no_aws(monkeypatch):
    monkeypatch.setenv(validator.TABLE_ENV, "transaction-events-unit")
    monkeypatch.setenv(validator.ROUTER_ENV, "event-router-unit")
    monkeypatch.setenv(validator.SECRET_ENV, SECRET_ARN)
    runtime.use_client("dynamodb", Untouchable())
    runtime.use_client("lambda", Untouchable())
    runtime.use_client("secretsmanager", SecretsClient())  # bad bodies arrive signed: their checks are tested
    keys.forget()
    yield
    runtime.reset_clients()
    keys.forget()


def deliver(event):
    return answer(validator.lambda_handler(event, Context()))


@pytest.mark.parametrize("case", malformed_cases(), ids=lambda case: case["name"])
def test_malformed_body_gets_a_4xx_naming_the_problem(case):
    status, body = deliver(proxy_event(case["body"]))
    assert status == case["status"]
    assert body["error"].startswith(case["error_starts_with"]), body
    assert set(body) == {"error"}


@pytest.mark.parametrize("case", malformed_cases()[:6], ids=lambda case: case["name"])
def test_base64_bodies_are_decoded_before_checking(case):
    status, body = deliver(proxy_event(case["body"], base64_encoded=True))
    assert (status, body["error"][: len(case["error_starts_with"])]) == (case["status"], case["error_starts_with"])


@pytest.mark.parametrize("body", [None, ""])
def test_missing_body_is_a_400(body):
    assert deliver(proxy_event(body)) == (400, {"error": "Request body is missing"})


def test_event_without_body_key_is_a_400():
    event = proxy_event(None)  # signed over no body at all
    del event["body"]
    assert deliver(event) == (400, {"error": "Request body is missing"})


def test_invalid_base64_is_a_400():
    event = proxy_event("{}")
    event["isBase64Encoded"] = True
    event["body"] = "not base64 at all!"
    assert deliver(event) == (400, {"error": "Request body is not valid base64"})


def test_invalid_utf8_is_a_400():
    event = proxy_event(b'{"event_id": "\xff\xfe"}', base64_encoded=True)
    assert deliver(event) == (400, {"error": "Request body is not valid UTF-8"})


def test_oversized_body_is_a_413_before_any_parsing():
    body = json.dumps(sample("payment", pad="x" * events.MAX_BODY_BYTES))
    status, answer_body = deliver(proxy_event(body))
    assert status == 413
    assert answer_body["error"] == f"Request body is too large: {len(body)} bytes, the limit is 65536"


def test_oversized_base64_body_is_a_413():
    status, _ = deliver(proxy_event(json.dumps(sample("payment", pad="x" * 70_000)), base64_encoded=True))
    assert status == 413


def test_body_at_the_size_limit_is_parsed():
    event = sample("payment")
    padding = events.MAX_BODY_BYTES - len(json.dumps({**event, "pad": ""}))
    body = json.dumps({**event, "pad": "x" * padding})
    assert len(body) == events.MAX_BODY_BYTES
    events.validate(events.parse_body(events.body_text(events.raw_body(proxy_event(body)))))


@pytest.mark.parametrize("depth", [31, 32])
def test_nesting_up_to_the_limit_is_kept(depth):
    event = sample("payment", extra=json.loads("[" * (depth - 1) + "]" * (depth - 1)))
    text = events.message_body(events.parse_body(json.dumps(event)), "2026-11-29T17:45:00.000Z")
    assert json.loads(text)["extra"] == event["extra"]


@pytest.mark.parametrize("depth", [33, 5000])
def test_nesting_beyond_the_limit_is_a_400(depth):
    body = json.dumps(sample("payment"))[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    status, answer_body = deliver(proxy_event(body))
    assert (status, answer_body["error"]) == (400, "Request body is nested too deeply: the limit is 32 levels")


def test_a_huge_integer_is_a_clear_400_not_a_crash():
    body = json.dumps(sample("payment"))[:-1] + ', "note": ' + "9" * 5000 + "}"
    body = body.replace('"amount": 149.99', '"amount": ' + "9" * 5000)
    status, answer_body = deliver(proxy_event(body))
    assert status == 400 and answer_body["error"].startswith("Request body has a number JSON parsers cannot read back")


@pytest.mark.parametrize(
    "amount, storable",
    [
        ("0", True),
        ("-0.00", True),
        ("1E-130", True),
        ("1E-131", False),
        ("9.9999999999999999999999999999999999999E+125", True),
        ("1E+126", False),
        ("12345678901234567890123456789012345678", True),
        ("123456789012345678901234567890123456789", False),
        ("1.0000000000000000000000000000000000000000000", True),
        ("-149.99", True),
    ],
)
def test_amount_range_is_what_dynamodb_stores_exactly(amount, storable):
    assert events._storable_number(Decimal(amount)) is storable


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-29T17:45:00Z",
        "2026-11-29T17:45:00.123456789Z",
        "2026-11-29T17:45:00+05:30",
        "2026-11-29T17:45:00-23:59",
        "2024-02-29T00:00:00Z",
    ],
)
def test_valid_timestamps(timestamp):
    assert events.valid_timestamp(timestamp)


@pytest.mark.parametrize(
    "timestamp",
    [
        "2025-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-29T17:60:00Z",
        "2026-11-29T23:59:60Z",
        "2026-11-29 17:45:00Z",
        "2026-11-29t17:45:00z",
        "20261129T174500Z",
        "2026-11-29T17:45:00.Z",
        "2026-11-29T17:45:00+0100",
        "２０２６-11-29T17:45:00Z",
    ],
)
def test_invalid_timestamps(timestamp):
    assert not events.valid_timestamp(timestamp)


def test_message_keeps_every_field_and_the_amount_exactly_as_sent():
    body = (
        '{"event_id": "e-1", "transaction_type": "refund", "amount": 12345678901234567890.123456789,'
        ' "timestamp": "2026-11-29T17:45:00Z", "meta": {"n": 1.50, "ok": true, "none": null, "list": [1e3, "é"]}}'
    )
    text = events.message_body(events.parse_body(body), "2026-11-29T17:45:01.000Z")
    assert '"amount":12345678901234567890.123456789' in text
    assert '"meta":{"n":1.50,"ok":true,"none":null,"list":[1E+3,"é"]}' in text
    assert json.loads(text, parse_float=Decimal) == {
        **json.loads(body, parse_float=Decimal),
        "received_at": "2026-11-29T17:45:01.000Z",
    }


def test_received_at_is_set_by_the_pipeline_not_the_sender():
    event = sample("payment", received_at="1999-01-01T00:00:00Z")
    text = events.message_body(events.parse_body(json.dumps(event)), "2026-11-29T17:45:01.000Z")
    assert json.loads(text)["received_at"] == "2026-11-29T17:45:01.000Z"


def test_iso_utc_has_milliseconds_and_z():
    assert validator.iso_utc(1764438300.5) == "2025-11-29T17:45:00.500Z"


def test_a_rejected_request_logs_one_line_without_amount_or_body(capsys):
    body = json.dumps(sample("payment", amount="149.99-secret"))
    status, _ = deliver(proxy_event(body))
    lines = capsys.readouterr().out.splitlines()
    assert status == 400 and len(lines) == 1
    record = json.loads(lines[0])
    assert set(record) == {"function", "request_id", "event_id", "outcome", "status", "duration_ms", "error",
                           "signature"}
    assert (record["outcome"], record["status"], record["signature"]) == ("rejected", 400, "valid")
    assert record["event_id"].startswith("evt-payment-0001-")
    assert "149.99" not in lines[0]
