"""The AWS APIs of one local environment: moto's server, with SQS as AWS answers it (tapctl.local.sqs),
Lambda's GetAccountSettings (which moto lacks), S3 bucket policies kept aside (below), and a few reads of
moto's own model for the data plane.

moto enforces a bucket policy without evaluating its conditions: a statement with a condition denies
every request, so the module's TLS-only policy (Deny unless aws:SecureTransport) would refuse every
write to the archive. Here every client is on the loopback, where AWS's TLS has no counterpart; the
policy is stored as S3 stores it (Put, Get and DeleteBucketPolicy answer as S3 does, so terraform sees
no drift) and is not enforced.

moto also refuses to change the Object Lock configuration of a bucket that holds objects (S3 allows it
on a bucket created with Object Lock): a changed retention, or the provider's removal of the
configuration before a force-destroy, would fail. ``_lock_any_bucket`` lets it, as S3 does.

It runs in a process of its own, started by the environment's emulator (tapctl.local.server), which
serves the data plane (the API's POST /webhook, Lambda) in another: the two share the machine's cores
instead of one interpreter. The functions' AWS calls come here directly; the emulator forwards here
everything it does not serve itself (terraform's and tapctl's calls), so it sees every control-plane write.
It exits when the emulator does.

Run as ``python -m tapctl.local.aws --port P --region R``.
"""

import argparse
import json
import os
import re
import sys
import threading
import time
from http import HTTPStatus
from urllib.parse import unquote

from tapctl.local.serving import refusal, refused
from tapctl.local.shared import FAKE_KEY, HEALTH_PATH, background
from tapctl.local.shared import client as local_client

ACCOUNT = "123456789012"  # moto's default account
INTERNAL_PREFIX = "/_tapctl/"
# Lambda's account quota of concurrent executions; moto enforces the same variable when a function's
# concurrency is reserved (default: AWS's default quota).
QUOTA_VARIABLE = "MOTO_LAMBDA_CONCURRENCY_QUOTA"
DEFAULT_QUOTA = 1000
_ACCOUNT_SETTINGS = re.compile(r"/2016-08-19/account-settings/?")
# Reads of moto's model the emulator needs and the APIs do not give.
FUNCTION_CODE_PATH = "/_tapctl/functions/{name}/code"
QUEUES_PATH = "/_tapctl/queues"
_FUNCTION_CODE = re.compile(FUNCTION_CODE_PATH.format(name="(?P<name>[^/]+)"))
DYNAMODB_TARGET_PREFIX = "DynamoDB_"
_S3_SCOPE = "/s3/aws4_request"
_BUCKET_PATH = re.compile(r"/(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/?")
_NO_POLICY = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucketPolicy</Code>'
              '<Message>The bucket policy does not exist</Message><BucketName>{bucket}</BucketName></Error>')
_NO_BUCKET = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code>'
              '<Message>The specified bucket does not exist</Message><BucketName>{bucket}</BucketName></Error>')


def _lock_any_bucket():
    from moto.s3.exceptions import InvalidBucketState
    from moto.s3.models import S3Backend

    def put_object_lock_configuration(self, bucket_name, lock_enabled, mode=None, days=None, years=None):
        bucket = self.get_bucket(bucket_name)
        if not bucket.is_versioned:
            raise InvalidBucketState("Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
        if lock_enabled:
            bucket.object_lock_enabled = True
        bucket.default_lock_mode, bucket.default_lock_days, bucket.default_lock_years = mode, days, years

    S3Backend.put_object_lock_configuration = put_object_lock_configuration


def answer(start_response, status, headers, body):
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    start_response(f"{status} {HTTPStatus(status).phrase}", list({**headers, "Content-Length": str(len(data))}.items()))
    return [data]


class Aws:
    def __init__(self, *, port, region):
        from moto.server import DomainDispatcherApplication, create_backend_app

        from tapctl.local.sqs import Sqs

        self.moto = DomainDispatcherApplication(create_backend_app)
        self.endpoint = f"http://127.0.0.1:{port}"
        self.region = region
        self._sqs_client = None
        self.sqs = Sqs(client=self._client)
        # DynamoDB's conditional writes are atomic; moto's are not: PutItem reads the item, parses and
        # evaluates the condition, then stores, and a thread switch in between lets two writers both see
        # the key absent (two 200s for one event_id, under load). One DynamoDB call at a time restores
        # DynamoDB's guarantee. moto's calls hold the GIL anyway, so this costs almost no throughput.
        self._dynamodb = threading.Lock()
        self._bucket_policies = {}
        _lock_any_bucket()
        self._set_up_account()

    def _client(self):
        """SQS through this process's own API (for message move tasks)."""
        if self._sqs_client is None:
            self._sqs_client = local_client("sqs", self.endpoint, self.region, retries=1)
        return self._sqs_client

    def _set_up_account(self):
        # The emulated account is one that has already run an environment with
        # create_api_gateway_account_role: API Gateway's CloudWatch role is set, as stage logging needs.
        from moto.apigateway.models import apigateway_backends

        role = f"arn:aws:iam::{ACCOUNT}:role/tapctl-local-apigateway-logs"
        apigateway_backends[ACCOUNT][self.region].update_account(
            [{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}]
        )

    def account_settings(self):
        """Lambda's GetAccountSettings: the quota and what reservations leave of it."""
        from moto.awslambda.models import lambda_backends

        quota = int(os.environ.get(QUOTA_VARIABLE, DEFAULT_QUOTA))
        reserved = sum(
            int(function.reserved_concurrency or 0)
            for function in lambda_backends[ACCOUNT][self.region].list_functions()
        )
        return {
            "AccountLimit": {
                "TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": quota, "UnreservedConcurrentExecutions": quota - reserved,
            },
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
        }

    def function_code(self, name):
        """The zip terraform uploaded: the API gives no download URL for code without S3."""
        from moto.awslambda.models import lambda_backends

        return lambda_backends[ACCOUNT][self.region].get_function(name).code_bytes

    def queues(self):
        """Each queue's visible and in-flight messages and its oldest message's age, from moto's model with
        one clock reading (moto's own attributes read the clock once per message), without a receive."""
        from moto.sqs.models import sqs_backends

        now = time.time() * 1000
        found = {}
        for name, queue in list(sqs_backends[ACCOUNT][self.region].queues.items()):
            messages = list(queue._messages)
            visible = sum(1 for message in messages if message.visible_at < now)
            oldest = min((message.sent_timestamp for message in messages if message.sent_timestamp), default=None)
            found[name] = {"visible": visible, "not_visible": len(messages) - visible,
                           "oldest_age_seconds": (now - oldest) / 1000 if oldest else 0}
        return found

    def bucket_policy(self, environ, start_response):
        """Put, Get or DeleteBucketPolicy (path-style), kept here, not in moto; None for any other request."""
        from urllib.parse import parse_qs

        bucket = _BUCKET_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if bucket is None or _S3_SCOPE not in environ.get("HTTP_AUTHORIZATION", "") \
                or set(parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)) != {"policy"}:
            return None
        from moto.s3.models import s3_backends

        name, method, xml = bucket.group("bucket"), environ["REQUEST_METHOD"], {"Content-Type": "application/xml"}
        if name not in s3_backends.bucket_accounts:
            self._bucket_policies.pop(name, None)
            return answer(start_response, 404, xml, _NO_BUCKET.format(bucket=name))
        if method == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            self._bucket_policies[name] = environ["wsgi.input"].read(length)
            return answer(start_response, 204, {}, b"")
        if method == "DELETE":
            self._bucket_policies.pop(name, None)
            return answer(start_response, 204, {}, b"")
        if name not in self._bucket_policies:
            return answer(start_response, 404, xml, _NO_POLICY.format(bucket=name))
        return answer(start_response, 200, {"Content-Type": "application/json"}, self._bucket_policies[name])

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        json_type = {"Content-Type": "application/json"}
        # The emulator's own reads (/_tapctl/...) are unsigned; everything else is an AWS API request.
        reason = refusal(environ, access_key=FAKE_KEY, signed=not path.startswith(INTERNAL_PREFIX))
        if reason:
            return refused(start_response, reason)
        if path == HEALTH_PATH:
            return answer(start_response, 200, json_type, json.dumps({"ok": True}))
        if method == "GET" and _ACCOUNT_SETTINGS.fullmatch(path):
            return answer(start_response, 200, json_type, json.dumps(self.account_settings()))
        code = _FUNCTION_CODE.fullmatch(path)
        if code:
            try:
                data = self.function_code(unquote(code.group("name")))
            except Exception as error:  # moto's UnknownFunctionException and kin
                return answer(start_response, 404, json_type, json.dumps({"message": str(error)}))
            return answer(start_response, 200, {"Content-Type": "application/zip"}, data)
        if path == QUEUES_PATH:
            return answer(start_response, 200, json_type, json.dumps(self.queues()))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("AmazonSQS."):
            return self.sqs.wsgi(environ, start_response, target.split(".", 1)[1], self.moto, answer)
        if target.startswith(DYNAMODB_TARGET_PREFIX):
            with self._dynamodb:
                return list(self.moto(environ, start_response))
        policy = self.bucket_policy(environ, start_response)
        if policy is not None:
            return policy
        return self.moto(environ, start_response)

    def close(self):
        self.sqs.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--region", default="us-east-1")
    options = parser.parse_args(argv)

    from tapctl.local.serving import serve

    app = Aws(port=options.port, region=options.region)
    parent = os.getppid()

    def orphaned():  # the emulator's front is gone (killed outright): so are its APIs
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    background(orphaned, "parent-watch")
    print(f"tapctl local AWS APIs on {app.endpoint}", file=sys.stderr, flush=True)
    serve(app, options.port, on_close=app.close)


if __name__ == "__main__":
    main()
