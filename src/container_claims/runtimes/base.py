"""The runtime interface: a handful of operations every runtime kind implements.

A :class:`Runtime` starts containers from :class:`ContainerSpec` s, drives an interactive
shell, runs commands beside it, and answers what its engine knows. Host-side readings do not
belong here: they are the same for every runtime and live in :mod:`container_claims.probes.host`.
"""

from __future__ import annotations

import abc
import contextlib
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.observations import OUTPUT_LIMIT, CommandOutcome
from container_claims.processes import Finished, environment
from container_claims.scenario.model import ContainerSpec

#: Label on every object the suite creates; its value is the run id.
RUN_LABEL = "org.container-claims.run"
#: Seconds a runtime's first container may take before the runtime is called unusable.
PREFLIGHT_TIMEOUT = 20.0
#: A runtimes entry's ``host`` when its host is read through its engine, by a reader container.
ENGINE_HOST = "engine"


@dataclass(frozen=True)
class RuntimeConfig:
    """One entry of a runtimes file: data, not code."""

    name: str
    kind: str
    binary: str = "docker"
    run_args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    description: str = ""
    rootfs: str = ""  # for engine-less kinds: the root filesystem (default: the test image's)
    source: str = ""  # file:line it came from, for messages
    start_timeout: float = PREFLIGHT_TIMEOUT  # for the first container, before any claim
    # Where the engine's machine is read: "" this machine, ssh://[user@]name[:port] over ssh,
    # or ENGINE_HOST through the engine itself (a reader container).
    host: str = ""
    ssh_config: str = ""  # an ssh config file for reaching ``host``
    # A user of this machine the binary runs as (the rootless modes); "" the suite's own.
    user: str = ""

    @property
    def over_ssh(self) -> bool:
        """Whether the engine runs on another machine, reached over ssh (``host: ssh://...``)."""
        return self.host.startswith("ssh://")

    @property
    def read_through_engine(self) -> bool:
        """Whether the engine's host is read by a container of the engine (``host: engine``)."""
        return self.host == ENGINE_HOST

    def to_json(self) -> dict[str, Any]:
        """The configuration as data: in results files, ledgers, and to xdist's workers."""
        return {
            "name": self.name,
            "kind": self.kind,
            "binary": self.binary,
            "run_args": list(self.run_args),
            "env": dict(self.env),
            **({"description": self.description} if self.description else {}),
            **({"source": self.source} if self.source else {}),
            **({"rootfs": self.rootfs} if self.rootfs else {}),
            **(
                {"start_timeout": self.start_timeout}
                if self.start_timeout != PREFLIGHT_TIMEOUT
                else {}
            ),
            **({"host": self.host} if self.host else {}),
            **({"ssh_config": self.ssh_config} if self.ssh_config else {}),
            **({"user": self.user} if self.user else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RuntimeConfig:
        """The configuration :meth:`to_json` wrote."""
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            binary=str(data.get("binary", "docker")),
            run_args=tuple(str(arg) for arg in data.get("run_args", ())),
            env=tuple((str(k), str(v)) for k, v in dict(data.get("env", {})).items()),
            description=str(data.get("description", "")),
            rootfs=str(data.get("rootfs", "")),
            source=str(data.get("source", "")),
            start_timeout=float(data.get("start_timeout", PREFLIGHT_TIMEOUT)),
            host=str(data.get("host", "")),
            ssh_config=str(data.get("ssh_config", "")),
            user=str(data.get("user", "")),
        )


def completed_outcome(done: Finished) -> CommandOutcome:
    """What a command that ended by itself gave: its output and status, and whether the
    output passed what is kept of it."""
    truncated = done.stdout_truncated or done.stderr_truncated
    return CommandOutcome(
        output=done.stdout.rstrip("\n"),
        status=done.returncode,
        stderr=done.stderr.rstrip("\n"),
        truncated=truncated,
        detail=f"more than {OUTPUT_LIMIT:,} bytes of output" if truncated else "",
    )


@dataclass
class Names:
    """Real engine names of a scenario's containers and volumes (and its directories' host
    paths), by their scenario names."""

    prefix: str
    containers: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)
    #: The host paths of the directories the scenario declares, made for this run of it.
    directories: dict[str, str] = field(default_factory=dict)
    #: Containers whose start failed, and why: what a later step would read of one (state
    #: "created", a port that does not answer) is the engine's failure, not an observation.
    not_started: dict[str, str] = field(default_factory=dict)

    def container(self, name: str) -> str:
        """The engine's name of a scenario's container; an error if its start failed."""
        if name in self.not_started:
            raise ObservationError(f"container {name} did not start: {self.not_started[name]}")
        return self.containers.setdefault(name, f"{self.prefix}-{name}")


class Shell(abc.ABC):
    """An interactive session with the main container, typed into like a person would."""

    prompt: str | None
    transcript: str

    @abc.abstractmethod
    def type(self, line: str, timeout: float) -> CommandOutcome:
        """Type one line and return what it printed, its status, and whether it completed."""

    @abc.abstractmethod
    def exit(self, line: str, timeout: float) -> int | None:
        """Type the exit line and wait for the session to end; return its exit status."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the session's client process if it still runs (idempotent)."""


class Runtime(abc.ABC):
    """A way to run containers. Subclasses set :attr:`kind` and :attr:`capabilities`."""

    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]
    #: The family the reports group this kind's runtimes under (kinds that share a design:
    #: ``unshare`` and ``bwrap`` are both plain namespaces); "" is the kind's own name.
    family: ClassVar[str] = ""
    #: How many of its scenarios one process may observe at once (``--jobs``): one, unless the
    #: kind keeps each scenario's containers and names apart (an engine does).
    scenarios_at_once: ClassVar[int] = 1

    def __init__(self, config: RuntimeConfig, *, image: str, run_id: str) -> None:
        self.config = config
        self.image = image
        self.run_id = run_id

    @property
    def name(self) -> str:
        return self.config.name

    def env(self) -> dict[str, str]:
        """Environment for the runtime's processes: ours plus the entry's ``env``."""
        return environment(dict(self.config.env))

    def check(self) -> None:
        """Raise :class:`RuntimeUnavailable` with the reason when this runtime cannot run here."""
        if shutil.which(self.config.binary, path=self.env().get("PATH")) is None:
            raise RuntimeUnavailable(f"{self.config.binary!r} is not an executable on PATH")

    def preflight(self, timeout: float) -> None:
        """Start a first container (``true``) under a short deadline.

        A runtime whose binary fails, hangs, or whose engine refuses a plain container is
        unusable: its claims become errors at once, instead of each step waiting out its
        timeout. Raises :class:`RuntimeUnavailable` with what happened.
        """
        name = f"cc-{self.run_id}-preflight-{secrets.token_hex(3)}"
        try:
            # Kept after it exits, so that the runtime can say it knows it (confirm_own).
            outcome = self.run(ContainerSpec(command=("true",), remove=False), name, timeout)
            if outcome.completed and outcome.status == 0:  # else its own reason, below
                self.confirm_own(name)
        except ObservationError as exc:
            raise RuntimeUnavailable(f"a first container could not run: {exc}") from None
        finally:
            with contextlib.suppress(ObservationError):
                self.remove_container(name)
        if not outcome.completed:
            raise RuntimeUnavailable(
                f"a first container ('true') gave no result within {timeout:g} s"
            )
        if outcome.status != 0:
            said = (outcome.stderr or outcome.output).strip()[-300:] or "nothing"
            raise RuntimeUnavailable(
                f"a first container ('true') exited with {outcome.status}: {said}"
            )

    def confirm_own(self, name: str) -> None:
        """After the first container ``name`` ran: raise :class:`RuntimeUnavailable` if the
        runtime's records (what checks read and sweeps remove) do not hold it. Nothing to
        confirm for a runtime with one way to its containers."""
        return None

    def storage_roots(self) -> list[str]:
        """Host directories where this runtime keeps containers' and images' files.

        Probes that look into host directories (``host.find_file``...) stay inside these.
        """
        return []

    @abc.abstractmethod
    def version(self) -> dict[str, str]:
        """Versions that make a verdict trustworthy (client, engine, OCI runtime)."""

    def describe_image(self) -> dict[str, Any]:
        """What the containers run from (image reference and id, or a root filesystem)."""
        return {"ref": self.image}

    def environment(self) -> dict[str, str]:
        """Where the containers run, as a diff after an upgrade compares it: the kernel, and
        for an engine its data root and storage driver."""
        import platform

        return {"kernel": platform.release()}

    # -- containers -------------------------------------------------------------------------
    @abc.abstractmethod
    def open_shell(self, spec: ContainerSpec, name: str, timeout: float) -> Shell:
        """Start the main container attached to a terminal and return the session."""

    @abc.abstractmethod
    def start(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        """Start a container in the background (detached)."""

    @abc.abstractmethod
    def run(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        """Run a container to completion and return its output and status."""

    @abc.abstractmethod
    def exec(self, name: str, command: tuple[str, ...], timeout: float) -> CommandOutcome:
        """Run a command in a running container."""

    def stop(self, name: str, grace: int, timeout: float) -> dict[str, Any]:
        """Stop a detached container as ``docker stop``: its stop signal, SIGKILL after
        ``grace`` seconds. ``{"status": exit status, "took_s": seconds}``."""
        raise ObservationError(f"{self.kind} cannot stop a container")

    def wait(self, name: str, until: str, timeout: float, *, contains: str = "") -> dict[str, Any]:
        """Watch a detached container for ``timeout`` seconds at most, until it is ``running``,
        has ``exited`` (final: it ends a wait for running too), or has printed ``contains``
        (``output``). ``{"reached", "state", "status", "waited_s"}``: not reaching it within
        the window is an observation too."""
        raise ObservationError(f"{self.kind} cannot wait for a container")

    def signal(self, name: str, sig: str) -> dict[str, Any]:
        """Send ``sig`` (``SIGTERM``...) to a detached container's main process."""
        raise ObservationError(f"{self.kind} cannot signal a container")

    def commit(self, name: str, ref: str, timeout: float) -> Mapping[str, Any]:
        """Make image ``ref`` (the suite's own reference) of container ``name``'s filesystem,
        labelled with the run id: ``{"ref", "id"}``."""
        raise ObservationError(f"{self.kind} cannot commit a container")

    def build(
        self, base: str, lines: tuple[str, ...], ref: str, timeout: float
    ) -> Mapping[str, Any]:
        """Build image ``ref`` from Dockerfile ``lines`` (checked: no FROM, no context) on
        image ``base``, with no network, labelled with the run id: ``{"ref", "id", "output"}``.
        A build that fails is an error."""
        raise ObservationError(f"{self.kind} cannot build an image")

    def remove_made_image(self, ref: str) -> None:
        """Remove image ``ref`` that :meth:`commit` or :meth:`build` made (or began to make)."""
        self.remove_image(ref)

    @abc.abstractmethod
    def create_volume(self, name: str) -> None:
        """Create a named volume labelled with the run id."""

    @abc.abstractmethod
    def remove_container(self, name: str) -> None:
        """Remove one of our containers by its exact name, if it still exists."""

    @abc.abstractmethod
    def remove_image(self, ref: str) -> None:
        """Remove an image reference the suite made, if it still exists."""

    @abc.abstractmethod
    def remove_volume(self, name: str) -> None:
        """Remove one of our volumes by its exact name, if it still exists."""

    @abc.abstractmethod
    def remove_objects(
        self, *, run_id: str | None, keep: frozenset[str] = frozenset()
    ) -> list[str]:
        """Remove containers, volumes and images labelled with ``run_id``; with None, those
        of every run whose id is not in ``keep`` (the live ones).

        Returns what was removed, for the log. Never touches unlabelled objects. Something
        already gone, or being removed by someone else, counts as removed.
        """

    # -- what the engine knows --------------------------------------------------------------
    def info(self) -> Mapping[str, Any]:
        raise NotImplementedError

    def inspect_container(self, name: str) -> Mapping[str, Any]:
        raise NotImplementedError

    def inspect_image(self, ref: str) -> Mapping[str, Any]:
        raise NotImplementedError

    def stage_in_registry(self, registry: str, token: str) -> Mapping[str, Any]:
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional: most runtimes hold nothing open
        """Release clients, connections, helper processes and directories (idempotent)."""

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
