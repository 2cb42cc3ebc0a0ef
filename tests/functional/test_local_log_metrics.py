"""The local target applies the log groups' metric filters (moto stores them and never applies them): the
module's filters, as terraform creates them, count the functions' JSON lines by their fields, so the
dashboard, the alarms and tapctl status read the same metrics on both targets."""

import json
from datetime import datetime, timezone

import boto3

from tapctl.local.monitor import LogMetrics

GROUP = "/aws/lambda/webhook-validator-dev"


def put_filters(logs):
    logs.create_log_group(logGroupName=GROUP)
    # As terraform/dashboard.tf declares them.
    logs.put_metric_filter(logGroupName=GROUP, filterName="outcomes", filterPattern="{ $.outcome = * }",
                           metricTransformations=[{"metricName": "ValidatorOutcomes", "metricNamespace": "tapctl/dev",
                                                   "metricValue": "1", "unit": "Count",
                                                   "dimensions": {"Outcome": "$.outcome"}}])
    logs.put_metric_filter(logGroupName=GROUP, filterName="source-outcomes", filterPattern="{ $.source = * }",
                           metricTransformations=[{"metricName": "SourceOutcomes", "metricNamespace": "tapctl/dev",
                                                   "metricValue": "1", "unit": "Count",
                                                   "dimensions": {"Source": "$.source", "Outcome": "$.outcome"}}])
    logs.put_metric_filter(logGroupName=GROUP, filterName="not-applied", filterPattern='"ERROR"',
                           metricTransformations=[{"metricName": "Errors", "metricNamespace": "tapctl/dev",
                                                   "metricValue": "1"}])


def lines(*records):
    return [{"timestamp": 0, "message": record if isinstance(record, str) else json.dumps(record)} for record in records]


def test_the_modules_filters_count_lines_by_their_fields(aws, capsys):
    logs = boto3.client("logs")
    put_filters(logs)
    counted = LogMetrics(lambda service: boto3.client(service))
    counted.observe(GROUP, lines({"outcome": "accepted"}, {"outcome": "accepted", "source": "stripe"},
                                 {"outcome": "duplicate", "source": "stripe"}, {"outcome": "ignored", "source": "adyen"},
                                 "START RequestId: 1 ERROR", {"source": "square"}))
    counted.observe("/aws/lambda/another", lines({"outcome": "accepted"}))
    now = datetime.now(timezone.utc)
    found = {(datum["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in datum["Dimensions"]))): datum["Value"]
             for _, datum in counted.take(now)}
    assert found == {
        ("ValidatorOutcomes", (("Outcome", "accepted"),)): 2,
        ("ValidatorOutcomes", (("Outcome", "duplicate"),)): 1,
        ("ValidatorOutcomes", (("Outcome", "ignored"),)): 1,
        ("SourceOutcomes", (("Outcome", "accepted"), ("Source", "stripe"))): 1,
        ("SourceOutcomes", (("Outcome", "duplicate"), ("Source", "stripe"))): 1,
        ("SourceOutcomes", (("Outcome", "ignored"), ("Source", "adyen"))): 1,
    }  # a line without a dimension's field is not counted; the plain-text pattern is not applied here
    assert counted.take(now) == []  # each count is published once
    assert "metric filter not-applied: pattern '\"ERROR\"' is not applied locally" in capsys.readouterr().err
