"""The AWS calls each handler makes per event, counted with botocore's event hooks against moto: the
handlers' lean path is a contract (bench/handlers.py reports the same counts)."""

import io
from contextlib import redirect_stdout

import pytest

from handlers import router, runtime, validator
from tapctl import signing
from tests.support import Context, proxy_event, sample


@pytest.fixture
def calls(pipeline):
    made = []
    for service in ("dynamodb", "lambda", "sqs", "secretsmanager"):
        runtime.client(service).meta.events.register(
            "before-call", lambda event_name, **_: made.append(event_name.split(".", 1)[1])
        )
    return made


def operations(calls, handler, event):
    calls.clear()
    with redirect_stdout(io.StringIO()):  # the handlers' log lines
        handler(event, Context())
    return list(calls)


def test_the_validator_makes_two_calls_for_a_new_event_one_for_a_duplicate_none_for_a_bad_body(calls):
    # A cold start reads the signing secret once; warm events make 2 / 1 / 0 calls, a bad signature none.
    assert operations(calls, validator.lambda_handler, proxy_event(sample("refund"))) == [
        "secrets-manager.GetSecretValue", "dynamodb.PutItem", "lambda.Invoke"]
    event = sample("payment")
    assert operations(calls, validator.lambda_handler, proxy_event(event)) == ["dynamodb.PutItem", "lambda.Invoke"]
    assert operations(calls, validator.lambda_handler, proxy_event(event)) == ["dynamodb.PutItem"]
    assert operations(calls, validator.lambda_handler, proxy_event({"event_id": "x"})) == []
    assert operations(calls, validator.lambda_handler, proxy_event(event, secret=None)) == []
    assert operations(calls, validator.lambda_handler, proxy_event(event, secret=signing.new_secret())) == []


def test_the_router_makes_three_calls_per_event_lease_send_and_confirm(calls, pipeline):
    validator.lambda_handler(proxy_event(sample("refund")), Context())
    payload = pipeline.invokes[-1]["payload"]
    assert operations(calls, router.lambda_handler, payload) == [
        "dynamodb.UpdateItem", "sqs.SendMessage", "dynamodb.UpdateItem"]
    assert operations(calls, router.lambda_handler, payload) == ["dynamodb.UpdateItem"]  # routed: one call
