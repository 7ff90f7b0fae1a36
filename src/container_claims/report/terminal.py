"""The short matrix printed at the end of a run: claims (rows) by runtimes (columns).

No line is wider than the terminal (or :data:`NO_TERMINAL_WIDTH` without one): runtimes
grouped by family, named over their columns when they fit, else numbered with a legend, and
in further blocks when even numbers do not fit beside the claims."""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from container_claims.report.layout import by_family, set_aside
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
#: Width of the matrix when the output is no terminal (a CI log) and ``COLUMNS`` is unset.
NO_TERMINAL_WIDTH = 120
#: The narrowest width laid out: a claim cut short and one verdict still fit.
MIN_WIDTH = 40
#: Narrowest a claim id is cut to before the runtimes go into further blocks.
CLAIM_MIN_WIDTH = 24


def terminal_width() -> int:
    """The terminal's width (``COLUMNS`` first, as :func:`shutil.get_terminal_size` reads
    it), or :data:`NO_TERMINAL_WIDTH` when the output is no terminal."""
    return shutil.get_terminal_size((NO_TERMINAL_WIDTH, 24)).columns


@dataclass(frozen=True)
class _Layout:
    first: int  # the claim column, with its indent and gap
    widths: dict[str, int]  # each runtime's column
    heads: dict[str, str]  # each runtime's header: its name, or its number in the legend
    numbered: bool  # the headers are numbers: a legend names them
    blocks: list[list[str]]  # runtimes side by side, each block as wide as the line allows


def _layout(
    runtimes: list[str], claims: Iterable[str], symbols: Iterable[str], width: int
) -> _Layout:
    """Columns that fit ``width``: the runtimes' names as headers when all fit on one line, or
    when names are no wider than numbers; else numbers, named in a legend. Whatever does not
    fit beside the claims goes into further blocks."""
    natural = max([len("claim"), *(len(cut(claim, CLAIM_WIDTH)) for claim in claims)]) + 4
    verdict = max([5, *map(len, symbols)])
    names = {name: cut(name, RUNTIME_WIDTH) for name in runtimes}
    named = {name: max(len(shown), verdict) + 2 for name, shown in names.items()}
    numbers = {name: str(number) for number, name in enumerate(runtimes, 1)}
    numbered = max(verdict, len(str(len(runtimes)))) + 2
    by_number = not (
        natural + sum(named.values()) <= width or max(named.values(), default=0) <= numbered
    )
    heads, widths = (numbers, dict.fromkeys(runtimes, numbered)) if by_number else (names, named)
    total = sum(widths.values())
    first = (
        natural
        if natural + total <= width
        else max(min(natural, CLAIM_MIN_WIDTH + 4), width - total)
    )
    first = min(first, width - max(widths.values(), default=0))
    blocks: list[list[str]] = []
    used = width  # a new block first
    for name in runtimes:
        if used + widths[name] > width:
            blocks.append([])
            used = first
        blocks[-1].append(name)
        used += widths[name]
    return _Layout(first, widths, heads, by_number, blocks)


def summary_lines(results: Mapping[str, Any], width: int | None = None) -> list[str]:
    """Rows of claims grouped by section (in the scenarios' order), a column per runtime,
    runtimes grouped by family; no line wider than ``width`` (default: the terminal's,
    :func:`terminal_width`).

    Every line is bounded: claim ids, runtime names and sections are cut (:func:`cut`), the
    runtimes come in blocks as wide as the line, and a runtime that could not run is one line
    saying why (:func:`~container_claims.report.layout.set_aside`), not a column of errors."""
    width = max(width or terminal_width(), MIN_WIDTH)
    infos = {
        str(info["name"]): info
        for info in results.get("runtimes", [])
        if isinstance(info, Mapping) and isinstance(info.get("name"), str)
    }
    records = results["results"]
    aside = set_aside(infos, ((r["runtime"], r["verdict"]) for r in records))
    gone = {runtime.name for runtime in aside}
    shown = [r for r in records if r["runtime"] not in gone]
    families = by_family(dict.fromkeys(r["runtime"] for r in shown), infos)
    runtimes = [name for _, names in families for name in names]
    family = {name: label for label, names in families for name in names}
    cells = {(r["claim"], r["runtime"]): symbol(r) for r in shown}
    sections: dict[str, dict[str, None]] = {}  # section -> its claims, in order
    for record in shown:
        sections.setdefault(record["section"], {})[record["claim"]] = None
    layout = _layout(runtimes, (claim for claim, _ in cells), cells.values(), width)
    first, claim_width = layout.first, max(layout.first - 4, 1)
    block_of = {name: number for number, block in enumerate(layout.blocks) for name in block}
    blocks_of: dict[str, set[int]] = {}  # claim -> the blocks where it has a verdict
    for claim, runtime in cells:
        blocks_of.setdefault(claim, set()).add(block_of[runtime])
    # Each block's rows by section, in order: made in one pass over the claims.
    rows: list[dict[str, list[str]]] = [{} for _ in layout.blocks]
    for section, claims in sections.items():
        for claim in claims:
            for number in sorted(blocks_of[claim]):
                rows[number].setdefault(section, []).append(claim)
    lines = []
    if layout.numbered:
        lines += _legend(families, layout.heads, width)
    several = len(families) > 1
    for number, block in enumerate(layout.blocks):
        widths = [layout.widths[name] for name in block]
        if several:
            lines.append(_family_row(block, family, layout.widths, first))
        lines.append(
            "claim".ljust(first)
            + "".join(layout.heads[name].ljust(w) for name, w in zip(block, widths, strict=True))
        )
        for section, in_block in rows[number].items():
            lines.append(f"{cut(section, min(SECTION_WIDTH, width - 1))}:")
            for claim in in_block:
                row = "".join(
                    cut(cells.get((claim, rt), "-"), w - 1).ljust(w)
                    for rt, w in zip(block, widths, strict=True)
                )
                lines.append(f"  {cut(claim, claim_width)}".ljust(first) + row)
    lines += [cut(runtime.line(), width) for runtime in aside]
    counts = Counter(r["verdict"] for r in shown)
    expected = Counter(r["verdict"] for r in shown if standing(r) == EXPECTED)
    unexpected = sum(1 for r in shown if standing(r) == UNEXPECTED)
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
    lines += textwrap.wrap(", ".join(totals), width) if totals else [""]
    if expected or unexpected:
        lines += textwrap.wrap(
            "xfail, xerror: as the expectations file says; XPASS, FAIL!, ERROR!, n/a!: "
            "no longer as expected (update the file)",
            width,
        )
    return lines


def _legend(
    families: list[tuple[str, list[str]]], heads: Mapping[str, str], width: int
) -> list[str]:
    """What the numbers over the columns stand for, a family a paragraph."""
    lines = []
    for label, names in families:
        entries = [f"{heads[name]} {cut(name, RUNTIME_WIDTH)}" for name in names]
        lines += textwrap.wrap(
            f"{cut(label, RUNTIME_WIDTH)}: " + ", ".join(entries),
            width,
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
    return lines


def _family_row(
    block: list[str], family: Mapping[str, str], widths: Mapping[str, int], first: int
) -> str:
    """Each family's name over its columns, cut to their width."""
    row, start = " " * first, 0
    while start < len(block):
        end = start
        while end < len(block) and family[block[end]] == family[block[start]]:
            end += 1
        span = sum(widths[name] for name in block[start:end])
        row += cut(family[block[start]], span - 1).ljust(span)
        start = end
    return row.rstrip()


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
