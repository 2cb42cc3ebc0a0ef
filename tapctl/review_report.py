"""A plan's review (tapctl.review) rendered: ``markdown`` for a pull-request comment (GitHub and GitLab): data
loss first and never collapsed, the full list in a collapsed block; ``as_json`` for machines;
``text_lines`` for a terminal."""

from tapctl.review import cell, why

MAX_DETAIL_ROWS = 300  # a pull-request comment holds 65 536 characters


def _code(text):
    return f"`{text}`" if "`" not in str(text) else str(text)


def _attributes_text(attributes, limit=4):
    shown = [f"{_code(a)}: {cell(b)} → {cell(c)}" for a, b, c in attributes[:limit]]
    if len(attributes) > limit:
        shown.append(f"and {len(attributes) - limit} more")
    return "; ".join(shown)


def _detail(change):
    if change.action == "replace":
        if change.forced_by:
            return "forced by " + ", ".join(_code(path) for path in change.forced_by)
        return cell(change.reason or "")
    if change.action == "update":
        return _attributes_text(change.attributes)
    if change.action == "delete":
        return cell(change.reason or "")
    if change.action == "forget":
        return "removed from the state; the resource stays in AWS"
    return ""


def marker(environment):
    """The hidden line a CI job uses to find (and update) its own pull-request comment."""
    return f"<!-- tapctl-plan:{environment} -->"


def markdown(result, *, environment, where=""):
    """The review as a pull-request comment."""
    lines = [marker(environment), f"### tapctl plan: `{environment}`" + (f" ({where})" if where else ""), ""]
    lines.append(f"**{'No changes' if not result.changes else 'Plan: ' + result.line()}**")
    lines.append("")
    if result.findings:
        count = len(result.findings)
        lines += [
            "> [!CAUTION]",
            (f"> **Data loss: this plan deletes or replaces {count} resource{'s' if count > 1 else ''} holding data.** "
            "Merge and apply only if that loss is intended (`--allow-data-loss`)."),
            ">",
        ]
        for finding in result.findings:
            lines.append(f"> - **{finding.change.action}** {_code(finding.change.address)}"
                         + (f" ({cell(finding.change.name)})" if finding.change.name else "")
                         + why(finding.change, _code)
                         + f": loses {cell(finding.lost)}"
                         + (f"; it holds **{cell(finding.contents)}**" if finding.contents else "")
                         + (f" ({cell(finding.note)})" if finding.note else ""))
        lines.append("")
    else:
        lines += ["No resource holding data is deleted or replaced.", ""]
    if result.stateful:
        lines += ["#### Resources holding data", "", "| resource | name | what | action |", "| --- | --- | --- | --- |"]
        for change, kind in result.stateful:
            action = f"**{change.action}**" if change.action in ("delete", "replace") else change.action
            lines.append(f"| {_code(change.address)} | {cell(change.name or '')} | {kind} | {action} |")
        lines.append("")
    if result.drift:
        lines += ["#### Changed outside terraform (drift)", "",
                  ("Found by refreshing the state; the plan puts these back as configured unless the configuration "
                  "changes to match."), "", "| resource | what changed |", "| --- | --- |"]
        for change in result.drift:
            what = _attributes_text(change.attributes) if change.attributes else cell(change.reason or change.action)
            lines.append(f"| {_code(change.address)} | {what} |")
        lines.append("")
    if result.changes:
        shown = result.changes[:MAX_DETAIL_ROWS]
        lines += ["<details>", f"<summary>Every change ({len(result.changes)})</summary>", "",
                  "| resource | action | detail |", "| --- | --- | --- |"]
        lines += [f"| {_code(change.address)} | {change.action} | {_detail(change)} |" for change in shown]
        if len(result.changes) > len(shown):
            lines.append(f"| and {len(result.changes) - len(shown)} more | | see the plan file |")
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def as_json(result, *, environment, where=""):
    return {
        "environment": environment,
        "where": where,
        "counts": result.counts,
        "data_loss": [finding.as_dict() for finding in result.findings],
        "stateful": [{"address": change.address, "type": change.type, "name": change.name, "kind": kind,
                      "action": change.action} for change, kind in result.stateful],
        "changes": [change.as_dict() for change in result.changes],
        "drift": [change.as_dict() for change in result.drift],
    }


def text_lines(result):
    """For a terminal: one line per data-loss finding."""
    return [f"DATA LOSS: {finding.line()}" for finding in result.findings]
