"""The event of a POST /webhook: its body as received, parsed and checked against the request contract,
and the message the router sends. Pure functions: no AWS call, so bad input never reaches a dependency.

The request contract lives in ``terraform/schema/webhook_event.schema.json``. This module checks it
natively (jsonschema would add tens of milliseconds to every cold start); tests prove both agree.
Checks the schema cannot express are marked "beyond the schema" below.
"""

import base64
import binascii
import json
import math
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

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

# Beyond the schema: every number must read back in the router (this module's parser) and in consumers'
# parsers (Python's int stops at 4 300 digits; a double overflows past 1.8E+308). 100 characters hold any
# amount, id or count a provider sends.
MAX_NUMBER_CHARS = 100
# Beyond the schema: SQS carries only these characters (its message and attribute values); JSON escapes
# the rest of the body's control characters itself.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?(Z|([+-])([0-9]{2}):([0-9]{2}))"
)


class Rejected(Exception):
    """An answer other than 200: carries the HTTP status, the ``error`` text and the logged outcome.
    Raised by every step of the validator, here for the event's own checks."""

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


def _number(text):
    """A JSON number as an exact Decimal, or ``Rejected`` when it cannot be read back everywhere."""
    if len(text) <= MAX_NUMBER_CHARS:
        try:
            value = Decimal(text)
        except InvalidOperation:  # an exponent beyond what decimal holds (about 1E+999999999999999999)
            value = None
        if value is not None:
            as_double = float(value)
            if math.isfinite(as_double) and (as_double != 0 or not value):
                return value
    raise _bad_request(
        f"Request body has a number JSON parsers cannot read back: {_shorten(text)[1:-1]}"
        f" (at most {MAX_NUMBER_CHARS} characters, within a double's range of about 1E-308 to 1.8E+308)"
    )


# Numbers become Decimal, so amounts stay exact: the validator and the router read a body with this one
# decoder (``parse_body``), so whatever the validator accepts, the router reads.
_DECODER = json.JSONDecoder(
    parse_float=_number,
    parse_int=_number,
    parse_constant=_reject_constant,
    object_pairs_hook=_unique_keys,
)
_encode_basestring = json.encoder.encode_basestring  # JSON string literal, non-ASCII kept as is


def _encode_string(text):
    literal = _encode_basestring(text)
    # U+FFFE and U+FFFF are JSON text but not SQS text: escaped, they arrive as the same string.
    if "\ufffe" in literal or "\uffff" in literal:
        literal = literal.replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")
    return literal


def _shorten(text, limit=40):
    text = json.dumps(text)
    return text if len(text) <= limit else text[: limit - 4] + '..."'


def raw_body(event):
    """The body of an API Gateway proxy (v1) event as the sender's bytes (API Gateway's base64 decoded):
    what a signature covers. Empty when there is none."""
    body = event.get("body") if isinstance(event, dict) else None
    if not body:
        return b""
    if not isinstance(body, str):
        raise _bad_request("Request body is not text")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_request("Request body is not valid base64") from None
    return body.encode("utf-8", "surrogatepass")


def body_text(raw):
    """The body as text, or ``Rejected``: missing, too large (413) or not UTF-8."""
    if not raw:
        raise _bad_request("Request body is missing")
    check_size(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_request("Request body is not valid UTF-8") from None


def check_size(raw):
    """``Rejected`` (413) for a body larger than ``MAX_BODY_BYTES``."""
    if len(raw) > MAX_BODY_BYTES:
        raise _bad_request(f"Request body is too large: {len(raw)} bytes, the limit is {MAX_BODY_BYTES}", 413)


def parse_body(text):
    """The body as a JSON object (a dict with Decimal numbers), or ``Rejected``."""
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise _bad_request(f"Request body is not valid JSON: {detail}") from None
    except ArithmeticError as exc:  # a decimal signal _number did not foresee: still the sender's input
        raise _bad_request(f"Request body has a number that cannot be read: {type(exc).__name__}") from None
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
    unsendable = _NOT_SQS_TEXT.search(event_id)
    if unsendable:  # beyond the schema: the event_id travels raw as an SQS message attribute
        raise _bad_request(f"event_id contains a character SQS cannot carry: U+{ord(unsendable.group()):04X}")

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


def iso_utc(epoch_seconds):
    """An RFC 3339 date-time in UTC with milliseconds, e.g. 2026-11-29T17:45:00.500Z."""
    moment = datetime.fromtimestamp(epoch_seconds, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


