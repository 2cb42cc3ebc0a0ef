"""webhook-validator: checks a POST /webhook body, records its event_id once, and hands it to the router.

Flow: parse and validate the body (no AWS call for bad input) -> one conditional PutItem that both
de-duplicates and records the event -> one asynchronous invoke of the router. If the invoke fails,
the record written by this request is removed again, so the sender's retry is accepted.

The request contract lives in ``terraform/schema/webhook_event.schema.json``. This module checks it
natively (jsonschema would add tens of milliseconds to every cold start); tests prove both agree.
Checks the schema cannot express are marked "beyond the schema" below.
"""

import base64
import binascii
import json
import os
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from botocore.exceptions import BotoCoreError, ClientError

from handlers import runtime

FUNCTION = "webhook-validator"
TABLE_ENV = "DYNAMODB_TABLE"
ROUTER_ENV = "ROUTER_LAMBDA_NAME"

# Mirrors of the schema file, checked against it by tests/unit/test_contract.py.
REQUIRED_FIELDS = ("event_id", "transaction_type", "amount", "timestamp")
TRANSACTION_TYPES = ("payment", "refund", "dispute")
EVENT_ID_MAX_LENGTH = 256
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)

# Beyond the schema. A webhook body is a few kilobytes; 64 KiB keeps the router's payload (the body
# JSON-escaped inside a string, at most twice as long) under Lambda's 256 KB async-invoke limit.
MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32  # DynamoDB's own nesting limit; also bounds the recursion of serialisation.
# DynamoDB numbers: at most 38 significant digits, magnitude from 1E-130 to below 1E+126.
AMOUNT_MAX_DIGITS = 38
AMOUNT_MIN_EXPONENT = -130
AMOUNT_MAX_EXPONENT = 125

DEDUP_TTL_SECONDS = 30 * 24 * 60 * 60
TTL_ATTRIBUTE = "expires_at"  # the table's TTL attribute (terraform/locals.tf dedup_ttl_attribute)
DEDUP_CONDITION = f"attribute_not_exists(event_id) OR {TTL_ATTRIBUTE} < :now"

ACCEPTED_MESSAGE = "Event validated and queued for processing"
DUPLICATE_ERROR = "Duplicate event"
UNAVAILABLE_ERROR = "Service temporarily unavailable, please retry"

_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?(Z|([+-])([0-9]{2}):([0-9]{2}))"
)


class Rejected(Exception):
    """An answer other than 200: carries the HTTP status, the ``error`` text and the logged outcome."""

    def __init__(self, status, error, outcome):
        super().__init__(error)
        self.status = status
        self.error = error
        self.outcome = outcome


def _bad_request(error, status=400):
    return Rejected(status, error, "rejected")


# -- parsing -----------------------------------------------------------------------------------------


def _reject_constant(name):
    # Python's json accepts NaN, Infinity and -Infinity; JSON does not.
    raise _bad_request(f"Request body is not valid JSON: {name} is not a JSON value")


def _unique_keys(pairs):
    # Beyond the schema: with a repeated key, parsers disagree about which value counts.
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise _bad_request(f"Request body has a duplicate key: {_shorten(key)}")
        obj[key] = value
    return obj


# Numbers become Decimal, so amounts stay exact and huge integers never hit int's digit limit.
_DECODER = json.JSONDecoder(
    parse_float=Decimal,
    parse_int=Decimal,
    parse_constant=_reject_constant,
    object_pairs_hook=_unique_keys,
)
_encode_string = json.encoder.encode_basestring  # JSON string literal, non-ASCII kept as is


def _shorten(text, limit=40):
    text = json.dumps(text)
    return text if len(text) <= limit else text[: limit - 4] + '..."'


def request_body(event):
    """The body of an API Gateway proxy (v1) event as text, decoded from base64 when flagged so."""
    body = event.get("body") if isinstance(event, dict) else None
    if body is None or body == "":
        raise _bad_request("Request body is missing")
    if event.get("isBase64Encoded"):
        if len(body) > (MAX_BODY_BYTES * 4) // 3 + 4:
            raise _too_large(len(body) * 3 // 4)
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_request("Request body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large(len(raw))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_request("Request body is not valid UTF-8") from None


def _too_large(size):
    return _bad_request(f"Request body is too large: {size} bytes, the limit is {MAX_BODY_BYTES}", 413)


def parse_body(text):
    """The body as a JSON object (a dict with Decimal numbers), or ``Rejected``."""
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise _bad_request(f"Request body is not valid JSON: {detail}") from None
    if not isinstance(value, dict):
        raise _bad_request("Request body must be a JSON object")
    return value


def _too_deep():
    return _bad_request(f"Request body is nested too deeply: the limit is {MAX_DEPTH} levels")


# -- validation --------------------------------------------------------------------------------------


def validate(body):
    """Check a parsed body against the request contract; raise ``Rejected`` naming the first problem."""
    for field in REQUIRED_FIELDS:
        if field not in body:
            raise _bad_request(f"Missing required field: {field}")

    event_id = body["event_id"]
    if not isinstance(event_id, str) or not event_id:
        raise _bad_request("event_id must be a non-empty string")
    if len(event_id) > EVENT_ID_MAX_LENGTH:
        raise _bad_request(f"event_id must be at most {EVENT_ID_MAX_LENGTH} characters")

    if not isinstance(body["transaction_type"], str) or body["transaction_type"] not in TRANSACTION_TYPES:
        raise _bad_request("transaction_type must be one of: " + ", ".join(TRANSACTION_TYPES))

    amount = body["amount"]
    if not isinstance(amount, Decimal):
        raise _bad_request("amount must be a JSON number")
    if not _storable_number(amount):
        raise _bad_request(
            f"amount is out of range: at most {AMOUNT_MAX_DIGITS} significant digits,"
            f" magnitude from 1E{AMOUNT_MIN_EXPONENT} to below 1E+{AMOUNT_MAX_EXPONENT + 1}"
        )

    if not isinstance(body["timestamp"], str) or not valid_timestamp(body["timestamp"]):
        raise _bad_request("timestamp must be an ISO 8601 date-time with a UTC offset, e.g. 2026-11-29T17:45:00Z")


def _storable_number(number):
    # Beyond the schema: the range DynamoDB can store exactly (it drops leading and trailing zeros).
    if not number.is_finite():
        return False
    _, digits, exponent = number.as_tuple()
    digits = "".join(map(str, digits)).lstrip("0")
    if not digits:
        return True
    significant = digits.rstrip("0")
    exponent += len(digits) - len(significant)
    adjusted = exponent + len(significant) - 1
    return len(significant) <= AMOUNT_MAX_DIGITS and AMOUNT_MIN_EXPONENT <= adjusted <= AMOUNT_MAX_EXPONENT


def valid_timestamp(text):
    """An RFC 3339 date-time: the schema's pattern, plus (beyond the schema) a real calendar date and
    time, an offset of at most 23:59, and no trailing newline (which ``$`` would let through)."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    if match.group(7) != "Z" and (int(match.group(9)) > 23 or int(match.group(10)) > 59):
        return False
    return True


# -- the message the router sends --------------------------------------------------------------------


def message_body(event, received_at):
    """The event as JSON text plus ``received_at``, numbers exactly as sent, for the queue.

    Built here, once, and carried to the router as text: the Lambda runtime decodes an invoke
    payload with floats, which would round amounts of more than 15 significant digits.
    """
    fields = dict(event)
    fields["received_at"] = received_at
    text = _dump(fields, 0)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Beyond the schema: "\ud800" is legal JSON syntax but not text any consumer can store.
        raise _bad_request("Request body contains an unpaired surrogate (\\uD800-\\uDFFF) escape") from None
    return text


def _dump(value, depth):
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, Decimal):
        return str(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if depth >= MAX_DEPTH:
        raise _too_deep()
    if isinstance(value, dict):
        return "{" + ",".join(_encode_string(k) + ":" + _dump(v, depth + 1) for k, v in value.items()) + "}"
    return "[" + ",".join(_dump(item, depth + 1) for item in value) + "]"


# -- de-duplication and hand-over --------------------------------------------------------------------


def iso_utc(epoch_seconds):
    moment = datetime.fromtimestamp(epoch_seconds, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def accept(event, *, now, request, table, router, seconds_left=lambda: float("inf")):
    """Record the event once and invoke the router; raise ``Rejected`` for a duplicate or a failed dependency.

    The record's life (one item per event_id):

        absent / expired --PutItem(condition holds)--> held by this request (request_id = ours)
        held --invoke accepted--> kept until expires_at (now + 30 days); TTL deletes it up to 48 h later
        held --invoke failed--> DeleteItem(request_id = ours) --> absent: the sender's retry is accepted
        held by anyone, not expired --PutItem(condition fails)--> 409, nothing else called

    ``expires_at < :now`` in the condition matters because TTL deletion lags: an expired record must
    not turn a legitimate re-delivery into a duplicate.

    Two ways a record could be kept with no hand-over, so that the sender's retry would get a 409 and the
    event would be lost, are closed here. A PutItem whose answer was lost is retried by botocore and
    then fails its condition on this request's own record: the failure returns the record, and this
    request carries on. And the hand-over starts only with time left for it and for the rollback
    (``seconds_left``): a function stopped by its timeout in between would leave the record behind.
    """
    dynamodb = runtime.client("dynamodb")
    received_at = iso_utc(now)
    body = message_body(event, received_at)
    key = {"event_id": {"S": event["event_id"]}}
    own_record = {":request_id": {"S": request}}
    item = {
        **key,
        "transaction_type": {"S": event["transaction_type"]},
        "amount": {"N": str(event["amount"])},
        "timestamp": {"S": event["timestamp"]},
        "received_at": {"S": received_at},
        TTL_ATTRIBUTE: {"N": str(int(now) + DEDUP_TTL_SECONDS)},
        "request_id": {"S": request},
    }
    try:
        dynamodb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression=DEDUP_CONDITION,
            ExpressionAttributeValues={":now": {"N": str(int(now))}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise Rejected(503, UNAVAILABLE_ERROR, "record_failed") from exc
        if exc.response.get("Item", {}).get("request_id") != own_record[":request_id"]:
            raise Rejected(409, DUPLICATE_ERROR, "duplicate") from None
        # else: our own first attempt stored it and its answer was lost; the record is ours
    except BotoCoreError as exc:
        raise Rejected(503, UNAVAILABLE_ERROR, "record_failed") from exc

    try:
        left = seconds_left()
        if left < 2 * runtime.CALL_WORST_CASE_S:
            raise RuntimeError(f"{left:.1f} s left: too little to hand over and, if that fails, to roll back")
        answer = runtime.client("lambda").invoke(
            FunctionName=router,
            InvocationType="Event",
            Payload=json.dumps({"message_body": body}, ensure_ascii=False).encode("utf-8"),
        )
        if answer.get("StatusCode") != 202:
            raise RuntimeError(f"router invoke answered {answer.get('StatusCode')}")
    except (ClientError, BotoCoreError, RuntimeError) as exc:
        outcome = "handover_failed"
        try:
            dynamodb.delete_item(
                TableName=table,
                Key=key,
                ConditionExpression="request_id = :request_id",
                ExpressionAttributeValues=own_record,
            )
        except ClientError as rollback:
            if rollback.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                outcome = "handover_failed_record_kept"
        except BotoCoreError:
            outcome = "handover_failed_record_kept"
        raise Rejected(503, UNAVAILABLE_ERROR, outcome) from exc


# -- the handler -------------------------------------------------------------------------------------


def _response(status, payload, extra_headers=None):
    headers = {"Content-Type": "application/json"}
    if extra_headers:
        headers.update(extra_headers)
    return {"statusCode": status, "headers": headers, "body": json.dumps(payload), "isBase64Encoded": False}


def lambda_handler(event, context):
    started = time.perf_counter()
    request = runtime.request_id(context) or uuid.uuid4().hex
    event_id = None
    outcome, status, error = "error", 500, None
    try:
        body = parse_body(request_body(event))
        if isinstance(body.get("event_id"), str) and body["event_id"]:
            event_id = body["event_id"][:EVENT_ID_MAX_LENGTH]
        validate(body)
        accept(
            body,
            now=time.time(),
            request=request,
            table=os.environ[TABLE_ENV],
            router=os.environ[ROUTER_ENV],
            seconds_left=lambda: runtime.seconds_left(context),
        )
        outcome, status = "accepted", 200
        return _response(200, {"message": ACCEPTED_MESSAGE, "event_id": body["event_id"]})
    except Rejected as rejected:
        outcome, status, error = rejected.outcome, rejected.status, rejected.error
        if rejected.__cause__ is not None:
            error = f"{error} ({type(rejected.__cause__).__name__}: {rejected.__cause__})"
        retry = {"Retry-After": "1"} if rejected.status == 503 else None
        return _response(rejected.status, {"error": rejected.error}, retry)
    finally:
        runtime.log_invocation(
            function=runtime.function_name(context, FUNCTION),
            request=request,
            event_id=event_id,
            outcome=outcome,
            status=status,
            started=started,
            error=error,
        )
