"""The click commands of tapctl: each resolves its inputs into Settings and hands over to plain modules
(package, terraform, smoke) that know nothing of click. Progress goes to stderr, results to stdout."""

import functools
import json
from pathlib import Path

import click

from tapctl import __version__
from tapctl.config import TARGETS, Settings, default_project_dir, env_name_problem
from tapctl.errors import ChecksFailed, EndpointUnreachable, TapctlError


def _progress(line):
    click.echo(line, err=True)


def _check_env(ctx, param, value):
    if value is None:
        return value
    problem = env_name_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


def _common(func):
    """Options every command shares: where the project is and whether to answer in JSON."""

    @click.option(
        "--project-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="TAPCTL_PROJECT_DIR",
        default=default_project_dir,
        show_default="this checkout",
        help="Folder holding handlers/ and terraform/.",
    )
    @click.option("--json", "json_output", is_flag=True, help="Print results as JSON (progress still goes to stderr).")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def _environment(func):
    """Options of every command that acts on one deployed environment; builds the Settings."""

    @click.option(
        "--env",
        "env",
        envvar="ENVIRONMENT_SUFFIX",
        show_envvar=True,
        required=True,
        callback=_check_env,
        help="Environment name: lower-case letters, digits, '-', starting with a letter, at most 20.",
    )
    @click.option(
        "--target",
        type=click.Choice(TARGETS),
        default="aws",
        show_default=True,
        envvar="TAPCTL_TARGET",
        help="Deploy to AWS or to the local emulator.",
    )
    @click.option("--terraform-bin", envvar="TAPCTL_TERRAFORM_BIN", default="", help="terraform or tofu executable [default: terraform, then tofu, on PATH].")
    @click.option("--plugin-dir", envvar="TAPCTL_PLUGIN_DIR", default="", help="Offline provider mirror for terraform init -plugin-dir.")
    @click.option("--backend-config", envvar="TAPCTL_BACKEND_CONFIG", default="", help="S3 backend settings file (bucket, region, ...); the state key is set per environment. Default: local state.")
    @click.option("--state-dir", envvar="TAPCTL_STATE_DIR", type=click.Path(file_okay=False, path_type=Path), default=None, help="Where tapctl keeps each environment's working copy and local state [default: PROJECT/.tapctl].")
    @click.option("--module-dir", envvar="TAPCTL_MODULE_DIR", type=click.Path(file_okay=False, path_type=Path), default=None, hidden=True)
    @_common
    @functools.wraps(func)
    def wrapper(*args, env, target, terraform_bin, plugin_dir, backend_config, state_dir, module_dir, project_dir, json_output, **kwargs):
        settings = Settings(
            project_dir=Path(project_dir).resolve(),
            env=env,
            target=target,
            terraform_bin=terraform_bin,
            plugin_dir=plugin_dir,
            backend_config=backend_config,
            module_dir=module_dir,
            state_dir=state_dir,
            json_output=json_output,
        )
        return func(*args, settings=settings, **kwargs)

    return wrapper


def _var_files(func):
    return click.option(
        "--var-file",
        "var_files",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False),
        help="Extra terraform variables (e.g. alarm_email); may be repeated.",
    )(func)


def _emit(settings, data, text_lines):
    if settings.json_output:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        for line in text_lines:
            click.echo(line)


def _terraform(settings, var_files=()):
    from tapctl import package
    from tapctl.terraform import Terraform

    terraform = Terraform(settings, progress=_progress, var_files=var_files)  # fails first if terraform is missing
    if settings.target == "local":
        from tapctl.local import emulator

        state = emulator.start(settings.workdir, progress=_progress)
        terraform.extra_files[emulator.OVERRIDE_FILE] = emulator.provider_override(state["endpoint"], state["region"])
    packages = package.build(settings.project_dir, settings.build_dir)
    terraform.prepare(packages)
    terraform.init()
    return terraform


def _outputs_lines(outputs):
    return [f"{name} = {value if isinstance(value, str) else json.dumps(value)}" for name, value in sorted(outputs.items())]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tapctl")
def main():
    """Build, deploy and smoke-test the tapctl financial-webhook pipeline.

    \b
    POST /webhook -> API Gateway -> webhook-validator (validate, de-duplicate)
                  -> event-router -> payments / refunds / disputes queues

    \b
    Examples:
      tapctl deploy --env dev                  # package, plan, confirm, apply
      tapctl plan --env prod --out prod.tfplan # a plan to review
      tapctl apply --env prod --plan prod.tfplan
      tapctl smoke-test --env dev              # prove the deployment works
      tapctl destroy --env pr-123 --auto-approve

    The environment defaults to $ENVIRONMENT_SUFFIX. Exit codes: 0 ok, 1 checks failed or declined,
    2 bad usage, 3 terraform missing, 4 terraform failed, 5 state locked, 6 no AWS credentials,
    7 endpoint unreachable (or local emulator not running), 8 plan from another environment.
    """


@main.command()
@_common
def package(project_dir, json_output):
    """Build the two Lambda zips into build/, reproducibly, with a sha256 manifest.

    Unchanged handler sources reuse the existing zips. Example: tapctl package --json
    """
    from tapctl import package as packaging

    settings = Settings(project_dir=Path(project_dir).resolve(), json_output=json_output)
    packages = packaging.build(settings.project_dir, settings.build_dir)
    _emit(
        settings,
        [{"function": p.function, "path": str(p.path), "sha256": p.sha256, "size": p.size, "built": p.built} for p in packages],
        [f"{p.function:<18} {p.sha256}  {p.size:>6} bytes  {'built' if p.built else 'unchanged'}  {p.path}" for p in packages],
    )


@main.command()
@_environment
def init(settings):
    """Initialise the environment's working copy of terraform/ (done by every command as needed).

    Example: tapctl init --env dev --plugin-dir /opt/tf-plugins
    """
    _terraform(settings)
    _emit(settings, {"environment": settings.env, "workdir": str(settings.workdir)}, [f"{settings.env}: initialised in {settings.workdir}"])


@main.command()
@_environment
@_var_files
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Save the plan to this file for review and `tapctl apply --plan`.")
@click.option("--destroy", is_flag=True, help="Plan the destruction of the environment instead.")
def plan(settings, var_files, out, destroy):
    """Show what a deploy would change, and optionally save the plan.

    Example: tapctl plan --env prod --out prod.tfplan
    """
    terraform = _terraform(settings, var_files)
    plan_file = out or settings.workdir / "last.tfplan"
    summary = terraform.plan(plan_file, destroy=destroy)
    lines = [summary.line()] + ([f"plan saved to {plan_file}"] if out else [])
    _emit(settings, summary.as_dict(), lines)


@main.command()
@_environment
@click.option("--plan", "plan_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A plan saved by `tapctl plan --out` for this environment.")
def apply(settings, plan_file):
    """Apply exactly a reviewed plan (for an unreviewed one-step change, use deploy).

    Example: tapctl apply --env prod --plan prod.tfplan
    """
    terraform = _terraform(settings)
    terraform.check_plan(plan_file)
    terraform.apply(plan_file)
    outputs = _target_outputs(settings, terraform.output())
    _emit(settings, outputs, _outputs_lines(outputs))


@main.command()
@_environment
@_var_files
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--smoke", is_flag=True, help="Run the smoke test after the apply.")
def deploy(settings, var_files, auto_approve, smoke):
    """Package, plan, confirm and apply: the whole deployment of one environment.

    With --auto-approve and nothing deployed yet, the plan and the apply are one terraform run.

    Example: tapctl deploy --env dev --auto-approve --smoke
    """
    terraform = _terraform(settings, var_files)
    if auto_approve and not terraform.deployed():
        summary = terraform.apply_now()  # a first deploy, approved: plan and apply in one terraform run
    else:
        plan_file = settings.workdir / "deploy.tfplan"
        summary = terraform.plan(plan_file)
        _progress(summary.line())
        if summary.has_changes:
            if not auto_approve and not click.confirm(f"Apply these changes to {settings.env}?", err=True):
                raise ChecksFailed("deploy cancelled: nothing was changed")
            terraform.apply(plan_file)
    outputs = _target_outputs(settings, terraform.output())
    result = {"plan": summary.as_dict(), "outputs": outputs}
    if not settings.json_output:
        _emit(settings, result, _outputs_lines(outputs))
    if smoke:
        _smoke(settings, outputs=outputs, endpoint=None, wait=20.0, extra=result)
    elif settings.json_output:
        _emit(settings, result, [])


@main.command()
@_environment
@_var_files
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for the environment name.")
def destroy(settings, var_files, auto_approve):
    """Destroy every resource of one environment.

    Asks you to type the environment name first. Example: tapctl destroy --env pr-123
    """
    if not auto_approve:
        typed = click.prompt(f"Type the environment name to destroy {settings.env}", err=True, default="", show_default=False)
        if typed != settings.env:
            raise ChecksFailed(f"destroy cancelled: {typed!r} is not {settings.env!r}")
    if settings.target == "local":
        _destroy_local(settings, var_files)
    else:
        _terraform(settings, var_files).destroy()
    _emit(settings, {"environment": settings.env, "destroyed": True}, [f"{settings.env}: destroyed"])


def _destroy_local(settings, var_files):
    import shutil

    from tapctl.local import emulator

    if emulator.running(settings.workdir):
        _terraform(settings, var_files).destroy()
    else:
        _progress(f"the local emulator of {settings.env} is not running: removing its local state only")
    if emulator.stop(settings.workdir):
        _progress(f"local emulator of {settings.env} stopped")
    shutil.rmtree(settings.workdir, ignore_errors=True)


def _target_outputs(settings, outputs):
    if settings.target != "local":
        return outputs
    from tapctl.local import emulator

    state = emulator.running(settings.workdir)
    if not state:
        raise EndpointUnreachable(
            f"the local emulator of {settings.env} is not running: "
            f"run `tapctl deploy --env {settings.env} --target local` to start it again"
        )
    return emulator.local_outputs(outputs, state["endpoint"])


@main.command()
@_environment
def output(settings):
    """Print the environment's outputs (api_endpoint, queue URLs, ...).

    Example: tapctl output --env dev --json
    """
    outputs = _read_outputs(settings)
    _emit(settings, outputs, _outputs_lines(outputs))


def _read_outputs(settings):
    from tapctl.terraform import Terraform

    terraform = Terraform(settings, progress=_progress)
    if not terraform.copy.is_dir():
        raise TapctlError(f"environment {settings.env} has no state here ({settings.workdir}): deploy it first")
    outputs = terraform.output()
    if not outputs:
        raise TapctlError(f"environment {settings.env} has no outputs: deploy it first")
    return _target_outputs(settings, outputs)


@main.command("smoke-test")
@_environment
@click.option("--endpoint", default=None, help="Smoke-test this POST /webhook URL only (no queue checks).")
@click.option("--wait", default=20.0, show_default=True, type=click.FloatRange(min=1), help="Seconds to wait for each event in its queue.")
def smoke_test(settings, endpoint, wait):
    """Prove a deployment works: accept, route, de-duplicate and reject, one line per check.

    Example: tapctl smoke-test --env dev
    """
    _smoke(settings, outputs=None if endpoint else _read_outputs(settings), endpoint=endpoint, wait=wait)


def _smoke(settings, outputs, endpoint, wait, extra=None):
    from tapctl.smoke import SmokeTest

    show = (lambda check: _progress(check.line())) if settings.json_output else (lambda check: click.echo(check.line()))
    sqs = None
    if outputs and settings.target == "local":
        from tapctl.local import emulator

        sqs = emulator.client(settings.workdir, "sqs")
    if outputs:
        test = SmokeTest.from_outputs(outputs, wait_seconds=wait, progress=show, sqs=sqs)
    else:
        test = SmokeTest(endpoint, wait_seconds=wait, progress=show)
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
def local():
    """The local target: emulators running on this machine."""


@local.command("status")
@click.option("--state-dir", envvar="TAPCTL_STATE_DIR", type=click.Path(file_okay=False, path_type=Path), default=None, help="tapctl's state folder [default: PROJECT/.tapctl].")
@_common
def local_status(state_dir, project_dir, json_output):
    """List local environments and whether their emulator runs (pid, port, endpoint).

    Example: tapctl local status
    """
    from tapctl.local import emulator

    settings = Settings(project_dir=Path(project_dir).resolve(), target="local", state_dir=state_dir, json_output=json_output)
    found = emulator.status(settings.workdir.parent)
    lines = [
        f"{entry['environment']:<20} {'running' if entry['running'] else 'stopped':<8} {entry.get('endpoint', '')}  {('pid ' + str(entry['pid'])) if entry['running'] else ''}".rstrip()
        for entry in found
    ] or ["no local environments"]
    _emit(settings, found, lines)


def _local_environment(func):
    @click.option("--env", envvar="ENVIRONMENT_SUFFIX", show_envvar=True, required=True, callback=_check_env, help="Environment name.")
    @click.option("--state-dir", envvar="TAPCTL_STATE_DIR", type=click.Path(file_okay=False, path_type=Path), default=None, help="tapctl's state folder [default: PROJECT/.tapctl].")
    @_common
    @functools.wraps(func)
    def wrapper(*args, env, state_dir, project_dir, json_output, **kwargs):
        settings = Settings(project_dir=Path(project_dir).resolve(), env=env, target="local", state_dir=state_dir, json_output=json_output)
        return func(*args, settings=settings, **kwargs)

    return wrapper


@local.command("send")
@_local_environment
@click.option("--count", default=2, show_default=True, type=click.IntRange(1, 100), help="Events of each type.")
def local_send(settings, count):
    """Send sample events of each type to a local environment's endpoint.

    Example: tapctl local send --env dev --count 3
    """
    from tapctl.smoke import TRANSACTION_TYPES, post_json, smoke_event

    url = _read_outputs(settings)["api_endpoint"]
    sent = []
    for transaction_type in TRANSACTION_TYPES:
        for number in range(count):
            event = {**smoke_event(transaction_type), "amount": round(10.5 * (number + 1), 2)}
            event["event_id"] = event["event_id"].replace("tapctl-smoke-", "sample-")
            del event["smoke_test"]
            status, body, latency = post_json(url, event)
            sent.append({"event_id": event["event_id"], "status": status, "answer": body, "latency_ms": round(latency, 1)})
    _emit(settings, sent, [f"{item['status']}  {item['event_id']}  {item['latency_ms']:.1f} ms" for item in sent])


@local.command("queues")
@_local_environment
@click.option("--show", default=3, show_default=True, type=click.IntRange(0, 10), help="Messages to show per queue.")
def local_queues(settings, show):
    """Show what waits in each queue of a local environment (messages stay in the queue).

    Example: tapctl local queues --env dev
    """
    from tapctl.local import emulator

    outputs = _read_outputs(settings)
    sqs = emulator.client(settings.workdir, "sqs")
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
