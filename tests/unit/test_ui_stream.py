"""How tapctl shows terraform's JSON UI stream (messages shaped as terraform 1.11 writes them)."""

from tapctl.progress import SHOWN, UiStream


def drift(address):
    return {"@level": "info", "@message": f"{address}: Drift detected (update)", "type": "resource_drift",
            "change": {"resource": {"addr": address}, "action": "update"}}


def planned(address, action="update"):
    return {"@level": "info", "@message": f"{address}: Plan to {action}", "type": "planned_change",
            "change": {"resource": {"addr": address}, "action": action}}


def summary(operation, add=0, change=0, remove=0):
    return {"@level": "info", "@message": f"{operation} summary", "type": "change_summary",
            "changes": {"add": add, "change": change, "import": 0, "remove": remove, "operation": operation}}


def shown(messages, show=SHOWN):
    lines = []
    stream = UiStream(lines.append, show)
    for message in messages:
        stream.show(message)
    stream.finish()
    return lines, stream.errors


def test_drift_is_shown_only_for_resources_the_plan_changes():
    lines, _ = shown([
        drift("aws_sqs_queue.a"), drift("aws_sqs_queue.b"), drift("aws_sns_topic.t"),
        planned("aws_sqs_queue.b"),
        summary("plan", change=1),
    ])
    assert lines == ["aws_sqs_queue.b: Plan to update", "aws_sqs_queue.b: Drift detected (update)"]


def test_drift_that_leads_to_no_change_is_not_shown():
    lines, _ = shown([drift("aws_sqs_queue.a"), drift("aws_dynamodb_table.t"), summary("plan")])
    assert lines == []


def test_an_apply_shows_its_plan_summary_only_when_asked():
    stream = [planned("aws_sqs_queue.a", "create"), summary("plan", add=1), summary("apply", add=1)]
    assert shown(stream)[0] == ["aws_sqs_queue.a: Plan to create", "apply summary"]
    assert shown(stream, SHOWN | {"change_summary:plan"})[0] == [
        "aws_sqs_queue.a: Plan to create", "plan summary", "apply summary"
    ]


def test_error_diagnostics_are_collected_and_warnings_shown_as_one_line():
    lines, errors = shown([
        {"@level": "warn", "type": "diagnostic", "diagnostic": {"summary": "Deprecated", "detail": "long text"}},
        {"@level": "error", "type": "diagnostic", "diagnostic": {"summary": "creating SQS Queue", "detail": "denied"}},
    ])
    assert lines == ["warning: Deprecated"]
    assert errors == ["creating SQS Queue: denied"]
