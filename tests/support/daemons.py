"""The life cycle the suite's throwaway daemons share: the control engine, the upgrade engine
and the test hosts each start one process (dockerd, a supervisor, ``unshare``) under a
directory of their own, wait until it answers, stop it by its PID and delete the directory.

* :func:`make_root` makes the directory, on a filesystem a daemon's store can live on;
* :func:`launch` starts it in a session of its own, its output in a log, dying with the test
  process (:func:`container_claims.processes.start`); the directory's ``owner`` file names
  both, for :func:`sweep_dead`, which removes the directories of tests that were killed;
* :func:`wait_until` waits for it to answer, or for it to end, or for the time to run out;
* :func:`terminate` stops a process by its PID, SIGTERM then SIGKILL;
* :func:`children`, :func:`descendants`, :func:`running` and :func:`log_tail` read ``/proc``
  and the logs.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence

from container_claims import processes
from container_claims.hostfs import mountinfo, remove_tree

__all__ = [
    "children",
    "descendants",
    "launch",
    "log_tail",
    "make_root",
    "running",
    "sweep_dead",
    "terminate",
    "wait_until",
]


def make_root(prefix: str) -> pathlib.Path:
    """A new directory under the temporary directory (unix socket paths must stay short), for
    one daemon's store. In a container, such as a CI job's, that is the container's overlayfs
    root, which no store can use as a machine's disk: overlay2 and Podman's overlay do not
    stack on it, and vfs's copies would show an ``overlay`` root. There the directory gets a
    tmpfs of its own, as ``scripts/setup`` gives the suite's engine; :func:`remove_tree`
    (``unmount=True``) unmounts it with the rest."""
    root = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    if filesystem_type(root) != "overlay":
        return root
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "mode=0700", "container-claims-test", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        remove_tree(root)
        raise OSError(f"could not mount a tmpfs on {root}: {mounted.stderr.strip()}")
    return root


def filesystem_type(path: pathlib.Path) -> str:
    """The type of the filesystem ``path`` is on: the deepest mount that holds it, the last
    of those on one point (the one mounted over the others)."""
    base, found, depth = path.resolve(), "", -1
    for mount in mountinfo():
        point = pathlib.Path(mount["point"])
        if base.is_relative_to(point) and len(point.parts) >= depth:
            found, depth = str(mount["fstype"]), len(point.parts)
    return found


def launch(
    command: Sequence[str],
    root: pathlib.Path,
    log: pathlib.Path,
    *,
    env: Mapping[str, str],
    cwd: str | pathlib.Path,
    death_signal: int,
) -> subprocess.Popen[bytes]:
    """Start the daemon's process in a session of its own (a Ctrl-C meant for the tests does
    not reach it), its output in ``log``, ``death_signal`` when the test process dies; then
    name both in ``root/owner`` for :func:`sweep_dead`."""
    with open(log, "wb") as out:
        process: subprocess.Popen[bytes] = processes.start(
            command,
            death_signal=death_signal,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    (root / "owner").write_text(f"{os.getpid()} {process.pid}\n", encoding="utf-8")
    return process


def wait_until(
    answers: Callable[[], bool],
    process: subprocess.Popen[bytes],
    *,
    timeout: float,
    ended: Callable[[int], Exception],
    late: Callable[[], Exception],
    interval: float,
) -> None:
    """Until ``answers()``; raises ``ended(status)`` when ``process`` ends first, ``late()``
    when ``timeout`` seconds pass first (``answers`` may raise too: a daemon's own end)."""
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        if code is not None:
            raise ended(code)
        if answers():
            return
        if time.monotonic() > deadline:
            raise late()
        time.sleep(interval)


def terminate(
    pid: int,
    timeout: float,
    *,
    gone: Callable[[], bool] | None = None,
    kill_timeout: float = 10.0,
) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` for ``gone()`` (by default: it is not running,
    a zombie counts as gone), then SIGKILL and wait up to ``kill_timeout``."""
    is_gone = gone or (lambda: not running(pid))
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, kill_timeout)):
        if is_gone():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not is_gone():
            time.sleep(0.02)


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that is not a zombie."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(pid: int) -> list[int]:
    """Children of ``pid``, from all its threads (a Go daemon forks from any of them)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return sorted(set(found))


def descendants(pid: int) -> list[int]:
    """Everything under ``pid``, breadth first: parents before their children."""
    found = children(pid)
    for child in found:  # grows while it is walked
        found += children(child)
    return found


def log_tail(
    path: pathlib.Path, lines: int, *, missing: str = "(no log)", empty: str = "(empty)"
) -> str:
    """The last ``lines`` lines of a log, stripped and joined by " | "."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return missing
    tail = [line.strip() for line in text.strip().splitlines()[-lines:]]
    return " | ".join(tail) if tail else empty


def sweep_dead(prefix: str) -> list[pathlib.Path]:
    """Remove the temporary directories named ``prefix*`` whose test process and daemon are
    both gone (a killed test leaves its directory; its daemon died with it). A directory
    whose owners still run, or that names none yet, is left alone."""
    removed = []
    for directory in pathlib.Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owners = [int(pid) for pid in (directory / "owner").read_text().split()]
        except (OSError, ValueError):
            continue
        if not owners or any(running(pid) for pid in owners):
            continue
        with contextlib.suppress(OSError):
            remove_tree(directory, unmount=True)
            removed.append(directory)
    return removed
