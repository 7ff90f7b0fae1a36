"""How a message shows what a file wrote: cut to a length, on one line."""

from __future__ import annotations


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str) -> str:
    return clip(" ".join(text.split()), 200)
