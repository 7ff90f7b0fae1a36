"""Where the suite keeps things on the machine: one place for every path it owns.

``$CONTAINER_CLAIMS_HOME`` if set; otherwise ``/var/lib/container-claims`` for root and
``~/.cache/container-claims`` for anyone else. Under it:

* ``rootfs/``: root filesystems the test image is made from (kept between runs);
* ``runs/``: per-run copies of a root filesystem for the engine-less runtimes;
* ``directories/``: the host directories scenarios declare, one per scenario run;
* ``ledger/``: what each live run has left on the machine (see :mod:`container_claims.ledger`);
* ``pytest-cache/``: pytest's cache of ``container-claims run`` (``--lf``), one per rootdir.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

#: Prefix of every temporary directory the suite makes (so a sweep can tell them apart).
TEMP_PREFIX = "cc-"


def state_dir() -> pathlib.Path:
    """The suite's own directory on this machine."""
    env = os.environ.get("CONTAINER_CLAIMS_HOME")
    if env:
        return pathlib.Path(env)
    if os.geteuid() == 0:
        return pathlib.Path("/var/lib/container-claims")
    return pathlib.Path.home() / ".cache" / "container-claims"


#: The Debian release the test image and the engine-less runtimes' root filesystem are made of.
ROOTFS_SUITE = "bookworm"


def rootfs_dir() -> pathlib.Path:
    """The root filesystem the test image is made from, kept between builds.

    It exists only when complete (the image builder renames a finished tree into place); the
    engine-less runtimes copy it for each run.
    """
    return state_dir() / "rootfs" / ROOTFS_SUITE


def runs_dir() -> pathlib.Path:
    """Per-run copies of root filesystems (engine-less runtimes)."""
    return state_dir() / "runs"


def directories_dir() -> pathlib.Path:
    """The host directories scenarios declare, each named ``RUN-TOKEN-NAME``."""
    return state_dir() / "directories"


def ledger_dir() -> pathlib.Path:
    """One file per live process of a run, naming what it made."""
    return state_dir() / "ledger"


def make_temp_dir(purpose: str) -> pathlib.Path:
    """A new private temporary directory of ours (``/tmp/cc-PURPOSE-XXXX``)."""
    return pathlib.Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{purpose}-"))


def is_ours(path: pathlib.Path) -> bool:
    """Whether ``path`` is a directory the suite may delete: a run copy, a scenario's host
    directory or a temp dir of ours.

    A sweep reads paths from ledger files; this keeps a damaged or forged ledger from naming
    anything else.
    """
    plain = pathlib.Path(os.path.normpath(path))
    if plain.parent in (
        pathlib.Path(os.path.normpath(runs_dir())),
        pathlib.Path(os.path.normpath(directories_dir())),
    ):
        return True
    temp = pathlib.Path(os.path.normpath(tempfile.gettempdir()))
    return plain.parent == temp and plain.name.startswith(TEMP_PREFIX)
