"""Checks a deployed pipeline end to end through its public endpoint, against any target's outputs.

For each transaction type: a valid event, signed with the environment's secret, is accepted (200, exact
body), is routed to its own queue as exactly the message it should be, and a second delivery is a
duplicate (409). A body missing a field gets a 400 that names the field. Where signatures are required:
an unsigned event, a stale signature and a tampered body each get a 401, and none is recorded (so none
can be queued).

Then each enabled payment-provider source (POST /webhook/<source>), as its provider sends: one event per
transaction type, signed with the source's current secret, in USD, JPY and KWD (two, zero and three
decimals) is acknowledged with the provider's success answer and routed to its queue with the exact
amount; the provider's retry is acknowledged again and logged a duplicate; a request signed with another
key gets a 401 and leaves no record.

A live queue is never received from: a receive counts toward maxReceiveCount, so a smoke test of an
environment with a backlog would push the backlog into its DLQs. That an event was routed, and to which
queue, is read as ``tapctl trace`` reads it: from the router's log line naming the queue and the SQS
message id. That the queued message is exactly the event (its amount included) is read from the same
line: the MD5 SQS computed of the body it stored, and the ``received_at`` in that body, against the body
this release's handlers make of the request (handlers/event.py, handlers/sources/; pure stdlib). The
smoke events stay in their queues for the consumers, who recognise them by ``"smoke_test": true`` and an
event_id starting ``tapctl-smoke-``, or, from a source, a ``source_event_id`` containing
``tapctl-smoke-``.
"""

import hashlib
import json
import time
import urllib.error
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from tapctl import providers, signing
from tapctl.config import FUNCTIONS, QUEUE_OUTPUTS, SOURCES

# The answers of the contract, spelled again so that the CLI never imports the handlers (and boto3);
# tests/unit/test_config.py checks they agree with handlers/validator.py.
ACCEPTED_MESSAGE = "Event validated and queued for processing"
DUPLICATE_ERROR = "Duplicate event"
TRANSACTION_TYPES = tuple(QUEUE_OUTPUTS)
MARKER = "tapctl-smoke-"

# Each source's events: (transaction type, minor units, currency, the exact amount in major units). The
# three currencies have the same exponent at every provider (ISO 4217's), so the amounts are known here,
# not taken from the handlers' tables.
SOURCE_CASES = (("payment", 1050, "USD", "10.50"), ("refund", 1050, "JPY", "1050"), ("dispute", 10500, "KWD", "10.500"))


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


@dataclass
class SourceRoute:
    """One enabled source as the smoke test posts to it: its URL, the URL its provider signs (Square's
    notification URL), the environment's settings of it, and its current secret (or why there is none)."""

    name: str
    url: str
    signed_url: str
    settings: dict = field(default_factory=dict)
    secret: str | None = None
    problem: str = ""


def smoke_event(transaction_type):
    return {
        "event_id": f"{MARKER}{transaction_type}-{uuid.uuid4().hex}",
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


def function_log(logs_client, outputs, since_ms):
    """The functions' log lines (CloudWatch Logs) since ``since_ms``: ``(function, event_id, outcome) ->``
    the last such line's record, or None; ``function`` is tapctl's name (validator, router)."""
    from tapctl import logs

    def logged(function, event_id, outcome):
        lines = logs.read(logs_client, logs.groups(outputs, function), since_ms=since_ms, event_id=event_id,
                          outcome=outcome)
        return lines[-1].record if lines else None

    return logged


def source_routes(target, outputs, env):
    """The environment's enabled sources, in tapctl's order, each with its current secret."""
    from tapctl.errors import TapctlError
    from tapctl.signing_secret import SigningSecret

    enabled = outputs.get("webhook_sources") or {}
    routes = []
    for name in (name for name in SOURCES if name in enabled):
        route = enabled[name]
        settings = {"types": route.get("types") or {}}
        if route.get("notification_url"):
            settings["notification_url"] = route["notification_url"]
        try:
            secret, problem = SigningSecret.of_source(target, outputs, env, name).current(), ""
        except TapctlError as error:
            secret, problem = None, str(error)
        routes.append(SourceRoute(name, route["url"], route.get("notification_url") or route["url"], settings,
                                  secret, problem))
    return routes


class SmokeTest:
    """The checks against one endpoint and (optionally) where its router sends events, given as outputs of a
    deployment."""

    def __init__(self, endpoint, queue_urls=None, *, logged=None, wait_seconds=20.0, progress=None, secret=None,
                 signatures_required=False, records=None, sources=(), project_dir=None):
        self.endpoint = endpoint
        self.queue_urls = queue_urls or {}  # transaction type -> its queue's URL: the routing checks run
        self.logged = logged  # (function, event_id, outcome) -> that function's log line | None
        self.wait_seconds = wait_seconds
        self.progress = progress or (lambda check: None)
        self.secret = secret  # signs every event the checks expect to be accepted
        self.signatures_required = signatures_required  # then the three 401 checks run
        self.records = records  # (DynamoDB client, table): proves a refused event left no record
        self.sources = list(sources)  # SourceRoute per enabled source
        self.project_dir = project_dir  # whose handlers make the expected messages (None: the importable ones)
        self.checks = []

    @classmethod
    def from_outputs(cls, outputs, *, logs_client, **kwargs):
        queue_urls = {kind: outputs[name] for kind, name in QUEUE_OUTPUTS.items()}
        since_ms = int(time.time() * 1000) - 60_000  # clocks differ a little
        return cls(outputs["api_endpoint"], queue_urls, logged=function_log(logs_client, outputs, since_ms), **kwargs)

    @classmethod
    def of_environment(cls, target, outputs, env, *, wait_seconds, project_dir=None):
        """The smoke test of a deployed environment: its queues, its current secrets, its table, its sources."""
        from tapctl.signing_secret import SigningSecret

        mode = outputs.get("signature_mode", "off")
        secret = SigningSecret.of(target, outputs, env).current() if mode != "off" else None
        return cls.from_outputs(
            outputs, logs_client=target.client("logs"), wait_seconds=wait_seconds, secret=secret,
            signatures_required=mode == "required", records=(target.client("dynamodb"), outputs["dynamodb_table_name"]),
            sources=source_routes(target, outputs, env), project_dir=project_dir,
        )

    def _record(self, name, passed, latency, detail=""):
        check = Check(name, passed, round(latency, 1), detail)
        self.checks.append(check)
        self.progress(check)
        return check

    def _reach(self, name, call):
        try:
            return call()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            self._record(name, False, 0.0, f"endpoint unreachable: {reason}")
            return None

    def _post(self, name, body, secret=None, headers=None):
        return self._reach(name, lambda: post_json(self.endpoint, body, secret=secret, headers=headers))

    def _handlers(self, name):
        return providers.project_module(self.project_dir, name)

    def run(self):
        sent = {}
        for transaction_type in TRANSACTION_TYPES:
            event = smoke_event(transaction_type)
            data = json.dumps(event).encode()
            name = f"accept {transaction_type}"
            answer = self._post(name, data, secret=self.secret)
            if answer is None:
                continue
            status, body, latency = answer
            expected = {"message": ACCEPTED_MESSAGE, "event_id": event["event_id"]}
            if status == 200 and body == expected:
                self._record(name, True, latency)
                sent[transaction_type] = (event, data)
            else:
                hint = ": the environment requires signed webhooks, give --secret" if status == 401 and not self.secret else ""
                self._record(name, False, latency,
                             f"expected 200 {json.dumps(expected)}, got {status} {_short(body)}{hint}")

        if self.queue_urls and self.logged:
            handlers_event = self._handlers("handlers.event")
            for transaction_type, (event, data) in sent.items():
                parsed = handlers_event.parse_body(data.decode())
                self._check_routed(f"route {transaction_type}", transaction_type, event["event_id"],
                                   lambda received_at, parsed=parsed: handlers_event.message_body(parsed, received_at))

        for transaction_type, (event, data) in sent.items():
            name = f"duplicate {transaction_type}"
            answer = self._post(name, data, secret=self.secret)
            if answer is not None:
                status, body, latency = answer
                ok = status == 409 and body == {"error": DUPLICATE_ERROR}
                self._record(name, ok, latency, "" if ok else f"expected 409 Duplicate event, got {status} {_short(body)}")

        self._check_missing_field()
        if self.signatures_required and self.secret:
            self._check_unauthenticated()
        for route in self.sources:
            self._check_source(route)
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

    def _waited(self, function, event_id, outcome):
        """The function's log line for the event, waiting up to wait_seconds for it; (record | None, ms)."""
        started = time.perf_counter()
        deadline = time.monotonic() + self.wait_seconds
        while True:
            found = self.logged(function, event_id, outcome)
            if found is not None or time.monotonic() >= deadline:
                return found, (time.perf_counter() - started) * 1000
            time.sleep(0.5)

    def _check_routed(self, name, transaction_type, event_id, expected_body):
        """The router's line for ``event_id``: the queue of ``transaction_type``, and a message whose MD5 is
        that of ``expected_body(received_at)``."""
        queues = {url.rsplit("/", 1)[-1]: kind for kind, url in self.queue_urls.items()}
        found, latency = self._waited("router", event_id, "routed")
        if found is None:
            self._record(name, False, latency, f"not routed within {self.wait_seconds:g} s (no router log line)")
            return
        queue, message_id = found.get("queue"), found.get("message_id")
        if queues.get(queue) != transaction_type:
            where = f"the {queues[queue]} queue instead" if queue in queues else f"{queue}, not one of this environment's queues"
            self._record(name, False, latency, f"routed to {where}")
            return
        stored, received_at = found.get("body_md5"), found.get("received_at")
        if not stored or not received_at:
            self._record(name, False, latency, "the router logs no body_md5: deploy this release to check the message")
            return
        expected = hashlib.md5(expected_body(received_at).encode("utf-8"), usedforsecurity=False).hexdigest()
        if expected != stored:
            self._record(name, False, latency,
                         f"message {message_id} is not the event as sent: SQS stored MD5 {stored}, expected {expected}")
            return
        if not found.get("archive"):
            self._record(name, False, latency, f"message {message_id} is queued but the router logs no archive object:"
                                               " deploy this release")
            return
        self._record(name, True, latency, f"message {message_id}, archived")

    # -- the payment-provider sources -------------------------------------------------------------------

    def _check_source(self, route):
        if route.secret is None:
            self._record(f"secret {route.name}", False, 0.0, route.problem)
            return
        module = self._handlers(f"handlers.sources.{route.name}")
        acknowledged = module.ACCEPTED[1]
        sent = []
        for transaction_type, minor, currency, amount in SOURCE_CASES:
            name = f"accept {route.name} {transaction_type}"
            document, provider_id = providers.sample(route.name, transaction_type, minor, currency, marker=MARKER)
            headers, body = providers.signed(route.name, document, route.secret, url=route.signed_url,
                                             event_id=provider_id)
            answer = self._reach(name, lambda: providers.post(route.url, headers, body))
            if answer is None:
                continue
            status, text, latency = answer
            if status == 200 and text == acknowledged:
                self._record(name, True, latency)
                sent.append((transaction_type, f"{route.name}:{provider_id}", headers, body, f"{amount} {currency}"))
            else:
                self._record(name, False, latency, f"expected 200 {acknowledged}, got {status} {_short(text)}")

        if self.logged:
            for transaction_type, event_id, headers, body, amount in sent:
                self._check_source_routed(route, module, transaction_type, event_id, headers, body, amount)

        for transaction_type, event_id, headers, body, _ in sent:
            name = f"duplicate {route.name} {transaction_type}"
            answer = self._reach(name, lambda: providers.post(route.url, headers, body))
            if answer is None:
                continue
            status, text, latency = answer
            if status != 200 or text != acknowledged:
                self._record(name, False, latency, f"expected 200 {acknowledged} (never 409), got {status} {_short(text)}")
            elif self.logged and self._waited("validator", event_id, "duplicate")[0] is None:
                self._record(name, False, latency, f"acknowledged, but the validator logged no duplicate within "
                                                   f"{self.wait_seconds:g} s")
            else:
                self._record(name, True, latency)

        self._check_source_forgery(route)

    def _check_source_routed(self, route, module, transaction_type, event_id, headers, body, amount):
        """What this release's handlers make of the request is the exact amount, and is what SQS stored."""
        name = f"route {route.name} {transaction_type}"
        sources = self._handlers("handlers.sources")
        handlers_event = self._handlers("handlers.event")
        request = sources.Request(body, {key.lower(): value for key, value in headers.items()}, url=route.signed_url)
        [delivery] = module.deliveries(request, route.settings)
        event = delivery.event
        if event is None:  # the environment's mapping acknowledges this type without routing it
            found, latency = self._waited("validator", event_id, "ignored")
            self._record(name, found is not None, latency, "ignored by this environment's mapping" if found else
                         f"mapped to ignore here, but the validator logged no ignored within {self.wait_seconds:g} s")
            return
        mapped = f"{event['amount']} {event['currency']}"
        if mapped != amount:
            self._record(name, False, 0.0, f"this release maps the amount to {mapped}, expected {amount}")
            return
        self._check_routed(name, event["transaction_type"], event_id,
                           lambda received_at: handlers_event.message_body(event, received_at))

    def _check_source_forgery(self, route):
        name = f"refuse forged {route.name}"
        document, provider_id = providers.sample(route.name, "payment", marker=MARKER)
        headers, body = providers.signed(route.name, document, providers.forged(route.name, route.secret),
                                         url=route.signed_url, event_id=provider_id)
        answer = self._reach(name, lambda: providers.post(route.url, headers, body))
        if answer is None:
            return
        status, text, latency = answer
        problem = None
        if status != 401:
            problem = f"expected 401, got {status} {_short(text)}"
        elif self._recorded(f"{route.name}:{provider_id}"):
            problem = "answered 401, but the event was recorded"
        self._record(name, problem is None, latency, problem or "")


def _short(body, limit=160):
    text = json.dumps(body) if not isinstance(body, str) else body
    return text if len(text) <= limit else text[: limit - 3] + "..."
