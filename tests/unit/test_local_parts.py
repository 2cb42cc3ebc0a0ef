"""The local emulator's parts as pure functions (SQS's adjustments, the gateway's validation and
responses, the monitor's alarm arithmetic), the target interface, and the compact terraform view; no
network, no process."""

import json

import jsonschema
import pytest

from tapctl.config import Settings
from tapctl.identity import Identity
from tapctl.local import gateway, monitor
from tapctl.local.sqs import Sqs
from tapctl.progress import UiStream
from tapctl.targets import AwsTarget, LocalTarget, for_settings
from tests.support import ROOT, schema

QUEUE = "http://127.0.0.1:1/123456789012/payments-queue-dev"


# -- SQS ----------------------------------------------------------------------------------------------


def test_redrive_allow_policy_is_kept_here_and_answered_from_here():
    sqs = Sqs()
    allow = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": ["arn:aws:sqs:us-east-1:1:q"]})
    forward, early = sqs.request("SetQueueAttributes", {"QueueUrl": QUEUE, "Attributes": {"RedriveAllowPolicy": allow}})
    assert (forward, early) == (None, {})  # moto would drop it: answered here
    forward, early = sqs.request("GetQueueAttributes", {"QueueUrl": QUEUE, "AttributeNames": ["RedriveAllowPolicy"]})
    assert forward is None and early == {"Attributes": {"RedriveAllowPolicy": allow}}
    sqs.request("SetQueueAttributes", {"QueueUrl": QUEUE, "Attributes": {"RedriveAllowPolicy": ""}})
    assert sqs.request("GetQueueAttributes", {"QueueUrl": QUEUE, "AttributeNames": ["RedriveAllowPolicy"]})[1] == {}


def test_the_redrive_policy_is_answered_as_compact_json_as_aws_does():
    answer = {"Attributes": {"RedrivePolicy": '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:dlq", "maxReceiveCount": 3}'}}
    adjusted = Sqs().response("GetQueueAttributes", {"QueueUrl": QUEUE, "AttributeNames": ["All"]}, answer)
    assert adjusted["Attributes"]["RedrivePolicy"] == '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq","maxReceiveCount":3}'


def test_a_move_task_needs_its_destination_here():
    status, answer = Sqs(client=lambda: None).move_tasks("StartMessageMoveTask", {"SourceArn": "arn:aws:sqs:us-east-1:1:dlq"})
    assert status == 400 and "DestinationArn" in answer["message"]
    assert Sqs().move_tasks("ListMessageMoveTasks", {"SourceArn": "arn:aws:sqs:us-east-1:1:dlq"}) == (200, {"Results": []})


# -- the gateway --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    return jsonschema.Draft4Validator(schema())


@pytest.mark.parametrize("depth", [1000, 50_000])
def test_a_body_nested_too_deeply_for_any_parser_is_a_validation_error_not_a_crash(model, depth):
    assert gateway._validation_error(model, "[" * depth + "]" * depth) == "[Invalid request body: nested too deeply]"


def test_missing_properties_are_named_together_as_api_gateway_does(model):
    assert gateway._validation_error(model, '{"event_id": "e"}') == (
        '[object has missing required properties (["transaction_type", "amount", "timestamp"])]')
    assert gateway._validation_error(model, "{").startswith("[Invalid request body: ")
    assert gateway._validation_error(model, json.dumps({"event_id": "e", "transaction_type": "payment", "amount": 1,
                                                        "timestamp": "2026-11-29T17:45:00Z"})) is None


@pytest.mark.parametrize(("content_type", "validated"), [
    (None, True), ("application/json", True), ("application/json; charset=utf-8", True), ("APPLICATION/JSON", True),
    ("text/plain", False), ("application/x-www-form-urlencoded", False),
])
def test_the_model_applies_to_json_content_only(content_type, validated):
    headers = {"Content-Type": [content_type]} if content_type else {}
    assert gateway._json_content(headers) is validated


def route(responses):
    return gateway.Route(api_id="a", api_name="webhook-api-dev", stage="v1", resource_id="r", resource_path="/webhook",
                         method="POST", function_arn="arn", schema=None, responses=responses, burst=1, rate=1,
                         permitted=True)


def test_gateway_errors_render_the_deployed_templates_as_json():
    template = ('{"error": "Invalid request body: $util.escapeJavaScript($context.error.validationErrorString)'
                '.replaceAll("\\\\\'", "\'")"}')
    responses = {"BAD_REQUEST_BODY": {"responseType": "BAD_REQUEST_BODY", "statusCode": "400",
                                      "responseTemplates": {"application/json": template}},
                 "DEFAULT_5XX": {"responseType": "DEFAULT_5XX", "responseTemplates": {
                     "application/json": '{"error": $context.error.messageString}'}}}
    status, headers, body = gateway.Gateway._error(None, route(responses), "BAD_REQUEST_BODY", 400, "Invalid request body",
                                                   '[instance /amount: "x" is not of type "number"]')
    assert (status, headers["Content-Type"]) == (400, "application/json")
    assert json.loads(body) == {"error": 'Invalid request body: [instance /amount: "x" is not of type "number"]'}
    status, _, body = gateway.Gateway._error(None, route(responses), "THROTTLED", 429, "Too Many Requests")
    assert (status, json.loads(body)) == (429, {"message": "Too Many Requests"})  # no template: API Gateway's own


def test_an_integration_failure_answers_the_deployed_status_and_headers():
    responses = {"INTEGRATION_FAILURE": {
        "responseType": "INTEGRATION_FAILURE", "statusCode": "503",
        "responseParameters": {"gatewayresponse.header.Retry-After": "'1'", "gatewayresponse.header.X": "method.x"},
        "responseTemplates": {"application/json": '{"error": "Service temporarily unavailable, please retry"}'}}}
    status, headers, body = gateway.Gateway._error(None, route(responses), "INTEGRATION_FAILURE", 500,
                                                   "Internal server error")
    assert (status, headers) == (503, {"Content-Type": "application/json", "Retry-After": "1"})
    assert json.loads(body) == {"error": "Service temporarily unavailable, please retry"}


def test_the_token_bucket_admits_its_burst_then_its_rate():
    bucket = gateway.Bucket(burst=2, rate=1.0, tokens=2)
    assert [bucket.take(), bucket.take(), bucket.take()] == [True, True, False]
    bucket.stamp -= 1.0  # a second later: one more token
    assert [bucket.take(), bucket.take()] == [True, False]


# -- the monitor -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "rate"), [({"invocations": 0, "errors": 0}, 0.0),
                                               ({"invocations": 200, "errors": 3}, 1.5)])
def test_the_modules_error_rate_expression_evaluates(values, rate):
    expression = "IF(invocations > 0, 100 * errors / invocations, 0)"
    assert monitor.evaluate_expression(expression, values) == rate


@pytest.mark.parametrize("expression", ["__import__('os')", "errors ** 2", "errors.real", "unknown + 1"])
def test_anything_else_in_an_expression_is_refused(expression):
    with pytest.raises(ValueError):
        monitor.evaluate_expression(expression, {"errors": 1})


@pytest.mark.parametrize(("value", "missing", "state"), [
    (1, "notBreaching", "ALARM"), (0, "notBreaching", "OK"), (None, "notBreaching", "OK"), (None, "breaching", "ALARM"),
    (float("nan"), "notBreaching", "OK"),
])
def test_alarm_states_follow_the_threshold_and_missing_data(value, missing, state):
    alarm = {"ComparisonOperator": "GreaterThanThreshold", "Threshold": 0, "TreatMissingData": missing}
    assert monitor.alarm_state(alarm, value) == state


# -- targets ----------------------------------------------------------------------------------------------


def test_a_target_is_picked_once_from_the_settings():
    assert type(for_settings(Settings(project_dir=ROOT, env="dev", target="aws"))) is AwsTarget
    assert type(for_settings(Settings(project_dir=ROOT, env="dev", target="local"))) is LocalTarget
    assert (AwsTarget.durable, LocalTarget.durable) == (True, False)


def test_terraform_is_told_the_account_and_region_of_the_identity():
    target = AwsTarget(Settings(project_dir=ROOT, env="dev"))
    assert target.terraform_variables(Identity("123456789012", "eu-west-1")) == {
        "aws_region": "eu-west-1", "aws_account_id": "123456789012"}


def test_the_local_target_points_outputs_at_its_emulator():
    target = LocalTarget(Settings(project_dir=ROOT, env="dev", target="local"))
    target._state = {"endpoint": "http://127.0.0.1:4566", "region": "us-east-1"}
    outputs = target.outputs({"api_id": "abc", "api_stage_name": "v1", "dashboard_url": "https://console",
                              "api_endpoint": "https://abc.execute-api.us-east-1.amazonaws.com/v1/webhook"})
    assert outputs["api_endpoint"] == "http://127.0.0.1:4566/restapis/abc/v1/_user_request_/webhook"
    assert outputs["dashboard_url"] is None  # the AWS console shows no local dashboard
    assert "tapctl_local_override.tf" in target.terraform_files()


def test_where_the_state_lives_is_named():
    settings = Settings(project_dir=ROOT, env="prod", backend_config="deploy/backend.hcl")
    assert AwsTarget(settings).state_description() == (
        "S3 backend of deploy/backend.hcl, key tapctl/prod/terraform.tfstate")


# -- the compact view of terraform's stream ----------------------------------------------------------------


def hook(kind, address):
    return {"type": kind, "@message": f"{address}: {kind}", "hook": {"resource": {"addr": address}}}


def test_an_apply_is_one_live_line_with_the_slowest_in_flight():
    lines, live, now = [], [], [0.0]
    stream = UiStream(lines.append, live=live.append, total=3, clock=lambda: now[0])
    stream.show(hook("apply_start", "aws_sqs_queue.dlq"))
    now[0] = 5
    stream.show(hook("apply_start", "aws_lambda_function.router"))
    now[0] = 26
    stream.show(hook("apply_complete", "aws_lambda_function.router"))
    stream.show(hook("apply_errored", "aws_sqs_queue.other"))
    assert live == [
        "0/3 resources, 0 s; slowest in flight: aws_sqs_queue.dlq (0 s)",
        "0/3 resources, 5 s; slowest in flight: aws_sqs_queue.dlq (5 s)",
        "1/3 resources, 26 s; slowest in flight: aws_sqs_queue.dlq (26 s)",
        "2/3 resources, 26 s; slowest in flight: aws_sqs_queue.dlq (26 s)",
    ]
    assert lines == ["aws_sqs_queue.other: apply_errored"]  # a failure keeps its own line


def test_a_compact_plan_counts_creates_and_names_every_other_change():
    lines = []
    stream = UiStream(lines.append, live=lambda text: None)
    for address, action, kind in (("a.x", "create", "aws_sqs_queue"), ("a.y", "create", "aws_sqs_queue"),
                                  ("b.z", "create", "aws_lambda_function"), ("c.t", "delete", "aws_dynamodb_table")):
        stream.show({"type": "planned_change", "@message": f"{address}: Plan to {action}",
                     "change": {"action": action, "resource": {"addr": address, "resource_type": kind}}})
    stream.show({"type": "change_summary", "changes": {"operation": "plan"}, "@message": "Plan: 3 to add"})
    assert lines == ["c.t: Plan to delete", "to create: 3 (2 aws_sqs_queue, 1 aws_lambda_function)"]


def test_a_long_list_of_creates_names_the_most_common_kinds():
    lines = []
    stream = UiStream(lines.append, live=lambda text: None)
    for number, kind in enumerate(["queue"] * 3 + ["alarm"] * 2 + ["a", "b", "c", "d"]):
        stream.show({"type": "planned_change", "@message": "", "change": {
            "action": "create", "resource": {"addr": f"x.{number}", "resource_type": kind}}})
    stream.finish()
    assert lines == ["to create: 9 (3 queue, 2 alarm, 1 a, 1 b and 2 more)"]


def test_the_emulators_processes_import_nothing_of_the_cli():
    """The emulator's processes (its front, its AWS APIs, the function workers) stand on tapctl.local and
    tapctl.moves alone: no click, no terraform runner, no command module."""
    import subprocess
    import sys

    modules = ("tapctl.local.server", "tapctl.local.aws", "tapctl.local.worker", "tapctl.local.sqs")
    code = (f"import sys, {', '.join(modules)}; sys.modules['tapctl.local.sqs'].Sqs; "
            "from tapctl.moves import move_messages; "
            "print(' '.join(sorted(name for name in sys.modules if name.startswith(('tapctl', 'click')))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "tapctl.local.server" in loaded
    assert [name for name in loaded if not (name in ("tapctl", "tapctl.local", "tapctl.moves")
                                            or name.startswith("tapctl.local."))] == []
