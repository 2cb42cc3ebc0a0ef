"""Bad input at volume: generated malformed and hostile requests through the validator. Every answer is
a 4xx with an error; nothing is written and nothing is invoked.

Each request is invalid by construction, starting from a valid event and mutating it: either its body
breaks at least one rule of the contract (and is correctly signed, so the body's checks answer), or
its signature is forged, stale, missing or garbage (and the body is valid, so the signature answers).
RELIABILITY_FUZZ_COUNT sets how many (default 100 000; `make fuzz`: 1 000 000).
"""

import base64
import decimal
import json
import math
import time
import os
import random

import pytest

from handlers import event as events
from handlers import runtime, validator
from handlers.signing_keys import REFRESH_SECONDS, keys
from tapctl import signing
from tests.support import HOSTILE_NUMBERS, SECRET_ARN, TEST_SECRET, Context, SecretsClient

COUNT = int(os.environ.get("RELIABILITY_FUZZ_COUNT", "100000"))
VALID = {"event_id": "evt-1", "transaction_type": "payment", "amount": 12.5, "timestamp": "2026-11-29T17:45:00Z"}
JUNK_VALUES = [None, True, False, 0, -1, 1e308, "", " ", "payment ", [], {}, [1, 2], {"a": 1}, "\u0000", "💸", 10**40]


class Counting:
    """Counts any call: for bad input there must be none."""

    def __init__(self):
        self.calls = 0

    def __getattr__(self, name):
        def call(**kwargs):
            self.calls += 1
            return {"StatusCode": 202}

        return call


def _event(rng):
    event = dict(VALID, event_id=f"evt-{rng.randrange(10**9)}")
    for _ in range(rng.randrange(4)):
        event[f"x{rng.randrange(100)}"] = rng.choice(JUNK_VALUES)
    return event


def _text(event):
    return json.dumps(event)


def wrong_type(rng):
    event = _event(rng)
    field = rng.choice(events.REQUIRED_FIELDS)
    bad = {
        "event_id": [None, 1, True, [], {}, "", "e" * 257],
        "transaction_type": [None, 1, "Payment", "chargeback", "", ["payment"], {"t": "payment"}],
        "amount": [None, True, False, "12.50", [], {}, "NaN"],
        "timestamp": [None, 1764438300, "", "yesterday", "2026-11-29", "2026-11-29T17:45:00", "2026-02-30T00:00:00Z",
                      "2026-11-29T24:00:00Z", "2026-11-29T17:45:00+25:00", "2026-11-29T17:45:00Z\n"],
    }[field]
    event[field] = rng.choice(bad)
    return _text(event).encode()


def missing_field(rng):
    event = _event(rng)
    del event[rng.choice(events.REQUIRED_FIELDS)]
    return _text(event).encode()


def truncated(rng):
    text = _text(_event(rng))
    return text[: rng.randrange(0, len(text) - 1)].encode()


def non_finite(rng):
    return _text(_event(rng)).replace("12.5", rng.choice(["NaN", "Infinity", "-Infinity"])).encode()


def huge_number(rng):
    digits = rng.choice([39, 200, 5000, 100_000])
    return _text(_event(rng)).replace("12.5", rng.choice(["9" * digits, "1e400", "-1e127", "1e-131"])).encode()


def hostile_number(rng):
    # In an extra field (the amount has its own range check): each is a 400, never a decimal signal's 5xx.
    return (_text(_event(rng))[:-1] + f', "meta": {{"n": {rng.choice(HOSTILE_NUMBERS)}}}' + "}").encode()


def deep_nesting(rng):
    depth = rng.choice([33, 100, 1000, 50_000 // 2])
    return (_text(_event(rng))[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}").encode()


def duplicate_key(rng):
    field = rng.choice(events.REQUIRED_FIELDS)
    text = _text(_event(rng))
    return (text[:-1] + f", {json.dumps(field)}: {json.dumps(VALID[field])}" + "}").encode()


def invalid_utf8(rng):
    data = bytearray(_text(_event(rng)).encode())
    data.insert(rng.randrange(len(data)), rng.choice([0xFF, 0xC0, 0x80, 0xED]))
    return bytes(data)


def lone_surrogate(rng):
    return (_text(_event(rng))[:-1] + ', "note": "\\ud83d"}').encode()


def not_an_object(rng):
    return json.dumps(rng.choice([[VALID], "payment", 12.5, None, True, [], ""])).encode()


def oversized(rng):
    event = _event(rng)
    event["pad"] = "x" * (events.MAX_BODY_BYTES + rng.randrange(1, 10_000))
    return _text(event).encode()


def random_bytes(rng):
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).replace(b"{", b"[")


def unsigned(rng):
    return _text(_event(rng)).encode(), {}


def another_secret(rng):
    body = _text(_event(rng)).encode()
    return body, signing.headers(signing.new_secret(), body)


def stale_or_early(rng):
    body = _text(_event(rng)).encode()
    return body, signing.headers(TEST_SECRET, body, now=_now() + rng.choice([-1, 1]) * rng.randrange(301, 10**8))


def garbage_headers(rng):
    body = _text(_event(rng)).encode()
    headers = signing.headers(TEST_SECRET, body)
    name = rng.choice(list(headers))
    headers[name] = rng.choice([
        "", " ", "v1", "v1,", "v1a," + "A" * 88, ",".join(["v1"] * rng.randrange(1, 50)), "\x00" * 10,
        headers[name][::-1], headers[name] + "x", "v1," + "A" * rng.randrange(1, 10_000), "12.5", "-1", "1e9",
        bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 300))).decode(),
    ])
    if name == "webhook-signature" and headers[name] == "":
        del headers[name]
    return body, headers


def tampered(rng):
    body = _text(_event(rng)).encode()
    headers = signing.headers(TEST_SECRET, body)
    index = rng.randrange(len(body))
    return body[:index] + bytes([body[index] ^ (1 << rng.randrange(7))]) + body[index + 1:], headers


def _now():
    return time.time()


MUTATIONS = [wrong_type, missing_field, truncated, non_finite, huge_number, hostile_number, deep_nesting, duplicate_key,
             invalid_utf8, lone_surrogate, not_an_object, oversized, random_bytes,
             unsigned, another_secret, stale_or_early, garbage_headers, tampered]


def proxy(made, rng):
    """A proxy event for a mutation's body (signed correctly) or (body, headers) (a forged signature)."""
    body, headers = made if isinstance(made, tuple) else (made, signing.headers(TEST_SECRET, made))
    headers = {rng.choice([str.lower, str.title, str.upper])(name): value for name, value in headers.items()}
    if rng.random() < 0.3 or body and not _utf8(body):
        if rng.random() < 0.1:
            return {"body": base64.b64encode(body).decode()[:-2] + "!@", "isBase64Encoded": True, "headers": headers}
        return {"body": base64.b64encode(body).decode(), "isBase64Encoded": True, "headers": headers}
    return {"body": body.decode("utf-8"), "isBase64Encoded": False, "headers": headers}


def _utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.fixture
def counting(monkeypatch):
    monkeypatch.setenv(validator.TABLE_ENV, "t")
    monkeypatch.setenv(validator.ROUTER_ENV, "r")
    monkeypatch.setenv(validator.SECRET_ENV, SECRET_ARN)
    clients = {"dynamodb": Counting(), "lambda": Counting(), "secretsmanager": SecretsClient()}
    for service, client in clients.items():
        runtime.use_client(service, client)
    keys.forget()
    yield clients
    runtime.reset_clients()
    keys.forget()


def test_malformed_and_hostile_bodies_never_reach_a_dependency(counting, capsys):
    rng = random.Random(20261129)
    statuses, by_kind = {}, {}
    started = time.monotonic()
    # Every decimal signal traps (raises): whatever a number does inside the validator, it cannot pass unseen.
    with decimal.localcontext() as context:
        context.traps.update(dict.fromkeys(context.traps, True))
        for number in range(COUNT):
            mutation = MUTATIONS[number % len(MUTATIONS)]
            response = validator.lambda_handler(proxy(mutation(rng), rng), Context())
            status = response["statusCode"]
            error = json.loads(response["body"]).get("error")
            assert 400 <= status < 500 and isinstance(error, str) and error, (mutation.__name__, response)
            statuses[status] = statuses.get(status, 0) + 1
            by_kind[mutation.__name__] = by_kind.get(mutation.__name__, 0) + 1
            if number % 2000 == 0:
                capsys.readouterr()  # the log lines of the rejected requests
    assert counting["dynamodb"].calls == 0 and counting["lambda"].calls == 0
    # The cold start's one read, and a forgery's re-read at most once per REFRESH_SECONDS.
    assert counting["secretsmanager"].calls <= 1 + math.ceil((time.monotonic() - started) / REFRESH_SECONDS)
    assert sum(statuses.values()) == COUNT and set(statuses) == {400, 401, 413}
    assert set(by_kind) == {mutation.__name__ for mutation in MUTATIONS}
    capsys.readouterr()
    print(f"fuzz: {COUNT} requests of {len(by_kind)} kinds; answers {dict(sorted(statuses.items()))}; "
          f"0 DynamoDB calls, 0 invokes, {counting['secretsmanager'].calls} secret reads")
