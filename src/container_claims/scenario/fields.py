"""What each step, the session and each probe yields: the fields a ``that:`` may name.

An observation saved by a step has a :class:`Shape`, declared here for steps and the session
and in the probe table for probes. The loader walks a claim's ``that: name.field.0`` and every
``{{ name.field }}`` through these shapes, so a misspelt or missing field is an error at
``file:line`` with a suggestion, before any container starts; numeric operators are refused on
what is never a number.

Kinds: ``text``; ``output`` (what a command printed: text, read as a number by numeric
operators when it is one); ``number``; ``boolean``; ``list`` (of ``items``, indexed ``.0``);
``mapping`` (of ``fields``); ``command`` (a command's outcome: its bare name is its output,
see :data:`COMMAND`); ``any`` (whatever the runtime reports: not checked further).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Kinds a numeric operator (less_than...) can compare.
NUMERIC_KINDS = frozenset({"number", "output", "any"})


@dataclass(frozen=True)
class Shape:
    kind: str
    doc: str = ""
    fields: Mapping[str, Shape] = field(default_factory=dict)
    items: Shape | None = None

    def describe(self) -> str:
        """In words, for messages and the docs: "text", "a list of numbers"..."""
        if self.kind == "list" and self.items is not None:
            return f"a list of {_plural(self.items)}"
        if self.kind in ("mapping", "command"):
            return "a mapping" if self.kind == "mapping" else "a command's outcome"
        return {"output": "text, or a number where it is one", "any": "anything"}.get(
            self.kind, self.kind
        )


def _plural(shape: Shape) -> str:
    return {"text": "texts", "number": "numbers", "boolean": "booleans"}.get(
        shape.kind, "mappings" if shape.kind == "mapping" else "values"
    )


class FieldError(ValueError):
    """A path names a field its observation does not have; the message says which exist."""


def text(doc: str = "") -> Shape:
    return Shape("text", doc)


def number(doc: str = "") -> Shape:
    return Shape("number", doc)


def boolean(doc: str = "") -> Shape:
    return Shape("boolean", doc)


def output(doc: str = "") -> Shape:
    return Shape("output", doc)


def any_value(doc: str = "") -> Shape:
    return Shape("any", doc)


def list_of(items: Shape, doc: str = "") -> Shape:
    return Shape("list", doc, items=items)


def mapping(doc: str = "", **fields: Shape) -> Shape:
    return Shape("mapping", doc, fields=fields)


#: A typed line, an ``exec`` or a ``run`` step: ``that: name`` is its output.
COMMAND = Shape(
    "command",
    "what a command gave back; the bare name means its output",
    fields={
        "output": output("what it printed (stdout; a terminal's screen for a typed line)"),
        "status": number("its exit status (null when it never finished)"),
        "completed": boolean("whether it finished within its timeout"),
        "detail": text('why it did not finish, e.g. "no reply within 10 s"'),
        "stderr": text("what it printed on stderr, where the runtime keeps it apart"),
        "truncated": boolean("whether its output was longer than what is kept"),
    },
)

#: A ``stop`` step.
STOP = mapping(
    "how a detached container ended when stopped",
    status=number("its exit status (137: killed by SIGKILL after the grace period)"),
    took_s=number("seconds from the stop signal to its end"),
)

#: A ``wait`` step.
WAIT = mapping(
    "the state a detached container reached, or not, within the step's timeout",
    reached=boolean("whether it got there within the timeout"),
    state=text("running or exited, when the wait ended"),
    status=number("its exit status once exited (null while it runs)"),
    waited_s=number("seconds waited"),
)

#: A ``signal`` step.
SIGNAL = mapping(
    "a signal sent to a detached container",
    signal=text("the signal sent"),
    state=text("running or exited, just after"),
)

#: A ``commit`` step: an image of this run, made of a container.
COMMIT = mapping(
    "an image made of a container's filesystem (docker commit)",
    ref=text("the image's reference, the suite's own: run: {image: ...} starts a container of it"),
    id=text("the image's id (sha256:...)"),
)

#: A ``build`` step: an image of this run, built from Dockerfile lines.
BUILT = mapping(
    "an image built from Dockerfile lines, offline (docker build --network none)",
    ref=text("the image's reference, the suite's own: run: {image: ...} starts a container of it"),
    id=text("the image's id (sha256:...)"),
    output=output("what the builder printed: each instruction, and what its RUN lines printed"),
)

#: The main container's terminal session (``container: save:``, by default ``session``).
SESSION = mapping(
    "the main container's terminal session",
    name=text("the container's name on the runtime"),
    prompt=text("the shell prompt first seen (null without a terminal)"),
    exit_status=number("the status the session ended with"),
)

#: Names every scenario can use without saving them (see ``observations.BUILTINS``).
BUILTIN_SHAPES = {
    "image": text("the image the run uses"),
    "token": text("a token unique to this scenario run"),
    "runtime": text("the runtime's name"),
    "run_id": text("the run's id, also the label on what it made"),
}


def resolve_shape(shape: Shape, path: str) -> Shape:
    """The shape at ``path`` below ``shape`` (``a.b.0`` without its first name).

    Raises :class:`FieldError` naming the first part that does not exist.
    """
    current, walked = shape, list[str]()
    for part in path.split(".") if path else []:
        if current.kind == "any":
            return current
        if current.kind == "list" and current.items is not None:
            if not part.isdigit():
                raise FieldError(
                    f"{'.'.join(walked) or 'it'} is {current.describe()}: "
                    f"name an item by its index (.0, .1...), not {part!r}"
                )
            current = current.items
        elif current.kind in ("mapping", "command"):
            if part not in current.fields:
                known = list(current.fields)
                near = difflib.get_close_matches(part, known, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise FieldError(
                    f"has no field {part!r}{hint}; its fields: {', '.join(known) or 'none'}"
                )
            current = current.fields[part]
        else:
            where = ".".join(walked) or "it"
            raise FieldError(f"{where} is {current.describe()}: it has no field {part!r}")
        walked.append(part)
    if current.kind == "command":
        return current.fields["output"]
    return current
