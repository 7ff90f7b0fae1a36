"""A cell's evidence panel: why, the checks, the observations, the terminal transcript."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from container_claims.report.html.badges import badge, standing_of
from container_claims.report.html.ids import CellIds
from container_claims.report.html.views import Check, Evidence, ExpectationView, Other, Step, Value
from container_claims.report.model import Cell, Claim, Comparison
from container_claims.report.reasons import check_words
from container_claims.report.results_file import items
from container_claims.report.text import plain_text, printable, truncate, value_text
from container_claims.results import ERROR, NOT_APPLICABLE

#: The heading of a cell's message, by verdict; other verdicts just have a "Message".
MESSAGE_LABELS = {NOT_APPLICABLE: "Why not applicable", ERROR: "Why no verdict"}

#: Longest text shown for one value, step or transcript; the rest is counted, not shown.
MAX_TEXT = 20_000


def claim_where(claim: Claim) -> str:
    """``from ARTICLE · FILE:LINE``, as far as the results tell."""
    file = f"{claim.file}:{claim.line}" if claim.line is not None else claim.file
    return " · ".join(
        part for part in (f"from {claim.origin}" if claim.origin else "", file) if part
    )


def evidence_panel(
    comparison: Comparison,
    claim: Claim,
    runtime: str,
    cell: Cell,
    panel: str,
    runtimes: list[str],
    ids: CellIds,
) -> Evidence:
    evidence = cell.evidence
    facts = [claim_where(claim)] if claim.file or claim.origin else []
    duration = cell.record.get("scenario_duration_s")
    if isinstance(duration, int | float):
        facts.append(f"scenario took {duration:.2f} s")
    if len(comparison.sources) > 1:
        facts.append(f"from {cell.source.name}")
    others = [  # the runtimes of its own table: a panel is never as long as the whole row
        Other(name, badge(other.verdict, standing_of(other)), ids.cell(claim.id, name))
        for name in runtimes
        if name != runtime and (other := comparison.cell(claim.id, name)) is not None
    ]
    checks = [_check(c) for c in items(evidence.get("checks")) if isinstance(c, Mapping)]
    steps = [_step(s) for s in items(evidence.get("steps")) if isinstance(s, Mapping)]
    transcript = cell.transcript
    return Evidence(
        panel=panel,
        verdict=cell.verdict,
        claim=claim.id,
        runtime=runtime,
        badge=badge(cell.verdict, standing_of(cell)),
        says=claim.says,
        expectation=_expectation(cell),
        facts=" · ".join(facts),
        others=others,
        message_label=MESSAGE_LABELS.get(cell.verdict, "Message"),
        message=shorten(cell.message),
        stopped=shorten(str(evidence["stopped"])) if evidence.get("stopped") else "",
        checks=checks,
        steps=steps,
        transcript=shorten(printable(transcript)) if transcript else "",
        recorded=bool(cell.message or checks or steps or transcript),
    )


def _expectation(cell: Cell) -> ExpectationView | None:
    entry = cell.expectation
    if not entry:
        return None
    link = str(entry.get("link") or "")
    return ExpectationView(
        label="Expected" if cell.expected else "No longer as expected: update the file",
        words=f"{entry.get('verdict', '?')}: {shorten(str(entry.get('reason', '')))}",
        where=str(entry.get("where", "")),
        # Only a web address becomes a link (the expectations loader allows no other).
        link=link if link.startswith(("https://", "http://")) else "",
    )


def _check(check: Mapping[str, Any]) -> Check:
    return Check(
        ok=bool(check.get("ok")),
        words=check_words(check),
        line=str(check["line"]) if check.get("line") else "",
        expected=_value(check.get("expected")),
        observed=_value(check.get("observed")),
    )


def _value(value: Any) -> Value:
    if value == "":
        return Value("", empty=True)
    return Value(shorten(value_text(value)), empty=False)


def _step(step: Mapping[str, Any]) -> Step:
    took = step.get("duration_s")
    return Step(
        line=f"line {step['line']}" if step.get("line") is not None else "",
        step=shorten(printable(str(step.get("step", ""))), 400),
        saved=f" → {step['save']}" if step.get("save") else "",
        took=f" ({took:.2f} s)" if isinstance(took, int | float) else "",
        error=shorten(str(step["error"])) if "error" in step else None,
        value=shorten(plain_text(step["value"]))
        if "error" not in step and "value" in step
        else None,
    )


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    return truncate(text, limit)
