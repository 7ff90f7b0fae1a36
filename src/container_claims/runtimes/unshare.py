"""The ``unshare`` runtime kind: util-linux ``unshare`` for the namespaces, the host's
:mod:`jail` for the root filesystem, the capabilities and the user."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from container_claims.runtimes.confinement import jail
from container_claims.runtimes.namespaces import NamespaceRuntime
from container_claims.scenario.model import ContainerSpec


class UnshareRuntime(NamespaceRuntime):
    """util-linux ``unshare`` for the namespaces, ``chroot`` for the root.

    ``chroot`` always starts in ``/``: a working directory is not honoured (capability
    ``workdir`` missing), users are.

    :mod:`jail` (the host's) is the new PID namespace's first process (with ``pid: host``
    there is none: it is one process of the host's PID namespace): it puts the root
    filesystem alone in an empty tmpfs that becomes the mount namespace's root (so a chroot
    escape finds no host there), chroots into it, sets the capability bounding set and
    no_new_privs, switches the user last, as runc does, and runs the command.
    """

    kind: ClassVar[str] = "unshare"
    #: The jail sets the capability bounding set, no_new_privs and the user; nothing here
    #: sets a hostname, mounts a read-only root or a tmpfs before the command runs. The
    #: host's PID namespace is kept by leaving out ``--pid``.
    capabilities: ClassVar[frozenset[str]] = NamespaceRuntime.capabilities | {
        "user",
        "capabilities",
        "no-new-privileges",
        "host-pid",
    }

    def wrap(self, spec: ContainerSpec, root: Path) -> list[str]:
        return [
            *([] if spec.pid == "host" else ["--pid"]),
            "--fork",
            "--kill-child",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            *self.config.run_args,
            "--",
            *jail("run", str(root), spec, self.container_env(spec)),
        ]
