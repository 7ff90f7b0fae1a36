"""The ``bwrap`` runtime kind: bubblewrap confines the container and sets its root,
environment and capabilities itself."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from container_claims.runtimes.confinement import DEFAULT_COMMAND, kept_capabilities
from container_claims.runtimes.namespaces import NamespaceRuntime
from container_claims.scenario.model import ContainerSpec


class BwrapRuntime(NamespaceRuntime):
    """Bubblewrap: the root filesystem bound on ``/``, fresh ``/proc`` and ``/dev``."""

    kind: ClassVar[str] = "bwrap"
    #: Working directories are honoured (``--chdir``), and so are a hostname, a read-only root,
    #: tmpfs mounts and capabilities; bwrap always sets no_new_privs. Another user is not (no
    #: user namespace), nor an init, labels, a stop signal or /dev/shm's size (no engine).
    capabilities: ClassVar[frozenset[str]] = NamespaceRuntime.capabilities | {
        "workdir",
        "hostname",
        "read-only",
        "tmpfs",
        "capabilities",
        "no-new-privileges",
    }

    def wrap(self, spec: ContainerSpec, root: Path) -> list[str]:
        caps = [
            arg for cap in kept_capabilities(spec) for arg in ("--cap-add", f"CAP_{cap.upper()}")
        ]
        return [
            "--ro-bind" if spec.read_only else "--bind",
            str(root),
            "/",
            *(arg for path in spec.tmpfs for arg in ("--tmpfs", path)),
            *(["--hostname", spec.hostname] if spec.hostname else []),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--chdir",
            spec.workdir or "/",
            "--unshare-pid",
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
