"""The text of a scenario or runtimes file, read within :data:`MAX_BYTES`: a file is
hostile input, and a huge one is refused before it is read or parsed."""

from __future__ import annotations

import os
from pathlib import Path

from container_claims.errors import ScenarioError

#: The largest scenario or runtimes file; real ones are a few KiB.
MAX_BYTES = 1 << 20


def read_source(path: Path, where: str) -> str:
    """The text of a scenario or runtimes file, never reading more than :data:`MAX_BYTES` + 1.

    Raises :class:`ScenarioError` for a file that is too big or not UTF-8; ``OSError`` is left
    to the caller, which knows what it was reading.
    """
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size  # 0 for a pipe or a device: reading tells
        data = b"" if size > MAX_BYTES else file.read(MAX_BYTES + 1)
    if size > MAX_BYTES or len(data) > MAX_BYTES:
        raise ScenarioError(where, None, _too_big(size if size > MAX_BYTES else None))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8")
        column = len(before) - max(before.rfind("\n"), before.rfind("\r"))
        raise ScenarioError(
            where,
            line_at(before, len(before)),
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} in column {column}); "
            "save the file as UTF-8",
        ) from None


def check_size(text: str, where: str) -> None:
    """Raise :class:`ScenarioError` for a text over :data:`MAX_BYTES` in UTF-8."""
    size = _utf8_size(text)
    if size > MAX_BYTES:
        raise ScenarioError(where, None, _too_big(size))


def line_at(text: str, index: int) -> int:
    """The 1-based line of ``text[index]``, counting line breaks as PyYAML does."""
    breaks = sum(text.count(c, 0, index) for c in "\n\r\x85\u2028\u2029")
    return 1 + breaks - text.count("\r\n", 0, index)


def _utf8_size(text: str) -> int:
    """The bytes of ``text`` in UTF-8, encoded a slice at a time so a huge text is not copied."""
    if text.isascii():
        return len(text)
    step = 1 << 16
    return sum(
        len(text[start : start + step].encode("utf-8", "surrogatepass"))
        for start in range(0, len(text), step)
    )


def _too_big(size: int | None) -> str:
    said = f"{size:,} bytes" if size is not None else f"more than {MAX_BYTES:,} bytes"
    return f"the file is {said}; a scenario or runtimes file is at most 1 MiB"
