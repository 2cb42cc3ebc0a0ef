"""The emulator of one local environment: the data plane (the API's POST /webhook, Lambda invokes and the
function workers, schedules, metrics and alarms) in this process, in front of the environment's AWS APIs
(moto, tapctl.local.aws) in a second process it starts and stops, so the two use the machine's cores
instead of sharing one interpreter. Every request it does not serve itself it forwards to them.

S3 (the evidence archive) is served by a third process of the same APIs, as on AWS, where S3 is a service
of its own: the router's archive writes do not queue in front of the validator's DynamoDB and Lambda
calls. A request is S3's when it is signed for S3 (its credential scope names ``s3``).

Run as ``python -m tapctl.local.server --port P --region R --workdir DIR``; tapctl.local.emulator
starts and stops it.
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse

from tapctl.local.aws import ACCOUNT, FUNCTION_CODE_PATH, QUEUES_PATH, answer
from tapctl.local.serving import phrase, refusal, refused, serve
from tapctl.local.shared import FAKE_KEY, HEALTH_PATH, background, free_port, wait_healthy
from tapctl.local.shared import client as local_client

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's limit of a request body
_INVOKE = re.compile(r"/2015-03-31/functions/(?P<name>[^/]+)/invocations")
_USER_REQUEST = re.compile(r"/restapis/(?P<api>[^/]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)")
# A request signed for S3: its credential scope (<date>/<region>/s3/aws4_request), in the header or a presigned URL.
_S3_SIGNED = re.compile(r"/s3/aws4_request|%2Fs3%2Faws4_request")
# Control-plane writes that change what the data plane serves.
_CONTROL_PLANE = re.compile(r"/(restapis|20\d\d-\d\d-\d\d/functions)")
# A function's configuration or code written: Lambda runs its next invocations in new containers.
_FUNCTION_UPDATE = re.compile(r"/2015-03-31/functions/(?P<name>[^/]+)/(configuration|code)")
# Headers of one connection, not of the request or answer it carries.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
               "content-length"}


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


class Forward:
    """Forwards requests to the environment's AWS APIs over kept-alive connections."""

    def __init__(self, endpoint, timeout=60):
        url = urlparse(endpoint)
        self.host, self.port, self.timeout = url.hostname, url.port, timeout
        self._idle = []
        self._lock = threading.Lock()

    def _connection(self):
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout), False

    def request(self, method, target, body=b"", headers=None):
        """(status, [(header, value)], body) of one request; a kept-alive connection the APIs closed in
        the meantime is replaced once."""
        for _ in range(2):
            connection, reused = self._connection()
            try:
                connection.request(method, target, body=body, headers=headers or {})
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                if reused:
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            if response.will_close:
                connection.close()
            else:
                with self._lock:
                    self._idle.append(connection)
            return response.status, response.getheaders(), data
        raise ConnectionError("the local AWS APIs closed the connection")

    def wsgi(self, environ, start_response, body):
        target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not target:
            target = quote(environ.get("PATH_INFO", "/"))
            if environ.get("QUERY_STRING"):
                target += "?" + environ["QUERY_STRING"]
        headers = {key[5:].replace("_", "-"): value for key, value in environ.items() if key.startswith("HTTP_")}
        headers = {key: value for key, value in headers.items() if key.lower() not in _HOP_BY_HOP}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers["Content-Length"] = str(len(body))
        try:
            status, out_headers, data = self.request(environ["REQUEST_METHOD"], target, body, headers)
        except OSError as error:
            print(f"forward: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            return answer(start_response, 503, {"Content-Type": "application/json"},
                          json.dumps({"message": "the local AWS APIs are not answering"}))
        kept = [(key, value) for key, value in out_headers if key.lower() not in _HOP_BY_HOP | {"server", "date"}]
        start_response(f"{status} {phrase(status)}", kept + [("Content-Length", str(len(data)))])
        return [data]

    def get(self, path):
        status, _, data = self.request("GET", path)
        if status != 200:
            raise LookupError(f"{path}: {status} {data[:200]!r}")
        return data

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class Emulator:
    """Routes each request: the data plane (gateway, Lambda invokes) here, everything else to the AWS APIs.
    The parts read what they serve through those APIs."""

    def __init__(self, *, port, region, workdir, aws_endpoint, s3_endpoint=None, retry_delay=1.0):
        from tapctl.local.gateway import Gateway
        from tapctl.local.lambdas import DeployedFunctions, LambdaRuntime, api_writer
        from tapctl.local.monitor import LogMetrics, Monitor
        from tapctl.local.scheduler import Scheduler

        self.endpoint = f"http://127.0.0.1:{port}"
        self.aws_endpoint = aws_endpoint
        self.region = region
        self.generation = 0
        self._clients = {}
        self._clients_lock = threading.Lock()
        self.forward = Forward(aws_endpoint)
        self.s3_endpoint = s3_endpoint or aws_endpoint
        self.forward_s3 = Forward(self.s3_endpoint) if s3_endpoint else self.forward
        functions = DeployedFunctions(clients=self.client, code=self.function_code, generation=lambda: self.generation)
        log_metrics, write = LogMetrics(self.client), api_writer(self.client("logs"))

        def write_logs(group, stream, events):
            write(group, stream, events)
            try:
                log_metrics.observe(group, events)
            except Exception as error:  # the lines are shipped; only their counts are lost
                print(f"monitor: could not count {len(events)} log lines of {group}: {error}", file=sys.stderr, flush=True)

        self.lambdas = LambdaRuntime(workdir=workdir, endpoint=aws_endpoint, lambda_endpoint=self.endpoint,
                                     s3_endpoint=self.s3_endpoint,
                                     region=region, functions=functions, write_logs=write_logs,
                                     retry_delay=retry_delay)
        self.gateway = Gateway(clients=self.client, runtime=self.lambdas, account=ACCOUNT)
        self.monitor = Monitor(clients=self.client, queues=self.queues, runtime=self.lambdas, gateway=self.gateway,
                               log_metrics=log_metrics)
        self.scheduler = Scheduler(clients=self.client, runtime=self.lambdas, account=ACCOUNT, region=region)

    def start(self):
        self.monitor.start()
        self.scheduler.start()

    def function_code(self, name):
        """The zip terraform uploaded: the API gives no download URL for code uploaded without S3."""
        return self.forward.get(FUNCTION_CODE_PATH.format(name=quote(name, safe="")))

    def queues(self):
        """Each queue's visible and in-flight messages and its oldest message's age."""
        return json.loads(self.forward.get(QUEUES_PATH))

    def client(self, service):
        """The emulator's own client for ``service`` of the environment's AWS APIs."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = local_client(service, self.aws_endpoint, self.region, retries=1)
            return self._clients[service]

    # -- WSGI -----------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        user_request = _USER_REQUEST.fullmatch(path)
        # The API's own requests are public, as on API Gateway; every other is an AWS API call (or health).
        reason = refusal(environ, access_key=FAKE_KEY, signed=not (user_request or path == HEALTH_PATH))
        if reason:
            return refused(start_response, reason)
        if path == HEALTH_PATH:
            return answer(start_response, 200, {"Content-Type": "application/json"},
                          json.dumps({"ok": True, "aws_endpoint": self.aws_endpoint, "s3_endpoint": self.s3_endpoint}))
        if user_request:
            try:
                return self._user_request(environ, start_response, **user_request.groupdict())
            except MalformedBody:
                return answer(start_response, 400, {"Content-Type": "application/json"},
                              json.dumps({"error": "Bad Request: the chunked body is malformed"}))
            except Exception as error:  # whatever happens, the sender gets the gateway's JSON, never a page
                print(f"gateway: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
                return answer(start_response, 500, {"Content-Type": "application/json"},
                              json.dumps({"error": "Internal server error"}))
        invoke = _INVOKE.fullmatch(path)
        if invoke and method == "POST":
            return self._invoke(environ, start_response, invoke.group("name"))
        try:
            body = self._body(environ)
        except MalformedBody as error:
            return answer(start_response, 400, {"Content-Type": "application/json"}, json.dumps({"message": str(error)}))
        forward = self.forward_s3 if _S3_SIGNED.search(environ.get("HTTP_AUTHORIZATION", "")
                                                      or environ.get("QUERY_STRING", "")) else self.forward
        try:
            return forward.wsgi(environ, start_response, body)
        finally:
            if method != "GET" and _CONTROL_PLANE.match(path):
                self.generation += 1  # after the write: the data plane rereads what it now serves
            update = _FUNCTION_UPDATE.fullmatch(path) if method == "PUT" else None
            if update:  # even one that is taken back before the next invocation (tapctl secret rotate --recycle)
                name = unquote(update.group("name"))
                self.lambdas.recycle(name.split(":")[6] if name.startswith("arn:") else name)

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
        return answer(start_response, status, out_headers, body)

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
                return answer(start_response, 202, {"Content-Type": "application/json"}, b"")
            if kind == "DryRun":
                self.lambdas.describe(name)
                return answer(start_response, 204, {}, b"")
            ok, payload = self.lambdas.invoke(name, event)
        except lambda_client.exceptions.ResourceNotFoundException:
            return self._error(start_response, 404, "ResourceNotFoundException", f"Function not found: {name}")
        except Throttled:
            return self._error(start_response, 429, "TooManyRequestsException", "Rate Exceeded.")
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if not ok:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return answer(start_response, 200, headers, json.dumps(payload))

    def _error(self, start_response, status, kind, message):
        headers = {"Content-Type": "application/json", "X-Amzn-ErrorType": kind}
        return answer(start_response, status, headers, json.dumps({"Type": "User", "message": message}))

    def close(self):
        self.scheduler.close()
        self.monitor.close()
        self.lambdas.close()
        self.forward.close()


def start_aws(region, count=1, timeout=60):
    """``count`` instances of the environment's AWS APIs (the second one serves S3), each in a child process
    (in this process's group, so stopping the emulator stops them), started together; returns
    ``[(process, endpoint), ...]`` once all answer."""
    started = []
    for _ in range(count):
        port = free_port()
        started.append((subprocess.Popen([sys.executable, "-m", "tapctl.local.aws", "--port", str(port), "--region",
                                          region], stdin=subprocess.DEVNULL), f"http://127.0.0.1:{port}"))
    for process, endpoint in started:
        if wait_healthy(endpoint, process, timeout) is None:
            for other, _ in started:
                other.kill()
            raise SystemExit(f"the local AWS APIs did not start (exit {process.poll()})")
    return started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--retry-delay", type=float, default=1.0)
    options = parser.parse_args(argv)

    (aws, aws_endpoint), (s3, s3_endpoint) = start_aws(options.region, count=2)
    app = Emulator(port=options.port, region=options.region, workdir=options.workdir, aws_endpoint=aws_endpoint,
                   s3_endpoint=s3_endpoint, retry_delay=options.retry_delay)

    closing = threading.Event()

    def closed():
        closing.set()
        app.close()
        for process in (aws, s3):
            if process.poll() is None:
                process.terminate()
        for process in (aws, s3):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def watch(process):  # the AWS APIs gone (killed outright): so is the environment's state; stop serving
        process.wait()
        if closing.is_set():
            return
        print(f"the local AWS APIs exited ({process.returncode}); stopping", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    background(watch, "aws-watch", aws)
    background(watch, "s3-watch", s3)
    app.start()
    print(f"tapctl local emulator on {app.endpoint} (AWS APIs on {aws_endpoint}, S3 on {s3_endpoint})",
          file=sys.stderr, flush=True)
    serve(app, options.port, on_close=closed)


if __name__ == "__main__":
    main()
