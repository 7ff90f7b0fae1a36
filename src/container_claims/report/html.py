"""The comparison as one self-contained HTML page: claims by runtimes, evidence a click away.

Everything the page needs is inside it (the stylesheet ``report.css`` and a few lines of
script are inlined; no fonts, images or scripts are fetched), so it can be attached to a CI
run or mailed. Each cell is a button that opens the cell's evidence as a popover panel (the
HTML ``popover`` attribute: keyboard-operable, closed with Escape, no script needed); a
browser without popovers shows the evidence inside the cell instead. The script only opens
the panel named in the URL's fragment: ``report.html#c-shell-is-pid-1--docker`` opens the
evidence of ``shell-is-pid-1`` on ``docker``.

The markup is in Jinja2 templates (``templates/``) with autoescape on: evidence is arbitrary
output of programs run in containers, so every text from a results file is escaped, and none
is ever compiled as a template. This module decides what the page shows (order, counts,
truncation) and hands the templates plain data.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from container_claims.report.machines import machine_words
from container_claims.report.model import Cell, Claim, Comparison, run_period
from container_claims.report.reasons import check_words, reason
from container_claims.report.results_file import items
from container_claims.report.text import plain_text, printable, truncate, value_text
from container_claims.report.verdict_words import VERDICT_WORDS
from container_claims.results import (
    ERROR,
    EXPECTED,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    UNEXPECTED,
    standing,
)

NOT_RUN = ("·", "not run")
#: The heading of a cell's message, by verdict; other verdicts just have a "Message".
MESSAGE_LABELS = {NOT_APPLICABLE: "Why not applicable", ERROR: "Why no verdict"}

#: Longest text shown for one value, step or transcript; the rest is counted, not shown.
MAX_TEXT = 20_000
#: Most runtimes in one table of the matrix. More make further tables of as many, each with
#: the claims that have a verdict there: the page grows with the verdicts it shows, never
#: with claims times runtimes (every claim on a runtime of its own).
RUNTIMES_PER_TABLE = 16
#: Most keys the runtimes table has columns for; more are left to the JSON, and said so.
MAX_RUNTIME_KEYS = 48


def render_html(comparison: Comparison, *, title: str = "Container claims") -> str:
    """The whole page as a string; write it with ``Path.write_text(..., encoding="utf-8")``."""
    ids = _CellIds()
    claims, runtimes = comparison.claims, list(comparison.runtimes)
    heading = f"{len(claims)} claim{_s(claims)} on {len(runtimes)} runtime{_s(runtimes)}"
    matrix = _matrix(comparison, ids)  # first: it gives the cells their ids, in the page's order
    return (
        _environment()
        .get_template("report.html")
        .render(
            title=title,
            # The package's own file, not data: CSS in <style> is raw text, where escaping
            # its quotes would break it.
            stylesheet=Markup(stylesheet()),
            header=_header(comparison, heading),
            runtimes=_runtimes_table(comparison),
            matrix=matrix,
            problems=_problems(comparison, ids),
            notes=_notes(comparison),
            sources=", ".join(source.name for source in comparison.sources) or "no results",
        )
    )


def stylesheet() -> str:
    return resources.files("container_claims.report").joinpath("report.css").read_text("utf-8")


def cell_id(claim: str, runtime: str) -> str:
    """The ``id`` of a cell's evidence panel, also its URL fragment: ``c-CLAIM--RUNTIME``."""
    return f"c-{_slug(claim)}--{_slug(runtime)}"


@functools.cache
def _environment() -> Environment:
    """One environment for all renders, so each template is compiled once."""
    return Environment(
        loader=PackageLoader("container_claims.report", "templates"),
        autoescape=True,
        finalize=_shown,  # every text the templates print: control characters shown
        undefined=StrictUndefined,  # a misspelt field fails the render, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _shown(value: Any) -> Any:
    """What a template prints, before it is escaped: text with its control characters shown
    (HTML would carry them raw: a page saved as text, or copied, would bring them along); the
    page's own markup (the stylesheet) as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return printable(value)
    return value


# -- what the templates get ---------------------------------------------------------------------


@dataclass(frozen=True)
class Badge:
    """A verdict as the reader sees it: a word, its glyph, and the class that colours it."""

    css: str
    glyph: str
    label: str


@dataclass(frozen=True)
class Count:
    css: str
    count: int
    label: str


@dataclass(frozen=True)
class Header:
    heading: str
    run: str
    kernel: str  # the host kernel when all results share one
    machine: str  # and its machine, when all share one too
    kernels: int
    totals: list[Count]


@dataclass(frozen=True)
class Code:
    text: str
    long: bool  # may wrap anywhere
    title: str = ""


@dataclass(frozen=True)
class Field:
    """One runtime's value of one key: missing, empty, or lines of code."""

    kind: Literal["missing", "none", "code"]
    codes: tuple[Code, ...] = ()


@dataclass(frozen=True)
class RuntimeRow:
    name: str
    totals: list[Count]
    fields: list[Field]
    sources: str  # "" when the page has a single source (and no such column)


@dataclass(frozen=True)
class RuntimesTable:
    plain: list[str]
    groups: list[tuple[str, int]]  # key and how many sub-keys
    subkeys: list[str]
    several: bool
    rows: list[RuntimeRow]
    left_out: str  # "" when every key has its column


@dataclass(frozen=True)
class Value:
    text: str
    empty: bool


@dataclass(frozen=True)
class Check:
    ok: bool
    words: str
    line: str
    expected: Value
    observed: Value


@dataclass(frozen=True)
class Step:
    line: str
    step: str
    saved: str
    took: str
    error: str | None
    value: str | None


@dataclass(frozen=True)
class Other:
    """The same claim on another runtime, a button away."""

    runtime: str
    badge: Badge
    target: str


@dataclass(frozen=True)
class ExpectationView:
    """What the expectations file says of a verdict: accepted, or no longer as it says."""

    label: str
    words: str
    where: str
    link: str


@dataclass(frozen=True)
class Evidence:
    """A cell's panel: why, the checks, the observations, the terminal transcript."""

    panel: str
    verdict: str
    claim: str
    runtime: str
    badge: Badge
    says: str
    expectation: ExpectationView | None
    facts: str
    others: list[Other]
    message_label: str
    message: str
    stopped: str
    checks: list[Check]
    steps: list[Step]
    transcript: str
    recorded: bool


@dataclass(frozen=True)
class CellView:
    claim: str
    runtime: str
    verdict: str  # "" when not run
    css: str
    badge: Badge
    panel: str
    hint: str
    evidence: Evidence | None  # None when not run


@dataclass(frozen=True)
class Row:
    id: str
    claim: str
    says: str
    where: str
    cells: list[CellView]


@dataclass(frozen=True)
class Column:
    name: str
    details: str
    versions: str


@dataclass(frozen=True)
class MatrixTable:
    """Claims by up to :data:`RUNTIMES_PER_TABLE` runtimes: the claims with a verdict there."""

    id: str
    width: int  # rem: room for the claims and every runtime, the page scrolls sideways
    span: int  # the runtimes' columns, at least one
    across: int  # every column: a section's heading spans the table
    columns: list[Column]
    sections: list[tuple[str, list[Row]]]


@dataclass(frozen=True)
class Matrix:
    legend: list[tuple[Badge, str]]
    tables: list[MatrixTable]


@dataclass(frozen=True)
class Problem:
    badge: Badge
    target: str
    claim: str
    runtime: str
    why: str


@dataclass(frozen=True)
class BadInput:
    where: str
    message: str
    source: str  # "" when the page has a single source


@dataclass(frozen=True)
class SourceRow:
    name: str
    started: str
    finished: str
    kernel: str
    machine: str


@dataclass(frozen=True)
class Notes:
    notes: list[str]
    input_errors: list[BadInput]
    sources: list[SourceRow]  # only when there are several


# -- header -------------------------------------------------------------------------------------


def _header(comparison: Comparison, heading: str) -> Header:
    kernels = sorted(
        {str(s.host.get("kernel")) for s in comparison.sources if s.host.get("kernel")}
    )
    machines = sorted({str(s.host["machine"]) for s in comparison.sources if s.host.get("machine")})
    one = len(kernels) == 1
    return Header(
        heading=heading,
        run=run_period(comparison),
        kernel=kernels[0] if one else "",
        machine=machines[0] if one and len(machines) == 1 else "",
        kernels=len(kernels),
        totals=_totals(comparison.totals()),
    )


def _totals(counts: Mapping[str, int]) -> list[Count]:
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


def _runtimes_table(comparison: Comparison) -> RuntimesTable | None:
    """A row per runtime with every key the results give for it, generically: kind, binary,
    run_args, env, then mappings (``version``, ``image``...) as groups of columns."""
    runtimes = comparison.runtimes
    if not runtimes:
        return None
    columns: dict[str, dict[str, None]] = {}  # key -> sub-keys (none for a plain value)
    count, left_out = 0, 0
    for info in runtimes.values():
        for key, value in info.items():
            if key == "name":
                continue
            if key not in columns:
                if count >= MAX_RUNTIME_KEYS:
                    left_out += 1
                    continue
                columns[key], count = {}, count + 1
            subs = columns[key]
            if isinstance(value, Mapping) and key != "env":
                for sub in map(str, value):
                    if sub in subs:
                        continue
                    if subs:  # a group's first sub-key takes the place of its plain column
                        if count >= MAX_RUNTIME_KEYS:
                            left_out += 1
                            continue
                        count += 1
                    subs[sub] = None
    plain = [key for key, subs in columns.items() if not subs]
    groups = [(key, list(found)) for key, found in columns.items() if found]
    several = len(comparison.sources) > 1
    totals = comparison.totals_by_runtime()
    sources_of = _sources_by_runtime(comparison) if several else {}
    rows = []
    for name, info in runtimes.items():
        fields = [_field(info[key]) if key in info else Field("missing") for key in plain]
        for key, keys in groups:
            value = info.get(key)
            mapping: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
            fields += [_field(mapping[sub]) if sub in mapping else Field("missing") for sub in keys]
        sources = (", ".join(sources_of.get(name, [])) or "—") if several else ""
        rows.append(RuntimeRow(name, _totals(totals[name]), fields, sources))
    return RuntimesTable(
        plain=plain,
        groups=[(key, len(subs)) for key, subs in groups],
        subkeys=[sub for _, subs in groups for sub in subs],
        several=several,
        rows=rows,
        left_out=f"{left_out} more key{'' if left_out == 1 else 's'} of the runtimes' "
        "records are left out here (they are in the results files)"
        if left_out
        else "",
    )


def _field(value: Any) -> Field:
    if value is None or value == "" or value == [] or value == {}:
        return Field("none")
    if isinstance(value, str) and re.fullmatch(r"sha256:[0-9a-f]{20,}", value):
        return Field("code", (Code(f"{value[:19]}…", False, title=value),))  # as docker shows ids
    if isinstance(value, Mapping) and all(isinstance(v, str | int | float) for v in value.values()):
        return Field("code", tuple(_code(f"{k}={v}") for k, v in value.items()))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return Field("code", (_code(shlex.join(value)),))
    return Field(
        "code", (_code(printable(value) if isinstance(value, str) else value_text(value)),)
    )


def _code(text: str) -> Code:
    """Short values stay on one line; long ones (paths, ids) may wrap anywhere."""
    return Code(text, len(text) > 32)


def _sources_by_runtime(comparison: Comparison) -> dict[str, list[str]]:
    """The files each runtime's verdicts come from, in the sources' order."""
    names: dict[str, set[str]] = {}
    for (_, runtime), cell in comparison.cells.items():
        names.setdefault(runtime, set()).add(cell.source.name)
    return {
        runtime: [source.name for source in comparison.sources if source.name in found]
        for runtime, found in names.items()
    }


# -- the matrix ---------------------------------------------------------------------------------


def _badge(verdict: str | None, standing: str = "") -> Badge:
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
        return Badge(f"{_css(verdict)} expected", glyph, f"{label} · expected")
    if standing == UNEXPECTED:
        return Badge(f"{_css(verdict)} unexpected", glyph, f"{label} · no longer as expected")
    return Badge(_css(verdict), glyph, label)


def _standing(cell: Cell) -> str:
    return standing(cell.record) or ""


def _css(verdict: str | None) -> str:
    return verdict if verdict in VERDICT_WORDS else "none"


def _matrix(comparison: Comparison, ids: _CellIds) -> Matrix:
    names = list(comparison.runtimes)
    blocks = [
        names[start : start + RUNTIMES_PER_TABLE]
        for start in range(0, len(names), RUNTIMES_PER_TABLE)
    ] or [[]]
    column = {name: index for index, name in enumerate(names)}
    tables_of: dict[str, set[int]] = {}  # claim -> the tables where it has a verdict
    for claim_id, runtime in comparison.cells:
        tables_of.setdefault(claim_id, set()).add(column[runtime] // RUNTIMES_PER_TABLE)
    # Each table's claims by section, in order: made in one pass over the claims.
    claims_in: list[dict[str, list[Claim]]] = [{} for _ in blocks]
    for section, claims in comparison.sections.items():
        for claim in claims:
            for number in sorted(tables_of.get(claim.id, ())):
                claims_in[number].setdefault(section, []).append(claim)
    return Matrix(
        legend=[(_badge(verdict), words.meaning) for verdict, words in VERDICT_WORDS.items()]
        + [(_badge(None), "no result for this claim on this runtime")]
        + (
            [
                (_badge(FAIL, EXPECTED), "a known deviation the expectations file accepts"),
                (_badge(PASS, UNEXPECTED), "no longer the verdict the expectations file says"),
            ]
            if any(cell.expectation for cell in comparison.cells.values())
            else []
        ),
        tables=[
            _table(comparison, block, number, claims_in[number - 1], ids)
            for number, block in enumerate(blocks, 1)
        ],
    )


def _table(
    comparison: Comparison,
    runtimes: list[str],
    number: int,
    claims: Mapping[str, list[Claim]],
    ids: _CellIds,
) -> MatrixTable:
    """Table ``number`` of the matrix: these runtimes, and the claims (by section) with a
    verdict on one of them (every claim, when the page has a single table)."""
    sections = [
        (section, [_row(comparison, claim, runtimes, number, ids) for claim in rows])
        for section, rows in claims.items()
    ]
    return MatrixTable(
        id="matrix" if number == 1 else f"matrix-{number}",
        width=22 + 14 * len(runtimes),
        span=max(len(runtimes), 1),
        across=len(runtimes) + 1,
        columns=[_column(name, comparison.runtimes[name]) for name in runtimes],
        sections=sections,
    )


def _column(name: str, info: Mapping[str, Any]) -> Column:
    details = [str(info["kind"])] if info.get("kind") else []
    run_args = info.get("run_args")
    if isinstance(run_args, list) and run_args:
        details.append(shlex.join(str(arg) for arg in run_args))
    where = machine_words(info)
    if where:
        details.append(where)
    version = info.get("version")
    versions = (
        " · ".join(f"{key} {value}" for key, value in version.items())
        if isinstance(version, Mapping)
        else ""
    )
    return Column(name, " ".join(details), versions)


def _row(
    comparison: Comparison, claim: Claim, runtimes: list[str], table: int, ids: _CellIds
) -> Row:
    row_id = ids.row(claim.id, table)
    cells = []
    for runtime in runtimes:
        cell = comparison.cell(claim.id, runtime)
        if cell is None:
            cells.append(CellView(claim.id, runtime, "", "none", _badge(None), "", "", None))
        else:
            cells.append(_cell(comparison, claim, runtime, cell, runtimes, ids))
    return Row(row_id, claim.id, claim.says, _claim_where(claim), cells)


def _claim_where(claim: Claim) -> str:
    """``from ARTICLE · FILE:LINE``, as far as the results tell."""
    file = f"{claim.file}:{claim.line}" if claim.line is not None else claim.file
    return " · ".join(
        part for part in (f"from {claim.origin}" if claim.origin else "", file) if part
    )


def _cell(
    comparison: Comparison,
    claim: Claim,
    runtime: str,
    cell: Cell,
    runtimes: list[str],
    ids: _CellIds,
) -> CellView:
    verdict = cell.verdict
    panel = ids.cell(claim.id, runtime)
    return CellView(
        claim=claim.id,
        runtime=runtime,
        verdict=verdict,
        css=f"{_css(verdict)} {_standing(cell)}".strip(),
        badge=_badge(verdict, _standing(cell)),
        panel=panel,
        hint=_t(f"expected: {cell.expectation.get('reason', '')}", 110)
        if cell.expected
        else reason(cell, limit=110)
        if verdict != PASS
        else "",
        evidence=_evidence(comparison, claim, runtime, cell, panel, runtimes, ids),
    )


def _evidence(
    comparison: Comparison,
    claim: Claim,
    runtime: str,
    cell: Cell,
    panel: str,
    runtimes: list[str],
    ids: _CellIds,
) -> Evidence:
    evidence = cell.evidence
    facts = [_claim_where(claim)] if claim.file or claim.origin else []
    duration = cell.record.get("scenario_duration_s")
    if isinstance(duration, int | float):
        facts.append(f"scenario took {duration:.2f} s")
    if len(comparison.sources) > 1:
        facts.append(f"from {cell.source.name}")
    others = [  # the runtimes of its own table: a panel is never as long as the whole row
        Other(name, _badge(other.verdict, _standing(other)), ids.cell(claim.id, name))
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
        badge=_badge(cell.verdict, _standing(cell)),
        says=claim.says,
        expectation=_expectation(cell),
        facts=" · ".join(facts),
        others=others,
        message_label=MESSAGE_LABELS.get(cell.verdict, "Message"),
        message=_t(cell.message),
        stopped=_t(str(evidence["stopped"])) if evidence.get("stopped") else "",
        checks=checks,
        steps=steps,
        transcript=_t(printable(transcript)) if transcript else "",
        recorded=bool(cell.message or checks or steps or transcript),
    )


def _expectation(cell: Cell) -> ExpectationView | None:
    entry = cell.expectation
    if not entry:
        return None
    link = str(entry.get("link") or "")
    return ExpectationView(
        label="Expected" if cell.expected else "No longer as expected: update the file",
        words=f"{entry.get('verdict', '?')}: {_t(str(entry.get('reason', '')))}",
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
    return Value(_t(value_text(value)), empty=False)


def _step(step: Mapping[str, Any]) -> Step:
    took = step.get("duration_s")
    return Step(
        line=f"line {step['line']}" if step.get("line") is not None else "",
        step=_t(printable(str(step.get("step", ""))), 400),
        saved=f" → {step['save']}" if step.get("save") else "",
        took=f" ({took:.2f} s)" if isinstance(took, int | float) else "",
        error=_t(str(step["error"])) if "error" in step else None,
        value=_t(plain_text(step["value"])) if "error" not in step and "value" in step else None,
    )


# -- failures, notes, sources --------------------------------------------------------------------


def _problems(comparison: Comparison, ids: _CellIds) -> list[Problem]:
    return [
        Problem(
            _badge(cell.verdict),
            ids.cell(claim.id, runtime),
            claim.id,
            runtime,
            reason(cell, limit=240),
        )
        for claim, runtime, cell in comparison.problems()
    ]


def _notes(comparison: Comparison) -> Notes:
    several = len(comparison.sources) > 1
    return Notes(
        notes=list(comparison.notes),
        input_errors=[
            BadInput(_where(error), str(error.get("message", "")), source.name if several else "")
            for source, error in comparison.input_errors
        ],
        sources=[
            SourceRow(
                s.name,
                s.started or "—",
                s.finished or "—",
                str(s.host.get("kernel", "—")),
                str(s.host.get("machine", "—")),
            )
            for s in comparison.sources
        ]
        if several
        else [],
    )


def _where(error: Mapping[str, Any]) -> str:
    file, line = error.get("file"), error.get("line")
    return f"{file}:{line}" if file and line is not None else str(file or "?")


# -- helpers ------------------------------------------------------------------------------------


class _CellIds:
    """Unique element ids for cells and rows, stable for the same claim and runtime names."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, str], str] = {}
        self._taken: set[str] = set()

    def cell(self, claim: str, runtime: str) -> str:
        return self._id(("cell", claim + "\0" + runtime), cell_id(claim, runtime))

    def row(self, claim: str, table: int = 1) -> str:
        if table == 1:
            return self._id(("row", claim), f"r-{_slug(claim)}")
        return self._id(("row", f"{claim}\0{table}"), f"r-{_slug(claim)}-{table}")

    def _id(self, key: tuple[str, str], wanted: str) -> str:
        if key not in self._given:
            given, number = wanted, 1
            while given in self._taken:
                number += 1
                given = f"{wanted}-{number}"
            self._given[key] = given
            self._taken.add(given)
        return self._given[key]


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _slug(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"_{ord(m.group()):x}_", text)


def _t(text: str, limit: int = MAX_TEXT) -> str:
    return truncate(text, limit)


def _s(items: Iterable[Any]) -> str:
    return "" if len(list(items)) == 1 else "s"
