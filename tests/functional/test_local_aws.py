"""The local target's AWS process keeps DynamoDB's guarantees under concurrency (one conditional PutItem
wins per key, however many writers race for it) and answers no one but the target's own clients."""

import json
import socket
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from handlers.records import DEDUP_CONDITION
from tapctl.local.aws import Aws
from tapctl.local.serving import handler_class
from tapctl.local.shared import FAKE_KEY

WRITERS = 20
KEYS = 60


@pytest.fixture
def aws_process_app():
    """tapctl.local.aws's application, served in this process on loopback (so the test can shorten the
    interpreter's thread switch interval, which makes a race inside moto show in every run)."""
    from werkzeug.serving import make_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = Aws(port=port, region="us-east-1")
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=handler_class())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


def test_one_conditional_put_wins_per_key_under_racing_writers(aws_process_app):
    def client():
        return boto3.client("dynamodb", endpoint_url=aws_process_app, region_name="us-east-1",
                            aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY,
                            config=Config(retries={"max_attempts": 1}))

    client().create_table(TableName="race", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}])
    local = threading.local()

    def claim(key):
        """1 when this writer's record is the one stored (as handlers.records.Records.claim decides)."""
        if not hasattr(local, "client"):
            local.client = client()
        request = uuid.uuid4().hex
        try:
            local.client.put_item(TableName="race", ConditionExpression=DEDUP_CONDITION,
                                  Item={"event_id": {"S": key}, "request_id": {"S": request},
                                        "expires_at": {"N": "9999999999"}},
                                  ExpressionAttributeValues={":now": {"N": "1"}},
                                  ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException", error
            return key, int(error.response.get("Item", {}).get("request_id") == {"S": request})
        return key, 1

    keys = [f"race-{number}-{uuid.uuid4().hex[:8]}" for number in range(KEYS)]
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # a thread switch every few bytecodes: what a loaded machine does rarely
    try:
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            results = list(pool.map(claim, [key for key in keys for _ in range(WRITERS)]))
    finally:
        sys.setswitchinterval(previous)
    winners = Counter()
    for key, won in results:
        winners[key] += won
    assert {key: count for key, count in winners.items() if count != 1} == {}


def sqs(endpoint, key):
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=key, config=Config(retries={"max_attempts": 1}))


def refused(url, data=b"", headers=None, method="POST"):
    """(status, message) of a request the AWS process must refuse."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["message"]


def test_what_a_web_page_could_send_is_refused(aws_process_app):
    sqs(aws_process_app, FAKE_KEY).create_queue(QueueName="kept")
    # moto's control API: a form POST from any page would wipe every resource.
    assert refused(f"{aws_process_app}/moto-api/reset") == (403, "moto's control API is not served by the local target")
    assert refused(f"{aws_process_app}//moto-api/data.json", method="GET")[0] == 403
    # An AWS API call without the target's credentials: a form POST of SQS's query protocol.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert refused(aws_process_app, b"Action=DeleteQueue&QueueUrl=kept", form) == (
        403, "the request is not signed with the local target's credentials")
    with pytest.raises(ClientError, match="not signed with the local target's credentials"):
        sqs(aws_process_app, "someone-else").list_queues()
    # DNS rebinding: the page's own host name, resolved to 127.0.0.1.
    assert refused(f"{aws_process_app}/_tapctl/health", headers={"Host": "attacker.example:80"}, method="GET")[0] == 403
    assert [url.rsplit("/", 1)[-1] for url in sqs(aws_process_app, FAKE_KEY).list_queues()["QueueUrls"]] == ["kept"]


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1:4566", True), ("localhost:80", True), ("LOCALHOST", True), ("[::1]:4566", True), ("127.1.2.3", True),
    ("attacker.example:4566", False), ("127.0.0.1.attacker.example", False), ("", False), ("0.0.0.0:4566", False),
    ("[::ffff:127.0.0.1]:1", False),
])
def test_only_loopback_host_names_are_served(host, loopback):
    from tapctl.local.serving import refusal

    environ = {"HTTP_HOST": host, "PATH_INFO": "/", "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={FAKE_KEY}/x"}
    assert (refusal(environ, access_key=FAKE_KEY) is None) is loopback
