"""One screen of an environment: its endpoint, its functions (and whether the deployed code is this
checkout's), its queues (visible, in flight, the oldest message's age), its alarms in ALARM.

Nothing here receives from a queue: counts come from queue attributes, the oldest message's age from
CloudWatch (ApproximateAgeOfOldestMessage; the local emulator publishes it as SQS does).
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
        "alarms": alarms_in_alarm(target, outputs),
        "dashboard_url": outputs.get("dashboard_url"),
    }


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
