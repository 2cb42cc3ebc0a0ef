"""The emulator process of one local environment: moto's server behind a WSGI layer that serves what
moto does not run (the API's POST /webhook, Lambda invokes, message move tasks, metrics and alarms)
and smooths moto's SQS differences.

Run as ``python -m tapctl.local.server --port P --region R --workdir DIR``; tapctl.local.emulator
starts and stops it.
"""

import argparse
import io
import json
import os
import re
import signal
import sys
import threading
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, unquote

ACCOUNT = "123456789012"  # moto's default account
HEALTH_PATH = "/_tapctl/health"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's limit of a request body
# Lambda's account quota of concurrent executions; moto enforces the same variable when a function's
# concurrency is reserved (default: AWS's default quota).
QUOTA_VARIABLE = "MOTO_LAMBDA_CONCURRENCY_QUOTA"
DEFAULT_QUOTA = 1000
_INVOKE = re.compile(r"/2015-03-31/functions/(?P<name>[^/]+)/invocations")
_ACCOUNT_SETTINGS = re.compile(r"/2016-08-19/account-settings/?")
_USER_REQUEST = re.compile(r"/restapis/(?P<api>[^/]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)")
# Control-plane writes that change what the data plane serves.
_CONTROL_PLANE = re.compile(r"/(restapis|20\d\d-\d\d-\d\d/functions)")


class MalformedBody(Exception):
    """A request body that cannot be read as sent (chunks that do not add up)."""


def _read_chunked(stream, limit):
    """werkzeug's dechunked body, read into a memoryview. Its ``read(n)`` hands readinto a bytearray that a
    chunk cut short by the connection's end shrinks under CPython's feet: the emulator segfaulted."""
    data, buffer = bytearray(), bytearray(65536)
    view = memoryview(buffer)
    try:
        while len(data) <= limit:
            count = stream.readinto(view)
            if not count:
                return bytes(data)
            data += view[:count]
    except (OSError, ValueError) as error:  # chunks that do not add up, or a body cut short
        raise MalformedBody(str(error) or type(error).__name__) from None
    return bytes(data)


class Emulator:
    """Routes each request: the data plane (gateway, Lambda invokes), SQS through its adjustments, Lambda's
    account settings, and everything else to moto. The parts read what they serve from moto's API."""

    def __init__(self, *, port, region, workdir, retry_delay=1.0):
        from moto.server import DomainDispatcherApplication, create_backend_app

        from tapctl.local.gateway import Gateway
        from tapctl.local.lambdas import DeployedFunctions, LambdaRuntime
        from tapctl.local.monitor import Monitor
        from tapctl.local.scheduler import Scheduler
        from tapctl.local.sqs import Sqs

        self.moto = DomainDispatcherApplication(create_backend_app)
        self.endpoint = f"http://127.0.0.1:{port}"
        self.region = region
        self.generation = 0
        self._clients = {}
        self._clients_lock = threading.Lock()
        self.sqs = Sqs(client=lambda: self.client("sqs"))
        functions = DeployedFunctions(clients=self.client, account=ACCOUNT, region=region,
                                      generation=lambda: self.generation)
        self.lambdas = LambdaRuntime(workdir=workdir, endpoint=self.endpoint, region=region, functions=functions,
                                     logs=self.client("logs"), retry_delay=retry_delay)
        self.gateway = Gateway(clients=self.client, runtime=self.lambdas, account=ACCOUNT)
        self.monitor = Monitor(clients=self.client, account=ACCOUNT, region=region, runtime=self.lambdas,
                               gateway=self.gateway)
        self.scheduler = Scheduler(clients=self.client, runtime=self.lambdas, account=ACCOUNT, region=region)
        self._set_up_account()

    def start(self):
        self.monitor.start()
        self.scheduler.start()

    def _set_up_account(self):
        # The emulated account is one that has already run an environment with
        # create_api_gateway_account_role: API Gateway's CloudWatch role is set, as stage logging needs.
        from moto.apigateway.models import apigateway_backends

        role = f"arn:aws:iam::{ACCOUNT}:role/tapctl-local-apigateway-logs"
        apigateway_backends[ACCOUNT][self.region].update_account(
            [{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}]
        )

    def account_settings(self):
        """Lambda's GetAccountSettings, which moto lacks: the quota and what reservations leave of it."""
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

    def client(self, service):
        """The emulator's own client for ``service``: what was deployed is read through moto's API."""
        with self._clients_lock:
            if service not in self._clients:
                import boto3
                from botocore.config import Config

                from tapctl.local.emulator import FAKE_KEY

                self._clients[service] = boto3.client(
                    service, endpoint_url=self.endpoint, region_name=self.region, aws_access_key_id=FAKE_KEY,
                    aws_secret_access_key=FAKE_KEY, config=Config(retries={"max_attempts": 1}),
                )
            return self._clients[service]

    # -- WSGI -----------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        if path == HEALTH_PATH:
            return self._answer(start_response, 200, {"Content-Type": "application/json"}, json.dumps({"ok": True}))
        user_request = _USER_REQUEST.fullmatch(path)
        if user_request:
            try:
                return self._user_request(environ, start_response, **user_request.groupdict())
            except MalformedBody:
                return self._answer(start_response, 400, {"Content-Type": "application/json"},
                                    json.dumps({"error": "Bad Request: the chunked body is malformed"}))
            except Exception as error:  # whatever happens, the sender gets the gateway's JSON, never a page
                print(f"gateway: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
                return self._answer(start_response, 500, {"Content-Type": "application/json"},
                                    json.dumps({"error": "Internal server error"}))
        if method == "GET" and _ACCOUNT_SETTINGS.fullmatch(path):
            return self._answer(start_response, 200, {"Content-Type": "application/json"}, json.dumps(self.account_settings()))
        invoke = _INVOKE.fullmatch(path)
        if invoke and method == "POST":
            return self._invoke(environ, start_response, invoke.group("name"))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("AmazonSQS."):
            return self.sqs.wsgi(environ, start_response, target.split(".", 1)[1], self.moto, self._answer)
        if method != "GET" and _CONTROL_PLANE.match(path):
            self.generation += 1
        return self.moto(environ, start_response)

    @staticmethod
    def _body(environ):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length:
            return environ["wsgi.input"].read(length)
        if environ.get("wsgi.input_terminated"):  # a chunked body: read to its end (API Gateway's 10 MB at most)
            return _read_chunked(environ["wsgi.input"], MAX_PAYLOAD_BYTES)
        return b""

    @staticmethod
    def _answer(start_response, status, headers, body):
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        headers = {**headers, "Content-Length": str(len(data))}
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [data]

    def _user_request(self, environ, start_response, api, stage, path):
        headers = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers.setdefault(key[5:].replace("_", "-").title(), []).append(value)
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = [environ["CONTENT_TYPE"]]
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        status, out_headers, body = self.gateway.handle(
            api, stage, path, environ["REQUEST_METHOD"], headers, query, self._body(environ),
            environ.get("REMOTE_ADDR", "127.0.0.1"), self.generation,
        )
        return self._answer(start_response, status, out_headers, body)

    def _invoke(self, environ, start_response, name):
        from tapctl.local.lambdas import Throttled

        name = unquote(name)
        kind = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        raw = self._body(environ)
        try:
            event = json.loads(raw) if raw else {}
        except ValueError:
            return self._error(start_response, 400, "InvalidRequestContentException", "Could not parse request body into json")
        lambda_client = self.client("lambda")
        try:
            if kind == "Event":
                self.lambdas.invoke_async(name, event)
                return self._answer(start_response, 202, {"Content-Type": "application/json"}, b"")
            if kind == "DryRun":
                self.lambdas.describe(name)
                return self._answer(start_response, 204, {}, b"")
            ok, payload = self.lambdas.invoke(name, event)
        except lambda_client.exceptions.ResourceNotFoundException:
            return self._error(start_response, 404, "ResourceNotFoundException", f"Function not found: {name}")
        except Throttled:
            return self._error(start_response, 429, "TooManyRequestsException", "Rate Exceeded.")
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if not ok:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return self._answer(start_response, 200, headers, json.dumps(payload))

    def _error(self, start_response, status, kind, message):
        headers = {"Content-Type": "application/json", "X-Amzn-ErrorType": kind}
        return self._answer(start_response, status, headers, json.dumps({"Type": "User", "message": message}))

    def close(self):
        self.scheduler.close()
        self.monitor.close()
        self.sqs.close()
        self.lambdas.close()


def json_errors_handler():
    """werkzeug's request handler, answering what http.server refuses itself (a request line or headers too
    long, too many headers, a malformed request) with JSON, as every answer of API Gateway is, not HTML."""
    from werkzeug.serving import WSGIRequestHandler

    class JsonErrors(WSGIRequestHandler):
        def send_error(self, code, message=None, explain=None):
            body = json.dumps({"message": message or HTTPStatus(code).phrase}).encode()
            self.log_error("code %d, message %s", code, message)
            self.send_response(code, message)
            self.send_header("Connection", "close")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
                self.wfile.write(body)

    return JsonErrors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--retry-delay", type=float, default=1.0)
    options = parser.parse_args(argv)

    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would flood the log

    app = Emulator(port=options.port, region=options.region, workdir=options.workdir, retry_delay=options.retry_delay)
    server = make_server("127.0.0.1", options.port, app, threaded=True, request_handler=json_errors_handler())
    app.start()

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"tapctl local emulator on {app.endpoint}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        app.close()


if __name__ == "__main__":
    main()
