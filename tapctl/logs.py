"""The functions' log lines from CloudWatch Logs (one JSON line per invocation), read the same way on both
targets, filtered and shown.

CloudWatch's filter patterns narrow the search server-side with a quoted term (the event_id or the
outcome: the local emulator's moto understands plain terms and quoted phrases only); the JSON is then
parsed here and matched exactly, so a term that merely appears in another field never counts.
"""

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from tapctl.config import FUNCTIONS


@dataclass(frozen=True)
class Line:
    timestamp: int  # milliseconds since the epoch, CloudWatch's
    function: str  # validator or router
    record: dict | None  # the parsed JSON line; None for anything else the function printed
    text: str
    event_id: str = ""  # CloudWatch's id of the log event, to drop repeats while following

    def as_dict(self):
        """The line as logged (its ``function`` is the Lambda function's name), with CloudWatch's time and
        tapctl's name for the function (``role``)."""
        return {**(self.record or {"text": self.text}), "timestamp": iso(self.timestamp), "role": self.function}

    def readable(self):
        record = self.record
        if record is None:
            return f"{iso(self.timestamp)}  {self.function:<9}  {self.text}"
        parts = [iso(self.timestamp), f"{self.function:<9}", f"{record.get('outcome', '?'):<15}",
                 str(record.get("status", "")), record.get("event_id") or "-"]
        if record.get("queue"):
            parts.append(f"-> {record['queue']} ({record.get('message_id', '')})")
        if record.get("signature") not in (None, "valid"):
            parts.append(f"signature {record['signature']}")
        if record.get("error"):
            parts.append(f"error: {record['error']}")
        parts.append(f"{record.get('duration_ms', 0):.1f} ms")
        return "  ".join(parts)


def iso(milliseconds):
    moment = datetime.fromtimestamp(milliseconds / 1000, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def groups(outputs, function=None):
    """{function: log group} from the outputs, for every function; one of them when ``function`` names it."""
    chosen = [function] if function else list(FUNCTIONS)
    return {name: outputs[FUNCTIONS[name].log_group_output] for name in chosen}


def read(logs_client, log_groups, *, since_ms, event_id=None, outcome=None, limit=10_000):
    """Lines of ``log_groups`` since ``since_ms``, oldest first, exactly matching ``event_id``/``outcome``."""
    term = event_id or outcome
    found = []
    for function, group in log_groups.items():
        arguments = {"logGroupName": group, "startTime": int(since_ms)}
        if term:
            arguments["filterPattern"] = json.dumps(term)  # a quoted term: any text, matched as a phrase
        try:
            pages = logs_client.get_paginator("filter_log_events").paginate(**arguments)
            for page in pages:
                for event in page.get("events", []):
                    found.append(_line(function, event))
                if len(found) >= limit:
                    break
        except logs_client.exceptions.ResourceNotFoundException:
            continue  # the function has not logged yet
    found = [line for line in found if _matches(line, event_id, outcome)]
    found.sort(key=lambda line: (line.timestamp, line.event_id))
    return found[-limit:]


def _line(function, event):
    text = event.get("message", "").rstrip("\n")
    try:
        record = json.loads(text)
        record = record if isinstance(record, dict) else None
    except ValueError:
        record = None
    return Line(event.get("timestamp", 0), function, record, text, event.get("eventId", ""))


def _matches(line, event_id, outcome):
    if event_id is None and outcome is None:
        return True
    record = line.record or {}
    return (event_id is None or record.get("event_id") == event_id) and (outcome is None or record.get("outcome") == outcome)


def follow(logs_client, log_groups, *, since_ms, event_id=None, outcome=None, interval=2.0, stop=None):
    """Yield lines as they arrive, until ``stop()`` (or for ever); each line once."""
    seen = {}  # line -> its timestamp; lines older than the window are forgotten
    while True:
        for line in read(logs_client, log_groups, since_ms=since_ms, event_id=event_id, outcome=outcome):
            key = (line.function, line.event_id or line.timestamp, line.text)
            if key not in seen:
                seen[key] = line.timestamp
                yield line
                since_ms = max(since_ms, line.timestamp)
        seen = {key: stamp for key, stamp in seen.items() if stamp >= since_ms}
        if stop is not None and stop():
            return
        time.sleep(interval)


def lines(target, outputs, *, function=None, since_seconds, follow_on=False, event_id=None, outcome=None):
    """The environment's log lines (``Line``) of the last ``since_seconds``, of one function or all;
    with ``follow_on``, then every new one until interrupted."""
    since_ms = int((time.time() - since_seconds) * 1000)
    read_lines = follow if follow_on else read
    return read_lines(target.client("logs"), groups(outputs, function), since_ms=since_ms, event_id=event_id,
                      outcome=outcome)
