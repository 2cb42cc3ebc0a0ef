"""Moving SQS messages from one queue to another, one by one, each sent before it is deleted: what
``tapctl redrive --max`` (tapctl.recovery) and the local target's message move task (tapctl.local.sqs)
share. It takes a boto3 SQS client and imports nothing, so the emulator's process can use it.
"""


def move_messages(sqs, source, destination, limit, progress=None, stopped=None):
    """Move at most ``limit`` messages from the queue at URL ``source`` to ``destination``, each sent (same
    body and message attributes) before it is deleted; ``progress(moved, limit)`` after each one; stops
    early when ``stopped()`` says so. Returns how many moved. The local target's message move task runs
    this too."""
    progress = progress or (lambda moved, total: None)
    moved = 0
    while moved < limit and not (stopped and stopped()):
        batch = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=min(10, limit - moved), VisibilityTimeout=60,
                                    MessageAttributeNames=["All"]).get("Messages", [])
        if not batch:
            break
        for message in batch:
            sent = {"QueueUrl": destination, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                sent["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**sent)
            sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
            progress(moved, limit)
    return moved
