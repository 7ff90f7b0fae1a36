"""What a run has made on the machine, written down where a later run finds it.

Every process of a run (the pytest process, and each xdist worker) keeps one ledger file in
:func:`~container_claims.paths.ledger_dir`, holds an exclusive ``flock`` on it while it lives,
and appends a line for each thing it makes that could outlive it: the runtimes it used (whose
labelled containers, volumes and images carry the run id), directories, helper processes,
host marker files and cgroups. A clean end removes the file.

A ledger whose lock can be taken belongs to a process that is gone (killed, or ended without
cleaning up, say because its engine died): :func:`sweep_dead` removes what it names. The lock
is the kernel's: it is released when the process dies, however it dies, so a live run is never
mistaken for a dead one, and ``cleanup`` leaves live runs alone. A ledger appears under its
name already locked, and sweeps take turns (:data:`SWEEP_LOCK`): a sweep that returns has seen
every dead run's ledger swept, by itself or by the sweep it waited for.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from container_claims.hostfs import remove_tree
from container_claims.paths import is_ours, ledger_dir
from container_claims.processes import remove_cgroup

#: Host marker files live in "/" under this prefix, followed by the run id.
MARKER_PREFIX = "container-claims-host-marker-"
#: A cgroup the suite makes is named this, then the run id (``cgroup`` entries).
CGROUP_PREFIX = "container-claims-"
#: The file in the ledger directory that sweeps lock, one after another.
SWEEP_LOCK = "sweep.lock"
#: Most seconds a sweep waits for another one to end before it goes on beside it.
SWEEP_WAIT = 120.0


def is_marker(path: str) -> bool:
    """Whether ``path`` is a host marker's: a name with our prefix directly in ``/``."""
    name = path.removeprefix("/")
    return path.startswith("/") and name.startswith(MARKER_PREFIX) and "/" not in name


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of its stat), which a reused PID changes."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


class Ledger:
    """This process's ledger file for one run: locked while it lives, removed at a clean end."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        directory = ledger_dir()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = directory / f"{run_id}-{os.getpid()}.jsonl"
        # Locked under another name, then renamed: a sweep never sees it unlocked.
        making = self.path.with_suffix(".new")
        self._file: IO[str] | None = open(making, "a", encoding="utf-8")  # noqa: SIM115
        fcntl.flock(self._file, fcntl.LOCK_EX)
        os.replace(making, self.path)
        self._seen: set[str] = set()
        self._writing = threading.Lock()  # runtimes observed side by side write from threads

    def record(self, kind: str, **data: Any) -> None:
        """Write one thing down (once), before it can outlive the run."""
        line = json.dumps({"kind": kind, **data}, sort_keys=True)
        with self._writing:
            if self._file is None or line in self._seen:
                return
            self._seen.add(line)
            self._file.write(line + "\n")
            self._file.flush()

    def process(self, pid: int, what: str) -> None:
        self.record("process", pid=pid, start=process_start_time(pid), what=what)

    def close(self, *, clean: bool) -> None:
        """Release the ledger; a clean end removes it, otherwise the next run sweeps it."""
        if self._file is None:
            return
        if clean:
            self.path.unlink(missing_ok=True)
        self._file.close()  # releases the lock
        self._file = None


_current: Ledger | None = None


def open_ledger(run_id: str) -> Ledger:
    """This process's ledger for ``run_id`` (opened once; a new run id replaces it)."""
    global _current
    if _current is None or _current.run_id != run_id or _current._file is None:
        _current = Ledger(run_id)
    return _current


def current() -> Ledger | None:
    """The ledger of the run this process works for, if one is open."""
    return _current if _current is not None and _current._file is not None else None


def record(kind: str, **data: Any) -> None:
    """Write to this process's ledger, if a run has opened one (library use has none)."""
    ledger = current()
    if ledger is not None:
        ledger.record(kind, **data)


def record_process(pid: int, what: str) -> None:
    ledger = current()
    if ledger is not None:
        ledger.process(pid, what)


@dataclass
class DeadRun:
    """A ledger whose process is gone, held locked while it is swept."""

    path: pathlib.Path
    run_id: str
    entries: list[dict[str, Any]] = field(default_factory=list)


def _take_turn(directory: pathlib.Path) -> IO[str] | None:
    """This sweep's turn: the sweep lock, held until the file is closed (None: no directory)."""
    try:
        turn = open(directory / SWEEP_LOCK, "a")  # noqa: SIM115
    except OSError:
        return None
    deadline = time.monotonic() + SWEEP_WAIT
    while True:
        try:
            fcntl.flock(turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return turn
        except BlockingIOError:
            if time.monotonic() > deadline:  # a sweep stuck that long: go on beside it
                return turn
            time.sleep(0.05)


@contextlib.contextmanager
def dead_runs() -> Iterator[list[DeadRun]]:
    """Ledgers of processes that are gone, locked by us until the block ends, in this sweep's
    turn: a ledger that another sweep holds is that sweep's, and gone when our turn comes."""
    directory = ledger_dir()
    held: list[tuple[IO[str], DeadRun]] = []
    turn = _take_turn(directory) if directory.is_dir() else None
    try:
        for making in directory.glob("*.new") if turn is not None else []:
            with contextlib.suppress(OSError), open(making) as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                making.unlink()  # its process died before it named anything
        for path in sorted(directory.glob("*.jsonl")) if directory.is_dir() else []:
            try:
                handle = open(path, encoding="utf-8")  # noqa: SIM115
            except OSError:
                continue
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()  # its process lives
                continue
            run = DeadRun(path, path.stem.rsplit("-", 1)[0])
            for line in handle.read().splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict):
                        run.entries.append(entry)
            held.append((handle, run))
        yield [run for _, run in held]
    finally:
        for opened, _ in held:
            opened.close()
        if turn is not None:
            turn.close()


def live_run_ids() -> set[str]:
    """Run ids that a living process holds a ledger for."""
    directory = ledger_dir()
    live = set()
    for path in directory.glob("*.jsonl") if directory.is_dir() else []:
        try:
            with open(path, encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            live.add(path.stem.rsplit("-", 1)[0])
        except OSError:
            continue
    return live


#: Removes a dead run's labelled objects on the runtime an entry describes; returns what went.
RuntimeSweeper = Callable[[dict[str, Any], str], list[str]]


class GivenUp(Exception):
    """What a sweep cannot reach any more (a machine that does not answer): said once, then
    dropped from the ledger, not tried again by every later run. ``str()`` says what is left
    where, and how to remove it."""


def sweep_dead(
    remove_runtime_objects: RuntimeSweeper, remove_remote_marker: RuntimeSweeper
) -> tuple[list[str], list[str], list[str]]:
    """Remove what dead runs left: ``(removed, could not remove, given up)``, one line each.
    What is on another machine (a runtime's objects, a marker file there) is removed by the
    callers' functions, which reach it.

    A ledger is deleted once everything it names is gone or given up on (:class:`GivenUp`);
    otherwise it stays for the next try.
    """
    removed: list[str] = []
    problems: list[str] = []
    given_up: list[str] = []
    with dead_runs() as runs:
        for run in runs:
            before = len(problems)
            for entry in run.entries:
                try:
                    removed += [
                        f"run {run.run_id}: {what}"
                        for what in _sweep(entry, run, remove_runtime_objects, remove_remote_marker)
                    ]
                except GivenUp as exc:
                    given_up.append(f"run {run.run_id}: {exc}")
                except Exception as exc:  # one stubborn thing must not stop the others
                    problems.append(f"run {run.run_id}: {entry.get('kind')}: {exc}")
            if len(problems) == before:
                run.path.unlink(missing_ok=True)
    return removed, problems, given_up


def _sweep(
    entry: dict[str, Any], run: DeadRun, sweeper: RuntimeSweeper, remote_marker: RuntimeSweeper
) -> list[str]:
    kind = entry.get("kind")
    if kind == "runtime" and isinstance(entry.get("config"), dict):
        return sweeper(entry["config"], run.run_id)
    if kind == "marker" and entry.get("host"):
        return remote_marker(entry, run.run_id)
    if kind == "process" and isinstance(entry.get("pid"), int):
        pid = entry["pid"]
        if entry.get("start") is not None and process_start_time(pid) == entry["start"]:
            os.kill(pid, signal.SIGKILL)  # the same process the run started, by its PID
            return [f"process {pid}"]
        return []
    if kind == "dir" and isinstance(entry.get("path"), str):
        path = pathlib.Path(entry["path"])
        if is_ours(path) and path.exists():
            remove_tree(path)
            return [f"directory {path}"]
        return []
    if kind == "cgroup" and isinstance(entry.get("path"), str):
        # Only a cgroup named after the run: an entry cannot name any other one.
        name = pathlib.PurePath(entry["path"]).name
        if name.startswith(f"{CGROUP_PREFIX}{run.run_id}-") and remove_cgroup(entry["path"]):
            return [f"cgroup {entry['path']}"]
        return []
    if kind == "marker" and isinstance(entry.get("path"), str):
        path = pathlib.Path(entry["path"])
        if is_marker(entry["path"]) and path.exists():
            path.unlink()
            return [f"file {path}"]
        return []
    return []
