"""Why a cell is not a pass, in the words every report uses: its failing checks, or its message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from container_claims.report.results_file import items
from container_claims.report.text import last, one_line, printable, value_text
from container_claims.results import FAIL
from container_claims.scenario.model import OPERATOR_WORDS

if TYPE_CHECKING:  # the model names check_words and reason for its importers: no import back
    from container_claims.report.model import Cell


def failing_checks(cell: Cell) -> list[Mapping[str, Any]]:
    checks = items(cell.evidence.get("checks"))
    return [c for c in checks if isinstance(c, Mapping) and not c.get("ok", True)]


def check_words(check: Mapping[str, Any]) -> str:
    """``shell_pid equals``: what the check says of which observation."""
    op = str(check.get("op", ""))
    words = OPERATOR_WORDS.get(op, op.replace("_", " ")).rstrip(":")  # a colon follows anyway
    return f"{check.get('that', '?')} {words}".strip()


def reason(cell: Cell, limit: int = 160) -> str:
    """Why a cell is not a pass, in one line: the first failing check, or the message."""
    failing = failing_checks(cell)
    if cell.verdict == FAIL and failing:
        check = failing[0]
        expected = one_line(value_text(check.get("expected")), limit // 2)
        observed = one_line(value_text(check.get("observed")), limit // 2)
        more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
        return f"{check_words(check)}: expected {expected}, observed {observed}{more}"
    text = cell.message or str(cell.evidence.get("stopped") or "")
    return one_line(text, limit) if text.strip() else ""


#: Most characters of a step's stderr the terminal shows (its end); the JSON keeps it whole.
STDERR_SHOWN = 400


def step_stderr(evidence: Mapping[str, Any], limit: int = STDERR_SHOWN) -> list[tuple[Any, str]]:
    """The non-empty stderr of each step in the evidence (of its outcome, or of what an
    incomplete one gave so far), with the step's line: one line each, control characters
    shown, at most about ``limit`` characters from its end."""
    found = []
    for step in items(evidence.get("steps")):
        if not isinstance(step, Mapping):
            continue
        outcome = step.get("value") if "value" in step else step.get("partial")
        stderr = outcome.get("stderr") if isinstance(outcome, Mapping) else None
        if isinstance(stderr, str) and stderr.strip():
            found.append((step.get("line"), printable(last(stderr.strip(), limit), lines=False)))
    return found
