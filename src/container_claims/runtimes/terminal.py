"""A real interactive session: a client process under a pseudo-terminal, typed into.

This is how the article works: ``docker run --rm -ti IMAGE /bin/bash``, a prompt, lines typed,
``exit``. Each typed line is wrapped between two markers that only the shell's *output* can
produce (the echo of the typed line has the marker split by quotes), so output is found
reliably with or without a terminal, with or without echo, and never by timing alone. Each
line's markers carry a fresh secret, never in the line typed, so a line cannot print its own
end ahead of time; with a prompt, a line has ended only when the prompt follows its end marker
within the line's time (an end marker printed by the line itself is output, and a line still
running after one is no complete observation).

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
import secrets
import signal
import time
from collections.abc import Mapping, Sequence

import pexpect

from container_claims.errors import ObservationError
from container_claims.observations import OUTPUT_LIMIT, TRANSCRIPT_LIMIT, CommandOutcome
from container_claims.processes import dying_with_us, from_starting_thread
from container_claims.runtimes.base import Shell

#: The end of a shell prompt: `root@host:/# `, `user@host:~$ ` (escape codes allowed before).
PROMPT = re.compile(r"[^\r\n]*[#$] $")
# Terminal control sequences (ECMA-48), in their 7-bit (ESC ...) and 8-bit (C1) forms: a
# program in the container can print any of them, and none is text.
_CSI = r"(?:\x1b\[|\x9b)[0-?]*[ -/]*"
# OSC, DCS, SOS, PM and APC carry a string up to BEL or ST (ESC \ or U+009C).
_STRING = r"(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*"
_ANSI = re.compile(
    rf"{_CSI}[@-~]"
    rf"|{_STRING}(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-OQ-WYZ\\`-~]"  # ESC = , ESC ( B, ESC 7 ...: one final byte
    r"|[\x80-\x9f]"  # a C1 control on its own
)
#: What a read can end with that the next read may turn into one of ``_ANSI``'s sequences.
_UNFINISHED = re.compile(rf"{_CSI}|{_STRING}|\x1b[ -/]*")
_STRING_OPEN = re.compile(_STRING)
#: What begins a control sequence: ESC, or the C1 controls that open one.
_INTRODUCERS = "\x1b\x9b\x9d\x90\x98\x9e\x9f"

#: Seconds past a line's timeout the prompt may take once its end marker came just in time
#: (the shell prints it at once).
PROMPT_GRACE = 1.0
#: Most characters between a line's end marker and the prompt (job notices, the prompt's own
#: escape codes); more means the marker was the line's output, not its end.
_AFTER_END_LIMIT = 4096
#: Seconds the shell has to answer again once Ctrl-C interrupted a line that got no reply.
RECOVERY_WAIT = 5.0

_READ_SIZE = 1 << 16
#: Longest unfinished escape sequence held back for the next read; a longer one is text.
_HOLD_LIMIT = 4096
#: Longest last line looked at for a prompt.
_LINE_LIMIT = 1024


def clean(text: str) -> str:
    """Terminal output as text: control sequences and carriage returns removed."""
    return _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "")


def _last_introducer(text: str, floor: int, end: int) -> int:
    """Where the last control sequence in ``text[floor:end]`` may begin, or -1."""
    return max(text.rfind(introducer, floor, end) for introducer in _INTRODUCERS)


def _unfinished_escape(text: str) -> int:
    """Where an escape sequence that later text could complete begins (``len(text)``: none)."""
    floor = max(0, len(text) - _HOLD_LIMIT)
    start = _last_introducer(text, floor, len(text))
    if start < 0:
        return len(text)
    if text.endswith("\x1b"):  # a lone ESC may begin the "ESC \" that ends a string
        opener = _last_introducer(text, floor, start)
        if opener >= 0 and _STRING_OPEN.fullmatch(text, opener, start):
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


def new_secret(line: str) -> str:
    """A fresh secret for ``line``'s markers, found nowhere in the line."""
    while (secret := secrets.token_hex(8)) in line:
        pass
    return secret


def _wrapped(line: str, secret: str) -> str:
    """``line`` between the markers made of ``secret``, as typed (newline included)."""
    begin, end = f"__CC_B{secret}__", f"__CC_E{secret}"
    # A line that puts its command in the background ends with its separator already: "&;"
    # is a syntax error. (Not "\\&", a literal ampersand, nor "&&", which waits for more.)
    stripped = line.rstrip()
    background = stripped.endswith("&") and not stripped.endswith(("\\&", "&&"))
    after = " " if background else "; "
    # The quotes keep the typed (echoed) text from matching the printed markers.
    return f'echo "{begin[:4]}""{begin[4:]}"; {line}{after}echo "{end[:4]}""{end[4:]}:$?__"\n'


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
        self._broken: str | None = None
        try:
            # It dies with the suite; Ctrl-C and Ctrl-\ reach it as on any terminal, even when
            # the suite was started with them ignored (a background job of a non-interactive
            # shell, as some CI runners start it): an ignored signal is inherited.
            command = dying_with_us(argv, env=env, default_signals=(signal.SIGINT, signal.SIGQUIT))
            self._child = from_starting_thread(
                lambda: pexpect.spawn(
                    command[0],
                    command[1:],
                    env=dict(env),
                    encoding="utf-8",
                    codec_errors="replace",
                    dimensions=(40, 240),
                    echo=True,
                ),
                lambda child: child.close(force=True),
            )
        except (pexpect.ExceptionPexpect, OSError) as exc:
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

    def _read_reply(self, secret: str, deadline: float, output: _Output) -> tuple[int | None, bool]:
        """Read the output of the line marked with ``secret`` into ``output``: its status, or
        None when it did not end by ``deadline``, and whether an end marker came at all.

        Only this line's markers count: what an interrupted earlier line prints late is never
        taken for this one's output or end. Markers are looked for in the raw text, so an
        unfinished escape sequence printed just before one cannot swallow it. With a prompt,
        the line has ended only when the prompt follows its last end marker: an end marker
        followed by more than that was the line's own output.
        """
        begin = re.compile(f"__CC_B{secret}__\r*\n")
        end = re.compile(f"__CC_E{secret}:([0-9]{{1,3}})__")
        keep = len(f"__CC_E{secret}:255__") + 8  # a marker split across reads stays whole
        late = deadline + PROMPT_GRACE
        cleaner = _Cleaner()
        pending = ""  # raw text not yet output: from the last end marker on, when one came
        started = False
        status: int | None = None
        while (raw := self._receive(deadline)) is not None:
            pending += raw
            if not started:
                found = begin.search(pending)
                if found is None:
                    pending = pending[-keep:]
                    continue
                started = True
                pending = pending[found.end() :]
            # The last end marker counts: what came before it, an earlier marker too, is output.
            ends = list(end.finditer(pending, 0 if status is None else 1))
            if ends:
                found = ends[-1]
                output.add(cleaner.feed(pending[: found.start()]))
                pending = pending[found.start() :]
                deadline = late  # the prompt follows at once: a little past time will do
                status = int(found.group(1))
            if status is not None and len(pending) > _AFTER_END_LIMIT:
                status = None  # no prompt followed that marker: it was the line's output
            if status is None:
                output.add(cleaner.feed(pending[:-keep]))
                pending = pending[-keep:]
            elif self.prompt is None or self._at_prompt() is not None:
                output.add(cleaner.flush())
                return status, True
        if started:
            output.add(cleaner.feed(pending) + cleaner.flush())
        return None, deadline == late

    def _send(self, text: str) -> None:
        try:
            self._child.send(text)
        except OSError:
            raise _Ended from None

    # -- typing -----------------------------------------------------------------------------
    def type(self, line: str, timeout: float) -> CommandOutcome:
        if self._broken:
            raise ObservationError(f"not typed: {self._broken}")
        deadline = time.monotonic() + timeout
        output = _Output(OUTPUT_LIMIT)
        try:
            secret = new_secret(line)
            self._send(_wrapped(line, secret))
            status, marked = self._read_reply(secret, deadline, output)
        except _Ended:
            self._broken = f"the session ended while running {line!r}"
            raise ObservationError(f"{self._broken}; it last showed {self._tail()!r}") from None
        if status is None:
            detail = (
                f"no prompt followed its end within {timeout:g} s: it may still be running"
                if marked
                else f"no reply within {timeout:g} s"
            )
            self._recover(line, detail)
            return CommandOutcome(
                output=output.text(),
                status=None,
                completed=False,
                detail=f"{detail}; {output.detail()}" if output.truncated else detail,
                truncated=output.truncated,
            )
        return CommandOutcome(
            output=output.text(),
            status=status,
            detail=output.detail(),
            truncated=output.truncated,
        )

    def _recover(self, line: str, why: str) -> None:
        """Interrupt a line that did not end; the session goes on if the shell answers.

        Answering is a line of our own coming back, after the prompt where there is one: a
        prompt alone can come from a shell that hears Ctrl-C but not what is typed (``-t``
        without ``-i``), and every later line would wait its whole timeout for nothing."""
        deadline = time.monotonic() + RECOVERY_WAIT
        try:
            try:
                self._child.sendintr()
            except OSError:
                raise _Ended from None
            answered = self.prompt is None or self._await_prompt(deadline, now=False) is not None
            if answered:
                secret = new_secret("true")
                self._send(_wrapped("true", secret))
                answered = self._read_reply(secret, deadline, _Output(0))[0] is not None
        except _Ended:
            self._broken = f"the session ended when Ctrl-C interrupted {line!r}"
            return
        if not answered:
            self._broken = (
                f"{line!r}: {why}, and the shell did not answer a line typed after Ctrl-C "
                f"within {RECOVERY_WAIT:g} s"
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
