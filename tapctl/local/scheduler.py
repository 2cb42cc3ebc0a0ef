"""EventBridge schedules for the local target: moto stores rules but never fires them. Every rule with a
``rate(...)`` schedule that targets a Lambda function invokes it asynchronously at that rate, with the
event EventBridge sends ("Scheduled Event"), first one interval after the rule is seen, as on AWS.
``cron(...)`` schedules are not run here (the module uses none); the emulator's log says so.
"""

import re
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

from tapctl.local.shared import background

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
RELOAD_SECONDS = 10  # how often the rules are read again (a deploy may add, change or remove them)


def interval(expression):
    """Seconds between two runs of a rate(...) expression; None for anything else."""
    match = _RATE.fullmatch(expression or "")
    if not match:
        return None
    return int(match.group(1)) * _SECONDS[match.group(2).rstrip("s")]


class Scheduler:
    def __init__(self, *, clients, runtime, account, region, clock=time.monotonic):
        self.clients = clients
        self.runtime = runtime
        self.account = account
        self.region = region
        self.clock = clock
        self.next_run = {}  # (rule arn, function) -> when
        self.stopping = threading.Event()
        self.thread = None
        self._warned = set()

    def start(self):
        self.thread = background(self._run, "scheduler")

    def close(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(timeout=5)

    def _run(self):
        schedules, loaded = [], -RELOAD_SECONDS
        while not self.stopping.wait(1.0):
            try:
                if self.clock() - loaded >= RELOAD_SECONDS:
                    schedules, loaded = self.schedules(), self.clock()
                self.fire_due(schedules)
            except Exception as error:  # a broken rule must not stop the others; the log says why
                print(f"scheduler: {type(error).__name__}: {error}", file=sys.stderr, flush=True)

    def schedules(self):
        """[(rule arn, function name, seconds)] of the enabled rate rules that target a function."""
        events = self.clients("events")
        found = []
        for rule in events.list_rules().get("Rules", []):
            if rule.get("State") != "ENABLED" or "ScheduleExpression" not in rule:
                continue
            seconds = interval(rule["ScheduleExpression"])
            if seconds is None:
                if rule["Arn"] not in self._warned:
                    self._warned.add(rule["Arn"])
                    print(f"scheduler: {rule['Name']}: only rate(...) schedules run locally", file=sys.stderr, flush=True)
                continue
            for target in events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
                if ":lambda:" in target["Arn"] and ":function:" in target["Arn"]:
                    found.append((rule["Arn"], target["Arn"].split(":function:")[1].split(":")[0], seconds))
        known = {(arn, function) for arn, function, _ in found}
        self.next_run = {key: when for key, when in self.next_run.items() if key in known}
        return found

    def fire_due(self, schedules):
        now = self.clock()
        for rule_arn, function, seconds in schedules:
            due = self.next_run.setdefault((rule_arn, function), now + seconds)
            if now >= due:
                self.next_run[(rule_arn, function)] = due + seconds
                self.runtime.invoke_async(function, self.event(rule_arn))

    def event(self, rule_arn):
        return {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": self.account, "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region, "resources": [rule_arn], "detail": {},
        }
