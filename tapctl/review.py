"""A plan as a reviewer reads it: what changes, what drifted, and above all what data a change would lose.

A plain function over ``terraform show -json`` of a saved plan (no terraform, no AWS here): ``review(document)``
sorts every resource change by its action (create, update in place, replace with the attribute that
forces it, delete) and the drift terraform's refresh found, and calls out the resources that hold data
(``STATEFUL``): deleting or replacing one is a data-loss finding, named with what is lost.

What the resources hold now (messages in a queue, items in the table) is added by tapctl.holdings when
the environment can be read (``Finding.contents``); a plan alone cannot say. tapctl.review_report renders
a review for a terminal, a pull-request comment or a machine.
"""

import json
import re
from dataclasses import dataclass, field

# The resources that hold data, one place: (type, what the address names, what it is, what a delete or a
# replacement loses). The first match wins, so the specific entries come before their type's default.
STATEFUL = (
    ("aws_dynamodb_table", None, "event table",
     ("every record: the event_ids of the last 30 days (a re-delivered event would be accepted again as new) "
     "and the outbox's events not yet confirmed in their queue")),
    ("aws_sqs_queue", re.compile(r"\.dlq(\[|$)"), "dead-letter queue",
     "its messages: events that failed processing, waiting for tapctl redrive"),
    ("aws_sqs_queue", re.compile(r"router_failures"), "router-failures queue",
     "its messages: events the router gave up on, waiting for tapctl replay-failures"),
    ("aws_sqs_queue", None, "queue", "its messages: accepted events not yet consumed"),
    ("aws_cloudwatch_log_group", None, "log group",
     "its log history (the trail of every event's validation and routing)"),
    ("aws_s3_bucket", None, "evidence archive",
     ("every archived request: the byte-exact evidence of each accepted event, kept for its retention "
      "(a COMPLIANCE-locked archive cannot be deleted at all; a throwaway one goes with its objects)")),
    ("aws_kms_key", re.compile(r"\.archive(\[|$)"), "archive key",
     "the key of the evidence archive: once deleted, no archived request can be read again"),
    ("aws_secretsmanager_secret", None, "signing secret",
     "the webhook signing secret: every sender's signatures fail until they are given a new one"),
)

_ACTIONS = {
    ("no-op",): "no change",
    ("create",): "create",
    ("read",): "read",
    ("update",): "update",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",  # create_before_destroy: the old one is still deleted
    ("delete",): "delete",
    ("forget",): "forget",
}
_REASONS = {
    "replace_because_tainted": "it is tainted",
    "replace_by_request": "replacement was requested (-replace)",
    "replace_because_cannot_update": None,  # said by the attributes that force it
    "delete_because_no_resource_config": "removed from the configuration",
    "delete_because_no_module": "its module instance was removed",
    "delete_because_wrong_repetition": "count or for_each was added or removed",
    "delete_because_count_index": "its count index is gone",
    "delete_because_each_key": "its for_each key is gone",
    "delete_because_no_move_target": "its moved block points at nothing",
}
_VALUE_WIDTH = 60


@dataclass
class Change:
    address: str
    type: str
    action: str  # create, update, replace, delete, forget, read, no change
    name: str | None  # the resource's own name (queue name, table name), when it has one
    forced_by: list = field(default_factory=list)  # attribute paths that force a replacement
    reason: str | None = None  # why terraform deletes or replaces it, in words
    attributes: list = field(default_factory=list)  # (attribute, before, after) for updates and drift
    id: str | None = None  # the existing resource's id (a queue's URL, a table's name), when it exists

    def as_dict(self):
        return {"address": self.address, "type": self.type, "action": self.action, "name": self.name,
                "forced_by": self.forced_by, "reason": self.reason,
                "attributes": [{"attribute": a, "before": b, "after": c} for a, b, c in self.attributes]}


def why(change, code):
    """Why a resource is replaced or deleted, as a clause: the attributes that force it, or the reason."""
    if change.forced_by:
        return f", forced by {', '.join(code(path) for path in change.forced_by)}"
    return f", {cell(change.reason)}" if change.reason else ""


@dataclass
class Finding:
    change: Change
    kind: str  # what the resource is (STATEFUL)
    lost: str  # what the change loses
    contents: str | None = None  # what it holds now, when the caller could read it
    note: str | None = None  # e.g. deletion protection or a recovery window

    def line(self):
        change = self.change
        what = f"{change.action} {change.address}" + (f" ({change.name})" if change.name else "")
        because = why(change, str)
        holds = f"; it holds {self.contents}" if self.contents else ""
        note = f" ({self.note})" if self.note else ""
        return f"{what}{because}: loses {self.lost}{holds}{note}"

    def as_dict(self):
        return {"address": self.change.address, "type": self.change.type, "name": self.change.name,
                "kind": self.kind, "action": self.change.action, "forced_by": self.change.forced_by,
                "reason": self.change.reason, "lost": self.lost, "contents": self.contents, "note": self.note}


@dataclass
class Review:
    changes: list  # every Change except "no change" and reads
    stateful: list  # (Change, kind) for every resource that holds data, changed or not
    findings: list  # Finding, one per stateful resource deleted or replaced
    drift: list  # Change, one per resource changed outside terraform
    counts: dict  # terraform's add / change / destroy, and how many of them are replacements

    @property
    def data_loss(self):
        return bool(self.findings)

    def line(self):
        counts = self.counts
        if not self.changes:
            return "no changes"
        replaced = f" ({counts['replace']} replaced)" if counts["replace"] else ""
        return f"{counts['add']} to add, {counts['change']} to change, {counts['destroy']} to destroy{replaced}"


def stateful_kind(resource_type, address):
    """(what it is, what deleting it loses) for a resource that holds data, else None."""
    for kind_type, pattern, kind, lost in STATEFUL:
        if kind_type == resource_type and (pattern is None or pattern.search(address)):
            return kind, lost
    return None


def _path(path):
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _any_true(mark):
    if isinstance(mark, dict):
        return any(_any_true(value) for value in mark.values())
    if isinstance(mark, list):
        return any(_any_true(value) for value in mark)
    return mark is True


def _sensitive(marks, key):
    """Whether terraform marks ``key`` (or anything inside it) as sensitive."""
    return _any_true(marks.get(key) if isinstance(marks, dict) else marks)


def _same(old, new):
    """Whether two values mean the same: equal, both empty (the provider reads back {} for an unset map),
    or the same JSON document written differently."""
    if old == new or (old in _EMPTY and new in _EMPTY):
        return True
    if isinstance(old, str) and isinstance(new, str) and old[:1] in "{[" and new[:1] in "{[":
        try:
            return json.loads(old) == json.loads(new)
        except ValueError:
            return False
    return False


_EMPTY = (None, {}, [], "")


def _changed_attributes(change, only=None, same=None):
    """(attribute, before, after) for each top-level attribute that differs (of ``only``, when given; by
    ``same``, when given); values hidden when sensitive, shortened when long, summarised when nested."""
    before, after = change.get("before") or {}, change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    found = []
    for key in sorted(set(before) | set(after) | set(unknown)):
        old, new = before.get(key), after.get(key)
        if only is not None and key not in only:
            continue
        if (same(old, new) if same else old == new) and not unknown.get(key):
            continue
        if unknown.get(key) is True:
            new = "(known after apply)"
        elif isinstance(unknown.get(key), (dict, list)) and old == new:
            continue
        if _sensitive(change.get("before_sensitive"), key) or _sensitive(change.get("after_sensitive"), key):
            old, new = "(sensitive)", "(sensitive)"
        found.append((key, *_pair(old, new)))
    return found


def _text(value):
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _pair(old, new):
    """Both values as short text that still shows where they differ: a long common start and end are
    cut to a few characters of context."""
    if "(sensitive)" in (old, new) or new == "(known after apply)":
        return _shorten(old if old == "(sensitive)" else _text(old)), new if isinstance(new, str) else _text(new)
    old, new = _text(old), _text(new)
    context = 12
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    if start > context:
        old, new = "..." + old[start - context:], "..." + new[start - context:]
    if end > context:
        old, new = old[: len(old) - end + context] + "...", new[: len(new) - end + context] + "..."
    return _shorten(old), _shorten(new)


def _shorten(text):
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."


def _change(entry):
    change = entry["change"]
    action = _ACTIONS.get(tuple(change["actions"]), "/".join(change["actions"]))
    values = change.get("before") or change.get("after") or {}
    # What a reader knows it by: its name, a bucket's name, a KMS key's id.
    name = next((values[field] for field in ("name", "bucket", "key_id")
                 if isinstance(values, dict) and isinstance(values.get(field), str)), None)
    reason = _REASONS.get(entry.get("action_reason", ""))
    forced = [_path(path) for path in change.get("replace_paths") or []] if action == "replace" else []
    attributes = _changed_attributes(change) if action in ("update", "replace") else []
    existing = change.get("before") or {}
    ident = existing.get("id") if isinstance(existing, dict) and isinstance(existing.get("id"), str) else None
    return Change(entry["address"], entry["type"], action, name, forced, reason, attributes, ident)


def _note(change, entry):
    before = entry["change"].get("before") or {}
    if change.type == "aws_dynamodb_table" and before.get("deletion_protection_enabled"):
        return "deletion protection is on: the apply will fail until it is turned off"
    if change.type == "aws_secretsmanager_secret" and before.get("recovery_window_in_days"):
        return f"recoverable for {before['recovery_window_in_days']} days with restore-secret"
    return None


def review(document):
    """The Review of a plan document (``terraform show -json``)."""
    changes, stateful, findings = [], [], []
    counts = {"add": 0, "change": 0, "destroy": 0, "replace": 0}
    for entry in document.get("resource_changes") or []:
        if entry.get("mode", "managed") != "managed":
            continue
        change = _change(entry)
        counts["add"] += change.action in ("create", "replace")
        counts["change"] += change.action == "update"
        counts["destroy"] += change.action in ("delete", "replace")
        counts["replace"] += change.action == "replace"
        if change.action not in ("no change", "read"):
            changes.append(change)
        kind = stateful_kind(change.type, change.address)
        if kind is None:
            continue
        stateful.append((change, kind[0]))
        existed = entry["change"].get("before") is not None
        if change.action in ("delete", "replace") and existed:
            findings.append(Finding(change, kind[0], kind[1], note=_note(change, entry)))
    return Review(changes, stateful, findings, _drift(document, changes), counts)


def _instance_free(address):
    """A resource instance's address without its instance keys, as relevant_attributes may name it."""
    return re.sub(r'\[("[^"]*"|\d+)\]', "", address)


def _drift(document, changes):
    """The drift terraform's refresh found that matters to this plan, as terraform itself shows it: an
    attribute changed outside terraform counts when the plan depends on it (``relevant_attributes``) or
    puts it back; a provider reading back an unset value as empty, or a JSON document re-indented, is no
    drift. A resource deleted outside terraform always counts."""
    relevant = {}
    for item in document.get("relevant_attributes") or []:
        if item.get("attribute"):
            relevant.setdefault(item["resource"], set()).add(item["attribute"][0])
    reverted = {change.address: {name for name, _, _ in change.attributes} for change in changes}
    drift = []
    for entry in document.get("resource_drift") or []:
        if entry.get("mode", "managed") != "managed":
            continue
        change = _change(entry)
        if change.action == "delete":
            change.reason = "deleted outside terraform"
        elif change.action == "update":
            address = entry["address"]
            only = (relevant.get(address, set()) | relevant.get(_instance_free(address), set())
                    | reverted.get(address, set()))
            change.attributes = _changed_attributes(entry["change"], only, same=_same)
            if not change.attributes:
                continue
        drift.append(change)
    return drift


def cell(text):
    """``text`` fit for one cell of a markdown table."""
    return str(text).replace("|", "\\|").replace("\n", " ")
