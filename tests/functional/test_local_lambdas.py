"""The local target's Lambda runtime with real worker processes: warm state, timeouts, reserved
concurrency, async retries, the on-failure destination, and log lines shipped to CloudWatch Logs (a real
moto server). Only the function's description is given directly (in the emulator it comes from the
Lambda API: tapctl.local.lambdas.DeployedFunctions)."""

import base64
import hashlib
import io
import json
import threading
import time
import zipfile

import boto3
import pytest

from tapctl.local.lambdas import FunctionConfig, LambdaRuntime, Throttled, api_writer

HANDLER = '''
import json, os, time
calls = 0

def handle(event, context):
    global calls
    calls += 1
    print(json.dumps({"event_id": event.get("id"), "outcome": "handled"}))
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


class Functions:
    """Deployed functions as the runtime reads them, given here; on-failure records are collected."""

    def __init__(self, code):
        self.configs, self.failures, self._code = {}, [], code

    def describe(self, name):
        return self.configs[name]

    def code(self, name):
        return self._code

    def deliver(self, arn, body):
        self.failures.append((arn, json.loads(body)))


@pytest.fixture
def runtime(tmp_path, aws):
    code = package(HANDLER)
    sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    functions = Functions(code)

    def configure(name, **changes):
        settings = dict(
            name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}", handler="fn.handle",
            timeout=2, memory=128, environment={"GREETING": "hello"}, reserved=2, code_sha256=sha,
            retry_attempts=2, on_failure="arn:aws:sqs:us-east-1:123456789012:failures",
        )
        functions.configs[name] = FunctionConfig(**{**settings, **changes})

    runtime = LambdaRuntime(workdir=tmp_path, endpoint="http://127.0.0.1:9", region="us-east-1", functions=functions,
                            write_logs=api_writer(boto3.client("logs")), retry_delay=0.05)
    runtime.configure, runtime.failures = configure, functions.failures
    yield runtime
    runtime.close()


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def in_flight(runtime, name):
    """Invocations of ``name`` holding a container now."""
    return sum(pool.busy for key, pool in list(runtime.pools.items()) if key[0] == name)


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
    wait_until(lambda: in_flight(runtime, "fn") == 2)
    with pytest.raises(Throttled):
        runtime.invoke("fn", {})
    for thread in threads:
        thread.join()
    assert runtime.invoke("fn", {})[0]


def test_a_changed_reservation_applies_to_the_warm_containers_at_once(runtime):
    runtime.configure("fn")
    assert runtime.invoke("fn", {})[0]
    runtime.configure("fn", reserved=0)  # as put_function_concurrency(0): every invoke is throttled
    with pytest.raises(Throttled):
        runtime.invoke("fn", {})
    runtime.configure("fn", reserved=2)
    assert runtime.invoke("fn", {})[1]["calls"] == 2  # the same warm container


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
    wait_until(lambda: runtime.counters.values["fn"]["Invocations"] == 1)
    runtime.background.shutdown(wait=True)  # the async invocation has finished: no retry, no destination
    assert (runtime.counters.values["fn"]["Invocations"], runtime.failures) == (1, [])


def test_what_a_function_prints_reaches_cloudwatch_logs_one_stream_per_container(runtime):
    runtime.configure("fn")
    threads = [threading.Thread(target=runtime.invoke, args=("fn", {"id": f"evt-{n}", "sleep": 0.3})) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runtime.shipper.flush()
    logs = boto3.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/fn")["logStreams"]
    assert len(streams) == 2 and all("/[$LATEST]" in stream["logStreamName"] for stream in streams)
    found = logs.filter_log_events(logGroupName="/aws/lambda/fn", filterPattern='"evt-1"')["events"]
    assert [json.loads(event["message"]) for event in found] == [{"event_id": "evt-1", "outcome": "handled"}]


def test_invocations_errors_and_throttles_are_counted_for_cloudwatch(runtime):
    runtime.configure("fn", reserved=1)
    runtime.invoke("fn", {})
    runtime.invoke("fn", {"fail": True})
    blocker = threading.Thread(target=runtime.invoke, args=("fn", {"sleep": 0.5}))
    blocker.start()
    wait_until(lambda: in_flight(runtime, "fn") == 1)
    with pytest.raises(Throttled):
        runtime.invoke("fn", {})
    blocker.join()
    counted = runtime.counters.take()["fn"]
    assert (counted["Invocations"], counted["Errors"], counted["Throttles"], len(counted["Duration"])) == (3, 1, 1, 3)
    assert runtime.counters.take() == {}


def test_a_configuration_update_gets_new_containers_even_when_taken_back(runtime):
    runtime.configure("fn")
    assert runtime.invoke("fn", {})[1]["calls"] == 1
    assert runtime.invoke("fn", {})[1]["calls"] == 2  # warm
    runtime.recycle("fn")  # the emulator saw UpdateFunctionConfiguration: same configuration again afterwards
    assert runtime.invoke("fn", {})[1]["calls"] == 1  # a cold start
