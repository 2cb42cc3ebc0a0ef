"""The schema file is the request contract; the handlers' native checks must mirror it exactly."""

import jsonschema

from handlers import event, router
from tests.support import schema


def test_schema_is_a_valid_draft_04_schema_as_api_gateway_models_require():
    document = schema()
    assert document["$schema"] == "http://json-schema.org/draft-04/schema#"
    jsonschema.Draft4Validator.check_schema(document)


def test_required_fields_and_their_order_match_the_schema():
    assert tuple(schema()["required"]) == event.REQUIRED_FIELDS


def test_transaction_types_match_the_schema_and_the_router():
    enum = tuple(schema()["properties"]["transaction_type"]["enum"])
    assert enum == event.TRANSACTION_TYPES
    assert tuple(router.QUEUE_URL_ENV) == enum


def test_event_id_bounds_match_the_schema():
    event_id = schema()["properties"]["event_id"]
    assert (event_id["type"], event_id["minLength"], event_id["maxLength"]) == (
        "string",
        1,
        event.EVENT_ID_MAX_LENGTH,
    )


def test_timestamp_pattern_matches_the_schema():
    assert schema()["properties"]["timestamp"]["pattern"] == event.TIMESTAMP_PATTERN


def test_amount_is_a_number_and_extra_fields_are_allowed():
    document = schema()
    assert document["properties"]["amount"] == {**document["properties"]["amount"], "type": "number"}
    assert document["additionalProperties"] is True


def test_handlers_import_nothing_beyond_the_standard_library_and_boto3():
    import subprocess
    import sys

    code = """
import sys
import boto3, botocore.config, botocore.exceptions
baseline = set(sys.modules)
import handlers.validator, handlers.router, handlers.sweeper
extra = {name.split('.')[0] for name in set(sys.modules) - baseline}
print(sorted(extra - set(sys.stdlib_module_names) - {'handlers'}))
"""
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert output.strip() == "[]"
