"""The module and the handlers agree: environment variable names, handler entry points, the TTL
attribute, and the outputs the design promises. Checked by generating a `terraform test` file from the
Python side, so terraform itself evaluates the module against the handlers' constants."""

import importlib
import json
import re

from handlers import archive, records, router, sweeper, validator
from tapctl.config import REQUIRED_OUTPUTS
from tests.support import ROOT
from tests.terraform.conftest import run



def hcl_set(values):
    return "toset(" + json.dumps(sorted(values)) + ")"


def test_module_agrees_with_the_handlers(terraform, module_copy):
    conditions = {
        "validator environment names": 'toset(keys(module.function["validator"].configuration.environment)) == '
        + hcl_set(validator.ENVIRONMENT),
        "router environment names": 'toset(keys(module.function["router"].configuration.environment)) == '
        + hcl_set([*router.QUEUE_URL_ENV.values(), router.TABLE_ENV, router.ARCHIVE_ENV]),
        "sweeper environment names": 'toset(keys(module.function["sweeper"].configuration.environment)) == '
        + hcl_set(sweeper.ENVIRONMENT),
        "outbox index": f'one(aws_dynamodb_table.this.global_secondary_index).name == "{records.PENDING_INDEX}"',
        "TTL attribute": f'aws_dynamodb_table.this.ttl[0].attribute_name == "{records.TTL_ATTRIBUTE}"',
        "outbox attributes": "toset(local.outbox.attributes) == "
        + hcl_set(["event_id", "received_at", *records.OUTBOX_ATTRIBUTES]),
        "archive prefixes": "toset(local.archive.prefixes) == " + hcl_set([archive.EVENTS_PREFIX, archive.RECEIVED_PREFIX]),
        "design outputs exist": " && ".join(f"output.{name} != null" for name in REQUIRED_OUTPUTS),
    }
    # The validator's secret read, record, hand-over and rollback must all fit in its timeout, and the
    # smallest timeout the module accepts is exactly that.
    least_timeout = validator.WORST_CASE_S
    asserts = "\n".join(
        f"  assert {{\n    condition     = {condition}\n    error_message = {json.dumps(name)}\n  }}"
        for name, condition in conditions.items()
    )
    (module_copy / "tests" / "contract.tftest.hcl").write_text(
        'mock_provider "aws" {\n  source = "./tests/mocks"\n}\n\n'
        "variables {\n"
        '  environment_suffix     = "contract"\n'
        '  validator_package_path = "tests/fixtures/empty.zip"\n'
        '  router_package_path    = "tests/fixtures/empty.zip"\n'
        '  sweeper_package_path   = "tests/fixtures/empty.zip"\n'
        "}\n\n"
        f'run "contract" {{\n{asserts}\n}}\n\n'
        f'run "least_validator_timeout" {{\n  command = plan\n  variables {{\n    validator_timeout = {least_timeout:g}\n  }}\n}}\n\n'
        f'run "validator_timeout_below_the_handlers_worst_case" {{\n  command = plan\n'
        f'  variables {{\n    validator_timeout = {least_timeout - 1:g}\n  }}\n  expect_failures = [var.validator_timeout]\n}}\n'
    )
    try:
        result = run(terraform, "test", "-no-color", "-filter=tests/contract.tftest.hcl", cwd=module_copy, check=False)
    finally:
        (module_copy / "tests" / "contract.tftest.hcl").unlink()
    assert result.returncode == 0 and "3 passed, 0 failed" in result.stdout, result.stdout + result.stderr


def test_handler_entry_points_exist():
    handlers = re.findall(r'handler\s*=\s*"([\w.]+)"', (ROOT / "terraform" / "functions.tf").read_text())
    assert sorted(handlers) == ["handlers.router.lambda_handler", "handlers.sweeper.lambda_handler",
                                "handlers.validator.lambda_handler"]
    for entry in handlers:
        module_name, function = entry.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module_name), function))


def test_api_model_is_the_schema_file():
    assert 'file("${path.module}/schema/webhook_event.schema.json")' in (ROOT / "terraform" / "locals.tf").read_text()


def test_readme_documents_every_input_and_output():
    readme = (ROOT / "terraform" / "README.md").read_text()
    variables = re.findall(r'^variable "(\w+)"', (ROOT / "terraform" / "variables.tf").read_text(), re.M)
    outputs = re.findall(r'^output "(\w+)"', (ROOT / "terraform" / "outputs.tf").read_text(), re.M)
    assert len(variables) > 30 and len(outputs) >= len(REQUIRED_OUTPUTS)
    missing = [name for name in variables + outputs if f"| `{name}` |" not in readme]
    assert missing == []
