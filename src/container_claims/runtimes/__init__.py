"""Runtime kinds by name, and runtimes files (YAML lists of runtime configurations).

Kinds are looked up in :data:`KINDS`, then among the entry points of :data:`KIND_ENTRY_POINTS`
(a kind another package adds), and imported only when used, so an unused kind costs nothing
and an unknown one is an error that lists the known ones.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import shutil
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from container_claims.errors import InputError, ScenarioError
from container_claims.runtimes.as_user import USER_PATTERN, plain_user_name
from container_claims.runtimes.base import ENGINE_HOST, PREFLIGHT_TIMEOUT, Runtime, RuntimeConfig

KINDS: dict[str, str] = {
    "docker": "container_claims.runtimes.docker:DockerRuntime",
    "podman": "container_claims.runtimes.podman:PodmanRuntime",
    "unshare": "container_claims.runtimes.unshare:UnshareRuntime",
    "bwrap": "container_claims.runtimes.bwrap:BwrapRuntime",
    "containerd": "container_claims.runtimes.containerd:ContainerdRuntime",
    "nspawn": "container_claims.runtimes.nspawn:NspawnRuntime",
    "lxc": "container_claims.runtimes.lxc:LxcRuntime",
}
#: The entry point group of runtime kinds from other packages: ``NAME = module:Class``, the
#: class a :class:`Runtime` whose ``kind`` is NAME (as a package declares in its metadata:
#: ``[project.entry-points."container_claims.runtimes"]``). A built-in kind's name wins.
KIND_ENTRY_POINTS = "container_claims.runtimes"
#: The kinds that can run on another machine (``host: ssh://...``), or have their host read
#: through their engine (``host: engine``): those with an engine, whose API socket can be
#: forwarded and which can run a reader container. The engine-less kinds run here only.
REMOTE_KINDS = ("docker", "podman")
#: The kinds whose binary can run as another user of this machine (``user: NAME``): the
#: engines with a rootless mode.
USER_KINDS = ("docker", "podman")

_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["runtimes"],
    "properties": {
        "runtimes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "kind"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]*$"},
                    "kind": {"type": "string"},
                    "binary": {"type": "string"},
                    "run_args": {"type": "array", "items": {"type": "string"}},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}},
                    "description": {"type": "string"},
                    "rootfs": {"type": "string"},
                    "start_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
                    "host": {"type": "string", "maxLength": 300},
                    "ssh_config": {"type": "string", "minLength": 1, "maxLength": 4096},
                    "user": {"type": "string", "pattern": USER_PATTERN},
                },
            },
        }
    },
}


def open_runtime(config: RuntimeConfig, *, image: str, run_id: str) -> Runtime:
    """The one way to make a runtime: use it as a context manager, which closes it::

    with open_runtime(config, image=DEFAULT_IMAGE, run_id=run_id) as runtime:
        runtime.check()
    """
    return runtime_class(config.kind)(config, image=image, run_id=run_id)


def runtime_class(kind: str) -> type[Runtime]:
    """The class of a runtime kind (to ask what a kind can do; make runtimes with
    :func:`open_runtime`). Raises :class:`InputError` naming the known kinds."""
    known = KINDS if kind in KINDS else known_kinds()
    if kind not in known:
        near = difflib.get_close_matches(kind, list(known), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise InputError(f"unknown runtime kind {kind!r}{hint}; known kinds: {', '.join(known)}")
    module, _, cls = known[kind].partition(":")
    found = getattr(importlib.import_module(module), cls)
    if not (isinstance(found, type) and issubclass(found, Runtime) and found.kind == kind):
        raise InputError(f"runtime kind {kind!r}: {known[kind]} is not a Runtime of that kind")
    return found


def known_kinds() -> dict[str, str]:
    """Every kind by name, the class each names (``module:Class``): the built-in ones
    (:data:`KINDS`), then those installed packages add (:data:`KIND_ENTRY_POINTS`)."""
    added = {
        entry.name: entry.value
        for entry in metadata.entry_points(group=KIND_ENTRY_POINTS)
        if entry.name not in KINDS
    }
    return {**KINDS, **added}


def default_runtimes_file() -> Path:
    return Path(str(resources.files("container_claims").joinpath("runtimes.yaml")))


def load_runtimes_file(path: Path | None = None) -> list[RuntimeConfig]:
    """Read a runtimes file (the packaged default when ``path`` is None)."""
    from container_claims.scenario.loader import MarkedDict, load_yaml
    from container_claims.scenario.schema_check import check_schema
    from container_claims.scenario.source import read_source

    path = path or default_runtimes_file()
    where = str(path)
    try:
        text = read_source(path, where)
    except OSError as exc:
        raise ScenarioError(where, None, f"cannot read the runtimes file: {exc.strerror}") from None
    document = load_yaml(text, where)
    if not isinstance(document, MarkedDict):
        raise ScenarioError(where, 1, "a runtimes file is a mapping with a 'runtimes' list")
    check_schema(document, _FILE_SCHEMA, where)
    configs: list[RuntimeConfig] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(document["runtimes"]):
        line = document["runtimes"].item_lines[index]
        if entry["name"] == "all":
            raise ScenarioError(
                where, line, "'all' names every runtime; give this one another name"
            )
        if entry["name"] in seen:
            raise ScenarioError(
                where,
                line,
                f"duplicate runtime name {entry['name']!r} (first at line {seen[entry['name']]})",
            )
        seen[entry["name"]] = line
        if entry["kind"] not in KINDS:  # another package's, or a mistake
            try:
                runtime_class(entry["kind"])
            except InputError as exc:
                raise ScenarioError(where, entry.key_lines["kind"], str(exc)) from None
        host, ssh_config = _remote(entry, path, where)
        binary = entry.get("binary", entry["kind"])  # a kind's program is named after it
        if "/" in binary and not Path(binary).is_absolute():
            binary = str((path.parent / binary).resolve())  # relative to the file, not the cwd
        _check_user(entry, where)
        configs.append(
            RuntimeConfig(
                name=entry["name"],
                kind=entry["kind"],
                binary=binary,
                run_args=tuple(entry.get("run_args", ())),
                env=tuple(entry.get("env", {}).items()),
                description=entry.get("description", ""),
                rootfs=str((path.parent / entry["rootfs"]).resolve()) if "rootfs" in entry else "",
                source=f"{where}:{line}",
                start_timeout=float(entry.get("start_timeout", PREFLIGHT_TIMEOUT)),
                host=host,
                ssh_config=ssh_config,
                user=entry.get("user", ""),
            )
        )
    return configs


def _check_user(entry: Any, where: str) -> None:
    """An entry's ``user``: a plain name other than root's (the schema's pattern), for a kind
    with a rootless mode, on this machine."""
    if "user" not in entry:
        return
    line = entry.key_lines["user"]
    if not plain_user_name(entry["user"]):
        raise ScenarioError(where, line, "user: root is the suite's own; name another user")
    if entry["kind"] not in USER_KINDS:
        raise ScenarioError(
            where, line, f"user: a {entry['kind']} runtime runs as the suite's user; kinds "
            f"{' and '.join(USER_KINDS)} run their binary as another",
        )  # fmt: skip
    if "host" in entry:
        raise ScenarioError(
            where, line, "user: is for an engine of this machine, not one given by host:"
        )


def _remote(entry: Any, path: Path, where: str) -> tuple[str, str]:
    """An entry's ``host`` (``engine``, or checked as an ssh address) and ``ssh_config``
    (relative to the file)."""
    from container_claims.runtimes.remote import SshTarget

    if "ssh_config" in entry and "host" not in entry:
        raise ScenarioError(where, entry.key_lines["ssh_config"], "ssh_config needs a host")
    if "host" not in entry:
        return "", ""
    line = entry.key_lines["host"]
    if entry["kind"] not in REMOTE_KINDS:
        raise ScenarioError(
            where, line, f"host: a {entry['kind']} runtime runs on this machine only; "
            f"kinds {' and '.join(REMOTE_KINDS)} reach an engine over ssh or read its host "
            "through it",
        )  # fmt: skip
    if entry["host"] == ENGINE_HOST:
        if "ssh_config" in entry:
            raise ScenarioError(
                where, entry.key_lines["ssh_config"], "ssh_config is for host: ssh://..., "
                "not host: engine (the engine is reached as binary and env say)",
            )  # fmt: skip
        return ENGINE_HOST, ""
    try:
        target = SshTarget.parse(entry["host"])
    except InputError as exc:
        raise ScenarioError(
            where, line, f"{exc}; or host: engine, to read the host through its engine"
        ) from None
    ssh_config = ""
    if "ssh_config" in entry:
        config = (path.parent / entry["ssh_config"]).resolve()
        if not config.is_file():
            raise ScenarioError(
                where, entry.key_lines["ssh_config"], f"ssh_config {str(config)!r}: no such file"
            )
        ssh_config = str(config)
    return target.url, ssh_config


def on_hosts(
    configs: list[RuntimeConfig], hosts: list[str], ssh_config: str = ""
) -> list[RuntimeConfig]:
    """Each chosen runtime once per machine of ``hosts`` (``ssh://[user@]name[:port]``), named
    ``RUNTIME@NAME``: one command line checks a fleet (``run --hosts``). Only the kinds with
    an engine to reach (:data:`REMOTE_KINDS`) go to another machine; :class:`InputError` for
    any other, or a bad address."""
    import dataclasses

    from container_claims.runtimes.remote import SshTarget

    if ssh_config and not Path(ssh_config).is_file():
        raise InputError(f"--ssh-config {ssh_config}: no such file")
    targets = [SshTarget.parse(host) for host in hosts]
    spread = []
    for config in configs:
        if config.kind not in REMOTE_KINDS:
            raise InputError(
                f"--hosts: runtime {config.name!r} is a {config.kind} runtime, which runs on "
                f"this machine only; kinds {' and '.join(REMOTE_KINDS)} reach an engine over ssh"
            )
        if config.user:
            raise InputError(
                f"--hosts: runtime {config.name!r} runs as user {config.user!r} of this machine"
            )
        spread += [
            dataclasses.replace(
                config,
                name=f"{config.name}@{target.name}",
                host=target.url,
                ssh_config=str(Path(ssh_config).resolve()) if ssh_config else config.ssh_config,
            )
            for target in targets
        ]
    return spread


def choose_runtimes(
    cleanup: contextlib.ExitStack,
    *,
    runtimes_file: str | None = None,
    names: list[str] | None = None,
    hosts: str | None = None,
    ssh_config: str | None = None,
    ansible_inventory: str | None = None,
) -> list[RuntimeConfig]:
    """The runtimes of a run, as its options name them: the one place either front door
    turns ``--runtimes-file``, ``--runtime``, ``--hosts``, ``--ssh-config`` and
    ``--ansible-inventory`` into configurations, which the run then hands on as they are.

    An inventory's hosts are reached through an ssh config written for the run, removed by
    ``cleanup`` when the run ends. :class:`InputError` (or :class:`ScenarioError`, for a bad
    runtimes file) says what is wrong."""
    from container_claims.paths import make_temp_dir
    from container_claims.runtimes.inventory import SCHEME, expand

    chosen = select(load_runtimes_file(Path(runtimes_file) if runtimes_file else None), names or [])
    if not hosts:
        if ssh_config or ansible_inventory:
            raise InputError("--ssh-config and --ansible-inventory are for --hosts: give them")
        return chosen
    machines = [host for host in hosts.split(",") if host]
    ssh_config = ssh_config or ""
    if ansible_inventory or any(host.startswith(SCHEME) for host in machines):
        directory = make_temp_dir("inventory")
        cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
        machines, ssh_config = expand(machines, ansible_inventory or "", ssh_config, directory)
    return on_hosts(chosen, machines, ssh_config)


def select(configs: list[RuntimeConfig], names: list[str]) -> list[RuntimeConfig]:
    """The configurations named, in order; ``all`` names every one; none: the file's first."""
    if not names:
        return configs[:1]
    if "all" in names:
        return configs
    by_name = {config.name: config for config in configs}
    chosen = []
    for name in names:
        if name not in by_name:
            near = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            known = ", ".join(by_name)
            raise InputError(f"unknown runtime {name!r}{hint}; known: {known} (or all)")
        chosen.append(by_name[name])
    return chosen


__all__ = [
    "KINDS",
    "KIND_ENTRY_POINTS",
    "Runtime",
    "RuntimeConfig",
    "choose_runtimes",
    "known_kinds",
    "load_runtimes_file",
    "open_runtime",
    "runtime_class",
    "select",
]
