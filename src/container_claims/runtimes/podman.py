"""Podman: its Docker-compatible CLI for containers, its Docker-compatible API for the rest.

Podman has no daemon, so the API the Docker SDK talks to is a ``podman system service`` that
this runtime starts on a private socket when first used and stops (by its PID) on close. The
service dies with the suite's process even when that is killed outright (parent-death signal),
and its directory is in the run's ledger, for the next run to sweep.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import ClassVar

from container_claims import ledger, processes
from container_claims.errors import RuntimeUnavailable
from container_claims.paths import make_temp_dir
from container_claims.processes import end_child
from container_claims.runtimes.docker import DockerRuntime
from container_claims.runtimes.engine_fields import named_oci_runtime

SERVICE_TIMEOUT = 20.0


class PodmanRuntime(DockerRuntime):
    """Podman with its own image store (``podman pull docker-daemon:IMAGE`` fills it)."""

    kind: ClassVar[str] = "podman"
    family: ClassVar[str] = "Podman"
    loopback_registry_flags: ClassVar[tuple[str, ...]] = ("--tls-verify=false",)
    build_flags: ClassVar[tuple[str, ...]] = ("--pull=never",)  # the base is in its store
    # On another machine, its API service's socket (systemd's podman.socket) is forwarded,
    # and CONTAINER_HOST makes the CLI a remote client of it.
    remote_socket: ClassVar[str] = "/run/podman/podman.sock"
    address_variable: ClassVar[str] = "CONTAINER_HOST"
    bridge_network: ClassVar[str | None] = None  # ``--network bridge`` is its default network

    _service: subprocess.Popen[bytes] | None = None
    _service_dir: Path | None = None

    def engine_url(self) -> str | None:
        if self.config.over_ssh:
            return super().engine_url()
        with self._first_use:
            if self._service is None:
                self._start_service()
        assert self._service_dir is not None
        return f"unix://{self._service_dir / 'podman.sock'}"

    def _start_service(self) -> None:
        if shutil.which(self.config.binary, path=self.env().get("PATH")) is None:
            raise RuntimeUnavailable(f"{self.config.binary!r} is not an executable on PATH")
        self._service_dir = make_temp_dir("podman")
        ledger.record("dir", path=str(self._service_dir))
        if self.config.user:  # the service runs as the user: its socket is made there
            self.user().give(self._service_dir)
        socket = self._service_dir / "podman.sock"
        log = (self._service_dir / "service.log").open("wb")
        argv = [
            self.config.binary,
            *self._oci_runtime_option(),
            *("system", "service", "--time=0", f"unix://{socket}"),
        ]
        if self.config.user:
            argv = self.user().service_argv(argv, super().env().get("PATH"))
        with log:
            self._service = processes.start(
                argv,
                death_signal=signal.SIGTERM,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
            )
        ledger.record_process(self._service.pid, "podman service")
        deadline = time.monotonic() + SERVICE_TIMEOUT
        while not socket.exists():
            if self._service.poll() is not None or time.monotonic() > deadline:
                tail = (self._service_dir / "service.log").read_text(errors="replace")[-300:]
                self._stop_service()
                raise RuntimeUnavailable(f"podman's API service did not start: {tail.strip()}")
            time.sleep(0.05)

    def _oci_runtime_option(self) -> list[str]:
        """``--runtime NAME`` when the entry's ``run_args`` name an OCI runtime: Podman's default
        is whichever its packages find first (installing crun makes it crun), so what the
        entry names is what every container of it runs on, a build's and the service's too."""
        named = named_oci_runtime(self.config.run_args)
        return ["--runtime", named] if named else []

    def build_options(self) -> tuple[str, ...]:
        return (*self.build_flags, *self._oci_runtime_option())

    def _stop_service(self) -> None:
        if self._service is not None:
            end_child(self._service)
            self._service = None
        if self._service_dir is not None:
            shutil.rmtree(self._service_dir, ignore_errors=True)
            self._service_dir = None

    #: The programs rootless Podman gives a container a network with: without one, it
    #: refuses any network but none.
    rootless_networks: ClassVar[tuple[str, ...]] = ("slirp4netns", "pasta")

    def rootless_lacks(self) -> frozenset[str]:
        """Beyond the directories: a network (and so published ports), when no program of
        :data:`rootless_networks` is on the user's PATH."""
        lacks = {"directories"}
        path = self.env().get("PATH")
        if not any(shutil.which(program, path=path) for program in self.rootless_networks):
            lacks |= {"network", "ports"}
        return frozenset(lacks)

    def close(self) -> None:
        super().close()
        self._stop_service()

    def env(self) -> dict[str, str]:
        env = super().env()
        env.pop("DOCKER_HOST", None)  # never the Docker engine's address for Podman's client
        return env


__all__ = ["PodmanRuntime"]
