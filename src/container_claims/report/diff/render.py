"""The diff in words: lines for a terminal, Markdown for a job summary, its one-line summary."""

from __future__ import annotations

import re
from collections.abc import Mapping

from container_claims.report.diff.changes import (
    APPLICABILITY,
    CHANGED,
    FIX,
    GONE,
    KINDS,
    NEW,
    REGRESSION,
    Diff,
    Pair,
    Side,
)
from container_claims.report.markdown import code, text
from container_claims.report.text import plain_text, printable, truncate
from container_claims.results import ERROR, FAIL, PASS

_TITLES = {
    REGRESSION: "Regressions",
    FIX: "Fixes",
    CHANGED: "Changed (fail and error)",
    APPLICABILITY: "Applicability changed",
    NEW: "New claims",
    GONE: "Claims gone",
}


#: How each kind of change is counted: one and many.
_COUNTED = {
    REGRESSION: ("regression", "regressions"),
    FIX: ("fix", "fixes"),
    CHANGED: ("changed between fail and error", "changed between fail and error"),
    APPLICABILITY: ("applicability change", "applicability changes"),
    NEW: ("new claim", "new claims"),
    GONE: ("claim gone", "claims gone"),
}


def summary_words(result: Diff) -> str:
    counts = result.count()
    words = [
        f"{counts[kind]} {_COUNTED[kind][counts[kind] != 1]}" for kind in KINDS if counts[kind]
    ]
    return ", ".join([*words, f"{result.unchanged} unchanged"])


def regressed_words(result: Diff) -> str:
    """``edge-1 (docker@edge-1: 3 claims), edge-2 (docker@edge-2: 1 claim)``, or ""."""
    return ", ".join(
        f"{name} ("
        + ", ".join(f"{runtime}: {n} claim{'s' if n != 1 else ''}" for runtime, n in counts.items())
        + ")"
        for (name, _), counts in result.regressed_on().items()
    )


def _names(pair: Pair) -> str:
    return pair.after if pair.before == pair.after else f"{pair.before} → {pair.after}"


def _value(value: str | None) -> str:
    return "(none)" if value is None else value


def diff_lines(result: Diff) -> list[str]:
    """The diff as plain text for a terminal: a line each, control characters shown."""
    lines = [
        f"before: {', '.join(result.before_sources)}",
        f"after:  {', '.join(result.after_sources)}",
    ]
    for key in ("kernel", "boot_id"):
        old, new = result.host_before.get(key), result.host_after.get(key)
        if old != new:
            lines.append(f"host {key}: {_value(old)} → {_value(new)}")
    for pair in result.pairs:
        if pair.environment:
            lines.append(f"{_names(pair)}:")
            lines += [
                f"  {c.field}: {_value(c.before)} → {_value(c.after)}" for c in pair.environment
            ]
        else:
            lines.append(f"{_names(pair)}: its environment is the same")
    if result.only_before:
        lines.append(f"runtimes only before: {', '.join(result.only_before)}")
    if result.only_after:
        lines.append(f"runtimes only after: {', '.join(result.only_after)}")
    if result.left_out:
        lines.append(f"left out by --host: {', '.join(result.left_out)}")
    for change in result.changes:
        lines.append(
            f"{change.kind.upper()} {change.claim} on {change.runtime}: "
            f"{change.before.verdict if change.before else '(none)'} → "
            f"{change.after.verdict if change.after else '(none)'}"
        )
        for label, side in (("before", change.before), ("after", change.after)):
            if side is not None and side.verdict != PASS:
                lines.append(f"    {label}: {side.reason or side.verdict} [{side.source}]")
    lines.append(summary_words(result))
    if result.count()[REGRESSION]:
        lines.append(f"regressed on: {regressed_words(result)}")
    return [printable(line, lines=False) for line in lines]


def render_diff_markdown(result: Diff) -> str:
    """The diff as Markdown for a job summary: the environment, then each change with the
    evidence of both sides folded away (``<details>``)."""
    regressed = result.count()[REGRESSION]
    lines = [
        "## Container claims: what moved"
        + (f" ({regressed} regression{'s' if regressed != 1 else ''})" if regressed else ""),
        "",
        f"before {', '.join(code(s, table=False) for s in result.before_sources)} · "
        f"after {', '.join(code(s, table=False) for s in result.after_sources)}",
        "",
        *([f"**Regressed on:** {text(regressed_words(result))}", ""] if regressed else []),
        "| runtime | what changed around it |",
        "|---|---|",
    ]
    for pair in result.pairs:
        changed = "<br>".join(
            f"{text(c.field)}: {code(_value(c.before))} → {code(_value(c.after))}"
            for c in pair.environment
        )
        lines.append(f"| {text(_names(pair))} | {changed or 'nothing'} |")
    for key in ("kernel", "boot_id"):
        old, new = result.host_before.get(key), result.host_after.get(key)
        if old != new:
            lines.append(f"| (host) | {text(key)}: {code(_value(old))} → {code(_value(new))} |")
    lines.append("")
    if result.only_before or result.only_after:
        lines += [
            f"Runtimes only before: {text(', '.join(result.only_before) or 'none')}; "
            f"only after: {text(', '.join(result.only_after) or 'none')}.",
            "",
        ]
    if result.left_out:
        lines += [f"Left out by `--host`: {text(', '.join(result.left_out))}.", ""]
    for kind in KINDS:
        changes = [c for c in result.changes if c.kind == kind]
        if not changes:
            continue
        lines += [f"### {_TITLES[kind]} ({len(changes)})", ""]
        for change in changes:
            lines.append(
                f"- {code(change.claim, table=False)} on **{text(change.runtime)}**: "
                f"{_verdict(change.before)} → {_verdict(change.after)}"
                + (f" — {text(change.says, 160)}" if change.says else "")
            )
            for label, side in (("before", change.before), ("after", change.after)):
                if side is None:
                    continue
                lines += [
                    "  <details><summary>"
                    f"{label}: {text(side.verdict)} in {text(side.source)}"
                    + (f": {text(side.reason, 200)}" if side.reason else "")
                    + "</summary>",
                    "",
                    *("  " + line for line in _fenced(_evidence_text(side))),
                    "",
                    "  </details>",
                ]
        lines.append("")
    lines += [f"_{summary_words(result)}._", ""]
    return "\n".join(lines)


def _verdict(side: Side | None) -> str:
    if side is None:
        return "(none)"
    return f"**{side.verdict.upper()}**" if side.verdict in (FAIL, ERROR) else side.verdict


def _evidence_text(side: Side, limit: int = 2000) -> str:
    """The checks and the steps of a side's evidence, as indented text, cut to ``limit``."""
    evidence = side.record.get("evidence")
    evidence = evidence if isinstance(evidence, Mapping) else {}
    parts = []
    if side.record.get("message"):
        parts.append(f"message: {printable(str(side.record['message']))}")
    for key in ("checks", "steps", "stopped"):
        if evidence.get(key):
            parts.append(f"{key}:\n{plain_text(evidence[key], '  ')}")
    return truncate("\n".join(parts) or "(no evidence recorded)", limit)


def _fenced(content: str) -> list[str]:
    """A fenced code block longer than any backtick run inside, so nothing escapes it."""
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", content)), default=0) + 1)
    return [fence, *content.split("\n"), fence]
