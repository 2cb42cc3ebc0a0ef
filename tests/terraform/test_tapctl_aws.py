"""tapctl on the real module for the aws target, without an AWS account: what a user without
credentials sees, and that tapctl never writes into terraform/."""

import subprocess

from click.testing import CliRunner

from tapctl.cli import main
from tests.support import ROOT


def test_plan_without_credentials_is_one_clear_line(terraform, plugin_dir, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = CliRunner().invoke(
        main,
        ["plan", "--env", "dev", "--plugin-dir", plugin_dir, "--terraform-bin", terraform,
         "--state-dir", str(tmp_path / "state"), "--project-dir", str(ROOT)],
    )
    assert result.exit_code == 6, result.output
    assert result.stderr.splitlines()[-1].startswith("Error: no AWS credentials: set AWS_PROFILE")
    assert "Traceback" not in result.output


def test_terraform_folder_stays_clean(terraform, plugin_dir, tmp_path):
    CliRunner().invoke(
        main,
        ["init", "--env", "dev", "--plugin-dir", plugin_dir, "--terraform-bin", terraform,
         "--state-dir", str(tmp_path / "state"), "--project-dir", str(ROOT)],
    )
    untracked = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--", "terraform"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert ".terraform" not in untracked and "tfstate" not in untracked and "tapctl_backend" not in untracked
    assert (tmp_path / "state" / "aws" / "dev" / "module" / "tapctl_backend.tf").is_file()


def test_provider_that_cannot_be_installed_says_what_to_do(terraform, tmp_path, monkeypatch, unused_port):
    # A provider source that refuses connections, as on an offline machine without --plugin-dir.
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text(
        f'provider_installation {{\n  network_mirror {{\n    url = "https://127.0.0.1:{unused_port}/"\n  }}\n}}\n'
    )
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(cli_config))
    monkeypatch.delenv("TAPCTL_PLUGIN_DIR", raising=False)
    result = CliRunner().invoke(
        main,
        ["init", "--env", "dev", "--terraform-bin", terraform, "--state-dir", str(tmp_path / "state"),
         "--project-dir", str(ROOT)],
    )
    assert result.exit_code == 4, result.output
    assert "the AWS provider cannot be installed (offline? pass --plugin-dir or TAPCTL_PLUGIN_DIR)" in result.output
