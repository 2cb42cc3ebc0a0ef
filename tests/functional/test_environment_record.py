"""An environment remembers how it was deployed, a team can declare it in tapctl.toml, and a command with
another account, region or backend is refused: the real terraform on the cloud-free fixture module, the
account and region from a real moto server (STS), as tapctl reads them from AWS."""

import json

import boto3

from tests.functional.conftest import MOTO_ACCOUNT, outputs, tapctl

OTHER_ACCOUNT = "111111111111"


def record(tmp_path, env="dev", target="aws"):
    return json.loads((tmp_path / "state" / target / env / "environment.json").read_text())


def test_a_deploy_is_recorded_and_a_plan_without_its_flags_changes_nothing(project, tmp_path):
    revision = tmp_path / "revision.tfvars.json"
    revision.write_text(json.dumps({"revision": "7"}))
    result = tapctl("deploy", "--env", "dev", "--auto-approve", "--var-file", str(revision))
    assert result.exit_code == 0, result.output
    saved = record(tmp_path)
    assert (saved["target"], saved["account"], saved["region"], saved["var_files"], saved["backend_config"]) == (
        "aws", MOTO_ACCOUNT, "us-east-1", [str(revision)], None)

    result = tapctl("plan", "--env", "dev")  # no --var-file: the recorded one is used
    assert (result.exit_code, result.stdout) == (0, "dev: no changes\n"), result.output
    assert outputs("dev")["revision"] == "7"

    result = tapctl("output", "--env", "dev")
    assert result.stdout.splitlines()[0] == (
        f"# dev on aws: account {MOTO_ACCOUNT}, region us-east-1, local state, var-files {revision}, "
        f"provider from {saved['plugin_dir'] or 'the public registry'}, deployed {saved['deployed_at']}")
    assert outputs("dev")["tapctl_environment"]["var_files"] == [str(revision)]


def test_a_flag_overrides_the_record_and_the_next_deploy_records_it(project, tmp_path):
    first, second = tmp_path / "one.tfvars.json", tmp_path / "two.tfvars.json"
    first.write_text(json.dumps({"revision": "1"}))
    second.write_text(json.dumps({"revision": "2"}))
    assert tapctl("deploy", "--env", "dev", "--auto-approve", "--var-file", str(first)).exit_code == 0
    result = tapctl("plan", "--env", "dev", "--var-file", str(second), "--json")
    assert json.loads(result.stdout)["change"] == 1
    assert record(tmp_path)["var_files"] == [str(first)]  # a plan records nothing
    assert tapctl("deploy", "--env", "dev", "--auto-approve", "--var-file", str(second)).exit_code == 0
    assert record(tmp_path)["var_files"] == [str(second)]


def test_a_region_other_than_the_environments_is_refused(project, tmp_path, monkeypatch):
    assert tapctl("deploy", "--env", "dev", "--auto-approve").exit_code == 0
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    result = tapctl("plan", "--env", "dev")
    assert result.exit_code == 9, result.output
    assert result.output.strip().splitlines()[-1] == (
        "Error: environment dev is in region us-east-1, but AWS_REGION says eu-west-1: set AWS_REGION=us-east-1 "
        "(or use the profile it was deployed with)")


def test_the_region_of_the_profile_is_used(project, tmp_path, monkeypatch):
    config = tmp_path / "aws-config-with-profile"
    config.write_text("[profile payments-dev]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "payments-dev")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = tapctl("deploy", "--env", "dev", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert record(tmp_path)["region"] == "eu-central-1"
    assert outputs("dev")["validator_lambda_arn"].startswith("arn:aws:lambda:eu-central-1:")


def test_credentials_of_another_account_are_refused(project, tmp_path, monkeypatch):
    assert tapctl("deploy", "--env", "dev", "--auto-approve").exit_code == 0
    # A real access key of another account: moto answers STS with the account the key belongs to.
    iam = boto3.client("iam")
    iam.meta.events.register("before-sign.iam.*", lambda request, **_: request.headers.add_header(
        "x-moto-account-id", OTHER_ACCOUNT))
    iam.create_user(UserName="intruder")
    key = iam.create_access_key(UserName="intruder")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    result = tapctl("deploy", "--env", "dev", "--auto-approve")
    assert result.exit_code == 9, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: environment dev is in account {MOTO_ACCOUNT}, but these credentials are for account "
        f"{OTHER_ACCOUNT} (us-east-1): switch AWS_PROFILE or credentials")


def test_another_backend_than_the_recorded_one_is_refused(project, tmp_path):
    assert tapctl("deploy", "--env", "dev", "--auto-approve").exit_code == 0
    backend = tmp_path / "backend.hcl"
    backend.write_text('bucket = "payments-tfstate"\nregion = "us-east-1"\n')
    result = tapctl("plan", "--env", "dev", "--backend-config", str(backend))
    assert result.exit_code == 9, result.output
    assert result.output.strip().splitlines()[-1].startswith(
        f"Error: dev keeps its state in local state, but this command would use {backend}: an empty state would "
        f"plan a second stack.")


def test_the_project_file_declares_an_environment_for_everyone(project, tmp_path):
    (project / "deploy").mkdir()
    (project / "deploy" / "dev.tfvars.json").write_text(json.dumps({"revision": "team"}))
    (project / "tapctl.toml").write_text(
        '[defaults]\nregion = "us-east-1"\n\n[environments.dev]\nvar_files = ["deploy/dev.tfvars.json"]\n')
    result = tapctl("deploy", "--env", "dev", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert outputs("dev")["revision"] == "team"
    assert record(tmp_path)["var_files"] == ["deploy/dev.tfvars.json"]  # relative: the checkout may move

    override = tmp_path / "mine.tfvars.json"
    override.write_text(json.dumps({"revision": "mine"}))
    result = tapctl("plan", "--env", "dev", "--var-file", str(override), "--json")
    assert json.loads(result.stdout)["change"] == 1  # the flag overrides the file


def test_a_project_file_that_contradicts_the_deployment_is_refused(project, tmp_path):
    assert tapctl("deploy", "--env", "dev", "--auto-approve").exit_code == 0
    (project / "tapctl.toml").write_text(f'[environments.dev]\naccount = "{OTHER_ACCOUNT}"\n')
    result = tapctl("plan", "--env", "dev")
    assert result.exit_code == 9, result.output
    assert f"tapctl.toml places dev in account {OTHER_ACCOUNT}, but dev was deployed to account {MOTO_ACCOUNT}" in (
        result.output)


def test_a_malformed_project_file_is_one_line(project):
    (project / "tapctl.toml").write_text('[environments.dev]\nregion = "Europe"\n')
    result = tapctl("plan", "--env", "dev")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {project / 'tapctl.toml'}: environments.dev.region must be a region name such as eu-west-1, "
        f"not 'Europe'")


def test_a_saved_plan_for_another_region_is_refused(project, tmp_path, monkeypatch):
    plan_file = tmp_path / "dev.tfplan"
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert tapctl("plan", "--env", "dev", "--out", str(plan_file)).exit_code == 0
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    result = tapctl("apply", "--env", "dev", "--plan", str(plan_file))
    assert result.exit_code == 8, result.output
    assert f"Error: {plan_file} is a plan for region 'eu-west-1', not 'us-east-1'" in result.output


def test_the_state_moves_to_a_backend_on_purpose_and_stays_found(project, tmp_path):
    """From this laptop's local state to S3 (moto's, reached through AWS_ENDPOINT_URL as AWS would be)."""
    assert tapctl("deploy", "--env", "dev", "--auto-approve").exit_code == 0
    boto3.client("s3").create_bucket(Bucket="payments-tfstate")
    backend = tmp_path / "backend.hcl"
    backend.write_text('bucket = "payments-tfstate"\nregion = "us-east-1"\nuse_path_style = true\n'
                       "skip_credentials_validation = true\nskip_requesting_account_id = true\n")
    result = tapctl("init", "--env", "dev", "--backend-config", str(backend), "--migrate-state")
    assert result.exit_code == 0, result.output
    assert f"dev: state moved to S3 backend of {backend}, key tapctl/dev/terraform.tfstate" in result.stderr
    stored = boto3.client("s3").get_object(Bucket="payments-tfstate", Key="tapctl/dev/terraform.tfstate")
    assert json.loads(stored["Body"].read())["resources"][0]["type"] == "terraform_data"
    assert record(tmp_path)["backend_config"] == str(backend)

    result = tapctl("plan", "--env", "dev")  # the recorded backend: the moved state, not an empty one
    assert (result.exit_code, result.stdout) == (0, "dev: no changes\n"), result.output


def test_a_destroyed_environment_no_longer_pins_its_name(project, tmp_path, monkeypatch):
    assert tapctl("deploy", "--env", "dev", "--auto-approve").exit_code == 0
    assert tapctl("destroy", "--env", "dev", "--auto-approve").exit_code == 0
    assert not (tmp_path / "state" / "aws" / "dev" / "environment.json").exists()
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # the name may now be deployed elsewhere
    result = tapctl("deploy", "--env", "dev", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert record(tmp_path)["region"] == "eu-west-1"
