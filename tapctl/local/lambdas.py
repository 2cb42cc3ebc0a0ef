"""Lambda execution for the local target: the deployed zip, run in worker processes.

What it mimics, and how:
- the code is the zip terraform uploaded (its sha256 is checked against the function's CodeSha256),
  with the function's handler, environment variables and timeout;
- each worker process is one warm container: module state survives between invocations, and a
  crash or a timeout costs only that container;
- reserved concurrency bounds the containers: a synchronous invoke beyond it is throttled (429),
  an asynchronous one waits in the function's queue, as Lambda's internal queue does;
- asynchronous invokes answer 202 at once and run in the background with the deployed event-invoke
  config: retries of a failed attempt, then the on-failure destination (an SQS queue) with the
  record Lambda writes. AWS waits about 1 and 2 minutes between retries; here the waits are
  ``retry_delay`` and twice that, so a local run finishes in seconds.
"""

import base64
import hashlib
import io
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tapctl.local.emulator import FAKE_KEY

DEFAULT_CONCURRENCY = 10  # unreserved functions: a small local bound


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

    @property
    def key(self):
        return (self.name, self.code_sha256, json.dumps(self.environment, sort_keys=True), self.handler, self.timeout)


class Throttled(Exception):
    pass


class Instance:
    """A worker process running one function's handler."""

    def __init__(self, config, code_dir, base_env, log_path):
        env = {**base_env, **config.environment}
        env.update(
            AWS_LAMBDA_FUNCTION_NAME=config.name,
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(config.memory),
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            TAPCTL_FUNCTION_ARN=config.arn,
        )
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tapctl.local.worker", str(code_dir), config.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            text=True,
            bufsize=1,
        )
        ready = self._read(30)
        if not ready or not json.loads(ready).get("ready"):
            self.kill()
            raise RuntimeError(f"{config.name}: the handler {config.handler} did not load (see {log_path})")

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
        self.log.close()


class Pool:
    """The containers of one function configuration, bounded by its reserved concurrency."""

    def __init__(self, config, code_dir, base_env, log_path):
        self.config, self.code_dir, self.base_env, self.log_path = config, code_dir, base_env, log_path
        self.limit = config.reserved if config.reserved is not None else DEFAULT_CONCURRENCY
        self.idle = []
        self.busy = 0
        self.lock = threading.Condition()

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
                instance = Instance(self.config, self.code_dir, self.base_env, self.log_path)
            except BaseException:
                self.release(None)
                raise
        return instance

    def release(self, instance):
        with self.lock:
            self.busy -= 1
            if instance is not None and instance.alive:
                self.idle.append(instance)
            self.lock.notify()

    def close(self):
        with self.lock:
            for instance in self.idle:
                instance.kill()
            self.idle.clear()


class LambdaRuntime:
    def __init__(self, workdir, endpoint, region, describe, code_of, send_to_queue, retry_delay=1.0):
        self.workdir = Path(workdir)
        self.describe = describe  # name -> FunctionConfig (from the emulator's API)
        self.code_of = code_of  # name -> zip bytes (what terraform uploaded)
        self.send_to_queue = send_to_queue  # (queue ARN, body) -> None
        self.retry_delay = retry_delay
        self.pools = {}
        self.lock = threading.Lock()
        self.background = ThreadPoolExecutor(max_workers=64, thread_name_prefix="async-invoke")
        self.base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": FAKE_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_KEY,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def _pool(self, name):
        config = self.describe(name)
        with self.lock:
            pool = self.pools.get(config.key)
            if pool is None:
                for key in [key for key in self.pools if key[0] == name]:
                    self.pools.pop(key).close()  # a redeployed function gets new containers
                pool = self.pools[config.key] = Pool(config, self._unpack(config), self.base_env, self._log(name))
        return pool

    def _unpack(self, config):
        code = self.code_of(config.name)
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
        instance = pool.acquire(wait)
        try:
            return instance.invoke(event, pool.config.timeout, str(uuid.uuid4()))
        finally:
            pool.release(instance)

    def invoke_async(self, name, event):
        config = self.describe(name)  # fails now (404) for an unknown function, as Lambda does
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
            self.send_to_queue(config.on_failure, json.dumps(record))

    def close(self):
        self.background.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            for pool in self.pools.values():
                pool.close()
            self.pools.clear()
