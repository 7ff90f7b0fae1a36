"""Child processes of the suite: they die with it, and their output is read within bounds.

Two rules hold for every process the suite starts:

* it ends when the suite's process ends, even by SIGKILL, when no cleanup can run
  (:func:`die_with_parent`, the kernel's parent-death signal);
* what it prints is read in linear time and kept only up to a limit, so a container that
  prints gigabytes costs a bounded amount of memory (:func:`run_bounded`).

:func:`pipe` runs ``producer | consumer`` (``tar | docker import``, ``docker save | docker
load``) and names whichever side failed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """In a child before exec (``preexec_fn``): receive ``sig`` when the parent thread dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def behind_a_terminal() -> None:
    """In a child before exec: :func:`die_with_parent`, and Ctrl-C and Ctrl-\\ reach it as on
    any terminal, even when the suite was started with them ignored (a background job of a
    non-interactive shell, as some CI runners start it): an ignored signal is inherited, and
    a shell cannot undo what it was given ignored."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def die_with_parent_term() -> None:
    """:func:`die_with_parent` with SIGTERM, for servers that clean up after themselves."""
    die_with_parent(signal.SIGTERM)


@dataclass(frozen=True)
class Finished:
    """How a bounded run ended. ``returncode`` is None when it was killed at the deadline."""

    returncode: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


class _Capped:
    """Bytes kept up to ``limit``; the rest is counted, not kept."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.kept = 0
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(data[:room])
            self.kept += min(room, len(data))
        self.dropped += max(0, len(data) - max(room, 0))

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", errors="replace")


def run_bounded(
    argv: Sequence[str],
    *,
    timeout: float,
    limit: int,
    stdin: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> Finished:
    """Run ``argv``, feeding ``stdin`` (text, bytes such as a tar stream, or nothing), and
    read its output within bounds.

    At most ``limit`` bytes of stdout and of stderr are kept; the process is killed (it is our
    child, by its PID) when ``timeout`` seconds have passed, and then ``returncode`` is None.
    Raises ``OSError`` when ``argv[0]`` cannot be started.
    """
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        preexec_fn=die_with_parent,
    )
    outputs = {"stdout": _Capped(limit), "stderr": _Capped(limit)}
    pending = stdin.encode() if isinstance(stdin, str) else stdin or b""
    deadline = time.monotonic() + timeout
    killed = False
    with selectors.DefaultSelector() as selector:
        assert process.stdout is not None and process.stderr is not None
        selector.register(process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(process.stderr, selectors.EVENT_READ, "stderr")
        if process.stdin is not None:
            os.set_blocking(process.stdin.fileno(), False)
            if pending:
                selector.register(process.stdin, selectors.EVENT_WRITE, "stdin")
            else:
                process.stdin.close()
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                killed = True
                break
            for key, _ in selector.select(min(left, 1.0)):
                if key.data == "stdin":
                    assert process.stdin is not None
                    try:
                        written = os.write(process.stdin.fileno(), pending[:65536])
                    except BrokenPipeError:
                        written = len(pending)
                    pending = pending[written:]
                    if not pending:
                        selector.unregister(process.stdin)
                        process.stdin.close()
                    continue
                data = os.read(key.fd, 65536)
                if data:
                    outputs[key.data].add(data)
                else:
                    selector.unregister(key.fileobj)
    if killed:
        process.kill()
    returncode = process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None and not stream.closed:
            stream.close()
    return Finished(
        returncode=None if killed else returncode,
        stdout=outputs["stdout"].text(),
        stderr=outputs["stderr"].text(),
        stdout_truncated=outputs["stdout"].dropped > 0,
        stderr_truncated=outputs["stderr"].dropped > 0,
    )


def pipe(
    producer: Sequence[str],
    consumer: Sequence[str],
    *,
    consumer_env: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Run ``producer | consumer``; return the consumer's stdout and ``""`` or a one-line error.

    ``consumer_env`` is added to the consumer's environment only (``DOCKER_HOST`` of the engine
    that loads what the default engine saved, say). Both processes die with ours.
    """
    env = {**os.environ, **consumer_env} if consumer_env else None
    with tempfile.TemporaryFile() as producer_err, tempfile.TemporaryFile() as consumer_err:
        first = subprocess.Popen(
            list(producer),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=producer_err,
            preexec_fn=die_with_parent,
        )
        try:
            second = subprocess.Popen(
                list(consumer),
                stdin=first.stdout,
                stdout=subprocess.PIPE,
                stderr=consumer_err,
                env=env,
                preexec_fn=die_with_parent,
            )
        except BaseException:
            first.kill()
            first.wait()
            raise
        finally:
            assert first.stdout is not None
            first.stdout.close()  # the consumer holds the pipe now: the producer sees EPIPE
        try:
            out, _ = second.communicate()
            first.wait()
        except BaseException:
            for process in (first, second):
                process.kill()
                process.wait()
            raise
        problems = []
        for argv, process, err in (
            (producer, first, producer_err),
            (consumer, second, consumer_err),
        ):
            if process.returncode != 0:
                err.seek(0)
                said = last_line(err.read().decode(errors="replace")) or "no message"
                problems.append(f"{' '.join(argv[:2])} exited {process.returncode}: {said}")
        return out.decode(errors="replace"), "; ".join(problems)


def end_child(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """End a child process of ours, by its PID: SIGTERM, then SIGKILL once ``timeout`` has
    passed; it is reaped either way. Nothing when it has ended already."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()


def last_line(text: str) -> str:
    """The last line of a program's output that is not blank, stripped: its usual verdict."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
