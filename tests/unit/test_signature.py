"""Standard Webhooks v1 verification (handlers/signature.py) and signing (tapctl/signing.py): the spec's
own vector, every single-byte change, rotation, header case and repetition, base64 bodies, garbage
headers, the timestamp window both ways; and agreement with the reference implementation (standardwebhooks).
Then the validator's answers for each: a 401 makes no AWS call, not even for the secret. No network."""

import base64
import json
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError
from standardwebhooks import Webhook, WebhookVerificationError

from handlers import runtime, signature, validator
from handlers.signing_keys import keys
from tapctl import signing
from tests.support import SECRET_ARN, TEST_SECRET, Context, SecretsClient, answer, proxy_event, sample, secret_value

# The vector of the reference implementation's own tests (standard-webhooks, libraries/python).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
TOLERANCE = 300


def verify(secrets, headers, body, now):
    """The validator's verification, as it runs: headers, window, then the keys."""
    msg_id, timestamp, signatures = signature.check_headers(headers, now, TOLERANCE)
    signature.verify([signature.decode_secret(secret) for secret in secrets], msg_id, timestamp, signatures, body)


def spec_headers(**changes):
    return {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": SPEC_SIGNATURE,
            **changes}


def test_the_spec_vector_is_signed_and_verified():
    assert signing.signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    verify([SPEC_SECRET], spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)


@pytest.mark.parametrize("part", ["body", "id", "timestamp"])
def test_every_single_byte_change_is_refused(part):
    content = {"body": SPEC_BODY, "id": SPEC_ID.encode(), "timestamp": str(SPEC_TIMESTAMP).encode()}[part]
    changed = 0
    for index in range(len(content)):
        for replacement in {content[index] ^ 1, ord("0") if content[index] != ord("0") else ord("1")}:
            mutated = content[:index] + bytes([replacement]) + content[index + 1:]
            if part == "timestamp" and not mutated.isdigit():
                continue  # not a timestamp at all: refused earlier, tested below
            body = mutated if part == "body" else SPEC_BODY
            headers = spec_headers(**({"webhook-id": mutated.decode("latin-1")} if part == "id" else {}),
                                   **({"webhook-timestamp": mutated.decode()} if part == "timestamp" else {}))
            now = int(headers["webhook-timestamp"])  # inside the window: only the signature can refuse it
            with pytest.raises(signature.Unauthenticated, match="No matching signature"):
                verify([SPEC_SECRET], headers, body, now)
            changed += 1
    assert changed >= len(content)


def test_rotation_old_and_new_both_verify_and_an_expired_one_no_longer_does():
    old, new = signing.new_secret(), signing.new_secret()
    now = 1_800_000_000
    value = signing.rotated([{"secret": old, "expires_at": None}], now=now, grace_seconds=3600, secret=new)
    assert [entry["secret"] for entry in value] == [new, old] and value[1]["expires_at"] == now + 3600
    stored = signature.parse_secret_value(signing.value(value))
    for sender_secret in (old, new):
        headers = signing.headers(sender_secret, SPEC_BODY, now=now)
        keys_now = signature.active(stored, now)
        signature.verify(keys_now, *signature.check_headers(headers, now, TOLERANCE), SPEC_BODY)
    later = now + 3600
    headers = signing.headers(old, SPEC_BODY, now=later)
    with pytest.raises(signature.Unauthenticated, match="No matching signature"):
        signature.verify(signature.active(stored, later), *signature.check_headers(headers, later, TOLERANCE), SPEC_BODY)


def test_a_sender_signing_with_both_keys_during_a_rotation_verifies_with_either():
    old, new = signing.new_secret(), signing.new_secret()
    headers = signing.headers([new, old], SPEC_BODY, now=SPEC_TIMESTAMP)
    assert len(headers["webhook-signature"].split(" ")) == 2
    verify([old], headers, SPEC_BODY, SPEC_TIMESTAMP)
    verify([new], headers, SPEC_BODY, SPEC_TIMESTAMP)


def test_rotation_drops_expired_secrets_and_keeps_earlier_expiries():
    now = 1_800_000_000
    entries = [{"secret": "whsec_b", "expires_at": None}, {"secret": "whsec_a", "expires_at": now + 60},
               {"secret": "whsec_z", "expires_at": now - 1}]
    value = signing.rotated(entries, now=now, grace_seconds=86400, secret="whsec_c")
    assert value == [{"secret": "whsec_c", "expires_at": None}, {"secret": "whsec_b", "expires_at": now + 86400},
                     {"secret": "whsec_a", "expires_at": now + 60}]
    assert [e["secret"] for e in signing.rotated(entries, now=now, grace_seconds=0, secret="whsec_c")] == ["whsec_c"]


@pytest.mark.parametrize("case", [str.lower, str.upper, str.title])
def test_header_names_match_whatever_their_case(case):
    event = {"headers": {case(name): value for name, value in spec_headers().items()}}
    verify([SPEC_SECRET], signature.signature_headers(event), SPEC_BODY, SPEC_TIMESTAMP)


def test_multi_value_headers_are_read_and_repeated_signatures_all_count():
    other = signing.signature(signing.new_secret(), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    event = {"headers": {"Webhook-Signature": other},  # a REST API keeps only the last value here
             "multiValueHeaders": {"Webhook-Id": [SPEC_ID], "webhook-timestamp": [str(SPEC_TIMESTAMP)],
                                   "Webhook-Signature": [SPEC_SIGNATURE, other]}}
    verify([SPEC_SECRET], signature.signature_headers(event), SPEC_BODY, SPEC_TIMESTAMP)


def test_an_id_sent_twice_with_different_values_is_refused():
    event = {"multiValueHeaders": {"webhook-id": [SPEC_ID, "msg_other"]}}
    with pytest.raises(signature.Unauthenticated, match="webhook-id is given more than once"):
        signature.signature_headers(event)


@pytest.mark.parametrize(("entries", "verifies"), [
    (f"v1a,{'A' * 88} {SPEC_SIGNATURE}", True),  # an asymmetric entry is skipped
    (f"v1,!!not-base64!! {SPEC_SIGNATURE}", True),  # a malformed entry is skipped, never a crash
    (f"v1 {SPEC_SIGNATURE}", True),  # no comma
    (f"v1,{base64.b64encode(b'short').decode()} {SPEC_SIGNATURE}", True),  # wrong length
    (f"{SPEC_SIGNATURE}  ", True),  # stray spaces
    ("v2," + SPEC_SIGNATURE[3:], False),  # the right bytes under another version
    ("v1," + SPEC_SIGNATURE[3:].lower(), False),
    ("," * 5000, False),
    ("v1," + "A" * 100_000, False),
    (" ".join(["v1,AAAA"] * 10_000) + " " + SPEC_SIGNATURE, False),  # beyond the entries any sender sends
])
def test_garbage_signature_headers_are_skipped_not_a_crash(entries, verifies):
    headers = spec_headers(**{"webhook-signature": entries})
    if verifies:
        verify([SPEC_SECRET], headers, SPEC_BODY, SPEC_TIMESTAMP)
    else:
        with pytest.raises(signature.Unauthenticated, match="No matching signature"):
            verify([SPEC_SECRET], headers, SPEC_BODY, SPEC_TIMESTAMP)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"webhook-id": ""}, "Missing signature headers: webhook-id"),
    ({"webhook-signature": "", "webhook-timestamp": ""}, "Missing signature headers: webhook-timestamp, webhook-signature"),
    ({"webhook-timestamp": "1614265330.5"}, "webhook-timestamp must be integer Unix seconds"),
    ({"webhook-timestamp": "-1"}, "webhook-timestamp must be integer Unix seconds"),
    ({"webhook-timestamp": "9" * 40}, "webhook-timestamp must be integer Unix seconds"),
    ({"webhook-timestamp": str(SPEC_TIMESTAMP - 301)}, "Signature timestamp is too old: more than 300 s in the past"),
    ({"webhook-timestamp": str(SPEC_TIMESTAMP + 301)}, "Signature timestamp is too new: more than 300 s in the future"),
])
def test_headers_and_the_window_are_checked_before_any_key(changes, reason):
    with pytest.raises(signature.Unauthenticated) as refused:
        signature.check_headers(spec_headers(**changes), SPEC_TIMESTAMP, TOLERANCE)
    assert str(refused.value) == reason


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_the_window_includes_its_edges(offset):
    signature.check_headers(spec_headers(), SPEC_TIMESTAMP + offset, TOLERANCE)


@pytest.mark.parametrize(("text", "problem"), [
    ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with whsec_"),
    ("whsec_%%%", "is base64"),
    ("whsec_" + base64.b64encode(b"x" * 23).decode(), "24 to 64 bytes, not 23"),
    ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 bytes, not 65"),
])
def test_a_secret_outside_the_scheme_is_refused_without_repeating_it(text, problem):
    with pytest.raises(ValueError, match=problem) as refused:
        signature.decode_secret(text)
    assert text[6:] not in str(refused.value) or len(text) <= 6


def test_new_secrets_are_32_random_bytes():
    first, second = signing.new_secret(), signing.new_secret()
    assert first != second and len(signature.decode_secret(first)) == 32


# -- the reference implementation --------------------------------------------------------------------


def test_what_the_reference_signs_verifies_here():
    now = datetime.now(timezone.utc)
    signed = Webhook(SPEC_SECRET).sign(SPEC_ID, now, SPEC_BODY.decode())
    headers = {"webhook-id": SPEC_ID, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signed}
    verify([SPEC_SECRET], headers, SPEC_BODY, int(now.timestamp()))


def test_what_tapctl_signs_verifies_with_the_reference():
    secret = signing.new_secret()
    body = json.dumps(sample("payment")).encode()
    assert Webhook(secret).verify(body, signing.headers(secret, body)) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", signing.headers(secret, body))


# -- the validator's answers ---------------------------------------------------------------------------


class Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"an unauthenticated request reached AWS: {name}")


@pytest.fixture
def cold_validator(monkeypatch):
    """A new container: no secret read yet, and no dependency may be called."""
    monkeypatch.setenv(validator.TABLE_ENV, "transaction-events-unit")
    monkeypatch.setenv(validator.ROUTER_ENV, "event-router-unit")
    monkeypatch.setenv(validator.SECRET_ENV, SECRET_ARN)
    for service in ("dynamodb", "lambda", "secretsmanager"):
        runtime.use_client(service, Untouchable())
    keys.forget()
    yield
    runtime.reset_clients()
    keys.forget()


def deliver(event):
    return answer(validator.lambda_handler(event, Context()))


def test_an_unsigned_event_is_a_401_without_any_call(cold_validator, capsys):
    assert deliver(proxy_event(sample("payment"), secret=None)) == (
        401, {"error": "Missing signature headers: webhook-id, webhook-timestamp, webhook-signature"})
    [line] = capsys.readouterr().out.splitlines()
    logged = json.loads(line)
    assert (logged["outcome"], logged["status"], logged["error"]) == (
        "unauthenticated", 401, "Missing signature headers: webhook-id, webhook-timestamp, webhook-signature")


def test_a_stale_event_is_a_401_saying_which_way_without_any_call(cold_validator):
    stale = proxy_event(sample("payment"), now=datetime.now(timezone.utc).timestamp() - 3600)
    assert deliver(stale) == (401, {"error": "Signature timestamp is too old: more than 300 s in the past"})
    early = proxy_event(sample("payment"), now=datetime.now(timezone.utc).timestamp() + 3600)
    assert deliver(early) == (401, {"error": "Signature timestamp is too new: more than 300 s in the future"})


def test_a_tampered_body_is_a_401_after_one_secret_read(cold_validator):
    secrets = SecretsClient()
    runtime.use_client("secretsmanager", secrets)
    event = proxy_event(sample("payment"))
    event["body"] = event["body"].replace("149.99", "14999")
    assert deliver(event) == (401, {"error": "No matching signature"})
    assert deliver(event)[0] == 401
    assert secrets.calls == 1  # a cold start reads the secret once; a warm 401 reads nothing


def test_a_signed_bad_body_is_still_a_400(cold_validator):
    runtime.use_client("secretsmanager", SecretsClient())
    assert deliver(proxy_event({"event_id": "x"})) == (400, {"error": "Missing required field: transaction_type"})


@pytest.mark.parametrize("mode", ["report", "off"])
def test_report_and_off_let_unsigned_events_through_to_the_checks(cold_validator, monkeypatch, capsys, mode):
    monkeypatch.setenv(validator.MODE_ENV, mode)
    runtime.use_client("secretsmanager", SecretsClient())
    assert deliver(proxy_event({"event_id": "x"}, secret=None))[0] == 400
    logged = json.loads(capsys.readouterr().out.splitlines()[-1])
    if mode == "report":
        assert logged["signature"] == "invalid: Missing signature headers: webhook-id, webhook-timestamp, webhook-signature"
    else:
        assert "signature" not in logged


def test_an_unknown_mode_is_required(cold_validator, monkeypatch):
    monkeypatch.setenv(validator.MODE_ENV, "Report ")
    assert deliver(proxy_event(sample("payment"), secret=None))[0] == 401


@pytest.mark.parametrize(("value", "cause"), [
    ("not json", "the signing secret is malformed: the secret value is not JSON"),
    ('{"secrets": []}', 'the signing secret is malformed: the secret value has no "secrets" list'),
    (json.dumps({"secrets": [{"secret": TEST_SECRET, "expires_at": 1}]}),
     "every key of the signing secret has expired: run tapctl secret rotate"),
])
def test_a_secret_that_cannot_be_used_fails_closed(cold_validator, capsys, value, cause):
    runtime.use_client("secretsmanager", SecretsClient(value))
    assert deliver(proxy_event(sample("payment"))) == (503, {"error": "Service temporarily unavailable, please retry"})
    printed = capsys.readouterr().out
    logged = json.loads(printed.splitlines()[-1])
    assert logged["outcome"] == "secret_unavailable" and cause in logged["error"]
    assert TEST_SECRET[6:] not in printed


def test_a_secret_value_in_the_contracts_format_verifies(cold_validator):
    runtime.use_client("secretsmanager", SecretsClient(secret_value(signing.new_secret(), TEST_SECRET)))
    event = proxy_event({"event_id": "x"})  # signed with the second (older) secret
    assert deliver(event)[0] == 400  # past the signature, refused by the event's own checks


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Rotating(SecretsClient):
    """Secrets Manager whose value can change (a rotation) or fail (an outage)."""

    failing = False

    def get_secret_value(self, SecretId):
        if self.failing:
            self.calls += 1
            raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "down"}}, "GetSecretValue")
        return super().get_secret_value(SecretId)


@pytest.fixture
def clocked_keys(cold_validator, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(keys, "clock", clock)
    keys.forget()
    secrets = Rotating()
    runtime.use_client("secretsmanager", secrets)
    return clock, secrets


def test_a_new_secret_verifies_at_once_and_forgeries_cannot_multiply_reads(clocked_keys):
    clock, secrets = clocked_keys
    assert deliver(proxy_event({"event_id": "x"}))[0] == 400  # warm, with the old secret
    new = signing.new_secret()
    secrets.value = secret_value(new)  # tapctl secret rotate --grace 0s
    clock.now += 11
    assert deliver(proxy_event({"event_id": "x"}, secret=new))[0] == 400  # one re-read: past the signature
    assert secrets.calls == 2
    for _ in range(100):  # a flood of forgeries within the next 10 s: no further read
        assert deliver(proxy_event({"event_id": "x"}, secret=signing.new_secret()))[0] == 401
    clock.now += 10
    assert deliver(proxy_event({"event_id": "x"}, secret=signing.new_secret()))[0] == 401
    assert secrets.calls == 3  # one more read, 10 s later


def test_a_revoked_secret_verifies_in_a_warm_container_until_its_cache_runs_out(clocked_keys):
    clock, secrets = clocked_keys
    assert deliver(proxy_event({"event_id": "x"}))[0] == 400
    secrets.value = secret_value(signing.new_secret())
    clock.now += validator.DEFAULT_CACHE_SECONDS - 1
    assert deliver(proxy_event({"event_id": "x"}))[0] == 400  # the window README and secret rotate state
    clock.now += 1
    assert deliver(proxy_event({"event_id": "x"}))[0] == 401


def test_keys_held_keep_verifying_while_the_secret_cannot_be_read(clocked_keys, capsys):
    clock, secrets = clocked_keys
    assert deliver(proxy_event({"event_id": "x"}))[0] == 400
    secrets.failing = True
    clock.now += validator.DEFAULT_CACHE_SECONDS
    capsys.readouterr()
    assert deliver(proxy_event({"event_id": "x"}))[0] == 400  # stale keys, not a 503 for everyone
    logged = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert logged["signing_keys"] == "stale: Secrets Manager refused GetSecretValue: InternalServiceError"
    calls = secrets.calls
    assert deliver(proxy_event({"event_id": "x"}))[0] == 400
    assert secrets.calls == calls  # tried again only 10 s later
    clock.now += 10
    secrets.failing = False
    assert deliver(proxy_event({"event_id": "x"}))[0] == 400
    assert "signing_keys" not in json.loads(capsys.readouterr().out.splitlines()[-1])


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_cache_of_zero_or_nonsense_is_the_default(clocked_keys, monkeypatch, value):
    clock, secrets = clocked_keys
    monkeypatch.setenv(validator.CACHE_ENV, value)
    for _ in range(3):
        assert deliver(proxy_event({"event_id": "x"}))[0] == 400
        clock.now += 1
    assert secrets.calls == 1
