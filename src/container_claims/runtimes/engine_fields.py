"""What a Docker-compatible engine's API answers, in the scenario format's words.

:class:`~container_claims.runtimes.docker.DockerRuntime` asks the engine; these functions
only translate its JSON (``docker version``, ``info``, ``inspect``) into the fields the
format documents for ``engine.*`` probes and the results' ``runtime`` block. No call goes
to the engine from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

#: OCI runtimes that run a container on a kernel of their own, by their binary's name: the
#: host's PID namespace is not theirs to give (gVisor's runsc, asked for --pid=host, still
#: starts the sandbox with a PID 1 of its own).
SANDBOX_OCI_RUNTIMES = frozenset({"runsc", "kata-runtime"})


def versions(data: Mapping[str, Any]) -> dict[str, str]:
    """The engine's, its API's and containerd's versions, from ``docker version``."""
    found = {"engine": str(data.get("Version", "?")), "api": str(data.get("ApiVersion", "?"))}
    for component in data.get("Components", []):
        if component.get("Name") == "containerd":
            found["containerd"] = str(component.get("Version", "?"))
    return found


def oci_runtime(info: Mapping[str, Any], run_args: Sequence[str]) -> str:
    """The OCI runtime a configuration runs: ``--runtime`` of its run arguments, or the
    engine's default."""
    return named_oci_runtime(run_args) or str(info.get("DefaultRuntime") or "runc")


def named_oci_runtime(run_args: Sequence[str]) -> str:
    """The OCI runtime a configuration's run arguments name (the last ``--runtime``), or ""."""
    name = ""
    args = list(run_args)
    for index, arg in enumerate(args):
        if arg == "--runtime" and index + 1 < len(args):
            name = args[index + 1]
        elif arg.startswith("--runtime="):
            name = arg.split("=", 1)[1]
    return name


def sandbox_kernel(info: Mapping[str, Any], run_args: Sequence[str]) -> bool:
    """Whether the OCI runtime a configuration runs (:func:`oci_runtime`) is a sandbox with a
    kernel of its own (:data:`SANDBOX_OCI_RUNTIMES`), by its name or its binary's."""
    name = oci_runtime(info, run_args)
    path = ((info.get("Runtimes") or {}).get(name) or {}).get("path") or name
    return bool({name, PurePosixPath(str(path)).name} & SANDBOX_OCI_RUNTIMES)


def reported_version(name: str, components: Sequence[Mapping[str, Any]]) -> str:
    """The version of the component ``name`` (an OCI runtime) as ``docker version`` reports
    it, in the words its own binary's ``--version`` would begin with."""
    for component in components:
        if component.get("Name") == name:
            return f"{name}: {name} version {component.get('Version', '?')}"
    return f"{name} (version unknown)"


def environment(info: Mapping[str, Any]) -> dict[str, str]:
    """What the results say of the engine's machine, from ``docker info`` (known keys only)."""
    found = {
        "kernel": info.get("KernelVersion"),
        "data_root": info.get("DockerRootDir"),
        "storage_driver": info.get("Driver"),
        "cgroups": " ".join(
            str(part) for part in (info.get("CgroupDriver"), info.get("CgroupVersion")) if part
        ),
        "default_oci_runtime": info.get("DefaultRuntime"),
    }
    return {key: str(value) for key, value in found.items() if value}


def info(data: Mapping[str, Any]) -> dict[str, Any]:
    """``engine.info``'s fields, from ``docker info``."""
    return {
        "version": data.get("ServerVersion"),
        "root_dir": data.get("DockerRootDir"),
        "storage_driver": data.get("Driver"),
        "default_runtime": data.get("DefaultRuntime"),
        "kernel": data.get("KernelVersion"),
    }


def container(name: str, data: Mapping[str, Any], sizes: Mapping[str, Any]) -> dict[str, Any]:
    """``engine.container``'s fields, from its inspect and its line of the container list
    (``sizes``: inspect has no sizes)."""
    state = data.get("State", {})
    graph = (data.get("GraphDriver") or {}).get("Data") or {}
    result: dict[str, Any] = {
        "exists": True,
        "name": name,
        "id": data.get("Id"),
        "running": bool(state.get("Running")),
        "status": state.get("Status"),
        "exit_code": state.get("ExitCode"),
        "host_pid": state.get("Pid"),
        "hostname": (data.get("Config") or {}).get("Hostname"),
        "labels": dict((data.get("Config") or {}).get("Labels") or {}),
        "ports": {
            port.split("/")[0]: int(bound[0]["HostPort"])
            for port, bound in ((data.get("NetworkSettings") or {}).get("Ports") or {}).items()
            if bound and port.endswith("/tcp")
        },
        "image_id": data.get("Image"),
        "size_rw": sizes.get("SizeRw"),
        "size_root_fs": sizes.get("SizeRootFs"),
        "storage_driver": (data.get("GraphDriver") or {}).get("Name"),
        "upper_dir": graph.get("UpperDir") or "",  # "": the driver keeps no layer apart
        "lower_dirs": [d for d in (graph.get("LowerDir") or "").split(":") if d],
        "merged_dir": graph.get("MergedDir"),
        "volume_dirs": [m["Source"] for m in data.get("Mounts", []) if m.get("Type") == "volume"],
    }
    # The container's own data on the host, as the engine knows it: its writable layer and
    # its volumes. Empty when the storage driver keeps no layer apart (vfs).
    upper = result["upper_dir"]
    result["storage_dirs"] = [upper, *result["volume_dirs"]] if upper else []
    return result


def image(ref: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """``engine.image``'s fields, from the image's inspect."""
    graph = (data.get("GraphDriver") or {}).get("Data") or {}
    config = data.get("Config") or {}
    layer_dirs = [graph["UpperDir"]] if graph.get("UpperDir") else []
    layer_dirs += [d for d in (graph.get("LowerDir") or "").split(":") if d]
    return {
        "present": True,
        "ref": ref,
        "id": data.get("Id"),
        "size": data.get("Size"),
        "layers": len((data.get("RootFS") or {}).get("Layers", [])),
        "command": " ".join((config.get("Entrypoint") or []) + (config.get("Cmd") or [])),
        "layer_dirs": layer_dirs,
        "storage_driver": (data.get("GraphDriver") or {}).get("Name"),
    }
