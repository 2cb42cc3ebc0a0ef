"""Whatever the validator accepts, the router routes, exactly: both read a body with one parser
(handlers.event.parse_body), and the message the validator builds is text SQS carries as it is.

Bodies are written as JSON text, not through json.dumps, so that numbers can be any literal a sender
may write (thousands of digits, exponents beyond a double's or decimal's range) and strings any
character, escaped or raw.
"""

import json
import re
from decimal import Decimal
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handlers import event, router

# SQS's rule for message bodies and attribute values, written out from its documentation.
SQS_TEXT = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
QUEUES = {variable: f"https://sqs.us-east-1.amazonaws.com/123456789012/{variable}" for variable in router.QUEUE_URL_ENV.values()}

number_literals = st.from_regex(r"-?(0|[1-9][0-9]{0,120})(\.[0-9]{1,60})?([eE][+-]?[0-9]{1,25})?", fullmatch=True)
characters = st.characters(codec=None) | st.sampled_from(["\ufffe", "\uffff", "\x00", "\x1f", "\x7f", "\u2028", "💸"])


@st.composite
def string_literals(draw):
    text = draw(st.text(characters, max_size=12))
    return json.dumps(text, ensure_ascii=draw(st.booleans()))


def value_literals():
    scalars = number_literals | string_literals() | st.sampled_from(["true", "false", "null"])
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
        | st.lists(st.tuples(string_literals(), children), max_size=3).map(
            lambda pairs: "{" + ",".join(f"{key}:{value}" for key, value in pairs) + "}"),
        max_leaves=8,
    )


@st.composite
def bodies(draw):
    fields = {
        '"event_id"': draw(string_literals() | st.just('"evt-1"')),
        '"transaction_type"': draw(st.sampled_from(['"payment"', '"refund"', '"dispute"'])),
        '"amount"': draw(number_literals),
        '"timestamp"': '"2026-11-29T17:45:00Z"',
    }
    extras = draw(st.lists(st.tuples(st.text("abcxyz", min_size=1, max_size=4), value_literals()), max_size=3))
    for key, value in extras:
        fields.setdefault(json.dumps("x-" + key), value)
    return "{" + ",".join(f"{key}:{value}" for key, value in fields.items()) + "}"


def accepted(text):
    """The validator's verdict on a body: the message it hands over, or None with a 4xx."""
    try:
        body = event.parse_body(text)
        event.validate(body)
        return body, event.message_body(body, "2026-11-29T17:45:01.000Z")
    except event.Rejected as rejected:
        assert 400 <= rejected.status < 500 and rejected.error
        return None


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
@example('{"event_id":"e","transaction_type":"payment","amount":1,"timestamp":"2026-11-29T17:45:00Z","m":' + "1" * 5000 + "}")
@example('{"event_id":"e","transaction_type":"payment","amount":1,"timestamp":"2026-11-29T17:45:00Z","m":1e9999999999999999999}')
@example('{"event_id":"e\\uffff","transaction_type":"refund","amount":1,"timestamp":"2026-11-29T17:45:00Z"}')
@example('{"event_id":"e","transaction_type":"dispute","amount":1,"timestamp":"2026-11-29T17:45:00Z","n":"\\ufffe\\u0001"}')
def test_whatever_the_validator_accepts_the_router_routes_exactly(text):
    verdict = accepted(text)
    if verdict is None:
        return
    body, message = verdict
    with mock.patch.dict("os.environ", QUEUES):
        sent, routed, queue_url = router.message({"message_body": message})
    assert sent == message  # the router sends the validator's text, byte for byte
    assert queue_url == QUEUES[router.QUEUE_URL_ENV[body["transaction_type"]]]
    assert routed == {**body, "received_at": "2026-11-29T17:45:01.000Z"}  # every value, exactly
    assert SQS_TEXT.fullmatch(sent) and SQS_TEXT.fullmatch(routed["event_id"])  # SQS takes it as it is
    assert json.loads(sent, parse_float=Decimal, parse_int=Decimal) == routed  # and consumers read it back


@pytest.mark.parametrize("literal", [
    "1" * 101, "9" * 5000, "1e9999999999999999999", "-1E+999999999999999999", "1e400", "-1e309", "1e-400",
    "2e-324", "0." + "0" * 98 + "1",
])
def test_a_number_parsers_cannot_read_back_is_a_400(literal):
    text = '{"event_id":"e","transaction_type":"payment","amount":1,"timestamp":"2026-11-29T17:45:00Z","x":%s}' % literal
    with pytest.raises(event.Rejected) as rejected:
        event.parse_body(text)
    assert rejected.value.status == 400
    assert rejected.value.error.startswith("Request body has a number JSON parsers cannot read back: ")


@pytest.mark.parametrize("literal", ["1" * 100, "1.7976931348623157e308", "2.3e-308", "0e999999", "-0", "1E+5"])
def test_numbers_within_the_rule_are_kept_exactly(literal):
    text = '{"x":%s}' % literal
    assert event.parse_body(text)["x"] == Decimal(literal)


@pytest.mark.parametrize("character", ["\x00", "\x08", "\x1f", "\ufffe", "\uffff"])
def test_an_event_id_sqs_cannot_carry_is_a_400(character):
    body = {"event_id": f"evt{character}1", "transaction_type": "payment", "amount": 1, "timestamp": "2026-11-29T17:45:00Z"}
    with pytest.raises(event.Rejected) as rejected:
        event.validate(event.parse_body(json.dumps(body)))
    assert (rejected.value.status, rejected.value.error) == (
        400, f"event_id contains a character SQS cannot carry: U+{ord(character):04X}")


def test_other_strings_travel_escaped_and_arrive_exactly():
    body = {"event_id": "evt-1\t", "note": "\ufffe\uffff\x00\x7f\u2028"}
    message = event.message_body(body, "now")
    assert SQS_TEXT.fullmatch(message) and "\\ufffe" in message and "\\uffff" in message
    assert json.loads(message) == {**body, "received_at": "now"}
