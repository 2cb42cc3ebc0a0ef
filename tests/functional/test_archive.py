"""The evidence archive against a real moto server (an Object Lock bucket): each accepted request is
archived by the router once its message is queued, byte-exact with its headers and verdict, found by
event_id and listed by time; an archive write that fails leaves the event queued once and pending, and
the next hand-over archives it without sending it again."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from handlers import archive, records, router, runtime, signing_keys, validator
from tapctl import providers
from tests.functional.test_validator_sources import SECRETS, enabled, handle, post  # noqa: F401 (fixture)
from tests.support import Context, proxy_event, sample


def route(pipeline):
    payload = pipeline.invokes[-1]["payload"]
    return router.lambda_handler(json.loads(json.dumps(payload)), Context(function_name="event-router-test"))


def received_keys(pipeline):
    listed = boto3.client("s3").list_objects_v2(Bucket=pipeline.bucket, Prefix=archive.RECEIVED_PREFIX)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_an_accepted_event_is_archived_byte_exact_once_it_is_queued(pipeline):
    event = sample("payment")
    text = json.dumps(event, indent=1).replace('"amount": 149.99', '"amount": 149.990')  # as the sender wrote it
    proxy = proxy_event(text, headers={"User-Agent": "acme-billing/2.1"})
    proxy["requestContext"]["identity"] = {"sourceIp": "203.0.113.7", "userAgent": "acme-billing/2.1"}
    assert validator.lambda_handler(proxy, Context())["statusCode"] == 200
    assert pipeline.archived(event["event_id"]) is None  # the router archives, not the sender's path
    result = route(pipeline)

    evidence = pipeline.archived(event["event_id"])
    [message] = pipeline.messages("payment")
    assert evidence["message_body"] == message["Body"] and '"amount":149.990' in message["Body"]
    request = evidence["request"]
    assert archive.body_bytes(request) == text.encode("utf-8")
    assert request["headers"] == proxy["multiValueHeaders"]  # the signature headers included: they are the proof
    assert (request["api_request_id"], request["source_ip"], request["user_agent"]) == (
        proxy["requestContext"]["requestId"], "203.0.113.7", "acme-billing/2.1")
    assert evidence["verification"]["verdict"] == "valid" and evidence["verification"]["key_version"] == 0
    assert evidence["verification"]["secret_arn"] == pipeline.secret_arn
    assert evidence["verification"]["secret_version"]  # the version tapctl archive get verifies against
    assert (evidence["source"], evidence["event_id"], evidence["transaction_type"]) == ("webhook", event["event_id"], "payment")
    assert evidence["received_at"] == json.loads(message["Body"])["received_at"]
    # Found by time: one index key, whose parts say what it is without a GET.
    [key] = received_keys(pipeline)
    assert archive.parse_received_key(key) == {"source": "webhook", "received_at": evidence["received_at"],
                                               "transaction_type": "payment", "event_id": event["event_id"],
                                               "event_key": archive.event_key(event["event_id"])}
    # Confirmed only now: the record keeps neither the message nor the evidence.
    assert not {"message_body", "evidence", "pending_due"} & set(pipeline.record(event["event_id"]))
    assert result["event_id"] == event["event_id"]


def test_an_archived_version_cannot_be_deleted(pipeline):
    event = sample("refund")
    assert validator.lambda_handler(proxy_event(event), Context())["statusCode"] == 200
    route(pipeline)
    s3 = boto3.client("s3")
    [version] = s3.list_object_versions(Bucket=pipeline.bucket, Prefix=archive.evidence_key(event["event_id"]))["Versions"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=pipeline.bucket, Key=archive.evidence_key(event["event_id"]), VersionId=version["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


class FailingPuts:
    """An S3 client whose puts fail as a throttled or unreachable S3 would (nothing real fails on cue)."""

    def put_object(self, **_):
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "PutObject")


def test_a_failed_archive_write_is_repaired_without_sending_the_message_again(pipeline, capsys):
    event = sample("dispute")
    assert validator.lambda_handler(proxy_event(event), Context())["statusCode"] == 200
    payload = pipeline.invokes[-1]["payload"]
    real = runtime.client("s3")
    runtime.use_client("s3", FailingPuts())
    try:
        with pytest.raises(ClientError):  # the invocation fails: Lambda retries it, else the sweeper does
            route(pipeline)
    finally:
        runtime.use_client("s3", real)
    record = pipeline.record(event["event_id"])
    assert "message_body" in record and "routing_until" not in record  # still pending, lease given back
    [queued] = pipeline.messages("dispute")
    assert record[records.QUEUED_ATTRIBUTE]["S"].split(" ")[0] == queued["MessageId"]
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["outcome"] == "failed"

    line = router.lambda_handler(json.loads(json.dumps(payload)), Context(function_name="event-router-test"))
    assert line["message_id"] == queued["MessageId"]  # the message it sent before, not a new one
    counts = boto3.client("sqs").get_queue_attributes(
        QueueUrl=pipeline.queue_urls["dispute"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert sum(map(int, counts.values())) == 1  # the one received above, and no other
    assert pipeline.archived(event["event_id"])["message_body"] == queued["Body"]
    assert not set(records.OUTBOX_ATTRIBUTES) & set(pipeline.record(event["event_id"]))


def test_a_record_of_an_earlier_release_is_archived_with_what_it_holds(pipeline):
    # A pending record written before the archive existed has no evidence: the event is archived with its
    # message, and says it has no request.
    event = sample("payment")
    assert validator.lambda_handler(proxy_event(event), Context())["statusCode"] == 200
    boto3.client("dynamodb").update_item(TableName=pipeline.table, Key={"event_id": {"S": event["event_id"]}},
                                         UpdateExpression="REMOVE evidence")
    route(pipeline)
    evidence = pipeline.archived(event["event_id"])
    assert (evidence["source"], evidence["request"], evidence["verification"]) == ("webhook", None, None)
    assert json.loads(evidence["message_body"])["event_id"] == event["event_id"]


def test_a_provider_batch_is_archived_per_event_naming_all_its_events(enabled):
    batch, first = providers.sample("adyen", "payment")
    second_batch, second = providers.sample("adyen", "refund")
    batch["notificationItems"] += second_batch["notificationItems"]
    proxy, _ = post("adyen", document=batch)
    response, logged = handle(proxy)
    assert response["statusCode"] == 200 and [line["outcome"] for line in logged] == ["accepted", "accepted"]
    for invoke in list(enabled.invokes):
        router.lambda_handler(json.loads(json.dumps(invoke["payload"])), Context(function_name="event-router-test"))
    ids = [f"adyen:{first}", f"adyen:{second}"]
    documents = [enabled.archived(event_id) for event_id in ids]
    for document, event_id in zip(documents, ids):
        assert document["event_id"] == event_id and document["source"] == "adyen"
        assert [named["event_id"] for named in document["events"]] == ids
        assert archive.body_bytes(document["request"]) == proxy["body"].encode("utf-8")
        assert document["verification"]["scheme"] == "adyen-hmac-sha256"
    assert sorted(archive.parse_received_key(key)["event_id"] for key in received_keys(enabled)) == sorted(ids)


def test_a_refused_request_is_not_archived(enabled):
    proxy, provider_id = post("stripe", secret="whsec_someone_else")
    response, _ = handle(proxy)
    assert response["statusCode"] == 401
    assert enabled.invokes == [] and received_keys(enabled) == []
    signing_keys.forget_sources()
