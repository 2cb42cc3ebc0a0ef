"""tapctl's terraform wrapper end to end: the real terraform binary on a module that needs no cloud."""

import json

import pytest
from click.testing import CliRunner

from tapctl.cli import main
from tests.functional.conftest import MOTO_ACCOUNT, outputs, tapctl


def test_init_plan_apply_output_destroy(project, tmp_path):
    result = tapctl("init", "--env", "dev")
    assert result.exit_code == 0, result.output
    assert "dev: initialised" in result.stdout

    plan_file = tmp_path / "dev.tfplan"
    result = tapctl("plan", "--env", "dev", "--out", str(plan_file), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["add"], summary["change"], summary["destroy"], summary["environment"]) == (1, 0, 0, "dev")
    assert plan_file.is_file()
    assert "terraform_data.stack: Plan to create" in result.stderr

    result = tapctl("apply", "--env", "dev", "--plan", str(plan_file))
    assert result.exit_code == 0, result.output
    assert "terraform_data.stack: Creation complete" in result.stderr
    assert "api_endpoint = https://fixture.example/dev/v1/webhook" in result.stdout

    assert outputs("dev")["dynamodb_table_name"] == "transaction-events-dev"
    result = tapctl("plan", "--env", "dev", "--json")
    assert json.loads(result.stdout)["add"] == 0

    result = tapctl("destroy", "--env", "dev", input="dev\n")
    assert result.exit_code == 0, result.output
    assert "dev: destroyed" in result.stdout
    assert tapctl("output", "--env", "dev").exit_code != 0


def test_environments_never_share_state(project, tmp_path):
    revision = tmp_path / "qa.tfvars.json"
    revision.write_text(json.dumps({"revision": "2"}))
    assert tapctl("deploy", "--env", "dev", "--auto-approve").exit_code == 0
    result = tapctl("deploy", "--env", "qa", "--auto-approve", "--var-file", str(revision))
    assert result.exit_code == 0, result.output
    assert (outputs("dev")["revision"], outputs("qa")["revision"]) == ("1", "2")
    assert outputs("qa")["api_endpoint"] == "https://fixture.example/qa/v1/webhook"

    assert tapctl("destroy", "--env", "dev", "--auto-approve").exit_code == 0
    assert outputs("qa")["revision"] == "2"
    assert (tmp_path / "state" / "aws" / "qa" / "terraform.tfstate").is_file()


def test_deploy_asks_naming_what_is_at_stake(project, tmp_path):
    result = tapctl("deploy", "--env", "dev", input="n\n")
    assert result.exit_code == 1
    state = tmp_path / "state" / "aws" / "dev" / "terraform.tfstate"
    assert (f"Apply 1 to add, 0 to change, 0 to destroy to environment dev on aws: account {MOTO_ACCOUNT}, "
            f"region us-east-1, local state file {state}? [y/N]") in result.stderr
    assert "deploy cancelled: nothing was changed" in result.output
    assert tapctl("output", "--env", "dev").exit_code != 0

    result = tapctl("deploy", "--env", "dev", "--json", input="y\n")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["plan"]["add"] == 1 and document["outputs"]["api_endpoint"].endswith("/dev/v1/webhook")


def test_a_first_deploy_with_local_state_says_where_the_state_lives(project, tmp_path):
    result = tapctl("deploy", "--env", "dev", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "warning: dev's terraform state will live only on this machine" in result.stderr
    assert "--backend-config backend.hcl" in result.stderr
    result = tapctl("deploy", "--env", "dev", "--auto-approve")
    assert "state will live only" not in result.stderr  # said once, before the first apply


def test_deploy_plans_then_applies_and_an_unchanged_one_applies_nothing(project, tmp_path):
    result = tapctl("deploy", "--env", "dev", "--auto-approve", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["plan"]
    assert (plan["add"], plan["change"], plan["destroy"]) == (1, 0, 0)
    assert plan["plan_file"].endswith("/aws/dev/deploy.tfplan")
    assert result.stderr.count("terraform_data.stack: Plan to create") == 1  # by the plan, not again by the apply
    assert "terraform_data.stack: Creation complete" in result.stderr

    result = tapctl("deploy", "--env", "dev", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "dev: no changes" in result.stderr and "Apply complete" not in result.stderr


def test_destroy_requires_the_typed_environment_name(project):
    assert tapctl("deploy", "--env", "dev", "--auto-approve").exit_code == 0
    result = tapctl("destroy", "--env", "dev", input="prod\n")
    assert result.exit_code == 1
    assert "destroy cancelled" in result.output
    assert outputs("dev")["api_endpoint"]


def test_plan_file_of_another_environment_is_refused(project, tmp_path):
    plan_file = tmp_path / "dev.tfplan"
    assert tapctl("plan", "--env", "dev", "--out", str(plan_file)).exit_code == 0
    result = tapctl("apply", "--env", "qa", "--plan", str(plan_file))
    assert result.exit_code == 8
    assert f"Error: {plan_file} is a plan for environment 'dev', not 'qa'" in result.output
    assert "Traceback" not in result.output
    assert tapctl("output", "--env", "qa").exit_code != 0


def test_missing_terraform_binary(project):
    result = tapctl("plan", "--env", "dev", "--terraform-bin", "/nonexistent/terraform")
    assert result.exit_code == 3
    assert result.output.strip().splitlines()[-1] == (
        "Error: terraform executable not found: /nonexistent/terraform (from --terraform-bin or TAPCTL_TERRAFORM_BIN)"
    )


def test_no_terraform_on_path(project, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = tapctl("plan", "--env", "dev")
    assert result.exit_code == 3
    assert "terraform not found: install terraform (>= 1.5) or OpenTofu" in result.output


@pytest.mark.parametrize("name", ["Dev", "1dev", "pr_123", "a23456789012345678901", ""])
def test_bad_environment_name_is_a_usage_error(project, name):
    result = tapctl("plan", "--env", name)
    assert result.exit_code == 2
    assert "is not a valid environment name" in result.output


def test_environment_comes_from_environment_suffix(project, monkeypatch):
    monkeypatch.setenv("ENVIRONMENT_SUFFIX", "pr-7")
    result = tapctl("plan", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["environment"] == "pr-7"


def test_missing_environment_says_how_to_give_it(project):
    result = tapctl("plan")
    assert result.exit_code == 2
    assert "Missing option '--env'" in result.output and "ENVIRONMENT_SUFFIX" in result.output


@pytest.mark.parametrize(("command", "body", "expected"), [
    ("plan", "input = var.undeclared", "terraform plan failed for dev: Reference to undeclared input variable"),
    # init's own heading ("Terraform encountered problems during initialisation") is not the error.
    ("init", "input = 1\n  input = 2", "terraform init failed for dev: Attribute redefined: on main.tf line 3"),
], ids=["at-plan", "at-init"])
def test_a_terraform_error_is_one_line_naming_it(project, tmp_path, command, body, expected):
    broken = tmp_path / "broken-module"
    broken.mkdir()
    (broken / "main.tf").write_text(f'resource "terraform_data" "x" {{\n  {body}\n}}\n')
    result = CliRunner().invoke(main, [command, "--env", "dev", "--module-dir", str(broken)])
    assert result.exit_code == 4
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert line.startswith(f"Error: {expected}"), line
    assert "Traceback" not in result.output


@pytest.mark.timeout(60)
def test_terraform_debug_logging_does_not_stall_tapctl(project, monkeypatch):
    # TF_LOG writes megabytes to terraform's stderr, which tapctl reads only once stdout has ended.
    monkeypatch.setenv("TF_LOG", "TRACE")
    result = tapctl("plan", "--env", "dev")
    assert result.exit_code == 0, result.output
    assert result.stdout == "dev: 1 to add, 0 to change, 0 to destroy\n"


def hold_state_lock(state_file):
    """Lock a local state as another terraform run does: its lock info beside it, then an fcntl lock."""
    import fcntl

    info = state_file.with_name(f".{state_file.name}.lock.info")
    info.write_text(json.dumps({"ID": "5d6c3e1a", "Operation": "OperationTypeApply", "Info": "", "Who": "ci@runner",
                                "Version": "1.11.4", "Created": "2026-11-30T10:00:00Z", "Path": str(state_file)}))
    state = open(state_file, "r+")
    fcntl.lockf(state, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return state


def test_locked_state_is_reported_as_locked(project, tmp_path):
    assert tapctl("deploy", "--env", "dev", "--auto-approve").exit_code == 0
    # terraform's local backend locks the state file with fcntl; hold that lock as another run would.
    with hold_state_lock(tmp_path / "state" / "aws" / "dev" / "terraform.tfstate"):
        result = tapctl("plan", "--env", "dev", "--lock-timeout", "0s")
    assert result.exit_code == 5, result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: the state of dev is locked by another run")


def test_a_held_lock_is_waited_for(project, tmp_path):
    """A second CI job (or a colleague) holding the state for a moment no longer fails the plan at once."""
    import threading

    assert tapctl("deploy", "--env", "dev", "--auto-approve").exit_code == 0
    state = hold_state_lock(tmp_path / "state" / "aws" / "dev" / "terraform.tfstate")
    release = threading.Timer(3.0, state.close)  # closing the file releases the lock
    release.start()
    try:
        result = tapctl("plan", "--env", "dev", "--lock-timeout", "60s")
    finally:
        release.join()
    assert result.exit_code == 0, result.output
    assert result.stdout == "dev: no changes\n"
