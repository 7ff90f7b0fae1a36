"""The host directories a scenario declares (``directories:``): made, read, written, removed.

Each run of a scenario gets its own directory in the suite's state directory
(:func:`~container_claims.paths.directories_dir`, ``RUN-TOKEN-NAME``), written in the run's
ledger before it exists, so a killed run's is swept by the next run. No string of a scenario
names a host location: the directory's name is the suite's, and its files' names are one plain
name each (:data:`~container_claims.scenario.safety.FILE_NAME`).

A container may hold the directory read-write while the host reads or writes it, so every
access here is made relative to the directory's own descriptor (``openat``) with
``O_NOFOLLOW``: a file the container replaced by a symbolic link is seen as a link and never
followed, a FIFO is never opened for a blocking read or write, and what is not a regular file
is reported as what it is. Removal follows no link either (:func:`remove`).

The directory is on this machine, made by this process: the probes read it directly, and a
runtime whose containers run elsewhere declares no ``directories`` capability.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from container_claims import ledger
from container_claims.errors import ObservationError
from container_claims.hostfs import remove_tree
from container_claims.paths import directories_dir
from container_claims.scenario.model import Directory

if TYPE_CHECKING:
    from container_claims.probes.api import ProbeContext

#: The most of a file a reading keeps; a longer file is an observation that cannot be whole.
READ_LIMIT = 1 << 20
_OPEN = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_KINDS = (
    (stat.S_ISREG, "file"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "fifo"),
)


def path_for(run_id: str, token: str, name: str) -> Path:
    """Where directory ``name`` of one run of a scenario (``token``) is kept on this machine."""
    return directories_dir() / f"{run_id}-{token}-{name}"


def make(path: Path, directory: Directory) -> None:
    """Make ``directory`` with its files at ``path`` (from :func:`path_for`), written in the
    run's ledger first."""
    base = path.parent
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(base, 0o700)  # no other user of the host reaches what containers write there
    if any(c in str(path) for c in ":,"):  # runtimes read them as mount options
        raise ObservationError(f"the state directory's path {base} holds ':' or ','")
    ledger.record("dir", path=str(path))
    os.mkdir(path, 0o700)
    with _opened(path) as fd:
        for file in directory.files:
            _write_at(fd, file.name, file.text, file.mode, exclusive=True)
        os.fchmod(fd, directory.mode)


def remove(path: Path) -> None:
    """Remove a scenario's directory, whatever a container left in it (links, FIFOs, a tree
    of any depth), following no link (:func:`~container_claims.hostfs.remove_tree`)."""
    remove_tree(path)


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "other")


def _write_at(fd: int, name: str, text: str, mode: int | None, *, exclusive: bool) -> int:
    """Write ``name`` in the directory ``fd``: created, or a regular file replaced; never a
    link followed or anything but a regular file written. Returns the bytes written."""
    flags = os.O_WRONLY | os.O_CREAT | _OPEN | (os.O_EXCL if exclusive else 0)
    try:
        out = os.open(name, flags, 0o600, dir_fd=fd)
    except OSError as exc:
        found = _lstat(fd, name)
        what = _kind(found.st_mode) if found is not None else "nothing"
        raise ObservationError(
            f"{name} was not written: it is a {what} there ({exc.strerror}); "
            "no link is followed and only a file is written"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(out).st_mode):
            raise ObservationError(
                f"{name} was not written: it is a {_kind(os.fstat(out).st_mode)} there"
            )
        os.ftruncate(out, 0)
        data = text.encode()
        view = memoryview(data)
        while view:
            view = view[os.write(out, view) :]
        if mode is not None:
            os.fchmod(out, mode)
        return len(data)
    finally:
        os.close(out)


def _lstat(fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return None


def _host_path(ctx: ProbeContext, directory: str) -> Path:
    path = ctx.names.directories.get(directory)
    if path is None:
        raise ObservationError(f"directory {directory} was not made in this run")
    return Path(path)


def read(ctx: ProbeContext, directory: str, file: str) -> dict[str, Any]:
    """What the host finds under ``file`` in ``directory``: its kind, and a file's text and
    mode. A link is reported as a link, never followed."""
    with _opened(_host_path(ctx, directory)) as fd:
        found = _lstat(fd, file)
        if found is None:
            return {"exists": False, "kind": "missing", "text": None, "mode": None, "bytes": None}
        result: dict[str, Any] = {
            "exists": True,
            "kind": _kind(found.st_mode),
            "text": None,
            "mode": f"{stat.S_IMODE(found.st_mode):04o}",
            "bytes": None,
        }
        if result["kind"] != "file":
            return result
        try:
            source = os.open(file, os.O_RDONLY | _OPEN, dir_fd=fd)
        except OSError as exc:  # replaced since: by a link, a FIFO...
            raise ObservationError(f"{file} changed while it was read: {exc.strerror}") from None
        try:
            opened = os.fstat(source)
            if not stat.S_ISREG(opened.st_mode):
                raise ObservationError(
                    f"{file} changed while it was read: now a {_kind(opened.st_mode)}"
                )
            data = os.read(source, READ_LIMIT + 1)
        finally:
            os.close(source)
    if len(data) > READ_LIMIT:
        raise ObservationError(f"{file} holds more than {READ_LIMIT:,} bytes: not read whole")
    result.update(
        text=data.decode(errors="replace"),
        mode=f"{stat.S_IMODE(opened.st_mode):04o}",
        bytes=len(data),
    )
    return result


def write(
    ctx: ProbeContext, directory: str, file: str, text: str, mode: str | None = None
) -> dict[str, Any]:
    """Write ``text`` to ``file`` in ``directory`` on the host (created, or a file replaced)."""
    with _opened(_host_path(ctx, directory)) as fd:
        written = _write_at(fd, file, text, int(mode, 8) if mode else None, exclusive=False)
        after = _lstat(fd, file)
    return {
        "bytes": written,
        "mode": f"{stat.S_IMODE(after.st_mode):04o}" if after is not None else None,
    }
