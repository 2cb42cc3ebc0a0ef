"""Lambda execution for the local target: the deployed zip, run in worker processes.

What it mimics, and how:
- the functions are read from the emulator's own Lambda API (``DeployedFunctions``), as the gateway
  reads its API: the zip terraform uploaded (checked against the function's CodeSha256), its handler,
  environment variables, timeout, reserved concurrency and event-invoke config;
- each worker process is one warm container: module state survives between invocations, and a
  crash or a timeout costs only that container;
- reserved concurrency bounds the containers: a synchronous invoke beyond it is throttled (429),
  an asynchronous one waits in the function's queue, as Lambda's internal queue does;
- asynchronous invokes answer 202 at once and run in the background with the deployed event-invoke
  config: retries of a failed attempt, then the on-failure destination (an SQS queue) with the
  record Lambda writes. AWS waits about 1 and 2 minutes between retries; here the waits are
  ``retry_delay`` and twice that, so a local run finishes in seconds;
- what a function prints goes to CloudWatch Logs, log group ``/aws/lambda/<function>``, one stream per
  container named as Lambda names them (``2026/11/30/[$LATEST]<hex>``), so ``tapctl logs`` and
  ``tapctl trace`` read the same API on both targets;
- invocations, errors, throttles and durations are counted per function for the emulator's metrics
  (tapctl.local.monitor), as Lambda publishes them to CloudWatch.
"""

import base64
import hashlib
import io
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tapctl.local.shared import FAKE_KEY, background

DEFAULT_CONCURRENCY = 10  # unreserved functions: a small local bound
WORKER_NICENESS = 5


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    arn: str
    handler: str
    timeout: int
    memory: int
    environment: dict
    reserved: int | None
    code_sha256: str
    retry_attempts: int = 2
    maximum_event_age: int = 21600
    on_failure: str | None = None
    description: str = ""

    @property
    def key(self):
        # Any change to the code or configuration gets new containers, as on Lambda (tapctl secret rotate
        # --recycle relies on it); a reservation change does not (Pool.resize).
        return (self.name, self.code_sha256, json.dumps(self.environment, sort_keys=True), self.handler, self.timeout,
                self.memory, self.description)


class Throttled(Exception):
    pass


class DeployedFunctions:
    """The functions as deployed, read through the environment's Lambda API (and, for the zip, ``code``:
    the API gives no download URL for code uploaded without S3). Read once per change of the control
    plane, not per invocation."""

    def __init__(self, *, clients, code, generation):
        self.clients = clients  # service -> boto3 client of the environment's AWS APIs
        self.code = code  # name -> the zip as uploaded
        self.generation = generation  # () -> a number that changes with every control-plane write
        self._described = {}

    def describe(self, name):
        key = (name, self.generation())
        cached = self._described.get(key)
        if cached is None:
            cached = self._describe(name)
            self._described = {k: v for k, v in self._described.items() if k[1] == key[1]}
            self._described[key] = cached
        return cached

    def _describe(self, name):
        lambda_client = self.clients("lambda")
        described = lambda_client.get_function(FunctionName=name)
        configuration = described["Configuration"]
        # GetFunctionConcurrency, not GetFunction's "Concurrency": moto's GetFunction leaves out a
        # reservation of 0 (every invoke throttled), which would read as unreserved.
        reserved = lambda_client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        retry, age, on_failure = 2, 21600, None
        try:
            invoke_config = lambda_client.get_function_event_invoke_config(FunctionName=name)
            retry = invoke_config.get("MaximumRetryAttempts", retry)
            age = invoke_config.get("MaximumEventAgeInSeconds", age)
            on_failure = invoke_config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        except lambda_client.exceptions.ResourceNotFoundException:
            pass
        return FunctionConfig(
            name=configuration["FunctionName"],
            arn=configuration["FunctionArn"],
            handler=configuration["Handler"],
            timeout=configuration.get("Timeout", 3),
            memory=configuration.get("MemorySize", 128),
            environment=configuration.get("Environment", {}).get("Variables", {}),
            reserved=int(reserved) if reserved is not None else None,
            code_sha256=configuration["CodeSha256"],
            retry_attempts=retry,
            maximum_event_age=age,
            on_failure=on_failure,
            description=configuration.get("Description", ""),
        )

    def deliver(self, destination_arn, body):
        """Send an on-failure record to its SQS destination."""
        sqs = self.clients("sqs")
        account, queue_name = destination_arn.split(":")[4], destination_arn.split(":")[-1]
        url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=body)


def api_writer(logs_client):
    """Writes log events through the CloudWatch Logs API (a boto3 client), creating group and stream."""
    streams = set()
    exists = logs_client.exceptions.ResourceAlreadyExistsException

    def write(group, stream, events):
        if (group, stream) not in streams:
            for create in (lambda: logs_client.create_log_group(logGroupName=group),  # as Lambda does
                           lambda: logs_client.create_log_stream(logGroupName=group, logStreamName=stream)):
                try:
                    create()
                except exists:
                    pass
            streams.add((group, stream))
        logs_client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    return write


class LogShipper:
    """Ships what functions print to CloudWatch Logs in batches, from one background thread."""

    FLUSH_SECONDS = 0.2

    def __init__(self, write):
        self.write = write  # (group, stream, [{"timestamp", "message"}]) -> None
        self.lines = queue.Queue()
        self.stopping = threading.Event()
        self.thread = background(self._run, "log-shipper")

    def put(self, group, stream, line):
        self.lines.put((group, stream, int(time.time() * 1000), line))

    def _run(self):
        while not self.stopping.is_set():
            time.sleep(self.FLUSH_SECONDS)
            self.flush()

    def flush(self):
        batches = defaultdict(list)
        while True:
            try:
                group, stream, stamp, line = self.lines.get_nowait()
            except queue.Empty:
                break
            batches[(group, stream)].append({"timestamp": stamp, "message": line})
        for (group, stream), events in batches.items():
            try:
                self.write(group, stream, events)
            except Exception as error:  # a lost log line must not stop the functions; say so in the emulator log
                print(f"could not ship {len(events)} log lines to {group}: {error}", file=sys.stderr, flush=True)

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=2)
        self.flush()


class Instance:
    """A worker process running one function's handler: one warm container with its own log stream."""

    def __init__(self, config, code_dir, base_env, log_path, ship=None):
        env = {**base_env, **config.environment}
        env.update(
            AWS_LAMBDA_FUNCTION_NAME=config.name,
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(config.memory),
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            TAPCTL_FUNCTION_ARN=config.arn,
        )
        self.group = f"/aws/lambda/{config.name}"
        today = datetime.now(timezone.utc).strftime("%Y/%m/%d")
        self.stream = f"{today}/[$LATEST]{uuid.uuid4().hex}"
        self.log = open(log_path, "ab")
        self.ship = ship
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tapctl.local.worker", str(code_dir), config.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )
        try:  # the emulated AWS APIs come first, as on AWS, where functions never share their machines
            os.setpriority(os.PRIO_PROCESS, self.process.pid, WORKER_NICENESS)
        except OSError:
            pass
        self.reader = background(self._read_log, f"log-{config.name}")
        ready = self._read(30)
        if not ready or not json.loads(ready).get("ready"):
            self.kill()
            raise RuntimeError(f"{config.name}: the handler {config.handler} did not load (see {log_path})")

    def _read_log(self):
        for line in self.process.stderr:
            self.log.write(line.encode("utf-8", "replace"))
            self.log.flush()
            if self.ship:
                self.ship(self.group, self.stream, line.rstrip("\n"))

    def _read(self, timeout):
        readable, _, _ = select.select([self.process.stdout], [], [], max(timeout, 0))
        return self.process.stdout.readline() if readable else None

    def invoke(self, event, timeout, request_id):
        """(ok, payload); a timeout kills the instance and reports Lambda's timeout error."""
        self.process.stdin.write(json.dumps({"event": event, "timeout": timeout, "request_id": request_id}) + "\n")
        self.process.stdin.flush()
        line = self._read(timeout)
        if not line:
            self.kill()
            return False, {"errorMessage": f"Task timed out after {timeout:.2f} seconds", "errorType": "Sandbox.Timedout"}
        answer = json.loads(line)
        return answer["ok"], answer["payload"]

    @property
    def alive(self):
        return self.process.poll() is None

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=2)
        self.log.close()


class Pool:
    """The containers of one function configuration, bounded by its reserved concurrency."""

    def __init__(self, config, code_dir, base_env, log_path, ship):
        self.config, self.code_dir, self.base_env, self.log_path, self.ship = config, code_dir, base_env, log_path, ship
        self.limit = config.reserved if config.reserved is not None else DEFAULT_CONCURRENCY
        self.idle = []
        self.busy = 0
        self.closed = False
        self.lock = threading.Condition()

    def resize(self, config):
        limit = config.reserved if config.reserved is not None else DEFAULT_CONCURRENCY
        if limit != self.limit:
            with self.lock:
                self.limit = limit
                self.lock.notify_all()

    def acquire(self, wait):
        with self.lock:
            while self.busy >= self.limit:
                if not wait:
                    raise Throttled(self.config.name)
                self.lock.wait()
            self.busy += 1
            instance = self.idle.pop() if self.idle else None
        if instance is None or not instance.alive:
            try:
                instance = Instance(self.config, self.code_dir, self.base_env, self.log_path, self.ship)
            except BaseException:
                self.release(None)
                raise
        return instance

    def release(self, instance):
        with self.lock:
            self.busy -= 1
            keep = instance is not None and instance.alive and not self.closed
            if keep:
                self.idle.append(instance)
            self.lock.notify()
        if instance is not None and not keep:
            instance.kill()  # a container of a replaced configuration ends with its invocation

    def close(self):
        with self.lock:
            self.closed = True
            for instance in self.idle:
                instance.kill()
            self.idle.clear()


class Counters:
    """What Lambda reports to CloudWatch per function, counted since the last ``take``."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values = defaultdict(lambda: {"Invocations": 0, "Errors": 0, "Throttles": 0, "Duration": []})

    def add(self, name, metric, value=1):
        with self.lock:
            if metric == "Duration":
                self.values[name]["Duration"].append(value)
            else:
                self.values[name][metric] += value

    def take(self):
        with self.lock:
            taken, self.values = dict(self.values), defaultdict(
                lambda: {"Invocations": 0, "Errors": 0, "Throttles": 0, "Duration": []})
        return taken


class LambdaRuntime:
    def __init__(self, *, workdir, endpoint, region, functions, lambda_endpoint=None, s3_endpoint=None,
                 write_logs=None, retry_delay=1.0):
        self.workdir = Path(workdir)
        self.functions = functions  # describe(name) -> FunctionConfig, code(name) -> zip bytes, deliver(arn, body)
        self.shipper = LogShipper(write_logs) if write_logs is not None else None
        self.retry_delay = retry_delay
        self.counters = Counters()
        self.pools = {}
        self.lock = threading.Lock()
        self.background = ThreadPoolExecutor(max_workers=64, thread_name_prefix="async-invoke")
        self.base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ENDPOINT_URL_LAMBDA": lambda_endpoint or endpoint,
            "AWS_ENDPOINT_URL_S3": s3_endpoint or endpoint,
            "AWS_ACCESS_KEY_ID": FAKE_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_KEY,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def describe(self, name):
        return self.functions.describe(name)

    def _pool(self, name):
        config = self.functions.describe(name)
        with self.lock:
            pool = self.pools.get(config.key)
            if pool is None:
                for key in [key for key in self.pools if key[0] == name]:
                    self.pools.pop(key).close()  # a redeployed function gets new containers
                ship = self.shipper.put if self.shipper else None
                pool = self.pools[config.key] = Pool(config, self._unpack(config), self.base_env, self._log(name), ship)
        pool.resize(config)  # a changed reservation applies at once, to the containers already warm
        return pool

    def recycle(self, name):
        """New containers for the next invocations of ``name``, as Lambda starts after every configuration
        or code update; the ones running now finish their invocation first."""
        with self.lock:
            for key in [key for key in self.pools if key[0] == name]:
                self.pools.pop(key).close()

    def _unpack(self, config):
        code = self.functions.code(config.name)
        digest = hashlib.sha256(code)
        if base64.b64encode(digest.digest()).decode() != config.code_sha256:
            raise RuntimeError(f"{config.name}: the uploaded code does not match its CodeSha256")
        target = self.workdir / "functions" / f"{config.name}-{digest.hexdigest()[:16]}"
        if not target.is_dir():
            staging = target.with_name(target.name + f".{uuid.uuid4().hex}")
            zipfile.ZipFile(io.BytesIO(code)).extractall(staging)
            os.replace(staging, target)
        return target

    def _log(self, name):
        folder = self.workdir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{name}.log"

    def invoke(self, name, event, wait=False):
        """Run once; (ok, payload). Raises Throttled when no container is free and ``wait`` is False."""
        pool = self._pool(name)
        try:
            instance = pool.acquire(wait)
        except Throttled:
            self.counters.add(name, "Throttles")
            raise
        started = time.perf_counter()
        try:
            ok, payload = instance.invoke(event, pool.config.timeout, str(uuid.uuid4()))
        finally:
            pool.release(instance)
        self.counters.add(name, "Invocations")
        self.counters.add(name, "Duration", (time.perf_counter() - started) * 1000)
        if not ok:
            self.counters.add(name, "Errors")
        return ok, payload

    def invoke_async(self, name, event):
        config = self.functions.describe(name)  # fails now (404) for an unknown function, as Lambda does
        self.background.submit(self._run_async, config, event, time.time())

    def _run_async(self, config, event, queued_at):
        attempts = 1 + config.retry_attempts
        ok, payload = False, None
        for attempt in range(attempts):
            if time.time() - queued_at > config.maximum_event_age:
                break
            try:
                ok, payload = self.invoke(config.name, event, wait=True)
            except Exception as error:  # a handler that cannot even load counts as a failed attempt
                ok, payload = False, {"errorMessage": str(error), "errorType": type(error).__name__}
            if ok:
                return
            if attempt + 1 < attempts:
                time.sleep(self.retry_delay * (attempt + 1))
        if config.on_failure:
            record = {
                "version": "1.0",
                "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": f"{config.arn}:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": attempts,
                },
                "requestPayload": event,
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "responsePayload": payload,
            }
            self.functions.deliver(config.on_failure, json.dumps(record))

    def close(self):
        self.background.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            for pool in self.pools.values():
                pool.close()
            self.pools.clear()
        if self.shipper:
            self.shipper.close()
