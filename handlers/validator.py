"""webhook-validator: authenticates a POST /webhook, checks its event, records its event_id once, and
hands it to the router. It also serves POST /webhook/{source} for each payment provider the environment
enables (below, "provider sources").

Answers, in this order: the signature (401; handlers.signature) -> the event's own checks (400/413;
handlers.event) -> de-duplication (409; handlers.records) -> accepted (200). Bad input and a bad
signature make no call to DynamoDB or Lambda. The signing secret is read (one GetSecretValue) on a cold
start, when its cache has expired, and after a signature that matched no key held (at most once per
10 s per container: handlers.signing_keys); a warm request with a fresh cache makes no call at all. If
the hand-over fails, the record written by this request is released again, so the sender's retry is
accepted (503).
"""

import json
import os
import time
import uuid

from botocore.exceptions import BotoCoreError, ClientError

from handlers import archive, runtime, signature
from handlers.event import (
    EVENT_ID_MAX_LENGTH, Rejected, body_text, check_size, iso_utc, message_body, parse_body, raw_body, validate,
)
from handlers.records import DEFAULT_DEDUP_TTL_DAYS, Duplicate, Records, StoreUnavailable
from handlers.signing_keys import KeysUnavailable, keys, source_keys

FUNCTION = "webhook-validator"
# The function's environment (terraform/functions.tf; tests/terraform/test_contract.py checks both agree).
TABLE_ENV = "DYNAMODB_TABLE"
ROUTER_ENV = "ROUTER_LAMBDA_NAME"
SECRET_ENV = "SIGNING_SECRET_ARN"
MODE_ENV = "SIGNATURE_MODE"
TOLERANCE_ENV = "SIGNATURE_TOLERANCE_SECONDS"
CACHE_ENV = "SIGNING_SECRET_CACHE_SECONDS"
SOURCES_ENV = "WEBHOOK_SOURCES"  # JSON: each enabled source's settings and secret_arn (terraform/sources.tf)
TTL_ENV = "DEDUP_TTL_DAYS"  # how long an event_id is a duplicate (handlers.records)
ENVIRONMENT = (TABLE_ENV, ROUTER_ENV, SECRET_ENV, MODE_ENV, TOLERANCE_ENV, CACHE_ENV, SOURCES_ENV, TTL_ENV)
# The provider sources' routes: POST /webhook/<source>.
SOURCE_RESOURCE_PREFIX = "/webhook/"

# required: only signed events get in; report: verify and log, accept anyway (migrating senders);
# off: no verification. Anything else is treated as required: a typo must not open the door.
SIGNATURE_MODES = ("required", "report", "off")
DEFAULT_TOLERANCE_SECONDS = 300
DEFAULT_CACHE_SECONDS = 300

# The most one request can wait on AWS: one read of the signing secret (a cold start, an expired cache or
# a refresh after an unmatched signature: never two), the record, the hand-over and its rollback.
WORST_CASE_S = 4 * runtime.CALL_WORST_CASE_S

ACCEPTED_MESSAGE = "Event validated and queued for processing"
DUPLICATE_ERROR = "Duplicate event"
UNAVAILABLE_ERROR = "Service temporarily unavailable, please retry"


def _setting(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _cache_seconds():
    # The module refuses 0 (every request would read the secret); a hand-edited 0 or less gets the default.
    seconds = _setting(CACHE_ENV, DEFAULT_CACHE_SECONDS)
    return seconds if seconds > 0 else DEFAULT_CACHE_SECONDS


def _ttl_days():
    # The module takes 1 to 365 days; a hand-edited value of less than a day gets the default.
    days = _setting(TTL_ENV, DEFAULT_DEDUP_TTL_DAYS)
    return days if days > 0 else DEFAULT_DEDUP_TTL_DAYS


# -- authentication ----------------------------------------------------------------------------------


def authenticate(event, raw, now):
    """The signature's verdict, for the log line and the archive (``{"verdict", "scheme", "key_version",
    "secret_arn", "secret_version"}``; None in ``off`` mode); raises ``Rejected`` (401, or 503 when the
    secret cannot be read) in ``required`` mode. ``report`` mode only reports."""
    mode = os.environ.get(MODE_ENV, "required")
    if mode == "off":
        return None
    try:
        headers = signature.signature_headers(event)
        msg_id, timestamp, signatures = signature.check_headers(
            headers, now, _setting(TOLERANCE_ENV, DEFAULT_TOLERANCE_SECONDS)
        )
        secret_arn, cache_seconds = os.environ.get(SECRET_ENV, ""), _cache_seconds()
        try:
            index = signature.verify(keys.active(secret_arn, cache_seconds, now), msg_id, timestamp, signatures, raw)
        except signature.NoMatch:
            newer = keys.refresh(secret_arn, cache_seconds, now)  # the secret may have been rotated since
            if newer is None:
                raise
            index = signature.verify(newer, msg_id, timestamp, signatures, raw)
        return _verified(signature.SCHEME, index, secret_arn, keys)
    except signature.Unauthenticated as failure:
        if mode == "report":
            return {"verdict": f"invalid: {failure}", "scheme": signature.SCHEME}
        raise Rejected(401, str(failure), "unauthenticated") from None
    except KeysUnavailable as failure:
        if mode == "report":
            return {"verdict": f"unverified: {failure}", "scheme": signature.SCHEME}
        raise Rejected(503, UNAVAILABLE_ERROR, "secret_unavailable") from failure


def _verified(scheme, index, secret_arn, held):
    # Which key of which version of the secret verified it: tapctl archive get verifies it again there.
    return {"verdict": "valid", "scheme": scheme, "key_version": index, "secret_arn": secret_arn,
            "secret_version": held.version}


# -- recording and handing over ----------------------------------------------------------------------


def accept(event, *, now, request, table, router, evidence=None, seconds_left=lambda: float("inf")):
    """Record the event once, with its request's evidence (handlers/archive.py), and hand it to the router;
    raise ``Rejected`` for a duplicate or a failed dependency, leaving no record of this request behind
    when the hand-over did not happen."""
    records = Records(table, runtime.client("dynamodb"), _ttl_days() * 86400)
    received_at = iso_utc(now)
    body = message_body(event, received_at)
    _claim(records, event, request=request, now=now, received_at=received_at, message_body=body, evidence=evidence)
    try:
        _hand_over(router, body, seconds_left)
    except (ClientError, BotoCoreError, RuntimeError) as failure:
        released = records.release(event["event_id"], request=request)
        outcome = "handover_failed" if released else "handover_failed_record_kept"
        raise Rejected(503, UNAVAILABLE_ERROR, outcome) from failure


def _claim(records, event, **record):
    try:
        records.claim(event, **record)
    except Duplicate:
        raise Rejected(409, DUPLICATE_ERROR, "duplicate") from None
    except StoreUnavailable as failure:
        raise Rejected(503, UNAVAILABLE_ERROR, "record_failed") from failure.__cause__


def _hand_over(router, body, seconds_left):
    # Start only with time left for the hand-over and, should it fail, the release: a function stopped
    # by its timeout in between would keep the record of an event nobody routes.
    left = seconds_left()
    if left < 2 * runtime.CALL_WORST_CASE_S:
        raise RuntimeError(f"{left:.1f} s left: too little to hand over and, if that fails, to roll back")
    runtime.hand_over(runtime.client("lambda"), router, body)


# -- the handler -------------------------------------------------------------------------------------


def _response(status, payload, extra_headers=None):
    headers = {"Content-Type": "application/json"}
    if extra_headers:
        headers.update(extra_headers)
    return {"statusCode": status, "headers": headers, "body": json.dumps(payload), "isBase64Encoded": False}


def _named(event_id, transaction_type, source_event_type=None):
    # An event of the request, as its evidence names it.
    named = {"event_id": event_id, "transaction_type": transaction_type}
    if source_event_type is not None:
        named["source_event_type"] = source_event_type
    return named


def _logged_error(rejected):
    # The log line says what failed underneath; the sender's answer does not.
    cause = rejected.__cause__
    return rejected.error if cause is None else f"{rejected.error} ({type(cause).__name__}: {cause})"


def _refusal(rejected):
    retry = {"Retry-After": "1"} if rejected.status == 503 else None
    return _response(rejected.status, {"error": rejected.error}, retry)


def lambda_handler(event, context):
    source = source_of(event)
    if source is not None:
        return receive(source, event, context)
    started = time.perf_counter()
    request = runtime.request_id(context) or uuid.uuid4().hex
    event_id, verdict = None, None
    outcome, status, error = "error", 500, None
    try:
        now = time.time()
        raw = raw_body(event)
        verdict = authenticate(event, raw, now)
        body = parse_body(body_text(raw))
        if isinstance(body.get("event_id"), str) and body["event_id"]:
            event_id = body["event_id"][:EVENT_ID_MAX_LENGTH]
        validate(body)
        accept(
            body,
            now=now,
            request=request,
            table=os.environ[TABLE_ENV],
            router=os.environ[ROUTER_ENV],
            evidence=archive.request_evidence(event, raw, source=archive.CANONICAL_SOURCE, verification=verdict,
                                              events=[_named(body["event_id"], body["transaction_type"])]),
            seconds_left=lambda: runtime.seconds_left(context),
        )
        outcome, status = "accepted", 200
        return _response(200, {"message": ACCEPTED_MESSAGE, "event_id": body["event_id"]})
    except Rejected as rejected:
        outcome, status, error = rejected.outcome, rejected.status, _logged_error(rejected)
        return _refusal(rejected)
    finally:
        runtime.log_invocation(
            function=runtime.function_name(context, FUNCTION),
            request=request,
            event_id=event_id,
            outcome=outcome,
            status=status,
            started=started,
            error=error,
            signature=verdict and verdict["verdict"],
            signing_keys=f"stale: {keys.stale}" if keys.stale else None,
        )


# -- provider sources --------------------------------------------------------------------------------
# POST /webhook/<source>: the provider's own signature (401), its events (400), then each event as the
# canonical route handles one (record, hand over), but answered as the provider requires: a duplicate is
# a success (a 409 would make the provider retry for days), an event type the source does not route is
# acknowledged and logged "ignored". Each event of a batch is handled whole before the next: a failure
# answers 503 and leaves the ones before it complete, so the provider's retry finds them duplicates.
# One log line per event (and one for a request refused before its events are known).

_sources_read = (None, {})


def source_of(event):
    """The source a proxy event was sent to (its API resource /webhook/<source>), or None."""
    resource = event.get("resource") if isinstance(event, dict) else None
    if isinstance(resource, str) and resource.startswith(SOURCE_RESOURCE_PREFIX):
        return resource[len(SOURCE_RESOURCE_PREFIX):]
    return None


def source_settings():
    """The enabled sources' settings, by name (read once per value of the environment variable)."""
    global _sources_read
    text = os.environ.get(SOURCES_ENV, "")
    if text != _sources_read[0]:
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = {}
        _sources_read = (text, parsed if isinstance(parsed, dict) else {})
    return _sources_read[1]


def _headers(event):
    single = event.get("headers") if isinstance(event.get("headers"), dict) else {}
    return {name.lower(): value for name, value in single.items() if isinstance(name, str) and isinstance(value, str)}


def _verify_source(name, module, request, settings, now):
    from handlers import sources

    held, secret_arn, cache_seconds = source_keys(name), settings.get("secret_arn", ""), _cache_seconds()
    try:
        try:
            index = module.verify(request, held.active(secret_arn, cache_seconds, now), settings, now)
        except sources.NoMatch:
            newer = held.refresh(secret_arn, cache_seconds, now)  # the provider's secret may be newer
            if newer is None:
                raise
            index = module.verify(request, newer, settings, now)
    except sources.Unverified as failure:
        raise Rejected(401, str(failure), "unauthenticated") from None
    except KeysUnavailable as failure:
        raise Rejected(503, UNAVAILABLE_ERROR, "secret_unavailable") from failure
    verified = _verified(module.SCHEME, index, secret_arn, held)
    if settings.get("notification_url"):
        verified["url"] = settings["notification_url"]  # Square signs the URL it posted to
    return verified


def receive(name, event, context):
    """Serve POST /webhook/<name>."""
    from handlers import sources  # imported by the first request to a source: /webhook's cold start is as it was

    started = time.perf_counter()
    request = runtime.request_id(context) or uuid.uuid4().hex
    handled, verdict, failure = [], None, None  # (delivery, outcome) per event; (outcome, status, error)
    try:
        now = time.time()
        settings = source_settings().get(name)
        if settings is None or name not in sources.NAMES:
            raise Rejected(404, f"No source {name} is enabled in this environment", "unknown_source")
        module = sources.module(name)
        raw = raw_body(event)
        check_size(raw)
        provided = sources.Request(raw, _headers(event), url=settings.get("notification_url") or "")
        verdict = _verify_source(name, module, provided, settings, now)
        found = module.deliveries(provided, settings)
        evidence = archive.request_evidence(event, raw, source=name, verification=verdict, events=[
            _named(delivery.event_id, delivery.event["transaction_type"] if delivery.event else sources.IGNORE,
                   delivery.source_event_type) for delivery in found])
        seen = set()
        for delivery in found:
            if delivery.event is None:
                handled.append((delivery, "ignored"))
            elif delivery.event_id in seen:  # twice in one batch: the first one counts
                handled.append((delivery, "duplicate"))
            else:
                seen.add(delivery.event_id)
                handled.append((delivery, _accept_provided(delivery.event, now, request, context, evidence)))
        content_type, body = module.ACCEPTED
        return {"statusCode": 200, "headers": {"Content-Type": content_type}, "body": body, "isBase64Encoded": False}
    except Rejected as rejected:
        failure = (rejected.outcome, rejected.status, _logged_error(rejected))
        return _refusal(rejected)
    except Exception as error:
        failure = ("error", 500, f"{type(error).__name__}: {error}")
        raise
    finally:
        _log_source(runtime.function_name(context, FUNCTION), request, name, started, verdict, handled, failure)


def _log_source(function, request, name, started, verdict, handled, failure):
    status = failure[1] if failure else 200
    signed = verdict and f"{verdict['scheme']}, key version {verdict['key_version']}"
    common = {"function": function, "request": request, "started": started, "source": name, "signature": signed}
    for delivery, outcome in handled:
        runtime.log_invocation(**common, event_id=delivery.event_id, outcome=outcome, status=status,
                               source_event_type=delivery.source_event_type)
    if failure:
        outcome, status, error = failure
        runtime.log_invocation(**common, event_id=None, outcome=outcome, status=status, error=error)


def _accept_provided(event, now, request, context, evidence):
    try:
        accept(event, now=now, request=request, table=os.environ[TABLE_ENV], router=os.environ[ROUTER_ENV],
               evidence=evidence, seconds_left=lambda: runtime.seconds_left(context))
    except Rejected as rejected:
        if rejected.status == 409:
            return "duplicate"
        raise
    return "accepted"
