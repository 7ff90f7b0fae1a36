"""Probes: named readings of the host or the engine that a scenario step can take.

A scenario names a probe (``probe: host.kernel_release``); this table says where its code
lives, which arguments it takes and which runtime capability it needs. Modules are imported
only when a probe runs, so loading scenarios stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProbeInfo:
    target: str  # "module:function"
    args: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    summary: str = ""

    def load(self) -> Callable[..., Any]:
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


_HOST = "container_claims.probes.host"
_ENGINE = "container_claims.probes.engine"

PROBES: dict[str, ProbeInfo] = {
    "host.kernel_release": ProbeInfo(f"{_HOST}:kernel_release", summary="the host's uname -r"),
    "host.boot_id": ProbeInfo(f"{_HOST}:boot_id", summary="the host kernel's boot id"),
    "host.hostname": ProbeInfo(f"{_HOST}:hostname", summary="the host's hostname"),
    "host.pid1": ProbeInfo(f"{_HOST}:pid1", summary="the host's PID 1: cmdline and name"),
    "host.find_process": ProbeInfo(
        f"{_HOST}:find_process",
        args=("pid_namespace", "ns_pid"),
        summary="the host process that is ns_pid inside pid_namespace, with its NSpid, "
        "command line, parent chain and namespaces",
    ),
    "host.confinement": ProbeInfo(
        f"{_HOST}:confinement",
        args=("pid_namespace", "ns_pid", "boot_id"),
        summary="how the process is confined to its root: chroot, pivot_root or a sandbox kernel",
    ),
    "host.marker_file": ProbeInfo(
        f"{_HOST}:marker_file", summary="creates a marker file in the host's / for this scenario"
    ),
    "host.marker_process": ProbeInfo(
        f"{_HOST}:marker_process", summary="starts a marker process on the host for this scenario"
    ),
    "host.which": ProbeInfo(f"{_HOST}:which", args=("program",), summary="a program's host path"),
    "host.cgroup_limit": ProbeInfo(
        f"{_HOST}:cgroup_limit",
        args=("pid", "resource"),
        summary="the kernel's limit (memory bytes or pids) on a host process, cgroup v1 or v2",
    ),
    "host.find_file": ProbeInfo(
        f"{_HOST}:find_file",
        args=("dirs", "path"),
        summary="which of the host directories hold the file",
    ),
    "host.container_storage": ProbeInfo(
        f"{_HOST}:container_storage",
        args=("compare_to", "pid", "known_dirs"),
        summary="host dirs holding a container's writable files (as the engine names them, "
        "else from its mount table), their bytes, and the ratio to compare_to",
    ),
    "engine.info": ProbeInfo(
        f"{_ENGINE}:info", requires=("engine",), summary="engine version, root dir, storage"
    ),
    "engine.container": ProbeInfo(
        f"{_ENGINE}:container",
        args=("name",),  # default: the main container
        requires=("engine",),
        summary="what the engine knows of one of the scenario's containers",
    ),
    "engine.image": ProbeInfo(
        f"{_ENGINE}:image",
        args=("ref",),  # default: the run's image
        requires=("images",),
        summary="what the engine knows of an image: presence, id, size, layer dirs",
    ),
    "engine.stage_in_registry": ProbeInfo(
        f"{_ENGINE}:stage_in_registry",
        requires=("registry",),
        summary="pushes a fresh image to the local registry and removes it locally",
    ),
}
