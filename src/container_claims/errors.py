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


class ScenarioErrors(ScenarioError):
    """Several things wrong in one scenario file: each is a :class:`ScenarioError` of its own
    line; ``str()`` gives them one per line, in the file's order."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        first = errors[0]
        super().__init__(first.path, first.line, first.message)
        self.errors = errors
        self.args = ("\n".join(str(error) for error in errors),)

    def __str__(self) -> str:
        return str(self.args[0])


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
