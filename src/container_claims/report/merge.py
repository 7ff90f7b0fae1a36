"""Results documents merged into one comparison: later files winning, ``--host`` applied.

Each document is named (a file name, or "this run"); rows keep the order of the results (the
scenarios' order), grouped by article section; columns keep the order in which runtimes first
appear. When two documents hold the same claim on the same runtime, the later one wins, and
:attr:`Comparison.notes` says so::

    comparison = load_comparison([Path("docker.json"), Path("podman.json")])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from container_claims.errors import InputError
from container_claims.report.machines import machine_of, runtime_on_hosts
from container_claims.report.model import NO_SECTION, Cell, Claim, Comparison, Source
from container_claims.report.results_file import check_results, items, read_results
from container_claims.report.text import one_line, printable


def load_comparison(paths: Sequence[Path], hosts: Sequence[str] = ()) -> Comparison:
    """Read results files and merge them, later files winning; with ``hosts``, only the
    runtimes on the machines they match (see :func:`load_sides`). :class:`InputError` if bad."""
    (comparison,) = load_sides([paths], hosts)
    return comparison


def load_sides(sides: Sequence[Sequence[Path]], hosts: Sequence[str] = ()) -> list[Comparison]:
    """Each side's files read and merged (``diff``'s before and after). With ``hosts``
    (``--host`` patterns), each keeps only the runtimes on machines they match
    (:func:`runtime_on_hosts`); a pattern that matches none on any side is an
    :class:`InputError` naming the machines there are."""
    documents = [[(str(path), read_results(path)) for path in paths] for paths in sides]
    whole = [compare(side) for side in documents]
    if not hosts:
        return whole
    infos = [info for comparison in whole for info in comparison.runtimes.values()]
    unmatched = [p for p in hosts if not any(runtime_on_hosts(info, [p]) for info in infos)]
    if unmatched:
        machines = dict.fromkeys(
            name if name == address else f"{name} ({address})"
            for name, address in map(machine_of, infos)
        )
        raise InputError(
            ", ".join(f"--host {pattern!r}" for pattern in unmatched)
            + f" match{'es' if len(unmatched) == 1 else ''} no machine in the results; "
            + one_line(printable(f"they ran on: {', '.join(machines)}"), 400)
        )
    return [
        _on_hosts(side, comparison, hosts)
        for side, comparison in zip(documents, whole, strict=True)
    ]


def _on_hosts(
    documents: Sequence[tuple[str, Mapping[str, Any]]], whole: Comparison, hosts: Sequence[str]
) -> Comparison:
    """The documents merged again with only the runtimes on machines ``hosts`` match; which
    those are, ``whole`` (the same documents merged) says, its later files winning."""
    kept = {name for name, info in whole.runtimes.items() if runtime_on_hosts(info, hosts)}
    comparison = compare(
        [
            (
                name,
                {
                    **data,
                    "runtimes": [
                        info
                        for info in data.get("runtimes", [])
                        if isinstance(info, Mapping) and str(info.get("name")) in kept
                    ],
                    "results": [r for r in data["results"] if r["runtime"] in kept],
                },
            )
            for name, data in documents
        ]
    )
    comparison.left_out = [name for name in whole.runtimes if name not in kept]
    if comparison.left_out:
        comparison.notes.append(
            "Only the runtimes on the machines --host names; left out: "
            f"{_some(comparison.left_out)}."
        )
    return comparison


def compare(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> Comparison:
    """Merge results documents, each named (a file name, or "this run"), into one matrix."""
    comparison = Comparison()
    claims: dict[str, Claim] = {}
    replaced: dict[tuple[str, str, str], list[str]] = {}  # (runtime, earlier, later) -> claims
    for name, data in documents:
        check_results(data, name)
        host = data.get("host")
        source = Source(
            name=name,
            started=_str_or_none(data.get("started")),
            finished=_str_or_none(data.get("finished")),
            host=host if isinstance(host, Mapping) else {},
            transcripts={
                str(key): text
                for key, text in (data.get("transcripts") or {}).items()
                if isinstance(text, str)
            }
            if isinstance(data.get("transcripts"), Mapping)
            else {},
        )
        comparison.sources.append(source)
        for info in data.get("runtimes", []):
            if isinstance(info, Mapping) and isinstance(info.get("name"), str):
                comparison.runtimes.pop(info["name"], None)  # later file wins, order kept below
                comparison.runtimes[info["name"]] = info
        for record in data["results"]:
            claim = claims.get(record["claim"])
            if claim is None:
                claim = claims[record["claim"]] = Claim(
                    id=record["claim"],
                    says=str(record.get("says") or ""),
                    section=str(record.get("section") or NO_SECTION),
                    file=str(record.get("file") or ""),
                    line=record["line"] if isinstance(record.get("line"), int) else None,
                    origin=str(record.get("source") or ""),
                )
                comparison.sections.setdefault(claim.section, []).append(claim)
            elif record.get("says"):
                claim.says = str(record["says"])  # the newest wording; the row stays where it was
            key = (record["claim"], record["runtime"])
            earlier = comparison.cells.get(key)
            if earlier is not None:
                replaced.setdefault((record["runtime"], earlier.source.name, name), []).append(
                    record["claim"]
                )
            comparison.cells[key] = Cell(record=record, source=source)
        for error in items(data.get("input_errors")):
            if isinstance(error, Mapping):
                comparison.input_errors.append((source, error))
    comparison.runtimes = _column_order(documents, comparison.runtimes)
    for (runtime, earlier_name, later_name), claim_ids in replaced.items():
        comparison.notes.append(
            f"{runtime}: {_count(len(claim_ids), 'result')} from {later_name} replace those "
            f"from {earlier_name} (the later file wins): {_some(claim_ids)}."
        )
    return comparison


def _column_order(
    documents: Sequence[tuple[str, Mapping[str, Any]]], known: Mapping[str, Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """Runtimes in the order they first appear (runtimes lists, then results), info merged."""
    order: dict[str, Mapping[str, Any]] = {}
    for _, data in documents:
        names = [
            info["name"]
            for info in data.get("runtimes", [])
            if isinstance(info, Mapping) and isinstance(info.get("name"), str)
        ]
        names += [record["runtime"] for record in data["results"]]
        for runtime in names:
            order.setdefault(runtime, known.get(runtime, {"name": runtime}))
    return order


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _some(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
