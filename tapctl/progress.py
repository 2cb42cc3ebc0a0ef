"""terraform's JSON UI stream shown as progress: one line per change worth a line, or on a terminal one live
line per apply (resources done, the slowest in flight, elapsed); error diagnostics collected for the
one-line failure (tapctl.terraform runs terraform, this only reads what it writes)."""

import time

# The UI messages shown as progress. A plan's own summary is left out: it is the command's result.
SHOWN = frozenset({
    "apply_complete", "apply_errored", "planned_change", "resource_drift",
    "change_summary:apply", "change_summary:destroy",
})


class UiStream:
    """Shows terraform's JSON UI stream as progress lines and collects its error diagnostics.

    Drift is shown only for resources the plan then changes, as terraform's own text view does. A
    refresh right after a create reports drift on most resources (the provider reads back empty tags,
    maps and lists where the configuration left them null, and the roles' inline policies created
    after them); those lead to no change and would bury drift that matters.

    With ``live`` (a terminal, not --verbose) the stream is compact: planned creates are one line per
    plan, counted by resource type (updates, replacements and deletes keep a line each), and an apply or
    destroy is one line rewritten in place: resources done of the total, the slowest in flight, elapsed.
    """

    def __init__(self, progress, show=SHOWN, *, live=None, total=None, clock=time.monotonic):
        self.progress = progress
        self.shown = show
        self.live = live
        self.total = total  # resources an apply will touch, when its plan was made by another run
        self.clock = clock
        self.errors = []
        self._drift = []
        self._changing = set()
        self._creates = {}
        self._planned = 0
        self._done = 0
        self._running = {}  # address -> when its apply started
        self._started = clock()

    def show(self, message):
        kind = message.get("type")
        if kind == "change_summary":
            self.finish()  # the plan is complete: every planned change has been seen
            kind = f"change_summary:{message.get('changes', {}).get('operation')}"
        if kind == "diagnostic":
            diagnostic = message.get("diagnostic", {})
            text = f"{diagnostic.get('summary', '')}: {diagnostic.get('detail', '')}".strip(": ")
            if message.get("@level") == "error":
                self.errors.append(text)
            else:
                self.progress(f"warning: {diagnostic.get('summary', '')}")
        elif kind == "resource_drift":
            if kind in self.shown:
                self._drift.append(message)
        elif self.live and kind in ("apply_start", "apply_complete", "apply_errored"):
            self._apply_hook(kind, message)
        else:
            if kind == "planned_change":
                self._changing.add(_address(message))
                self._planned += 1
                if self.live and kind in self.shown and message.get("change", {}).get("action") == "create":
                    resource_type = message["change"].get("resource", {}).get("resource_type", "resource")
                    self._creates[resource_type] = self._creates.get(resource_type, 0) + 1
                    return
            if kind in self.shown:
                self.progress(message.get("@message", ""))

    def _apply_hook(self, kind, message):
        address = message.get("hook", {}).get("resource", {}).get("addr", "?")
        if kind == "apply_start":
            self._running[address] = self.clock()
        else:
            self._running.pop(address, None)
            self._done += 1
            if kind == "apply_errored":
                self.progress(message.get("@message", ""))
        total = self.total or self._planned or "?"
        now = self.clock()
        text = f"{self._done}/{total} resources, {now - self._started:.0f} s"
        if self._running:
            slowest, since = min(self._running.items(), key=lambda item: item[1])
            text += f"; slowest in flight: {slowest} ({now - since:.0f} s)"
        self.live(text)

    def finish(self):
        if self._creates:
            kinds = sorted(self._creates.items(), key=lambda item: (-item[1], item[0]))
            counted = ", ".join(f"{count} {kind}" for kind, count in kinds[:4])
            if len(kinds) > 4:
                counted += f" and {sum(count for _, count in kinds[4:])} more"
            self.progress(f"to create: {sum(self._creates.values())} ({counted})")
            self._creates.clear()
        for message in self._drift:
            if _address(message) in self._changing:
                self.progress(message.get("@message", ""))
        self._drift.clear()


def _address(message):
    return message.get("change", {}).get("resource", {}).get("addr")

