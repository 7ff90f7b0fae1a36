"""The errors found in one file, raised together: the first :data:`SHOWN_ERRORS` by line,
the rest counted; a message that costs to write is written only if it is shown."""

from __future__ import annotations

from collections.abc import Callable

from container_claims.errors import SHOWN_ERRORS, ScenarioError, ScenarioErrors


def raise_all(errors: list[ScenarioError], more: int = 0) -> None:
    """Nothing when ``errors`` is empty; the error itself when one; else the first
    :data:`SHOWN_ERRORS` by line, counting the rest and the ``more`` found but not described."""
    if not errors:
        return
    ordered = sorted(errors, key=lambda e: e.line or 0)
    shown = [e.written() if isinstance(e, Deferred) else e for e in ordered[:SHOWN_ERRORS]]
    more += len(ordered) - len(shown)
    if len(shown) == 1 and not more:
        raise shown[0]
    raise ScenarioErrors(shown, more)


class Deferred(ScenarioError):
    """An error whose whole message costs (a "did you mean" among every name saved so far):
    written out by :func:`raise_all` only if it is shown, not for each of thousands."""

    def __init__(self, where: str, line: int | None, message: str, write: Callable[[], str]):
        super().__init__(where, line, message)
        self.write = write

    def written(self) -> ScenarioError:
        return ScenarioError(self.path, self.line, self.write())
