"""What a new user meets first, on any laptop: the README's commands with or without a provider mirror,
and a `make clean` that never touches an environment's state."""

import json
import os
import shutil
import stat
import subprocess

import pytest
from click.testing import CliRunner

from tapctl.cli import main
from tests.support import ROOT, unavailable

OFFLINE = ("Error: the AWS provider cannot be installed: no mirror is configured and the public registry is "
           "unreachable (registry.terraform.io: ")
WAYS_OUT = "): connect to the internet, or pass --plugin-dir / TAPCTL_PLUGIN_DIR naming a provider mirror"


@pytest.fixture
def offline(monkeypatch, unused_port):
    """No provider mirror, and the registry unreachable even on a machine with a network: every HTTPS
    request terraform makes goes to a proxy port nobody listens on."""
    if not shutil.which("terraform"):
        unavailable("terraform is not installed")
    monkeypatch.delenv("TAPCTL_PLUGIN_DIR", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{unused_port}")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("TF_PLUGIN_CACHE_DIR", "")  # an empty value: no cache, whatever this machine has


def _recording_terraform(folder):
    """A terraform that writes its command line to a file, then runs the real one."""
    log = folder / "terraform-commands.log"
    wrapper = folder / "terraform"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{shutil.which("terraform")}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, log


def test_without_a_mirror_the_registry_is_asked_and_offline_both_ways_out_are_named(offline, tmp_path):
    wrapper, log = _recording_terraform(tmp_path)
    state_dir = tmp_path / "state"
    result = CliRunner().invoke(main, ["deploy", "--env", "laptop", "--target", "local", "--auto-approve",
                                       "--terraform-bin", str(wrapper), "--state-dir", str(state_dir),
                                       "--project-dir", str(ROOT)])
    assert result.exit_code == 3, result.output
    [error] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error.startswith(OFFLINE) and error.endswith(WAYS_OUT), error
    [init] = [line for line in log.read_text().splitlines() if " init " in f" {line} "]
    assert "-plugin-dir" not in init  # the public registry, not a mirror
    assert "terraform init (laptop, provider from the public registry)" in result.stderr
    # The emulator this deploy started is stopped again.
    assert "local emulator of laptop stopped" in result.stderr
    assert not (state_dir / "local" / "laptop" / "emulator.json").exists()
    status = CliRunner().invoke(main, ["local", "status", "--state-dir", str(state_dir), "--json"])
    assert [entry["running"] for entry in json.loads(status.stdout)] == [False]


def test_a_mirror_that_is_not_one_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    result = CliRunner().invoke(main, ["init", "--env", "laptop", "--target", "local", "--plugin-dir", str(tmp_path),
                                       "--state-dir", str(tmp_path / "state"), "--project-dir", str(ROOT)])
    assert result.exit_code == 3, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {tmp_path} is not a provider mirror (it has no registry.terraform.io folder): fix --plugin-dir / "
        f"TAPCTL_PLUGIN_DIR, or unset it to use the public registry")
    assert not (tmp_path / "state" / "local" / "laptop" / "emulator.json").exists()


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_demo_without_a_mirror_names_both_ways_out(offline, tmp_path):
    environment = {**os.environ, "TAPCTL_STATE_DIR": str(tmp_path / "state")}
    environment.pop("TAPCTL_PLUGIN_DIR", None)
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "demo", "DEMO_ENV=laptop", "PROVIDER_MIRRORS=/nonexistent"],
        env=environment, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "AWS provider: the public registry (no mirror found)" in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(OFFLINE) and error.endswith(WAYS_OUT), error
    assert not (tmp_path / "state" / "local" / "laptop" / "emulator.json").exists()


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_finds_a_mirror_in_a_named_place_only_for_terraform_targets(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    environment = {key: value for key, value in os.environ.items() if key != "TAPCTL_PLUGIN_DIR"}

    def make(*args):
        return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), f"PROVIDER_MIRRORS=/nonexistent {mirror}",
                               *args], env=environment, capture_output=True, text=True, timeout=60).stdout

    assert f'echo "AWS provider: {mirror}"' in make("-n", "demo")
    # A target that runs no terraform looks for no mirror.
    assert make("--eval", 'show-mirror: ; @echo "[$$TAPCTL_PLUGIN_DIR]"', "show-mirror").strip() == "[]"


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_clean_leaves_every_environments_state(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Makefile", project / "Makefile")
    state = project / ".tapctl" / "aws" / "dev" / "terraform.tfstate"
    state.parent.mkdir(parents=True)
    state.write_text('{"version": 4, "resources": [{"type": "aws_dynamodb_table"}]}')
    for built in (".venv/bin", ".venv-checkov/bin", "build", ".pytest_cache"):
        (project / built).mkdir(parents=True)
    (project / "build" / "webhook-validator.zip").write_bytes(b"zip")

    result = subprocess.run(["make", "-C", str(project), "clean"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert state.read_text().startswith('{"version": 4')
    assert not any((project / built).exists() for built in (".venv", ".venv-checkov", "build", ".pytest_cache"))
