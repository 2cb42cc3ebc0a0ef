"""The click commands of tapctl: each resolves its inputs into Settings (tapctl.environment) and hands over
to plain modules (targets, deploy, terraform, package, smoke) that know nothing of click. Progress goes to
stderr, results to stdout."""

import json
import time
from pathlib import Path

import click

from tapctl import __version__
from tapctl.config import FUNCTIONS, LIVE_QUEUES
from tapctl.console import console, emit, live_line, progress
from tapctl.errors import ChecksFailed, TapctlError, UsageError
from tapctl.options import ALLOW_DATA_LOSS, Duration, environment_options, project_options


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
            test = SmokeTest.of_environment(opened.target, outputs, settings.env, wait_seconds=20.0)
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
    from tapctl.targets import deployed

    _, outputs = deployed(settings, progress)
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
    from tapctl.targets import deployed

    target, outputs = deployed(settings, progress)
    _smoke(settings, SmokeTest.of_environment(target, outputs, settings.env, wait_seconds=wait))


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


@main.group()
def secret():
    """The environment's webhook signing secret (Standard Webhooks): show it, rotate it."""


def _signing_secret(settings):
    from tapctl.signing_secret import SigningSecret
    from tapctl.targets import deployed

    return SigningSecret.of(*deployed(settings, progress), settings.env)


def _show_secret(settings, entries, heading, note=None, **extra):
    from tapctl.signing import live
    from tapctl.signing_secret import describe_expiry

    current = live(entries, time.time())
    lines = [heading, f"sign with: {current[0]['secret'] if current else '(none: every secret has expired)'}"]
    lines += [f"  {entry['secret']}  {describe_expiry(entry['expires_at'])}" for entry in entries]
    lines += [note] if note else []
    emit(settings, {"environment": settings.env, "current": current[0]["secret"] if current else None,
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
    from tapctl import signing_secret
    from tapctl.targets import deployed

    entries, window = signing_secret.rotate(*deployed(settings, progress), settings.env, grace, recycle=recycle)
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
    from tapctl.targets import deployed

    body = body_file.read()
    target, outputs = deployed(settings, progress)
    headers = signing.headers(SigningSecret.of(target, outputs, settings.env).current(), body)
    if curl:
        try:
            command = signing.curl_command(outputs["api_endpoint"], headers, body, body_file.name)
        except ValueError as problem:
            raise UsageError(f"--curl: {problem}") from None
        emit(settings, {**headers, "curl": command}, [command])
    else:
        emit(settings, headers, [f"{name}: {value}" for name, value in headers.items()])


def _deployed(settings):
    from tapctl.targets import deployed

    return deployed(settings, progress)


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
    emit(settings, report, reporting.lines(report))


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
    emit(settings, report, tracing.lines(report))


@main.command()
@environment_options
@click.option("--function", "function", type=click.Choice(list(FUNCTIONS)), default=None,
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
    show = (lambda line: click.echo(json.dumps(line.as_dict(), sort_keys=True))) if settings.json_output else (
        lambda line: click.echo(line.readable()))
    try:
        for line in reading.lines(target, outputs, function=function, since_seconds=since, follow_on=follow,
                                  event_id=event_id, outcome=outcome):
            show(line)
    except KeyboardInterrupt:
        if not follow:
            raise
        # Ctrl-C ends --follow: not a failure


def _progress_line(settings, label):
    """(done, total) -> the live line on a terminal; nothing otherwise (the result line says it all)."""
    live = live_line(settings)
    return (lambda done, total: live(f"{label} {done}/{total}")) if live else (lambda done, total: None)


@main.command()
@environment_options
@click.option("--queue", "queue", required=True, type=click.Choice(LIVE_QUEUES),
              help="Whose dead-letter queue to move back.")
@click.option("--max", "max_messages", type=click.IntRange(min=1), default=None,
              help="Move at most N messages, one by one [default: all, with SQS's message move task].")
@click.option("--dry-run", is_flag=True, help="Say how many would move; move nothing.")
def redrive(settings, queue, max_messages, dry_run):
    """Move a dead-letter queue's messages back to their queue, once the consumer is fixed.

    Example: tapctl redrive --env prod --queue payments
    """
    from tapctl import recovery

    target, outputs = _deployed(settings)
    result = recovery.redrive(target, outputs, queue, max_messages=max_messages, dry_run=dry_run,
                              progress=_progress_line(settings, f"redrive {queue}: moved"))
    if dry_run:
        line = f"{result['source']}: {result['waiting']} waiting; would move {result['would_move']} to {result['destination']}"
    else:
        line = f"{result['source']}: moved {result['moved']} of {result['waiting']} to {result['destination']}"
    console.done()
    emit(settings, result, [line])


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
    result = recovery.replay_failures(target, outputs, max_messages=max_messages, dry_run=dry_run,
                                      progress=_progress_line(settings, "replay: done"))
    verb = "would replay" if dry_run else "replayed"
    console.done()
    lines = [f"{verb} {len(result['replayed'])} of {result['waiting']}: {', '.join(map(str, result['replayed'])) or '-'}"]
    lines += [f"still failing: {failure['event_id']}: {failure['error']}" for failure in result["failed"]]
    emit(settings, result, lines)
    if result["failed"]:
        raise ChecksFailed(f"{len(result['failed'])} event(s) still cannot be routed: they stay in router failures")


@main.group()
def local():
    """The local target: emulators running on this machine."""


@local.command("status")
@project_options
def local_status(project_dir, state_dir, json_output):
    """List local environments and whether their emulator runs (pid, port, endpoint).

    Example: tapctl local status
    """
    from tapctl.config import Settings
    from tapctl.project import find_project_dir
    from tapctl.targets import LocalTarget

    settings = Settings(project_dir=Path(project_dir).resolve() if project_dir else find_project_dir(), target="local",
                        state_dir=state_dir, json_output=json_output)
    found = LocalTarget.environments(settings.state_base)
    lines = [
        f"{entry['environment']:<20} {'running' if entry['running'] else 'stopped':<8} {entry.get('endpoint', '')}  {('pid ' + str(entry['pid'])) if entry['running'] else ''}".rstrip()
        for entry in found
    ] or ["no local environments"]
    emit(settings, found, lines)


@local.command("send")
@environment_options(fixed_target="local")
@click.option("--count", default=2, show_default=True, type=click.IntRange(1, 100), help="Events of each type.")
def local_send(settings, count):
    """Send sample events of each type to a local environment's endpoint.

    Example: tapctl local send --env dev --count 3
    """
    from tapctl import sample

    sent = sample.send(*_deployed(settings), settings.env, count)
    emit(settings, sent, [f"{item['status']}  {item['event_id']}  {item['latency_ms']:.1f} ms" for item in sent])


@local.command("queues")
@environment_options(fixed_target="local")
@click.option("--show", default=3, show_default=True, type=click.IntRange(0, 10), help="Messages to show per queue.")
def local_queues(settings, show):
    """Show what waits in each queue of a local environment (messages stay in the queue).

    Example: tapctl local queues --env dev
    """
    from tapctl import sample

    report = sample.queues(*_deployed(settings), show)
    lines = []
    for name, queue in report.items():
        lines.append(f"{name.removesuffix('_url')}: {queue['messages']} message(s)")
        lines.extend(f"    {body}" for body in queue["sample"])
    emit(settings, report, lines)


if __name__ == "__main__":
    main()
