"""The commands that operate a deployed environment: look at it, follow an event, put failed events back."""

import json

import click

from tapctl.cli.group import deployed, main
from tapctl.config import ARCHIVE_SOURCES, FUNCTIONS, LIVE_QUEUES, TRANSACTION_QUEUES
from tapctl.console import console, emit, live_line
from tapctl.errors import ChecksFailed, UsageError
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


# -- the evidence archive ---------------------------------------------------------------------------


@main.group()
def archive():
    """The evidence archive: every accepted request, byte-exact with its headers and verdict, write-once."""


def _archive(settings):
    from tapctl.archive import Archive

    target, outputs = deployed(settings)
    return Archive(target, outputs, settings.env, settings.project_dir)


def _time_range(since, until):
    from tapctl.archive import moment, until_moment

    start, end = moment(since), until_moment(until)
    if end <= start:
        raise UsageError(f"--until {until} is not after --since {since}")
    return start, end


def _range_options(command):
    for option in reversed((
        click.option("--since", required=True, help="From this UTC date or ISO date-time (2026-12-01, 2026-12-01T13:00:00Z)."),
        click.option("--until", required=True, help="Up to this date (to its end) or date-time (exclusive)."),
        click.option("--source", type=click.Choice(ARCHIVE_SOURCES), default=None,
                     help="Only the events received at this route (webhook: POST /webhook) [default: all]."),
        click.option("--type", "transaction_type", type=click.Choice(list(TRANSACTION_QUEUES)), default=None,
                     help="Only events of this transaction_type [default: all]."),
    )):
        command = option(command)
    return command


@archive.command("get")
@environment_options
@click.argument("event_id")
@click.option("--raw", is_flag=True, help="Write the request's body, its exact bytes, to stdout; nothing else.")
def archive_get(settings, event_id, raw):
    """Print one event's evidence: the request as received (headers, body, caller), its verdict, the events
    it held, the message queued, and its signature verified again against the secret version it names.

    Example: tapctl archive get --env prod evt_123 ; tapctl archive get --env prod evt_123 --raw > body.json
    """
    from tapctl.archive import lines

    found = _archive(settings)
    if raw:
        click.echo(found.raw(event_id), nl=False)  # bytes: written as they are, to the binary stream
        return
    report = found.get(event_id)
    emit(settings, report, lines(report, found.layout.body_bytes))
    if report["verified_again"]["result"] == "invalid":
        raise ChecksFailed(f"the archived request of {report['event_id']} does not verify: "
                           f"{report['verified_again']['detail']}")


@archive.command("list")
@environment_options
@_range_options
def archive_list(settings, since, until, source, transaction_type):
    """List the archived events received in a time range, oldest first, without reading any of them.

    Example: tapctl archive list --env prod --since 2026-12-01 --until 2026-12-02 --source stripe --type refund
    """
    start, end = _time_range(since, until)
    found = list(_archive(settings).listing(start, end, source, transaction_type))
    shown = [f"{entry['received_at']}  {entry['source']:<9} {entry['transaction_type']:<8} {entry['event_id']}"
             for entry in found]
    emit(settings, {"since": start, "until": end, "events": found},
         shown + [f"{len(found)} archived event{'' if len(found) == 1 else 's'} from {start} to {end}"])


@main.command()
@environment_options
@click.option("--from-archive", "from_archive", is_flag=True, required=True,
              help="Re-deliver archived events (the only source of a replay).")
@_range_options
@click.option("--dry-run", is_flag=True, help="List what would be re-delivered; send nothing.")
def replay(settings, from_archive, since, until, source, transaction_type, dry_run):
    """Re-deliver archived events of a time range to their queues, for a consumer that lost data: each
    message exactly as first queued, with the attributes replay=true and its original received_at. Queues
    are never received from; consumers see a replayed event as a duplicate of its event_id.

    Example: tapctl replay --env prod --from-archive --since 2026-12-01 --until 2026-12-02 --type refund
    """
    start, end = _time_range(since, until)
    found = _archive(settings)
    entries = list(found.listing(start, end, source, transaction_type))
    result = found.replay(entries, dry_run=dry_run, progress=_progress_line(settings, "replay: sent"))
    console.done()
    if dry_run:
        lines = [f"would replay {len(result['would_replay'])} archived events from {start} to {end}"]
        lines += [f"  {event_id}" for event_id in result["would_replay"]]
    else:
        lines = [f"replayed {len(result['replayed'])} of {result['found']} archived events from {start} to {end}"]
        lines += [f"failed: {failure['event_id']}: {failure['error']}" for failure in result["failed"]]
    emit(settings, {"since": start, "until": end, **result}, lines)
    if result["failed"]:
        raise ChecksFailed(f"{len(result['failed'])} archived event(s) could not be replayed")
