"""The terminal session: a real local shell under a pty, and a scripted one for exact splits.

Large outputs are read with bounded memory, a line without reply is interrupted and the session
goes on when the shell answers, and a session that cannot go on says why on every later line.
"""

from __future__ import annotations

import itertools
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import pexpect
import pytest

from container_claims import processes
from container_claims.errors import ObservationError
from container_claims.observations import OUTPUT_LIMIT, TRANSCRIPT_LIMIT
from container_claims.runtimes import terminal
from container_claims.runtimes.terminal import PROMPT, TerminalShell, clean

BASH = ["/bin/bash", "--noprofile", "--norc", "-i"]
PS1 = "root@test:/# "
#: Lines that must not hang the suite get this long; it is never expected to pass.
GENEROUS = 60.0


def environment(term: str = "dumb") -> dict[str, str]:
    return {"PS1": PS1, "PATH": os.environ["PATH"], "TERM": term, "HOME": "/tmp"}


@pytest.fixture
def shell() -> Iterator[TerminalShell]:
    session = TerminalShell(BASH, environment(), prompt_timeout=10)
    yield session
    session.close()


@pytest.fixture
def plain_shell() -> Iterator[TerminalShell]:
    """A session that awaits no prompt, as ``docker run -i`` without ``-t``."""
    session = TerminalShell(["/bin/sh"], environment(), prompt_timeout=0)
    yield session
    session.close()


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (gone, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


# -- a real shell ------------------------------------------------------------------------------
def test_the_prompt_is_one_the_prompt_pattern_accepts(shell: TerminalShell) -> None:
    assert PROMPT.search(PS1)
    assert shell.prompt == PS1.strip()


def test_lines_give_their_output_and_status(shell: TerminalShell) -> None:
    first = shell.type("echo hi; false", 10)
    assert (first.output, first.status, first.completed, first.truncated) == ("hi", 1, True, False)
    second = shell.type("printf '\\n\\nabc\\n\\n'", 10)
    assert (second.output, second.status) == ("\n\nabc", 0)  # leading blank lines are output
    assert shell.type("(exit 7)", 10).status == 7
    assert shell.type("echo $((6 * 7))", 10).output == "42"


def test_escape_sequences_around_the_prompt_and_in_output_are_cleaned() -> None:
    session = TerminalShell(BASH, environment("xterm"), prompt_timeout=10)  # bracketed paste
    try:
        assert session.prompt == PS1.strip()
        outcome = session.type("printf '\\033[31mred\\033[0m\\n'", 10)
        assert (outcome.output, outcome.status) == ("red", 0)
        assert "\x1b" not in session.transcript
    finally:
        session.close()


def test_an_unfinished_escape_sequence_does_not_hide_the_end_of_a_line(
    shell: TerminalShell,
) -> None:
    outcome = shell.type("printf 'x\\033['", 10)
    assert (outcome.output, outcome.status, outcome.completed) == ("x\x1b[", 0, True)
    assert shell.type("echo next", 10).output == "next"


@pytest.mark.parametrize("size", [4095, 4096, 65535, 65536, 70000])
def test_a_marker_split_across_reads_is_found(shell: TerminalShell, size: int) -> None:
    # No newline: the end marker follows the output directly, wherever a read ends.
    outcome = shell.type(f"head -c {size} /dev/zero | tr '\\0' a", GENEROUS)
    assert (outcome.output, outcome.status, outcome.truncated) == ("a" * size, 0, False)


@pytest.mark.parametrize(
    ("command", "size"),
    [
        ("head -c {n} /dev/zero | tr '\\0' a", 5_000_000),
        ("yes aaaaaaaaa 2>/dev/null | head -c {n}", 5_000_000),
        ("head -c {n} /dev/zero | tr '\\0' a", 50_000_000),
        ("yes {line} 2>/dev/null | head -c {n}", 50_000_000),
    ],
    ids=["5MB-one-line", "5MB-short-lines", "50MB-one-line", "50MB-long-lines"],
)
def test_large_output_is_cut_at_the_limit_and_counted_in_bounded_memory(
    shell: TerminalShell, command: str, size: int
) -> None:
    before = peak_kib()
    outcome = shell.type(command.format(n=size, line="a" * 99), GENEROUS)
    assert outcome.status == 0 and outcome.completed
    assert outcome.truncated
    assert OUTPUT_LIMIT - 1 <= len(outcome.output) <= OUTPUT_LIMIT  # a cut newline is stripped
    assert set(outcome.output) <= {"a", "\n"}
    assert f"{size - OUTPUT_LIMIT:,} characters of output not kept" in outcome.detail
    assert peak_kib() - before < 300 * 1024
    assert len(shell.transcript) < TRANSCRIPT_LIMIT + 200
    assert shell.type("echo after", 10).output == "after"


def test_output_of_exactly_the_limit_is_whole(shell: TerminalShell) -> None:
    whole = shell.type(f"head -c {OUTPUT_LIMIT} /dev/zero | tr '\\0' a; echo; echo", GENEROUS)
    assert (len(whole.output), whole.truncated, whole.detail) == (OUTPUT_LIMIT, False, "")
    one_more = shell.type(f"head -c {OUTPUT_LIMIT + 1} /dev/zero | tr '\\0' a", GENEROUS)
    assert one_more.truncated and len(one_more.output) == OUTPUT_LIMIT
    assert one_more.detail.startswith("1 character of output not kept")


def test_the_transcript_keeps_its_head_and_tail_and_counts_the_middle(
    shell: TerminalShell,
) -> None:
    shell.type("head -c 5000000 /dev/zero | tr '\\0' b", GENEROUS)
    shell.type("echo the-end", 10)
    transcript = shell.transcript
    assert transcript is shell.transcript  # read again at no cost
    assert len(transcript) < TRANSCRIPT_LIMIT + 200
    assert transcript.startswith(PS1)
    assert re.search(
        r"the-end\n__CC_E[0-9a-f]{16}:0__\n" + re.escape(PS1.strip()) + "$", transcript.rstrip()
    )
    gap = re.search(r"\n\[\.\.\. ([0-9,]+) characters not kept \.\.\.\]\n", transcript)
    assert gap is not None
    dropped = int(gap.group(1).replace(",", ""))
    assert 5_000_000 - TRANSCRIPT_LIMIT < dropped < 5_000_000


def test_a_line_without_reply_is_interrupted_and_the_session_goes_on(
    shell: TerminalShell,
) -> None:
    outcome = shell.type("echo part; sleep 30", 0.5)
    assert (outcome.completed, outcome.status) == (False, None)
    assert outcome.detail == "no reply within 0.5 s"
    assert outcome.output == "part"  # what was seen so far
    after = shell.type("echo ok", 10)
    assert (after.output, after.status) == ("ok", 0)
    assert shell.exit("exit 3", 10) == 3


def test_ctrl_c_works_even_when_the_suite_was_started_with_it_ignored() -> None:
    # As a background job of a non-interactive shell starts us: SIGINT ignored, inherited.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        session = TerminalShell(["/bin/sh"], environment(), prompt_timeout=0)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert not session.type("sleep 30", 0.5).completed
        assert session.type("echo ok", 10).output == "ok"  # Ctrl-C ended the sleep
    finally:
        session.close()


def test_an_unbalanced_quote_is_interrupted_and_the_session_goes_on(
    shell: TerminalShell,
) -> None:
    outcome = shell.type('echo "abc', 0.5)
    assert (outcome.completed, outcome.status, outcome.output) == (False, None, "")
    after = shell.type("echo ok", 10)
    assert (after.output, after.status) == ("ok", 0)


def test_a_line_that_ends_late_leaves_the_next_lines_output_alone(shell: TerminalShell) -> None:
    # Ctrl-C is ignored: the line ends on its own after the timeout, printing its end marker
    # and "late" while the session waits for the prompt.
    late = shell.type("trap '' INT; sleep 1; echo late", 0.3)
    assert not late.completed
    after = shell.type("echo next", 10)
    assert (after.output, after.status) == ("next", 0)


def test_a_line_that_puts_its_command_in_the_background_completes(shell: TerminalShell) -> None:
    background = shell.type("sleep 0.2 &", 10)
    assert (background.completed, background.status) == (True, 0), background.detail
    # (bash's job notices may come first: "[1]+  Done  sleep 0.2")
    assert shell.type("wait; echo waited", 10).output.endswith("waited")
    # A literal ampersand is no separator.
    assert shell.type("echo a \\&", 10).output == "a &"


def test_a_shell_that_does_not_answer_ctrl_c_breaks_the_session(
    shell: TerminalShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terminal, "RECOVERY_WAIT", 1.0)
    outcome = shell.type("trap '' INT; sleep 30", 0.3)
    assert not outcome.completed
    with pytest.raises(ObservationError, match=r"not typed: \"trap '' INT; sleep 30\": no reply"):
        shell.type("echo ok", 10)
    with pytest.raises(ObservationError, match="could not end the session"):
        shell.exit("exit", 1)


def test_a_prompt_that_does_not_come_back_breaks_the_session(
    shell: TerminalShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terminal, "RECOVERY_WAIT", 1.0)
    outcome = shell.type("PS1='nope> '", 1)
    # Its end marker came, but without the prompt after it nothing says the line has ended.
    assert (outcome.completed, outcome.status) == (False, None)
    assert outcome.detail == "no prompt followed its end within 1 s: it may still be running"
    reason = re.escape("\"PS1='nope> '\": no prompt followed its end within 1 s")
    with pytest.raises(ObservationError, match=reason):
        shell.type("echo ok", 10)
    with pytest.raises(ObservationError, match=reason):
        shell.exit("exit", 1)


#: Typed into a line: prints that line's own end marker, read back from the shell's history
#: (the one place a line can learn its secret), with status 0.
FORGE = "m=$(history 1 | grep -o '_E[0-9a-f]\\{16\\}' | head -1); printf '__CC%s:0__\\n' \"$m\""


def test_a_line_cannot_guess_its_end_marker(shell: TerminalShell) -> None:
    static = shell.type("printf '__CC_%s1:0__\\n' E; printf '__CC_%s2:0__\\n' E; false", 10)
    assert (static.status, static.completed) == (1, True)
    assert static.output == "__CC_E1:0__\n__CC_E2:0__"


def test_a_forged_end_marker_followed_by_the_real_one_is_output(shell: TerminalShell) -> None:
    forged = shell.type(f"{FORGE}; false", 10)
    assert (forged.status, forged.completed) == (1, True)
    assert re.fullmatch(r"__CC_E[0-9a-f]{16}:0__", forged.output)
    assert shell.type("echo next", 10).output == "next"


@pytest.mark.parametrize("after", ["sleep 30", "echo more; sleep 30"])
def test_a_line_still_running_after_a_forged_end_marker_did_not_complete(
    shell: TerminalShell, after: str
) -> None:
    forged = shell.type(f"{FORGE}; {after}", 1)
    assert (forged.completed, forged.status) == (False, None)
    assert shell.type("echo next", 10).output == "next"  # Ctrl-C ended it; the session goes on


def test_a_secret_is_fresh_for_each_line_and_never_in_it(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets_drawn = iter(["0" * 16, "abc", "1" * 16])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(secrets_drawn))
    assert terminal.new_secret("echo abc") == "0" * 16
    assert terminal.new_secret("echo abc") == "1" * 16  # "abc" was in the line: drawn again


def test_a_session_that_ends_during_a_line_says_what_it_showed(shell: TerminalShell) -> None:
    shell.type("echo last-words", 10)
    with pytest.raises(ObservationError, match="the session ended while running 'exit 5'") as info:
        shell.type("exit 5", 10)
    assert "last-words" in str(info.value)
    with pytest.raises(ObservationError, match="not typed: the session ended while running"):
        shell.type("echo ok", 10)


def test_close_ends_the_client(shell: TerminalShell) -> None:
    pid = shell.pid
    os.kill(pid, 0)
    shell.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    shell.close()  # again: nothing left to do


def test_the_client_dies_with_the_suite_even_by_sigkill() -> None:
    code = (
        "import os, sys, time\n"
        "from container_claims.runtimes.terminal import TerminalShell\n"
        "shell = TerminalShell(['sleep', '60'], dict(os.environ), prompt_timeout=0)\n"
        "print(shell.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    argv = [sys.executable, "-c", code]
    with processes.start(argv, stdout=subprocess.PIPE, text=True) as suite:
        try:
            assert suite.stdout is not None
            client = int(suite.stdout.readline())
            assert not gone(client)
        finally:
            suite.kill()  # SIGKILL, our own child by its pid: no cleanup of the suite runs
    waited_until = time.monotonic() + 10
    while not gone(client) and time.monotonic() < waited_until:
        time.sleep(0.05)
    assert gone(client)


def test_without_a_prompt_lines_run_and_a_line_without_reply_is_recovered(
    plain_shell: TerminalShell,
) -> None:
    assert plain_shell.prompt is None
    first = plain_shell.type("echo hi; false", 10)
    assert (first.output, first.status) == ("hi", 1)
    stuck = plain_shell.type("sleep 30", 0.5)
    assert (stuck.completed, stuck.detail) == (False, "no reply within 0.5 s")
    assert plain_shell.type("echo ok", 10).output == "ok"
    assert not plain_shell.type('echo "abc', 0.5).completed
    assert plain_shell.type("echo ok2", 10).output == "ok2"
    assert plain_shell.exit("exit 4", 10) == 4


def test_without_a_prompt_a_session_ended_by_ctrl_c_is_broken() -> None:
    # The shell reads a pipe, as in a container without a terminal: Ctrl-C ends them all.
    argv = ["/bin/sh", "-c", "cat | exec /bin/bash --noprofile --norc"]
    session = TerminalShell(argv, environment(), prompt_timeout=0)
    try:
        assert session.type("echo hi", 10).output == "hi"
        assert not session.type("sleep 30", 0.5).completed
        with pytest.raises(ObservationError, match="Ctrl-C interrupted 'sleep 30'"):
            session.type("echo ok", 10)
    finally:
        session.close()


# -- a scripted session: every split of what it prints ------------------------------------------
class ScriptedChild:
    """Stands in for ``pexpect.spawn``: prints scripted pieces, one per read, and never waits."""

    def __init__(
        self, first: Sequence[str], replies: Sequence[Sequence[str]], on_ctrl_c: Sequence[str]
    ) -> None:
        self.pending = deque(first)
        self.replies = deque(replies)
        self.on_ctrl_c = list(on_ctrl_c)
        self.printed = "".join(first)
        self.alive = True
        self.pid = os.getpid()
        self.exitstatus = None

    def read_nonblocking(self, size: int, timeout: float) -> str:
        if not self.pending:
            raise pexpect.TIMEOUT("nothing more is scripted")
        return self.pending.popleft()

    def _print(self, pieces: Sequence[str]) -> None:
        self.pending.extend(pieces)
        self.printed += "".join(pieces)

    def send(self, text: str) -> None:
        if self.replies:
            self._print(self.replies.popleft())

    def sendintr(self) -> None:
        self._print(self.on_ctrl_c)

    def isalive(self) -> bool:
        return self.alive

    def terminate(self, force: bool = False) -> None:
        self.alive = False

    def close(self, force: bool = True) -> None:
        self.alive = False


def scripted(
    monkeypatch: pytest.MonkeyPatch,
    replies: Sequence[Sequence[str]],
    *,
    first: Sequence[str] = ("\x1b[?2004h", PS1),
    on_ctrl_c: Sequence[str] = ("^C\r\n", PS1),
) -> tuple[TerminalShell, ScriptedChild]:
    child = ScriptedChild(first, replies, on_ctrl_c)

    def spawn(*args: Any, **kwargs: Any) -> ScriptedChild:
        assert args[1][:2] == ["--pdeathsig", "KILL"]  # the client dies with the suite
        return child

    monkeypatch.setattr(pexpect, "spawn", spawn)
    numbers = itertools.count(1)  # the script knows each line's markers: 1, 2, ...
    monkeypatch.setattr(terminal, "new_secret", lambda line: str(next(numbers)))
    return TerminalShell(["bash"], {}, prompt_timeout=10), child


REPLY = (
    "\x1b[?2004l\r__CC_B1__\r\n\x1b[31mhel\x1b]0;title\x07lo\x1b[0m\x1b]2;t\x1b\\\r\n"
    # DCS, APC, 8-bit CSI and OSC, a charset designation and a lone C1: none of it is text
    "\x1bP1$r0m\x1b\\\x1b_app\x1b\\\x9b2J\x9d52;c;aGk=\x07\x1b(B\x85"
    "__CC_E1:7__\r\n\x1b[?2004hroot@test:/# "
)
SECOND = "__CC_B2__\r\nok\r\n__CC_E2:0__\r\nroot@test:/# "


@pytest.mark.parametrize("cut", range(1, len(REPLY)))
def test_markers_escapes_and_prompt_split_anywhere_are_found(
    monkeypatch: pytest.MonkeyPatch, cut: int
) -> None:
    session, child = scripted(monkeypatch, [[REPLY[:cut], REPLY[cut:]], [SECOND]])
    outcome = session.type("line", 1)
    assert (outcome.output, outcome.status, outcome.completed) == ("hello", 7, True)
    assert session.type("again", 1).output == "ok"  # the prompt was found: the session goes on
    assert session.transcript == clean(child.printed)


def test_read_one_character_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    session, child = scripted(monkeypatch, [list(REPLY), list(SECOND)])
    assert session.type("line", 1).output == "hello"
    assert session.type("again", 1).output == "ok"
    assert session.transcript == clean(child.printed)


def test_late_markers_of_an_interrupted_line_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    session, _ = scripted(
        monkeypatch,
        [
            ["__CC_B1__\r\npartial\r\n"],  # then nothing: no reply
            # After Ctrl-C, the suite's own line, which shows that the shell hears again.
            ["__CC_E1:0__\r\n__CC_B2__\r\n__CC_E2:0__\r\n", PS1],
            ["__CC_B3__\r\nfresh\r\n__CC_E1:9__\r\n__CC_E3:0__\r\n", PS1],
        ],
    )
    stuck = session.type("one", 1)
    assert (stuck.completed, stuck.output) == (False, "partial")
    after = session.type("two", 1)
    assert (after.output, after.status) == ("fresh\n__CC_E1:9__", 0)


def test_a_shell_that_answers_ctrl_c_but_not_typing_breaks_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As ``-t`` without ``-i``: Ctrl-C brings a prompt back, but what is typed never reaches
    the shell; the next lines say so at once instead of each waiting its timeout."""
    monkeypatch.setattr(terminal, "RECOVERY_WAIT", 0.5)
    session, _ = scripted(monkeypatch, [])
    assert not session.type("echo one", 1).completed
    began = time.monotonic()
    with pytest.raises(ObservationError, match="did not answer a line typed after Ctrl-C"):
        session.type("echo two", 30)
    assert time.monotonic() - began < 1  # nothing waited for


def test_no_prompt_after_ctrl_c_breaks_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    session, _ = scripted(monkeypatch, [["__CC_B1__\r\n"]], on_ctrl_c=["^C"])
    assert not session.type("cat", 1).completed
    with pytest.raises(ObservationError, match="'cat': no reply within 1 s"):
        session.type("echo ok", 1)
