"""The evidence archive of the deployed local pipeline: every accepted request, canonical and from each
payment provider, archived once with its exact bytes and headers; write-once (a DeleteObject of a locked
version is refused); found by event_id (tapctl archive get, byte for byte with --raw, its signature
verified again) and by time (tapctl archive list); re-delivered by tapctl replay --from-archive, once per
event, marked as a replay; shown by tapctl trace."""

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from handlers import archive
from tapctl import providers
from tapctl.config import QUEUE_OUTPUTS, SOURCES
from tests.conftest import SOURCE_SECRETS
from tests.integration.test_operate import drain, eventually, tapctl_json
from tests.support import sample


def _iso(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def sent(deployment):
    """One canonical event of each type, written as a sender might (spacing, key order, a trailing zero), and
    one refund from each provider: ``{event_id: (bytes sent, source, transaction_type)}``, all routed."""
    for output in QUEUE_OUTPUTS.values():
        drain(deployment, output, wait=2)
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    found = {}
    for transaction_type in ("payment", "refund", "dispute"):
        event = sample(transaction_type)
        body = json.dumps(event, indent=2).replace('"amount": 149.99', '"amount": 149.990').encode("utf-8")
        assert deployment.post(body)[0] == 200
        found[event["event_id"]] = (body, "webhook", transaction_type)
    routes = deployment.outputs["webhook_sources"]
    for source in SOURCES:
        document, provider_id = providers.sample(source, "refund", 1050, "JPY")
        headers, body = providers.signed(source, document, SOURCE_SECRETS[source],
                                         url=routes[source].get("notification_url") or routes[source]["url"],
                                         event_id=provider_id)
        assert providers.post(routes[source]["url"], headers, body)[0] == 200
        event_id = f"{source}:{provider_id}"
        found[event_id] = (body, source, "refund")
    s3, bucket = deployment.client("s3"), deployment.outputs["archive_bucket_name"]

    def all_archived():
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=archive.EVENTS_PREFIX).get("Contents", [])
        keys = {item["Key"] for item in listed}
        return all(archive.evidence_key(event_id) in keys for event_id in found)

    assert eventually(all_archived, wait=30), "not every accepted event was archived within 30 s"
    return {"events": found, "since": _iso(started), "until": _iso(datetime.now(timezone.utc) + timedelta(seconds=1))}


def test_each_accepted_request_is_archived_once_byte_exact_with_its_headers(deployment, sent):
    s3, bucket = deployment.client("s3"), deployment.outputs["archive_bucket_name"]
    for event_id, (body, source, transaction_type) in sent["events"].items():
        versions = s3.list_object_versions(Bucket=bucket, Prefix=archive.evidence_key(event_id))["Versions"]
        assert len(versions) == 1, (event_id, versions)  # archived once
        evidence = json.loads(s3.get_object(Bucket=bucket, Key=archive.evidence_key(event_id))["Body"].read())
        assert archive.body_bytes(evidence["request"]) == body, event_id
        assert (evidence["source"], evidence["transaction_type"]) == (source, transaction_type)
        headers = {name.lower() for name in evidence["request"]["headers"]}
        proof = {"webhook-signature", "webhook-id"} if source == "webhook" else set()
        assert proof <= headers and "content-type" in headers, (event_id, headers)
        assert evidence["verification"]["verdict"] == "valid" and evidence["request"]["api_request_id"]
        lock = s3.head_object(Bucket=bucket, Key=archive.evidence_key(event_id))
        assert lock["ObjectLockMode"] == "GOVERNANCE" and lock["ServerSideEncryption"] == "aws:kms"


def test_an_archived_version_refuses_deletion(deployment, sent):
    s3, bucket = deployment.client("s3"), deployment.outputs["archive_bucket_name"]
    event_id = next(iter(sent["events"]))
    key = archive.evidence_key(event_id)
    [version] = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])["Body"].read()


def test_archive_get_gives_the_exact_bytes_and_verifies_them_again(deployment, sent):
    for event_id, (body, source, _) in sent["events"].items():
        raw = deployment.tapctl("archive get", event_id, "--raw")
        assert raw.exit_code == 0, raw.output
        assert raw.stdout_bytes == body, event_id
        report = tapctl_json(deployment, "archive get", event_id)
        assert report["verified_again"]["result"] == "valid", (event_id, report["verified_again"])
        assert report["archive"]["lock"]["mode"] == "GOVERNANCE"
    text = deployment.tapctl("archive get", next(iter(sent["events"]))).stdout
    assert "verified now valid: standard-webhooks-v1, key version 0" in text
    # A provider's own id finds its event too.
    for source in ("stripe", "adyen"):  # Adyen's own ids hold colons too
        named = next(event_id for event_id in sent["events"] if event_id.startswith(f"{source}:"))
        assert tapctl_json(deployment, "archive get", named.split(":", 1)[1])["event_id"] == named
    missing = deployment.tapctl("archive get", "evt_never_sent")
    assert missing.exit_code != 0 and "no evidence of evt_never_sent" in missing.output


def test_archive_list_finds_a_time_range_by_source_and_type(deployment, sent):
    window = ("--since", sent["since"], "--until", sent["until"])
    listed = tapctl_json(deployment, "archive list", *window)["events"]
    ours = [entry for entry in listed if entry["event_id"] in sent["events"]]
    assert {entry["event_id"] for entry in ours} == set(sent["events"])
    assert [entry["received_at"] for entry in listed] == sorted(entry["received_at"] for entry in listed)
    refunds = tapctl_json(deployment, "archive list", *window, "--type", "refund")["events"]
    assert {entry["event_id"] for entry in refunds} >= {event_id for event_id, (_, _, kind) in sent["events"].items()
                                                        if kind == "refund"}
    assert {entry["transaction_type"] for entry in refunds} == {"refund"}
    stripe = tapctl_json(deployment, "archive list", *window, "--source", "stripe")["events"]
    assert [entry["event_id"] for entry in stripe] == [event_id for event_id in sent["events"] if event_id.startswith("stripe:")]
    before = tapctl_json(deployment, "archive list", "--since", "2026-01-01", "--until", sent["since"])["events"]
    assert not {entry["event_id"] for entry in before} & set(sent["events"])  # a range ends where it says
    wrong = deployment.tapctl("archive list", "--since", "2026-12-02", "--until", "2026-12-01")
    assert wrong.exit_code != 0 and "is not after" in wrong.output


def test_replay_from_the_archive_re_delivers_each_event_once_marked(deployment, sent):
    window = ("--since", sent["since"], "--until", sent["until"], "--type", "refund")
    for output in QUEUE_OUTPUTS.values():
        drain(deployment, output, wait=2)
    refunds = {event_id: body for event_id, (body, _, kind) in sent["events"].items() if kind == "refund"}
    dry = tapctl_json(deployment, "replay", "--from-archive", *window, "--dry-run")
    assert set(refunds) <= set(dry["would_replay"])
    time.sleep(1)
    assert _received(deployment, "refunds_queue_url", wait=1) == []  # a dry run sends nothing
    result = tapctl_json(deployment, "replay", "--from-archive", *window)
    assert set(refunds) <= set(result["replayed"]) and result["failed"] == []
    messages = _received(deployment, "refunds_queue_url", until=len(result["replayed"]))
    replayed = {message["MessageAttributes"]["event_id"]["StringValue"]: message for message in messages}
    assert len(replayed) == len(messages) == len(result["replayed"])  # each once
    s3, bucket = deployment.client("s3"), deployment.outputs["archive_bucket_name"]
    for event_id in refunds:
        message = replayed[event_id]
        assert message["MessageAttributes"]["replay"]["StringValue"] == "true"
        evidence = json.loads(s3.get_object(Bucket=bucket, Key=archive.evidence_key(event_id))["Body"].read())
        assert message["MessageAttributes"]["received_at"]["StringValue"] == evidence["received_at"]
        assert message["Body"] == evidence["message_body"]  # exactly the message first queued


def _received(deployment, output, until=0, wait=10.0):
    sqs, url, found = deployment.client("sqs"), deployment.outputs[output], []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    MessageAttributeNames=["All"]).get("Messages", [])
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        found += batch
        if until and len(found) >= until:
            break
    return found


def test_trace_shows_the_archived_object(deployment, sent):
    event_id = next(iter(sent["events"]))
    report = tapctl_json(deployment, "trace", event_id)
    assert report["archive"]["key"] == archive.evidence_key(event_id) and report["archive"]["version"]
    assert "archive     s3://" in deployment.tapctl("trace", event_id).stdout


def test_status_names_the_archive_and_its_lock(deployment):
    report = tapctl_json(deployment, "status")
    assert report["archive"] == {"bucket": deployment.outputs["archive_bucket_name"], "mode": "GOVERNANCE",
                                 "retention_days": 1}
    assert f"archive   s3://{deployment.outputs['archive_bucket_name']}: GOVERNANCE lock, 1 day" in \
        deployment.tapctl("status").stdout
