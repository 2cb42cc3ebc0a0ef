"""The click commands of tapctl: each resolves its inputs into Settings (tapctl.environment) and hands over
to plain modules (targets, deploy, terraform, package, smoke) that know nothing of click. Progress goes to
stderr, results to stdout."""

import functools
import json
import time
from pathlib import Path

import click

from tapctl import __version__
from tapctl.config import TARGETS, env_name_problem
from tapctl.errors import ChecksFailed, TapctlError, UsageError


class _Console:
    """stderr: progress lines, and on a terminal one line rewritten in place (``live``)."""

    def __init__(self):
        self.width = 0  # of the live line now shown

    def line(self, text):
        self._clear()
        click.echo(text, err=True)

    def live(self, text):
        import shutil

        text = text[: shutil.get_terminal_size((120, 20)).columns - 1]
        click.echo("\r" + text.ljust(self.width), err=True, nl=False)
        self.width = len(text)

    def done(self):
        """End the live line where it stands (its last state stays on screen)."""
        if self.width:
            click.echo("", err=True)
            self.width = 0

    def _clear(self):
        if self.width:
            click.echo("\r" + " " * self.width + "\r", err=True, nl=False)
            self.width = 0


_console = _Console()
_progress = _console.line


def _live(settings):
    """The live line when stderr is a terminal and --verbose was not given; else None (every line)."""
    import sys

    return None if settings.verbose or not sys.stderr.isatty() else _console.live


def _check_env(ctx, param, value):
    if value is not None:
        problem = env_name_problem(value)
        if problem:
            raise click.BadParameter(problem)
    return value


def _emit(settings, data, text_lines):
    if settings.json_output:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        for line in text_lines:
            click.echo(line)


def _project_options(func):
    """Where the project and tapctl's state are, and whether to answer in JSON: every command has these."""

    @click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), envvar="TAPCTL_PROJECT_DIR",
                  default=None, help="Folder holding handlers/ and terraform/ [default: the nearest one upward from "
                  "here, else the installed checkout].")
    @click.option("--state-dir", envvar="TAPCTL_STATE_DIR", type=click.Path(file_okay=False, path_type=Path),
                  default=None, help="Where tapctl keeps each environment's working copy, local state and record "
                  "[default: PROJECT/.tapctl].")
    @click.option("--json", "json_output", is_flag=True, help="Print results as JSON (progress still goes to stderr).")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def environment_options(func=None, *, env_required=True, fixed_target=None):
    """The options of every command that acts on one environment, declared once; builds its Settings.

    Each value comes from the flag, else tapctl.toml, else the environment's record, else the default."""

    def decorate(func):
        @click.option("--env", "env", envvar="ENVIRONMENT_SUFFIX", show_envvar=True, default=None, callback=_check_env,
                      help="Environment name: lower-case letters, digits, '-', starting with a letter, at most 20.")
        @click.option("--target", type=click.Choice(TARGETS), default=None, envvar="TAPCTL_TARGET", hidden=bool(fixed_target),
                      help="AWS or the local emulator [default: as the environment was deployed, else tapctl.toml, "
                      "else aws].")
        @click.option("--terraform-bin", envvar="TAPCTL_TERRAFORM_BIN", default="",
                      help="terraform or tofu executable [default: terraform, then tofu, on PATH].")
        @click.option("--plugin-dir", envvar="TAPCTL_PLUGIN_DIR", default="",
                      help="Offline provider mirror for terraform init -plugin-dir [default: as recorded, else the "
                      "public registry].")
        @click.option("--backend-config", envvar="TAPCTL_BACKEND_CONFIG", default="",
                      help="S3 backend settings file (bucket, region, ...); the state key is set per environment "
                      "[default: as recorded or in tapctl.toml, else local state].")
        @click.option("--var-file", "var_files", multiple=True, type=click.Path(dir_okay=False),
                      help="Extra terraform variables (e.g. alarm_email); may be repeated; replaces the recorded ones.")
        @click.option("--lock-timeout", envvar="TAPCTL_LOCK_TIMEOUT", default="5m", show_default=True,
                      help="How long to wait for a state lock held by another run (terraform duration: 30s, 5m).")
        @click.option("--verbose", "-v", is_flag=True, envvar="TAPCTL_VERBOSE",
                      help="Every line terraform writes, instead of one progress line on a terminal (the environment's "
                      "terraform.log always has them all).")
        @click.option("--module-dir", envvar="TAPCTL_MODULE_DIR", type=click.Path(file_okay=False, path_type=Path),
                      default=None, hidden=True)
        @_project_options
        @functools.wraps(func)
        def wrapper(*args, env, target, terraform_bin, plugin_dir, backend_config, var_files, lock_timeout, verbose,
                    module_dir, project_dir, state_dir, json_output, **kwargs):
            from tapctl.environment import Options, resolve

            if env_required and env is None:
                raise UsageError("Missing option '--env': name the environment (or set ENVIRONMENT_SUFFIX)")
            options = Options(
                env=env or "", target=fixed_target or target, project_dir=project_dir, state_dir=state_dir,
                terraform_bin=terraform_bin, plugin_dir=plugin_dir, backend_config=backend_config,
                var_files=tuple(var_files), lock_timeout=lock_timeout, verbose=verbose, module_dir=module_dir,
                json_output=json_output,
                migrate_state=kwargs.get("migrate_state", False),
            )
            return func(*args, settings=resolve(options), **kwargs)

        return wrapper

    return decorate(func) if func else decorate


def _outputs_lines(outputs):
    return [f"{name} = {value if isinstance(value, str) else json.dumps(value)}" for name, value in sorted(outputs.items())]


def _confirm(question):
    return click.confirm(question, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tapctl")
def main():
    """Build, deploy and smoke-test the tapctl financial-webhook pipeline.

    \b
    POST /webhook -> API Gateway -> webhook-validator (validate, de-duplicate)
                  -> event-router -> payments / refunds / disputes queues

    \b
    Examples:
      tapctl deploy --env dev                  # package, plan, check the account, confirm, apply
      tapctl plan --env prod --out prod.tfplan # a plan to review
      tapctl apply --env prod --plan prod.tfplan
      tapctl smoke-test --env dev              # prove the deployment works
      tapctl destroy --env pr-123 --auto-approve

    An environment remembers how it was deployed (target, account, region, backend, var-files) and
    tapctl.toml may declare it for a team. Exit codes: 0 ok, 1 checks failed or declined, 2 bad usage,
    3 terraform or the AWS provider missing, 4 terraform failed, 5 state locked, 6 no AWS credentials,
    7 endpoint unreachable (or local emulator not running), 8 plan from another environment, 9 another
    account, region or backend than the environment's, 10 the account cannot take the deployment, 11 the
    plan loses data (deletes or replaces a table, queue, log group or the signing secret) without
    --allow-data-loss.
    """


@main.command()
@_project_options
def package(project_dir, state_dir, json_output):
    """Build the two Lambda zips into build/, reproducibly, with a sha256 manifest.

    Unchanged handler sources reuse the existing zips. Example: tapctl package --json
    """
    from tapctl import package as packaging
    from tapctl.config import Settings
    from tapctl.project import find_project_dir

    settings = Settings(project_dir=Path(project_dir).resolve() if project_dir else find_project_dir(),
                        json_output=json_output)
    packages = packaging.build(settings.project_dir, settings.build_dir)
    _emit(
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
    from tapctl.environment import write_record
    from tapctl.targets import open_environment

    with open_environment(settings, _progress, live=_live(settings), migrate_state=migrate_state) as opened:
        if migrate_state:
            write_record(settings, opened.identity)
            _progress(f"{settings.env}: state moved to {opened.target.state_description()}")
    _emit(settings, {"environment": settings.env, "workdir": str(settings.workdir)},
          [f"{settings.env}: initialised in {settings.workdir}"])


_ALLOW_DATA_LOSS = click.option(
    "--allow-data-loss", is_flag=True,
    help="Accept a plan that deletes or replaces a resource holding data (the table, a queue or DLQ, a log group, "
    "the signing secret); without it such a plan exits 11.")


@main.command()
@environment_options
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the plan to this file for review and `tapctl apply --plan`.")
@click.option("--destroy", is_flag=True, help="Plan the destruction of the environment instead.")
@click.option("--summary", "summary_format", type=click.Choice(["md", "json"]), default=None,
              help="Print a review of the plan instead of one line: markdown for a pull-request comment, or JSON.")
@click.option("--summary-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the review to this file [format: --summary, else by its suffix: .json or markdown].")
@_ALLOW_DATA_LOSS
def plan(settings, out, destroy, summary_format, summary_file, allow_data_loss):
    """Show what a deploy would change, call out data loss, and optionally save the plan.

    A plan that deletes or replaces a resource holding data exits 11 unless --allow-data-loss is given, so
    CI can stop a merge. Example: tapctl plan --env prod --out prod.tfplan --summary md --summary-file plan.md
    """
    from tapctl import deploy as deploying
    from tapctl import review as reviewing
    from tapctl.errors import DataLoss, UsageError
    from tapctl.targets import open_environment

    if summary_format and settings.json_output:
        raise UsageError("--json and --summary both choose what is printed: use --summary json")
    if summary_file and not summary_format:
        summary_format = "json" if summary_file.suffix.lower() == ".json" else "md"
    with open_environment(settings, _progress, live=_live(settings)) as opened:
        plan_file = out or settings.workdir / "last.tfplan"
        summary = opened.terraform.plan(plan_file, destroy=destroy)
        result = deploying.reviewed(opened, opened.terraform.show(plan_file))
        where = f"{opened.target.name}, account {opened.identity.account}, {opened.identity.region}"
    if summary_format:
        render = reviewing.markdown if summary_format == "md" else _json_text(reviewing.as_json)
        text = render(result, environment=settings.env, where=where)
        if summary_file:
            summary_file.parent.mkdir(parents=True, exist_ok=True)
            summary_file.write_text(text if text.endswith("\n") else text + "\n")
        click.echo(text)
    else:
        lines = [summary.line()] + reviewing.text_lines(result) + ([f"plan saved to {plan_file}"] if out else [])
        data = {**summary.as_dict(), "data_loss": [finding.as_dict() for finding in result.findings]}
        _emit(settings, data, lines)
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
@_ALLOW_DATA_LOSS
def apply(settings, plan_file, allow_data_loss):
    """Apply exactly a reviewed plan (for an unreviewed one-step change, use deploy).

    Example: tapctl apply --env prod --plan prod.tfplan
    """
    from tapctl import deploy
    from tapctl.targets import open_environment
    from tapctl.terraform import plan_lock_file

    with open_environment(settings, _progress, live=_live(settings), lock_file=plan_lock_file(plan_file)) as opened:
        opened.terraform.check_plan(plan_file, opened.identity)
        document = deploy.check_account(opened, plan_file, _progress)
        deploy.check_data_loss(opened, document, allow=allow_data_loss, warn=_progress)
        deploy.apply(opened, plan_file, document)
        outputs = opened.target.outputs(opened.terraform.output())
        deploy.after_apply(opened, outputs, _progress)
    _emit(settings, outputs, _outputs_lines(outputs))


@main.command()
@environment_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--smoke", is_flag=True, help="Run the smoke test after the apply.")
@_ALLOW_DATA_LOSS
def deploy(settings, auto_approve, smoke, allow_data_loss):
    """Package, plan, check the account, confirm and apply: the whole deployment of one environment.

    The confirmation names the environment, target, account, region, state and the counts.

    Example: tapctl deploy --env dev --auto-approve --smoke
    """
    from tapctl import deploy as deploying
    from tapctl.targets import open_environment

    with open_environment(settings, _progress, live=_live(settings)) as opened:
        summary = deploying.deploy(opened, auto_approve=auto_approve, confirm=_confirm, warn=_progress,
                                   allow_data_loss=allow_data_loss)
        outputs = opened.target.outputs(opened.terraform.output())
        deploying.after_apply(opened, outputs, _progress)
        result = {"plan": summary.as_dict(), "outputs": outputs}
        if not settings.json_output:
            _emit(settings, result, _outputs_lines(outputs))
        if smoke:
            _smoke(settings, _deployed_smoke(settings, opened.target, outputs, 20.0), extra=result)
        elif settings.json_output:
            _emit(settings, result, [])


@main.command()
@environment_options
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for the environment name.")
def destroy(settings, auto_approve):
    """Destroy every resource of one environment.

    Asks you to type the environment name first. Example: tapctl destroy --env pr-123
    """
    from tapctl import deploy
    from tapctl.environment import forget_record
    from tapctl.targets import for_settings, open_environment

    target = for_settings(settings, _progress)
    if not target.reachable():
        target.forget()
    else:
        with open_environment(settings, _progress, live=_live(settings)) as opened:
            if not auto_approve:
                described = deploy.stakes(opened, None).describe()
                typed = click.prompt(f"Type the environment name to destroy {described}", err=True, default="",
                                     show_default=False)
                if typed != settings.env:
                    raise ChecksFailed(f"destroy cancelled: {typed!r} is not {settings.env!r}")
            opened.applied = True
            opened.target.destroy(opened.terraform)
    forget_record(settings.workdir)
    _emit(settings, {"environment": settings.env, "destroyed": True}, [f"{settings.env}: destroyed"])


@main.command()
@environment_options
def output(settings):
    """Print the environment's outputs (api_endpoint, queue URLs, ...) and how it is deployed.

    Example: tapctl output --env dev --json
    """
    outputs = _read_outputs(settings)
    record = settings.record.as_dict() if settings.record else None
    header = [f"# {_record_line(settings)}"] if record else []
    _emit(settings, {**outputs, "tapctl_environment": record}, header + _outputs_lines(outputs))


def _record_line(settings):
    record = settings.record
    state = f"S3 backend of {record.backend_config}" if record.backend_config else "local state"
    var_files = ", ".join(record.var_files) or "none"
    plugin_dir = record.plugin_dir or "the public registry"
    return (f"{record.environment} on {record.target}: account {record.account}, region {record.region}, {state}, "
            f"var-files {var_files}, provider from {plugin_dir}, deployed {record.deployed_at}")


def _read_outputs(settings, target=None):
    from tapctl.errors import TapctlError
    from tapctl.targets import for_settings
    from tapctl.terraform import Terraform

    terraform = Terraform(settings, progress=_progress)
    if not terraform.copy.is_dir():
        raise TapctlError(f"environment {settings.env} has no state here ({settings.workdir}): deploy it first")
    outputs = terraform.output()
    if not outputs:
        raise TapctlError(f"environment {settings.env} has no outputs: deploy it first")
    return (target or for_settings(settings, _progress)).outputs(outputs)


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
    from tapctl.targets import for_settings

    target = for_settings(settings, _progress)
    _smoke(settings, _deployed_smoke(settings, target, _read_outputs(settings, target), wait))


def _deployed_smoke(settings, target, outputs, wait):
    """The smoke test of a deployed environment: its queues, its current secret, its table."""
    from tapctl.signing_secret import SigningSecret
    from tapctl.smoke import SmokeTest

    mode = outputs.get("signature_mode", "off")
    secret = SigningSecret.of(target, outputs, settings.env).live()[0]["secret"] if mode != "off" else None
    return SmokeTest.from_outputs(
        outputs, logs_client=target.client("logs"), wait_seconds=wait, secret=secret,
        signatures_required=mode == "required", records=(target.client("dynamodb"), outputs["dynamodb_table_name"]),
    )


def _smoke(settings, test, extra=None):
    test.progress = (lambda check: _progress(check.line())) if settings.json_output else (lambda check: click.echo(check.line()))
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


class Duration(click.ParamType):
    """A length of time: 90s, 30m, 24h, 7d (or plain seconds)."""

    name = "duration"
    _units = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return value
        text = str(value).strip().lower()
        unit = self._units.get(text[-1:], None)
        number = text[:-1] if unit else text
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            self.fail(f"{value!r} is not a duration such as 90s, 30m, 24h or 7d", param, ctx)
        if seconds < 0:
            self.fail(f"{value!r} is negative", param, ctx)
        return seconds


@main.group()
def secret():
    """The environment's webhook signing secret (Standard Webhooks): show it, rotate it."""


def _signing_secret(settings):
    from tapctl.signing_secret import SigningSecret
    from tapctl.targets import for_settings

    target = for_settings(settings, _progress)
    return SigningSecret.of(target, _read_outputs(settings, target), settings.env)


def _show_secret(settings, entries, heading, note=None, **extra):
    from tapctl.signing import live
    from tapctl.signing_secret import describe_expiry

    current = live(entries, time.time())
    lines = [heading, f"sign with: {current[0]['secret'] if current else '(none: every secret has expired)'}"]
    lines += [f"  {entry['secret']}  {describe_expiry(entry['expires_at'])}" for entry in entries]
    lines += [note] if note else []
    _emit(settings, {"environment": settings.env, "current": current[0]["secret"] if current else None,
                     "secrets": entries, **extra}, lines)


@secret.command("show")
@environment_options
def secret_show(settings):
    """Print the current signing secret and each key's expiry, for configuring the sender.

    Example: tapctl secret show --env dev --json
    """
    signing_secret = _signing_secret(settings)
    entries = signing_secret.entries()
    if entries is None:
        raise TapctlError(f"the signing secret of {settings.env} has no value yet: run `tapctl secret rotate --env "
                          f"{settings.env}`")
    _show_secret(settings, entries, f"{settings.env}: webhook signing secrets, newest first")


@secret.command("rotate")
@environment_options
@click.option("--grace", type=Duration(), default="24h", show_default=True,
              help="How long the previous secret keeps verifying while senders switch (0 revokes it).")
@click.option("--recycle", is_flag=True,
              help="Recycle the validator's warm containers, so a revoked secret stops verifying at once.")
def secret_rotate(settings, grace, recycle):
    """Make a new signing secret the current one; keep the previous one for the grace period.

    Senders sign with the new secret from now on (or with both, as Standard Webhooks allows); it verifies
    within seconds. A revoked secret (--grace 0s) still verifies in a warm validator until its cache runs
    out (signing_secret_cache_seconds) unless --recycle. Example: tapctl secret rotate --env prod --grace 0s --recycle
    """
    from tapctl.signing_secret import SigningSecret, old_secret_window
    from tapctl.targets import for_settings

    target = for_settings(settings, _progress)
    outputs = _read_outputs(settings, target)
    entries = SigningSecret.of(target, outputs, settings.env).rotate(grace)
    window = old_secret_window(target.client("lambda"), outputs["validator_function_name"], recycle=recycle)
    note = (f"a revoked secret may still verify in a warm validator for up to {window} s (its cache, "
            "signing_secret_cache_seconds); --recycle ends that at once" if window else
            "the validator's containers were recycled: a revoked secret verifies nowhere now")
    _show_secret(settings, entries, f"{settings.env}: rotated; give the new secret to your senders", note,
                 old_secret_verifies_for_seconds=window)


@main.command()
@environment_options
@click.option("--file", "body_file", type=click.File("rb"), default="-", show_default=True,
              help="The body to sign, exactly as it will be sent ('-' reads standard input).")
@click.option("--curl", is_flag=True, help="Print a ready curl command that sends the body, signed, to the endpoint.")
def sign(settings, body_file, curl):
    """Print the Standard Webhooks headers of a body, signed with the environment's current secret.

    Example: tapctl sign --env dev --file event.json --curl | sh
    """
    from tapctl import signing
    from tapctl.signing_secret import SigningSecret
    from tapctl.targets import for_settings

    body = body_file.read()
    target = for_settings(settings, _progress)
    outputs = _read_outputs(settings, target)
    headers = signing.headers(SigningSecret.of(target, outputs, settings.env).live()[0]["secret"], body)
    if curl:
        try:
            command = signing.curl_command(outputs["api_endpoint"], headers, body, body_file.name)
        except ValueError as problem:
            raise UsageError(f"--curl: {problem}") from None
        _emit(settings, {**headers, "curl": command}, [command])
    else:
        _emit(settings, headers, [f"{name}: {value}" for name, value in headers.items()])


def _deployed(settings):
    """(target, outputs) of a deployed environment, for the commands that operate it."""
    from tapctl.targets import for_settings

    target = for_settings(settings, _progress)
    return target, _read_outputs(settings, target)


@main.command()
@environment_options
def status(settings):
    """One screen: endpoint, functions (deployed code vs this checkout), queues, alarms in ALARM.

    Nothing is received from a queue. Example: tapctl status --env prod --json
    """
    from tapctl import package
    from tapctl import status as reporting

    target, outputs = _deployed(settings)
    report = reporting.status(target, outputs, package.build(settings.project_dir, settings.build_dir), settings.env)
    _emit(settings, report, reporting.lines(report))


@main.command()
@environment_options
@click.argument("event_id")
@click.option("--since", type=Duration(), default=None,
              help="Search the log lines of this long ago [default: from the event's record, else 24h].")
def trace(settings, event_id, since):
    """Follow one event through the pipeline and end with a verdict: routed to X, rejected, in a DLQ, in
    router failures, not received. Live queues are never received from.

    Example: tapctl trace --env prod evt_123
    """
    from tapctl import trace as tracing

    target, outputs = _deployed(settings)
    report = tracing.trace(target, outputs, event_id, since)
    _emit(settings, report, tracing.lines(report))


@main.command()
@environment_options
@click.option("--function", "function", type=click.Choice(["validator", "router", "sweeper"]), default=None,
              help="One function's lines [default: all].")
@click.option("--since", type=Duration(), default="10m", show_default=True, help="How far back: 30s, 10m, 2h, 1d.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--event-id", default=None, help="Only the lines of this event_id.")
@click.option("--outcome", default=None, help="Only lines with this outcome (accepted, duplicate, rejected, ...).")
def logs(settings, function, since, follow, event_id, outcome):
    """The functions' log lines (one JSON line per invocation), newest last; raw JSON lines with --json.

    Example: tapctl logs --env prod --since 1h --outcome unauthenticated
    """
    from tapctl import logs as reading

    target, outputs = _deployed(settings)
    client, groups = target.client("logs"), reading.groups(outputs, function)
    since_ms = int((time.time() - since) * 1000)
    show = (lambda line: click.echo(json.dumps(line.as_dict(), sort_keys=True))) if settings.json_output else (
        lambda line: click.echo(line.readable()))
    if not follow:
        for line in reading.read(client, groups, since_ms=since_ms, event_id=event_id, outcome=outcome):
            show(line)
        return
    try:
        for line in reading.follow(client, groups, since_ms=since_ms, event_id=event_id, outcome=outcome):
            show(line)
    except KeyboardInterrupt:
        pass  # Ctrl-C ends --follow: not a failure


def _progress_line(settings, label):
    """(done, total) -> the live line on a terminal; nothing otherwise (the result line says it all)."""
    live = _live(settings)
    return (lambda done, total: live(f"{label} {done}/{total}")) if live else (lambda done, total: None)


@main.command()
@environment_options
@click.option("--queue", "queue", required=True, type=click.Choice(["payments", "refunds", "disputes"]),
              help="Whose dead-letter queue to move back.")
@click.option("--max", "max_messages", type=click.IntRange(min=1), default=None,
              help="Move at most N messages, one by one [default: all, with SQS's message move task].")
@click.option("--dry-run", is_flag=True, help="Say how many would move; move nothing.")
def redrive(settings, queue, max_messages, dry_run):
    """Move a dead-letter queue's messages back to their queue, once the consumer is fixed.

    Example: tapctl redrive --env prod --queue payments
    """
    from tapctl import recovery
    from tapctl.config import QUEUES

    target, outputs = _deployed(settings)
    result = recovery.redrive(target.client("sqs"), outputs[QUEUES[f"{queue}_dlq"]], outputs[QUEUES[queue]],
                              max_messages=max_messages, dry_run=dry_run,
                              progress=_progress_line(settings, f"redrive {queue}: moved"))
    if dry_run:
        line = f"{result['source']}: {result['waiting']} waiting; would move {result['would_move']} to {result['destination']}"
    else:
        line = f"{result['source']}: moved {result['moved']} of {result['waiting']} to {result['destination']}"
    _console.done()
    _emit(settings, result, [line])


@main.command("replay-failures")
@environment_options
@click.option("--max", "max_messages", type=click.IntRange(min=1), default=None, help="Replay at most N records.")
@click.option("--dry-run", is_flag=True, help="List what would be replayed; replay nothing.")
def replay_failures(settings, max_messages, dry_run):
    """Re-deliver each router-failures record's original event to the router; a record is deleted only
    after the router took it. The router's message for a replayed event is the one it would have sent.

    Example: tapctl replay-failures --env prod
    """
    from tapctl import recovery

    target, outputs = _deployed(settings)
    result = recovery.replay_failures(target.client("sqs"), target.client("lambda"),
                                      outputs["router_failures_queue_url"], outputs["router_function_name"],
                                      max_messages=max_messages, dry_run=dry_run,
                                      progress=_progress_line(settings, "replay: done"))
    verb = "would replay" if dry_run else "replayed"
    _console.done()
    lines = [f"{verb} {len(result['replayed'])} of {result['waiting']}: {', '.join(map(str, result['replayed'])) or '-'}"]
    lines += [f"still failing: {failure['event_id']}: {failure['error']}" for failure in result["failed"]]
    _emit(settings, result, lines)
    if result["failed"]:
        raise ChecksFailed(f"{len(result['failed'])} event(s) still cannot be routed: they stay in router failures")


@main.group()
def local():
    """The local target: emulators running on this machine."""


@local.command("status")
@_project_options
def local_status(project_dir, state_dir, json_output):
    """List local environments and whether their emulator runs (pid, port, endpoint).

    Example: tapctl local status
    """
    from tapctl.config import Settings
    from tapctl.local import emulator
    from tapctl.project import find_project_dir

    settings = Settings(project_dir=Path(project_dir).resolve() if project_dir else find_project_dir(), target="local",
                        state_dir=state_dir, json_output=json_output)
    found = emulator.status(settings.state_base)
    lines = [
        f"{entry['environment']:<20} {'running' if entry['running'] else 'stopped':<8} {entry.get('endpoint', '')}  {('pid ' + str(entry['pid'])) if entry['running'] else ''}".rstrip()
        for entry in found
    ] or ["no local environments"]
    _emit(settings, found, lines)


@local.command("send")
@environment_options(fixed_target="local")
@click.option("--count", default=2, show_default=True, type=click.IntRange(1, 100), help="Events of each type.")
def local_send(settings, count):
    """Send sample events of each type to a local environment's endpoint.

    Example: tapctl local send --env dev --count 3
    """
    from tapctl.signing_secret import SigningSecret
    from tapctl.smoke import TRANSACTION_TYPES, post_json, smoke_event
    from tapctl.targets import for_settings

    target = for_settings(settings, _progress)
    outputs = _read_outputs(settings, target)
    url = outputs["api_endpoint"]
    secret = SigningSecret.of(target, outputs, settings.env).live()[0]["secret"]
    sent = []
    for transaction_type in TRANSACTION_TYPES:
        for number in range(count):
            event = {**smoke_event(transaction_type), "amount": round(10.5 * (number + 1), 2)}
            event["event_id"] = event["event_id"].replace("tapctl-smoke-", "sample-")
            del event["smoke_test"]
            status, body, latency = post_json(url, event, secret=secret)
            sent.append({"event_id": event["event_id"], "status": status, "answer": body, "latency_ms": round(latency, 1)})
    _emit(settings, sent, [f"{item['status']}  {item['event_id']}  {item['latency_ms']:.1f} ms" for item in sent])


@local.command("queues")
@environment_options(fixed_target="local")
@click.option("--show", default=3, show_default=True, type=click.IntRange(0, 10), help="Messages to show per queue.")
def local_queues(settings, show):
    """Show what waits in each queue of a local environment (messages stay in the queue).

    Example: tapctl local queues --env dev
    """
    from tapctl.targets import for_settings

    target = for_settings(settings, _progress)
    outputs = _read_outputs(settings, target)
    sqs = target.client("sqs")
    report, lines = {}, []
    for name in sorted(key for key in outputs if key.endswith(("_queue_url", "_dlq_url"))):
        url = outputs[name]
        count = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
        bodies = []
        if show and count:
            # A look, not a take: the messages become visible again at once (it counts as one receive).
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=show, VisibilityTimeout=0)
            bodies = [message["Body"] for message in answer.get("Messages", [])]
        report[name] = {"messages": count, "sample": bodies}
        lines.append(f"{name.removesuffix('_url')}: {count} message(s)")
        lines.extend(f"    {body}" for body in bodies)
    _emit(settings, report, lines)


if __name__ == "__main__":
    main()
