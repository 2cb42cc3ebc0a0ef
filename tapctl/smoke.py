"""Checks a deployed pipeline end to end through its public endpoint, against any target's outputs.

For each transaction type: a valid event, signed with the environment's secret, is accepted (200, exact
body), is routed to its own queue, and a second delivery is a duplicate (409). A body missing a field
gets a 400 that names the field. Where signatures are required: an unsigned event, a stale signature and
a tampered body each get a 401, and none is recorded (so none can be queued).

A live queue is never received from: a receive counts toward maxReceiveCount, so a smoke test of an
environment with a backlog would push the backlog into its DLQs. That an event was routed, and to which
queue, is read as ``tapctl trace`` reads it: from the router's log line naming the queue and the SQS
message id. The smoke events stay in their queues for the consumers, who recognise them by
``"smoke_test": true`` and an event_id starting ``tapctl-smoke-``.
"""

import json
import time
import urllib.error
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from tapctl import providers, signing
from tapctl.config import FUNCTIONS, QUEUE_OUTPUTS

# The answers of the contract, spelled again so that the CLI never imports the handlers (and boto3);
# tests/unit/test_config.py checks they agree with handlers/validator.py.
ACCEPTED_MESSAGE = "Event validated and queued for processing"
DUPLICATE_ERROR = "Duplicate event"
TRANSACTION_TYPES = tuple(QUEUE_OUTPUTS)


@dataclass
class Check:
    name: str
    passed: bool
    latency_ms: float
    detail: str = ""

    def line(self):
        mark = "PASS" if self.passed else "FAIL"
        text = f"{mark}  {self.name:<28} {self.latency_ms:8.1f} ms"
        return f"{text}  {self.detail}" if self.detail else text

    def as_dict(self):
        return asdict(self)


def smoke_event(transaction_type):
    return {
        "event_id": f"tapctl-smoke-{transaction_type}-{uuid.uuid4().hex}",
        "transaction_type": transaction_type,
        "amount": 0.01,
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "smoke_test": True,
    }


def post_json(url, body, timeout=15.0, secret=None, headers=None):
    """POST ``body`` as JSON, signed with ``secret`` (one or several) unless it is None; return (status,
    parsed body or raw text, latency in ms)."""
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    all_headers = {"Content-Type": "application/json"}
    if secret:
        all_headers.update(signing.headers(secret, data))
    all_headers.update(headers or {})
    status, text, latency = providers.post(url, all_headers, data, timeout=timeout)
    try:
        return status, json.loads(text), latency
    except ValueError:
        return status, text, latency


def router_log(logs_client, log_group, since_ms):
    """Where the router says it sent an event: ``event_id -> (queue name, message id)`` or None, read from
    its log lines (CloudWatch Logs) since ``since_ms``."""
    from tapctl import logs

    def routed(event_id):
        lines = logs.read(logs_client, {"router": log_group}, since_ms=since_ms, event_id=event_id, outcome="routed")
        return (lines[-1].record.get("queue"), lines[-1].record.get("message_id")) if lines else None

    return routed


class SmokeTest:
    """The checks against one endpoint and (optionally) where its router sends events, given as outputs of a
    deployment."""

    def __init__(self, endpoint, queue_urls=None, *, routed=None, wait_seconds=20.0, progress=None, secret=None,
                 signatures_required=False, records=None):
        self.endpoint = endpoint
        self.queue_urls = queue_urls or {}  # transaction type -> its queue's URL: the routing checks run
        self.routed = routed  # event_id -> (queue name, message id) | None, as the router logged it
        self.wait_seconds = wait_seconds
        self.progress = progress or (lambda check: None)
        self.secret = secret  # signs every event the checks expect to be accepted
        self.signatures_required = signatures_required  # then the three 401 checks run
        self.records = records  # (DynamoDB client, table): proves a refused event left no record
        self.checks = []

    @classmethod
    def from_outputs(cls, outputs, *, logs_client, **kwargs):
        queue_urls = {kind: outputs[name] for kind, name in QUEUE_OUTPUTS.items()}
        since_ms = int(time.time() * 1000) - 60_000  # clocks differ a little
        routed = router_log(logs_client, outputs[FUNCTIONS["router"].log_group_output], since_ms)
        return cls(outputs["api_endpoint"], queue_urls, routed=routed, **kwargs)

    @classmethod
    def of_environment(cls, target, outputs, env, *, wait_seconds):
        """The smoke test of a deployed environment: its queues, its current secret, its table."""
        from tapctl.signing_secret import SigningSecret

        mode = outputs.get("signature_mode", "off")
        secret = SigningSecret.of(target, outputs, env).current() if mode != "off" else None
        return cls.from_outputs(
            outputs, logs_client=target.client("logs"), wait_seconds=wait_seconds, secret=secret,
            signatures_required=mode == "required", records=(target.client("dynamodb"), outputs["dynamodb_table_name"]),
        )

    def _record(self, name, passed, latency, detail=""):
        check = Check(name, passed, round(latency, 1), detail)
        self.checks.append(check)
        self.progress(check)
        return check

    def _post(self, name, body, secret=None, headers=None):
        try:
            return post_json(self.endpoint, body, secret=secret, headers=headers)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            self._record(name, False, 0.0, f"endpoint unreachable: {reason}")
            return None

    def run(self):
        sent = {}
        for transaction_type in TRANSACTION_TYPES:
            event = smoke_event(transaction_type)
            name = f"accept {transaction_type}"
            answer = self._post(name, event, secret=self.secret)
            if answer is None:
                continue
            status, body, latency = answer
            expected = {"message": ACCEPTED_MESSAGE, "event_id": event["event_id"]}
            if status == 200 and body == expected:
                self._record(name, True, latency)
                sent[transaction_type] = event
            else:
                hint = ": the environment requires signed webhooks, give --secret" if status == 401 and not self.secret else ""
                self._record(name, False, latency,
                             f"expected 200 {json.dumps(expected)}, got {status} {_short(body)}{hint}")

        if self.queue_urls and self.routed:
            for transaction_type, event in sent.items():
                self._check_routed(transaction_type, event)

        for transaction_type, event in sent.items():
            name = f"duplicate {transaction_type}"
            answer = self._post(name, event, secret=self.secret)
            if answer is not None:
                status, body, latency = answer
                ok = status == 409 and body == {"error": DUPLICATE_ERROR}
                self._record(name, ok, latency, "" if ok else f"expected 409 Duplicate event, got {status} {_short(body)}")

        self._check_missing_field()
        if self.signatures_required and self.secret:
            self._check_unauthenticated()
        return self.checks

    def _check_unauthenticated(self):
        """Three forgeries, each refused with a 401 and without a record of its event_id."""
        cases = (
            ("refuse unsigned event", "Missing signature headers", lambda data: (data, {})),
            ("refuse stale signature", "Signature timestamp is too old",
             lambda data: (data, signing.headers(self.secret, data, now=time.time() - 3600))),
            ("refuse tampered body", "No matching signature",
             lambda data: (data.replace(b'"amount": 0.01', b'"amount": 1000000'), signing.headers(self.secret, data))),
        )
        for name, error, forge in cases:
            event = smoke_event("payment")
            data, headers = forge(json.dumps(event).encode())
            answer = self._post(name, data, headers=headers)
            if answer is None:
                continue
            status, body, latency = answer
            problem = None
            if status != 401 or not (isinstance(body, dict) and str(body.get("error", "")).startswith(error)):
                problem = f"expected 401 {error}, got {status} {_short(body)}"
            elif self._recorded(event["event_id"]):
                problem = "answered 401, but the event was recorded"
            self._record(name, problem is None, latency, problem or "")

    def _recorded(self, event_id):
        if not self.records:
            return False
        client, table = self.records
        return "Item" in client.get_item(TableName=table, Key={"event_id": {"S": event_id}}, ConsistentRead=True)

    def _check_missing_field(self):
        event = smoke_event("payment")
        del event["amount"]
        name = "reject missing amount"
        answer = self._post(name, event, secret=self.secret)
        if answer is None:
            return
        status, body, latency = answer
        error = body.get("error") if isinstance(body, dict) else None
        # The gateway's model validation answers first on AWS; the validator's own message is
        # "Missing required field: amount". Either must name the field.
        ok = status == 400 and isinstance(error, str) and "amount" in error
        self._record(name, ok, latency, "" if ok else f"expected 400 naming amount, got {status} {_short(body)}")

    def _check_routed(self, transaction_type, event):
        name = f"route {transaction_type}"
        queues = {url.rsplit("/", 1)[-1]: kind for kind, url in self.queue_urls.items()}
        started = time.perf_counter()
        deadline = time.monotonic() + self.wait_seconds
        while True:
            found = self.routed(event["event_id"])
            if found is not None or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        latency = (time.perf_counter() - started) * 1000
        if found is None:
            self._record(name, False, latency, f"not routed within {self.wait_seconds:g} s (no router log line)")
            return
        queue, message_id = found
        if queues.get(queue) == transaction_type:
            self._record(name, True, latency, f"message {message_id}")
        elif queue in queues:
            self._record(name, False, latency, f"routed to the {queues[queue]} queue instead")
        else:
            self._record(name, False, latency, f"routed to {queue}, not one of this environment's queues")


def _short(body, limit=160):
    text = json.dumps(body) if not isinstance(body, str) else body
    return text if len(text) <= limit else text[: limit - 3] + "..."
