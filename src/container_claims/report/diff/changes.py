"""Which verdicts moved between two sides of results, and what changed around them.

Runtimes are paired by name or ``--map``; each claim of a pair whose verdict moved is a
:class:`Change` of one of :data:`KINDS`, and each pair's environment is compared field by
field. :meth:`Diff.to_json` is the documented format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from container_claims.errors import InputError
from container_claims.report.machines import machine_of
from container_claims.report.model import Cell, Comparison
from container_claims.report.reasons import reason
from container_claims.results import ERROR, EXIT_FAILED, EXIT_OK, FAIL, NOT_APPLICABLE, PASS

FORMAT = "container-claims-diff/1"
REGRESSION, FIX, CHANGED, APPLICABILITY, NEW, GONE = (
    "regression",
    "fix",
    "changed",
    "applicability",
    "new",
    "gone",
)
#: The kinds of change, in the order a reader wants them: what broke first.
KINDS = (REGRESSION, FIX, CHANGED, APPLICABILITY, NEW, GONE)


@dataclass(frozen=True)
class Side:
    """A claim's result on one side: its verdict, why, the file it came from, its evidence."""

    verdict: str
    reason: str
    source: str
    record: Mapping[str, Any]

    @classmethod
    def of(cls, cell: Cell) -> Side:
        return cls(cell.verdict, reason(cell, limit=300), cell.source.name, cell.record)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "source": self.source,
            **({"message": self.record["message"]} if self.record.get("message") else {}),
            "evidence": self.record.get("evidence") or {},
        }


@dataclass(frozen=True)
class Change:
    kind: str
    claim: str
    says: str
    runtime: str  # the runtime's name after; before, see Pair
    before: Side | None
    after: Side | None


@dataclass(frozen=True)
class EnvironmentChange:
    field: str  # e.g. version.engine, environment.storage_driver, image.id
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Pair:
    """A runtime on both sides: its names and what changed around it."""

    before: str
    after: str
    environment: tuple[EnvironmentChange, ...]
    environment_before: Mapping[str, str]
    environment_after: Mapping[str, str]
    machine: tuple[str, str]  # after: its name and address (see machine_of)


@dataclass
class Diff:
    before_sources: list[str]
    after_sources: list[str]
    mapping: dict[str, str]
    pairs: list[Pair] = field(default_factory=list)
    only_before: list[str] = field(default_factory=list)
    only_after: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    host_before: dict[str, str] = field(default_factory=dict)
    host_after: dict[str, str] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # runtimes --host left out

    def count(self) -> Counter[str]:
        return Counter(change.kind for change in self.changes)

    def regressions(self) -> dict[str, int]:
        """Per runtime on both sides (by its name after), how many claims regressed; in the
        runtimes' order. A regression needs both sides: its runtime is a pair's."""
        counts = Counter(change.runtime for change in self.changes if change.kind == REGRESSION)
        return {pair.after: counts[pair.after] for pair in self.pairs}

    def regressed_on(self) -> dict[tuple[str, str], dict[str, int]]:
        """The machines where something regressed, as ``(name, address)``, each with its
        runtimes' counts of regressed claims; in the runtimes' order."""
        counts = self.regressions()
        machines: dict[tuple[str, str], dict[str, int]] = {}
        for pair in self.pairs:
            if counts[pair.after]:
                machines.setdefault(pair.machine, {})[pair.after] = counts[pair.after]
        return machines

    def exit_code(self) -> int:
        return EXIT_FAILED if self.count()[REGRESSION] else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        counts = self.count()
        return {
            "format": FORMAT,
            "before": {"sources": self.before_sources, "host": self.host_before},
            "after": {"sources": self.after_sources, "host": self.host_after},
            "map": self.mapping,
            "runtimes": [
                {
                    "before": pair.before,
                    "after": pair.after,
                    "environment_changes": [
                        {"field": c.field, "before": c.before, "after": c.after}
                        for c in pair.environment
                    ],
                    "environment_before": dict(pair.environment_before),
                    "environment_after": dict(pair.environment_after),
                }
                for pair in self.pairs
            ],
            "runtimes_only_before": self.only_before,
            "runtimes_only_after": self.only_after,
            "runtimes_left_out": self.left_out,
            "summary": {
                **{kind: counts[kind] for kind in KINDS},
                "unchanged": self.unchanged,
            },
            "regressed_on": [
                {"host": name, "address": address, "runtimes": runtimes}
                for (name, address), runtimes in self.regressed_on().items()
            ],
            "changes": [
                {
                    "kind": change.kind,
                    "claim": change.claim,
                    "says": change.says,
                    "runtime": change.runtime,
                    "runtime_before": self._before_name(change.runtime),
                    "before": change.before.to_json() if change.before else None,
                    "after": change.after.to_json() if change.after else None,
                }
                for change in self.changes
            ],
        }

    def _before_name(self, after: str) -> str:
        return next((p.before for p in self.pairs if p.after == after), after)


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """``["docker=docker-26"]`` as ``{"docker": "docker-26"}``; :class:`InputError` if bad."""
    mapping: dict[str, str] = {}
    for given in pairs:
        old, equals, new = given.partition("=")
        if not equals or not old or not new:
            raise InputError(f"--map {given!r}: give OLD=NEW, e.g. docker=docker-26")
        if old in mapping:
            raise InputError(f"--map {given!r}: {old!r} is mapped twice")
        mapping[old] = new
    return mapping


def diff(before: Comparison, after: Comparison, mapping: Mapping[str, str] | None = None) -> Diff:
    """Compare two comparisons (each one side, merged from its files)."""
    mapping = dict(mapping or {})
    for old, new in mapping.items():
        if old not in before.runtimes:
            raise InputError(f"--map {old}={new}: no runtime {old!r} in the before results")
        if new not in after.runtimes:
            raise InputError(f"--map {old}={new}: no runtime {new!r} in the after results")
    result = Diff(
        before_sources=[s.name for s in before.sources],
        after_sources=[s.name for s in after.sources],
        mapping=mapping,
        host_before=_host(before),
        host_after=_host(after),
        left_out=list(dict.fromkeys([*before.left_out, *after.left_out])),
    )
    renamed = {old: mapping.get(old, old) for old in before.runtimes}
    paired_after = set(renamed.values()) & set(after.runtimes)
    for old, new in renamed.items():
        if new in after.runtimes:
            env_before = environment(before.runtimes[old])
            env_after = environment(after.runtimes[new])
            result.pairs.append(
                Pair(
                    old,
                    new,
                    tuple(
                        EnvironmentChange(key, env_before.get(key), env_after.get(key))
                        for key in dict.fromkeys([*env_before, *env_after])
                        if env_before.get(key) != env_after.get(key)
                    ),
                    env_before,
                    env_after,
                    machine_of(after.runtimes[new]),
                )
            )
        else:
            result.only_before.append(old)
    result.only_after = [name for name in after.runtimes if name not in paired_after]
    claims = {claim.id: claim for claim in before.claims}
    claims.update({claim.id: claim for claim in after.claims})  # the newest wording
    order = list(dict.fromkeys([c.id for c in after.claims] + [c.id for c in before.claims]))
    position = {claim_id: number for number, claim_id in enumerate(order)}
    # Each runtime's claims, so that a pair looks only at the claims it has on either side
    # (claims times runtimes may be mostly empty: every claim on a runtime of its own).
    on_runtime: dict[tuple[int, str], set[str]] = {}
    for side, comparison in enumerate((before, after)):
        for claim_id, runtime in comparison.cells:
            on_runtime.setdefault((side, runtime), set()).add(claim_id)
    for pair in result.pairs:
        either = on_runtime.get((0, pair.before), set()) | on_runtime.get((1, pair.after), set())
        for claim_id in sorted(either, key=position.__getitem__):
            old_cell = before.cell(claim_id, pair.before)
            new_cell = after.cell(claim_id, pair.after)
            kind = _kind(old_cell, new_cell)
            if kind is None:
                result.unchanged += old_cell is not None
                continue
            result.changes.append(
                Change(
                    kind,
                    claim_id,
                    claims[claim_id].says,
                    pair.after,
                    Side.of(old_cell) if old_cell else None,
                    Side.of(new_cell) if new_cell else None,
                )
            )
    result.changes.sort(key=lambda change: KINDS.index(change.kind))  # stable: matrix order kept
    return result


def _kind(before: Cell | None, after: Cell | None) -> str | None:
    if before is None and after is None:
        return None
    if before is None:
        return NEW
    if after is None:
        return GONE
    old, new = before.verdict, after.verdict
    if old == new:
        return None
    if NOT_APPLICABLE in (old, new):
        return APPLICABILITY
    if old == PASS:
        return REGRESSION
    if new == PASS:
        return FIX
    return CHANGED if {old, new} == {FAIL, ERROR} else REGRESSION


def environment(info: Mapping[str, Any]) -> dict[str, str]:
    """A runtime's machine, versions, environment and image id from its entry in a results
    file, as flat ``section.key`` fields (``machine.hostname``, ``version.engine``,
    ``environment.data_root``, ``image.id``)."""
    fields: dict[str, str] = {}
    for section in ("machine", "version", "environment"):
        values = info.get(section)
        if isinstance(values, Mapping):
            fields.update({f"{section}.{key}": str(value) for key, value in values.items()})
    image = info.get("image")
    if isinstance(image, Mapping):
        for key in ("ref", "id", "rootfs"):
            if image.get(key):
                fields[f"image.{key}"] = str(image[key])
    run_args = info.get("run_args")
    if isinstance(run_args, list):
        fields["run_args"] = " ".join(str(arg) for arg in run_args)
    return fields


def _host(comparison: Comparison) -> dict[str, str]:
    """The machines the side's results were made on: kernels and boot ids, joined."""
    found: dict[str, list[str]] = {}
    for source in comparison.sources:
        for key in ("kernel", "boot_id"):
            value = source.host.get(key)
            if value and str(value) not in found.setdefault(key, []):
                found[key].append(str(value))
    return {key: ", ".join(values) for key, values in found.items()}
