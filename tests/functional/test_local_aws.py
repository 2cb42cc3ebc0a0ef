"""The local target's AWS process keeps DynamoDB's guarantees under concurrency: one conditional PutItem
wins per key, however many writers race for it."""

import socket
import sys
import threading
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
                            aws_access_key_id="testing", aws_secret_access_key="testing",
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
