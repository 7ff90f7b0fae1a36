"""Verdicts, their records, the results file, and the exit code: one place for each.

A result record is what reports, baselines and CI read; its keys are a public interface
(``--json``): ``runtimes`` and ``results`` with ``scenario``, ``claim``, ``runtime``,
``verdict``, ``duration_s``, ``evidence``.
"""

from __future__ import annotations

import json
import os
import platform
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PASS, FAIL, NOT_APPLICABLE, ERROR = "pass", "fail", "not-applicable", "error"
VERDICTS = (PASS, FAIL, NOT_APPLICABLE, ERROR)

#: How a verdict meets the expectations file (``--expect``): accepted there, or no longer the
#: verdict its entry accepts. A record's ``expectation`` carries it, with the entry's reason.
EXPECTED, UNEXPECTED = "expected", "unexpected"

#: Exit codes of ``container-claims run`` (and of pytest when it ran claims).
EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_UNOBSERVED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def exit_code(verdicts: Iterable[str], *, input_errors: int = 0) -> int:
    """Bad input outranks could-not-observe, which outranks a claim that failed."""
    counts = Counter(verdicts)
    if input_errors:
        return EXIT_INPUT
    if counts[ERROR]:
        return EXIT_UNOBSERVED
    if counts[FAIL]:
        return EXIT_FAILED
    return EXIT_OK


def worst(codes: Iterable[int]) -> int:
    """The exit code that says most: bad input, then could-not-observe, then a failure."""
    rank = [EXIT_OK, EXIT_FAILED, EXIT_UNOBSERVED, EXIT_INPUT, EXIT_INTERRUPTED]
    return max(codes, key=lambda code: rank.index(code) if code in rank else len(rank))


def standing(record: Mapping[str, Any]) -> str | None:
    """What an expectations file says of a record's verdict: :data:`EXPECTED`,
    :data:`UNEXPECTED`, or None when no entry speaks of it."""
    expectation = record.get("expectation")
    status = expectation.get("status") if isinstance(expectation, Mapping) else None
    return status if status in (EXPECTED, UNEXPECTED) else None


def gate_verdict(record: Mapping[str, Any]) -> str:
    """The verdict a record counts as for the exit code: an expected one as a pass, one that
    is no longer as expected as a fail (pytest's strict XPASS) unless it is worse already."""
    verdict = str(record["verdict"])
    if standing(record) == EXPECTED:
        return PASS
    if standing(record) == UNEXPECTED and verdict in (PASS, NOT_APPLICABLE):
        return FAIL
    return verdict


@dataclass
class Results:
    """Everything one run found, ready to be written as JSON."""

    runtimes: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    input_errors: list[dict[str, Any]] = field(default_factory=list)
    #: The run's id: the value of the label on everything it made.
    run_id: str = ""
    #: Terminal transcripts, once per scenario and runtime; evidence refers to them by key.
    transcripts: dict[str, str] = field(default_factory=dict)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    #: The expectations files the verdicts were checked against, and their stale entries.
    expectations: dict[str, Any] | None = None

    def add(self, record: dict[str, Any]) -> None:
        """One claim's record; a transcript it carries is kept once, under its reference."""
        transcript = record.pop("transcript", None)
        ref = (record.get("evidence") or {}).get("transcript_ref")
        if transcript and ref:
            self.transcripts.setdefault(ref, transcript)
        self.results.append(record)

    def _rank(self, record: dict[str, Any]) -> int:
        return (
            list(self.runtimes).index(record["runtime"])
            if record["runtime"] in self.runtimes
            else 0
        )

    def exit_code(self) -> int:
        return exit_code(map(gate_verdict, self.results), input_errors=len(self.input_errors))

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": "container-claims",
            "run_id": self.run_id,
            "started": self.started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": {
                "kernel": platform.release(),
                "machine": platform.machine(),
                "boot_id": _boot_id(),
            },
            "runtimes": list(self.runtimes.values()),
            # The scenarios' own order: file, then the claim's line; runtimes as they ran.
            "results": sorted(self.results, key=lambda r: (r["file"], r["line"], self._rank(r))),
            "input_errors": self.input_errors,
            "transcripts": self.transcripts,
            "summary": summary(self.results),
            **({"expectations": self.expectations} if self.expectations is not None else {}),
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)  # a reader never sees half a file


def summary(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Verdict counts; with expectations, also those accepted (by verdict) and those no longer
    as expected, counted apart."""
    records = list(records)
    counts: dict[str, Any] = dict(Counter(r["verdict"] for r in records))
    if any(standing(r) for r in records):
        counts[EXPECTED] = dict(Counter(r["verdict"] for r in records if standing(r) == EXPECTED))
        counts[UNEXPECTED] = sum(1 for r in records if standing(r) == UNEXPECTED)
    return counts


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
