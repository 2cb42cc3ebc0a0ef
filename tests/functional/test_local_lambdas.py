"""The local target's Lambda runtime with real worker processes: warm state, timeouts, reserved
concurrency, async retries and the on-failure destination. Only the function's description is given
directly (in the emulator it comes from the Lambda API)."""

import base64
import hashlib
import io
import json
import threading
import time
import zipfile

import pytest

from tapctl.local.lambdas import FunctionConfig, LambdaRuntime, Throttled

HANDLER = '''
import os, time
calls = 0

def handle(event, context):
    global calls
    calls += 1
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"calls": calls, "greeting": os.environ.get("GREETING"), "function": context.function_name}
'''


def package(source):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fn.py", source)
    return buffer.getvalue()


@pytest.fixture
def runtime(tmp_path):
    code = package(HANDLER)
    sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    configs, failures = {}, []

    def configure(name, **changes):
        settings = dict(
            name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}", handler="fn.handle",
            timeout=2, memory=128, environment={"GREETING": "hello"}, reserved=2, code_sha256=sha,
            retry_attempts=2, on_failure="arn:aws:sqs:us-east-1:123456789012:failures",
        )
        configs[name] = FunctionConfig(**{**settings, **changes})

    runtime = LambdaRuntime(
        tmp_path, "http://127.0.0.1:9", "us-east-1", lambda name: configs[name], lambda name: code,
        lambda arn, body: failures.append((arn, json.loads(body))), retry_delay=0.05,
    )
    runtime.configure, runtime.failures = configure, failures
    yield runtime
    runtime.close()


def test_a_warm_container_keeps_module_state_and_the_environment(runtime):
    runtime.configure("fn")
    assert runtime.invoke("fn", {}) == (True, {"calls": 1, "greeting": "hello", "function": "fn"})
    assert runtime.invoke("fn", {})[1]["calls"] == 2


def test_a_function_error_is_reported_not_raised(runtime):
    runtime.configure("fn")
    ok, payload = runtime.invoke("fn", {"fail": True})
    assert not ok and payload["errorType"] == "ValueError" and payload["errorMessage"] == "asked to fail"


def test_a_function_over_its_timeout_is_stopped_and_counted_as_an_error(runtime):
    runtime.configure("slow")
    started = time.monotonic()
    ok, payload = runtime.invoke("slow", {"sleep": 10})
    assert time.monotonic() - started < 5
    assert not ok and payload["errorType"] == "Sandbox.Timedout"
    assert runtime.invoke("slow", {})[1]["calls"] == 1  # a fresh container replaced the stopped one


def test_beyond_reserved_concurrency_a_sync_invoke_is_throttled(runtime):
    runtime.configure("fn")
    threads = [threading.Thread(target=runtime.invoke, args=("fn", {"sleep": 1})) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    with pytest.raises(Throttled):
        runtime.invoke("fn", {})
    for thread in threads:
        thread.join()
    assert runtime.invoke("fn", {})[0]


def test_a_changed_zip_is_refused_when_it_does_not_match_its_sha(runtime):
    runtime.configure("fn", code_sha256="not-the-sha")
    with pytest.raises(RuntimeError, match="does not match its CodeSha256"):
        runtime.invoke("fn", {})


def test_async_failures_are_retried_then_sent_to_the_destination(runtime):
    runtime.configure("fn")
    runtime.invoke_async("fn", {"fail": True, "id": "evt-1"})
    deadline = time.monotonic() + 10
    while not runtime.failures and time.monotonic() < deadline:
        time.sleep(0.05)
    [(arn, record)] = runtime.failures
    assert arn.endswith(":failures")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"fail": True, "id": "evt-1"}
    assert record["responsePayload"]["errorType"] == "ValueError"


def test_async_success_sends_nothing_to_the_destination(runtime):
    runtime.configure("fn")
    runtime.invoke_async("fn", {"id": "evt-2"})
    time.sleep(1)
    assert runtime.failures == []
