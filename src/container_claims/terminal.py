"""A real interactive session: a client process under a pseudo-terminal, typed into.

This is how the article works: ``docker run --rm -ti IMAGE /bin/bash``, a prompt, lines typed,
``exit``. Each typed line is wrapped between two markers that only the shell's *output* can
produce (the echo of the typed line has the marker split by quotes), so output is found
reliably with or without a terminal, with or without echo, and never by timing alone.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence

import pexpect

from container_claims.errors import ObservationError
from container_claims.observations import CommandOutcome
from container_claims.runtimes.base import Shell

#: The end of a shell prompt: `root@host:/# `, `user@host:~$ ` (escape codes allowed before).
PROMPT = re.compile(r"[^\r\n]*[#$] $")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>]")


def clean(text: str) -> str:
    """Terminal output as text: escape sequences and carriage returns removed."""
    return _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "")


class TerminalShell(Shell):
    """Drives ``argv`` (a ``run -i [-t] ... /bin/bash`` command line) under a pty."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        prompt_timeout: float,
    ) -> None:
        self._log = io.StringIO()
        self._count = 0
        self._broken: str | None = None
        try:
            self._child = pexpect.spawn(
                argv[0],
                list(argv[1:]),
                env=dict(env),
                encoding="utf-8",
                codec_errors="replace",
                dimensions=(40, 240),
                echo=True,
            )
        except pexpect.ExceptionPexpect as exc:
            raise ObservationError(f"could not start {argv[0]}: {exc}") from exc
        self._child.logfile_read = self._log
        self.prompt = self._await_prompt(prompt_timeout) if prompt_timeout > 0 else None

    @property
    def pid(self) -> int:
        """PID of the client process (``docker run``, ``unshare``...) under the terminal."""
        return int(self._child.pid)

    @property
    def transcript(self) -> str:  # type: ignore[override]
        return clean(self._log.getvalue())

    def _await_prompt(self, timeout: float) -> str | None:
        index = self._expect([PROMPT, pexpect.EOF, pexpect.TIMEOUT], timeout)
        if index == 1:
            raise ObservationError(
                f"the session ended before a prompt appeared: {self.transcript.strip()[-500:]!r}"
            )
        if index == 2:
            return None  # no prompt: the shell is not interactive (no terminal)
        last_line = clean(self._child.after).split("\n")[-1]
        return last_line.strip()

    def _expect(self, patterns: list[object], timeout: float) -> int:
        try:
            return int(self._child.expect(patterns, timeout=timeout))
        except pexpect.ExceptionPexpect as exc:  # e.g. the pty closed under us
            raise ObservationError(f"terminal session failed: {exc}") from exc

    def type(self, line: str, timeout: float) -> CommandOutcome:
        if self._broken:
            raise ObservationError(f"not typed: {self._broken}")
        self._count += 1
        begin, end = f"__CC_B{self._count}__", f"__CC_E{self._count}"
        # The quotes keep the typed (echoed) text from matching the printed markers.
        wrapped = f'echo "{begin[:4]}""{begin[4:]}"; {line}; echo "{end[:4]}""{end[4:]}:$?__"'
        self._child.sendline(wrapped)
        index = self._expect(
            [re.compile(re.escape(end) + r":(\d+)__"), pexpect.EOF, pexpect.TIMEOUT], timeout
        )
        seen = clean(self._child.before or "")
        output = seen.split(begin, 1)[1].lstrip("\n") if begin in seen else ""
        if index == 0:
            status = int(self._child.match.group(1))
            if self.prompt is not None:  # wait for the next prompt so typing never races it
                self._expect([PROMPT, pexpect.TIMEOUT], min(timeout, 10))
            return CommandOutcome(output=output.rstrip("\n"), status=status)
        if index == 1:
            self._broken = "the session ended"
            raise ObservationError(f"the session ended while running {line!r}")
        self._broken = f"{line!r} got no reply within {timeout:g} s"
        return CommandOutcome(
            output=output.rstrip("\n"),
            status=None,
            completed=False,
            detail=f"no reply within {timeout:g} s",
        )

    def exit(self, line: str, timeout: float) -> int | None:
        if self._broken:  # typing does not reach the shell: the exit line would not either
            raise ObservationError(f"could not end the session: {self._broken}")
        if not self._child.isalive():
            self._child.close()
            return self._child.exitstatus  # type: ignore[no-any-return]
        self._child.sendline(line)
        if self._expect([pexpect.EOF, pexpect.TIMEOUT], timeout) == 1:
            raise ObservationError(f"the session did not end within {timeout:g} s of {line!r}")
        self._child.close()
        return self._child.exitstatus  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._child.isalive():
            self._child.terminate(force=True)  # our own child, by its pid
        self._child.close(force=True)
