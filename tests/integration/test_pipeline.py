"""The deployed pipeline end to end, through its public endpoint."""

import json
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import jsonschema
import pytest
from click.testing import CliRunner

from tapctl import signing
from tapctl.cli import main
from tapctl.config import QUEUE_OUTPUTS, SOURCES
from tests.support import TRANSACTION_TYPES, deliver, malformed_cases, sample, schema


def receive_all(sqs, url, wait=10.0, until=None):
    """Receive (and delete) messages until ``until(messages so far)`` holds or ``wait`` seconds pass.

    Other tests' late messages may arrive first, so the condition names the message awaited."""
    found, deadline = [], time.monotonic() + wait
    while time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    MessageAttributeNames=["All"], AttributeNames=["All"]).get("Messages", [])
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        found.extend(batch)
        if until is not None and until(found):
            break
    return found


def has_event(event_id):
    return lambda messages: any(event_id in message["Body"] for message in messages)


def test_smoke_test_passes(deployment):
    result = deployment.tapctl("smoke-test")
    assert result.exit_code == 0, result.output
    # 13 checks of POST /webhook, then 10 of each source the session enables (tests/conftest.py): its three
    # events accepted, routed as the exact message and acknowledged again as duplicates; a forgery refused.
    assert result.stdout.splitlines()[-1] == f"{13 + 10 * len(SOURCES)}/{13 + 10 * len(SOURCES)} checks passed"
    for check in ("refuse unsigned event", "refuse stale signature", "refuse tampered body",
                  *(f"{step} {name} dispute" for name in SOURCES for step in ("accept", "route", "duplicate")),
                  *(f"refuse forged {name}" for name in SOURCES)):
        assert f"PASS  {check}" in result.stdout


def test_a_backlog_survives_three_smoke_tests_in_its_queues(deployment):
    # A smoke test never receives from a live queue: each receive would count toward maxReceiveCount (3),
    # and three smoke tests would move a waiting backlog into the DLQs.
    sqs = deployment.client("sqs")
    queues = {kind: deployment.outputs[output] for kind, output in QUEUE_OUTPUTS.items()}
    dlqs = [deployment.outputs[output.replace("_queue_url", "_dlq_url")] for output in QUEUE_OUTPUTS.values()]
    for url in [*queues.values(), *dlqs]:
        receive_all(sqs, url, wait=2)  # what other tests left
    backlog = {}
    for kind, url in queues.items():
        for number in range(25):
            marker = f"backlog-{kind}-{number}-{uuid.uuid4().hex[:8]}"
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"event_id": marker}),
                             MessageAttributes={"event_id": {"DataType": "String", "StringValue": marker}})
            backlog[marker] = kind
    for _ in range(3):
        result = deployment.tapctl("smoke-test")
        assert result.exit_code == 0, result.output
    for kind, url in queues.items():
        mine = {m["MessageAttributes"]["event_id"]["StringValue"]: m["Attributes"]["ApproximateReceiveCount"]
                for m in receive_all(sqs, url, wait=3) if m["MessageAttributes"]["event_id"]["StringValue"] in backlog}
        assert mine == {marker: "1" for marker, its in backlog.items() if its == kind}  # received once: now
    assert [receive_all(sqs, url, wait=1) for url in dlqs] == [[], [], []]


def test_smoke_test_of_an_endpoint_alone_needs_the_secret(deployment):
    result = CliRunner().invoke(main, ["smoke-test", "--endpoint", deployment.url, "--secret", deployment.secret])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "10/10 checks passed"  # no queue checks without the outputs
    result = CliRunner().invoke(main, ["smoke-test", "--endpoint", deployment.url])
    assert result.exit_code == 1
    assert "got 401" in result.stdout and "the environment requires signed webhooks, give --secret" in result.stdout


def test_a_plan_right_after_the_deploy_shows_no_changes_and_no_drift(local_only):
    """The first refresh after a create reads back attributes the provider stored differently (empty
    tags for null, the roles' inline policies); tapctl shows drift only where the plan changes something.
    The deploy had a var-file and this plan has none: the environment's record supplies it."""
    result = local_only.tapctl("plan")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{local_only.env}: no changes"]
    assert "Drift detected" not in result.stderr


def test_the_validator_may_invoke_the_deployed_router_and_nothing_else(deployment):
    """The module names the router's ARN before the router exists; it must be the ARN it then gets."""
    iam = deployment.client("iam")
    role = deployment.client("lambda").get_function_configuration(
        FunctionName=deployment.outputs["validator_function_name"]
    )["Role"].rsplit("/", 1)[1]
    statements = [
        statement
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]
        for statement in iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]["Statement"]
    ]
    invoking = [statement for statement in statements if "lambda:InvokeFunction" in statement["Action"]]
    assert [statement["Resource"] for statement in invoking] == [[deployment.outputs["router_lambda_arn"]]]


@pytest.mark.parametrize("case", malformed_cases(), ids=lambda case: case["name"])
def test_malformed_bodies_get_a_4xx_with_an_error(deployment, case):
    status, body, _ = deployment.post(case["body"].encode())
    assert status == case["status"], body
    assert isinstance(body, dict) and isinstance(body.get("error"), str)
    try:
        schema_valid = jsonschema.Draft4Validator(schema()).is_valid(json.loads(case["body"]))
    except ValueError:
        schema_valid = False
    if schema_valid:
        # The gateway lets it through; the validator names the problem.
        assert body["error"].startswith(case["error_starts_with"])
    else:
        assert body["error"].startswith("Invalid request body") or body["error"].startswith(case["error_starts_with"])


def test_missing_field_is_named_by_the_gateway(deployment):
    event = sample("payment")
    del event["amount"]
    status, body, _ = deployment.post(event)
    assert status == 400
    assert body["error"] == 'Invalid request body: [object has missing required properties (["amount"])]'


def test_oversized_body_is_a_413(deployment):
    status, body, _ = deployment.post(sample("refund", pad="x" * 70_000))
    assert (status, body["error"][:28]) == (413, "Request body is too large: 7")


@pytest.mark.parametrize("transaction_type", TRANSACTION_TYPES)
def test_each_type_is_routed_with_attributes_and_duplicates_are_refused(deployment, transaction_type):
    event = sample(transaction_type)
    status, body, _ = deployment.post(event)
    assert (status, body) == (200, {"message": "Event validated and queued for processing", "event_id": event["event_id"]})
    assert deployment.post(event)[:2] == (409, {"error": "Duplicate event"})

    sqs = deployment.client("sqs")
    url = deployment.outputs[QUEUE_OUTPUTS[transaction_type]]
    received = receive_all(sqs, url, until=has_event(event["event_id"]))
    mine = [m for m in received if m["MessageAttributes"]["event_id"]["StringValue"] == event["event_id"]]
    assert len(mine) == 1
    assert mine[0]["MessageAttributes"]["transaction_type"]["StringValue"] == transaction_type
    body = json.loads(mine[0]["Body"])
    assert {key: body[key] for key in event} == event and body["received_at"].endswith("Z")


def test_concurrent_duplicates_give_one_200(deployment):
    # 20 at once meet a validator with 10 reserved instances: Lambda throttles the excess (a 5xx the
    # sender retries, as a webhook sender does). Every delivery ends as the one 200 or a 409.
    event = sample("payment")

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = sorted(pool.map(lambda _: deliver(deployment.post, event)[0], range(20)))
    assert statuses == [200] + [409] * 19
    messages = receive_all(deployment.client("sqs"), deployment.outputs["payments_queue_url"], until=has_event(event["event_id"]))
    assert [m["MessageAttributes"]["event_id"]["StringValue"] for m in messages].count(event["event_id"]) == 1


def test_a_message_received_three_times_moves_to_its_dlq(deployment):
    sqs = deployment.client("sqs")
    queue, dlq = deployment.outputs["refunds_queue_url"], deployment.outputs["refunds_dlq_url"]
    marker = f"redrive-{uuid.uuid4().hex}"
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"event_id": marker}))
    for _ in range(3):
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=1)
        assert any(marker in message["Body"] for message in received.get("Messages", []))
    sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)  # the 4th receive redrives
    assert any(marker in message["Body"] for message in receive_all(sqs, dlq, until=has_event(marker)))


def test_router_failures_end_in_the_failure_queue_after_retries(local_only):
    deployment = local_only
    lambda_client = deployment.client("lambda")
    name = deployment.outputs["router_function_name"]
    original = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    broken = {**original, "DISPUTES_QUEUE_URL": original["DISPUTES_QUEUE_URL"] + "-broken"}
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": broken})
    try:
        event = sample("dispute")
        assert deployment.post(event)[0] == 200
        records = receive_all(deployment.client("sqs"), deployment.outputs["router_failures_queue_url"], wait=20,
                              until=has_event(event["event_id"]))
    finally:
        lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": original})
    [record] = [json.loads(m["Body"]) for m in records if event["event_id"] in m["Body"]]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3  # one attempt and the two deployed retries
    assert json.loads(record["requestPayload"]["message_body"])["event_id"] == event["event_id"]


def test_throttling_beyond_the_stage_limit_is_a_429(local_only):
    deployment = local_only
    apigateway = deployment.client("apigateway")
    api, stage = deployment.outputs["api_id"], deployment.outputs["api_stage_name"]
    patch = [{"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "2"},
             {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.1"}]
    apigateway.update_stage(restApiId=api, stageName=stage, patchOperations=patch)
    try:
        statuses = [deployment.post(sample("payment"))[:2] for _ in range(5)]
    finally:
        restore = [{"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "1000"},
                   {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "500"}]
        apigateway.update_stage(restApiId=api, stageName=stage, patchOperations=restore)
    assert [status for status, _ in statuses[:2]] == [200, 200]
    assert (429, {"error": "Too Many Requests"}) in statuses


def test_a_throttled_validator_answers_503_with_retry_after(local_only):
    # With no validator instance free, Lambda throttles the invoke and API Gateway calls it an integration
    # failure: the module answers it "retry later", not 500 "Internal server error".
    deployment = local_only
    lambda_client = deployment.client("lambda")
    name = deployment.outputs["validator_function_name"]
    reserved = lambda_client.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"]
    data = json.dumps(sample("payment")).encode()
    request = urllib.request.Request(deployment.url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **signing.headers(deployment.secret, data)})
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    try:
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=15)
    finally:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    assert (answer.value.code, answer.value.headers["Retry-After"], answer.value.headers["Content-Type"]) == (
        503, "1", "application/json")
    assert json.loads(answer.value.read()) == {"error": "Service temporarily unavailable, please retry"}


def test_the_emulator_serves_no_web_page_only_its_own_clients(local_only):
    deployment = local_only
    for path, method in (("/moto-api/reset", "POST"), ("/moto-api/data.json", "GET")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(deployment.endpoint + path, data=b"" if method == "POST" else None,
                                                          method=method), timeout=10)
        assert refused.value.code == 403
    invoke = f"{deployment.endpoint}/2015-03-31/functions/{deployment.outputs['router_function_name']}/invocations"
    with pytest.raises(urllib.error.HTTPError) as refused:  # a page's form POST: no credentials at all
        urllib.request.urlopen(urllib.request.Request(invoke, data=b'{"message_body": "{}"}', method="POST"), timeout=10)
    assert refused.value.code == 403
    stranger = boto3.client("lambda", endpoint_url=deployment.endpoint, region_name=deployment.region,
                            aws_access_key_id="stranger", aws_secret_access_key="stranger")
    with pytest.raises(stranger.exceptions.ClientError, match="not signed with the local target's credentials"):
        stranger.invoke(FunctionName=deployment.outputs["router_function_name"], Payload=b"{}")
    # Everything is still there, and the target's own credentials are served.
    assert deployment.client("dynamodb").describe_table(TableName=deployment.outputs["dynamodb_table_name"])
