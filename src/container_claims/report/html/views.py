"""What the page's templates get: plain data, decided here, escaped by the templates.

Every text in these records may come from a results file; the templates escape it (autoescape)
and show its control characters (see :func:`container_claims.report.html.page.render_html`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
    col: int = 0  # the runtime's column on the page: what hiding a column hides


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
    col: int = 0  # its number on the page, the same in every table
    family: str = ""


@dataclass(frozen=True)
class FamilyHead:
    """A family's name over its runtimes' columns in one table."""

    label: str
    span: int
    cols: str  # the columns it spans, as "3 4 5": hiding one narrows it


@dataclass(frozen=True)
class Family:
    """A family and its runtimes, each a box that shows or hides its column."""

    label: str
    columns: list[tuple[int, str]]  # (col, runtime)


@dataclass(frozen=True)
class SetAsideView:
    """A runtime that could not run: one line, never a column of errors."""

    name: str
    family: str
    where: str
    reason: str


@dataclass(frozen=True)
class MatrixTable:
    """Claims by up to :data:`RUNTIMES_PER_TABLE` runtimes: the claims with a verdict there."""

    id: str
    width: int  # rem: room for the claims and every runtime, the page scrolls sideways
    across: int  # every column: a section's heading spans the table
    columns: list[Column]
    sections: list[tuple[str, list[Row]]]
    families: list[FamilyHead]  # empty when the page has one family: no row of families


@dataclass(frozen=True)
class Matrix:
    claim_rem: int  # what a table's width is made of, for the script that hides columns
    runtime_rem: int
    legend: list[tuple[Badge, str]]
    tables: list[MatrixTable]
    families: list[Family]  # the boxes that show or hide columns, by family


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
