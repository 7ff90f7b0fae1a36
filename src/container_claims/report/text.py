"""Text from scenarios, containers or results files, made safe and short for every report.

The terminal, pytest's failure text, Markdown and HTML all show text through here, so that no
control character reaches a reader's terminal and no value runs on for pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

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


def last(text: str, limit: int) -> str:
    """At most about ``limit`` characters from the end (where a program says what went
    wrong), saying how many were left out before."""
    if len(text) <= limit:
        return text
    return f"({len(text) - limit} characters before) …{text[-limit:]}"


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


def one_line(text: str, limit: int) -> str:
    """Text as one line of at most ``limit`` characters, blanks run together; blank text quoted."""
    text = " ".join(printable(text).split()) if text.strip() else json.dumps(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
