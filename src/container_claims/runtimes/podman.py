"""Podman: its Docker-compatible CLI for containers, its Docker-compatible API for the rest.

Podman has no daemon, so the API the Docker SDK talks to is a ``podman system service`` that
this runtime starts on a private socket when first used and stops (by its PID) on close. The
service dies with the suite's process even when that is killed outright (parent-death signal),
and its directory is in the run's ledger, for the next run to sweep.

A one-shot container's output is read from the log its conmon writes, not from the attach:
Podman's attach lost a short-lived container's whole stdout under load (status 0, nothing
printed) where the log has it, as conmon reads the container's pipes itself.
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import ClassVar

from container_claims import ledger, processes
from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.observations import OUTPUT_LIMIT, CommandOutcome
from container_claims.paths import make_temp_dir
from container_claims.processes import end_child
from container_claims.runtimes.docker import DockerRuntime
from container_claims.runtimes.engine_fields import named_oci_runtime
from container_claims.scenario.model import ContainerSpec

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
    _logs: Path | None = None  # the one-shot containers' logs, while they run

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

    def run(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        """A one-shot container, attached to stdin only; its output from the log conmon
        writes (k8s-file, in the suite's directory, whatever log driver the entry's run
        arguments name), which goes with it (a kept container keeps it). A terminal's output
        (one stream, as the terminal showed it) and an engine on another machine (whose log
        is there) are read from the attach."""
        if spec.tty or self.config.host:
            return super().run(spec, name, timeout)
        if "/" in name or name.startswith("."):  # the suite's names never are: a file of ours
            raise ObservationError(f"{name[:80]!r} cannot name a log file")
        log = self._logs_dir() / f"{name}.log"
        options = ("--attach=stdin", "--log-driver=k8s-file", f"--log-opt=path={log}")
        argv = self.run_argv(spec, name, spec.image or self.image, options=options)
        try:
            outcome = self._cli(argv[1:], timeout=timeout, stdin=spec.stdin, what=f"running {name}")
            self._refusal(outcome, f"to run {name}")
            return _with_log(outcome, log, name)
        finally:
            if spec.remove:  # else the container is kept, and its log for `podman logs`
                log.unlink(missing_ok=True)

    def _logs_dir(self) -> Path:
        with self._first_use:
            if self._logs is None:
                self._logs = make_temp_dir("podman-logs")
                ledger.record("dir", path=str(self._logs))
                if self.config.user:  # conmon runs as the user: it writes the logs
                    self.user().give(self._logs)
            return self._logs

    def close(self) -> None:
        super().close()
        self._stop_service()
        if self._logs is not None:
            shutil.rmtree(self._logs, ignore_errors=True)
            self._logs = None

    def env(self) -> dict[str, str]:
        env = super().env()
        env.pop("DOCKER_HOST", None)  # never the Docker engine's address for Podman's client
        return env


def _with_log(outcome: CommandOutcome, log: Path, name: str) -> CommandOutcome:
    """The outcome of ``podman run --attach=stdin`` (the CLI printed the container's id, and
    its own messages on stderr) with the container's output from its log: stdout as the
    output, stderr after the CLI's. A run that timed out has what was logged so far."""
    if not log.exists():
        if not outcome.completed:
            return outcome
        raise ObservationError(f"the output of {name} was not logged: {outcome.stderr[-300:]}")
    stdout, stderr, cut = read_k8s_log(log, OUTPUT_LIMIT)
    said = "\n".join(part for part in (outcome.stderr, stderr.rstrip("\n")) if part)
    truncated = outcome.truncated or cut
    detail = outcome.detail or (f"more than {OUTPUT_LIMIT:,} bytes of output" if cut else "")
    return dataclasses.replace(
        outcome, output=stdout.rstrip("\n"), stderr=said, truncated=truncated, detail=detail
    )


def read_k8s_log(path: Path, limit: int) -> tuple[str, str, bool]:
    """stdout and stderr from a log in the k8s-file format conmon writes, a line per piece
    (``TIME STREAM F|P CONTENT``: F ends a line, P is part of one), each kept up to
    ``limit`` bytes, and whether either was longer. Reading stops once both are."""
    kept = {b"stdout": bytearray(), b"stderr": bytearray()}
    cut = False
    with path.open("rb") as handle:
        while line := handle.readline(_LOG_LINE_MOST):
            fields = line.rstrip(b"\n").split(b" ", 3)
            if len(fields) != 4 or fields[1] not in kept or fields[2] not in (b"F", b"P"):
                raise ObservationError(f"{path.name} is not a log conmon wrote: {line[:80]!r}")
            _, stream, tag, content = fields
            piece = content + (b"\n" if tag == b"F" else b"")
            room = limit - len(kept[stream])
            kept[stream] += piece[: max(room, 0)]
            if len(piece) > room:
                cut = True
                if all(len(part) >= limit for part in kept.values()):
                    break
    out, err = (kept[stream].decode("utf-8", errors="replace") for stream in (b"stdout", b"stderr"))
    return out, err, cut


#: The longest line of a log read at once: conmon writes a line per 8 KiB of output at most.
_LOG_LINE_MOST = 16 * 1024


__all__ = ["PodmanRuntime", "read_k8s_log"]
