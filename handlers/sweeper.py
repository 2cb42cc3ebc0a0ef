"""outbox-sweeper: hands over again every accepted event whose hand-over was never confirmed.

The validator writes each record with a "not yet routed" mark (``pending_due``, due a little after the
hand-over should have happened) and the message itself; the router removes both once the message is in
its queue. A validator that died between its record and its hand-over (out of memory, a crash, a
recycled sandbox: nothing it could catch) leaves the mark behind. Every minute this function finds the
marks past due through a sparse index (only pending records are in it, so no scan) and invokes the
router with the stored message. A hand-over that was only slow (queued behind a busy router) is not
sent twice: the router sends an event once, however often it is handed over.

Each record it hands over gets a later due time first (a conditional update: two sweepers never hand
over the same record twice in one round, and a record whose router holds the routing lease is left to
it), so a router that keeps failing is retried with a growing pause; from the fifth try the record is
reported as ``stuck`` (an alarm) and retried hourly. One run hands over at most ``MAX_HANDOVERS``: a
backlog after an outage drains over a few minutes instead of flooding the router at once.
"""

import os
import time

from botocore.exceptions import BotoCoreError, ClientError

from handlers import records, runtime

FUNCTION = "outbox-sweeper"
TABLE_ENV = "DYNAMODB_TABLE"
ROUTER_ENV = "ROUTER_LAMBDA_NAME"
ENVIRONMENT = (TABLE_ENV, ROUTER_ENV)
MAX_HANDOVERS = 200  # per run (every minute); what is left is due in the next run
BATCH = MAX_HANDOVERS // len(records.PENDING_SHARDS)  # records read per shard and run
STUCK_AFTER = 5  # hand-overs before a record is reported as stuck


def backoff(attempts):
    """Seconds until a record handed over ``attempts`` times is due again: 1, 2, 4, 8 minutes, then hourly."""
    return 3600 if attempts >= STUCK_AFTER - 1 else 60 * 2 ** attempts


def sweep(*, table, router, now, dynamodb, lambda_client):
    """Hand over every record past due, up to ``MAX_HANDOVERS``; return the counts."""
    store = records.Records(table, dynamodb)
    found = handed = failed = stuck = 0
    for shard in records.PENDING_SHARDS:
        for due in store.due(shard, now=now, limit=BATCH):
            found += 1
            attempts = due.attempts
            if not store.postpone(due, now=now, next_due=now + backoff(attempts)):
                continue  # another sweeper has it, a router holds its lease, or it has just been routed
            if attempts + 1 >= STUCK_AFTER:
                stuck += 1
            try:
                runtime.hand_over(lambda_client, router, due.message_body)
                handed += 1
                outcome = "stuck" if attempts + 1 >= STUCK_AFTER else "handed_over"
                error = None
            except (ClientError, BotoCoreError, RuntimeError) as problem:
                failed += 1
                outcome, error = "handover_failed", f"{type(problem).__name__}: {problem}"
            runtime.log_invocation(function=FUNCTION, request=None, event_id=due.event_id, outcome=outcome,
                                   status=200 if error is None else 503, started=time.perf_counter(), error=error,
                                   attempts=attempts + 1)
    return {"found": found, "handed_over": handed, "failed": failed, "stuck": stuck}


def lambda_handler(event, context):
    started = time.perf_counter()
    log = {"function": runtime.function_name(context, FUNCTION), "request": runtime.request_id(context),
           "event_id": None, "started": started}
    try:
        counts = sweep(table=os.environ[TABLE_ENV], router=os.environ[ROUTER_ENV], now=time.time(),
                       dynamodb=runtime.client("dynamodb"), lambda_client=runtime.client("lambda"))
    except Exception as error:  # the run failed (an alarm on the function's errors); the next run tries again
        runtime.log_invocation(**log, outcome="sweep_failed", status=500, error=f"{type(error).__name__}: {error}")
        raise
    runtime.log_invocation(**log, outcome="swept", status=200, **counts)
    return counts
