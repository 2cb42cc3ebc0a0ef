"""outbox-sweeper: hands over again every accepted event whose hand-over was never confirmed.

The validator writes each record with a "not yet routed" mark (``pending_due``, due a little after the
hand-over should have happened) and the message itself; the router removes both once the message is in
its queue. A validator that died between its record and its hand-over (out of memory, a crash, a
recycled sandbox: nothing it could catch) leaves the mark behind. Every minute this function finds the
marks past due through a sparse index (only pending records are in it, so no scan) and invokes the
router with the stored message. Delivery is at least once: a hand-over that was only slow can be
delivered twice, and consumers de-duplicate on event_id.

Each record it hands over gets a later due time first (a conditional update: two sweepers never hand
over the same record twice in one round), so a router that keeps failing is retried with a growing
pause; from the fifth try the record is reported as ``stuck`` (an alarm) and retried hourly.
"""

import json
import os
import time

from botocore.exceptions import BotoCoreError, ClientError

from handlers import records, runtime

FUNCTION = "outbox-sweeper"
TABLE_ENV = "DYNAMODB_TABLE"
ROUTER_ENV = "ROUTER_LAMBDA_NAME"
ENVIRONMENT = (TABLE_ENV, ROUTER_ENV)
BATCH = 100  # records per shard and run; a backlog larger than that takes more than one run
STUCK_AFTER = 5  # hand-overs before a record is reported as stuck


def backoff(attempts):
    """Seconds until a record handed over ``attempts`` times is due again: 1, 2, 4, 8 minutes, then hourly."""
    return 3600 if attempts >= STUCK_AFTER - 1 else 60 * 2 ** attempts


def sweep(*, table, router, now, dynamodb, lambda_client):
    """Hand over every record past due; return the counts."""
    found = handed = failed = stuck = 0
    for shard in records.PENDING_SHARDS:
        answer = dynamodb.query(
            TableName=table,
            IndexName=records.PENDING_INDEX,
            KeyConditionExpression="pending_shard = :shard AND pending_due < :now",
            ExpressionAttributeValues={":shard": {"S": shard}, ":now": {"N": str(int(now))}},
            Limit=BATCH,
        )
        for item in answer.get("Items", []):
            found += 1
            attempts = int(item.get("pending_attempts", {}).get("N", "0"))
            if not _claim(dynamodb, table, item, attempts, now):
                continue  # another sweeper has it, or the router has just cleared it
            if attempts + 1 >= STUCK_AFTER:
                stuck += 1
            try:
                _hand_over(lambda_client, router, item["message_body"]["S"])
                handed += 1
                outcome = "stuck" if attempts + 1 >= STUCK_AFTER else "handed_over"
                error = None
            except (ClientError, BotoCoreError, RuntimeError) as problem:
                failed += 1
                outcome, error = "handover_failed", f"{type(problem).__name__}: {problem}"
            runtime.log_invocation(function=FUNCTION, request=None, event_id=item["event_id"]["S"], outcome=outcome,
                                   status=200 if error is None else 503, started=time.perf_counter(), error=error,
                                   attempts=attempts + 1)
    return {"found": found, "handed_over": handed, "failed": failed, "stuck": stuck}


def _claim(dynamodb, table, item, attempts, now):
    """Move the record's due time on, only if it is still the one this run read."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"event_id": item["event_id"]},
            UpdateExpression="SET pending_due = :next, pending_attempts = :attempts",
            ConditionExpression="pending_due = :due",
            ExpressionAttributeValues={":next": {"N": str(int(now) + backoff(attempts))},
                                       ":attempts": {"N": str(attempts + 1)}, ":due": item["pending_due"]},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _hand_over(lambda_client, router, message_body):
    answer = lambda_client.invoke(FunctionName=router, InvocationType="Event",
                                  Payload=json.dumps({"message_body": message_body}, ensure_ascii=False).encode("utf-8"))
    if answer.get("StatusCode") != 202:
        raise RuntimeError(f"router invoke answered {answer.get('StatusCode')}")


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
