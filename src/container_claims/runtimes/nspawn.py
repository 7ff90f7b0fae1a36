"""The ``nspawn`` runtime kind: systemd-nspawn over the run's copy of the test image's root.

``systemd-nspawn -q -D COPY --register=no --keep-unit --private-network -- COMMAND``: no
system bus and no systemd as the host's PID 1 are needed. Each container starts from the copy
with ``--volatile=overlay`` (its changes go to a tmpfs and vanish with it, and containers of
one process may share the copy), or ``--read-only`` when the scenario asks for a read-only
root. ``init: true`` is ``--as-pid2``: nspawn's stub init is PID 1, the command PID 2.

What nspawn makes for itself stays the suite's to remove: each container runs in cgroups the
suite made for it (written in the run's ledger first; nspawn puts its ``payload`` and
``supervisor`` cgroups below them), and nspawn runs in a mount namespace of its own with fresh
``/tmp`` and ``/run`` (:mod:`jail`'s ``stage``), so its volatile overlay directories and its
``/run/systemd/nspawn`` go with it, however it ends. Without registration nspawn sets no
resource limits (``--property=`` needs the bus): ``resources`` is not declared.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

from container_claims import ledger, processes
from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.observations import CommandOutcome
from container_claims.runtimes.base import Shell
from container_claims.runtimes.confinement import (
    ALL_CAPABILITIES,
    DEFAULT_COMMAND,
    JAIL,
    kept_capabilities,
)
from container_claims.runtimes.namespaces import NamespaceRuntime, make_mount_point
from container_claims.scenario.model import ContainerSpec, Tmpfs

#: Where cgroup hierarchies are mounted; the unified one is ``unified`` below it on a
#: hybrid host, the root itself on a unified-only host.
_CGROUPS = Path("/sys/fs/cgroup")
#: A path nspawn's ``--bind``/``--tmpfs`` would split or read otherwise: refused.
_NOT_IN_A_PATH = re.compile(r"[:,\\\s]")


def hierarchies(self_cgroup: str, cgroups: Path = _CGROUPS) -> list[Path]:
    """Where this process sits in the hierarchies nspawn places itself in (``/proc/self/
    cgroup``'s text): the unified one, and systemd's named one on a hybrid host."""
    found = []
    for line in self_cgroup.splitlines():
        number, controllers, path = line.split(":", 2)
        if number == "0" and not controllers:
            unified = cgroups / "unified"
            base = unified if (unified / "cgroup.procs").exists() else cgroups
        elif controllers == "name=systemd":
            base = cgroups / "systemd"
        else:
            continue
        found.append(base / path.lstrip("/"))
    return found


def cgroups_of(run_id: str | None, keep: frozenset[str], parents: list[Path]) -> list[Path]:
    """The suite's cgroups below ``parents`` of run ``run_id`` (of any run not in ``keep`` if
    None), by name: ``container-claims-RUN-...``."""
    found = []
    for parent in parents:
        for child in sorted(parent.iterdir()) if parent.is_dir() else []:
            if not (child.is_dir() and child.name.startswith(ledger.CGROUP_PREFIX)):
                continue
            owner = child.name.removeprefix(ledger.CGROUP_PREFIX).split("-", 1)[0]
            if (owner == run_id) if run_id is not None else owner not in keep:
                found.append(child)
    return found


class NspawnRuntime(NamespaceRuntime):
    """systemd-nspawn, each container in cgroups of its own below the suite's."""

    kind: ClassVar[str] = "nspawn"
    #: nspawn honours a working directory (``--chdir``), a hostname, a read-only root, tmpfs
    #: mounts with their size and mode, directories bound read-write or read-only,
    #: capabilities, no_new_privs and an init (``--as-pid2``). Not a user given as numbers
    #: (``--user`` takes a name, resolved by running the container's ``getent`` with every
    #: capability), the host's PID namespace, limits (no registration), labels, logs, ports,
    #: a stop signal, /dev/shm's size or volumes (no engine).
    capabilities: ClassVar[frozenset[str]] = NamespaceRuntime.capabilities | {
        "workdir",
        "hostname",
        "read-only",
        "tmpfs",
        "tmpfs-options",
        "directories",
        "read-only-mounts",
        "capabilities",
        "no-new-privileges",
        "init",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cgroups: dict[str, list[Path]] = {}  # each container's, by its name
        self._made = 0

    def wrap(self, spec: ContainerSpec, root: Path) -> list[str]:
        kept = kept_capabilities(spec)
        dropped = [cap for cap in ALL_CAPABILITIES if cap not in kept]
        return [
            "--quiet",
            f"--directory={root}",
            "--register=no",
            "--keep-unit",
            "--private-network",
            # A read-only root is the copy itself; any other gets its changes in a tmpfs.
            "--read-only" if spec.read_only else "--volatile=overlay",
            "--console=interactive" if spec.tty else "--console=pipe",
            *(["--as-pid2"] if spec.init else []),
            *([f"--chdir={spec.workdir}"] if spec.workdir else []),
            *([f"--hostname={spec.hostname}"] if spec.hostname else []),
            *(_tmpfs(tmpfs) for tmpfs in spec.tmpfs),
            *(
                f"--bind{'-ro' if mount.read_only else ''}={_path(mount.source)}:"
                f"{_path(mount.target)}"
                for mount in spec.volumes  # directories only: the capabilities keep volumes out
            ),
            *([f"--capability={','.join(_names(kept))}"] if kept else []),
            *([f"--drop-capability={','.join(_names(dropped))}"] if dropped else []),
            *(["--no-new-privileges=yes"] if "no-new-privileges" in spec.security_opt else []),
            *(f"--setenv={key}={value}" for key, value in self.container_env(spec).items()),
            *self.config.run_args,
            "--",
            *(spec.command or DEFAULT_COMMAND),
        ]

    def host_env(self) -> dict[str, str]:
        # nspawn's messages begin with their source location: a refusal is told apart from
        # what the container's command printed (the container gets an environment of its
        # own). No lock file beside the copy (``.#COPY.lck``, left by a killed nspawn): no
        # container writes to the copy (a volatile overlay, or a read-only root).
        return {"SYSTEMD_LOG_LOCATION": "1", "SYSTEMD_NSPAWN_LOCK": "0", **super().host_env()}

    def argv(self, spec: ContainerSpec, name: str = "") -> list[str]:
        """The command line, run by :mod:`jail`'s ``stage`` in cgroups made for ``name``."""
        command = super().argv(spec, name)
        if spec.read_only:  # nspawn makes mount points once the root is read-only: too late
            for target in [tmpfs.path for tmpfs in spec.tmpfs] + [m.target for m in spec.volumes]:
                make_mount_point(self.root(), target)
        cgroups = self._make_cgroups(name)
        return [
            sys.executable,
            "-I",
            "-S",
            "-B",
            str(JAIL),
            "stage",
            *map(str, cgroups),
            "--",
            *command,
        ]

    def _make_cgroups(self, name: str) -> list[Path]:
        """A cgroup for the container ``name`` in each hierarchy, written in the ledger first."""
        self._release(name)
        self._made += 1
        leaf = f"{ledger.CGROUP_PREFIX}{self.run_id}-{os.getpid()}-{self._made}"
        made = []
        for parent in hierarchies(Path("/proc/self/cgroup").read_text()):
            cgroup = parent / leaf
            ledger.record("cgroup", path=str(cgroup))
            cgroup.mkdir()
            made.append(cgroup)
            self._cgroups[name] = made
        return made

    def _release(self, name: str) -> None:
        """Remove the cgroups of the container ``name`` (its processes ended with them)."""
        for cgroup in self._cgroups.pop(name, []):
            processes.remove_cgroup(str(cgroup))

    # -- Runtime ----------------------------------------------------------------------------
    def check(self) -> None:
        super().check()
        if not hierarchies(Path("/proc/self/cgroup").read_text()):
            raise RuntimeUnavailable("no unified or systemd cgroup hierarchy to run nspawn in")

    def run(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        try:
            return super().run(spec, name, timeout)
        finally:
            self._release(name)

    def open_shell(self, spec: ContainerSpec, name: str, timeout: float) -> Shell:
        try:
            return super().open_shell(spec, name, timeout)
        except BaseException:
            self._release(name)
            raise

    def start(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        try:
            return super().start(spec, name, timeout)
        except BaseException:
            self.remove_container(name)
            raise

    def remove_container(self, name: str) -> None:
        try:
            super().remove_container(name)
        finally:
            self._release(name)

    def remove_objects(
        self, *, run_id: str | None, keep: frozenset[str] = frozenset()
    ) -> list[str]:
        """As the other engine-less kinds, and the cgroups of ``run_id``'s containers (of any
        run not in ``keep`` if None) below this process's own."""
        removed = super().remove_objects(run_id=run_id, keep=keep)
        parents = hierarchies(Path("/proc/self/cgroup").read_text())
        for cgroup in cgroups_of(run_id, keep, parents):
            if processes.remove_cgroup(str(cgroup)):
                removed.append(f"cgroup {cgroup}")
        return removed

    def close(self) -> None:
        super().close()
        for name in list(self._cgroups):
            self._release(name)


def _path(path: str) -> str:
    if _NOT_IN_A_PATH.search(path) or not path.startswith("/"):
        raise ObservationError(f"nspawn cannot bind the path {path[:80]!r}")
    return path


def _tmpfs(tmpfs: Tmpfs) -> str:
    """``--tmpfs=PATH[:mode=MODE,size=SIZE]``: nspawn's mount options after the path."""
    options = [
        *([f"mode={tmpfs.mode}"] if tmpfs.mode else []),
        *([f"size={tmpfs.size}"] if tmpfs.size else []),
    ]
    return f"--tmpfs={_path(tmpfs.path)}" + (f":{','.join(options)}" if options else "")


def _names(capabilities: list[str]) -> list[str]:
    return [f"CAP_{cap.upper()}" for cap in capabilities]
