"""The validator's signing secret against a real moto server: read once per container and again after
its cache period (so a rotation reaches warm containers), and fail closed when it cannot be read."""

import json

import boto3
import pytest

from handlers import runtime, validator
from handlers.signing_keys import keys
from tapctl import signing
from tests.support import TEST_SECRET, Context, answer, proxy_event, sample


class Clock:
    """The cache's clock (monotonic seconds), moved by the test instead of waiting."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(keys, "clock", fake)
    return fake


@pytest.fixture
def reads(pipeline):
    made = []
    runtime.client("secretsmanager").meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: made.append(1))
    return made


def deliver(event):
    return answer(validator.lambda_handler(event, Context()))


def test_the_secret_is_read_once_per_container(pipeline, reads, clock):
    for _ in range(5):
        assert deliver(proxy_event(sample("payment")))[0] == 200
    assert deliver(proxy_event(sample("refund"), secret=signing.new_secret()))[0] == 401
    assert len(reads) == 1


def test_a_rotation_reaches_a_warm_container_at_its_first_new_signature(pipeline, reads, clock, monkeypatch):
    monkeypatch.setenv(validator.CACHE_ENV, "300")
    assert deliver(proxy_event(sample("payment")))[0] == 200
    new = signing.new_secret()
    value = signing.rotated([{"secret": TEST_SECRET, "expires_at": None}], now=0, grace_seconds=0, secret=new)
    boto3.client("secretsmanager").put_secret_value(SecretId=pipeline.secret_arn, SecretString=signing.value(value))

    clock.now += 60  # still cached, and the old key still verifies: nothing tells the container to look
    assert deliver(proxy_event(sample("payment")))[0] == 200
    # The new key matches nothing held: the container reads the secret again, once, and knows it.
    assert deliver(proxy_event(sample("payment"), secret=new))[0] == 200
    assert deliver(proxy_event(sample("payment"))) == (401, {"error": "No matching signature"})
    assert len(reads) == 2


def unavailable(pipeline, capsys):
    event = sample("payment")
    status = deliver(proxy_event(event))
    logged = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert pipeline.record(event["event_id"]) is None and pipeline.invokes == []
    return status, logged


def test_a_secret_without_a_value_fails_closed(pipeline, capsys, monkeypatch):
    empty = boto3.client("secretsmanager").create_secret(Name="webhook-signing-empty")["ARN"]  # as terraform leaves it
    monkeypatch.setenv(validator.SECRET_ENV, empty)
    status, logged = unavailable(pipeline, capsys)
    assert status == (503, {"error": "Service temporarily unavailable, please retry"})
    assert (logged["outcome"], logged["status"]) == ("secret_unavailable", 503)
    assert "the signing secret has no value yet: run tapctl secret rotate" in logged["error"]


def test_secrets_manager_down_fails_closed(pipeline, capsys, monkeypatch, unused_port):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{unused_port}")
    runtime.reset_clients()
    status, logged = unavailable(pipeline, capsys)
    assert status[0] == 503
    assert "Secrets Manager is unreachable: EndpointConnectionError" in logged["error"]


def test_a_secret_the_function_may_not_read_fails_closed(pipeline, capsys, monkeypatch):
    monkeypatch.setenv(validator.SECRET_ENV, pipeline.secret_arn.replace("webhook-signing-test", "webhook-signing-gone"))
    status, logged = unavailable(pipeline, capsys)
    assert status[0] == 503 and logged["outcome"] == "secret_unavailable"
