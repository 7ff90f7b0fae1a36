"""What a command's printed output looks like, which decides the operator of its draft claim:

=============  =========================================  ====================================
shape          recognised by                              drafted as
=============  =========================================  ====================================
``error``      a short output with an error's words       ``contains`` each error line
``ps``         a header with PID and COMMAND (or CMD)     ``rows`` (``header: true``) and
                                                          ``matches`` of each COMMAND entry
``listing``    the output of ``ls``                       ``contains`` each name
``number``     one number                                 ``equals`` it
``hex``        one hex word, Docker's hostname form       ``not_equals`` the host's hostname
``text``       one line                                   ``equals`` it
``lines``      several lines                              ``contains`` each line
=============  =========================================  ====================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from container_claims.draft.prompts import is_hex_hostname, without_sudo

ShapeKind = Literal["error", "ps", "listing", "number", "hex", "text", "lines"]

#: Words of a line that reports an error (lower case).
_ERROR_WORDS = (
    "command not found",
    "no such file or directory",
    "permission denied",
    "operation not permitted",
    "read-only file system",
    "not permitted",
    "cannot ",
    "can't ",
    "error",
    "denied",
    "failed",
    "unable to",
    "not found",
    "invalid",
)
#: Lines an article writes for output it left out.
_ELISIONS = frozenset({"...", "…", "[...]", "[…]", "(...)", "<snip>", "[snip]", "[..]", ".."})
#: Most lines of an output an error shape can have (a long output is not "an error").
_ERROR_OUTPUT_LINES = 5


@dataclass(frozen=True)
class PsRow:
    pid: int | None
    command: str


@dataclass(frozen=True)
class PsTable:
    columns: tuple[str, ...]
    rows: tuple[PsRow, ...]
    #: Whether the article left rows out (``...``): then their number says nothing.
    elided: bool


@dataclass(frozen=True)
class Shape:
    kind: ShapeKind
    #: The output's lines, cleaned (terminal escapes gone), without blank or elided ones.
    lines: tuple[str, ...]
    number: int | float | None = None
    names: tuple[str, ...] = ()
    table: PsTable | None = None


def program_of(command: str) -> tuple[str, list[str]]:
    """The program a command line runs (its base name) and its arguments, shell-split simply:
    enough to tell ``ls -l`` from ``ps aux``."""
    words = without_sudo(command).split()
    while words and "=" in words[0] and not words[0].startswith("-"):
        words = words[1:]  # VAR=value before the program
    if not words:
        return "", []
    return words[0].rsplit("/", 1)[-1], words[1:]


def shape_of(command: str, lines: tuple[str, ...]) -> Shape | None:
    """The shape of what ``command`` printed (None: nothing but blank or elided lines)."""
    cleaned = [clean_line(line) for line in lines]
    elided = any(line.strip() in _ELISIONS for line in cleaned)
    kept = tuple(line for line in cleaned if line.strip() and line.strip() not in _ELISIONS)
    if not kept:
        return None
    program, arguments = program_of(command)
    errors = tuple(line.strip() for line in kept if is_error_line(line))
    if errors and len(kept) <= _ERROR_OUTPUT_LINES:
        return Shape("error", errors)
    table = ps_table(kept, elided)
    if table is not None:
        return Shape("ps", kept, table=table)
    if program == "ls":
        return Shape("listing", kept, names=_names(kept, arguments))
    if len(kept) == 1:
        single = kept[0].strip()
        number = as_number(single)
        if number is not None:
            return Shape("number", kept, number=number)
        if is_hex_hostname(single) and (program == "hostname" or len(single) in (12, 64)):
            return Shape("hex", kept)
        return Shape("text", kept)
    return Shape("lines", tuple(line.rstrip() for line in kept))


def is_error_line(line: str) -> bool:
    """A line as programs report errors (``prog: what: why``, ``Error: ...``), with an
    error's words: a file named ``error.log`` in a listing is none."""
    lower = line.strip().lower()
    if ": " not in lower and not lower.startswith(("error:", "error ", "fatal:", "e: ")):
        return False
    return any(word in lower for word in _ERROR_WORDS)


def as_number(text: str) -> int | float | None:
    """``text`` as a whole or decimal number (at most 15 digits), else None."""
    body = text[1:] if text.startswith("-") else text
    whole, dot, fraction = body.partition(".")
    if not whole.isdigit() or not whole.isascii() or len(body) > 15:
        return None
    if not dot:
        return int(text)
    if fraction.isdigit() and fraction.isascii():
        return float(text)
    return None


def ps_table(lines: tuple[str, ...], elided: bool) -> PsTable | None:
    """``ps``'s table: a header naming PID and COMMAND (CMD, ARGS), then a row a process."""
    columns = tuple(lines[0].split())
    last = columns[-1] if columns else ""
    if "PID" not in columns or last not in ("COMMAND", "CMD", "ARGS"):
        return None
    pid_at = columns.index("PID")
    rows = []
    for line in lines[1:]:
        parts = line.split(None, len(columns) - 1)
        pid = parts[pid_at] if len(parts) > pid_at else ""
        command = parts[-1].strip() if len(parts) == len(columns) else ""
        rows.append(PsRow(int(pid) if pid.isdigit() and len(pid) < 10 else None, command))
    return PsTable(columns, tuple(rows), elided)


def _names(lines: tuple[str, ...], arguments: list[str]) -> tuple[str, ...]:
    """The names ``ls`` listed: each word, or with ``-l`` the last word of each entry."""
    long_form = any(a.startswith("-") and not a.startswith("--") and "l" in a for a in arguments)
    names: list[str] = []
    for line in lines:
        if long_form:
            words = line.split()
            if words and words[0] != "total" and len(words) >= 3:
                names.append(words[-1])
        else:
            names.extend(line.split())
    seen: dict[str, None] = {}
    for name in names:
        if name not in (".", ".."):
            seen.setdefault(name, None)
    return tuple(seen)


def clean_line(line: str) -> str:
    """A line as a terminal showed it: escape sequences (colours, titles) dropped, and only
    what followed the last carriage return (a progress line redrawn)."""
    if "\r" in line:
        line = line.rsplit("\r", 1)[-1]
    if "\x1b" not in line:
        return line.rstrip()
    kept: list[str] = []
    index, size = 0, len(line)
    while index < size:
        char = line[index]
        if char != "\x1b":
            kept.append(char)
            index += 1
            continue
        kind = line[index + 1 : index + 2]
        index += 2
        if kind == "[":  # CSI: parameters, then one final byte from @ to ~
            while index < size and not "@" <= line[index] <= "~":
                index += 1
            index += 1
        elif kind == "]":  # OSC: up to BEL or ESC \
            while index < size and line[index] != "\x07" and not line.startswith("\x1b\\", index):
                index += 1
            index += 1 if index < size and line[index] == "\x07" else 2
    return "".join(kept).rstrip()
