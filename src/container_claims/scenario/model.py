"""Typed, immutable form of a validated scenario. Built only by :mod:`.builder`."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a step kind's class uses the model: the model only names them
    from container_claims.scenario.step_kind import Step

#: What a runtime may be able to do; a claim needing something its runtime lacks is
#: not applicable there (decided from declared capabilities, never from expected verdicts).
CAPABILITIES = (
    "engine",  # an engine that knows containers and images (inspect, labels)
    "images",  # images addressed by reference, with ids
    "registry",  # pulls images from a registry
    "layers",  # copy-on-write layers the host can read
    "volumes",  # named volumes
    "exec",  # running a command beside the main process
    "resources",  # per-container resource limits
    "host-processes",  # container processes are host processes
    "workdir",  # starts a container's command in a given working directory
    "user",  # runs a container's command as another user
    "network",  # gives a container a network (any mode but none)
    "hostname",  # sets a container's hostname
    "read-only",  # mounts a container's root filesystem read-only
    "tmpfs",  # mounts a tmpfs at a path of a container
    "capabilities",  # adds or drops a container's Linux capabilities
    "init",  # runs an init process as PID 1 that starts the command
    "labels",  # labels a container (the engine keeps them)
    "stop-signal",  # stops a container with a given signal
    "shm-size",  # sizes a container's /dev/shm
    "no-new-privileges",  # keeps a container's processes from gaining privileges (setuid)
    "logs",  # keeps what a detached container prints, to read (docker logs)
    "ports",  # publishes a container's ports on the host's loopback
    "commit",  # makes an image of a container's filesystem (docker commit)
    "build",  # builds an image from Dockerfile lines, offline (docker build)
    "directories",  # binds a directory the suite makes on this machine into a container
    "read-only-mounts",  # mounts a volume or a directory read-only
    "anonymous-volumes",  # gives a container a volume of its own, removed with it
    "volumes-from",  # mounts the volumes of another container of the scenario
    "tmpfs-options",  # sizes a tmpfs and sets its mode
    "host-pid",  # runs a container in the host's PID namespace (docker run --pid=host)
)

#: The operators of an expectation, and how a report reads each out ("X does not contain Y").
OPERATOR_WORDS = {
    "equals": "equals",
    "not_equals": "does not equal",
    "contains": "contains",
    "not_contains": "does not contain",
    "matches": "matches",
    "not_matches": "does not match",
    "rows": "has this many rows:",
    "rows_at_least": "has at least this many rows:",
    "rows_at_most": "has at most this many rows:",
    "less_than": "is less than",
    "greater_than": "is greater than",
}
OPERATORS = tuple(OPERATOR_WORDS)
NUMERIC_OPERATORS = ("less_than", "greater_than")
PATTERN_OPERATORS = ("matches", "not_matches")
#: Operators that count an observation's non-empty lines (its rows), and how they compare.
ROW_OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "rows": operator.eq,
    "rows_at_least": operator.ge,
    "rows_at_most": operator.le,
}

MAIN = "main"
"""Name of the scenario's main container, for exec steps and engine probes."""


@dataclass(frozen=True)
class Mount:
    """A named volume or a declared directory (``kind``), bound at ``target``.

    ``source`` is its scenario name; once a runner resolved the spec, the engine's volume name
    or the directory's host path."""

    source: str
    target: str
    kind: str = "volume"  # or "directory"
    read_only: bool = False

    @classmethod
    def of(cls, item: Any) -> Mount:
        """From a ``volumes:`` item (``(name, path)`` or ``(name, {path, read_only})``) or
        from the data :func:`dataclasses.asdict` made of one."""
        if isinstance(item, cls):
            return item
        if isinstance(item, Mapping):
            return cls(**item)
        name, target = item
        if isinstance(target, Mapping):
            return cls(name, target["path"], read_only=bool(target.get("read_only", False)))
        return cls(name, target)


@dataclass(frozen=True)
class Tmpfs:
    """A tmpfs at ``path``, with a size (``16m``) and an octal mode (``1777``) if given."""

    path: str
    size: str | None = None
    mode: str | None = None

    @classmethod
    def of(cls, item: Any) -> Tmpfs:
        """From a ``tmpfs:`` item (a path, or ``{path, size, mode}``) or its data."""
        if isinstance(item, cls):
            return item
        return cls(**item) if isinstance(item, Mapping) else cls(item)


@dataclass(frozen=True)
class ContainerSpec:
    """How to start one container, runtime-neutrally. Strings may hold ``{{ templates }}``."""

    image: str | None = None
    command: tuple[str, ...] | None = None
    tty: bool = False
    interactive: bool = False
    remove: bool = True
    user: str | None = None
    workdir: str | None = None
    memory: str | None = None
    pids_limit: int | None = None
    cpus: str | None = None
    network: str = "none"
    pid: str | None = None  # "host": the host's PID namespace; None: one of its own
    volumes: tuple[Mount, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    stdin: str | None = None
    detach: bool = False
    name: str | None = None
    hostname: str | None = None
    read_only: bool = False
    tmpfs: tuple[Tmpfs, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    init: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    stop_signal: str | None = None
    shm_size: str | None = None
    security_opt: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()  # published on 127.0.0.1, at a host port the engine picks
    anonymous_volumes: tuple[str, ...] = ()  # paths, each a new volume removed with it
    volumes_from: tuple[str, ...] = ()  # containers of the scenario (engine names, resolved)

    def __post_init__(self) -> None:
        # ``volumes`` and ``tmpfs`` items as written (a pair, a path) become their types.
        for name, make in _ITEM_TYPES.items():
            object.__setattr__(self, name, tuple(map(make, getattr(self, name))))

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> ContainerSpec:
        """A spec from plain data (a scenario's YAML, or a spec with its templates filled in):
        keys that are no field are left out, lists become tuples, and the mappings of the
        paired fields (``env``, ``labels``) become pairs, and ``volumes`` and ``tmpfs`` items
        their own types."""
        kept: dict[str, Any] = {}
        for spec_field in dataclasses.fields(cls):
            if spec_field.name not in values:
                continue
            value = values[spec_field.name]
            if spec_field.name == "command":
                value = tuple(value) if value else None
            elif spec_field.name in _ITEM_TYPES:
                value = tuple(value.items() if isinstance(value, Mapping) else value)
            elif isinstance(spec_field.default, tuple):
                items = value.items() if isinstance(value, Mapping) else value
                value = tuple(tuple(i) if isinstance(i, list | tuple) else i for i in items)
            kept[spec_field.name] = value
        return cls(**kept)

    def capabilities(self) -> frozenset[str]:
        """What a runtime must honour to start this spec as written (never dropped silently)."""
        return frozenset(
            capability
            for used, capability in (
                (self.memory or self.pids_limit or self.cpus, "resources"),
                (any(m.kind == "volume" for m in self.volumes), "volumes"),
                (any(m.kind == "directory" for m in self.volumes), "directories"),
                (any(m.read_only for m in self.volumes), "read-only-mounts"),
                (self.anonymous_volumes, "anonymous-volumes"),
                (self.volumes_from, "volumes-from"),
                (self.workdir, "workdir"),
                (self.user, "user"),
                (self.network != "none", "network"),
                (self.pid == "host", "host-pid"),
                (self.image, "images"),
                (self.hostname, "hostname"),
                (self.read_only, "read-only"),
                (self.tmpfs, "tmpfs"),
                (any(t.size or t.mode for t in self.tmpfs), "tmpfs-options"),
                (self.cap_add or self.cap_drop, "capabilities"),
                (self.init, "init"),
                (self.labels, "labels"),
                (self.stop_signal, "stop-signal"),
                (self.shm_size, "shm-size"),
                (self.security_opt, "no-new-privileges"),
                (self.ports, "ports"),
            )
            if used
        )


_ITEM_TYPES: dict[str, Callable[[Any], Any]] = {"volumes": Mount.of, "tmpfs": Tmpfs.of}


@dataclass(frozen=True)
class DirectoryFile:
    """A file a declared directory holds when the scenario starts."""

    name: str  # one name, no '/'
    text: str
    mode: int = 0o644


@dataclass(frozen=True)
class Directory:
    """A host directory the suite makes for each run of the scenario (``directories:``)."""

    name: str
    files: tuple[DirectoryFile, ...] = ()
    mode: int = 0o755


@dataclass(frozen=True)
class MainContainer:
    spec: ContainerSpec
    save: str = "session"
    exit_line: str = "exit"


@dataclass(frozen=True)
class Expectation:
    """One check: observation ``that``, compared by ``op`` with ``value``."""

    that: str
    op: str
    value: Any
    line: int
    header: bool = False


@dataclass(frozen=True)
class Claim:
    id: str
    says: str
    section: str
    expectations: tuple[Expectation, ...]
    line: int
    requires: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    claims: tuple[Claim, ...]
    container: MainContainer | None = None
    steps: tuple[Step, ...] = ()
    after: tuple[Step, ...] = ()
    volumes: tuple[str, ...] = ()
    requires: frozenset[str] = frozenset()
    source: str = ""
    directories: tuple[Directory, ...] = ()

    def all_steps(self) -> tuple[Step, ...]:
        return self.steps + self.after
