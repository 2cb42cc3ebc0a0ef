"""Putting failed events back: a DLQ's messages to their queue (redrive), the router-failures records to
the router (replay). Each message leaves its source only after it reached its destination: a crash in
between can deliver it twice, never lose it (consumers de-duplicate on event_id).

Redrive uses SQS's own message move task (StartMessageMoveTask) and waits for it, showing its progress;
the local emulator runs the same task itself. ``--max`` moves at most N messages one by one instead (a
move task moves them all).
"""

import json
import time

from tapctl.config import FUNCTIONS, QUEUES
from tapctl.errors import TapctlError
from tapctl.moves import move_messages
from tapctl.trace import failure_event_id


def _arn(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _count(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def redrive(target, outputs, queue, *, max_messages=None, dry_run=False, progress=None, poll=1.0):
    """Move the dead-letter queue of ``queue`` (payments, refunds, disputes) back to it."""
    sqs = target.client("sqs")
    dlq_url, queue_url = outputs[QUEUES[f"{queue}_dlq"]], outputs[QUEUES[queue]]
    progress = progress or (lambda moved, total: None)
    waiting = _count(sqs, dlq_url)
    result = {"source": dlq_url.rsplit("/", 1)[-1], "destination": queue_url.rsplit("/", 1)[-1], "waiting": waiting}
    if dry_run:
        return {**result, "moved": 0, "would_move": waiting if max_messages is None else min(waiting, max_messages)}
    if not waiting:
        return {**result, "moved": 0, "method": "nothing to move"}
    if max_messages is not None:
        return {**result, "moved": move_messages(sqs, dlq_url, queue_url, max_messages, progress),
                "method": "one by one"}
    source, destination = _arn(sqs, dlq_url), _arn(sqs, queue_url)
    handle = sqs.start_message_move_task(SourceArn=source, DestinationArn=destination)["TaskHandle"]
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source, MaxResults=10)["Results"]
        task = next((task for task in tasks if task.get("TaskHandle") == handle), tasks[0] if tasks else {})
        progress(task.get("ApproximateNumberOfMessagesMoved", 0), task.get("ApproximateNumberOfMessagesToMove", waiting))
        if task.get("Status") in ("COMPLETED", "CANCELLED", "FAILED"):
            break
        time.sleep(poll)
    if task["Status"] == "FAILED":
        raise TapctlError(f"the move task failed after {task.get('ApproximateNumberOfMessagesMoved', 0)} messages: "
                          f"{task.get('FailureReason', 'no reason given')}")
    return {**result, "moved": task.get("ApproximateNumberOfMessagesMoved", 0), "method": "message move task",
            "status": task["Status"]}


def replay_failures(target, outputs, *, max_messages=None, dry_run=False, progress=None):
    """Re-deliver each router-failures record's request payload to the router, synchronously; delete the
    record only once the router succeeded. Records it still cannot route stay, and are reported."""
    sqs, lambda_client = target.client("sqs"), target.client("lambda")
    failures_url, router = outputs[QUEUES["router_failures"]], outputs[FUNCTIONS["router"].name_output]
    progress = progress or (lambda done, total: None)
    waiting = _count(sqs, failures_url)
    limit = waiting if max_messages is None else min(waiting, max_messages)
    replayed, failed, handled = [], [], set()
    while len(replayed) + len(failed) < limit:
        batch = sqs.receive_message(QueueUrl=failures_url, MaxNumberOfMessages=min(10, limit - len(replayed) - len(failed)),
                                    VisibilityTimeout=120).get("Messages", [])
        batch = [message for message in batch if message["MessageId"] not in handled]
        if not batch:
            break
        for message in batch:
            handled.add(message["MessageId"])
            event_id = failure_event_id(message)
            if dry_run:
                replayed.append(event_id)
                continue
            problem = _replay(lambda_client, router, message)
            if problem:
                failed.append({"event_id": event_id, "error": problem})
            else:
                sqs.delete_message(QueueUrl=failures_url, ReceiptHandle=message["ReceiptHandle"])
                replayed.append(event_id)
            progress(len(replayed) + len(failed), limit)
        if dry_run:
            for message in batch:
                sqs.change_message_visibility(QueueUrl=failures_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
    return {"waiting": waiting, "replayed": replayed, "failed": failed, "dry_run": dry_run}


def _replay(lambda_client, router, message):
    try:
        payload = json.loads(message["Body"])["requestPayload"]
    except (ValueError, KeyError, TypeError):
        return "not a Lambda on-failure record"
    answer = lambda_client.invoke(FunctionName=router, InvocationType="RequestResponse",
                                  Payload=json.dumps(payload).encode())
    if answer.get("FunctionError"):
        body = answer["Payload"].read()
        try:
            return json.loads(body).get("errorMessage", "the router failed")
        except ValueError:
            return "the router failed"
    return None
