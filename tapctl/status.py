"""One screen of an environment: its endpoint, its functions (and whether the deployed code is this
checkout's), its queues (visible, in flight, the oldest message's age), each payment-provider source's
events by outcome over the last 24 hours, its alarms in ALARM.

Nothing here receives from a queue: counts come from queue attributes, the oldest message's age from
CloudWatch (ApproximateAgeOfOldestMessage; the local emulator publishes it as SQS does). The sources'
counts are the validator's SourceOutcomes metric (terraform/dashboard.tf counts its log lines; the local
emulator applies the same metric filter).
"""

import base64
from datetime import datetime, timedelta, timezone

from tapctl.config import FUNCTIONS, LIVE_QUEUES, QUEUES


def _age_seconds(cloudwatch, queue_name, now):
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_name}], StartTime=now - timedelta(minutes=5),
        EndTime=now, Period=60, Statistics=["Maximum"],
    )
    points = sorted(answer.get("Datapoints", []), key=lambda point: point["Timestamp"])
    return round(points[-1]["Maximum"]) if points else None


def queues(target, outputs, now):
    sqs, cloudwatch = target.client("sqs"), target.client("cloudwatch")
    found = {}
    for name, output in QUEUES.items():
        url = outputs[output]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        visible = int(attributes["ApproximateNumberOfMessages"])
        found[name] = {
            "queue": url.rsplit("/", 1)[-1],
            "visible": visible,
            "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            "oldest_age_seconds": _age_seconds(cloudwatch, url.rsplit("/", 1)[-1], now),
        }
    return found


# The outcomes of a source's events, in the order shown (terraform/dashboard.tf local.source_outcomes;
# tests/unit/test_config.py checks both agree). Any other outcome found is shown after them.
SOURCE_OUTCOMES = ("accepted", "duplicate", "ignored", "unauthenticated", "rejected")
SOURCE_METRIC = "SourceOutcomes"
SOURCE_WINDOW = timedelta(hours=24)


def sources(target, outputs, now):
    """Each enabled source's events by outcome over the last 24 hours: ``{source: {outcome: count}}``."""
    enabled = sorted(outputs.get("webhook_sources") or {})
    namespace = outputs.get("outcome_metrics_namespace")
    if not enabled or not namespace:
        return {}
    found = {name: dict.fromkeys(SOURCE_OUTCOMES, 0) for name in enabled}
    cloudwatch = target.client("cloudwatch")
    metrics = [metric for page in cloudwatch.get_paginator("list_metrics").paginate(Namespace=namespace,
                                                                                    MetricName=SOURCE_METRIC)
               for metric in page.get("Metrics", [])]
    for start in range(0, len(metrics), 500):  # GetMetricData's most queries per call
        chosen = metrics[start:start + 500]
        queries = [{"Id": f"m{number}", "ReturnData": True,
                    "MetricStat": {"Metric": metric, "Period": int(SOURCE_WINDOW.total_seconds()), "Stat": "Sum"}}
                   for number, metric in enumerate(chosen)]
        answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=now - SOURCE_WINDOW, EndTime=now)
        for result in answer.get("MetricDataResults", []):
            dimensions = {item["Name"]: item["Value"] for item in chosen[int(result["Id"][1:])].get("Dimensions", [])}
            counts = found.get(dimensions.get("Source"))
            if counts is not None and dimensions.get("Outcome"):
                counts[dimensions["Outcome"]] = counts.get(dimensions["Outcome"], 0) + int(sum(result.get("Values", [])))
    return found


def functions(target, outputs, packages):
    """Each function's deployment, and whether its code is what this checkout builds."""
    built = {package.function: base64.b64encode(bytes.fromhex(package.sha256)).decode() for package in packages}
    lambda_client = target.client("lambda")
    found = {}
    for role, function in FUNCTIONS.items():
        name = outputs[function.name_output]
        configuration = lambda_client.get_function_configuration(FunctionName=name)
        local = built.get(function.package)
        found[role] = {
            "name": name,
            "last_modified": configuration.get("LastModified"),
            "code_sha256": configuration["CodeSha256"],
            "local_build_sha256": local,
            "matches_checkout": configuration["CodeSha256"] == local,
        }
    return found


def alarms_in_alarm(target, outputs):
    """The environment's alarms (those that notify its topic) now in ALARM."""
    topic = outputs.get("alarm_topic_arn")
    found = []
    for page in target.client("cloudwatch").get_paginator("describe_alarms").paginate(StateValue="ALARM"):
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            if topic in alarm.get("AlarmActions", []):
                found.append({"name": alarm["AlarmName"], "reason": alarm.get("StateReason", ""),
                              "since": str(alarm.get("StateUpdatedTimestamp", ""))})
    return found


def status(target, outputs, settings):
    """The environment's one screen; its functions compared with what this checkout builds."""
    from tapctl import package

    packages = package.build(settings.project_dir, settings.build_dir)
    now = datetime.now(timezone.utc)
    return {
        "environment": settings.env,
        "target": target.name,
        "endpoint": outputs["api_endpoint"],
        "functions": functions(target, outputs, packages),
        "queues": queues(target, outputs, now),
        "sources": sources(target, outputs, now),
        "alarms": alarms_in_alarm(target, outputs),
        "archive": archive(outputs),
        "dashboard_url": outputs.get("dashboard_url"),
    }


def archive(outputs):
    """The evidence archive's bucket and lock (None for an environment of a release before it)."""
    if not outputs.get("archive_bucket_name"):
        return None
    return {"bucket": outputs["archive_bucket_name"], **(outputs.get("archive_lock") or {})}


def lines(report):
    shown = [f"{report['environment']} on {report['target']}", f"endpoint  {report['endpoint']}", "functions"]
    for role, function in report["functions"].items():
        code = "= this checkout" if function["matches_checkout"] else "differs from this checkout (deploy to update)"
        shown.append(f"  {function['name']:<32} modified {function['last_modified']}  code {code}")
    shown.append(f"queues{'':<29}{'visible':>9}{'in flight':>11}{'oldest':>9}")
    for name, queue in report["queues"].items():
        waiting = queue["visible"] + queue["in_flight"]
        age = "-" if queue["oldest_age_seconds"] is None or not waiting else _duration(queue["oldest_age_seconds"])
        flag = "  <- holds failed events" if queue["visible"] and name not in LIVE_QUEUES else ""
        shown.append(f"  {queue['queue']:<33}{queue['visible']:>9}{queue['in_flight']:>11}{age:>9}{flag}")
    if report.get("sources"):
        outcomes = list(SOURCE_OUTCOMES) + sorted({outcome for counts in report["sources"].values()
                                                   for outcome in counts} - set(SOURCE_OUTCOMES))
        widths = [max(len(outcome) + 2, 10) for outcome in outcomes]
        shown.append(f"{'sources, last 24 h':<20}" + "".join(f"{outcome:>{width}}" for outcome, width in zip(outcomes, widths)))
        for name, counts in report["sources"].items():
            shown.append(f"  {name:<18}" + "".join(f"{counts.get(outcome, 0):>{width}}"
                                                   for outcome, width in zip(outcomes, widths)))
    found = report.get("archive")
    days = found and found.get("retention_days")
    shown.append(f"archive   s3://{found['bucket']}: {found.get('mode')} lock, {days} day{'' if days == 1 else 's'}"
                 if found else "archive   none (deploy this release to add it)")
    if report["alarms"]:
        shown.append("alarms in ALARM")
        shown.extend(f"  {alarm['name']}: {alarm['reason']}" for alarm in report["alarms"])
    else:
        shown.append("alarms in ALARM: none")
    if report.get("dashboard_url"):
        shown.append(f"dashboard {report['dashboard_url']}")
    return shown


def _duration(seconds):
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
