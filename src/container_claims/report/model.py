"""One comparison made from one or more results files: claims (rows) by runtimes (columns).

Reports read results files (what ``run --json`` writes) and never the plugin's objects, so a
report can be made later, on another machine, or from several runs merged
(:mod:`container_claims.report.merge` makes the comparison)::

    comparison = load_comparison([Path("docker.json"), Path("podman.json")])
    comparison.cell("shell-is-pid-1", "podman").verdict   # "pass"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from container_claims.results import ERROR, EXPECTED, FAIL, UNEXPECTED, standing

__all__ = [
    "NO_SECTION",
    "Cell",
    "Claim",
    "Comparison",
    "SetAside",
    "Source",
    "run_period",
]

NO_SECTION = "(no section)"


@dataclass(frozen=True)
class Source:
    """A results file (or the run that just finished) that the comparison was made from."""

    name: str
    started: str | None
    finished: str | None
    host: Mapping[str, Any]
    transcripts: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Claim:
    """A row: the claim's id, the article's words paraphrased, and where the claim is written."""

    id: str
    says: str
    section: str
    file: str
    line: int | None
    origin: str = ""  # the article or manual it comes from: its scenario's ``source``


@dataclass(frozen=True)
class Cell:
    """One claim on one runtime: its result record and the source it came from."""

    record: Mapping[str, Any]
    source: Source

    @property
    def verdict(self) -> str:
        return str(self.record["verdict"])

    @property
    def evidence(self) -> Mapping[str, Any]:
        evidence = self.record.get("evidence")
        return evidence if isinstance(evidence, Mapping) else {}

    @property
    def message(self) -> str:
        return str(self.record.get("message") or "")

    @property
    def expectation(self) -> Mapping[str, Any]:
        """What an expectations file (``run --expect``) said of this verdict: ``status``
        expected or unexpected, the entry's ``verdict``, ``reason``, ``where``; or empty."""
        expectation = self.record.get("expectation")
        return expectation if isinstance(expectation, Mapping) else {}

    @property
    def expected(self) -> bool:
        return standing(self.record) == EXPECTED

    @property
    def unexpected(self) -> bool:
        return standing(self.record) == UNEXPECTED

    @property
    def transcript(self) -> str:
        """The terminal transcript the verdict rests on: kept once per scenario in its file
        (``transcript_ref``), or inline in results files of earlier versions."""
        inline = self.evidence.get("transcript")
        if isinstance(inline, str):
            return inline
        ref = self.evidence.get("transcript_ref")
        return str(self.source.transcripts.get(ref, "")) if isinstance(ref, str) else ""


@dataclass(frozen=True)
class SetAside:
    """A runtime that could not run, shown as one line: its name, family, why, and where
    (``on edge-1 (ssh://...)``, or "" for this machine)."""

    name: str
    family: str
    reason: str
    where: str = ""

    def line(self) -> str:
        """``podman-rootless (Podman) could not run: 'podman' is not an executable on PATH``"""
        where = f" {self.where}" if self.where else " here"
        return f"{self.name} ({self.family}) could not run{where}: {self.reason}"


@dataclass
class Comparison:
    """Claims by runtimes, with what is known about each runtime and each source."""

    sources: list[Source] = field(default_factory=list)
    runtimes: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    sections: dict[str, list[Claim]] = field(default_factory=dict)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    input_errors: list[tuple[Source, Mapping[str, Any]]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # runtimes --host left out
    #: Runtimes that could not run, shown as a line each, not as columns (see
    #: :func:`container_claims.report.layout.as_shown`).
    set_aside: list[SetAside] = field(default_factory=list)

    @property
    def claims(self) -> list[Claim]:
        return [claim for claims in self.sections.values() for claim in claims]

    def cell(self, claim: str, runtime: str) -> Cell | None:
        return self.cells.get((claim, runtime))

    def problems(self) -> Iterator[tuple[Claim, str, Cell]]:
        """The cells that fail the run, in the matrix's order: failed or could not be observed
        (unless as expected), or no longer as expected."""
        for claim, runtime, cell in self._cells():
            if cell.unexpected or (cell.verdict in (FAIL, ERROR) and not cell.expected):
                yield claim, runtime, cell

    def expected(self) -> Iterator[tuple[Claim, str, Cell]]:
        """The cells whose fail or error an expectations file accepts, in the matrix's order."""
        for claim, runtime, cell in self._cells():
            if cell.expected:
                yield claim, runtime, cell

    def in_order(self) -> list[tuple[Claim, str, Cell]]:
        """Every cell in the matrix's order (rows, then columns), found in time that grows
        with the cells, not with claims times runtimes (most of which may be empty)."""
        rows = {claim.id: (number, claim) for number, claim in enumerate(self.claims)}
        columns = {runtime: number for number, runtime in enumerate(self.runtimes)}
        ordered = sorted(
            self.cells.items(),
            key=lambda item: (rows[item[0][0]][0], columns.get(item[0][1], len(columns))),
        )
        return [
            (rows[claim][1], runtime, cell)
            for (claim, runtime), cell in ordered
            if runtime in columns
        ]

    def _cells(self) -> Iterator[tuple[Claim, str, Cell]]:
        yield from self.in_order()

    def totals(self, runtime: str | None = None) -> Counter[str]:
        """Verdict counts of one runtime's column, or of the whole matrix; a verdict that is
        as expected counts apart, under ``expected``."""
        return Counter(
            EXPECTED if cell.expected else cell.verdict
            for (_, name), cell in self.cells.items()
            if runtime in (None, name)
        )

    def totals_by_runtime(self) -> dict[str, Counter[str]]:
        """:meth:`totals` of every runtime at once, in one pass over the cells."""
        counts: dict[str, Counter[str]] = {name: Counter() for name in self.runtimes}
        for (_, name), cell in self.cells.items():
            counts.setdefault(name, Counter())[EXPECTED if cell.expected else cell.verdict] += 1
        return counts

    def records(self) -> list[Mapping[str, Any]]:
        """The winning records in the matrix's order: rows, then columns."""
        return [cell.record for _, _, cell in self.in_order()]

    def to_results(self) -> dict[str, Any]:
        """The merged results in the shape of a results file (what ``summary_lines`` reads).

        Every record has its row's section and its claim's wording, also when its file lacked them.
        """
        rows = {claim.id: claim for claim in self.claims}
        return {
            "runtimes": [dict(info) for info in self.runtimes.values()],
            "results": [
                {
                    **record,
                    "section": rows[record["claim"]].section,
                    "says": rows[record["claim"]].says,
                }
                for record in self.records()
            ],
        }


def run_period(comparison: Comparison) -> str:
    """When the results were made: ``2026-11-23 18:19 – 18:21 UTC``, or as the files say."""
    times = [t for s in comparison.sources for t in (s.started, s.finished) if t]
    parsed = [_parse_time(t) for t in times]
    if not parsed:
        return ""
    if any(p is None for p in parsed) or len({p.tzinfo is None for p in parsed if p}) > 1:
        return f"{times[0]} – {times[-1]}" if len(times) > 1 else times[0]
    known = sorted(p for p in parsed if p is not None)
    first, last = known[0], known[-1]
    zone = first.tzname() or ""
    zone = "UTC" if zone in ("UTC", "UTC+00:00") else zone
    start = first.strftime("%Y-%m-%d %H:%M")
    end = last.strftime("%H:%M" if last.date() == first.date() else "%Y-%m-%d %H:%M")
    return f"{start} – {end} {zone}".strip() if end != start else f"{start} {zone}".strip()


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
