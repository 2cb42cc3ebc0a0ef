"""SQS as AWS answers it, in front of moto's: the one place for moto's SQS differences.

Where moto's answers differ in ways the terraform provider notices:
- RedriveAllowPolicy: moto drops it on SetQueueAttributes and rejects it as an unknown attribute
  name on GetQueueAttributes. The provider sets it, then reads it back until it matches, so
  ``aws_sqs_queue_redrive_allow_policy`` fails. Kept here per queue and answered from here.
- RedrivePolicy: moto answers ``{"deadLetterTargetArn": "...", "maxReceiveCount": 3}`` with spaces;
  AWS answers compact JSON. The provider compares the text, so every plan showed a change.

What moto lacks:
- StartMessageMoveTask / ListMessageMoveTasks / CancelMessageMoveTask (a DLQ redrive): a task moves
  the messages here, in a background thread, through moto's own API (receive, send with the same body
  and attributes, delete), and reports its progress as SQS does.

``Sqs.request`` and ``Sqs.response`` are pure adjustments of the JSON protocol's documents (tested
without a server); ``Sqs.wsgi`` applies them around moto.
"""

import io
import json
import threading
import time
import uuid

from tapctl.local.shared import background

MOVE_TASKS = ("StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask")


class Sqs:
    def __init__(self, *, client=None):
        self.client = client  # () -> the emulator's own SQS client (for message move tasks)
        self.redrive_allow = {}
        self.tasks = {}  # task handle -> MoveTask
        self.lock = threading.Lock()

    # -- moto's differences, as pure functions of the protocol's documents ----------------------------

    def request(self, target, document):
        """Adjust a request before moto sees it; return (document to forward or None, answer or None)."""
        if target == "CreateQueue" and "RedriveAllowPolicy" in document.get("Attributes", {}):
            attributes = dict(document["Attributes"])
            attributes.pop("RedriveAllowPolicy")
            return {**document, "Attributes": attributes}, None
        if target == "SetQueueAttributes":
            attributes = dict(document.get("Attributes", {}))
            allow = attributes.pop("RedriveAllowPolicy", None)
            if allow is not None:
                with self.lock:
                    if allow in ("", "{}"):  # how the provider removes it
                        self.redrive_allow.pop(document["QueueUrl"], None)
                    else:
                        self.redrive_allow[document["QueueUrl"]] = allow
                if not attributes:
                    return None, {}
                return {**document, "Attributes": attributes}, None
        if target == "GetQueueAttributes":
            names = document.get("AttributeNames", [])
            if "RedriveAllowPolicy" in names:
                rest = [name for name in names if name != "RedriveAllowPolicy"]
                if not rest:
                    return None, self.response(target, document, {})
                return {**document, "AttributeNames": rest}, None
        if target == "DeleteQueue":
            with self.lock:
                self.redrive_allow.pop(document.get("QueueUrl"), None)
        return document, None

    def response(self, target, document, answer):
        if target == "CreateQueue" and isinstance(answer, dict) and "QueueUrl" in answer:
            allow = document.get("Attributes", {}).get("RedriveAllowPolicy")
            if allow not in (None, "", "{}"):
                with self.lock:
                    self.redrive_allow[answer["QueueUrl"]] = allow
            return answer
        if target != "GetQueueAttributes" or not isinstance(answer, dict):
            return answer
        attributes = answer.setdefault("Attributes", {})
        if "RedrivePolicy" in attributes:
            attributes["RedrivePolicy"] = json.dumps(json.loads(attributes["RedrivePolicy"]), separators=(",", ":"))
        names = document.get("AttributeNames", [])
        with self.lock:
            allow = self.redrive_allow.get(document.get("QueueUrl"))
        if allow is not None and ("All" in names or "RedriveAllowPolicy" in names):
            attributes["RedriveAllowPolicy"] = allow
        if not attributes:
            answer.pop("Attributes")
        return answer

    # -- message move tasks ---------------------------------------------------------------------------

    def move_tasks(self, target, document):
        """(status, answer) of StartMessageMoveTask, ListMessageMoveTasks or CancelMessageMoveTask."""
        if target == "StartMessageMoveTask":
            source, destination = document.get("SourceArn"), document.get("DestinationArn")
            if not source or not destination:
                # AWS may infer the destination from the DLQ's source queues; tapctl always names it.
                return 400, _error("InvalidParameterValue", "SourceArn and DestinationArn are required here")
            with self.lock:
                if any(task.source == source and task.status == "RUNNING" for task in self.tasks.values()):
                    return 400, _error("InvalidParameterValue", "there is already a running task for this source")
                task = MoveTask(self.client(), source, destination, document.get("MaxNumberOfMessagesPerSecond"))
                self.tasks[task.handle] = task
            task.start()
            return 200, {"TaskHandle": task.handle}
        if target == "ListMessageMoveTasks":
            source = document.get("SourceArn")
            with self.lock:
                found = [task.describe() for task in self.tasks.values() if task.source == source]
            found.sort(key=lambda task: task["StartedTimestamp"], reverse=True)
            return 200, {"Results": found[: int(document.get("MaxResults", 1))]}
        with self.lock:
            task = self.tasks.get(document.get("TaskHandle"))
        if task is None or task.status != "RUNNING":
            return 400, _error("ResourceNotFoundException", "no running task with this handle")
        task.cancel()
        return 200, {"ApproximateNumberOfMessagesMoved": task.moved}

    # -- WSGI ----------------------------------------------------------------------------------------

    def wsgi(self, environ, start_response, target, moto, answer):
        """Serve one SQS JSON request: a move task here, anything else through moto, adjusted."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            document = json.loads(raw or b"{}")
        except ValueError:
            document = None
        if document is not None and target in MOVE_TASKS:
            status, body = self.move_tasks(target, document)
            return answer(start_response, status, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body))
        forward, early = self.request(target, document) if document is not None else (None, None)
        if early is not None:
            return answer(start_response, 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(early))
        data = json.dumps(forward).encode() if forward is not None else raw
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        chunks = b"".join(moto(environ, capture))
        if target in ("GetQueueAttributes", "CreateQueue") and captured["status"].startswith("200") and document is not None:
            chunks = json.dumps(self.response(target, document, json.loads(chunks))).encode()
        headers = [(key, value) for key, value in captured["headers"] if key.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(chunks)))])
        return [chunks]

    def close(self):
        with self.lock:
            for task in self.tasks.values():
                task.cancel()


def _error(code, message):
    return {"__type": f"com.amazonaws.sqs#{code}", "message": message}


class MoveTask:
    """One DLQ redrive: every message now in the source is sent to the destination (same body and
    message attributes) and only then deleted from the source, as SQS's own move does (at least once)."""

    def __init__(self, sqs, source, destination, rate=None):
        self.sqs = sqs
        self.source, self.destination = source, destination
        self.rate = rate
        self.handle = uuid.uuid4().hex
        self.status = "RUNNING"
        self.moved = 0
        self.to_move = 0
        self.failure = None
        self.started = int(time.time() * 1000)
        self._cancel = threading.Event()

    def start(self):
        background(self._run, f"move-{self.handle[:8]}")

    def cancel(self):
        self._cancel.set()

    def _url(self, arn):
        account, name = arn.split(":")[4], arn.split(":")[5]
        return self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]

    def _moved(self, moved, _total):
        self.moved = moved
        if self.rate:
            time.sleep(1 / float(self.rate))

    def _run(self):
        from tapctl.moves import move_messages

        try:
            source, destination = self._url(self.source), self._url(self.destination)
            attributes = self.sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["ApproximateNumberOfMessages"])
            self.to_move = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
            move_messages(self.sqs, source, destination, self.to_move, self._moved, self._cancel.is_set)
            self.status = "CANCELLED" if self._cancel.is_set() else "COMPLETED"
        except Exception as error:  # reported through ListMessageMoveTasks, as SQS does
            self.failure = f"{type(error).__name__}: {error}"
            self.status = "FAILED"

    def describe(self):
        described = {
            "TaskHandle": self.handle, "Status": self.status, "SourceArn": self.source,
            "DestinationArn": self.destination, "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move, "StartedTimestamp": self.started,
        }
        if self.rate:
            described["MaxNumberOfMessagesPerSecond"] = int(self.rate)
        if self.failure:
            described["FailureReason"] = self.failure
        return described
