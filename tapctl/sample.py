"""Sample traffic for a local environment: send signed sample events of each type (``tapctl local send``)
and look at what waits in its queues (``tapctl local queues``).

A look is not a take: a looked-at message becomes visible again at once. It still counts as one receive
toward a queue's maxReceiveCount, which is why only the local target offers it.
"""

from tapctl.signing_secret import SigningSecret
from tapctl.smoke import TRANSACTION_TYPES, post_json, smoke_event


def send(target, outputs, env, count):
    """Post ``count`` sample events of each transaction type, signed with the current secret; returns
    one {event_id, status, answer, latency_ms} per event."""
    url = outputs["api_endpoint"]
    secret = SigningSecret.of(target, outputs, env).current()
    sent = []
    for transaction_type in TRANSACTION_TYPES:
        for number in range(count):
            event = {**smoke_event(transaction_type), "amount": round(10.5 * (number + 1), 2)}
            event["event_id"] = event["event_id"].replace("tapctl-smoke-", "sample-")
            del event["smoke_test"]
            status, body, latency = post_json(url, event, secret=secret)
            sent.append({"event_id": event["event_id"], "status": status, "answer": body, "latency_ms": round(latency, 1)})
    return sent


def queues(target, outputs, show):
    """{queue output: {messages, sample}} for every queue and DLQ, with up to ``show`` message bodies each."""
    sqs = target.client("sqs")
    report = {}
    for name in sorted(key for key in outputs if key.endswith(("_queue_url", "_dlq_url"))):
        url = outputs[name]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        count = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        bodies = []
        if show and count:
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=show, VisibilityTimeout=0)
            bodies = [message["Body"] for message in answer.get("Messages", [])]
        report[name] = {"messages": count, "sample": bodies}
    return report
