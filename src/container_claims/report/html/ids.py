"""Element ids of the page: a cell's evidence panel and a row, unique and stable by name."""

from __future__ import annotations

import re


def cell_id(claim: str, runtime: str) -> str:
    """The ``id`` of a cell's evidence panel, also its URL fragment: ``c-CLAIM--RUNTIME``."""
    return f"c-{slug(claim)}--{slug(runtime)}"


class CellIds:
    """Unique element ids for cells and rows, stable for the same claim and runtime names."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, str], str] = {}
        self._taken: set[str] = set()

    def cell(self, claim: str, runtime: str) -> str:
        return self._id(("cell", claim + "\0" + runtime), cell_id(claim, runtime))

    def row(self, claim: str, table: int = 1) -> str:
        if table == 1:
            return self._id(("row", claim), f"r-{slug(claim)}")
        return self._id(("row", f"{claim}\0{table}"), f"r-{slug(claim)}-{table}")

    def _id(self, key: tuple[str, str], wanted: str) -> str:
        if key not in self._given:
            given, number = wanted, 1
            while given in self._taken:
                number += 1
                given = f"{wanted}-{number}"
            self._given[key] = given
            self._taken.add(given)
        return self._given[key]


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def slug(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"_{ord(m.group()):x}_", text)
