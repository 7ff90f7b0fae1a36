"""Reading a results file (what ``run --json`` writes) and checking it enough to rely on.

A results file may come from anywhere (another machine, an older version, a hand edit), so it
is bounded in size and depth before it is parsed or recursed into, then checked against the
results file's JSON Schema; what is wrong is said in one line naming the file and the place.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from container_claims.errors import InputError
from container_claims.report.text import one_line, printable
from container_claims.results import VERDICTS

#: Largest results file a report reads (transcripts are kept once per scenario: a run of the
#: whole catalogue on five runtimes writes about 1 MB).
MAX_RESULTS_BYTES = 64 << 20
#: Deepest a results file nests (the document is level 1). A scenario nests at most 64
#: levels, and a value it compares sits seven levels down in the results; the rest is room.
MAX_RESULTS_DEPTH = 128


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
    return (
        fastjsonschema.compile(draft7, detailed_exceptions=False),
        fastjsonschema.JsonSchemaException,
    )


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
    return f"{where}: {one_line(str(error.message), 160)}"


def _json_path(path: Iterable[Any]) -> str:
    """``results[3].evidence.checks``: where in the document; ``the top level`` for itself."""
    words = ""
    for part in path:
        if isinstance(part, int):
            words += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            words += f".{part}" if words else str(part)
        else:
            words += f"[{one_line(json.dumps(str(part)), 40)}]"
    return words or "the top level"


def _kind(value: Any) -> str:
    """``a number (7)``, ``a string ('…')``, ``a list``: a value's kind, scalars shown short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({one_line(repr(value), 40)})"
    if isinstance(value, str):
        return f"a string ({one_line(json.dumps(value), 40)})"
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


def items(value: Any) -> list[Any]:
    """A list from a results file, or none: what a report iterates over is a list, whatever
    a document not read through :func:`read_results` holds there."""
    return value if isinstance(value, list) else []
