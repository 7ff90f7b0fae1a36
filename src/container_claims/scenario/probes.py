"""The probes a scenario can name: named readings of the host or the engine.

A scenario names a probe (``probe: host.kernel_release``); this table, part of the format,
says where its code lives (:mod:`container_claims.probes`), which arguments it takes (and of
what kind), and which runtime capability it needs. Modules are imported only when a probe
runs, so loading scenarios stays cheap; those imports run up a layer, written out in
:func:`_probe_modules` for the layer contract to see (pyproject.toml names them).

Arguments are data, checked against their kind before the probe sees them: when the file is
loaded (values written out) and again when the step runs (values filled in from templates).
No argument can name a host path beyond what the probe's summary documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from container_claims.scenario.fields import (
    Shape,
    any_value,
    boolean,
    list_of,
    mapping,
    number,
    output,
    text,
)
from container_claims.scenario.safety import FILE_MODE, FILE_NAME, image_problem, text_problem


class ArgumentError(ValueError):
    """A probe argument is not of its kind; the message names the argument."""


@dataclass(frozen=True)
class Arg:
    """One argument of a probe: its kind, whether the probe needs it, and what it means.

    Kinds: ``text`` (one line), ``integer`` (a whole number, also as text: observations are
    text), ``choice`` (one of ``choices``), ``dirs`` (absolute host directories, one or a list,
    "" for none: the probe confines them to the runtime's storage), ``relative_path`` (inside such a
    directory, no ``..``), ``image`` (an image reference), ``container`` (a container of the
    scenario, by its scenario name), ``directory`` (a directory the scenario declares, by its
    name), ``content`` (a file's text: newlines kept, nothing stripped).

    ``doc`` says what the argument means and ``default`` what the probe does without it (an
    optional one's); the README's table of arguments is made from them (:mod:`.probe_docs`).
    """

    kind: str
    required: bool = True
    choices: tuple[str, ...] = ()
    pattern: str = ""
    minimum: int | None = None
    form: str = ""  # what ``pattern`` allows, in words, for messages
    doc: str = ""
    default: str = ""  # in words: what happens when an optional argument is not given
    #: Whether a template that gives null (an observation not made: a process not found)
    #: leaves an optional argument out. False where the default reads something else than
    #: what was asked for (``host.capabilities`` would read the host's init): an error then.
    null_is_absent: bool = True

    def convert(self, name: str, value: Any) -> Any:
        """The value as the probe takes it. Raises :class:`ArgumentError` saying why not."""
        if self.kind == "integer":
            text = str(value).strip() if not isinstance(value, bool) else "?"
            if not re.fullmatch(r"-?[0-9]{1,19}", text):
                raise ArgumentError(f"{name!r} must be a whole number, not {_show(value)}")
            number = int(text)
            if self.minimum is not None and number < self.minimum:
                raise ArgumentError(f"{name!r} must be at least {self.minimum}, not {number}")
            return number
        if self.kind == "dirs":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list | tuple) or len(items) > 256:
                raise ArgumentError(f"{name!r} must be a directory or a list of them")
            result = []
            for item in items:
                if item == "":
                    continue  # no directory (an engine that keeps no layer apart says "")
                if not isinstance(item, str) or not item.startswith("/"):
                    raise ArgumentError(f"{name!r} holds {_show(item)}, not an absolute path")
                if ".." in item.split("/") or text_problem(name, item):
                    raise ArgumentError(f"{name!r} holds {_show(item)}, which is not a plain path")
                result.append(item)
            return result
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ArgumentError(f"{name!r} must be text, not {_show(value)}")
        if self.kind == "content":
            problem = text_problem(name, str(value), allow_newline=True)
            if problem:
                raise ArgumentError(problem)
            return str(value)
        text = str(value).strip()
        problem = text_problem(name, text)
        if problem:
            raise ArgumentError(problem)
        if self.kind == "choice" and text not in self.choices:
            raise ArgumentError(
                f"{name!r} must be one of {', '.join(self.choices)}, not {_show(value)}"
            )
        if self.kind == "relative_path":
            parts = text.split("/")
            if text.startswith("/") or ".." in parts or not text:
                raise ArgumentError(
                    f"{name!r} must be a path inside the directories, without '..' and not "
                    f"beginning with '/', not {_show(value)}"
                )
        if self.kind == "image":
            problem = image_problem(text)
            if problem:
                raise ArgumentError(problem)
        if self.pattern and not re.fullmatch(self.pattern, text):
            raise ArgumentError(f"{name!r} is {_show(value)}, not {self.form or self.pattern}")
        return text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


@dataclass(frozen=True)
class ProbeInfo:
    target: str  # "module:function", the module one of _probe_modules()
    args: Mapping[str, Arg] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    summary: str = ""
    yields: Shape = field(default_factory=any_value)  # what ``save:`` keeps

    def load(self) -> Callable[..., Any]:
        module, _, function = self.target.partition(":")
        return getattr(_probe_modules()[module], function)  # type: ignore[no-any-return]

    def check_names(self, values: Mapping[str, Any]) -> None:
        """Raises :class:`ArgumentError` for an argument this probe does not take."""
        unknown = sorted(set(values) - set(self.args))
        if unknown:
            allowed = ", ".join(self.args) or "none"
            raise ArgumentError(f"takes no argument {unknown[0]!r} (it takes: {allowed})")

    def convert(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Arguments checked and converted. Raises :class:`ArgumentError`."""
        self.check_names(values)
        missing = [name for name, arg in self.args.items() if arg.required and name not in values]
        if missing:
            raise ArgumentError(f"needs the argument {missing[0]!r}")
        # An optional argument whose template gave nothing (null) was not given, unless its
        # default would read something else than the one asked for (see Arg.null_is_absent).
        for name, value in values.items():
            arg = self.args[name]
            if value is None and not arg.required and not arg.null_is_absent:
                raise ArgumentError(
                    f"{name!r} is null (what its template names was not observed); without it "
                    f"the probe would read another: {arg.default}"
                )
        return {
            name: self.args[name].convert(name, value)
            for name, value in values.items()
            if value is not None or self.args[name].required
        }


def _probe_modules() -> dict[str, ModuleType]:
    """The modules the table's targets name, imported when a probe first runs. They are a
    layer above this one (they use runtimes, which use scenarios): the layer contract allows
    these two imports by name, and no other upward one."""
    from container_claims.probes import engine, host

    return {"host": host, "engine": engine}


_HOST = "host"
_ENGINE = "engine"
_DIRECTORY = Arg(
    "directory",
    pattern=r"[a-z][a-z0-9_]*",
    form="a declared directory's name",
    doc="which of the scenario's `directories`",
)
_FILE = Arg(
    "text",
    pattern=FILE_NAME.pattern,
    form="a file's name (no '/', not beginning with '.' or '-')",
    doc="a file of that directory, by its name",
)
_PIDNS = Arg(
    "text",
    pattern=r"pid:\[[0-9]+\]",
    form="a PID namespace such as pid:[4026531836]",
    doc="the process's PID namespace, as `readlink /proc/$$/ns/pid` shows it inside",
)
_NS_PID = Arg("integer", minimum=1, doc="the process's PID inside that namespace")
_TEXTS = list_of(text())

_PROCESS = mapping(
    found=boolean("whether a host process was found"),
    pid=number("its host PID"),
    uid=number("its real uid on the host (a rootless engine's root is the engine's user)"),
    nspid=list_of(number(), "its PID in each PID namespace, the host's first"),
    pid_levels=number("how many PID namespaces it is in"),
    cmdline=text("its command line"),
    comm=text("its name"),
    ancestry=list_of(mapping(pid=number(), comm=text()), "it and its parents"),
    reaches_host_pid1=boolean("whether its parents lead to the host's PID 1"),
    reaches_tree_top=boolean(
        "whether it has parents on the host that lead, unbroken, to the top of the host's"
        " process tree: its PID 1, or a process entered from outside the host's PID namespace"
    ),
    own_namespaces=list_of(text(), "the namespaces it does not share with the host"),
)
_CONFINEMENT = mapping(
    mechanism=text("sandbox-kernel, chroot, pivot_root or none"),
    pid=number("the process's host PID"),
    root_link=text("where /proc/PID/root points"),
    own_mount_namespace=boolean(),
    boot_id_masked=boolean(
        "(not sandbox-kernel) whether the process, which the host runs, reads a boot id other"
        " than the host's: one mounted over it"
    ),
    container_boot_id=text("(sandbox-kernel) the container kernel's boot id"),
    host_boot_id=text("(sandbox-kernel) the host kernel's boot id"),
)
_ENGINE_INFO = mapping(
    version=text(),
    root_dir=text("the engine's data root"),
    storage_driver=text(),
    default_runtime=text(),
    kernel=text(),
)
_CONTAINER = mapping(
    exists=boolean(),
    name=text(),
    id=text(),
    running=boolean(),
    status=text("created, running, exited..."),
    exit_code=number("its main process's exit status, once it exited"),
    host_pid=number("its main process's host PID (0 when it does not run)"),
    hostname=text(),
    labels=any_value("its labels, by key (the engine's own and the scenario's)"),
    ports=any_value("its published TCP ports: container port -> host port on 127.0.0.1"),
    image_id=text(),
    size_rw=number("bytes in its writable layer"),
    size_root_fs=number("bytes of its whole root filesystem"),
    storage_driver=text(),
    upper_dir=text("its writable layer's host directory (empty when the driver keeps none)"),
    lower_dirs=_TEXTS,
    merged_dir=text(),
    volume_dirs=_TEXTS,
    storage_dirs=list_of(text(), "its writable layer and its volumes"),
)
_IMAGE = mapping(
    present=boolean(),
    ref=text(),
    id=text(),
    size=number("bytes"),
    layers=number(),
    command=text("its default command"),
    layer_dirs=_TEXTS,
    storage_driver=text(),
    root_dir=text("the engine's data root"),
    layer_dirs_are_directories=boolean(),
    layer_dirs_under_root=boolean(),
)

PROBES: dict[str, ProbeInfo] = {
    "host.kernel_release": ProbeInfo(
        f"{_HOST}:kernel_release", summary="the host's uname -r", yields=text()
    ),
    "host.boot_id": ProbeInfo(
        f"{_HOST}:boot_id", summary="the host kernel's boot id", yields=text()
    ),
    "host.hostname": ProbeInfo(f"{_HOST}:hostname", summary="the host's hostname", yields=text()),
    "host.pid1": ProbeInfo(
        f"{_HOST}:pid1",
        summary="the host's PID 1: cmdline and name",
        yields=mapping(pid=number(), cmdline=text(), comm=text()),
    ),
    "host.capabilities": ProbeInfo(
        f"{_HOST}:capabilities",
        args={
            "pid": Arg(
                "integer",
                required=False,
                minimum=1,
                doc="a host process: a container's by its host PID (`engine.container`'s "
                "`host_pid`)",
                default="1, the host's init",
                null_is_absent=False,  # a container's PID not found is no reading of init
            )
        },
        summary="the capability sets of a host process, from its /proc/PID/status on the host",
        yields=Shape(
            "mapping",
            fields={
                "pid": number("the process's host PID"),
                "name": text("its name"),
                **{
                    name: list_of(text(), f"its {name} set: names without CAP_, e.g. SYS_ADMIN")
                    for name in ("effective", "permitted", "bounding", "inheritable", "ambient")
                },
            },
        ),
    ),
    "host.find_process": ProbeInfo(
        f"{_HOST}:find_process",
        args={"pid_namespace": _PIDNS, "ns_pid": _NS_PID},
        summary="the host process that is ns_pid inside pid_namespace, with its NSpid, "
        "command line, parent chain and namespaces",
        yields=_PROCESS,
    ),
    "host.confinement": ProbeInfo(
        f"{_HOST}:confinement",
        args={
            "pid_namespace": _PIDNS,
            "ns_pid": _NS_PID,
            "boot_id": Arg(
                "text",
                doc="the boot id read inside the container (/proc/sys/kernel/random/boot_id): "
                "another than the host's, of a process the host does not run, means a kernel "
                "of the sandbox's own",
            ),
        },
        summary="how the process is confined to its root: chroot, pivot_root or a sandbox kernel",
        yields=_CONFINEMENT,
    ),
    "host.marker_file": ProbeInfo(
        f"{_HOST}:marker_file",
        summary="creates a marker file in the host's / for this scenario",
        yields=text("the file's name in /"),
    ),
    "host.marker_process": ProbeInfo(
        f"{_HOST}:marker_process",
        summary="starts a marker process on the host for this scenario",
        yields=text("the process's name"),
    ),
    "host.which": ProbeInfo(
        f"{_HOST}:which",
        args={
            "program": Arg(
                "text",
                pattern=r"[A-Za-z0-9_+][A-Za-z0-9_.+-]{0,99}",
                form="a program's name such as python3 (letters, digits, . _ + -)",
                doc="the program to look up on the host's PATH",
            )
        },
        summary="a program's host path (a program name, looked up on the host's PATH)",
        yields=text("its path, empty when the host has none"),
    ),
    "host.cgroup_limit": ProbeInfo(
        f"{_HOST}:cgroup_limit",
        args={
            "pid": Arg(
                "integer",
                minimum=1,
                doc="the host PID of a container's process (`engine.container`'s `host_pid`)",
            ),
            "resource": Arg(
                "choice", choices=("memory", "pids"), doc="which limit: memory bytes or tasks"
            ),
        },
        summary="the kernel's limit (memory bytes or pids) on a container's process, cgroup v1 "
        "or v2",
        yields=output("bytes or a count, or max"),
    ),
    "host.tcp_read": ProbeInfo(
        f"{_HOST}:tcp_read",
        args={
            "port": Arg(
                "integer",
                minimum=1,
                doc="the TCP port of the host's 127.0.0.1 to connect to "
                "(`engine.container`'s `ports.8080` for a published 8080)",
            )
        },
        summary="connects to a port of the host's 127.0.0.1 (loopback only) and reads what "
        "comes back, up to 64 KiB",
        yields=mapping(
            connected=boolean("whether a connection was made within 5 s"),
            received=text(
                "what came back before the peer closed (or 2 s passed); not observed when "
                "nothing came before the silence: a claim on it is then an error"
            ),
            closed_by_peer=boolean("whether the peer closed the last connection"),
            timed_out=boolean("whether the last read ended on 2 s of silence"),
        ),
    ),
    "host.find_file": ProbeInfo(
        f"{_HOST}:find_file",
        args={
            "dirs": Arg(
                "dirs",
                doc="where to look: directories within the runtime's storage "
                "(`engine.container`'s `upper_dir`, `engine.image`'s `layer_dirs`)",
            ),
            "path": Arg("relative_path", doc="the file, relative to each directory"),
        },
        summary="which of the directories hold the file; the directories must lie where the "
        "runtime keeps its storage, and no symbolic link is followed",
        yields=mapping(count=number(), found_in=_TEXTS, searched=_TEXTS),
    ),
    "host.container_storage": ProbeInfo(
        f"{_HOST}:container_storage",
        args={
            "compare_to": Arg(
                "integer",
                minimum=1,
                doc="bytes to compare with: `ratio` is bytes / compare_to "
                "(`engine.image`'s `size`)",
            ),
            "pid": Arg(
                "integer",
                required=False,
                minimum=1,
                doc="the host PID of a container's process, whose mount table says where its "
                "files are when `known_dirs` names none",
                default="`known_dirs` must name the directories",
            ),
            "known_dirs": Arg(
                "dirs",
                required=False,
                doc="the container's writable directories as the engine names them "
                "(`engine.container`'s `storage_dirs`), measured as they are",
                default="the mount table of `pid`",
            ),
        },
        summary="host dirs holding a container's writable files (as the engine names them, "
        "within its storage, else from the mount table of a container's process), their "
        "bytes, and the ratio to compare_to",
        yields=mapping(
            dirs=_TEXTS, source=text("engine or mount table"), bytes=number(), ratio=number()
        ),
    ),
    "host.directory_read": ProbeInfo(
        f"{_HOST}:directory_read",
        args={"directory": _DIRECTORY, "file": _FILE},
        requires=("directories",),
        summary="a file of a directory the scenario declares, read on the host: what is "
        "there, its text (up to 1 MiB) and mode; no symbolic link is followed",
        yields=mapping(
            exists=boolean("whether anything has that name"),
            kind=text("file, symlink, directory, fifo, other, or missing"),
            text=text("a file's text (null for anything else)"),
            mode=text("its permissions in octal, e.g. 0644 (null when missing)"),
            bytes=number("a file's size"),
        ),
    ),
    "host.directory_write": ProbeInfo(
        f"{_HOST}:directory_write",
        args={
            "directory": _DIRECTORY,
            "file": _FILE,
            "text": Arg("content", doc="the file's new text, written as it is"),
            "mode": Arg(
                "text",
                required=False,
                pattern=FILE_MODE.pattern,
                form="a mode like 0644",
                doc="the file's permissions in octal",
                default="0600 for a new file; a file replaced keeps its mode",
            ),
        },
        requires=("directories",),
        summary="writes a file of a directory the scenario declares, on the host (created or "
        "replaced; never through a symbolic link or into anything but a file)",
        yields=mapping(bytes=number("bytes written"), mode=text("its permissions in octal")),
    ),
    "engine.info": ProbeInfo(
        f"{_ENGINE}:info",
        requires=("engine",),
        summary="engine version, root dir, storage",
        yields=_ENGINE_INFO,
    ),
    "engine.container": ProbeInfo(
        f"{_ENGINE}:container",
        args={
            "name": Arg(
                "container",
                required=False,
                pattern=r"[a-z][a-z0-9_]*",
                form="a container's name",
                doc="which container: `main`, or a `run:` step's `name`",
                default="`main`, the scenario's container",
            )
        },
        requires=("engine",),
        summary="what the engine knows of one of the scenario's containers (default: main)",
        yields=_CONTAINER,
    ),
    "engine.image": ProbeInfo(
        f"{_ENGINE}:image",
        args={
            "ref": Arg(
                "image",
                required=False,
                doc="the image, e.g. `engine.stage_in_registry`'s `ref`",
                default="the run's image",
            )
        },
        requires=("images",),
        summary="what the engine knows of an image: presence, id, size, layer dirs "
        "(default: the run's image)",
        yields=_IMAGE,
    ),
    "engine.stage_in_registry": ProbeInfo(
        f"{_ENGINE}:stage_in_registry",
        requires=("registry",),
        summary="pushes a fresh image to the local registry and removes it locally",
        yields=mapping(ref=text("the staged reference"), token=text(), registry=text()),
    ),
}
