"""Observations: what a scenario run saw, by name, and how claims and templates read them.

A scenario's steps save values under names (``save: shell_pid``). Values are plain data
(text, numbers, booleans, lists, mappings) or a :class:`CommandOutcome` for anything that ran a
command. Claims and templates address them with dotted paths: ``shell_proc.nspid``; a bare name
of a command outcome means its output.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from container_claims.errors import ObservationError

#: Names every scenario can use without saving them.
BUILTINS = ("image", "token", "runtime", "run_id")

#: Most characters of one command's output kept as an observation; beyond it the outcome is
#: marked truncated, and a claim cannot rest on it (what was not kept was not observed).
OUTPUT_LIMIT = 1 << 20
#: Most characters of a terminal session's transcript kept for the evidence (its head and
#: tail; the middle is counted, not kept).
TRANSCRIPT_LIMIT = 1 << 18

_TEMPLATE = re.compile(r"\{\{\s*([a-z][a-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")


@dataclass(frozen=True)
class CommandOutcome:
    """What came back from a typed line, an exec or a one-shot container."""

    output: str
    status: int | None  # None: it never finished (see ``completed``)
    completed: bool = True
    detail: str = ""  # e.g. "no reply within 10 s"
    stderr: str = ""  # kept apart where the runtime gives it apart (not for a terminal)
    truncated: bool = False  # output longer than OUTPUT_LIMIT: only its start was kept

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class MissingObservation(ObservationError):
    """A claim or template needs an observation this run did not make."""


class PartlyObserved(dict[str, Any]):
    """A probe's reading some of whose fields were not observed, each with the reason in
    ``unobserved``: a read of a port that got no reply has no reply to compare. The field
    keeps its value for the evidence (``received: ""``); a claim or a template that reads it
    is an error with that reason, never a pass or a fail, while the other fields stay
    observations."""

    def __init__(self, values: Mapping[str, Any], unobserved: Mapping[str, str]) -> None:
        super().__init__(values)
        self.unobserved = dict(unobserved)


def strings_in(data: Any) -> Iterator[str]:
    """Every string in nested lists, tuples and mappings (mapping values only)."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, Mapping):
        for value in data.values():
            yield from strings_in(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from strings_in(value)


def template_names(text: str) -> Iterator[str]:
    """The observation paths a string refers to with ``{{ ... }}``."""
    if "{{" not in text:  # most strings: no need to run the pattern
        return
    for match in _TEMPLATE.finditer(text):
        yield match.group(1)


def resolve(observations: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path``. Raises :class:`MissingObservation` with the reason."""
    name, *fields = path.split(".")
    if name not in observations:
        raise MissingObservation(f"observation {name!r} was not made in this run")
    value = observations[name]
    if isinstance(value, ObservationError):
        raise MissingObservation(f"observation {name!r} could not be made: {value}")
    for at, part in enumerate(fields):
        if isinstance(value, CommandOutcome):
            value = value.to_json()
        if isinstance(value, PartlyObserved) and part in value.unobserved:
            read = ".".join([name, *fields[: at + 1]])
            raise MissingObservation(f"{read} was not observed: {value.unobserved[part]}")
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise MissingObservation(f"observation {path!r} has no field {part!r}")
    if isinstance(value, CommandOutcome):
        return value.output
    return value


def render(text: str, observations: Mapping[str, Any], *, escape: bool = False) -> Any:
    """Fill ``{{ path }}`` templates. A string that is one template keeps the value's type.

    ``escape`` quotes inserted values for use inside a regular expression.
    """
    whole = _TEMPLATE.fullmatch(text.strip())
    if whole and not escape:
        return resolve(observations, whole.group(1))

    def replace(match: re.Match[str]) -> str:
        value = str(resolve(observations, match.group(1)))
        return re.escape(value) if escape else value

    return _TEMPLATE.sub(replace, text)


def render_data(data: Any, observations: Mapping[str, Any]) -> Any:
    """:func:`render` applied to every string in nested lists and mappings."""
    if isinstance(data, str):
        return render(data, observations)
    if isinstance(data, Mapping):
        return {key: render_data(value, observations) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [render_data(value, observations) for value in data]
    return data


def to_json(value: Any) -> Any:
    """Plain JSON-able data for evidence."""
    if isinstance(value, CommandOutcome):
        return value.to_json()
    if isinstance(value, ObservationError):
        return {"error": str(value)}
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
