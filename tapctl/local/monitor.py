"""CloudWatch for the local target: the metrics AWS publishes and moto does not, and alarms evaluated.

moto stores alarms but never evaluates them (they stay OK) and publishes no SQS, Lambda or API Gateway
metrics. Every ``period`` seconds (TAPCTL_LOCAL_METRICS_SECONDS, default 10) the monitor:

- publishes AWS/SQS per queue: ApproximateNumberOfMessagesVisible, ApproximateNumberOfMessagesNotVisible
  and ApproximateAgeOfOldestMessage, read from moto's queues without a receive (a receive would count
  towards maxReceiveCount) through ``queues``;
- publishes AWS/Lambda per function (Invocations, Errors, Throttles, Duration) and AWS/ApiGateway per
  API and stage (Count, 4XXError, 5XXError, Latency), counted by the emulator's data plane;
- publishes what the log groups' metric filters count (moto stores them and never applies them) from
  the functions' log lines as they are shipped (``LogMetrics``): the validator's outcomes, each source's
  outcomes, the router's, as the dashboard, the alarms and ``tapctl status`` read them on AWS;
- evaluates every metric alarm as CloudWatch does over one evaluation window (its period times its
  evaluation periods): a statistic of one metric, or the metric math our module uses (IF, arithmetic,
  comparisons), against its threshold; missing data follows the alarm's TreatMissingData. A changed
  state is set with SetAlarmState, so ``tapctl status`` reads alarms the same way on both targets.
"""

import ast
import json
import operator
import os
import re
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from tapctl.local.shared import background

PERIOD_VARIABLE = "TAPCTL_LOCAL_METRICS_SECONDS"
DEFAULT_PERIOD = 10.0

_COMPARISONS = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def evaluate_expression(expression, values):
    """A CloudWatch metric-math expression over ``values`` (id -> number), as far as alarms use it:
    numbers, ids, + - * /, comparisons and IF(condition, then, else). Anything else is a ValueError."""
    tree = ast.parse(expression.replace("IF(", "_if_("), mode="eval")

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ValueError(f"unknown metric id {node.id}")
            return float(values[node.id])
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div):
                return left / right if right else float("nan")
            return {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            compare = {ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le,
                       ast.Eq: operator.eq, ast.NotEq: operator.ne}[type(node.ops[0])]
            return float(compare(walk(node.left), walk(node.comparators[0])))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_if_" and len(node.args) == 3:
            return walk(node.args[1]) if walk(node.args[0]) else walk(node.args[2])
        raise ValueError(f"unsupported in a local alarm: {ast.dump(node)[:60]}")

    try:
        return walk(tree)
    except KeyError as error:
        raise ValueError(f"unsupported operator {error}") from None


def alarm_state(alarm, value):
    """ALARM or OK for ``value`` (None: no data) against the alarm's threshold and comparison."""
    if value is None or value != value:  # no data, or 0/0
        missing = alarm.get("TreatMissingData", "missing")
        return "ALARM" if missing == "breaching" else "OK"
    compare = _COMPARISONS[alarm["ComparisonOperator"]]
    return "ALARM" if compare(value, alarm["Threshold"]) else "OK"


def _counted(namespace, dimensions, counted, counts, timing, now):
    """(namespace, metric datum) for each count of one resource's period, and its timings (milliseconds,
    at most 150 values per datum, as PutMetricData takes them) when there were any."""
    found = [(namespace, {"MetricName": metric, "Dimensions": dimensions, "Timestamp": now,
                          "Value": counted[metric], "Unit": "Count"}) for metric in counts]
    if counted[timing]:
        found.append((namespace, {"MetricName": timing, "Dimensions": dimensions, "Timestamp": now,
                                  "Values": counted[timing][:150], "Unit": "Milliseconds"}))
    return found


# The filter patterns the module uses: a JSON line that has the field ({ $.outcome = * }).
_FIELD_PRESENT = re.compile(r"\{\s*\$\.(\w+)\s*=\s*\*\s*\}")
_SELECTOR = re.compile(r"\$\.(\w+)")


class LogMetrics:
    """The log groups' metric filters applied to the lines shipped to them. Patterns of the form
    ``{ $.field = * }`` are applied (the module's); any other pattern counts nothing here, and the emulator's
    log says so once. A metric value and each dimension is a number or a ``$.field`` of the line; a line
    without a dimension's field is not counted, as CloudWatch Logs does."""

    REFRESH_SECONDS = 5.0

    def __init__(self, clients):
        self.clients = clients
        self.lock = threading.Lock()
        self.filters, self.fetched, self.warned = {}, 0.0, set()
        self.counts = defaultdict(float)  # (namespace, metric, unit, dimensions) -> sum since the last take

    def _filters_of(self, group):
        if time.monotonic() - self.fetched > self.REFRESH_SECONDS:
            found = defaultdict(list)
            for page in self.clients("logs").get_paginator("describe_metric_filters").paginate():
                for metric_filter in page.get("metricFilters", []):
                    found[metric_filter["logGroupName"]].append(metric_filter)
            self.filters, self.fetched = found, time.monotonic()
        return self.filters.get(group, [])

    def observe(self, group, events):
        """Count the shipped ``events`` ({"timestamp", "message"}) of ``group``."""
        filters = self._filters_of(group)
        if not filters:
            return
        records = []
        for event in events:
            try:
                record = json.loads(event["message"])
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        with self.lock:
            for metric_filter in filters:
                pattern = _FIELD_PRESENT.fullmatch(metric_filter.get("filterPattern", "").strip())
                if pattern is None:
                    self._warn(metric_filter)
                    continue
                for record in records:
                    if pattern.group(1) in record:
                        for transformation in metric_filter.get("metricTransformations", []):
                            self._count(transformation, record)

    def _count(self, transformation, record):
        value = _selected(transformation.get("metricValue", "1"), record)
        dimensions = []
        for name, selector in sorted((transformation.get("dimensions") or {}).items()):
            found = _selected(selector, record)
            if found is None:
                return
            dimensions.append((name, str(found)))
        try:
            value = float(value)
        except (TypeError, ValueError):
            return
        key = (transformation["metricNamespace"], transformation["metricName"], transformation.get("unit") or "None",
               tuple(dimensions))
        self.counts[key] += value

    def _warn(self, metric_filter):
        if metric_filter["filterName"] not in self.warned:
            self.warned.add(metric_filter["filterName"])
            print(f"monitor: metric filter {metric_filter['filterName']}: pattern {metric_filter.get('filterPattern')!r}"
                  " is not applied locally", file=sys.stderr, flush=True)

    def take(self, now):
        with self.lock:
            taken, self.counts = self.counts, defaultdict(float)
        return [(namespace, {"MetricName": metric, "Timestamp": now, "Value": value, "Unit": unit,
                             "Dimensions": [{"Name": name, "Value": text} for name, text in dimensions]})
                for (namespace, metric, unit, dimensions), value in sorted(taken.items())]


def _selected(selector, record):
    """A metric filter's value or dimension for ``record``: ``$.field`` (None when absent), else the text."""
    match = _SELECTOR.fullmatch(str(selector).strip())
    return record.get(match.group(1)) if match else selector


class Monitor:
    def __init__(self, *, clients, queues, runtime, gateway, period=None, log_metrics=None):
        self.clients = clients
        self.queues = queues  # () -> {name: {"visible", "not_visible", "oldest_age_seconds"}}
        self.runtime = runtime
        self.gateway = gateway
        self.log_metrics = log_metrics  # LogMetrics of the shipped log lines, or None
        self.period = float(period or os.environ.get(PERIOD_VARIABLE, DEFAULT_PERIOD))
        self.stopping = threading.Event()
        self.thread = None

    def start(self):
        self.thread = background(self._run, "monitor")

    def close(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(timeout=5)

    def _run(self):
        while not self.stopping.wait(self.period):
            try:
                self.tick()
            except Exception as error:  # the data plane goes on; the emulator's log says why
                print(f"monitor: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

    def tick(self):
        now = datetime.now(timezone.utc)
        data = self.queue_metrics(now) + self.function_metrics(now) + self.api_metrics(now)
        if self.log_metrics is not None:
            data += self.log_metrics.take(now)
        cloudwatch = self.clients("cloudwatch")
        for namespace in sorted({namespace for namespace, _ in data}):
            points = [point for space, point in data if space == namespace]
            for start in range(0, len(points), 500):
                cloudwatch.put_metric_data(Namespace=namespace, MetricData=points[start:start + 500])
        self.evaluate_alarms(now)

    # -- metrics ------------------------------------------------------------------------------------

    def queue_metrics(self, now):
        found = []
        for name, counted in sorted(self.queues().items()):
            values = {
                "ApproximateNumberOfMessagesVisible": (counted["visible"], "Count"),
                "ApproximateNumberOfMessagesNotVisible": (counted["not_visible"], "Count"),
                "ApproximateAgeOfOldestMessage": (counted["oldest_age_seconds"], "Seconds"),
            }
            for metric, (value, unit) in values.items():
                found.append(("AWS/SQS", {"MetricName": metric, "Dimensions": [{"Name": "QueueName", "Value": name}],
                                          "Timestamp": now, "Value": value, "Unit": unit}))
        return found

    def function_metrics(self, now):
        return [point for name, counted in self.runtime.counters.take().items()
                for point in _counted("AWS/Lambda", [{"Name": "FunctionName", "Value": name}], counted,
                                      ("Invocations", "Errors", "Throttles"), "Duration", now)]

    def api_metrics(self, now):
        return [point for (api_name, stage), counted in self.gateway.counters.take().items()
                for point in _counted("AWS/ApiGateway", [{"Name": "ApiName", "Value": api_name},
                                                         {"Name": "Stage", "Value": stage}],
                                      counted, ("Count", "4XXError", "5XXError"), "Latency", now)]

    # -- alarms -------------------------------------------------------------------------------------

    def evaluate_alarms(self, now):
        cloudwatch = self.clients("cloudwatch")
        for alarm in cloudwatch.describe_alarms().get("MetricAlarms", []):
            try:
                value = self.alarm_value(alarm, now)
                state = alarm_state(alarm, value)
            except ValueError as error:
                print(f"monitor: alarm {alarm['AlarmName']}: {error}", file=sys.stderr, flush=True)
                continue
            if state != alarm.get("StateValue"):
                reason = (f"Threshold crossed: {value:g} against {alarm['Threshold']:g} (evaluated by the local target)"
                          if value is not None and value == value else "No data (evaluated by the local target)")
                cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=state, StateReason=reason)

    def alarm_value(self, alarm, now):
        if alarm.get("Metrics"):
            values = {}
            for query in alarm["Metrics"]:
                if "MetricStat" in query:
                    stat = query["MetricStat"]
                    metric = stat["Metric"]
                    value = self._statistic(metric["Namespace"], metric["MetricName"], metric.get("Dimensions", []),
                                            stat["Stat"], stat["Period"], now, alarm.get("EvaluationPeriods", 1))
                    values[query["Id"]] = 0.0 if value is None else value
            expression = next(query for query in alarm["Metrics"] if query.get("ReturnData", True) and "Expression" in query)
            return evaluate_expression(expression["Expression"], values)
        return self._statistic(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions", []),
                               alarm["Statistic"], alarm["Period"], now, alarm.get("EvaluationPeriods", 1))

    def _statistic(self, namespace, name, dimensions, statistic, period, now, periods):
        window = int(period) * int(periods)
        answer = self.clients("cloudwatch").get_metric_statistics(
            Namespace=namespace, MetricName=name, Dimensions=dimensions, StartTime=now - timedelta(seconds=window),
            EndTime=now + timedelta(seconds=1), Period=window, Statistics=[statistic],
        )
        points = [point[statistic] for point in answer.get("Datapoints", []) if statistic in point]
        if not points:
            return None
        return max(points) if statistic == "Maximum" else sum(points) if statistic == "Sum" else points[-1]
