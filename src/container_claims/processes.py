"""Child processes of the suite: they die with it, and their output is read within bounds.

Two rules hold for every process the suite starts:

* it ends when the suite's process ends, even by SIGKILL, when no cleanup can run: it is
  started through :func:`start` or :func:`run` (or :func:`from_starting_thread`), with the
  kernel's parent-death signal (:func:`dying_with_us`);
* what it prints is read in linear time and kept only up to a limit, so a container that
  prints gigabytes costs a bounded amount of memory (:func:`run_bounded`).

:func:`pipe` runs ``producer | consumer`` (``tar | docker import``, ``docker save | docker
load``) and names whichever side failed.

**How the parent-death signal is set.** util-linux's ``setpriv --pdeathsig`` sets it and
executes the program (same PID, nothing left between): no Python code runs in the child
between fork and exec, which Python documents as unsafe once threads run (``preexec_fn``).
The kernel sends the signal when the *thread* that forked the child ends, not the process;
so every child is forked by one thread that lives as long as the process
(:func:`from_starting_thread`), whichever thread asks for it: a child started from a thread
that ends early lives on, and every child gets its signal when the process ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import pathlib
import queue
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any, TypeVar

_T = TypeVar("_T")
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def environment(added: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with ``added`` over it, read while another thread may
    change it: pytest sets and deletes ``PYTEST_CURRENT_TEST`` around every test, and
    ``dict(os.environ)`` reads the names, then each value, so a name deleted in between
    raised KeyError in a scenario observed beside the tests (an error instead of a verdict)."""
    names = list(os.environ)
    found = {name: value for name in names if (value := os.environ.get(name)) is not None}
    return {**found, **(added or {})}


def die_with_parent_term() -> None:
    """Called in this process itself (an xdist worker, say), never between fork and exec:
    SIGTERM when the thread that started this process ends. Children are started with
    :func:`start` instead."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@functools.cache
def _setpriv() -> str:
    found = shutil.which("setpriv")
    if found is None:
        raise FileNotFoundError(
            errno.ENOENT,
            "setpriv (util-linux) is needed to start programs that end with this one",
            "setpriv",
        )
    return found


def _check_runnable(program: str, env: Mapping[str, str] | None, cwd: str | None) -> None:
    """Raise what :class:`subprocess.Popen` raises for a program it cannot find: behind
    ``setpriv``, the child would only say so once started (exit 127)."""
    if "/" in program:
        candidates = [os.path.join(cwd or "", program)]
    else:
        candidates = [os.path.join(d, program) for d in os.get_exec_path(env)]
    for path in candidates:
        if os.path.isfile(path):
            if os.access(path, os.X_OK):
                return
            if "/" in program:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


def dying_with_us(
    argv: Sequence[str],
    death_signal: int = signal.SIGKILL,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    default_signals: Sequence[int] = (),
) -> list[str]:
    """``argv`` behind ``setpriv --pdeathsig``: the program gets ``death_signal`` when the
    thread that forks it ends. ``default_signals`` are set back to their default action
    first (coreutils' ``env --default-signal``): an ignored signal is inherited otherwise.

    Raises ``OSError`` as :class:`subprocess.Popen` would when ``argv[0]`` cannot be run
    (found on ``env``'s ``PATH``, or relative to ``cwd``), and when ``setpriv`` is missing.
    """
    _check_runnable(argv[0], env, os.fspath(cwd) if cwd is not None else None)
    name = signal.Signals(death_signal).name.removeprefix("SIG")
    prefix = [_setpriv(), "--pdeathsig", name, "--"]
    if default_signals:
        names = ",".join(signal.Signals(s).name.removeprefix("SIG") for s in default_signals)
        prefix += [shutil.which("env") or "/usr/bin/env", f"--default-signal={names}"]
    return [*prefix, *argv]


class _StartingThread:
    """The one thread that forks every child of ours: it waits for work as long as the
    process lives, so the parent-death signal of its children comes with the process's end.
    (After a fork, the new process gets a thread of its own on first use.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._work: queue.SimpleQueue[tuple[Callable[[], Any], futures.Future[Any]]]
        self._work = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def call(self, make: Callable[[], _T], discard: Callable[[_T], object]) -> _T:
        if threading.current_thread() is self._thread:
            return make()
        done: futures.Future[_T] = futures.Future()
        self._queue().put((make, done))
        try:
            futures.wait([done])
        except BaseException:  # Ctrl-C while it starts: end the child once it is there
            done.add_done_callback(lambda f: f.exception() or discard(f.result()))
            raise
        return done.result()

    def _queue(self) -> queue.SimpleQueue[tuple[Callable[[], Any], futures.Future[Any]]]:
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._work = queue.SimpleQueue()
                self._thread = threading.Thread(
                    target=self._serve,
                    args=(self._work,),
                    name="container-claims child starter",
                    daemon=True,  # never joined: it must outlive every other thread
                )
                self._pid = os.getpid()
                self._thread.start()
            return self._work

    @staticmethod
    def _serve(work: queue.SimpleQueue[tuple[Callable[[], Any], futures.Future[Any]]]) -> None:
        while True:
            make, done = work.get()
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(make())
                except BaseException as exc:  # to the caller, who waits for it
                    done.set_exception(exc)


_STARTING_THREAD = _StartingThread()


def from_starting_thread(make: Callable[[], _T], discard: Callable[[_T], object]) -> _T:
    """``make()`` (which forks a child: ``pexpect.spawn`` of a :func:`dying_with_us` command
    line, say) in the thread that forks every child of ours; its result or its exception.
    ``discard`` ends what ``make`` gave when the caller was interrupted meanwhile."""
    return _STARTING_THREAD.call(make, discard)


def _kill(process: subprocess.Popen[Any]) -> None:
    process.kill()
    process.wait()


def start(
    argv: Sequence[str], *, death_signal: int = signal.SIGKILL, **options: Any
) -> subprocess.Popen[Any]:
    """:class:`subprocess.Popen` of ``argv`` (``options`` as it takes them, but no
    ``preexec_fn`` or ``executable``) that gets ``death_signal`` when this process ends:
    SIGKILL, or SIGTERM for a server that cleans up after itself. Same PID as the program's.
    Raises ``OSError`` as Popen does."""
    command = dying_with_us(argv, death_signal, env=options.get("env"), cwd=options.get("cwd"))
    return from_starting_thread(lambda: subprocess.Popen(command, **options), _kill)


def run(
    argv: Sequence[str],
    *,
    death_signal: int = signal.SIGKILL,
    input: str | bytes | None = None,
    timeout: float | None = None,
    capture_output: bool = False,
    check: bool = False,
    **options: Any,
) -> subprocess.CompletedProcess[Any]:
    """:func:`subprocess.run` through :func:`start`: the child is killed on a timeout
    (:class:`subprocess.TimeoutExpired`) and dies with this process."""
    if capture_output:
        options["stdout"] = options["stderr"] = subprocess.PIPE
    if input is not None:
        options["stdin"] = subprocess.PIPE
    with start(argv, death_signal=death_signal, **options) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except BaseException:
            process.kill()  # a timeout too; leaving the block reaps it
            raise
    if check and process.returncode:
        raise subprocess.CalledProcessError(process.returncode, list(argv), stdout, stderr)
    return subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)


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
    group: bool = False,
    eof_when: Callable[[], bool] | None = None,
) -> Finished:
    """Run ``argv``, feeding ``stdin`` (text, bytes such as a tar stream, or nothing), and
    read its output within bounds.

    At most ``limit`` bytes of stdout and of stderr are kept; the process is killed (it is our
    child, by its PID) when ``timeout`` seconds have passed, and then ``returncode`` is None.
    With ``group``, it starts a session of its own, and what is left of the session when it
    ends is killed with it (:func:`end_session`): a background process that holds its output
    ends then, instead of keeping the read going until the timeout. With ``eof_when``, stdin
    (a pipe, also when ``stdin`` is None) stays open after what it was given until
    ``eof_when()`` says it may end (asked every 0.1 s): a client that sees an end of input
    too early loses it (containerd's ``ctr`` closes the container's stdin only once its task
    exists). Raises ``OSError`` when ``argv[0]`` cannot be started.
    """
    process = start(
        argv,
        stdin=subprocess.PIPE if stdin is not None or eof_when else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        start_new_session=group,
    )
    held = eof_when is not None  # stdin is held open until eof_when() says otherwise
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
            elif not held:
                process.stdin.close()
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                killed = True
                break
            if group and ended(process.pid):
                end_session(process.pid)
            if held and not pending and eof_when is not None and eof_when():
                held = False
                assert process.stdin is not None
                process.stdin.close()
            for key, _ in selector.select(min(left, 0.1 if group or held else 1.0)):
                if key.data == "stdin":
                    assert process.stdin is not None
                    try:
                        written = os.write(process.stdin.fileno(), pending[:65536])
                    except BrokenPipeError:
                        written = len(pending)
                    pending = pending[written:]
                    if not pending:
                        selector.unregister(process.stdin)
                        if not held:
                            process.stdin.close()
                    continue
                data = os.read(key.fd, 65536)
                if data:
                    outputs[key.data].add(data)
                else:
                    selector.unregister(key.fileobj)
    if killed:
        process.kill()
    if group:  # before it is reaped: its PID, the session's, is nobody else's until then
        ended(process.pid, wait=True)
        end_session(process.pid)
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


def ended(pid: int, *, wait: bool = False) -> bool:
    """Whether our child ``pid`` has ended (or was reaped), leaving it to be reaped: until
    then its PID, and its session's, is nobody else's."""
    flags = os.WEXITED | os.WNOWAIT | (0 if wait else os.WNOHANG)
    try:
        return os.waitid(os.P_PID, pid, flags) is not None
    except ChildProcessError:
        return True


def end_session(sid: int, rounds: int = 5) -> int:
    """SIGKILL to every process of the session ``sid`` (its leader's PID) but the leader, in
    every process group of it (an interactive shell gives each job its own), again while new
    ones turn up (one may fork meanwhile); how many were sent it. A process that left the
    session (``setsid``) is not found. The kernel gives no new process the PID ``sid`` while
    any process of the session lives, so only ours are named."""
    signalled: set[int] = set()
    for _ in range(rounds):
        members = set(_session_members(sid)) - signalled
        if not members:
            break
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        signalled |= members
    return len(signalled)


#: Where the kernel's cgroup hierarchies are mounted: a cgroup outside is not one.
CGROUP_ROOT = "/sys/fs/cgroup/"


def remove_cgroup(path: str, timeout: float = 10.0) -> bool:
    """End every process in the cgroup ``path`` the suite made (and in those below it), then
    remove it bottom-up: a cgroup is removed by ``rmdir``, once no process is left in it.
    False when it was not there; an :class:`OSError` when it stays."""
    root = pathlib.Path(path)
    if not path.startswith(CGROUP_ROOT) or ".." in root.parts:
        raise OSError(errno.EINVAL, "not a cgroup the suite made", path)
    if not root.is_dir():
        return False
    deadline = time.monotonic() + timeout
    while True:
        groups = sorted(
            (pathlib.Path(top) for top, _, _ in os.walk(root)), key=lambda g: -len(g.parts)
        )
        members = []
        for group in groups:
            with contextlib.suppress(OSError):
                members += (group / "cgroup.procs").read_text().split()
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        try:
            for group in groups:
                with contextlib.suppress(FileNotFoundError):
                    group.rmdir()
            return True
        except OSError:  # a process not yet gone (EBUSY)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _session_members(sid: int) -> list[int]:
    """The live processes of the session ``sid`` but its leader (zombies have ended)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == sid:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                # pid (comm) state ppid pgrp session ...: comm may hold anything but ")".
                state, _, _, session = stat.read().rsplit(b")", 1)[1].split()[:4]
        except (OSError, ValueError):
            continue
        if int(session) == sid and state != b"Z":
            found.append(int(name))
    return found


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
    env = environment(consumer_env) if consumer_env else None
    with tempfile.TemporaryFile() as producer_err, tempfile.TemporaryFile() as consumer_err:
        first = start(
            producer,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=producer_err,
        )
        try:
            second = start(
                consumer,
                stdin=first.stdout,
                stdout=subprocess.PIPE,
                stderr=consumer_err,
                env=env,
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
