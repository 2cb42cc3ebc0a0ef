"""The commands that build, deploy, review, prove and take down an environment."""

import json
from pathlib import Path

import click

from tapctl.cli.group import deployed, main
from tapctl.console import emit, live_line, progress
from tapctl.errors import ChecksFailed, UsageError
from tapctl.options import ALLOW_DATA_LOSS, environment_options, project_options


def _outputs_lines(outputs):
    return [f"{name} = {value if isinstance(value, str) else json.dumps(value)}" for name, value in sorted(outputs.items())]


def _confirm(question):
    return click.confirm(question, err=True)


@main.command()
@project_options
def package(project_dir, state_dir, json_output):
    """Build the Lambda zips (one per function) into build/, reproducibly, with a sha256 manifest.

    Unchanged handler sources reuse the existing zips. Example: tapctl package --json
    """
    from tapctl import package as packaging
    from tapctl.config import Settings
    from tapctl.project import find_project_dir

    settings = Settings(project_dir=Path(project_dir).resolve() if project_dir else find_project_dir(),
                        json_output=json_output)
    packages = packaging.build(settings.project_dir, settings.build_dir)
    emit(
        settings,
        [{"function": p.function, "path": str(p.path), "sha256": p.sha256, "size": p.size, "built": p.built} for p in packages],
        [f"{p.function:<18} {p.sha256}  {p.size:>6} bytes  {'built' if p.built else 'unchanged'}  {p.path}" for p in packages],
    )


@main.command()
@environment_options
@click.option("--migrate-state", is_flag=True,
              help="Move the environment's state to the backend now configured (e.g. from local state to S3).")
def init(settings, migrate_state):
    """Initialise the environment's working copy of terraform/ (done by every command as needed).

    Example: tapctl init --env dev --backend-config backend.hcl --migrate-state
    """
    from tapctl import deploy

    deploy.init(settings, progress, live=live_line(settings), migrate_state=migrate_state)
    emit(settings, {"environment": settings.env, "workdir": str(settings.workdir)},
         [f"{settings.env}: initialised in {settings.workdir}"])


@main.command()
@environment_options
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the plan to this file for review and `tapctl apply --plan`.")
@click.option("--destroy", is_flag=True, help="Plan the destruction of the environment instead.")
@click.option("--summary", "summary_format", type=click.Choice(["md", "json"]), default=None,
              help="Print a review of the plan instead of one line: markdown for a pull-request comment, or JSON.")
@click.option("--summary-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the review to this file [format: --summary, else by its suffix: .json or markdown].")
@ALLOW_DATA_LOSS
def plan(settings, out, destroy, summary_format, summary_file, allow_data_loss):
    """Show what a deploy would change, call out data loss, and optionally save the plan.

    A plan that deletes or replaces a resource holding data exits 11 unless --allow-data-loss is given, so
    CI can stop a merge. Example: tapctl plan --env prod --out prod.tfplan --summary md --summary-file plan.md
    """
    from tapctl import deploy as deploying
    from tapctl import review_report
    from tapctl.errors import DataLoss
    from tapctl.targets import open_environment

    if summary_format and settings.json_output:
        raise UsageError("--json and --summary both choose what is printed: use --summary json")
    if summary_file and not summary_format:
        summary_format = "json" if summary_file.suffix.lower() == ".json" else "md"
    with open_environment(settings, progress, live=live_line(settings)) as opened:
        plan_file = out or settings.workdir / "last.tfplan"
        summary, result = deploying.plan(opened, plan_file, destroy=destroy)
        where = f"{opened.target.name}, account {opened.identity.account}, {opened.identity.region}"
    if summary_format:
        render = review_report.markdown if summary_format == "md" else _json_text(review_report.as_json)
        text = render(result, environment=settings.env, where=where)
        if summary_file:
            summary_file.parent.mkdir(parents=True, exist_ok=True)
            summary_file.write_text(text if text.endswith("\n") else text + "\n")
        click.echo(text)
    else:
        lines = [summary.line()] + review_report.text_lines(result) + ([f"plan saved to {plan_file}"] if out else [])
        data = {**summary.as_dict(), "data_loss": [finding.as_dict() for finding in result.findings]}
        emit(settings, data, lines)
    if result.findings and not allow_data_loss:
        count = len(result.findings)
        raise DataLoss(f"the plan deletes or replaces {count} resource{'s' if count > 1 else ''} holding data "
                       f"({', '.join(finding.change.address for finding in result.findings)}); "
                       "pass --allow-data-loss if that loss is intended")


def _json_text(render):
    return lambda result, **kwargs: json.dumps(render(result, **kwargs), indent=2, sort_keys=True)


@main.command()
@environment_options
@click.option("--plan", "plan_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A plan saved by `tapctl plan --out` for this environment (from any checkout).")
@ALLOW_DATA_LOSS
def apply(settings, plan_file, allow_data_loss):
    """Apply exactly a reviewed plan (for an unreviewed one-step change, use deploy).

    Example: tapctl apply --env prod --plan prod.tfplan
    """
    from tapctl import deploy
    from tapctl.targets import open_environment
    from tapctl.terraform import plan_lock_file

    with open_environment(settings, progress, live=live_line(settings), lock_file=plan_lock_file(plan_file)) as opened:
        outputs = deploy.apply_reviewed(opened, plan_file, allow_data_loss=allow_data_loss, warn=progress)
    emit(settings, outputs, _outputs_lines(outputs))


@main.command()
@environment_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--smoke", is_flag=True, help="Run the smoke test after the apply.")
@ALLOW_DATA_LOSS
def deploy(settings, auto_approve, smoke, allow_data_loss):
    """Package, plan, check the account, confirm and apply: the whole deployment of one environment.

    The confirmation names the environment, target, account, region, state and the counts.

    Example: tapctl deploy --env dev --auto-approve --smoke
    """
    from tapctl import deploy as deploying
    from tapctl.smoke import SmokeTest
    from tapctl.targets import open_environment

    with open_environment(settings, progress, live=live_line(settings)) as opened:
        summary, outputs = deploying.deploy(opened, auto_approve=auto_approve, confirm=_confirm, warn=progress,
                                            allow_data_loss=allow_data_loss)
        result = {"plan": summary.as_dict(), "outputs": outputs}
        if not settings.json_output:
            emit(settings, result, _outputs_lines(outputs))
        if smoke:
            test = SmokeTest.of_environment(opened.target, outputs, settings.env, wait_seconds=20.0,
                                             project_dir=settings.project_dir)
            _smoke(settings, test, extra=result)
        elif settings.json_output:
            emit(settings, result, [])


@main.command()
@environment_options
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for the environment name.")
def destroy(settings, auto_approve):
    """Destroy every resource of one environment.

    Asks you to type the environment name first. Example: tapctl destroy --env pr-123
    """
    from tapctl import deploy

    def typed_name(described):
        return click.prompt(f"Type the environment name to destroy {described}", err=True, default="",
                            show_default=False)

    deploy.destroy(settings, progress, live=live_line(settings), confirm_name=None if auto_approve else typed_name)
    emit(settings, {"environment": settings.env, "destroyed": True}, [f"{settings.env}: destroyed"])


@main.command()
@environment_options
def output(settings):
    """Print the environment's outputs (api_endpoint, queue URLs, ...) and how it is deployed.

    Example: tapctl output --env dev --json
    """
    _, outputs = deployed(settings)
    record = settings.record.as_dict() if settings.record else None
    header = [f"# {settings.record.line()}"] if record else []
    emit(settings, {**outputs, "tapctl_environment": record}, header + _outputs_lines(outputs))


@main.command("smoke-test")
@environment_options(env_required=False)
@click.option("--endpoint", default=None, help="Smoke-test this POST /webhook URL only (no queue checks; no --env needed).")
@click.option("--secret", envvar="TAPCTL_SIGNING_SECRET", default=None,
              help="Signing secret (whsec_...) for --endpoint: then the 401 checks run too [env: TAPCTL_SIGNING_SECRET].")
@click.option("--wait", default=20.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds to wait for the router to report each event routed.")
def smoke_test(settings, endpoint, secret, wait):
    """Prove a deployment works: accept, route, de-duplicate, reject and refuse forgeries, one line per check.

    Example: tapctl smoke-test --env dev
    """
    from tapctl.smoke import SmokeTest

    if endpoint:
        _smoke(settings, SmokeTest(endpoint, wait_seconds=wait, secret=secret, signatures_required=bool(secret)))
        return
    if not settings.env:
        raise UsageError("Missing option '--env': name the environment (or set ENVIRONMENT_SUFFIX), or give --endpoint")
    target, outputs = deployed(settings)
    _smoke(settings, SmokeTest.of_environment(target, outputs, settings.env, wait_seconds=wait,
                                                project_dir=settings.project_dir))


def _smoke(settings, test, extra=None):
    test.progress = (lambda check: progress(check.line())) if settings.json_output else (lambda check: click.echo(check.line()))
    checks = test.run()
    failed = [check for check in checks if not check.passed]
    report = {"passed": not failed, "checks": [check.as_dict() for check in checks]}
    if settings.json_output:
        click.echo(json.dumps({**extra, "smoke": report} if extra else report, indent=2, sort_keys=True))
    else:
        click.echo(f"{len(checks) - len(failed)}/{len(checks)} checks passed")
    if failed:
        raise ChecksFailed(f"smoke test failed: {len(failed)} of {len(checks)} checks")
    return report
