"""The short matrix printed at the end of a run: claims (rows) by runtimes (columns)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from container_claims.report.model import printable
from container_claims.results import (
    ERROR,
    EXPECTED,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    UNEXPECTED,
    standing,
)

SYMBOLS = {PASS: "pass", FAIL: "FAIL", NOT_APPLICABLE: "n/a", ERROR: "ERROR"}
#: A verdict the expectations file accepts, in pytest's words (xfail) and lower case: known.
EXPECTED_SYMBOLS = {FAIL: "xfail", ERROR: "xerror"}
#: A verdict no longer the one its entry accepts: pytest's strict XPASS, or the verdict marked.
UNEXPECTED_SYMBOLS = {PASS: "XPASS", NOT_APPLICABLE: "n/a!", FAIL: "FAIL!", ERROR: "ERROR!"}


def _shown(text: str) -> str:
    """A matrix cell: one line, control characters shown."""
    return printable(str(text), lines=False)


def symbol(record: Mapping[str, Any]) -> str:
    """A record's verdict in the matrix, marked when an expectations file speaks of it."""
    verdict, status = str(record["verdict"]), standing(record)
    if status == EXPECTED:
        return EXPECTED_SYMBOLS.get(verdict, verdict)
    if status == UNEXPECTED:
        return UNEXPECTED_SYMBOLS.get(verdict, verdict)
    return SYMBOLS.get(verdict, verdict)


def summary_lines(results: dict[str, Any]) -> list[str]:
    """Rows of claims grouped by section (in the scenarios' order), a column per runtime."""
    records = results["results"]
    runtimes = list(dict.fromkeys(r["runtime"] for r in records))
    cells = {(r["claim"], r["runtime"]): symbol(r) for r in records}
    sections: dict[str, list[str]] = {}
    for record in records:
        claims = sections.setdefault(record["section"], [])
        if record["claim"] not in claims:
            claims.append(record["claim"])
    names = [_shown(name) for name in runtimes]
    first = max([len("claim"), *(len(_shown(claim)) for claim, _ in cells)]) + 4
    widths = [max(len(name), 5) + 2 for name in names]
    lines = ["claim".ljust(first) + "".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    for section, claims in sections.items():
        lines.append(f"{_shown(section)}:")
        for claim in claims:
            row = "".join(
                _shown(cells.get((claim, rt), "-")).ljust(w)
                for rt, w in zip(runtimes, widths, strict=True)
            )
            lines.append(f"  {_shown(claim)}".ljust(first) + row)
    counts = Counter(r["verdict"] for r in records)
    expected = Counter(r["verdict"] for r in records if standing(r) == EXPECTED)
    unexpected = sum(1 for r in records if standing(r) == UNEXPECTED)
    totals = [
        f"{counts[v] - expected[v]} {v}"
        + (f" (and {expected[v]} as expected)" if expected[v] else "")
        if counts[v] - expected[v]
        else f"{expected[v]} {v} as expected"
        for v in SYMBOLS
        if counts[v]
    ]
    if unexpected:
        totals.append(f"{unexpected} no longer as expected")
    lines.append(", ".join(totals))
    if expected or unexpected:
        lines.append(
            "xfail, xerror: as the expectations file says; XPASS, FAIL!, ERROR!, n/a!: "
            "no longer as expected (update the file)"
        )
    return lines


def expectation_lines(results: Mapping[str, Any]) -> list[str]:
    """What the run says of its expectations files: claims no longer as expected, with the
    entry to update, and entries that matched nothing (stale)."""
    lines = []
    for record in results.get("results", []):
        if standing(record) == UNEXPECTED:
            entry = record["expectation"]
            lines.append(
                f"no longer as expected: {record['claim']} on {record['runtime']} gave "
                f"{record['verdict']}, {entry['where']} expects {entry['verdict']}: update the file"
            )
    stale = (results.get("expectations") or {}).get("stale") or []
    if stale:
        lines.append(
            f"{len(stale)} expectation entr{'y' if len(stale) == 1 else 'ies'} matched nothing "
            "in this run (stale: a renamed claim, or a runtime not run):"
        )
        lines += [f"  {s['where']}: {s['runtime']} / {s['claim']}: {s['why']}" for s in stale]
    return [printable(line, lines=False) for line in lines]
