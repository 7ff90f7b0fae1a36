"""Each process's own copy of the root filesystem, for the engine-less runtimes.

Containers of one process share its copy (as processes sharing a directory do), so the source
tree the image is built from is never written to, and two xdist workers never delete a copy
under each other. A copy is named ``RUN-PID-RUNTIME`` in the runs directory: a sweep finds a
run's copies by the first part of their names.
"""

from __future__ import annotations

import os
from pathlib import Path

from container_claims import ledger, processes
from container_claims.errors import ObservationError
from container_claims.hostfs import remove_tree
from container_claims.paths import runs_dir


def copy_path(run_id: str, runtime: str) -> Path:
    """Where this process keeps its copy for ``runtime`` in run ``run_id``."""
    return runs_dir() / f"{run_id}-{os.getpid()}-{runtime}"


def make_copy(source: Path, target: Path) -> None:
    """Copy the root filesystem ``source`` to ``target``, recorded in the ledger first so that
    a killed run's copy is swept; what an earlier attempt left there is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    ledger.record("dir", path=str(target))
    if target.exists():
        remove_tree(target)
    # Dies with the run: a copy going on after a SIGKILL writes into what the next run sweeps.
    copy = processes.run(
        ["cp", "-a", "--reflink=auto", str(source), str(target)],
        capture_output=True,
        text=True,
    )
    if copy.returncode != 0:
        if target.exists():
            remove_tree(target)
        raise ObservationError(f"could not copy the root filesystem: {copy.stderr.strip()}")


def copies_of(run_id: str | None, keep: frozenset[str] = frozenset()) -> list[Path]:
    """The copies of run ``run_id`` (of any run not in ``keep`` if None), by name."""
    runs = runs_dir()
    found = []
    for copy in sorted(runs.iterdir()) if runs.is_dir() else []:
        owner = copy.name.split("-", 1)[0]
        if (owner == run_id) if run_id is not None else owner not in keep:
            found.append(copy)
    return found
