"""The values a YAML document loads to, each mapping and list knowing its lines, so that an
error in any part of a file can name ``file:line``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class MarkedDict(dict[str, Any]):
    """A mapping that knows the 1-based line of itself and of each of its keys."""

    line: int
    key_lines: dict[str, int]


class MarkedList(list[Any]):
    """A list that knows the 1-based line of itself and of each item."""

    line: int
    item_lines: list[int]


def line_of(document: Any, path: Sequence[str | int]) -> int | None:
    """The line of the deepest element of ``path`` (keys and indexes) found in ``document``."""
    line = getattr(document, "line", None)
    current = document
    for part in path:
        if isinstance(current, MarkedDict) and isinstance(part, str) and part in current:
            line = current.key_lines[part]
            current = current[part]
        elif isinstance(current, MarkedList) and isinstance(part, int) and part < len(current):
            line = current.item_lines[part]
            current = current[part]
        else:
            break
    return line
