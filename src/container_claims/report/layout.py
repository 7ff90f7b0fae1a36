"""Which runtimes the reports show as columns, in what order, and which they set aside.

Columns come grouped by family (the Docker engine, Podman, plain namespaces...): families in
the order their first runtime appears, runtimes in theirs within. A runtime's family is what
its record in the results says (``family``, declared by its kind), else its kind: read from
the data, never from a list of names here, so a new kind groups without a change here.

A runtime that could not run (its record's ``unavailable`` says why, and it has no verdict
but errors) is set aside: every report shows it as one line with the reason, never as a
column of errors::

    shown = as_shown(comparison)
    shown.set_aside[0].reason   # "'podman' is not an executable on PATH"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from container_claims.report.machines import machine_words
from container_claims.report.model import Comparison, SetAside
from container_claims.results import ERROR

__all__ = ["OTHER", "as_shown", "by_family", "family_of", "set_aside"]

#: The family of a runtime whose record names neither a family nor a kind.
OTHER = "other"


def family_of(info: Mapping[str, Any]) -> str:
    """A runtime's family: its record's ``family``, else its ``kind``, else :data:`OTHER`."""
    for key in ("family", "kind"):
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return OTHER


def by_family(
    names: Iterable[str], infos: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, list[str]]]:
    """``names`` grouped by family, families in the order their first runtime comes."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(family_of(infos.get(name, {})), []).append(name)
    return list(groups.items())


def set_aside(
    infos: Mapping[str, Mapping[str, Any]], verdicts: Iterable[tuple[str, str]]
) -> list[SetAside]:
    """The runtimes whose record says they could not run (``unavailable``) and which have
    no verdict but errors (``verdicts``: runtime and verdict of every result); merged
    results where the same runtime ran in another file keep its column."""
    reasons = {
        name: reason
        for name, info in infos.items()
        if isinstance(reason := info.get("unavailable"), str) and reason
    }
    for runtime, verdict in verdicts:
        if verdict != ERROR:
            reasons.pop(runtime, None)
    return [
        SetAside(name, family_of(infos[name]), reason, machine_words(infos[name]))
        for name, reason in reasons.items()
    ]


def as_shown(comparison: Comparison) -> Comparison:
    """The comparison as the reports show it: columns grouped by family, runtimes that could
    not run moved to :attr:`Comparison.set_aside` with their cells, and claims that were
    observed on those only left out. The comparison itself is not changed."""
    aside = set_aside(
        comparison.runtimes,
        ((runtime, cell.verdict) for (_, runtime), cell in comparison.cells.items()),
    )
    gone = {runtime.name for runtime in aside}
    order = [
        name
        for _, names in by_family(comparison.runtimes, comparison.runtimes)
        for name in names
        if name not in gone
    ]
    if not gone and order == list(comparison.runtimes):
        return comparison
    cells = {key: cell for key, cell in comparison.cells.items() if key[1] not in gone}
    observed = {claim for claim, _ in cells}
    sections = {
        section: kept
        for section, claims in comparison.sections.items()
        if (kept := [claim for claim in claims if claim.id in observed])
    }
    return dataclasses.replace(
        comparison,
        runtimes={name: comparison.runtimes[name] for name in order},
        cells=cells,
        sections=sections,
        set_aside=[*comparison.set_aside, *aside],
    )
