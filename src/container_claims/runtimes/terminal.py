"""A real interactive session: a client process under a pseudo-terminal, typed into.

This is how the article works: ``docker run --rm -ti IMAGE /bin/bash``, a prompt, lines typed,
``exit``. Each typed line is wrapped between two markers that only the shell's *output* can
produce (the echo of the typed line has the marker split by quotes), so output is found
reliably with or without a terminal, with or without echo, and never by timing alone.

What the session prints is read once, in linear time, whatever its size: markers are looked
for only in the text not searched yet (plus a marker's length held back, as reads can split
one), and a prompt only at the end of the last line. Memory stays bounded: a typed line keeps
at most :data:`~container_claims.observations.OUTPUT_LIMIT` characters of its output, and the
transcript its head and tail within about
:data:`~container_claims.observations.TRANSCRIPT_LIMIT` characters; the rest is counted.

A line that gets no reply in time is interrupted (Ctrl-C); the session goes on when the shell
answers again, and is broken, for every later line, when it does not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence

import pexpect

from container_claims.errors import ObservationError
from container_claims.observations import OUTPUT_LIMIT, TRANSCRIPT_LIMIT, CommandOutcome
from container_claims.processes import behind_a_terminal
from container_claims.runtimes.base import Shell

#: The end of a shell prompt: `root@host:/# `, `user@host:~$ ` (escape codes allowed before).
PROMPT = re.compile(r"[^\r\n]*[#$] $")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>]")
#: What a read can end with that the next read may turn into one of ``_ANSI``'s sequences.
_UNFINISHED = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*|\][^\x07\x1b]*)")
_OSC_OPEN = re.compile(r"\x1b\][^\x07\x1b]*")

#: Most seconds to wait for the prompt after a line's end marker (it follows at once).
PROMPT_WAIT = 10.0
#: Seconds the shell has to answer again once Ctrl-C interrupted a line that got no reply.
RECOVERY_WAIT = 5.0

_READ_SIZE = 1 << 16
#: Longest unfinished escape sequence held back for the next read; a longer one is text.
_HOLD_LIMIT = 4096
#: Longest last line looked at for a prompt.
_LINE_LIMIT = 1024


def clean(text: str) -> str:
    """Terminal output as text: escape sequences and carriage returns removed."""
    return _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "")


def _unfinished_escape(text: str) -> int:
    """Where an escape sequence that later text could complete begins (``len(text)``: none)."""
    floor = max(0, len(text) - _HOLD_LIMIT)
    start = text.rfind("\x1b", floor)
    if start < 0:
        return len(text)
    if start == len(text) - 1:  # a lone ESC may begin the "ESC \" that ends an OSC
        opener = text.rfind("\x1b", floor, start)
        if opener >= 0 and _OSC_OPEN.fullmatch(text, opener, start):
            return opener
        return start
    return start if _UNFINISHED.fullmatch(text, start) else len(text)


class _Cleaner:
    """:func:`clean` over a stream: a sequence split across reads is held until it is whole."""

    def __init__(self) -> None:
        self.held = ""

    def feed(self, raw: str) -> str:
        text = self.held + raw
        cut = _unfinished_escape(text)
        self.held = text[cut:]
        return clean(text[:cut])

    def flush(self) -> str:
        text, self.held = self.held, ""
        return clean(text)


class _Transcript:
    """Cleaned session text within about ``limit`` characters: its head and its tail."""

    def __init__(self, limit: int) -> None:
        self._half = limit // 2
        self._head: list[str] = []
        self._head_size = 0
        self._tail: list[str] = []
        self._tail_size = 0
        self._dropped = 0
        self._text: str | None = ""

    def add(self, text: str) -> None:
        if not text:
            return
        self._text = None
        room = self._half - self._head_size
        if room > 0:
            self._head.append(text[:room])
            self._head_size += min(room, len(text))
            text = text[room:]
        if text:
            self._tail.append(text)
            self._tail_size += len(text)
            if self._tail_size > 2 * self._half:  # trimmed now and then: linear overall
                self._trim()

    def _trim(self) -> None:
        tail = "".join(self._tail)
        extra = max(0, len(tail) - self._half)
        self._dropped += extra
        self._tail = [tail[extra:]]
        self._tail_size = len(tail) - extra

    def text(self) -> str:
        if self._text is None:
            self._trim()
            gap = f"\n[... {self._dropped:,} characters not kept ...]\n" if self._dropped else ""
            self._text = "".join(self._head) + gap + "".join(self._tail)
        return self._text


class _Output:
    """A typed line's cleaned output up to ``limit`` characters; the rest is counted."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self._kept = 0
        self.dropped = 0
        # Newlines past the limit cost nothing: the trailing ones are stripped anyway.
        self.truncated = False

    def add(self, text: str) -> None:
        room = max(0, self._limit - self._kept)
        if room:
            self._parts.append(text[:room])
            self._kept += min(room, len(text))
        rest = text[room:]
        if rest:
            self.dropped += len(rest)
            self.truncated = self.truncated or bool(rest.strip("\n"))

    def text(self) -> str:
        return "".join(self._parts).rstrip("\n")

    def detail(self) -> str:
        if not self.truncated:
            return ""
        what = "character" if self.dropped == 1 else "characters"
        return f"{self.dropped:,} {what} of output not kept (past the first {self._limit:,})"


class _Ended(Exception):
    """The session ended (EOF on the terminal)."""


def _wrapped(line: str, number: int) -> str:
    """``line`` between the markers numbered ``number``, as typed (newline included)."""
    begin, end = f"__CC_B{number}__", f"__CC_E{number}"
    # The quotes keep the typed (echoed) text from matching the printed markers.
    return f'echo "{begin[:4]}""{begin[4:]}"; {line}; echo "{end[:4]}""{end[4:]}:$?__"\n'


class TerminalShell(Shell):
    """Drives ``argv`` (a ``run -i [-t] ... /bin/bash`` command line) under a pty."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        prompt_timeout: float,
    ) -> None:
        self._transcript = _Transcript(TRANSCRIPT_LIMIT)
        self._cleaner = _Cleaner()
        self._line = ""  # the raw text since the last line break, for the prompt
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
                preexec_fn=behind_a_terminal,  # dies with the suite; Ctrl-C works
            )
        except pexpect.ExceptionPexpect as exc:
            raise ObservationError(f"could not start {argv[0]}: {exc}") from exc
        self.prompt: str | None = None
        if prompt_timeout > 0:  # without a terminal no prompt comes
            try:
                self.prompt = self._await_prompt(time.monotonic() + prompt_timeout, now=False)
            except _Ended:
                self._child.close(force=True)
                raise ObservationError(
                    f"the session ended before a prompt appeared: {self._tail()!r}"
                ) from None
            except ObservationError:
                self.close()  # nobody else holds this session yet
                raise

    @property
    def pid(self) -> int:
        """PID of the client process (``docker run``, ``unshare``...) under the terminal."""
        return int(self._child.pid)

    @property
    def transcript(self) -> str:  # type: ignore[override]
        """The session as text, within about ``TRANSCRIPT_LIMIT`` characters (cached)."""
        text = self._transcript.text()
        return text + clean(self._cleaner.held) if self._cleaner.held else text

    def _tail(self) -> str:
        return self.transcript.strip()[-500:]

    # -- reading ----------------------------------------------------------------------------
    def _receive(self, deadline: float) -> str | None:
        """The next raw text read (maybe empty), or None when ``deadline`` passed first.

        Raises :class:`_Ended` when the session ended.
        """
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            raw: str = self._child.read_nonblocking(_READ_SIZE, timeout=left)
        except pexpect.TIMEOUT:
            return None
        except pexpect.EOF:
            self._transcript.add(self._cleaner.flush())
            raise _Ended from None
        except (pexpect.ExceptionPexpect, OSError, ValueError) as exc:
            self._broken = f"the terminal failed: {exc}"
            raise ObservationError(f"the terminal session failed: {exc}") from exc
        self._transcript.add(self._cleaner.feed(raw))
        cut = max(raw.rfind("\n"), raw.rfind("\r"))
        last = raw[cut + 1 :] if cut >= 0 else self._line + raw[-_LINE_LIMIT:]
        self._line = last[-_LINE_LIMIT:]
        return raw

    def _at_prompt(self) -> str | None:
        """The prompt the text read so far ends with, if it ends with one."""
        line = clean(self._line)
        # match, not search: the line has no line breaks, so this is the same, in linear time.
        return line.strip() if PROMPT.match(line) else None

    def _await_prompt(self, deadline: float, *, now: bool) -> str | None:
        """The prompt once the output ends with one; None when none came by ``deadline``.

        With ``now`` the text already read counts; without, only text read from now on.
        """
        if now and (prompt := self._at_prompt()) is not None:
            return prompt
        while (raw := self._receive(deadline)) is not None:
            if raw and (prompt := self._at_prompt()) is not None:
                return prompt
        return None

    def _read_reply(self, number: int, deadline: float, output: _Output) -> int | None:
        """Read line ``number``'s output into ``output``; its status, or None at ``deadline``.

        Only the markers of this number count: what an interrupted earlier line prints late
        is never taken for this one's output or end. Markers are looked for in the raw text,
        so an unfinished escape sequence printed just before one cannot swallow it.
        """
        begin = re.compile(f"__CC_B{number}__\r*\n")
        end = re.compile(f"__CC_E{number}:([0-9]{{1,3}})__")
        keep = len(f"__CC_E{number}:255__") + 8  # a marker split across reads stays whole
        cleaner = _Cleaner()
        pending = ""
        started = False
        while (raw := self._receive(deadline)) is not None:
            pending += raw
            if not started:
                found = begin.search(pending)
                if found is None:
                    pending = pending[-keep:]
                    continue
                started = True
                pending = pending[found.end() :]
            found = end.search(pending)
            if found is not None:
                output.add(cleaner.feed(pending[: found.start()]) + cleaner.flush())
                return int(found.group(1))
            output.add(cleaner.feed(pending[:-keep]))
            pending = pending[-keep:]
        if started:
            output.add(cleaner.feed(pending) + cleaner.flush())
        return None

    def _send(self, text: str) -> None:
        try:
            self._child.send(text)
        except OSError:
            raise _Ended from None

    # -- typing -----------------------------------------------------------------------------
    def type(self, line: str, timeout: float) -> CommandOutcome:
        if self._broken:
            raise ObservationError(f"not typed: {self._broken}")
        self._count += 1
        deadline = time.monotonic() + timeout
        output = _Output(OUTPUT_LIMIT)
        try:
            self._send(_wrapped(line, self._count))
            status = self._read_reply(self._count, deadline, output)
        except _Ended:
            self._broken = f"the session ended while running {line!r}"
            raise ObservationError(f"{self._broken}; it last showed {self._tail()!r}") from None
        if status is None:
            self._recover(line, timeout)
            detail = f"no reply within {timeout:g} s"
            return CommandOutcome(
                output=output.text(),
                status=None,
                completed=False,
                detail=f"{detail}; {output.detail()}" if output.truncated else detail,
                truncated=output.truncated,
            )
        if self.prompt is not None:  # wait for the next prompt so typing never races it
            try:
                wait = min(timeout, PROMPT_WAIT)
                if self._await_prompt(time.monotonic() + wait, now=True) is None:
                    self._broken = f"the prompt did not come back after {line!r}"
            except _Ended:
                self._broken = f"the session ended after {line!r}"
        return CommandOutcome(
            output=output.text(),
            status=status,
            detail=output.detail(),
            truncated=output.truncated,
        )

    def _recover(self, line: str, timeout: float) -> None:
        """Interrupt a line that got no reply; the session goes on if the shell answers."""
        deadline = time.monotonic() + RECOVERY_WAIT
        try:
            try:
                self._child.sendintr()
            except OSError:
                raise _Ended from None
            if self.prompt is not None:
                answered = self._await_prompt(deadline, now=False) is not None
            else:  # no prompt to wait for: a line of our own must come back
                self._count += 1
                self._send(_wrapped("true", self._count))
                answered = self._read_reply(self._count, deadline, _Output(0)) is not None
        except _Ended:
            self._broken = f"the session ended when Ctrl-C interrupted {line!r}"
            return
        if not answered:
            self._broken = (
                f"{line!r} got no reply within {timeout:g} s, and the shell did not answer "
                f"within {RECOVERY_WAIT:g} s of Ctrl-C"
            )

    def exit(self, line: str, timeout: float) -> int | None:
        if self._broken:  # typing does not reach the shell: the exit line would not either
            raise ObservationError(f"could not end the session: {self._broken}")
        deadline = time.monotonic() + timeout
        try:
            if self._child.isalive():
                self._send(line + "\n")
            while self._receive(deadline) is not None:
                pass  # read to the end, for the transcript
        except _Ended:
            while self._child.isalive() and time.monotonic() < deadline:
                time.sleep(0.01)  # the terminal closed: the client is exiting, let it finish
            self._child.close()
            status: int | None = self._child.exitstatus
            return status
        raise ObservationError(f"the session did not end within {timeout:g} s of {line!r}")

    def close(self) -> None:
        if self._child.isalive():
            self._child.terminate(force=True)  # our own child, by its pid
        self._child.close(force=True)
