"""The commands of the local target: its emulators, sample traffic, a look into its queues."""

from pathlib import Path

import click

from tapctl.cli.group import deployed, main
from tapctl.config import SOURCES
from tapctl.console import emit
from tapctl.options import environment_options, project_options


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
@click.option("--source", type=click.Choice(SOURCES), help="Send as this payment provider sends, to its route.")
def local_send(settings, count, source):
    """Send sample events of each type to a local environment's endpoint (or a provider source's).

    Example: tapctl local send --env dev --count 3 --source stripe
    """
    if source:
        from tapctl import providers

        sent = providers.send(*deployed(settings), settings.env, source, count)
    else:
        from tapctl import sample

        sent = sample.send(*deployed(settings), settings.env, count)
    emit(settings, sent, [f"{item['status']}  {item['event_id']}  {item['latency_ms']:.1f} ms" for item in sent])


@local.command("queues")
@environment_options(fixed_target="local")
@click.option("--show", default=3, show_default=True, type=click.IntRange(0, 10), help="Messages to show per queue.")
def local_queues(settings, show):
    """Show what waits in each queue of a local environment (messages stay in the queue).

    Example: tapctl local queues --env dev
    """
    from tapctl import sample

    report = sample.queues(*deployed(settings), show)
    lines = []
    for name, queue in report.items():
        lines.append(f"{name.removesuffix('_url')}: {queue['messages']} message(s)")
        lines.extend(f"    {body}" for body in queue["sample"])
    emit(settings, report, lines)
