"""The matrix: claims by runtimes, in tables of a bounded number of runtimes, a cell each."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from container_claims.report.html.badges import badge, css_class, standing_of
from container_claims.report.html.evidence import claim_where, evidence_panel, shorten
from container_claims.report.html.ids import CellIds
from container_claims.report.html.views import (
    CellView,
    Column,
    Family,
    FamilyHead,
    Matrix,
    MatrixTable,
    Row,
)
from container_claims.report.layout import by_family, family_of
from container_claims.report.machines import machine_words
from container_claims.report.model import Cell, Claim, Comparison
from container_claims.report.reasons import reason
from container_claims.report.verdict_words import VERDICT_WORDS
from container_claims.results import EXPECTED, FAIL, PASS, UNEXPECTED

#: Most runtimes in one table of the matrix. More make further tables of as many, each with
#: the claims that have a verdict there: the page grows with the verdicts it shows, never
#: with claims times runtimes (every claim on a runtime of its own).
RUNTIMES_PER_TABLE = 16
#: The width a table asks for (rem): the claims' column and each runtime's; the page's script
#: narrows a table by a runtime's share when its column is hidden.
CLAIM_REM, RUNTIME_REM = 22, 14


def matrix_of(comparison: Comparison, ids: CellIds) -> Matrix:
    names = list(comparison.runtimes)
    families = by_family(names, comparison.runtimes)
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
        claim_rem=CLAIM_REM,
        runtime_rem=RUNTIME_REM,
        legend=[(badge(verdict), words.meaning) for verdict, words in VERDICT_WORDS.items()]
        + [(badge(None), "no result for this claim on this runtime")]
        + (
            [
                (badge(FAIL, EXPECTED), "a known deviation the expectations file accepts"),
                (badge(PASS, UNEXPECTED), "no longer the verdict the expectations file says"),
            ]
            if any(cell.expectation for cell in comparison.cells.values())
            else []
        ),
        tables=[
            _table(comparison, block, number, claims_in[number - 1], ids, column, len(families) > 1)
            for number, block in enumerate(blocks, 1)
        ],
        families=[
            Family(label, [(column[name], name) for name in members]) for label, members in families
        ],
    )


def _table(
    comparison: Comparison,
    runtimes: list[str],
    number: int,
    claims: Mapping[str, list[Claim]],
    ids: CellIds,
    column: Mapping[str, int],
    grouped: bool,
) -> MatrixTable:
    """Table ``number`` of the matrix: these runtimes, and the claims (by section) with a
    verdict on one of them (every claim, when the page has a single table); with
    ``grouped``, a row of family names over the runtimes' names."""
    sections = [
        (section, [_row(comparison, claim, runtimes, number, ids, column) for claim in rows])
        for section, rows in claims.items()
    ]
    return MatrixTable(
        id="matrix" if number == 1 else f"matrix-{number}",
        width=CLAIM_REM + RUNTIME_REM * len(runtimes),
        across=len(runtimes) + 1,
        columns=[_column(name, comparison.runtimes[name], column[name]) for name in runtimes],
        sections=sections,
        families=[
            FamilyHead(label, len(members), " ".join(str(column[name]) for name in members))
            for label, members in by_family(runtimes, comparison.runtimes)
        ]
        if grouped
        else [],
    )


def _column(name: str, info: Mapping[str, Any], col: int) -> Column:
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
    return Column(name, " ".join(details), versions, col, family_of(info))


def _row(
    comparison: Comparison,
    claim: Claim,
    runtimes: list[str],
    table: int,
    ids: CellIds,
    column: Mapping[str, int],
) -> Row:
    row_id = ids.row(claim.id, table)
    cells = []
    for runtime in runtimes:
        cell = comparison.cell(claim.id, runtime)
        if cell is None:
            cells.append(
                CellView(claim.id, runtime, "", "none", badge(None), "", "", None, column[runtime])
            )
        else:
            cells.append(_cell(comparison, claim, runtime, cell, runtimes, ids, column[runtime]))
    return Row(row_id, claim.id, claim.says, claim_where(claim), cells)


def _cell(
    comparison: Comparison,
    claim: Claim,
    runtime: str,
    cell: Cell,
    runtimes: list[str],
    ids: CellIds,
    col: int,
) -> CellView:
    verdict = cell.verdict
    panel = ids.cell(claim.id, runtime)
    return CellView(
        claim=claim.id,
        runtime=runtime,
        verdict=verdict,
        css=f"{css_class(verdict)} {standing_of(cell)}".strip(),
        badge=badge(verdict, standing_of(cell)),
        panel=panel,
        hint=shorten(f"expected: {cell.expectation.get('reason', '')}", 110)
        if cell.expected
        else reason(cell, limit=110)
        if verdict != PASS
        else "",
        evidence=evidence_panel(comparison, claim, runtime, cell, panel, runtimes, ids),
        col=col,
    )
