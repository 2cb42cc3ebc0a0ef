"""The plan review (tapctl.review) over documents shaped as `terraform show -json` writes them: actions,
replacement causes, drift, sensitive values, data-loss findings and their rendering. Real plans of the
local target are reviewed in tests/integration/test_plan_review.py."""

import json

from tapctl import holdings, review, review_report

QUEUE = 'module.queue["refund"].aws_sqs_queue.this'
DLQ = 'module.queue["refund"].aws_sqs_queue.dlq'


def entry(address, actions, before=None, after=None, **extra):
    resource_type = address.rsplit(".", 2)[-2]
    change = {"actions": actions, "before": before, "after": after, "after_unknown": extra.pop("after_unknown", {}),
              "before_sensitive": extra.pop("before_sensitive", {}), "after_sensitive": extra.pop("after_sensitive", {})}
    if "replace_paths" in extra:
        change["replace_paths"] = extra.pop("replace_paths")
    return {"address": address, "mode": "managed", "type": resource_type, "name": address.rsplit(".", 1)[-1],
            "change": change, **extra}


def test_a_replaced_table_is_data_loss_named_with_what_forces_it_and_what_is_lost():
    table = {"id": "transaction-events-qa", "name": "transaction-events-qa", "hash_key": "event_id",
             "deletion_protection_enabled": True}
    document = {"resource_changes": [
        entry("aws_dynamodb_table.this", ["delete", "create"], table, {**table, "hash_key": "id"},
              replace_paths=[["hash_key"]], action_reason="replace_because_cannot_update"),
        entry("aws_cloudwatch_metric_alarm.queue_not_empty", ["update"], {"threshold": 0}, {"threshold": 1}),
    ]}
    result = review.review(document)
    assert result.counts == {"add": 1, "change": 1, "destroy": 1, "replace": 1}
    assert result.line() == "1 to add, 1 to change, 1 to destroy (1 replaced)"
    [finding] = result.findings
    assert (finding.change.action, finding.change.forced_by, finding.kind) == ("replace", ["hash_key"], "event table")
    assert finding.line().startswith("replace aws_dynamodb_table.this (transaction-events-qa), forced by hash_key: "
                                     "loses every record: the event_ids of the last 30 days")
    assert finding.note == "deletion protection is on: the apply will fail until it is turned off"


def test_removed_queues_are_data_loss_each_with_its_own_loss_and_a_new_one_is_not():
    queue = {"id": "http://sqs/123/refunds-queue-qa", "name": "refunds-queue-qa"}
    dlq = {"id": "http://sqs/123/refunds-dlq-qa", "name": "refunds-dlq-qa"}
    document = {"resource_changes": [
        entry(QUEUE, ["delete"], queue, None, action_reason="delete_because_each_key"),
        entry(DLQ, ["delete"], dlq, None, action_reason="delete_because_each_key"),
        entry("aws_sqs_queue.router_failures", ["no-op"], {"name": "router-failures-qa"}, {"name": "router-failures-qa"}),
        entry('module.queue["chargeback"].aws_sqs_queue.this', ["create"], None, {"name": "chargebacks-queue-qa"}),
    ]}
    result = review.review(document)
    kinds = {finding.change.address: (finding.kind, finding.change.reason) for finding in result.findings}
    assert kinds == {QUEUE: ("queue", "its for_each key is gone"), DLQ: ("dead-letter queue", "its for_each key is gone")}
    assert [(change.address, kind, change.action) for change, kind in result.stateful] == [
        (QUEUE, "queue", "delete"), (DLQ, "dead-letter queue", "delete"),
        ("aws_sqs_queue.router_failures", "router-failures queue", "no change"),
        ('module.queue["chargeback"].aws_sqs_queue.this', "queue", "create")]
    assert result.counts == {"add": 1, "change": 0, "destroy": 2, "replace": 0}


def test_a_create_before_destroy_replacement_still_loses_the_old_resource():
    group = {"id": "/aws/lambda/event-router-qa", "name": "/aws/lambda/event-router-qa"}
    result = review.review({"resource_changes": [
        entry('module.function["router"].aws_cloudwatch_log_group.this', ["create", "delete"], group, {**group, "name": "x"},
              replace_paths=[["name"]])]})
    assert [(f.kind, f.change.action) for f in result.findings] == [("log group", "replace")]


def test_forgetting_a_resource_and_creating_one_lose_nothing():
    result = review.review({"resource_changes": [
        entry("aws_dynamodb_table.this", ["forget"], {"id": "t", "name": "t"}, None),
        entry("aws_secretsmanager_secret.signing", ["create"], None, {"name": "webhook-signing-qa"})]})
    assert result.findings == []
    assert [change.action for change in result.changes] == ["forget", "create"]


def test_drift_has_its_own_list_with_the_attributes_changed_outside_terraform():
    before = {"id": "u", "name": "refunds-queue-qa", "visibility_timeout_seconds": 30, "tags": {}}
    document = {
        "resource_drift": [entry(QUEUE, ["update"], before, {**before, "visibility_timeout_seconds": 45}),
                           entry("aws_sns_topic.alarms", ["delete"], {"id": "arn", "name": "webhook-alarms-qa"}, None)],
        "resource_changes": [entry(QUEUE, ["update"], {**before, "visibility_timeout_seconds": 45}, before)],
    }
    result = review.review(document)
    assert [(c.address, c.attributes) for c in result.drift][0] == (QUEUE, [("visibility_timeout_seconds", "30", "45")])
    assert result.drift[1].reason == "deleted outside terraform"
    assert result.changes[0].attributes == [("visibility_timeout_seconds", "45", "30")]
    assert result.findings == []


def test_drift_that_the_plan_neither_depends_on_nor_puts_back_is_left_out_as_terraform_does():
    queue = {"id": "u", "name": "refunds-queue-qa", "tags": None, "delay_seconds": 0, "policy": '{"a": 1}'}
    table = {"id": "t", "name": "transaction-events-qa", "read_capacity": 0}
    document = {
        "resource_drift": [
            # read back as empty or re-indented: not a change at all
            entry(QUEUE, ["update"], queue, {**queue, "tags": {}, "policy": '{\n  "a": 1\n}'}),
            # really changed, but nothing in the plan depends on it or changes it back
            entry(DLQ, ["update"], {"id": "d", "delay_seconds": 0}, {"id": "d", "delay_seconds": 5}),
            # changed, and an attribute the plan depends on, named by its address without instance keys
            entry("aws_dynamodb_table.this", ["update"], table, {**table, "read_capacity": 5}),
        ],
        "relevant_attributes": [{"resource": "aws_dynamodb_table.this", "attribute": ["read_capacity"]},
                                {"resource": "module.queue.aws_sqs_queue.this", "attribute": ["tags"]}],
    }
    result = review.review(document)
    assert [(change.address, change.attributes) for change in result.drift] == [
        ("aws_dynamodb_table.this", [("read_capacity", "0", "5")])]
    assert "#### Changed outside terraform (drift)" in review_report.markdown(result, environment="qa")
    assert "#### Changed outside terraform (drift)" not in review_report.markdown(review.review({}), environment="qa")


def test_sensitive_and_unknown_values_are_never_shown():
    change = entry('module.function["validator"].aws_lambda_function.this', ["update"],
                   {"environment": [{"variables": {"KEY": "before-value-1"}}], "source_code_hash": "a"},
                   {"environment": [{"variables": {"KEY": "after-value-2"}}], "source_code_hash": None},
                   after_unknown={"source_code_hash": True},
                   before_sensitive={"environment": [{"variables": True}]},
                   after_sensitive={"environment": [{"variables": True}]})
    result = review.review({"resource_changes": [change]})
    assert result.changes[0].attributes == [("environment", "(sensitive)", "(sensitive)"),
                                            ("source_code_hash", "a", "(known after apply)")]
    rendered = review_report.markdown(result, environment="qa")
    assert "before-value-1" not in rendered and "after-value-2" not in rendered
    assert "before-value-1" not in json.dumps(review_report.as_json(result, environment="qa"))


def test_the_markdown_puts_data_loss_first_uncollapsed_and_everything_in_a_collapsed_list():
    table = {"id": "transaction-events-qa", "name": "transaction-events-qa"}
    result = review.review({"resource_changes": [
        entry("aws_dynamodb_table.this", ["delete", "create"], table, table, replace_paths=[["hash_key"]]),
        entry("aws_cloudwatch_metric_alarm.queue_not_empty", ["update"], {"threshold": 0}, {"threshold": 1})]})
    result.findings[0].contents = "about 12 items"
    text = review_report.markdown(result, environment="qa", where="aws, account 123456789012, eu-west-1")
    lines = text.splitlines()
    assert lines[0] == "<!-- tapctl-plan:qa -->"
    assert lines[1] == "### tapctl plan: `qa` (aws, account 123456789012, eu-west-1)"
    assert "**Plan: 1 to add, 1 to change, 1 to destroy (1 replaced)**" in lines
    caution = lines.index("> [!CAUTION]")
    details = lines.index("<details>")
    finding = next(line for line in lines if line.startswith("> - **replace**"))
    assert caution < lines.index(finding) < details
    assert "forced by `hash_key`" in finding and "it holds **about 12 items**" in finding
    assert "| `aws_cloudwatch_metric_alarm.queue_not_empty` | update | `threshold`: 0 → 1 |" in lines[details:]
    assert "| `aws_dynamodb_table.this` | transaction-events-qa | event table | **replace** |" in lines[:details]


def test_a_plan_without_changes_says_so_and_its_json_has_every_section():
    result = review.review({"resource_changes": [
        entry("aws_sqs_queue.router_failures", ["no-op"], {"name": "f"}, {"name": "f"})]})
    text = review_report.markdown(result, environment="qa")
    assert "**No changes**" in text and "No resource holding data is deleted or replaced." in text
    assert "<details>" not in text
    document = review_report.as_json(result, environment="qa")
    assert set(document) == {"environment", "where", "counts", "data_loss", "stateful", "changes", "drift"}
    json.dumps(document)


def test_long_values_keep_the_part_that_differs():
    before = "The oldest message in payments-queue-qa waits longer than 900 s: consumers are behind or stopped."
    result = review.review({"resource_changes": [
        entry("aws_cloudwatch_metric_alarm.oldest", ["update"], {"alarm_description": before},
              {"alarm_description": before.replace("900", "600")})]})
    assert result.changes[0].attributes == [
        ("alarm_description", "...longer than 900 s: consum...", "...longer than 600 s: consum...")]


def test_table_cells_cannot_break_the_markdown_table():
    result = review.review({"resource_changes": [
        entry("aws_cloudwatch_metric_alarm.x", ["update"], {"alarm_description": "a | b"}, {"alarm_description": "c\nd"})]})
    row = [line for line in review_report.markdown(result, environment="qa").splitlines() if "metric_alarm.x" in line][0]
    assert "a \\| b" in row and "c d" in row


def test_contents_are_read_best_effort():
    class Failing:
        def get_queue_attributes(self, **_):
            raise PermissionError("denied")

    class Counting:
        def get_queue_attributes(self, **_):
            return {"Attributes": {"ApproximateNumberOfMessages": "3", "ApproximateNumberOfMessagesNotVisible": "1"}}

    queue = {"id": "http://sqs/123/refunds-queue-qa", "name": "refunds-queue-qa"}
    result = review.review({"resource_changes": [entry(QUEUE, ["delete"], queue, None)]})
    holdings.measure(result, lambda service: Counting())
    assert result.findings[0].contents == "4 messages"
    holdings.measure(result, lambda service: Failing())
    assert result.findings[0].contents == "an unknown amount (could not read it: PermissionError)"


def test_every_stateful_kind_of_the_module_is_known():
    addresses = {
        "aws_dynamodb_table.this": "event table",
        'module.queue["payment"].aws_sqs_queue.this': "queue",
        'module.queue["payment"].aws_sqs_queue.dlq': "dead-letter queue",
        "aws_sqs_queue.router_failures": "router-failures queue",
        'module.function["validator"].aws_cloudwatch_log_group.this': "log group",
        "aws_cloudwatch_log_group.api_access": "log group",
        "aws_secretsmanager_secret.signing": "signing secret",
        "aws_s3_bucket.archive": "evidence archive",
        "aws_kms_key.archive[0]": "archive key",
    }
    for address, kind in addresses.items():
        assert review.stateful_kind(address.rsplit(".", 2)[-2], address)[0] == kind, address
    assert review.stateful_kind("aws_sqs_queue_policy", "aws_sqs_queue_policy.x") is None
    assert review.stateful_kind("aws_kms_key", "aws_kms_key.alarms") is None  # the alarm topic's key holds nothing


def test_a_replaced_archive_is_data_loss_counted_by_its_archived_requests():
    class Versions:
        def list_object_versions(self, **_):
            return {"Versions": [{"Key": "events/a.json"}, {"Key": "events/b.json"}], "IsTruncated": True}

    bucket = {"id": "evidence-qa-123456789012-us-east-1", "bucket": "evidence-qa-123456789012-us-east-1",
              "object_lock_enabled": True}
    result = review.review({"resource_changes": [
        entry("aws_s3_bucket.archive", ["delete", "create"], bucket, {**bucket, "object_lock_enabled": False},
              replace_paths=[["object_lock_enabled"]], action_reason="replace_because_cannot_update")]})
    [finding] = result.findings
    assert finding.kind == "evidence archive" and finding.change.forced_by == ["object_lock_enabled"]
    holdings.measure(result, lambda service: Versions())
    assert finding.contents == "more than 2 archived requests"
