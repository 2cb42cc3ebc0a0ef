"""The commands that operate a deployed environment: look at it, follow an event, put failed events back."""

import json

import click

from tapctl.cli.group import deployed, main
from tapctl.config import FUNCTIONS, LIVE_QUEUES
from tapctl.console import console, emit, live_line
from tapctl.errors import ChecksFailed
from tapctl.options import Duration, environment_options


@main.command()
@environment_options
def sources(settings):
    """List the payment providers this environment receives from: each one's URL to register in the
    provider's dashboard, the event types to subscribe to, and whether its secret is set.

    Enable a source in tapctl.toml ([environments.<env>.sources.stripe]) and deploy; then give it its
    secret: tapctl secret set --env <env> --source stripe. Example: tapctl sources --env prod --json
    """
    from tapctl import providers

    found = providers.listing(*deployed(settings), settings)
    lines = []
    for entry in found:
        lines += [f"{entry['source']}: {entry['url']}  (secret {entry['secret']})",
                  f"    subscribe to: {', '.join(entry['subscribe'])}"]
    emit(settings, found, lines or [f"{settings.env} receives from no payment provider: see README, \"Payment providers\""])


@main.command()
@environment_options
def status(settings):
    """One screen: endpoint, functions (deployed code vs this checkout), queues, alarms in ALARM.

    Nothing is received from a queue. Example: tapctl status --env prod --json
    """
    from tapctl import status as reporting

    report = reporting.status(*deployed(settings), settings)
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

    target, outputs = deployed(settings)
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

    target, outputs = deployed(settings)
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

    target, outputs = deployed(settings)
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

    target, outputs = deployed(settings)
    result = recovery.replay_failures(target, outputs, max_messages=max_messages, dry_run=dry_run,
                                      progress=_progress_line(settings, "replay: done"))
    verb = "would replay" if dry_run else "replayed"
    console.done()
    lines = [f"{verb} {len(result['replayed'])} of {result['waiting']}: {', '.join(map(str, result['replayed'])) or '-'}"]
    lines += [f"still failing: {failure['event_id']}: {failure['error']}" for failure in result["failed"]]
    emit(settings, result, lines)
    if result["failed"]:
        raise ChecksFailed(f"{len(result['failed'])} event(s) still cannot be routed: they stay in router failures")
