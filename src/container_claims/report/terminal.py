"""The short matrix printed at the end of a run: claims (rows) by runtimes (columns)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from container_claims.results import ERROR, FAIL, NOT_APPLICABLE, PASS

SYMBOLS = {PASS: "pass", FAIL: "FAIL", NOT_APPLICABLE: "n/a", ERROR: "ERROR"}


def summary_lines(results: dict[str, Any]) -> list[str]:
    """Rows of claims grouped by section (in the scenarios' order), a column per runtime."""
    records = results["results"]
    runtimes = list(dict.fromkeys(r["runtime"] for r in records))
    cells = {(r["claim"], r["runtime"]): r["verdict"] for r in records}
    sections: dict[str, list[str]] = {}
    for record in records:
        claims = sections.setdefault(record["section"], [])
        if record["claim"] not in claims:
            claims.append(record["claim"])
    first = max([len("claim"), *(len(claim) for claim, _ in cells)]) + 4
    widths = [max(len(name), 5) + 2 for name in runtimes]
    lines = [
        "claim".ljust(first) + "".join(n.ljust(w) for n, w in zip(runtimes, widths, strict=True))
    ]
    for section, claims in sections.items():
        lines.append(f"{section}:")
        for claim in claims:
            row = "".join(
                SYMBOLS.get(cells.get((claim, rt), ""), "-").ljust(w)
                for rt, w in zip(runtimes, widths, strict=True)
            )
            lines.append(f"  {claim}".ljust(first) + row)
    counts = Counter(r["verdict"] for r in records)
    lines.append(", ".join(f"{counts[v]} {v}" for v in SYMBOLS if counts[v]))
    return lines
