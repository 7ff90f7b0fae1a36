"""The short matrix printed at the end of a run: claims (rows) by runtimes (columns)."""

from __future__ import annotations

from collections import Counter
from typing import Any

SYMBOLS = {"pass": "pass", "fail": "FAIL", "not-applicable": "n/a", "error": "ERROR"}


def summary_lines(results: dict[str, Any]) -> list[str]:
    records = results["results"]
    runtimes = sorted({r["runtime"] for r in records})
    cells: dict[tuple[str, str], str] = {(r["claim"], r["runtime"]): r["verdict"] for r in records}
    sections: dict[str, list[str]] = {}
    for record in records:
        claims = sections.setdefault(record["section"], [])
        if record["claim"] not in claims:
            claims.append(record["claim"])
    width = max((len(c) for c in cells_claims(cells)), default=10) + 2
    header = "claim".ljust(width) + "".join(name[:14].ljust(16) for name in runtimes)
    lines = [header]
    for section, claims in sections.items():
        lines.append(f"{section}:")
        for claim in claims:
            row = "".join(SYMBOLS.get(cells.get((claim, rt), ""), "-").ljust(16) for rt in runtimes)
            lines.append(f"  {claim}".ljust(width) + row)
    counts = Counter(r["verdict"] for r in records)
    lines.append(", ".join(f"{counts[v]} {v}" for v in SYMBOLS if counts[v]))
    return lines


def cells_claims(cells: dict[tuple[str, str], str]) -> set[str]:
    return {f"  {claim}" for claim, _ in cells}
