"""A verdict as the page shows it: a badge (word, glyph, colour) and counts of verdicts."""

from __future__ import annotations

from collections.abc import Mapping

from container_claims.report.html.views import Badge, Count
from container_claims.report.model import Cell
from container_claims.report.verdict_words import VERDICT_WORDS
from container_claims.results import EXPECTED, UNEXPECTED, standing

NOT_RUN = ("·", "not run")


def badge(verdict: str | None, standing: str = "") -> Badge:
    """A verdict's badge; ``standing`` is what an expectations file says of it (its status:
    expected, or no longer as expected), shown in words, not by colour alone."""
    words = VERDICT_WORDS.get(verdict or "")
    glyph, label = (
        (words.glyph, words.label)
        if words
        else NOT_RUN
        if verdict is None
        else ("?", verdict or "")
    )
    if standing == EXPECTED:
        return Badge(f"{css_class(verdict)} expected", glyph, f"{label} · expected")
    if standing == UNEXPECTED:
        return Badge(f"{css_class(verdict)} unexpected", glyph, f"{label} · no longer as expected")
    return Badge(css_class(verdict), glyph, label)


def standing_of(cell: Cell) -> str:
    return standing(cell.record) or ""


def css_class(verdict: str | None) -> str:
    return verdict if verdict in VERDICT_WORDS else "none"


def verdict_counts(counts: Mapping[str, int]) -> list[Count]:
    shown = [
        Count(verdict, counts[verdict], words.label)
        for verdict, words in VERDICT_WORDS.items()
        if counts.get(verdict)
    ]
    if counts.get(EXPECTED):
        shown.append(Count("fail expected", counts[EXPECTED], "as expected"))
    return shown + [
        Count("none", count, verdict)
        for verdict, count in counts.items()
        if verdict not in (*VERDICT_WORDS, EXPECTED) and count
    ]
