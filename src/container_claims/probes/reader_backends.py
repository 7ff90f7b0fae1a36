"""testinfra's docker and podman backends, each reading made in a reader container's chroot
of the host (:mod:`.reader`), with the runtime's binary and environment."""

from __future__ import annotations

import subprocess
from typing import Any

from testinfra.backend.base import BaseBackend, CommandResult
from testinfra.backend.docker import DockerBackend
from testinfra.backend.podman import PodmanBackend

from container_claims import processes
from container_claims.errors import RuntimeUnavailable
from container_claims.processes import last_line
from container_claims.runtimes.docker_cli import is_cli_error

#: Where the reader and the marker's writer see the host's root.
HOST_ROOT = "/host"
#: Seconds one reading (one exec) may take.
READING_TIMEOUT = 60.0


class _ThroughReader(BaseBackend):  # type: ignore[misc]  # testinfra declares no types
    """A testinfra backend's ``run`` made in the reader's chroot of the host, with the
    runtime's binary and environment (testinfra's own runs ``docker`` or ``podman`` of the
    ``PATH`` in ours), within :data:`READING_TIMEOUT`. An engine that cannot run the command
    (the reader gone, the engine down) is :class:`RuntimeUnavailable`, never a reading."""

    name: str

    def __init__(self, name: str, binary: str, env: dict[str, str]) -> None:
        super().__init__(name)  # testinfra's docker or podman backend, by the subclass
        self.binary, self.env = binary, env

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        cmd = self.get_command(command, *args)
        argv = [self.binary, "exec", self.name, "chroot", HOST_ROOT, "/bin/sh", "-c", cmd]
        try:
            done = processes.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=self.env,
                timeout=READING_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeUnavailable(
                f"the host reader {self.name} gave no answer within {READING_TIMEOUT:g} s"
            ) from None
        except OSError as exc:
            raise RuntimeUnavailable(f"{self.binary!r} cannot be run: {exc}") from None
        said = done.stderr.decode(errors="replace")
        if done.returncode != 0 and is_cli_error(said):
            raise RuntimeUnavailable(
                f"the engine could not read the host through {self.name}: {last_line(said)}"
            )
        return self.result(done.returncode, self.encode(cmd), done.stdout, done.stderr)


class DockerReaderBackend(_ThroughReader, DockerBackend):  # type: ignore[misc]
    """testinfra's docker backend, reading the host through a Docker reader container."""


class PodmanReaderBackend(_ThroughReader, PodmanBackend):  # type: ignore[misc]
    """testinfra's podman backend, reading the host through a Podman reader container."""
