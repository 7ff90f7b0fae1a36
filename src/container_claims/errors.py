"""The project's own small exception hierarchy.

Everything the suite raises on purpose derives from :class:`ClaimsError`, so the CLI and the
pytest plugin can tell "your input is wrong" (exit 2) from "we could not observe" (exit 3)
without catching library exceptions all over the code. Library errors (Docker SDK, pexpect,
subprocess) are mapped to these in the one module that calls the library, with ``raise ... from``.
"""

from __future__ import annotations


class ClaimsError(Exception):
    """Base class of every error container-claims raises on purpose."""


class InputError(ClaimsError):
    """Bad input from the user: a scenario file, a runtimes file, an option. Exit code 2."""


class ScenarioError(InputError):
    """A scenario file is invalid. ``str()`` is one line: ``file:line: what is wrong``."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


#: The most errors of one file that are shown, each at its line; the others are counted in
#: one more line, so that a file of a thousand mistakes reads as twenty and a number.
SHOWN_ERRORS = 20


class ScenarioErrors(ScenarioError):
    """Several things wrong in one scenario file: each is a :class:`ScenarioError` of its own
    line; ``str()`` gives them one per line, in the file's order, then :class:`MoreErrors`'s
    line when ``more`` were left out."""

    def __init__(self, errors: list[ScenarioError], more: int = 0) -> None:
        first = errors[0]
        super().__init__(first.path, first.line, first.message)
        self.errors = errors
        self.more = more
        lines = [str(error) for error in errors]
        if more:
            lines.append(str(self.left_out()))
        self.args = ("\n".join(lines),)

    def __str__(self) -> str:
        return str(self.args[0])

    def left_out(self) -> MoreErrors:
        """The line that counts the errors not shown."""
        return MoreErrors(self.path, self.more)


class MoreErrors(InputError):
    """How many more errors a file has than are shown: ``... and K more errors in FILE``."""

    def __init__(self, path: str, count: int) -> None:
        self.path = path
        self.line = None
        self.count = count
        super().__init__(f"... and {count:,} more error{'s' if count != 1 else ''} in {path}")


class ObservationError(ClaimsError):
    """Something could not be observed: engine down, timeout, a probe that failed.

    A claim that depends on such an observation gets the verdict *error*, never pass or fail.
    """


class ReadCutShort(ObservationError):
    """A read that its deadline ended while the other side was still sending: not whole.
    ``received`` is what came before the deadline."""

    def __init__(self, message: str, received: bytes) -> None:
        super().__init__(message)
        self.received = received


class RuntimeUnavailable(ObservationError):
    """A runtime cannot run here (binary missing, engine not answering)."""
