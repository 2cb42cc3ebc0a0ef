"""The AWS side of both handlers, created in moto: the table, the router function and the three queues."""

import io
import json
import shutil
import zipfile
from dataclasses import dataclass, field
from urllib.parse import unquote

import boto3
import pytest
from click.testing import CliRunner

from handlers import archive, records, router, runtime, validator
from handlers.signing_keys import keys
from tapctl.cli import main
from tests.support import ROOT, secret_value, unavailable

ENV = "test"
FIXTURE = ROOT / "tests" / "fixtures" / "module"
MOTO_ACCOUNT = "123456789012"  # the account moto answers for keys it does not know


@pytest.fixture
def project(aws, tmp_path, monkeypatch):
    """A project whose module needs no cloud (tests/fixtures/module); the account and region come from the
    moto server (STS), as they would from AWS."""
    if not (shutil.which("terraform") or shutil.which("tofu")):
        unavailable("terraform is not installed (neither terraform nor tofu on PATH)")
    root = tmp_path / "project"
    shutil.copytree(ROOT / "handlers", root / "handlers", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("TAPCTL_PROJECT_DIR", str(root))
    monkeypatch.setenv("TAPCTL_MODULE_DIR", str(FIXTURE))
    monkeypatch.setenv("TAPCTL_STATE_DIR", str(tmp_path / "state"))
    for name in ("ENVIRONMENT_SUFFIX", "TAPCTL_TARGET", "TAPCTL_TERRAFORM_BIN", "TAPCTL_BACKEND_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return root


def tapctl(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def outputs(env):
    result = tapctl("output", "--env", env, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@dataclass
class Pipeline:
    table: str
    router_name: str
    queue_urls: dict
    secret_arn: str = ""
    bucket: str = ""
    invokes: list = field(default_factory=list)

    @property
    def dynamodb(self):
        return boto3.client("dynamodb")

    @property
    def sqs(self):
        return boto3.client("sqs")

    def record(self, event_id):
        return self.dynamodb.get_item(TableName=self.table, Key={"event_id": {"S": event_id}}, ConsistentRead=True).get(
            "Item"
        )

    def archived(self, event_id):
        """The evidence archived for ``event_id`` (handlers/archive.py), or None."""
        try:
            found = boto3.client("s3").get_object(Bucket=self.bucket, Key=archive.evidence_key(event_id))
        except boto3.client("s3").exceptions.NoSuchKey:
            return None
        return json.loads(found["Body"].read())

    def messages(self, transaction_type):
        """Every message in that queue (received once, with attributes; visibility 0 keeps them there)."""
        found = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_urls[transaction_type],
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=30,
            ).get("Messages", [])
            if not batch:
                return found
            found.extend(batch)


def _zip_of(source):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handlers/__init__.py", "")
        archive.writestr(f"handlers/{source}.py", "")
    return buffer.getvalue()


def create_router_function(name):
    iam = boto3.client("iam")
    try:
        role = iam.get_role(RoleName="event-router-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(
            RoleName="event-router-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
        )["Role"]["Arn"]
    boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handlers.router.lambda_handler",
        Code={"ZipFile": _zip_of("router")},
    )


@pytest.fixture
def pipeline(aws, monkeypatch):
    table = f"transaction-events-{ENV}"
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(  # as terraform/table.tf makes it
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"},
                              {"AttributeName": "pending_shard", "AttributeType": "S"},
                              {"AttributeName": "pending_due", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{
            "IndexName": records.PENDING_INDEX,
            "KeySchema": [{"AttributeName": "pending_shard", "KeyType": "HASH"},
                          {"AttributeName": "pending_due", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE",
                           "NonKeyAttributes": ["message_body", "pending_attempts", "received_at"]},
        }],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    router_name = f"event-router-{ENV}"
    create_router_function(router_name)
    sqs = boto3.client("sqs")
    queue_urls = {}
    for transaction_type, variable in router.QUEUE_URL_ENV.items():
        prefix = variable.split("_")[0].lower()
        queue_urls[transaction_type] = sqs.create_queue(QueueName=f"{prefix}-queue-{ENV}")["QueueUrl"]
        monkeypatch.setenv(variable, queue_urls[transaction_type])
    # The evidence archive, as terraform/archive.tf makes it (a throwaway environment's lock).
    bucket = f"evidence-{ENV}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    monkeypatch.setenv(router.ARCHIVE_ENV, bucket)
    monkeypatch.setenv(validator.TABLE_ENV, table)  # the same variable for the router and the sweeper
    monkeypatch.setenv(validator.ROUTER_ENV, router_name)
    # The environment's signing secret, as tapctl's first deploy writes it: tests/support.TEST_SECRET.
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name=f"webhook-signing-{ENV}", SecretString=secret_value())["ARN"]
    monkeypatch.setenv(validator.SECRET_ENV, secret_arn)
    keys.forget()

    deployed = Pipeline(table=table, router_name=router_name, queue_urls=queue_urls, secret_arn=secret_arn,
                        bucket=bucket)

    def capture(request, **_):
        # Observe, not replace: the request still goes to the emulator.
        if "/functions/" in request.url and request.url.endswith("/invocations"):
            deployed.invokes.append(
                {
                    "function": unquote(request.url.rsplit("/", 2)[-2]),
                    "type": request.headers.get("X-Amz-Invocation-Type", b"").decode()
                    if isinstance(request.headers.get("X-Amz-Invocation-Type"), bytes)
                    else request.headers.get("X-Amz-Invocation-Type"),
                    "payload": json.loads(request.body),
                }
            )

    runtime.client("lambda").meta.events.register("before-send.lambda.Invoke", capture)
    return deployed
