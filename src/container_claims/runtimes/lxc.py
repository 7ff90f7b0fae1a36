"""The ``lxc`` runtime kind: LXC's own tools over each process's copy of the test root.

Each container gets a config the suite writes, in a directory of the run (its ``lxcpath``,
``RUN-PID-RUNTIME.lxc`` beside the root filesystem copy): LXC's ``common.conf``, the copy as
its root, no network (``lxc.net.0.type = empty``: no ``lxcbr0``), AppArmor unconfined, a
``/dev`` of its own, and the container's options as LXC spells them. Its name is the suite's
own (``cc-RUN-PID-N``), never the scenario's.

How a container runs decides what PID 1 is, as LXC has it:

* ``lxc-start -F`` for a terminal session: the command is PID 1 on a ``/dev/pts`` of its own;
* ``lxc-execute`` otherwise, and whenever an init is asked for: LXC's ``lxc-init`` is PID 1
  and passes signals on to the command. ``lxc-start`` reports no exit status of the command
  and keeps no output without a terminal, so a container run to completion or in the
  background needs ``lxc-execute`` (its init is a finding the expectations name);
* ``lxc-attach`` for an exec.

Besides the copy, LXC makes, for each container, a lock file under ``/run/lxc/lock`` named
after the lxcpath, and cgroups in every hierarchy. The config names those cgroups
(``cc-RUN-PID-RUNTIME.lxc/...``, the monitor's pivot included, instead of LXC's shared
``lxc.pivot``): a sweep finds all of a run's by name, and removes nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from container_claims import ledger
from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.hostfs import remove_tree
from container_claims.observations import OUTPUT_LIMIT, CommandOutcome
from container_claims.paths import runs_dir
from container_claims.processes import run_bounded
from container_claims.runtimes.confinement import DEFAULT_COMMAND
from container_claims.runtimes.namespaces import NamespaceRuntime, make_mount_point
from container_claims.scenario.model import ContainerSpec

#: The configuration LXC ships for every distribution: capabilities it drops, the device
#: cgroup, /proc and /sys mounted for a container, its seccomp profile.
COMMON_CONF = Path("/usr/share/lxc/config/common.conf")
#: What ``common.conf`` drops; kept dropped when a scenario adds another capability.
COMMON_DROPS = ("mac_admin", "mac_override", "sys_time", "sys_module", "sys_rawio")
#: Where LXC (run as root) keeps a lock file per container, under its lxcpath.
LOCK_ROOT = Path("/run/lxc/lock")
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: The suffix of a run's top cgroup, ``cc-RUN-PID-RUNTIME.lxc``, in every hierarchy.
CGROUP_SUFFIX = ".lxc"
_RUN_ID = re.compile(r"[0-9a-f]{1,32}")
#: A value on a config line, or a field of a mount entry: no whitespace or control character.
_FIELD = re.compile(r"[^\s\x00-\x1f\x7f]+")


class LxcRuntime(NamespaceRuntime):
    """LXC 5: ``lxc-start``/``lxc-execute``/``lxc-attach`` with a config of the suite's own."""

    kind: ClassVar[str] = "lxc"
    #: LXC sets a hostname, a working directory (``lxc.init.cwd``), a read-only root, tmpfs
    #: mounts with their size and mode, directories bound read-write or read-only, dropped
    #: capabilities, no_new_privs, and has an init (``lxc-execute``). Another user is not
    #: honoured here (``lxc.init.uid`` takes numbers only), nor the host's PID namespace, a
    #: stop signal, /dev/shm's size, labels, logs, ports, limits or volumes (no engine).
    capabilities: ClassVar[frozenset[str]] = NamespaceRuntime.capabilities | {
        "hostname",
        "workdir",
        "read-only",
        "tmpfs",
        "tmpfs-options",
        "directories",
        "read-only-mounts",
        "capabilities",
        "no-new-privileges",
        "init",
    }
    wrappers: ClassVar[frozenset[str]] = NamespaceRuntime.wrappers | {"lxc-start", "lxc-execute"}
    wrapper_errors: ClassVar[re.Pattern[str]] = re.compile("lxc-start: |lxc-execute: |lxc-attach: ")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._names: dict[str, str] = {}  # the suite's container name -> LXC's
        self._made = 0
        self._lxcpath: Path | None = None

    # -- where things are -------------------------------------------------------------------
    def lxcpath(self) -> Path:
        """This process's directory of container configs, in the ledger before it exists."""
        if self._lxcpath is None:
            path = runs_dir() / f"{self.run_id}-{os.getpid()}-{self.name}{CGROUP_SUFFIX}"
            ledger.record("dir", path=str(path))
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lxcpath = path
        return self._lxcpath

    def cgroup(self) -> str:
        """This process's top cgroup, relative to each hierarchy's root."""
        return f"cc-{self.run_id}-{os.getpid()}-{self.name}{CGROUP_SUFFIX}"

    def program(self, name: str) -> str:
        """An LXC tool, beside the entry's binary (``lxc-start``)."""
        binary = shutil.which(self.config.binary, path=self.host_env()["PATH"])
        if binary is None:
            raise RuntimeUnavailable(f"{self.config.binary!r} is not an executable on PATH")
        return str(Path(binary).with_name(name))

    # -- Runtime ----------------------------------------------------------------------------
    def check(self) -> None:
        super().check()
        for tool in ("lxc-execute", "lxc-attach"):
            if not os.access(self.program(tool), os.X_OK):
                raise RuntimeUnavailable(f"{tool} is not beside {self.program('lxc-start')}")
        if not COMMON_CONF.is_file():
            raise RuntimeUnavailable(f"LXC's {COMMON_CONF} is missing: install the lxc package")

    def argv(self, spec: ContainerSpec, name: str = "") -> list[str]:
        self.refuse_unsupported(spec)
        self._made += 1
        lxc_name = f"cc-{self.run_id}-{os.getpid()}-{self._made}"
        self._names[name] = lxc_name
        directory = self.lxcpath() / lxc_name
        directory.mkdir(mode=0o700)
        if spec.read_only:  # LXC mounts tmpfs and binds once the root is read-only: too late
            for target in [tmpfs.path for tmpfs in spec.tmpfs] + [m.target for m in spec.volumes]:
                make_mount_point(self.root(), target)
        text = lxc_config(
            spec,
            root=self.root(),
            hostname=spec.hostname or lxc_name,
            cgroup=f"{self.cgroup()}/{lxc_name}",
            pivot=f"{self.cgroup()}/pivot",
        )
        (directory / "config").write_text(text)
        return lxc_argv(
            spec,
            self.program("lxc-execute" if spec.init or not spec.tty else "lxc-start"),
            lxc_name,
            self.lxcpath(),
            self.container_env(spec),
            self.config.run_args,
        )

    def run(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        try:
            return super().run(spec, name, timeout)
        finally:
            self._forget(name)  # nothing is kept of a container that ran: no engine keeps it

    def exec(self, name: str, command: tuple[str, ...], timeout: float) -> CommandOutcome:
        if name not in self._processes or name not in self._names:
            raise ObservationError(f"no running container {name!r}")
        env = self.container_env(self._specs.get(name, ContainerSpec()))
        argv = [
            self.program("lxc-attach"),
            "--name",
            self._names[name],
            "--lxcpath",
            str(self.lxcpath()),
            "--clear-env",
            *(f"--set-var={key}={value}" for key, value in env.items()),
            "--",
            *command,
        ]
        done = run_bounded(argv, timeout=timeout, limit=OUTPUT_LIMIT, env=self.host_env())
        return self._outcome(done, timeout, f"the exec in {name}")

    def remove_container(self, name: str) -> None:
        super().remove_container(name)
        self._forget(name)

    def _forget(self, name: str) -> None:
        """The config, lock file and cgroups of a container that no longer runs."""
        lxc_name = self._names.pop(name, None)
        if lxc_name is None or self._lxcpath is None:
            return
        remove_tree(self._lxcpath / lxc_name)
        with contextlib.suppress(FileNotFoundError):
            (_lock_dir(self._lxcpath) / f".{lxc_name}").unlink()
        for hierarchy in _hierarchies():
            for leaf in (lxc_name, f"{lxc_name}.monitor"):
                _remove_cgroup(hierarchy / self.cgroup() / leaf)

    def remove_objects(
        self, *, run_id: str | None, keep: frozenset[str] = frozenset()
    ) -> list[str]:
        """Besides the copies: the run's cgroups (their processes killed first) and lock files
        (of any run not in ``keep`` if ``run_id`` is None), found by their names."""
        removed = []
        for name in list(self._processes):
            self.remove_container(name)
            removed.append(f"process of {name}")
        for top in cgroups_of(run_id, keep):
            _remove_cgroup(top)
            removed.append(f"cgroup {top}")
        for lock in locks_of(run_id, keep):
            remove_tree(lock)
            removed.append(f"lock directory {lock}")
        _remove_empty_lock_parents()
        if self._lxcpath is not None and not self._lxcpath.exists():
            self._lxcpath = None
        return removed + super().remove_objects(run_id=run_id, keep=keep)

    def close(self) -> None:
        super().close()
        self._names.clear()
        for hierarchy in _hierarchies():
            _remove_cgroup(hierarchy / self.cgroup())
        if self._lxcpath is not None:
            remove_tree(_lock_dir(self._lxcpath))
            _remove_empty_lock_parents()
            remove_tree(self._lxcpath)
            self._lxcpath = None


def lxc_config(spec: ContainerSpec, *, root: Path, hostname: str, cgroup: str, pivot: str) -> str:
    """The config of one container: LXC's common one, then the suite's lines. Every value a
    scenario gave is checked to be one field (:class:`ObservationError` if not): a newline
    would start a config line of its own, a space a mount entry's next field."""
    lines = [
        f"lxc.include = {COMMON_CONF}",
        f"lxc.rootfs.path = dir:{_field('the root filesystem', str(root), spaces=True)}",
        f"lxc.uts.name = {_field('hostname', hostname)}",
        "lxc.net.0.type = empty",
        "lxc.apparmor.profile = unconfined",
        "lxc.autodev = 1",
        f"lxc.cgroup.dir.container = {cgroup}",
        f"lxc.cgroup.dir.monitor = {cgroup}.monitor",
        f"lxc.cgroup.dir.monitor.pivot = {pivot}",
    ]
    if spec.read_only:
        lines.append("lxc.rootfs.options = ro")
    if spec.workdir:
        lines.append(f"lxc.init.cwd = {_path('workdir', spec.workdir)}")
    if "no-new-privileges" in spec.security_opt:
        lines.append("lxc.no_new_privs = 1")
    for tmpfs in spec.tmpfs:
        options = ["rw", "nosuid", "nodev", "create=dir"]
        if tmpfs.size:
            options.append(f"size={_field('tmpfs size', tmpfs.size)}")
        if tmpfs.mode:
            options.append(f"mode={_field('tmpfs mode', tmpfs.mode)}")
        target = _path("tmpfs path", tmpfs.path).lstrip("/")
        lines.append(f"lxc.mount.entry = tmpfs {target} tmpfs {','.join(options)} 0 0")
    for mount in spec.volumes:  # directories only: the capabilities keep volumes out
        source = _path("directory", mount.source)
        target = _path("mount path", mount.target).lstrip("/")
        bind = "bind,create=dir,ro" if mount.read_only else "bind,create=dir"
        lines.append(f"lxc.mount.entry = {source} {target} none {bind} 0 0")
    lines += _capability_lines(spec)
    return "\n".join(lines) + "\n"


def _capability_lines(spec: ContainerSpec) -> list[str]:
    """Docker's ``--cap-drop``/``--cap-add`` on LXC's default set (all but common.conf's
    drops): ``ALL`` keeps only what is added."""
    drop = [_capability(cap) for cap in spec.cap_drop]
    add = [_capability(cap) for cap in spec.cap_add]
    if "all" in drop:
        return ["lxc.cap.drop =", f"lxc.cap.keep = {' '.join(add) or 'none'}"]
    if add:
        kept_dropped = [cap for cap in (*COMMON_DROPS, *drop) if cap not in add]
        return ["lxc.cap.drop =", *(f"lxc.cap.drop = {cap}" for cap in kept_dropped)]
    return [f"lxc.cap.drop = {' '.join(drop)}"] if drop else []


def _capability(name: str) -> str:
    lower = name.lower().removeprefix("cap_")
    if not re.fullmatch(r"[a-z][a-z_]{1,30}", lower):
        raise ObservationError(f"lxc: {name[:40]!r} is not a capability name")
    return lower


def _field(what: str, value: str, *, spaces: bool = False) -> str:
    """``value`` when it is one field of a config line (spaces allowed on a line's end)."""
    check = value.replace(" ", "x") if spaces else value
    if not value or len(value) > 4096 or not _FIELD.fullmatch(check):
        raise ObservationError(
            f"lxc: {what} {value[:80]!r} cannot be written in an LXC config "
            "(empty, too long, or holding whitespace or a control character)"
        )
    return value


def _path(what: str, value: str) -> str:
    """An absolute path that stays where it says: one field, no ``..``."""
    _field(what, value)
    if not value.startswith("/") or ".." in value.split("/"):
        raise ObservationError(f"lxc: {what} {value[:80]!r} is not an absolute path without '..'")
    return value


def lxc_argv(
    spec: ContainerSpec,
    program: str,
    name: str,
    lxcpath: Path,
    env: dict[str, str],
    run_args: tuple[str, ...],
) -> list[str]:
    """``lxc-start -F``/``lxc-execute`` of a container whose config is written. The
    environment goes as ``--define=lxc.environment=NAME=VALUE``: one argument each, which no
    value can turn into an option."""
    foreground = [] if program.endswith("lxc-execute") else ["--foreground"]
    return [
        program,
        *foreground,
        "--name",
        name,
        "--lxcpath",
        str(lxcpath),
        *(f"--define=lxc.environment={key}={value}" for key, value in env.items()),
        *run_args,
        "--",
        *(spec.command or DEFAULT_COMMAND),
    ]


# -- what LXC leaves on the host, found by name ---------------------------------------------
def _hierarchies() -> list[Path]:
    """The cgroup hierarchies: each mounted under /sys/fs/cgroup, or the unified root."""
    if (CGROUP_ROOT / "cgroup.procs").exists():
        return [CGROUP_ROOT]
    return sorted(p for p in CGROUP_ROOT.iterdir() if (p / "cgroup.procs").exists())


def _owner(name: str, suffix: str) -> str | None:
    """The run id of ``cc-RUN-...SUFFIX`` (a cgroup) or ``RUN-...SUFFIX`` (an lxcpath)."""
    if not name.endswith(suffix):
        return None
    run = name.removeprefix("cc-").split("-", 1)[0]
    return run if _RUN_ID.fullmatch(run) else None


def _ours(owner: str | None, run_id: str | None, keep: frozenset[str]) -> bool:
    if owner is None:
        return False
    return owner == run_id if run_id is not None else owner not in keep


def cgroups_of(run_id: str | None, keep: frozenset[str] = frozenset()) -> list[Path]:
    """The top cgroups of run ``run_id`` (of any run not in ``keep`` if None), every hierarchy."""
    return [
        top
        for hierarchy in _hierarchies()
        for top in sorted(hierarchy.glob(f"cc-*{CGROUP_SUFFIX}"))
        if top.name.startswith("cc-") and _ours(_owner(top.name, CGROUP_SUFFIX), run_id, keep)
    ]


def _lock_dir(lxcpath: Path) -> Path:
    return LOCK_ROOT / str(lxcpath).lstrip("/")


def locks_of(run_id: str | None, keep: frozenset[str] = frozenset()) -> list[Path]:
    """LXC's lock directories of the run's lxcpaths (of any run not in ``keep`` if None)."""
    parent = _lock_dir(runs_dir())
    found = sorted(parent.glob(f"*{CGROUP_SUFFIX}")) if parent.is_dir() else []
    return [lock for lock in found if _ours(_owner(lock.name, CGROUP_SUFFIX), run_id, keep)]


def _remove_empty_lock_parents() -> None:
    """The directories LXC made down to the runs' lock directories, once empty: up to
    ``/run/lxc`` itself, which LXC made on first use."""
    directory = _lock_dir(runs_dir())
    while directory != LOCK_ROOT.parent.parent:
        try:
            directory.rmdir()
        except OSError:
            return  # not empty (another run's), or gone
        directory = directory.parent


def _tree(top: Path) -> Iterator[Path]:
    """``top``'s cgroups, children first."""
    for directory, children, _ in os.walk(top, topdown=False):
        yield from (Path(directory) / child for child in children)
    yield top


def _remove_cgroup(top: Path, wait: float = 5.0) -> None:
    """Kill what runs in ``top`` and below (a container a killed run left, its monitor), then
    remove its cgroups, children first. The kernel refuses a cgroup's removal while a process
    in it is still dying: that is waited for."""
    if not top.is_dir():
        return
    deadline = time.monotonic() + wait
    while True:
        for cgroup in _tree(top):
            with contextlib.suppress(OSError):
                for pid in (cgroup / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), 9)
        busy = False
        for cgroup in _tree(top):
            try:
                cgroup.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                busy = True
        if not busy:
            return
        if time.monotonic() > deadline:
            raise OSError(f"could not remove the cgroup {top}: it still holds processes")
        time.sleep(0.05)
