"""How a command's settings are resolved (flag > tapctl.toml > the environment's record > default), what
the project file accepts, and the checks made before applying: pure functions, no network."""

import json
from dataclasses import replace

import pytest

from tapctl import deploy, preflight
from tapctl.environment import resolve
from tapctl.errors import UsageError, WrongEnvironment
from tapctl.identity import Identity
from tapctl.project import find_project_dir, load
from tapctl.record import Record, read_record, write_record
from tapctl.terraform import PlanSummary


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    for folder in ("terraform", "handlers", "deploy"):
        (root / folder).mkdir(parents=True)
    for name in ("team.tfvars", "mine.tfvars", "recorded.tfvars"):
        (root / "deploy" / name).write_text("")
    (root / "deploy" / "backend.hcl").write_text('bucket = "tfstate"\n')
    return root


def settings_for(project, **flags):
    return resolve({"env": flags.pop("env", "dev"), "project_dir": project, **flags})


def deployed(project, target="aws", **fields):
    settings = settings_for(project, target=target)
    values = {"account": "123456789012", "region": "eu-west-1", **fields}
    settings = replace(settings, **{key: value for key, value in values.items() if key in ("backend_config", "var_files")})
    return write_record(settings, Identity(values["account"], values["region"]))


def test_nothing_said_gives_the_defaults(project):
    settings = settings_for(project)
    assert (settings.target, settings.var_files, settings.backend_config, settings.region, settings.account) == (
        "aws", (), "", "", "")


def test_the_record_fills_in_what_the_flags_do_not_say(project):
    deployed(project, var_files=(str(project / "deploy" / "recorded.tfvars"),),
             backend_config=str(project / "deploy" / "backend.hcl"))
    saved = json.loads((project / ".tapctl" / "aws" / "dev" / "environment.json").read_text())
    assert (saved["var_files"], saved["backend_config"]) == (["deploy/recorded.tfvars"], "deploy/backend.hcl")
    settings = settings_for(project)
    assert settings.var_files == (str(project / "deploy" / "recorded.tfvars"),)
    assert settings.backend_config == str(project / "deploy" / "backend.hcl")
    assert (settings.region, settings.account) == ("eu-west-1", "123456789012")


def test_a_flag_beats_the_project_file_which_beats_the_record(project):
    deployed(project, var_files=(str(project / "deploy" / "recorded.tfvars"),))
    (project / "tapctl.toml").write_text('[environments.dev]\nvar_files = ["deploy/team.tfvars"]\n')
    assert settings_for(project).var_files == (str(project / "deploy" / "team.tfvars"),)
    flagged = settings_for(project, var_files=(str(project / "deploy" / "mine.tfvars"),))
    assert flagged.var_files == (str(project / "deploy" / "mine.tfvars"),)


def test_the_target_comes_from_where_the_environment_is_deployed(project):
    deployed(project, target="local")
    assert settings_for(project).target == "local"
    assert settings_for(project, target="aws").target == "aws"  # a flag still says otherwise


def test_an_environment_on_both_targets_needs_a_flag(project):
    deployed(project, target="local")
    deployed(project, target="aws")
    with pytest.raises(UsageError, match="environment dev exists on several targets \\(aws, local\\): pass --target"):
        settings_for(project)


def test_a_folder_left_by_a_failed_first_init_is_no_environment(project):
    (project / ".tapctl" / "local" / "dev" / "module").mkdir(parents=True)
    assert settings_for(project).target == "aws"


def test_the_project_file_picks_the_target_of_a_new_environment(project):
    (project / "tapctl.toml").write_text('[defaults]\ntarget = "local"\nregion = "eu-central-1"\n')
    settings = settings_for(project, env="pr-12")
    assert (settings.target, settings.region) == ("local", "eu-central-1")


def test_a_backend_other_than_the_recorded_one_is_refused_unless_migrating(project):
    deployed(project)
    backend = str(project / "deploy" / "backend.hcl")
    with pytest.raises(WrongEnvironment, match="dev keeps its state in local state, but this command would use"):
        settings_for(project, backend_config=backend)
    assert settings_for(project, backend_config=backend, migrate_state=True).backend_config == backend


@pytest.mark.parametrize(("text", "problem"), [
    ('[environments.dev]\nregion = "Europe"\n', "environments.dev.region must be a region name such as eu-west-1"),
    ('[environments.dev]\naccount = 123456789012\n', "environments.dev.account must be a 12-digit AWS account id"),
    ('[environments.Dev]\n', "[environments.Dev]: 'Dev' is not a valid environment name"),
    ('[environments.dev]\nbucket = "x"\n', "environments.dev.bucket is not a setting"),
    ('[prod]\n', "unknown table 'prod'"),
    ('[environments.dev\n', "not a valid TOML file"),
])
def test_a_malformed_project_file_says_what_is_wrong(project, text, problem):
    (project / "tapctl.toml").write_text(text)
    with pytest.raises(UsageError, match=problem.replace("[", "\\[").replace("]", "\\]").replace("(", "\\(")):
        load(project)


def test_a_missing_var_file_is_named(project):
    with pytest.raises(UsageError, match="var-file not found: .*nowhere.tfvars"):
        settings_for(project, var_files=(str(project / "nowhere.tfvars"),))


def test_the_project_is_found_upward_from_the_current_folder(project, monkeypatch):
    deep = project / "handlers" / "nested"
    deep.mkdir()
    monkeypatch.chdir(deep)
    assert find_project_dir() == project


def test_a_record_reads_back_as_written(project):
    written = deployed(project, var_files=(str(project / "deploy" / "team.tfvars"),))
    assert read_record(project / ".tapctl" / "aws" / "dev") == written
    assert isinstance(written, Record) and written.var_files == ("deploy/team.tfvars",)


# -- before applying ------------------------------------------------------------------------------------

IDENTITY = Identity("123456789012", "eu-west-1")


def lambda_change(actions, before, after):
    return {"type": "aws_lambda_function", "change": {"actions": actions,
            "before": None if before is None else {"reserved_concurrent_executions": before},
            "after": None if after is None else {"reserved_concurrent_executions": after}}}


FIRST_DEPLOY = {"resource_changes": [lambda_change(["create"], None, 10), lambda_change(["create"], None, 10),
                                     {"type": "aws_api_gateway_stage", "change": {"actions": ["create"]}}]}


def account(quota, unreserved):
    return {"AccountLimit": {"ConcurrentExecutions": quota, "UnreservedConcurrentExecutions": unreserved}}


@pytest.mark.parametrize(("changes", "increase"), [
    (FIRST_DEPLOY["resource_changes"], 20),
    ([lambda_change(["update"], 10, 10)], 0),
    ([lambda_change(["update"], 10, 25)], 15),
    ([lambda_change(["update"], 10, -1)], -10),  # unreserving gives back
    ([lambda_change(["create"], None, -1)], 0),
    ([lambda_change(["delete"], 10, None)], -10),
])
def test_the_reservation_a_plan_adds(changes, increase):
    assert preflight.reservation_increase({"resource_changes": changes}) == increase


def test_a_fresh_account_cannot_take_two_reservations_of_ten():
    problem = preflight.capacity_problem(FIRST_DEPLOY, account(10, 10), IDENTITY)
    assert problem == (
        "account 123456789012 (eu-west-1) cannot reserve 20 more concurrent executions: its Lambda quota is 10 "
        "with 10 unreserved, and Lambda keeps 100 unreserved. Set reserved_concurrency = null in a var-file (the "
        "functions then share the unreserved pool), or ask for a higher quota (Service Quotas > AWS Lambda > "
        "Concurrent executions)")


@pytest.mark.parametrize(("quota", "unreserved"), [(1000, 1000), (1000, 120)])
def test_an_account_with_room_takes_them(quota, unreserved):
    assert preflight.capacity_problem(FIRST_DEPLOY, account(quota, unreserved), IDENTITY) is None


def test_an_unreserved_plan_fits_any_account():
    plan = {"resource_changes": [lambda_change(["create"], None, -1)] * 2}
    assert preflight.capacity_problem(plan, account(10, 10), IDENTITY) is None


def test_a_new_stage_needs_the_account_role_unless_the_plan_sets_it():
    assert "has no API Gateway CloudWatch role in eu-west-1" in preflight.api_role_problem(FIRST_DEPLOY, {}, IDENTITY)
    assert preflight.api_role_problem(FIRST_DEPLOY, {"cloudwatchRoleArn": "arn:aws:iam::1:role/x"}, IDENTITY) is None
    with_role = {"resource_changes": FIRST_DEPLOY["resource_changes"]
                 + [{"type": "aws_api_gateway_account", "change": {"actions": ["create"]}}]}
    assert preflight.api_role_problem(with_role, {}, IDENTITY) is None


def test_the_confirmation_names_what_is_at_stake():
    stakes = deploy.Stakes("prod", "aws", "123456789012", "eu-west-1", "S3 backend of backend.hcl, key tapctl/prod/"
                           "terraform.tfstate", PlanSummary(2, 1, 0, "prod", "prod.tfplan"))
    assert stakes.question() == (
        "Apply 2 to add, 1 to change, 0 to destroy to environment prod on aws: account 123456789012, region "
        "eu-west-1, S3 backend of backend.hcl, key tapctl/prod/terraform.tfstate?")


def test_the_project_file_enables_payment_provider_sources(project):
    (project / "tapctl.toml").write_text(
        '[environments.prod.sources.stripe]\ntypes = { "charge.succeeded" = "payment" }\n'
        '[environments.prod.sources.square]\nnotification_url = "https://hooks.example.com/webhook/square"\n')
    assert settings_for(project, env="prod").sources == {
        "stripe": {"types": {"charge.succeeded": "payment"}},
        "square": {"notification_url": "https://hooks.example.com/webhook/square"}}
    assert settings_for(project, env="dev").sources is None  # said nothing: the module's (or a var file's) own
    for table, problem in [("[environments.prod.sources.paypal]\n", "sources must be tables of sources"),
                           ('[environments.prod.sources.stripe]\ntypes = { "x" = "payments" }\n', "sources must be"),
                           ("[environments.prod.sources.stripe]\ntolerance_seconds = 5\n", "sources must be")]:
        (project / "tapctl.toml").write_text(table)
        with pytest.raises(UsageError, match=problem):
            load(project)
