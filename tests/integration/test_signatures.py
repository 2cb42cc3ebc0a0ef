"""Signed webhooks on the deployed pipeline: only events signed with the environment's secret get in,
forgeries are refused with a 401 and leave nothing behind, and a rotation keeps the old secret working
for its grace period while the new one works at once (after the validators' short cache, 2 s here)."""

import json
import time

import pytest

from tapctl import signing
from tests.support import sample

CACHE_SECONDS = 2  # tests/conftest.py ITEST_VARIABLES signing_secret_cache_seconds


def recorded(deployment, event_id):
    table = deployment.outputs["dynamodb_table_name"]
    item = deployment.client("dynamodb").get_item(TableName=table, Key={"event_id": {"S": event_id}},
                                                  ConsistentRead=True)
    return "Item" in item


@pytest.mark.parametrize(("forge", "error"), [
    (lambda secret, data: (data, {}), "Missing signature headers: webhook-id, webhook-timestamp, webhook-signature"),
    (lambda secret, data: (data, signing.headers(secret, data, now=time.time() - 301)),
     "Signature timestamp is too old: more than 300 s in the past"),
    (lambda secret, data: (data, signing.headers(secret, data, now=time.time() + 301)),
     "Signature timestamp is too new: more than 300 s in the future"),
    (lambda secret, data: (data.replace(b"149.99", b"1499.9"), signing.headers(secret, data)), "No matching signature"),
    (lambda secret, data: (data, signing.headers(signing.new_secret(), data)), "No matching signature"),
], ids=["unsigned", "stale", "from-the-future", "tampered", "another-secret"])
def test_a_forgery_is_a_401_and_leaves_no_record(deployment, forge, error):
    event = sample("payment")
    data, headers = forge(deployment.secret, json.dumps(event).encode())
    status, body, _ = deployment.post(data, secret=None, headers=headers)
    assert (status, body) == (401, {"error": error})
    assert not recorded(deployment, event["event_id"])


def test_header_names_in_any_case_are_read(deployment):
    event = sample("refund")
    data = json.dumps(event).encode()
    headers = {name.upper(): value for name, value in signing.headers(deployment.secret, data).items()}
    assert deployment.post(data, secret=None, headers=headers)[0] == 200


def test_a_rotation_keeps_the_old_secret_for_its_grace_and_the_new_one_works(deployment):
    old = deployment.secret
    result = deployment.tapctl("secret rotate", "--grace", "1h", "--json")
    assert result.exit_code == 0, result.output
    rotated = json.loads(result.stdout)
    new = rotated["current"]
    assert new != old and [entry["secret"] for entry in rotated["secrets"]] == [new, old]
    assert rotated["secrets"][1]["expires_at"] == pytest.approx(time.time() + 3600, abs=60)
    time.sleep(CACHE_SECONDS + 1)
    for secret in (old, new):
        assert deployment.post(sample("dispute"), secret=secret)[0] == 200, secret == new

    result = deployment.tapctl("secret rotate", "--grace", "0s", "--json")
    assert result.exit_code == 0, result.output
    newest = json.loads(result.stdout)["current"]
    deployment.secret = newest  # for the tests that follow
    time.sleep(CACHE_SECONDS + 1)
    assert deployment.post(sample("dispute"), secret=newest)[0] == 200
    for revoked in (old, new):
        assert deployment.post(sample("dispute"), secret=revoked)[:2] == (401, {"error": "No matching signature"})


def test_a_new_secret_works_at_once_and_recycling_revokes_the_old_one_at_once(local_only):
    # With an hour's cache, only the validator's own re-read (an unmatched signature) and recycling its
    # containers make a rotation take effect before the hour is up.
    from tests.reliability.test_nothing_lost import function_environment

    deployment = local_only
    with function_environment(deployment, "validator_function_name",
                              variables={"SIGNING_SECRET_CACHE_SECONDS": "3600"}):
        assert deployment.post(sample("payment"))[0] == 200  # warm containers holding the current secret
        result = deployment.tapctl("secret rotate", "--grace", "0s", "--json")
        assert result.exit_code == 0, result.output
        rotated = json.loads(result.stdout)
        assert rotated["old_secret_verifies_for_seconds"] == 3600
        revoked, deployment.secret = deployment.secret, rotated["current"]
        # Within seconds, not the hour: a container re-reads at most every 10 s, and it has just read.
        deadline = time.monotonic() + 15
        while deployment.post(sample("payment"))[0] != 200:
            assert time.monotonic() < deadline, "the new secret was not accepted within 15 s"
            time.sleep(0.5)

        result = deployment.tapctl("secret rotate", "--grace", "0s", "--recycle")
        assert result.exit_code == 0, result.output
        assert "the validator's containers were recycled" in result.stdout
        stale = [deployment.secret, revoked]
        deployment.secret = json.loads(deployment.tapctl("secret show", "--json").stdout)["current"]
        for secret in stale:  # no warm container holds them any more
            assert deployment.post(sample("refund"), secret=secret)[:2] == (401, {"error": "No matching signature"})
        assert deployment.post(sample("refund"))[0] == 200
        configuration = deployment.client("lambda").get_function_configuration(
            FunctionName=deployment.outputs["validator_function_name"])
        assert "recycled" not in configuration.get("Description", "")  # as terraform deployed it: no drift


def test_sign_prints_headers_a_sender_can_use(deployment, tmp_path):
    body = tmp_path / "event.json"
    body.write_bytes(json.dumps(sample("payment")).encode())
    result = deployment.tapctl("sign", "--file", str(body), "--json")
    assert result.exit_code == 0, result.output
    headers = json.loads(result.stdout)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert deployment.post(body.read_bytes(), secret=None, headers=headers)[0] == 200
    assert deployment.post(body.read_bytes(), secret=None, headers=headers)[:2] == (409, {"error": "Duplicate event"})


def test_sign_curl_sends_a_signed_event(deployment, tmp_path):
    import subprocess

    body = tmp_path / "event.json"
    body.write_bytes(json.dumps(sample("refund")).encode())
    result = deployment.tapctl("sign", "--file", str(body), "--curl")
    assert result.exit_code == 0, result.output
    answer = subprocess.run(["sh", "-c", result.stdout], capture_output=True, text=True, timeout=30).stdout
    assert json.loads(answer)["message"] == "Event validated and queued for processing"
