"""tapctl on the real module for the aws target, without an AWS account: what a user without
credentials, region or provider sees, and that tapctl never writes into terraform/."""

import subprocess

from click.testing import CliRunner

from tapctl.cli import main
from tests.support import ROOT


def _no_aws_configuration(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
                 "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_plan_without_credentials_is_one_clear_line(terraform, plugin_dir, module_copy, tmp_path, monkeypatch):
    _no_aws_configuration(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    result = CliRunner().invoke(
        main,
        ["plan", "--env", "dev", "--plugin-dir", plugin_dir, "--terraform-bin", terraform,
         "--state-dir", str(tmp_path / "state"), "--project-dir", str(ROOT)],
    )
    assert result.exit_code == 6, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    assert "Traceback" not in result.output


def test_plan_without_a_region_is_one_clear_line(terraform, tmp_path, monkeypatch):
    _no_aws_configuration(monkeypatch, tmp_path)
    result = CliRunner().invoke(main, ["plan", "--env", "dev", "--state-dir", str(tmp_path / "state"),
                                       "--project-dir", str(ROOT)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: no AWS region for dev: set AWS_REGION or a profile region, or region in tapctl.toml")


def test_terraform_folder_stays_clean(aws, terraform, plugin_dir, module_copy, tmp_path):
    result = CliRunner().invoke(
        main,
        ["init", "--env", "dev", "--plugin-dir", plugin_dir, "--terraform-bin", terraform,
         "--state-dir", str(tmp_path / "state"), "--project-dir", str(ROOT)],
    )
    assert result.exit_code == 0, result.output
    untracked = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--", "terraform"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert ".terraform" not in untracked and "tfstate" not in untracked and "tapctl_backend" not in untracked
    assert (tmp_path / "state" / "aws" / "dev" / "module" / "tapctl_backend.tf").is_file()
    assert (tmp_path / "state" / "aws" / "dev" / ".terraform.lock.hcl").is_file()  # kept for the next command


def test_provider_that_cannot_be_installed_says_what_to_do(aws, terraform, tmp_path, monkeypatch, unused_port):
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
    assert result.exit_code == 3, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert line.startswith("Error: the AWS provider cannot be installed: no mirror is configured and the public "
                           "registry is unreachable (")
    assert line.endswith("): connect to the internet, or pass --plugin-dir / TAPCTL_PLUGIN_DIR naming a provider mirror")
