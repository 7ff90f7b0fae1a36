"""Expected verdicts: a reviewed file of accepted deviations, and how a run's results meet it.

A CI pipeline gates on "nothing moved", not on "everything holds": some claims do not hold on
some runtimes, and that is known. An expectations file lists those deviations, each with the
reason a reader can check::

    expectations:
      - runtime: gvisor                  # a name, or a glob pattern (*, ?, [...])
        claim: shell-is-host-process     # likewise
        verdict: fail                    # fail or error
        reason: gVisor runs its own kernel, so the host sees its sandbox, not the shell
        link: https://gvisor.dev/docs/   # optional, http(s) only

``container-claims run --expect FILE`` then treats a result that matches its entry as
*expected* (it does not fail the run: pytest's xfail), and is strict about the rest, as
pytest's ``xfail_strict``: a claim whose entry says fail but that now gives another verdict is
*unexpected* ("no longer as expected: update the file") and fails the run; entries that match
nothing in the run are *stale* and listed. The first matching entry wins, files in the order
given, entries in their file's order.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from container_claims import packaged
from container_claims.errors import ScenarioError
from container_claims.results import ERROR, EXPECTED, FAIL, UNEXPECTED

#: The verdicts an entry may accept: a pass needs no entry, and not-applicable is never a problem.
ACCEPTED = (FAIL, ERROR)
#: A reason still to be written (what ``expect --from`` leaves); ``--expect`` refuses it.
TODO = re.compile(r"\s*(TODO|FIXME|XXX)\b", re.IGNORECASE)

_PATTERN = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^\x00-\x1f\x7f]+$"}
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expectations"],
    "properties": {
        "expectations": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["runtime", "claim", "verdict", "reason"],
                "properties": {
                    "runtime": _PATTERN,
                    "claim": _PATTERN,
                    "verdict": {"enum": list(ACCEPTED)},
                    "reason": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 500,
                        "pattern": r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$",
                    },
                    # A report makes it a link: only the web, never javascript: or a file.
                    "link": {"type": "string", "maxLength": 500, "pattern": r"^https?://[^\s]+$"},
                },
            },
        }
    },
}


@dataclass(frozen=True)
class Expectation:
    """One entry: the verdict a claim is known to give on a runtime, and why."""

    runtime: str
    claim: str
    verdict: str
    reason: str
    link: str
    where: str  # file:line of the entry

    def matches(self, claim: str, runtime: str) -> bool:
        return fnmatch.fnmatchcase(runtime, self.runtime) and fnmatch.fnmatchcase(claim, self.claim)

    def judge(self, verdict: str) -> dict[str, Any]:
        """What a result record carries about this entry (its ``expectation`` key)."""
        return {
            "status": EXPECTED if verdict == self.verdict else UNEXPECTED,
            "verdict": self.verdict,
            "reason": self.reason,
            **({"link": self.link} if self.link else {}),
            "where": self.where,
        }


@dataclass(frozen=True)
class Expectations:
    """The entries of one or more files, first match first."""

    entries: tuple[Expectation, ...] = ()
    files: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.files)

    def match(self, claim: str, runtime: str) -> Expectation | None:
        return next((e for e in self.entries if e.matches(claim, runtime)), None)

    def judge(self, claim: str, runtime: str, verdict: str) -> dict[str, Any] | None:
        """The ``expectation`` of a result record, or None when no entry speaks of it."""
        entry = self.match(claim, runtime)
        return entry.judge(verdict) if entry is not None else None

    def stale(self, records: Iterable[Mapping[str, Any]]) -> list[Expectation]:
        """Entries that matched no result of the run: a renamed claim, a runtime not run."""
        used = {
            str(record["expectation"]["where"])
            for record in records
            if isinstance(record.get("expectation"), Mapping)
        }
        return [entry for entry in self.entries if entry.where not in used]

    def to_json(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """What a results file says about the expectations it was checked against."""
        runtimes = {str(record["runtime"]) for record in records}
        return {
            "files": list(self.files),
            "stale": [
                {
                    "where": entry.where,
                    "runtime": entry.runtime,
                    "claim": entry.claim,
                    "verdict": entry.verdict,
                    # A runtime not run says nothing about the entry; a runtime that ran
                    # without such a claim does: the claim was renamed or removed.
                    "why": "no such claim was run on a runtime it names"
                    if any(fnmatch.fnmatchcase(name, entry.runtime) for name in runtimes)
                    else "names no runtime of this run",
                }
                for entry in self.stale(records)
            ],
        }


def load_expectations(paths: Sequence[Path]) -> Expectations:
    """Read expectations files; :class:`ScenarioError` (``file:line: ...``) when one is bad.
    A bare name that is no file here is a packaged file's (``debian12``)."""
    from container_claims.scenario.file_errors import raise_all
    from container_claims.scenario.loader import MarkedDict, load_yaml
    from container_claims.scenario.schema_check import check_schema
    from container_claims.scenario.source import read_source

    entries: list[Expectation] = []
    files = [packaged.named("expectations", given) for given in paths]
    for path in files:
        where = str(path)
        try:
            text = read_source(path, where)
        except OSError as exc:
            names = ", ".join(packaged.names("expectations")) or "none"
            hint = f" (nor a packaged one's name: {names})" if packaged.is_bare_name(path) else ""
            raise ScenarioError(
                where, None, f"cannot read the expectations file: {exc.strerror}{hint}"
            ) from None
        document = load_yaml(text, where)
        if not isinstance(document, MarkedDict):
            raise ScenarioError(
                where, 1, "an expectations file is a mapping with an 'expectations' list"
            )
        check_schema(document, _SCHEMA, where)
        todo = []
        for index, entry in enumerate(document["expectations"]):
            line = document["expectations"].item_lines[index]
            if TODO.match(entry["reason"]):
                todo.append(
                    ScenarioError(
                        where,
                        entry.key_lines["reason"],
                        f"the reason of {entry['claim']} on {entry['runtime']} is still to be "
                        "written: say in one sentence why this verdict is expected",
                    )
                )
            entries.append(
                Expectation(
                    runtime=entry["runtime"],
                    claim=entry["claim"],
                    verdict=entry["verdict"],
                    reason=entry["reason"].strip(),
                    link=entry.get("link", ""),
                    where=f"{where}:{line}",
                )
            )
        raise_all(todo)
    return Expectations(tuple(entries), tuple(str(path) for path in files))


def starting_file(problems: Iterable[tuple[Mapping[str, Any], str]], origin: str) -> str:
    """An expectations file that accepts every fail and error of a run, reasons left TODO.

    ``problems`` are result records with a one-line hint of what was observed (written as a
    comment above its entry, to help whoever writes the reason).
    """
    lines = [
        f"# Expected verdicts, started by container-claims expect --from {_comment(origin)}:",
        "# every fail and error of that run. Write each reason (one sentence a reader can",
        "# check) or delete the entry: run --expect refuses a reason left TODO.",
        "expectations:",
    ]
    count = 0
    for record, hint in problems:
        if record.get("verdict") not in ACCEPTED:
            continue
        count += 1
        if hint:
            lines.append(f"  # observed: {_comment(hint)}")
        lines += [
            f"  - runtime: {_scalar(str(record['runtime']))}",
            f"    claim: {_scalar(str(record['claim']))}",
            f"    verdict: {record['verdict']}",
            "    reason: TODO",
        ]
    if not count:
        lines[-1] = "expectations: []  # the run had no fail and no error"
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    """Text safe on one comment line: no line breaks or control characters, not too long."""
    flat = " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", text).split())
    return flat if len(flat) <= 200 else flat[:199] + "…"


def _scalar(value: str) -> str:
    """A plain YAML scalar when that reads back as the same string, else a JSON-quoted one."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/*?-]*", value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)  # JSON strings are YAML double-quoted scalars
