"""`tapctl plan --summary`: real plans of the session's local deployment, for real changes: a variable
changed (updates in place), a fixture module that forces the table's replacement, one that removes a
queue pair, and drift made behind terraform's back. Each summary is checked line by line, with its exit
code; nothing here applies, except where a refused deploy must prove it changed nothing."""

import json
import re
import shutil
import uuid

import pytest

from tapctl.config import SOURCES

from tests.conftest import ITEST_VARIABLES
from tests.support import ROOT

STATEFUL_ROWS = {
    "`aws_dynamodb_table.this` | transaction-events-itest | event table",
    '`module.queue["payment"].aws_sqs_queue.this` | payments-queue-itest | queue',
    '`module.queue["payment"].aws_sqs_queue.dlq` | payments-dlq-itest | dead-letter queue',
    '`module.queue["refund"].aws_sqs_queue.this` | refunds-queue-itest | queue',
    '`module.queue["refund"].aws_sqs_queue.dlq` | refunds-dlq-itest | dead-letter queue',
    '`module.queue["dispute"].aws_sqs_queue.this` | disputes-queue-itest | queue',
    '`module.queue["dispute"].aws_sqs_queue.dlq` | disputes-dlq-itest | dead-letter queue',
    "`aws_sqs_queue.router_failures` | router-failures-itest | router-failures queue",
    "`aws_cloudwatch_log_group.api_access` | /aws/apigateway/webhook-api-itest | log group",
    '`module.function["validator"].aws_cloudwatch_log_group.this` | /aws/lambda/webhook-validator-itest | log group',
    '`module.function["router"].aws_cloudwatch_log_group.this` | /aws/lambda/event-router-itest | log group',
    '`module.function["sweeper"].aws_cloudwatch_log_group.this` | /aws/lambda/outbox-sweeper-itest | log group',
    "`aws_secretsmanager_secret.signing` | webhook-signing-itest | signing secret",
    "`aws_s3_bucket.archive` | evidence-itest-123456789012-us-east-1 | evidence archive",
    # the session's environment enables every payment-provider source (tests/conftest.py)
    *(f'`aws_secretsmanager_secret.source["{name}"]` | webhook-{name}-itest | signing secret' for name in SOURCES),
}


def stateful_rows(deployment):
    """STATEFUL_ROWS and the archive's key, whose id KMS chose."""
    aliases = deployment.client("kms").list_aliases()["Aliases"]
    [key_id] = [alias["TargetKeyId"] for alias in aliases if alias["AliasName"] == f"alias/webhook-archive-{deployment.env}"]
    return STATEFUL_ROWS | {f"`aws_kms_key.archive[0]` | {key_id} | archive key"}


def rows(markdown, heading):
    """The table rows under ``heading`` (cells joined by ' | ', without the outer pipes)."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    found = []
    for line in lines[start + 1:]:
        if line.startswith("#") or line.startswith("<details>"):
            break
        if line.startswith("| ") and not line.startswith("| ---"):
            found.append(line[2:-2])
    return found[1:]  # without the header row


def details(markdown):
    lines = markdown.splitlines()
    start = lines.index("<details>")
    return [line[2:-2] for line in lines[start:lines.index("</details>")] if line.startswith("| `")]


@pytest.fixture
def module_copy(tmp_path):
    """A copy of terraform/ to change, as a pull request would."""
    copy = tmp_path / "terraform"
    shutil.copytree(ROOT / "terraform", copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    return copy


def edit(path, old, new, count=1):
    text = path.read_text()
    assert text.count(old) == count, (path, old)
    path.write_text(text.replace(old, new))


def test_a_changed_variable_is_updated_in_place_and_loses_nothing(local_only, tmp_path):
    deployment = local_only
    var_file = tmp_path / "changed.tfvars.json"
    var_file.write_text(json.dumps({**ITEST_VARIABLES, "alarm_oldest_message_age_seconds": 600}))
    summary_file = tmp_path / "plan.md"
    result = deployment.tapctl("plan", "--var-file", str(var_file), "--summary", "md", "--summary-file", str(summary_file))
    assert result.exit_code == 0, result.output
    text = summary_file.read_text()
    assert result.stdout.strip() == text.strip()
    lines = text.splitlines()
    assert lines[:6] == [
        "<!-- tapctl-plan:itest -->",
        "### tapctl plan: `itest` (local, account 123456789012, us-east-1)",
        "",
        "**Plan: 0 to add, 3 to change, 0 to destroy**",
        "",
        "No resource holding data is deleted or replaced.",
    ]
    assert {row.rsplit(" | ", 1)[0] for row in rows(text, "#### Resources holding data")} == stateful_rows(deployment)
    assert {row.rsplit(" | ", 1)[1] for row in rows(text, "#### Resources holding data")} == {"no change"}
    assert sorted(details(text)) == sorted(
        f'`aws_cloudwatch_metric_alarm.oldest_message["{kind}"]` | update | `alarm_description`: ...longer than '
        "900 s: consum... → ...longer than 600 s: consum...; `threshold`: 900 → 600"
        for kind in ("dispute", "payment", "refund"))
    assert "#### Changed outside terraform (drift)" not in lines


def test_a_forced_replacement_of_the_table_is_data_loss_and_exits_11_unless_allowed(local_only, module_copy, tmp_path):
    deployment = local_only
    edit(module_copy / "table.tf", 'hash_key                    = "event_id"', 'hash_key                    = "id"')
    edit(module_copy / "table.tf", 'name = "event_id"', 'name = "id"')
    items = deployment.client("dynamodb").describe_table(TableName="transaction-events-itest")["Table"]["ItemCount"]
    summary_file = tmp_path / "plan.json"
    result = deployment.tapctl("plan", "--module-dir", str(module_copy), "--summary-file", str(summary_file))
    assert result.exit_code == 11, result.output
    assert result.output.splitlines()[-1] == (
        "Error: the plan deletes or replaces 1 resource holding data (aws_dynamodb_table.this); "
        "pass --allow-data-loss if that loss is intended")
    summary = json.loads(summary_file.read_text())
    assert json.loads(result.stdout[: result.stdout.rindex("}") + 1]) == summary
    [finding] = summary["data_loss"]
    assert finding == {
        "address": "aws_dynamodb_table.this", "type": "aws_dynamodb_table", "name": "transaction-events-itest",
        "kind": "event table", "action": "replace", "forced_by": ["hash_key"], "reason": None,
        "lost": finding["lost"], "note": None,
        "contents": f"about {items} item{'' if items == 1 else 's'} (DynamoDB updates this count about every 6 hours)",
    }
    assert finding["lost"].startswith("every record: the event_ids of the last 30 days")
    assert summary["counts"]["replace"] == 1

    markdown = deployment.tapctl("plan", "--module-dir", str(module_copy), "--summary", "md", "--allow-data-loss")
    assert markdown.exit_code == 0, markdown.output
    lines = markdown.stdout.splitlines()
    assert "> [!CAUTION]" in lines
    assert ("> **Data loss: this plan deletes or replaces 1 resource holding data.** Merge and apply only if that "
            "loss is intended (`--allow-data-loss`).") in lines
    [line] = [line for line in lines if line.startswith("> - ")]
    assert line.startswith("> - **replace** `aws_dynamodb_table.this` (transaction-events-itest), forced by `hash_key`: "
                           "loses every record: the event_ids of the last 30 days")
    assert line.endswith(f"; it holds **about {items} item{'' if items == 1 else 's'} (DynamoDB updates this count "
                         "about every 6 hours)**")
    assert lines.index(line) < lines.index("<details>")
    assert "`aws_dynamodb_table.this` | transaction-events-itest | event table | **replace**" in rows(
        markdown.stdout, "#### Resources holding data")


def test_a_deploy_that_would_replace_the_table_changes_nothing(local_only, module_copy):
    deployment = local_only
    edit(module_copy / "table.tf", 'hash_key                    = "event_id"', 'hash_key                    = "id"')
    edit(module_copy / "table.tf", 'name = "event_id"', 'name = "id"')
    before = deployment.client("dynamodb").describe_table(TableName="transaction-events-itest")["Table"]
    result = deployment.tapctl("deploy", "--module-dir", str(module_copy), "--auto-approve")
    assert result.exit_code == 11, result.output
    assert "DATA LOSS: replace aws_dynamodb_table.this (transaction-events-itest), forced by hash_key" in result.output
    assert "Error: nothing was changed" in result.output
    after = deployment.client("dynamodb").describe_table(TableName="transaction-events-itest")["Table"]
    assert (after["KeySchema"], after["CreationDateTime"]) == (before["KeySchema"], before["CreationDateTime"])
    assert deployment.tapctl("plan").exit_code == 0  # the module as it is: nothing to lose


def test_removing_a_queue_pair_names_both_and_what_they_hold(local_only, module_copy):
    deployment = local_only
    edit(module_copy / "locals.tf", '    dispute = { queue = "disputes-queue-${local.env}", dlq = "disputes-dlq-${local.env}", '
         'url_variable = "DISPUTES_QUEUE_URL" }\n', "")
    edit(module_copy / "outputs.tf", 'module.queue["dispute"].queue_url', "null")
    edit(module_copy / "outputs.tf", 'module.queue["dispute"].dlq_url', "null")
    sqs = deployment.client("sqs")
    dlq = deployment.outputs["disputes_dlq_url"]
    marker = f"plan-review-{uuid.uuid4().hex}"
    sqs.send_message(QueueUrl=dlq, MessageBody=marker)
    try:
        held = int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
                   ["Attributes"]["ApproximateNumberOfMessages"])
        result = deployment.tapctl("plan", "--module-dir", str(module_copy), "--summary", "md")
    finally:
        for _ in range(20):
            batch = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
            mine = [message for message in batch if message["Body"] == marker]
            for message in batch:
                if message not in mine:
                    sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"],
                                                  VisibilityTimeout=0)
            if mine:
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=mine[0]["ReceiptHandle"])
                break
    assert result.exit_code == 11, result.output
    lines = result.stdout.splitlines()
    dlq_line, queue_line = sorted(line for line in lines if line.startswith("> - "))
    assert held >= 1
    assert dlq_line == (
        '> - **delete** `module.queue["dispute"].aws_sqs_queue.dlq` (disputes-dlq-itest), its module instance was '
        "removed: loses its messages: events that failed processing, waiting for tapctl redrive; it holds "
        f"**{held} message{'' if held == 1 else 's'}**")
    assert re.fullmatch(
        re.escape('> - **delete** `module.queue["dispute"].aws_sqs_queue.this` (disputes-queue-itest), its module instance '
                  "was removed: loses its messages: accepted events not yet consumed; it holds **") + r"\d+ messages?\*\*",
        queue_line)
    assert any(line.startswith("**Plan: 0 to add, ") and line.endswith(" to destroy**") for line in lines)
    deleted = {row.split(" | ")[0] for row in details(result.stdout) if row.split(" | ")[1] == "delete"}
    assert {'`module.queue["dispute"].aws_sqs_queue.this`', '`module.queue["dispute"].aws_sqs_queue.dlq`',
            '`aws_cloudwatch_metric_alarm.oldest_message["dispute"]`'} <= deleted


def test_drift_made_outside_terraform_has_its_own_section(local_only):
    deployment = local_only
    sqs = deployment.client("sqs")
    queue = deployment.outputs["refunds_queue_url"]
    configured = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])["Attributes"]["VisibilityTimeout"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "47"})
    try:
        result = deployment.tapctl("plan", "--summary", "md")
        as_json = deployment.tapctl("plan", "--summary", "json")
    finally:
        sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": configured})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "**Plan: 0 to add, 1 to change, 0 to destroy**" in text.splitlines()
    assert rows(text, "#### Changed outside terraform (drift)") == [
        f'`module.queue["refund"].aws_sqs_queue.this` | `visibility_timeout_seconds`: {configured} → 47']
    assert details(text) == [
        f'`module.queue["refund"].aws_sqs_queue.this` | update | `visibility_timeout_seconds`: 47 → {configured}']
    drift = json.loads(as_json.stdout)["drift"]
    assert [(d["address"], d["action"], d["attributes"]) for d in drift] == [
        ('module.queue["refund"].aws_sqs_queue.this', "update",
         [{"attribute": "visibility_timeout_seconds", "before": configured, "after": "47"}])]
    assert deployment.tapctl("plan").stdout.strip() == "itest: no changes"


def test_summary_and_json_cannot_both_choose_the_output(local_only):
    result = local_only.tapctl("plan", "--summary", "md", "--json")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "Error: --json and --summary both choose what is printed: use --summary json"


def test_a_destroy_plan_names_everything_it_would_lose_and_its_saved_plan_is_refused(local_only, tmp_path):
    deployment = local_only
    plan_file = tmp_path / "destroy.tfplan"
    summary_file = tmp_path / "destroy.json"
    result = deployment.tapctl("plan", "--destroy", "--out", str(plan_file), "--summary-file", str(summary_file))
    assert result.exit_code == 11, result.output
    summary = json.loads(summary_file.read_text())
    expected = stateful_rows(deployment)
    assert summary["counts"]["replace"] == 0 and summary["counts"]["destroy"] >= len(expected)
    assert {(finding["address"], finding["action"]) for finding in summary["data_loss"]} == {
        (row.split(" | ")[0].strip("`"), "delete") for row in expected}
    table = deployment.client("dynamodb").describe_table(TableName="transaction-events-itest")["Table"]

    # The reviewed plan applied as it stands: refused before anything changes, one line per finding.
    result = deployment.tapctl("apply", "--plan", str(plan_file))
    assert result.exit_code == 11, result.output
    assert "DATA LOSS: delete aws_dynamodb_table.this (transaction-events-itest)" in result.output
    assert "Error: nothing was changed" in result.output
    after = deployment.client("dynamodb").describe_table(TableName="transaction-events-itest")["Table"]
    assert after["CreationDateTime"] == table["CreationDateTime"]
    assert deployment.tapctl("plan").exit_code == 0  # still deployed, nothing to change
