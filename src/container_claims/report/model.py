"""One comparison made from one or more results files: claims (rows) by runtimes (columns).

Reports read results files (what ``run --json`` writes) and never the plugin's objects, so a
report can be made later, on another machine, or from several runs merged::

    comparison = load_comparison([Path("docker.json"), Path("podman.json")])
    comparison.cell("shell-is-pid-1", "podman").verdict   # "pass"

Rows keep the order of the results (the scenarios' order), grouped by article section;
columns keep the order in which runtimes first appear. When two files hold the same claim on
the same runtime, the later file wins, and :attr:`Comparison.notes` says so.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from container_claims.errors import InputError
from container_claims.results import ERROR, EXPECTED, FAIL, UNEXPECTED, VERDICTS, standing
from container_claims.scenario.model import OPERATOR_WORDS

NO_SECTION = "(no section)"
#: Largest results file a report reads (transcripts are kept once per scenario: a run of the
#: whole catalogue on five runtimes writes about 1 MB).
MAX_RESULTS_BYTES = 64 << 20
#: Deepest a results file nests (the document is level 1). A scenario nests at most 64
#: levels, and a value it compares sits seven levels down in the results; the rest is room.
MAX_RESULTS_DEPTH = 128


@dataclass(frozen=True)
class Source:
    """A results file (or the run that just finished) that the comparison was made from."""

    name: str
    started: str | None
    finished: str | None
    host: Mapping[str, Any]
    transcripts: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Claim:
    """A row: the claim's id, the article's words paraphrased, and where the claim is written."""

    id: str
    says: str
    section: str
    file: str
    line: int | None
    origin: str = ""  # the article or manual it comes from: its scenario's ``source``


@dataclass(frozen=True)
class Cell:
    """One claim on one runtime: its result record and the source it came from."""

    record: Mapping[str, Any]
    source: Source

    @property
    def verdict(self) -> str:
        return str(self.record["verdict"])

    @property
    def evidence(self) -> Mapping[str, Any]:
        evidence = self.record.get("evidence")
        return evidence if isinstance(evidence, Mapping) else {}

    @property
    def message(self) -> str:
        return str(self.record.get("message") or "")

    @property
    def expectation(self) -> Mapping[str, Any]:
        """What an expectations file (``run --expect``) said of this verdict: ``status``
        expected or unexpected, the entry's ``verdict``, ``reason``, ``where``; or empty."""
        expectation = self.record.get("expectation")
        return expectation if isinstance(expectation, Mapping) else {}

    @property
    def expected(self) -> bool:
        return standing(self.record) == EXPECTED

    @property
    def unexpected(self) -> bool:
        return standing(self.record) == UNEXPECTED

    @property
    def transcript(self) -> str:
        """The terminal transcript the verdict rests on: kept once per scenario in its file
        (``transcript_ref``), or inline in results files of earlier versions."""
        inline = self.evidence.get("transcript")
        if isinstance(inline, str):
            return inline
        ref = self.evidence.get("transcript_ref")
        return str(self.source.transcripts.get(ref, "")) if isinstance(ref, str) else ""


@dataclass
class Comparison:
    """Claims by runtimes, with what is known about each runtime and each source."""

    sources: list[Source] = field(default_factory=list)
    runtimes: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    sections: dict[str, list[Claim]] = field(default_factory=dict)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    input_errors: list[tuple[Source, Mapping[str, Any]]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # runtimes --host left out

    @property
    def claims(self) -> list[Claim]:
        return [claim for claims in self.sections.values() for claim in claims]

    def cell(self, claim: str, runtime: str) -> Cell | None:
        return self.cells.get((claim, runtime))

    def problems(self) -> Iterator[tuple[Claim, str, Cell]]:
        """The cells that fail the run, in the matrix's order: failed or could not be observed
        (unless as expected), or no longer as expected."""
        for claim, runtime, cell in self._cells():
            if cell.unexpected or (cell.verdict in (FAIL, ERROR) and not cell.expected):
                yield claim, runtime, cell

    def expected(self) -> Iterator[tuple[Claim, str, Cell]]:
        """The cells whose fail or error an expectations file accepts, in the matrix's order."""
        for claim, runtime, cell in self._cells():
            if cell.expected:
                yield claim, runtime, cell

    def in_order(self) -> list[tuple[Claim, str, Cell]]:
        """Every cell in the matrix's order (rows, then columns), found in time that grows
        with the cells, not with claims times runtimes (most of which may be empty)."""
        rows = {claim.id: (number, claim) for number, claim in enumerate(self.claims)}
        columns = {runtime: number for number, runtime in enumerate(self.runtimes)}
        ordered = sorted(
            self.cells.items(),
            key=lambda item: (rows[item[0][0]][0], columns.get(item[0][1], len(columns))),
        )
        return [
            (rows[claim][1], runtime, cell)
            for (claim, runtime), cell in ordered
            if runtime in columns
        ]

    def _cells(self) -> Iterator[tuple[Claim, str, Cell]]:
        yield from self.in_order()

    def totals(self, runtime: str | None = None) -> Counter[str]:
        """Verdict counts of one runtime's column, or of the whole matrix; a verdict that is
        as expected counts apart, under ``expected``."""
        return Counter(
            EXPECTED if cell.expected else cell.verdict
            for (_, name), cell in self.cells.items()
            if runtime in (None, name)
        )

    def totals_by_runtime(self) -> dict[str, Counter[str]]:
        """:meth:`totals` of every runtime at once, in one pass over the cells."""
        counts: dict[str, Counter[str]] = {name: Counter() for name in self.runtimes}
        for (_, name), cell in self.cells.items():
            counts.setdefault(name, Counter())[EXPECTED if cell.expected else cell.verdict] += 1
        return counts

    def records(self) -> list[Mapping[str, Any]]:
        """The winning records in the matrix's order: rows, then columns."""
        return [cell.record for _, _, cell in self.in_order()]

    def to_results(self) -> dict[str, Any]:
        """The merged results in the shape of a results file (what ``summary_lines`` reads).

        Every record has its row's section and its claim's wording, also when its file lacked them.
        """
        rows = {claim.id: claim for claim in self.claims}
        return {
            "runtimes": [dict(info) for info in self.runtimes.values()],
            "results": [
                {
                    **record,
                    "section": rows[record["claim"]].section,
                    "says": rows[record["claim"]].says,
                }
                for record in self.records()
            ],
        }


def read_results(path: Path) -> dict[str, Any]:
    """A results file, checked enough that a report can rely on it; else :class:`InputError`.

    The message is one line naming the file and what is wrong with it.
    """
    try:
        size = path.stat().st_size
        if size > MAX_RESULTS_BYTES:
            raise InputError(
                f"{path}: the file is {size:,} bytes; a results file is at most "
                f"{MAX_RESULTS_BYTES:,} bytes"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such results file") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "give a file written by run --json"
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the results file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}:{exc.lineno}: not JSON ({exc.msg}); give a file written by run --json"
        ) from None
    except RecursionError:  # json's own guard, far deeper than a results file may go
        raise InputError(f"{path}: {_TOO_DEEP}") from None
    if too_deep(data, MAX_RESULTS_DEPTH):  # before anything that recurses reads it
        raise InputError(f"{path}: {_TOO_DEEP}")
    check_results(data, str(path))  # the frame, in words a reader knows
    schema_problem = results_schema_problem(data)  # then every key a report reads
    if schema_problem:
        raise InputError(f"{path}: {schema_problem}; {_NOT_RESULTS}")
    assert isinstance(data, dict)
    return data


_NOT_RESULTS = "not a container-claims results file (give a file written by run --json)"
_TOO_DEEP = (
    f"nested more than {MAX_RESULTS_DEPTH} levels deep, too deep to be a results file; "
    "give a file written by run --json"
)


def too_deep(data: Any, limit: int) -> bool:
    """Whether lists and mappings nest more than ``limit`` levels (the document itself is
    level 1), found without recursion, so that no depth can exhaust the stack."""
    level: list[tuple[Any, int]] = [(data, 1)] if isinstance(data, dict | list) else []
    while level:
        value, depth = level.pop()
        children = value.values() if isinstance(value, dict) else value
        if depth > limit:
            return True
        level.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def results_schema_problem(data: Any) -> str | None:
    """What is wrong with a document against the results file's JSON Schema, in one line
    (``results[3].evidence.checks is a number (7), not a list``), or None when nothing is.

    The schema compiled (fastjsonschema) answers first; only a document it refuses is read
    again by jsonschema, whose first error (in the document's order) is described.
    """
    quick, refused = _quick_results_check()
    try:
        quick(data)
        return None
    except refused:
        pass
    import jsonschema

    from container_claims.scenario.validate import results_schema

    validator = jsonschema.Draft202012Validator(results_schema())
    error = next(iter(validator.iter_errors(data)), None)
    if error is None:
        return None  # the compiled check is stricter on a point (1.0 as an integer)
    if error.validator == "anyOf" and error.context:  # fits no branch: say the closest one
        error = jsonschema.exceptions.best_match(error.context) or error
    return printable(_schema_words(error), lines=False)


@functools.cache
def _quick_results_check() -> tuple[Callable[[Any], Any], type[Exception]]:
    import fastjsonschema

    from container_claims.scenario.validate import results_schema

    draft7 = {**results_schema(), "$schema": "http://json-schema.org/draft-07/schema#"}
    return fastjsonschema.compile(draft7), fastjsonschema.JsonSchemaException


#: The schema's types in a reader's words.
_TYPE_WORDS = {
    "array": "a list",
    "object": "a mapping",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _schema_words(error: Any) -> str:
    """A jsonschema error in words, naming where it is; values are shown short."""
    where = _json_path(error.absolute_path)
    value, wanted = error.instance, error.validator_value
    if error.validator == "type":
        types = wanted if isinstance(wanted, list) else [wanted]
        return f"{where} is {_kind(value)}, not {' or '.join(_TYPE_WORDS[t] for t in types)}"
    if error.validator == "required" and isinstance(value, Mapping):
        return f"{where} lacks {', '.join(str(key) for key in wanted if key not in value)}"
    if error.validator == "enum":
        return f"{where} is {_kind(value)}, not one of {', '.join(map(str, wanted))}"
    if error.validator == "minimum":
        return f"{where} is {_kind(value)}, less than {wanted}"
    return f"{where}: {_one_line(str(error.message), 160)}"


def _json_path(path: Iterable[Any]) -> str:
    """``results[3].evidence.checks``: where in the document; ``the top level`` for itself."""
    words = ""
    for part in path:
        if isinstance(part, int):
            words += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            words += f".{part}" if words else str(part)
        else:
            words += f"[{_one_line(json.dumps(str(part)), 40)}]"
    return words or "the top level"


def _kind(value: Any) -> str:
    """``a number (7)``, ``a string ('…')``, ``a list``: a value's kind, scalars shown short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({_one_line(repr(value), 40)})"
    if isinstance(value, str):
        return f"a string ({_one_line(json.dumps(value), 40)})"
    return "a list" if isinstance(value, list) else "a mapping"


def check_results(data: Any, name: str) -> None:
    """Raise :class:`InputError` unless ``data`` has the shape of a results file."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise InputError(
            f"{name}: not a container-claims results file (no 'results' list); "
            "give a file written by run --json"
        )
    for index, record in enumerate(data["results"]):
        missing = (
            ["a mapping"]
            if not isinstance(record, dict)
            else [
                key
                for key in ("claim", "runtime", "verdict")
                if not isinstance(record.get(key), str)
            ]
            + (
                [f"a verdict among {', '.join(VERDICTS)}"]
                if isinstance(record.get("verdict"), str) and record["verdict"] not in VERDICTS
                else []
            )
        )
        if missing:
            raise InputError(
                f"{name}: results[{index}] lacks {', '.join(missing)}; "
                "not a container-claims results file"
            )
    if not isinstance(data.get("runtimes", []), list):
        raise InputError(f"{name}: 'runtimes' is not a list; not a container-claims results file")


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
            + _one_line(printable(f"they ran on: {', '.join(machines)}"), 400)
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


#: A runtime's machine address when it ran on the machine the suite ran on.
LOCAL = "local"
#: The name in a machine's address: ``edge-1`` of ``ssh://root@edge-1:2222``.
_ADDRESS_NAME = re.compile(r"[a-z][a-z0-9+.-]*://(?:[^@/]*@)?(?P<name>[^@/:]+)(?::[0-9]*)?/?")


def _machine(info: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """A runtime's machine: its address (``local`` when the record has none, as in older
    files), the name in that address, and its hostname (None when not read: ``unknown (why)``)."""
    machine = info.get("machine")
    if not isinstance(machine, Mapping):
        return LOCAL, None, None
    address, hostname = machine.get("address"), machine.get("hostname")
    address = address if isinstance(address, str) and address else LOCAL
    match = _ADDRESS_NAME.fullmatch(address)
    hostname = hostname.strip() if isinstance(hostname, str) else ""
    known = hostname and not hostname.startswith("unknown (")
    return address, match["name"] if match else None, hostname if known else None


def machine_of(info: Mapping[str, Any]) -> tuple[str, str]:
    """``("edge-1", "ssh://root@edge-1")``: the machine a runtime ran on, named by its
    hostname (else the name in its address), and its address; the suite's own machine is
    ``local`` (named by its hostname when known)."""
    address, name, hostname = _machine(info)
    return hostname or name or address, address


def runtime_on_hosts(info: Mapping[str, Any], patterns: Sequence[str]) -> bool:
    """Whether a runtime ran on a machine that one of ``patterns`` (``--host``: globs,
    case-sensitive) matches by its hostname, the name in its address (``edge-1`` of
    ``ssh://root@edge-1:22``) or the whole address; ``local`` is the suite's own machine."""
    names = [name for name in _machine(info) if name]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)


def machine_words(info: Mapping[str, Any]) -> str:
    """``on edge-1 (ssh://root@edge-1)`` for a runtime on another machine, else ""."""
    name, address = machine_of(info)
    return "" if address == LOCAL else f"on {name} ({address})"


def run_period(comparison: Comparison) -> str:
    """When the results were made: ``2026-11-23 18:19 – 18:21 UTC``, or as the files say."""
    times = [t for s in comparison.sources for t in (s.started, s.finished) if t]
    parsed = [_parse_time(t) for t in times]
    if not parsed:
        return ""
    if any(p is None for p in parsed) or len({p.tzinfo is None for p in parsed if p}) > 1:
        return f"{times[0]} – {times[-1]}" if len(times) > 1 else times[0]
    known = sorted(p for p in parsed if p is not None)
    first, last = known[0], known[-1]
    zone = first.tzname() or ""
    zone = "UTC" if zone in ("UTC", "UTC+00:00") else zone
    start = first.strftime("%Y-%m-%d %H:%M")
    end = last.strftime("%H:%M" if last.date() == first.date() else "%Y-%m-%d %H:%M")
    return f"{start} – {end} {zone}".strip() if end != start else f"{start} {zone}".strip()


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


# -- text shared by the reports -----------------------------------------------------------------

#: Colours and text attributes (SGR, ``ESC [ ... m``): dropped, which can only show more of
#: the text (a concealed or black-on-black word appears).
_COLOUR = re.compile(r"\x1b\[[0-9;:]*m")
#: Control characters: C0, DEL and C1. Terminals act on them (ESC and the one-byte CSI, OSC,
#: DCS, APC of C1 begin escape sequences: a title, the clipboard, a cleared screen).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHOWN = {
    code: f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"
    for code in (*range(0x20), *range(0x7F, 0xA0))
} | {ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"}
_SHOWN_IN_LINES = {code: shown for code, shown in _SHOWN.items() if chr(code) not in "\n\t"}
_CONTROL_IN_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str, *, lines: bool = True) -> str:
    """Text from scenarios, containers or results files made safe to show: on a terminal, in
    pytest's failure text, in Markdown and in HTML. The one place that does it.

    Every control character (C0, DEL, C1) is shown as an escape, ``\\x1b`` or ``\\u009b``,
    so that none acts on the reader's terminal; colour codes are dropped. With ``lines``
    (multi-line text), newlines (``\\r\\n`` as ``\\n``) and tabs are kept; without, they are
    shown too, and the text is one line. JSON keeps the exact text: it never passes here.
    """
    if not (_CONTROL_IN_LINES if lines else _CONTROL).search(text):
        return text
    if lines:
        text = text.replace("\r\n", "\n")
    return _COLOUR.sub("", text).translate(_SHOWN_IN_LINES if lines else _SHOWN)


def truncate(text: str, limit: int) -> str:
    """At most about ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def value_text(value: Any) -> str:
    """An observed or expected value as a reader wants it: strings bare, the rest as JSON."""
    if isinstance(value, str):
        return printable(value)
    return printable(json.dumps(value, ensure_ascii=False, default=str))


def plain_text(value: Any, indent: str = "") -> str:
    """A step's value as indented ``key: value`` lines; multi-line strings as blocks."""
    if isinstance(value, Mapping) and value:
        lines = []
        for raw_key, item in value.items():
            key = printable(str(raw_key), lines=False)
            if isinstance(item, Mapping) and item or _is_block(item):
                lines.append(f"{indent}{key}:")
                lines.append(plain_text(item, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {plain_text(item)}")
        return "\n".join(lines)
    if isinstance(value, list) and value and not all(_is_scalar(item) for item in value):
        return "\n".join(f"{indent}- {plain_text(item, indent + '  ').lstrip()}" for item in value)
    if isinstance(value, str) and value:
        text = printable(value).rstrip("\n")
        return "\n".join(indent + line for line in text.split("\n")) if "\n" in text else text
    return value_text(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _is_block(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value.rstrip("\n")


def items(value: Any) -> list[Any]:
    """A list from a results file, or none: what a report iterates over is a list, whatever
    a document not read through :func:`read_results` holds there."""
    return value if isinstance(value, list) else []


def failing_checks(cell: Cell) -> list[Mapping[str, Any]]:
    checks = items(cell.evidence.get("checks"))
    return [c for c in checks if isinstance(c, Mapping) and not c.get("ok", True)]


def check_words(check: Mapping[str, Any]) -> str:
    """``shell_pid equals``: what the check says of which observation."""
    op = str(check.get("op", ""))
    words = OPERATOR_WORDS.get(op, op.replace("_", " ")).rstrip(":")  # a colon follows anyway
    return f"{check.get('that', '?')} {words}".strip()


def reason(cell: Cell, limit: int = 160) -> str:
    """Why a cell is not a pass, in one line: the first failing check, or the message."""
    failing = failing_checks(cell)
    if cell.verdict == FAIL and failing:
        check = failing[0]
        expected = _one_line(value_text(check.get("expected")), limit // 2)
        observed = _one_line(value_text(check.get("observed")), limit // 2)
        more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
        return f"{check_words(check)}: expected {expected}, observed {observed}{more}"
    text = cell.message or str(cell.evidence.get("stopped") or "")
    return _one_line(text, limit) if text.strip() else ""


def _one_line(text: str, limit: int) -> str:
    text = " ".join(printable(text).split()) if text.strip() else json.dumps(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
