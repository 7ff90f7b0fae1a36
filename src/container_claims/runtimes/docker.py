"""Docker-compatible runtimes: any binary that speaks the Docker CLI, plus the engine's API.

Containers are started through the configured binary (so wrappers and run arguments apply,
exactly as a user's command line would); what the engine knows (inspect, sizes, layer
directories, labels, versions) comes from the Docker SDK, talking to the same engine through
the same environment (``DOCKER_HOST`` and friends from the runtime's ``env``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from socket import SO_PEERCRED, SOL_SOCKET
from typing import TYPE_CHECKING, Any, ClassVar

from container_claims import processes
from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.observations import OUTPUT_LIMIT, CommandOutcome
from container_claims.processes import run_bounded
from container_claims.runtimes import docker_cli, engine_fields, made_images
from container_claims.runtimes.as_user import RunAs
from container_claims.runtimes.base import RUN_LABEL, Runtime, Shell, completed_outcome
from container_claims.runtimes.pull_image import pull_image_tar
from container_claims.runtimes.terminal import TerminalShell
from container_claims.scenario.model import CAPABILITIES, ContainerSpec

if TYPE_CHECKING:
    from container_claims.runtimes.remote_engine import RemoteEngine


def _shares_our_network(address: str) -> bool:
    """Whether the process serving a local unix socket ``unix://PATH`` (the engine, as the
    socket's peer credentials name it) is in this process's network namespace. True when that
    cannot be told: another kind of address, a peer in another PID namespace (pid 0)."""
    if not address.startswith("unix://"):
        return True
    size = struct.calcsize("3i")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(5)
            connection.connect(address.removeprefix("unix://"))
            pid, _, _ = struct.unpack("3i", connection.getsockopt(SOL_SOCKET, SO_PEERCRED, size))
        return pid <= 0 or os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
    except OSError:
        return True


class DockerRuntime(Runtime):
    """Docker (or a Docker-compatible CLI and engine)."""

    kind: ClassVar[str] = "docker"
    family: ClassVar[str] = "Docker engine"  # whatever its OCI runtime (runc, runsc, crun)
    capabilities: ClassVar[frozenset[str]] = frozenset(CAPABILITIES)  # every one

    #: Options that let ``run`` and ``push`` use the plain-HTTP registry on 127.0.0.1.
    loopback_registry_flags: ClassVar[tuple[str, ...]] = ()  # Docker allows 127.0.0.0/8 as is
    #: Options of ``build`` beyond those of :mod:`.made_images`: the classic builder pulls
    #: only a missing base, and the base is checked present.
    build_flags: ClassVar[tuple[str, ...]] = ()

    def build_options(self) -> tuple[str, ...]:
        """The options of this configuration's ``build`` beyond :mod:`.made_images`' own."""
        return self.build_flags

    #: The engine keeps each container apart, and each scenario names its own.
    scenarios_at_once: ClassVar[int] = 8

    _client: Any = None

    #: What a configuration whose OCI runtime is a sandbox with a kernel of its own (gVisor's
    #: runsc: :func:`engine_fields.sandbox_kernel`) does not honour, whatever the CLI accepts.
    sandbox_lacks: ClassVar[frozenset[str]] = frozenset({"host-pid"})

    #: The engine's network that ``--network bridge`` names, and what a container cannot have
    #: on an engine without it (a dockerd started with ``--bridge=none``): a network but none,
    #: a port published on the host. None: the engine always has one (Podman's is its default).
    bridge_network: ClassVar[str | None] = "bridge"
    bridgeless_lacks: ClassVar[frozenset[str]] = frozenset({"network", "ports"})
    #: What a container of an engine whose process is in another network namespace than ours
    #: cannot have (a dockerd started in one of its own): the run's registry and the ports it
    #: publishes are on two different loopbacks.
    other_loopback_lacks: ClassVar[frozenset[str]] = frozenset({"registry", "ports"})

    #: What a runtime whose engine is elsewhere (``host: ssh://...``, or ``host: engine``,
    #: which may be anywhere) cannot do: bind a directory the suite makes on this machine.
    local_only: ClassVar[frozenset[str]] = frozenset({"directories"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What is made on first use (the SDK client, an ssh forward, Podman's API service) is
        # made once, also when scenarios of this runtime run side by side (--jobs).
        self._first_use = threading.RLock()
        if self.config.host:
            self.capabilities = type(self).capabilities - self.local_only  # type: ignore[misc]
        # The rootless mode: the binary runs as this user (found when first needed).
        self._user: RunAs | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def client(self) -> Any:
        """The Docker SDK client for this runtime's engine (created on first use)."""
        with self._first_use:
            return self._make_client()

    def _make_client(self) -> Any:
        if self._client is None:
            import docker  # heavy import: only when the engine is asked something

            try:
                if self.engine_url() is None:
                    self._client = docker.DockerClient.from_env(environment=self.env(), timeout=60)
                else:
                    self._client = docker.DockerClient(base_url=self.engine_url(), timeout=60)
            except docker.errors.DockerException as exc:
                raise RuntimeUnavailable(
                    f"cannot reach the Docker engine at {self._engine_address()}: {exc} "
                    "(is its dockerd running? "
                    "scripts/setup starts those of the packaged runtimes)"
                ) from exc
            # No proxy, netrc or CA bundle from the environment: the engine's address is a
            # socket or loopback, and requests reads them by iterating os.environ on every
            # call, which raised KeyError while pytest deleted PYTEST_CURRENT_TEST in its
            # thread (an error instead of a verdict, under --jobs).
            self._client.api.trust_env = False
        return self._client

    #: On another machine: the engine's socket there, and the variable its CLI reads the
    #: address from.
    remote_socket: ClassVar[str] = "/var/run/docker.sock"
    address_variable: ClassVar[str] = "DOCKER_HOST"
    _remote: RemoteEngine | None = None  # opened on first use, when over ssh

    def _remote_engine(self) -> RemoteEngine:
        with self._first_use:
            return self._open_remote_engine()

    def _open_remote_engine(self) -> RemoteEngine:
        if self._remote is None:
            from container_claims.runtimes.remote_engine import RemoteEngine

            self._remote = RemoteEngine(
                self.config.host, self.config.ssh_config, self.remote_socket
            )
        return self._remote

    def engine_url(self) -> str | None:
        """The engine's API address; None: from the environment (``DOCKER_HOST`` or default).
        For an engine on another machine (``host: ssh://...``), its socket forwarded over ssh."""
        return self._remote_engine().url() if self.config.over_ssh else None

    def registry_for_engine(self, registry: str) -> str:
        """The run's loopback registry (``127.0.0.1:PORT``) as the engine reaches it: on this
        machine, as it is; on another, forwarded to that machine's loopback."""
        return self._remote_engine().registry(registry) if self.config.over_ssh else registry

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.config.over_ssh:  # the CLI too talks to the remote engine, through the same socket
            env[self.address_variable] = str(self.engine_url())
        if self.config.user:
            env = self.user().env(env)
            if "DOCKER_HOST" not in dict(self.config.env):  # the user's own daemon, not ours
                env["DOCKER_HOST"] = f"unix://{self.user().runtime_dir}/docker.sock"
        return env

    def rootless_lacks(self) -> frozenset[str]:
        """What the engine run as the entry's user cannot do here, as this machine shows it:
        bind the directories the suite makes (private to the suite's own user), and, when the
        user's daemon has a network namespace of its own (setup starts it so), publish a port
        on this machine's loopback or reach the run's registry there."""
        lacks = {"directories"}
        pidfile = f"{self.user().runtime_dir}/docker.pid"
        try:
            pid = int(Path(pidfile).read_text(encoding="ascii").strip())
            theirs = os.readlink(f"/proc/{pid}/ns/net")
        except (OSError, ValueError):
            theirs = ""  # no daemon of the user's to tell: its refusal will say
        if theirs and theirs != os.readlink("/proc/self/ns/net"):
            lacks |= {"ports", "registry"}
        return frozenset(lacks)

    def user(self) -> RunAs:
        """The user the binary runs as (``user`` of the entry); :class:`RuntimeUnavailable`
        when there is no such user here."""
        if self._user is None:
            self._user = RunAs.find(self.config.user)
        return self._user

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` (the binary first) as it runs: as the entry's user, if it names one."""
        if not self.config.user:
            return argv
        return self.user().argv(argv, super().env().get("PATH"))

    def _engine(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the SDK, mapping its errors to ours (one place for all of them)."""
        import docker
        import requests

        try:
            return call(*args, **kwargs)
        except docker.errors.NotFound:
            raise
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise ObservationError(
                f"{self._lost()}the engine could not tell {what}: {exc}"
            ) from exc

    def _cli(
        self,
        args: list[str],
        *,
        timeout: float,
        stdin: str | bytes | None = None,
        what: str = "",
        env: Mapping[str, str] | None = None,
    ) -> CommandOutcome:
        """Run the runtime's binary (with ``env`` added to its environment); a timeout is an
        outcome that did not complete."""
        argv = self.command([self.config.binary, *args])
        try:
            done = run_bounded(
                argv,
                timeout=timeout,
                limit=OUTPUT_LIMIT,
                stdin=stdin or "",
                env={**self.env(), **(env or {})},
            )
        except OSError as exc:
            raise RuntimeUnavailable(f"{self.config.binary!r} cannot be run: {exc}") from exc
        if done.timed_out:
            return CommandOutcome(
                output=done.stdout.rstrip("\n"),
                status=None,
                completed=False,
                detail=f"{what or args[0]} gave no result within {timeout:g} s",
                stderr=done.stderr.rstrip("\n"),
            )
        return completed_outcome(done)

    def _refusal(self, outcome: CommandOutcome, what: str) -> None:
        """Raise when the engine or CLI, not the container's command, gave this outcome."""
        if not outcome.completed:
            return  # a timeout: the caller reports it as incomplete
        status = outcome.status
        cli_error = status != 0 and docker_cli.is_cli_error(outcome.stderr)
        if status in docker_cli.REFUSED_STATUSES or cli_error:
            said = (outcome.stderr or outcome.output).strip()[-500:] or "nothing"
            raise ObservationError(
                self._lost() + f"{self.config.binary} refused {what} (exit {status}): {said}"
            )

    def _lost(self) -> str:
        """The words saying that the ssh connection to the engine was lost, or ""."""
        return self._remote.lost() if self._remote is not None else ""

    def run_argv(
        self, spec: ContainerSpec, name: str, image: str, *, options: tuple[str, ...] = ()
    ) -> list[str]:
        """The ``BINARY run ...`` command line for a spec (image and names already resolved),
        with the suite's own ``options`` after the entry's run arguments."""
        return docker_cli.run_argv(
            [self.config.binary, "run", *self.config.run_args, *options],
            spec,
            name=name,
            image=image,
            label=f"{RUN_LABEL}={self.run_id}",
            registry_flags=self.loopback_registry_flags if image.startswith("127.") else (),
        )

    # -- Runtime ----------------------------------------------------------------------------
    def check(self) -> None:
        super().check()
        if self.config.user:
            self.user().check()
            self.capabilities = self.capabilities - self.rootless_lacks()  # type: ignore[misc]
        self.version()
        info = self._engine("its configuration", self.client().info)
        if engine_fields.sandbox_kernel(info, self.config.run_args):
            self.capabilities = self.capabilities - self.sandbox_lacks  # type: ignore[misc]
        if self.bridge_network is not None:
            networks = self._engine("its networks", self.client().networks.list)
            if self.bridge_network not in {network.name for network in networks}:
                self.capabilities = self.capabilities - self.bridgeless_lacks  # type: ignore[misc]
        if not self.config.host and not _shares_our_network(self._engine_address()):
            self.capabilities = self.capabilities - self.other_loopback_lacks  # type: ignore[misc]

    def _engine_address(self) -> str:
        """The engine's API address, as the SDK reaches it."""
        return self.engine_url() or self.env().get("DOCKER_HOST") or "unix:///var/run/docker.sock"

    def version(self) -> dict[str, str]:
        data = self._engine("its version", self.client().version)
        versions = engine_fields.versions(data)
        versions["oci_runtime"] = self._oci_runtime_version(data.get("Components") or [])
        return versions

    def _oci_runtime_version(self, components: list[dict[str, Any]]) -> str:
        """The OCI runtime this configuration runs (``--runtime`` or the engine's default),
        as that runtime's own binary reports its version (on another machine, as the engine
        reports it)."""
        info = self._engine("its configuration", self.client().info)
        name = engine_fields.oci_runtime(info, self.config.run_args)
        if self.config.host:  # its binary is on the engine's machine: as the engine reports it
            return engine_fields.reported_version(name, components)
        path = ((info.get("Runtimes") or {}).get(name) or {}).get("path") or name
        try:
            out = processes.run([path, "--version"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return f"{name} (version unknown)"
        first = out.stdout.strip().splitlines()[:1]
        return f"{name}: {first[0]}" if first else name

    def environment(self) -> dict[str, str]:
        return engine_fields.environment(self._engine("its configuration", self.client().info))

    def describe_image(self) -> dict[str, Any]:
        data = self.inspect_image(self.image)
        return {"ref": self.image, "id": data.get("id"), "present": data.get("present")}

    def open_shell(self, spec: ContainerSpec, name: str, timeout: float) -> Shell:
        argv = self.run_argv(spec, name, spec.image or self.image)
        return TerminalShell(
            self.command(argv), self.env(), prompt_timeout=timeout if spec.tty else 0
        )

    def start(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        argv = self.run_argv(spec, name, spec.image or self.image)
        outcome = self._cli(argv[1:], timeout=timeout, what=f"starting {name}")
        self._refusal(outcome, f"to start {name}")
        if outcome.completed and outcome.status != 0:
            said = (outcome.stderr or outcome.output).strip()[-500:] or "nothing"
            raise ObservationError(f"{name} did not start (exit {outcome.status}): {said}")
        return outcome

    def run(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        argv = self.run_argv(spec, name, spec.image or self.image)
        outcome = self._cli(argv[1:], timeout=timeout, stdin=spec.stdin, what=f"running {name}")
        self._refusal(outcome, f"to run {name}")
        return outcome

    def exec(self, name: str, command: tuple[str, ...], timeout: float) -> CommandOutcome:
        outcome = self._cli(["exec", "--", name, *command], timeout=timeout, what=f"exec in {name}")
        self._refusal(outcome, f"the exec in {name}")
        return outcome

    def stop(self, name: str, grace: int, timeout: float) -> dict[str, Any]:
        began = time.monotonic()
        outcome = self._cli(
            ["stop", f"--time={grace}", "--", name], timeout=timeout, what=f"stopping {name}"
        )
        took = round(time.monotonic() - began, 3)
        self._refusal(outcome, f"to stop {name}")
        if not outcome.completed or outcome.status != 0:
            raise ObservationError(f"{name} was not stopped: {outcome.detail or outcome.stderr}")
        _, code = self._state(name)
        return {"status": code, "took_s": took}

    def wait(self, name: str, until: str, timeout: float, *, contains: str = "") -> dict[str, Any]:
        began = time.monotonic()
        while True:
            status, code = self._state(name)
            if until == "output":
                logs = self._cli(["logs", "--", name], timeout=10, what=f"the output of {name}")
                self._refusal(logs, f"the output of {name}")
                if not logs.completed or logs.truncated:  # not all of it was read
                    raise ObservationError(f"the output of {name} was not read whole")
                reached = contains in logs.output or contains in logs.stderr
            else:
                reached = status == until
            waited = round(time.monotonic() - began, 3)
            # Exited is final: no wait for it to run, or to print, can end otherwise.
            if reached or status == "exited" or waited >= timeout:
                code = code if status == "exited" else None
                return {"reached": reached, "state": status, "status": code, "waited_s": waited}
            time.sleep(0.05)

    def signal(self, name: str, sig: str) -> dict[str, Any]:
        outcome = self._cli(
            ["kill", f"--signal={sig}", "--", name], timeout=10, what=f"signalling {name}"
        )
        self._refusal(outcome, f"to signal {name}")
        if not outcome.completed or outcome.status != 0:
            raise ObservationError(f"{sig} was not sent to {name}: {outcome.stderr.strip()}")
        return {"signal": sig, "state": self._state(name)[0]}

    def _state(self, name: str) -> tuple[str, int | None]:
        """``(running|exited|created..., exit code)`` of a container, from inspect alone: no
        size listing, so polling it is cheap."""
        import docker

        try:
            data = self._engine(f"container {name}", self.client().api.inspect_container, name)
        except docker.errors.NotFound:
            raise ObservationError(f"{name} is gone: there is nothing to watch") from None
        state = data.get("State") or {}
        status = str(state.get("Status"))
        return ("exited" if status == "dead" else status), state.get("ExitCode")

    def storage_roots(self) -> list[str]:
        root = self.info().get("root_dir")
        return [str(root)] if root else []

    def create_volume(self, name: str) -> None:
        self._engine(
            f"volume {name}",
            self.client().volumes.create,
            name=name,
            labels={RUN_LABEL: self.run_id},
        )

    def confirm_own(self, name: str) -> None:
        """The CLI started the container; the engine's API must know it. A binary that talks
        to another engine than the API (a podman entry running docker, a ``DOCKER_HOST`` the
        API does not get) would make containers and volumes where no check reads and no sweep
        removes: unusable, and its container goes through the CLI that made it. A container
        that neither knows is one the binary removed itself (a runtime that removes its
        containers at exit): nothing tells then, and nothing is left."""
        import docker

        try:
            self._engine(f"container {name}", self.client().api.inspect_container, name)
        except docker.errors.NotFound:
            seen = self._cli(["inspect", "--type", "container", name], timeout=60, what="inspect")
            if seen.status != 0:
                return
            self._cli(["rm", "--force", name], timeout=60, what="rm")
            raise RuntimeUnavailable(
                f"{self.config.binary} ran the first container on another engine than the one "
                f"this runtime reads ({self.engine_url() or 'DOCKER_HOST or the default'}): "
                "check its binary and env"
            ) from None

    def remove_container(self, name: str) -> None:
        import docker

        try:
            container = self._engine(f"container {name}", self.client().containers.get, name)
        except docker.errors.NotFound:
            return
        self._kill_and_remove(container)

    def _kill_and_remove(self, container: Any) -> None:
        """SIGKILL first: some engines' forced removal waits out a stop timeout. Gone already,
        or being removed by someone else, is done."""
        import docker

        with contextlib.suppress(docker.errors.APIError):
            if container.status == "running":
                container.kill()
        self._gone_is_done(f"container {container.name}", container.remove, force=True, v=True)

    def _gone_is_done(self, what: str, call: Any, *args: Any, **kwargs: Any) -> None:
        """Remove something; "no such object" and "removal already in progress" are success."""
        import docker

        try:
            self._engine(what, call, *args, **kwargs)
        except docker.errors.NotFound:
            pass
        except ObservationError as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, docker.errors.APIError)
                and cause.status_code == 409
                and ("in progress" in str(cause) or "being removed" in str(cause))
            ):
                return
            raise

    def commit(self, name: str, ref: str, timeout: float) -> Mapping[str, Any]:
        return made_images.commit(self, name, ref, timeout)

    def build(
        self, base: str, lines: tuple[str, ...], ref: str, timeout: float
    ) -> Mapping[str, Any]:
        return made_images.build(self, base, lines, ref, timeout)

    def remove_made_image(self, ref: str) -> None:
        made_images.remove_made(self, ref)

    def remove_image(self, ref: str) -> None:
        self._gone_is_done(f"image {ref}", self.client().images.remove, ref, force=True)

    def remove_volume(self, name: str) -> None:
        import docker

        try:
            volume = self._engine(f"volume {name}", self.client().volumes.get, name)
        except docker.errors.NotFound:
            return
        self._gone_is_done(f"volume {name}", volume.remove, force=True)

    def remove_objects(
        self, *, run_id: str | None, keep: frozenset[str] = frozenset()
    ) -> list[str]:
        label = RUN_LABEL if run_id is None else f"{RUN_LABEL}={run_id}"
        client = self.client()

        def ours(labels: Mapping[str, str] | None) -> bool:
            return (labels or {}).get(RUN_LABEL) not in keep

        removed: list[str] = []
        for container in self._engine(
            "containers", client.containers.list, all=True, filters={"label": label}
        ):
            if ours(container.labels):
                self._kill_and_remove(container)
                removed.append(f"container {container.name}")
        for volume in self._engine("volumes", client.volumes.list, filters={"label": label}):
            if ours((volume.attrs or {}).get("Labels")):
                self._gone_is_done(f"volume {volume.name}", volume.remove, force=True)
                removed.append(f"volume {volume.name}")
        images = self._engine("images", client.images.list, filters={"label": label})
        return removed + made_images.remove_in_order(
            self, [image for image in images if ours(image.labels)]
        )

    # -- what the engine knows --------------------------------------------------------------
    def info(self) -> Mapping[str, Any]:
        return engine_fields.info(self._engine("its configuration", self.client().info))

    def inspect_container(self, name: str) -> Mapping[str, Any]:
        import docker

        api = self.client().api
        try:
            data = self._engine(f"container {name}", api.inspect_container, name)
        except docker.errors.NotFound:
            return {"exists": False, "name": name, "running": False}
        # Inspect has no sizes; the container list has them (size=True), for this id only.
        listed = self._engine(
            f"container {name}'s size",
            api.containers,
            all=True,
            size=True,
            filters={"id": data.get("Id")},
        )
        return engine_fields.container(name, data, listed[0] if listed else {})

    def inspect_image(self, ref: str) -> Mapping[str, Any]:
        import docker

        try:
            data = self._engine(f"image {ref}", self.client().api.inspect_image, ref)
        except docker.errors.NotFound:
            return {"present": False, "ref": ref}
        return engine_fields.image(ref, data)

    def stage_in_registry(self, registry: str, token: str) -> Mapping[str, Any]:
        """Make an image that exists only in the registry: import a busybox-only root filesystem
        holding the token (:func:`pull_image_tar`) under a fresh reference, push, remove it.

        No container runs and nothing of the test image is pushed, so staging costs a few MB
        of import and push instead of a container and the test image's 200 MB.
        """
        registry = self.registry_for_engine(registry)
        ref = f"{registry}/container-claims/pull:{token}"
        label = f"{RUN_LABEL}={self.run_id}"  # the sweeps find it if the rmi never comes
        rootfs = pull_image_tar(token)
        steps: list[tuple[list[str], bytes | None]] = [
            (
                ["import", "--change", f"LABEL {label}", "--change", 'CMD ["/bin/sh"]', "-", ref],
                rootfs,
            ),
            (["push", *self.loopback_registry_flags, ref], None),
            (["rmi", ref], None),
        ]
        try:
            for args, stdin in steps:
                outcome = self._cli(args, timeout=120, stdin=stdin, what=args[0])
                if outcome.status != 0:
                    raise ObservationError(
                        f"could not stage an image in the registry: {args[0]} failed: "
                        f"{(outcome.stderr or outcome.output or outcome.detail).strip()[-300:]}"
                    )
        except ObservationError:
            # A failed push leaves the imported image: remove it now, not at the run's sweep.
            with contextlib.suppress(ObservationError, RuntimeUnavailable):
                self.remove_image(ref)
            raise
        return {"ref": ref, "token": token, "registry": registry}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._remote is not None:
            self._remote.close()
            self._remote = None
