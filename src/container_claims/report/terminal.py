"""The short matrix printed at the end of a run: claims (rows) by runtimes (columns)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from container_claims.report.text import printable
from container_claims.report.verdict_words import VERDICT_WORDS
from container_claims.results import EXPECTED, UNEXPECTED, standing


def cut(text: str, width: int) -> str:
    """A matrix cell: one line, control characters shown, at most ``width`` characters (the
    last an ellipsis when it was longer)."""
    shown = printable(str(text)[: width * 8], lines=False)  # an escape shows in at most 6
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def symbol(record: Mapping[str, Any]) -> str:
    """A record's verdict in the matrix, marked when an expectations file speaks of it."""
    verdict, status = str(record["verdict"]), standing(record)
    words = VERDICT_WORDS.get(verdict)
    if words is None:
        return verdict
    if status == EXPECTED:
        return words.terminal_expected or verdict
    if status == UNEXPECTED:
        return words.terminal_unexpected or verdict
    return words.terminal


#: Widest a claim id, a runtime's name and a section's name are shown in the matrix; longer
#: ones are cut, with an ellipsis (the JSON has them whole). The catalogue's longest id is 39.
CLAIM_WIDTH, RUNTIME_WIDTH, SECTION_WIDTH = 48, 24, 100
#: Most runtimes side by side: more are shown in further blocks of as many columns, each
#: with the claims that have a verdict there. A row is printed for a verdict it shows, so
#: the matrix grows with the verdicts, never with claims times runtimes.
RUNTIMES_PER_BLOCK = 8


def summary_lines(results: dict[str, Any]) -> list[str]:
    """Rows of claims grouped by section (in the scenarios' order), a column per runtime.

    Every line is bounded: claim ids, runtime names and sections are cut to a fixed width
    (:func:`cut`), and the runtimes come :data:`RUNTIMES_PER_BLOCK` at a time."""
    records = results["results"]
    runtimes = list(dict.fromkeys(r["runtime"] for r in records))
    cells = {(r["claim"], r["runtime"]): symbol(r) for r in records}
    sections: dict[str, dict[str, None]] = {}  # section -> its claims, in order
    for record in records:
        sections.setdefault(record["section"], {})[record["claim"]] = None
    first = max([len("claim"), *(len(cut(claim, CLAIM_WIDTH)) for claim, _ in cells)]) + 4
    column = {name: index for index, name in enumerate(runtimes)}
    blocks_of: dict[str, set[int]] = {}  # claim -> the blocks where it has a verdict
    for claim, runtime in cells:
        blocks_of.setdefault(claim, set()).add(column[runtime] // RUNTIMES_PER_BLOCK)
    # Each block's rows by section, in order: made in one pass over the claims.
    rows: list[dict[str, list[str]]] = [{} for _ in range(0, len(runtimes), RUNTIMES_PER_BLOCK)]
    for section, claims in sections.items():
        for claim in claims:
            for number in sorted(blocks_of[claim]):
                rows[number].setdefault(section, []).append(claim)
    lines = []
    for start in range(0, len(runtimes), RUNTIMES_PER_BLOCK):
        block = runtimes[start : start + RUNTIMES_PER_BLOCK]
        names = [cut(name, RUNTIME_WIDTH) for name in block]
        widths = [max(len(name), 5) + 2 for name in names]
        lines.append(
            "claim".ljust(first) + "".join(n.ljust(w) for n, w in zip(names, widths, strict=True))
        )
        for section, shown in rows[start // RUNTIMES_PER_BLOCK].items():
            lines.append(f"{cut(section, SECTION_WIDTH)}:")
            for claim in shown:
                row = "".join(
                    cut(cells.get((claim, rt), "-"), RUNTIME_WIDTH).ljust(w)
                    for rt, w in zip(block, widths, strict=True)
                )
                lines.append(f"  {cut(claim, CLAIM_WIDTH)}".ljust(first) + row)
    counts = Counter(r["verdict"] for r in records)
    expected = Counter(r["verdict"] for r in records if standing(r) == EXPECTED)
    unexpected = sum(1 for r in records if standing(r) == UNEXPECTED)
    totals = [
        f"{counts[v] - expected[v]} {v}"
        + (f" (and {expected[v]} as expected)" if expected[v] else "")
        if counts[v] - expected[v]
        else f"{expected[v]} {v} as expected"
        for v in VERDICT_WORDS
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
