"""A draft written as YAML text, with comments, from plain values.

The drafter writes the text itself rather than through a YAML library, because a draft
carries comments (what the article showed, what was left out) and because every string it
writes comes from an article: each is double-quoted, with every character YAML would read
as anything but itself escaped, so ``*a``, ``!!python/object``, ``&x``, ``{{ x }}``, ``- ``,
``: `` and ``#`` stay text. Comments are one line of printable text. What a scenario's
loader would refuse is decided before (:mod:`.drafting`); this module only spells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Keys written without quotes: the format's own (and names the drafter made).
_PLAIN_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
#: What a value written plain may hold.
_PLAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")
#: Words YAML 1.1 reads as something other than text, even as keys.
_YAML_WORDS = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null"])
#: Longest comment line written (its text; the article's words are cut there).
MAX_COMMENT = 160
#: Longest flow list (``[a, b]``) written on one line.
_FLOW_WIDTH = 80


@dataclass(frozen=True)
class Commented:
    """A value with comment lines written above it (above its key, or its ``-``)."""

    value: Any
    comments: tuple[str, ...] = field(default_factory=tuple)


def quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar that reads back as exactly ``text``."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif char.isprintable():
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def comment(text: str) -> str:
    """``text`` as one comment line's text: printable, on one line, cut to a length."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= MAX_COMMENT else flat[: MAX_COMMENT - 1] + "…"


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if value is None:
        return "null"
    text = str(value)
    return text if _plain(text) else quoted(text)


def _plain(text: str) -> bool:
    """Whether ``text`` reads back as itself written plain: letters, digits and ``_ . / -``,
    beginning with a letter or ``/`` (so never a number, a date, an alias or a tag), and not
    one of YAML's words for true, false or null."""
    return (
        0 < len(text) <= 200
        and (text[0].isascii() and text[0].isalpha() or text[0] == "/")
        and set(text) <= _PLAIN_CHARS
        and text.lower() not in _YAML_WORDS
    )


def key(name: str) -> str:
    if name and set(name) <= _PLAIN_KEY_CHARS and name[0].isalpha() and name not in _YAML_WORDS:
        return name
    return quoted(name)


def document(values: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """The YAML text of ``values`` (a mapping; values may be :class:`Commented`), with the
    ``header`` comment lines first."""
    out = [f"# {comment(line)}" if line else "#" for line in header]
    _mapping(out, values, 0)
    return "\n".join(out) + "\n"


def _unwrap(value: Any) -> tuple[Any, tuple[str, ...]]:
    if isinstance(value, Commented):
        return value.value, value.comments
    return value, ()


def _comments(out: list[str], comments: tuple[str, ...], indent: int) -> None:
    out.extend(f"{' ' * indent}# {comment(line)}" for line in comments)


def _is_scalar(value: Any) -> bool:
    if isinstance(value, Commented):
        return False  # its comments need lines of their own
    return not isinstance(value, Mapping | list | tuple) or not value


def _inline(value: Any) -> str | None:
    """A scalar, an empty collection or a short list of scalars, written on one line."""
    if isinstance(value, Mapping):
        return "{}" if not value else None
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        if all(_is_scalar(item) and not isinstance(item, list | tuple) for item in value):
            flow = "[" + ", ".join(scalar(item) for item in value) + "]"
            return flow if len(flow) <= _FLOW_WIDTH else None
        return None
    return scalar(value)


def _mapping(out: list[str], values: Mapping[str, Any], indent: int) -> None:
    pad = " " * indent
    for name, raw in values.items():
        value, comments = _unwrap(raw)
        _comments(out, comments, indent)
        inline = _inline(value)
        if inline is not None:
            out.append(f"{pad}{key(name)}: {inline}")
        elif isinstance(value, Mapping):
            out.append(f"{pad}{key(name)}:")
            _mapping(out, value, indent + 2)
        else:
            out.append(f"{pad}{key(name)}:")
            _sequence(out, value, indent + 2)


def _sequence(out: list[str], items: Sequence[Any], indent: int) -> None:
    pad = " " * indent
    for raw in items:
        item, comments = _unwrap(raw)
        _comments(out, comments, indent)
        if isinstance(item, Mapping) and item:
            inner: list[str] = []
            _mapping(inner, item, indent + 2)
            first = next(i for i, line in enumerate(inner) if not line.lstrip().startswith("#"))
            inner[first] = f"{pad}- {inner[first][indent + 2 :]}"
            out.extend(inner)
        elif isinstance(item, list | tuple) and item:
            out.append(f"{pad}-")
            _sequence(out, item, indent + 2)
        else:
            out.append(f"{pad}- {_inline(item)}")
