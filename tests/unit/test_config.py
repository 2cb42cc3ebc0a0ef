"""tapctl's own rules agree with terraform's and the handlers', and terraform failures map to clear errors."""

import re

import pytest

from handlers import event, validator
from tapctl import config, errors, smoke
from tapctl.terraform import _classify
from tests.support import ROOT


def test_environment_rule_is_the_one_terraform_validates():
    variables = (ROOT / "terraform" / "variables.tf").read_text()
    [pattern] = re.findall(r'can\(regex\("([^"]+)", var\.environment_suffix\)\)', variables)
    assert pattern == config.ENV_NAME_PATTERN


@pytest.mark.parametrize("name", ["dev", "staging", "prod", "pr-123", "a", "pr-12345678901234567"])
def test_valid_environment_names(name):
    assert config.env_name_problem(name) is None


@pytest.mark.parametrize("name", ["Dev", "1dev", "pr_123", "a23456789012345678901", "", "dev ", "dév"])
def test_invalid_environment_names(name):
    assert "is not a valid environment name" in config.env_name_problem(name)


def test_required_outputs_are_declared_by_the_module():
    declared = set(re.findall(r'^output "(\w+)"', (ROOT / "terraform" / "outputs.tf").read_text(), re.M))
    assert set(config.REQUIRED_OUTPUTS) <= declared
    assert set(config.QUEUE_OUTPUTS.values()) <= set(config.REQUIRED_OUTPUTS)


def test_smoke_expectations_are_the_handlers_answers():
    assert smoke.ACCEPTED_MESSAGE == validator.ACCEPTED_MESSAGE
    assert smoke.DUPLICATE_ERROR == validator.DUPLICATE_ERROR
    assert smoke.TRANSACTION_TYPES == event.TRANSACTION_TYPES


@pytest.mark.parametrize(
    "message, error, text",
    [
        ("Error acquiring the state lock: resource temporarily unavailable", errors.StateLocked, "locked"),
        ("No valid credential sources found: please see ...", errors.NoCredentials, "no AWS credentials"),
        ("Failed to query available provider packages: could not connect", errors.ProviderUnavailable, "cannot be installed"),
        ('creating SQS Queue: dial tcp 127.0.0.1:4566: connect: connection refused', errors.EndpointUnreachable, "unreachable"),
        ("Invalid reference: A reference to a resource type must be followed", errors.TerraformFailed, "terraform plan failed"),
    ],
)
def test_terraform_failures_become_clear_errors(message, error, text):
    failure = _classify("plan", "dev", message)
    assert type(failure) is error
    assert text in failure.message and "\n" not in failure.message


def test_exit_codes_are_distinct_and_documented():
    classes = (errors.ChecksFailed, errors.UsageError, errors.ToolMissing, errors.TerraformFailed, errors.StateLocked,
               errors.NoCredentials, errors.EndpointUnreachable, errors.PlanMismatch, errors.WrongEnvironment,
               errors.PreflightFailed)
    codes = [cls.exit_code for cls in classes]
    assert len(set(codes)) == len(codes) and 0 not in codes
    assert errors.ProviderUnavailable.exit_code == errors.ToolMissing.exit_code  # the provider is a tool too
    documented = dict(re.findall(r"^\s+(\d+)  (.+)$", errors.__doc__, re.M))
    readme = (ROOT / "README.md").read_text()
    for code in codes:
        assert str(code) in documented, code
        assert re.search(rf"\b{code} [a-z]", readme.split("Exit codes:")[1]), f"README names exit code {code}"


@pytest.mark.parametrize(("variable", "pattern"), [("aws_region", config.REGION_PATTERN),
                                                   ("aws_account_id", config.ACCOUNT_PATTERN)])
def test_region_and_account_rules_are_the_ones_terraform_validates(variable, pattern):
    variables = (ROOT / "terraform" / "variables.tf").read_text()
    [module_pattern] = re.findall(rf'can\(regex\("([^"]+)", var\.{variable}\)\)', variables)
    assert module_pattern.replace("\\\\", "\\") == pattern


# -- one list per name: tapctl/config.py declares, everything else agrees ------------------------------


def _terraform_map_keys(text, name):
    """The top-level keys of the map ``name = {`` in a locals block of terraform source."""
    block = text[text.index(f"  {name} = {{"):]
    depth, keys = 0, []
    for line in block.splitlines()[1:]:
        if depth == 0 and line.strip() == "}":
            return keys
        found = re.match(r"^    (\w+)\s*=", line)
        if depth == 0 and found:
            keys.append(found.group(1))
        depth += line.count("{") + line.count("(") - line.count("}") - line.count(")")
    raise AssertionError(f"{name} not closed")


def test_the_module_declares_the_same_functions():
    functions_tf = (ROOT / "terraform" / "functions.tf").read_text()
    assert _terraform_map_keys(functions_tf, "functions") == list(config.FUNCTIONS)
    variables = set(re.findall(r'^variable "(\w+)"', (ROOT / "terraform" / "variables.tf").read_text(), re.M))
    outputs = set(re.findall(r'^output "(\w+)"', (ROOT / "terraform" / "outputs.tf").read_text(), re.M))
    for function in config.FUNCTIONS.values():
        assert f'handler              = "handlers.{function.name}.lambda_handler"' in functions_tf
        assert function.name in function.modules  # its handler module is in its zip
        assert function.package_variable in variables
        assert {function.name_output, function.log_group_output} <= outputs
    locals_tf = (ROOT / "terraform" / "locals.tf").read_text()
    for function in config.FUNCTIONS.values():  # its deployed name
        assert re.search(rf'^    {function.name}\s+= "{function.package}-\$\{{local.env}}"$', locals_tf, re.M), function


def test_the_module_declares_the_same_queues():
    locals_tf = (ROOT / "terraform" / "locals.tf").read_text()
    assert _terraform_map_keys(locals_tf, "queues") == list(config.TRANSACTION_QUEUES)
    for kind, name in config.TRANSACTION_QUEUES.items():
        assert re.search(rf'^    {kind}\s*= {{ queue = "{name}-queue-\$\{{local.env}}", dlq = "{name}-dlq-', locals_tf, re.M)
    outputs = set(re.findall(r'^output "(\w+)"', (ROOT / "terraform" / "outputs.tf").read_text(), re.M))
    assert set(config.QUEUES.values()) <= outputs


def test_status_reads_the_source_outcomes_the_dashboard_counts():
    from tapctl import status

    dashboard_tf = (ROOT / "terraform" / "dashboard.tf").read_text()
    listed = re.search(r"^  source_outcomes\s*= \[(.*)\]$", dashboard_tf, re.M).group(1)
    assert tuple(re.findall(r'"(\w+)"', listed)) == status.SOURCE_OUTCOMES
    assert f'name       = "{status.SOURCE_METRIC}"' in dashboard_tf
    assert "output \"outcome_metrics_namespace\"" in (ROOT / "terraform" / "outputs.tf").read_text()


def test_the_command_line_choices_come_from_the_lists():
    from tapctl.cli import main

    def choices(command, option):
        [param] = [param for param in main.commands[command].params if param.name == option]
        return list(param.type.choices)

    assert choices("logs", "function") == list(config.FUNCTIONS)
    assert choices("redrive", "queue") == list(config.LIVE_QUEUES) == list(config.TRANSACTION_QUEUES.values())


def test_every_environment_option_fills_a_setting():
    """An environment option is one click option whose name is the Settings field it fills (or one that
    tapctl.environment.resolve reads itself): adding one is a one-line change."""
    from dataclasses import fields

    from tapctl import environment, options

    settings = {field.name for field in fields(config.Settings)}
    for name in options._FLAGS:
        assert name in settings or name in environment._RESOLVED, name


def test_the_archive_names_its_sources_as_tapctl_does():
    from handlers import archive, sources

    assert config.ARCHIVE_SOURCES == (archive.CANONICAL_SOURCE, *sources.NAMES)
