"""The archive's key layout and evidence (handlers/archive.py) and tapctl's time ranges (tapctl/archive.py):
keys that name any event_id reversibly within S3's limit, sort by time, and parse back without a GET;
evidence that gives back the body's exact bytes."""

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import archive
from handlers.event import EVENT_ID_MAX_LENGTH
from tapctl.archive import moment, until_moment
from tapctl.errors import UsageError

# What the validator lets through as an event_id: any text SQS can carry, up to 256 characters.
EVENT_IDS = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                    min_size=1, max_size=EVENT_ID_MAX_LENGTH)


@given(EVENT_IDS)
def test_every_event_id_has_a_key_within_s3s_limit_that_names_it_back(event_id):
    key = archive.received_key("stripe", "2026-12-01T13:45:00.500Z", "refund", event_id)
    assert len(archive.evidence_key(event_id).encode()) <= 1024 and len(key.encode()) <= 1024
    parsed = archive.parse_received_key(key)
    assert (parsed["source"], parsed["received_at"], parsed["transaction_type"]) == (
        "stripe", "2026-12-01T13:45:00.500Z", "refund")
    if parsed["event_id"] is not None:
        assert parsed["event_id"] == event_id
    else:  # too long to spell out: named by its hash, read from the evidence
        assert parsed["event_key"] == "sha256-" + hashlib.sha256(event_id.encode()).hexdigest()
    assert set(archive.event_key(event_id)) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!")


def test_keys_of_a_source_sort_by_time():
    times = ["2026-12-01T09:59:59.999Z", "2026-12-01T10:00:00.000Z", "2026-12-01T10:00:00.001Z", "2026-12-02T00:00:00.000Z"]
    keys = [archive.received_key("webhook", moment_, "payment", "evt_1") for moment_ in reversed(times)]
    assert [archive.parse_received_key(key)["received_at"] for key in sorted(keys)] == times


def test_typical_ids_stay_readable():
    assert archive.evidence_key("evt_1NxYz") == "events/evt_1NxYz.json"
    assert archive.evidence_key("adyen:AUTHORISATION:8815:true") == "events/adyen!3aAUTHORISATION!3a8815!3atrue.json"
    assert archive.evidence_key("évt 1%!") == "events/!c3!a9vt!201!25!21.json"  # nothing S3 says to avoid


def test_a_body_that_is_not_utf8_is_kept_as_base64_and_given_back_exactly():
    raw = b"bt_payload=%FF\xff\xfe"
    proxy = {"httpMethod": "POST", "path": "/webhook/braintree", "headers": {"Content-Type": "x"},
             "requestContext": {"requestId": "r-1", "identity": {"sourceIp": "198.51.100.4", "userAgent": "ua"}}}
    evidence = json.loads(archive.request_evidence(proxy, raw, source="braintree", verification=None, events=[]))
    assert evidence["request"]["body_encoding"] == "base64"
    assert archive.body_bytes(evidence["request"]) == raw
    assert evidence["request"]["headers"] == {"Content-Type": ["x"]}  # single-valued headers, as lists
    assert (evidence["request"]["source_ip"], evidence["request"]["api_request_id"]) == ("198.51.100.4", "r-1")


def test_a_document_without_evidence_names_the_canonical_source_only():
    event = {"event_id": "e", "transaction_type": "payment", "received_at": "t", "source": "../../x"}
    data, source = archive.document(None, event=event, message_body="{}")
    assert source == "webhook" and json.loads(data)["request"] is None
    provider = {**event, "source": "stripe", "source_event_id": "evt_1"}
    assert archive.document(None, event=provider, message_body="{}")[1] == "stripe"


@pytest.mark.parametrize(("given_", "since", "until"), [
    ("2026-12-01", "2026-12-01T00:00:00.000Z", "2026-12-02T00:00:00.000Z"),
    ("2026-12-01T13:00:00Z", "2026-12-01T13:00:00.000Z", "2026-12-01T13:00:00.000Z"),
    ("2026-12-01T14:00:00+01:00", "2026-12-01T13:00:00.000Z", "2026-12-01T13:00:00.000Z"),
])
def test_time_range_bounds_are_utc_received_at_texts(given_, since, until):
    assert (moment(given_), until_moment(given_)) == (since, until)


def test_a_bound_that_is_no_date_is_one_readable_error():
    with pytest.raises(UsageError, match="is not a date"):
        moment("yesterday")
