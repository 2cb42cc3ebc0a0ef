"""A team's first days on the local target, with the real module: a fresh account with a Lambda quota of
10 refuses the default reservations before anything is applied and takes unreserved functions; the
environment then remembers its var-file and region; the confirmation names the account and region; and
a plan saved in one checkout applies from another after the first is gone.

The emulator's account has the quota moto enforces (MOTO_LAMBDA_CONCURRENCY_QUOTA), as a new AWS
account does. One environment for the whole module, deployed from a copy of the project (clone B).
"""

import json
import shutil
import zipfile

import pytest
from click.testing import CliRunner

from tapctl.cli import main
from tapctl.local import shared
from tests.conftest import emulator_state, local_options, skip_without_provider
from tests.support import ROOT

ENV = "fresh"
MOTO_ACCOUNT = "123456789012"
UNRESERVED = {"reserved_concurrency": None, "enable_deletion_protection": False, "archive_lock_mode": "GOVERNANCE"}


def clone(folder):
    """A checkout of the project: what terraform and the packages are built from."""
    for part in ("handlers", "terraform"):
        shutil.copytree(ROOT / part, folder / part, ignore=shutil.ignore_patterns("__pycache__", ".terraform*"))
    return folder


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "10")  # a new account's quota; the emulator inherits it
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    scratch = tmp_path_factory.mktemp("fresh-account")
    state_dir, checkout = scratch / "state", clone(scratch / "clone-b")
    # The team declares the environment protected; its table and archive stay deletable so that the test can end.
    (checkout / "tapctl.toml").write_text(f"[environments.{ENV}]\nprotected = true\n")
    options = local_options(ENV, state_dir, checkout)
    try:
        refused = CliRunner().invoke(main, ["deploy", *options, "--auto-approve"])
        skip_without_provider(refused)
        unreserved = scratch / "unreserved.tfvars.json"
        unreserved.write_text(json.dumps(UNRESERVED))
        deployed = CliRunner().invoke(main, ["deploy", *options, "--auto-approve", "--var-file", str(unreserved)])
        yield {"refused": refused, "deployed": deployed, "options": options, "scratch": scratch,
               "state_dir": state_dir, "checkout": checkout, "var_file": unreserved}
    finally:
        result = CliRunner().invoke(main, ["destroy", *options, "--auto-approve"])
        monkeypatch.undo()
        assert result.exit_code == 0, result.output


def tapctl(fresh, *args, input=None):
    return CliRunner().invoke(main, [args[0], *fresh["options"], *args[1:]], input=input)


def test_the_default_reservation_is_refused_before_anything_is_applied(fresh):
    refused = fresh["refused"]
    assert refused.exit_code == 10, refused.output
    assert refused.output.strip().splitlines()[-1] == (
        f"Error: account {MOTO_ACCOUNT} (us-east-1) cannot reserve 21 more concurrent executions: its Lambda quota "
        "is 10 with 10 unreserved, and Lambda keeps 100 unreserved. Set reserved_concurrency = null in a var-file "
        "(the functions then share the unreserved pool), or ask for a higher quota (Service Quotas > AWS Lambda > "
        "Concurrent executions)")
    assert "Creation complete" not in refused.output and "local emulator of fresh stopped" in refused.stderr


def test_unreserved_functions_deploy_and_work(fresh):
    deployed = fresh["deployed"]
    assert deployed.exit_code == 0, deployed.output
    result = tapctl(fresh, "smoke-test")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "13/13 checks passed"


def test_a_protected_environment_whose_alarms_reach_no_one_is_warned_about(fresh):
    topic = f"arn:aws:sns:us-east-1:{MOTO_ACCOUNT}:webhook-alarms-{ENV}"
    assert (f"warning: {ENV} is protected but its alarms reach no one: nobody is subscribed to {topic}. Set "
            "alarm_email in a var-file, or subscribe your paging tool to the topic") in fresh["deployed"].stderr
    started = emulator_state(ENV, fresh["state_dir"])
    sns = shared.client("sns", started["endpoint"], started["region"])
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="payments-oncall@example.com")
    result = tapctl(fresh, "deploy", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "reach no one" not in result.stderr


def test_a_plan_without_the_var_file_changes_nothing(fresh):
    result = tapctl(fresh, "plan")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{ENV}: no changes\n"
    assert json.loads(tapctl(fresh, "output", "--json").stdout)["tapctl_environment"]["var_files"] == [
        str(fresh["var_file"])]


def test_a_plan_under_another_region_is_refused(fresh, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    result = tapctl(fresh, "plan")
    assert result.exit_code == 9, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: environment {ENV} is in region us-east-1, but AWS_REGION says eu-west-1: set AWS_REGION=us-east-1 "
        "(or use the profile it was deployed with)")


def test_the_confirmation_names_the_account_and_the_region(fresh):
    bigger = fresh["scratch"] / "bigger.tfvars.json"
    bigger.write_text(json.dumps({**UNRESERVED, "lambda_memory_size": 512}))
    result = tapctl(fresh, "deploy", "--var-file", str(bigger), input="n\n")
    assert result.exit_code == 1, result.output
    state = fresh["state_dir"] / "local" / ENV / "terraform.tfstate"
    assert (f"Apply 0 to add, 3 to change, 0 to destroy to environment {ENV} on local: account {MOTO_ACCOUNT}, "
            f"region us-east-1, local state file {state}? [y/N]") in result.stderr
    assert "deploy cancelled: nothing was changed" in result.output


def test_a_plan_saved_in_one_checkout_applies_from_another_after_the_first_is_deleted(fresh):
    # The change reaches the three functions, whose code terraform reads from the packages when it applies.
    bigger = fresh["scratch"] / "bigger.tfvars.json"
    bigger.write_text(json.dumps({**UNRESERVED, "lambda_memory_size": 512}))
    checkout_a = clone(fresh["scratch"] / "clone-a")
    shutil.copy(fresh["checkout"] / "tapctl.toml", checkout_a)  # the same commit: the same project file
    plan_file = fresh["scratch"] / "reviewed.tfplan"
    options_a = local_options(ENV, fresh["state_dir"], checkout_a)
    result = CliRunner().invoke(main, ["plan", *options_a, "--var-file", str(bigger), "--out", str(plan_file)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"{ENV}: 0 to add, 3 to change, 0 to destroy"
    with zipfile.ZipFile(plan_file) as plan:  # a plan file is a zip: plan, prior state, configuration, lock file
        inside = b"".join(plan.read(name) for name in plan.namelist())
    assert str(fresh["scratch"]).encode() not in inside  # no absolute path: not of a checkout, nor of the state

    shutil.rmtree(checkout_a)
    result = tapctl(fresh, "apply", "--plan", str(plan_file), "--var-file", str(bigger))
    assert result.exit_code == 0, result.output
    assert "Apply complete! Resources: 0 added, 3 changed, 0 destroyed." in result.stderr
    result = tapctl(fresh, "plan")  # the record now names the var-file the plan was made with
    assert result.stdout == f"{ENV}: no changes\n", result.output
    result = tapctl(fresh, "smoke-test")
    assert result.exit_code == 0, result.output
