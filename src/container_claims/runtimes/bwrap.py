"""The ``bwrap`` runtime kind: bubblewrap confines the container and sets its root,
environment and capabilities itself."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from container_claims.runtimes.confinement import DEFAULT_COMMAND, kept_capabilities
from container_claims.runtimes.namespaces import NamespaceRuntime
from container_claims.scenario.model import ContainerSpec, Tmpfs


class BwrapRuntime(NamespaceRuntime):
    """Bubblewrap: the root filesystem bound on ``/``, fresh ``/proc`` and ``/dev``."""

    kind: ClassVar[str] = "bwrap"
    #: Working directories are honoured (``--chdir``), and so are a hostname, a read-only root,
    #: tmpfs mounts with their size and mode, directories bound read-write or read-only, and
    #: capabilities, and the host's PID namespace (no ``--unshare-pid``); bwrap always sets
    #: no_new_privs. Another user is not (no user namespace), nor an init, labels, a stop
    #: signal, /dev/shm's size or volumes (no engine).
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
        "host-pid",
    }

    def wrap(self, spec: ContainerSpec, root: Path) -> list[str]:
        caps = [
            arg for cap in kept_capabilities(spec) for arg in ("--cap-add", f"CAP_{cap.upper()}")
        ]
        # The root is bound writable and made read-only last: bwrap makes the mount points
        # of tmpfs and binds that the image lacks, which a read-only root would refuse.
        return [
            "--bind",
            str(root),
            "/",
            *(arg for tmpfs in spec.tmpfs for arg in _tmpfs(tmpfs)),
            *(
                arg
                for mount in spec.volumes  # directories only: the capabilities keep volumes out
                for arg in (
                    "--ro-bind" if mount.read_only else "--bind",
                    mount.source,
                    mount.target,
                )
            ),
            *(["--hostname", spec.hostname] if spec.hostname else []),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            *(["--remount-ro", "/"] if spec.read_only else []),
            "--chdir",
            spec.workdir or "/",
            *([] if spec.pid == "host" else ["--unshare-pid"]),
            "--unshare-uts",
            "--unshare-ipc",
            "--unshare-net",
            "--die-with-parent",
            "--cap-drop",
            "ALL",
            *caps,
            "--clearenv",
            *(
                arg
                for key, value in self.container_env(spec).items()
                for arg in ("--setenv", key, value)
            ),
            *self.config.run_args,
            "--",
            *(spec.command or DEFAULT_COMMAND),
        ]


_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _tmpfs(tmpfs: Tmpfs) -> list[str]:
    """``--tmpfs PATH``, after ``--size BYTES`` and ``--perms MODE`` where given."""
    args = []
    if tmpfs.size:
        number, unit = tmpfs.size.rstrip("kmg"), tmpfs.size[-1]
        args += ["--size", str(int(number) * _UNITS.get(unit, 1))]
    if tmpfs.mode:
        args += ["--perms", tmpfs.mode]
    return [*args, "--tmpfs", tmpfs.path]
