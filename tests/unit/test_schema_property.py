"""Property: for generated bodies, the validator accepts exactly what jsonschema accepts against the schema file.

The validator also enforces checks a JSON Schema cannot express; the generators below stay clear of
them, and test_validation.py covers each one:
- no duplicate keys, no NaN/Infinity literals, no unpaired surrogate escapes (JSON text level);
- nesting depth at most 32 and a body of at most 64 KiB;
- amount within what DynamoDB stores exactly (38 significant digits, magnitude 1E-130 .. <1E+126);
- timestamp a real calendar date-time with an offset of at most 23:59 and no trailing newline;
- every number readable back everywhere (at most 100 characters, within a double's range);
- an event_id of characters SQS can carry as a message attribute.
"""

import json
import re
import string
from datetime import datetime
from decimal import Context, Decimal

import jsonschema
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from handlers import event
from tests.support import schema

SCHEMA = jsonschema.Draft4Validator(schema())
PATTERN = re.compile(schema()["properties"]["timestamp"]["pattern"])


def calendar_ok(text):
    """An independent check of what the pattern lets through: a real date and time, a sane offset."""
    if text.endswith("\n"):
        return False
    core = text[:19]
    offset = text[-6:] if not text.endswith("Z") else None
    try:
        datetime.strptime(core, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    return offset is None or (int(offset[1:3]) < 24 and int(offset[4:6]) < 60)


def dynamodb_storable(number):
    """An independent check of the amount range: <= 38 significant digits, 1E-130 <= |n| < 1E+126."""
    value = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    if value == 0:
        return True
    digits = value.normalize(Context(prec=1000)).as_tuple().digits
    return len(digits) <= 38 and Decimal("1E-130") <= abs(value) < Decimal("1E+126")


SQS_TEXT = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


def numbers_readable(value):
    """An independent check of the number rule: no integer literal longer than 100 characters."""
    if isinstance(value, dict):
        return all(numbers_readable(item) for item in value.values())
    if isinstance(value, list):
        return all(numbers_readable(item) for item in value)
    return not isinstance(value, int) or isinstance(value, bool) or len(str(value)) <= 100


def rfc3339(moment, digits, offset_minutes):
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}{moment.microsecond:03d}"[:digits]
    if offset_minutes is None:
        return text + "Z"
    sign = "+" if offset_minutes >= 0 else "-"
    return text + f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"


valid_timestamps = st.builds(
    rfc3339,
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(0, 9),
    st.none() | st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)


@st.composite
def mutated(draw, base):
    text = draw(base)
    position = draw(st.integers(0, len(text) - 1))
    action = draw(st.sampled_from(["drop", "replace", "insert"]))
    char = draw(st.sampled_from(string.digits + "TZ:+-. tz\n/"))
    if action == "drop":
        return text[:position] + text[position + 1 :]
    if action == "replace":
        return text[:position] + char + text[position + 1 :]
    return text[:position] + char + text[position:]


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

storable_floats = st.floats(min_value=-1e120, max_value=1e120, allow_nan=False).filter(
    lambda number: number == 0 or abs(number) >= 1e-120
)
amounts = st.integers(-(10**37), 10**37) | storable_floats
timestamps = valid_timestamps | mutated(valid_timestamps) | st.text(max_size=30)

# (likely valid, anything else) per field; each body mixes the two so that every check is reached.
field_values = {
    "event_id": (
        st.text(min_size=1, max_size=20) | st.text(min_size=250, max_size=260),
        st.just("") | json_values,
    ),
    "transaction_type": (
        st.sampled_from(event.TRANSACTION_TYPES),
        st.sampled_from(["Payment", "chargeback", "", "payment "]) | json_values,
    ),
    "amount": (amounts, json_values),
    "timestamp": (valid_timestamps, mutated(valid_timestamps) | st.text(max_size=30) | json_values),
}


@st.composite
def bodies(draw):
    body = {}
    for field, (likely_valid, anything) in field_values.items():
        roll = draw(st.integers(0, 19))
        if roll == 0:
            continue  # missing
        body[field] = draw(likely_valid if roll > 4 else anything)
    extras = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3))
    for key, value in extras.items():
        body.setdefault(key, value)
    return body


def accepted_by_validator(text):
    try:
        event.validate(event.parse_body(text))
    except event.Rejected as rejected:
        assert rejected.status == 400
        return False
    return True


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
@example({"event_id": "e", "transaction_type": "payment", "amount": 1, "timestamp": "2026-11-29T17:45:00Z"})
@example({"event_id": "e", "transaction_type": "payment", "amount": True, "timestamp": "2026-11-29T17:45:00Z"})
@example({"event_id": "", "transaction_type": "payment", "amount": 1, "timestamp": "2026-11-29T17:45:00Z"})
def test_validator_accepts_exactly_what_the_schema_accepts(body):
    timestamp = body.get("timestamp")
    if isinstance(timestamp, str) and PATTERN.search(timestamp):
        assume(calendar_ok(timestamp))
    amount = body.get("amount")
    if isinstance(amount, (int, float)) and not isinstance(amount, bool):
        assume(dynamodb_storable(amount))
    if isinstance(body.get("event_id"), str):
        assume(SQS_TEXT.fullmatch(body["event_id"]))
    assume(numbers_readable(body))
    text = json.dumps(body)
    assert accepted_by_validator(text) == SCHEMA.is_valid(json.loads(text)), text


@settings(max_examples=300, deadline=None)
@given(st.lists(json_scalars | json_values, max_size=3) | json_scalars)
def test_anything_but_an_object_is_rejected_by_both(value):
    text = json.dumps(value)
    assert not accepted_by_validator(text)
    assert not SCHEMA.is_valid(json.loads(text))
