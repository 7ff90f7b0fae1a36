"""Readings of the host itself, from its own ``/proc`` and filesystem.

These are the same for every runtime: they look at the machine, not at what an engine says
about it, and read it only through ``ctx.host`` (:class:`~container_claims.probes.handle.
HostHandle`), so they describe the engine's own host wherever it is: this machine, one over
ssh, or one read through its engine. Probes that change the host (a marker file, a marker
process) change that same host, and undo it through ``ctx.defer`` when the scenario ends.
The directories a scenario declares are this machine's, made by this process, and read and
written directly (:mod:`.directories`); runtimes elsewhere declare no ``directories``.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from container_claims import ledger
from container_claims.errors import ObservationError, ReadCutShort, RuntimeUnavailable
from container_claims.ledger import MARKER_PREFIX
from container_claims.observations import PartlyObserved
from container_claims.probes import directories
from container_claims.runtimes.base import ENGINE_HOST
from container_claims.runtimes.jail import CAPABILITIES
from container_claims.runtimes.remote import REFUSED

if TYPE_CHECKING:
    from container_claims.probes.api import ProbeContext
    from container_claims.probes.handle import HostHandle

NAMESPACES = ("pid", "mnt", "uts", "ipc", "net", "user", "cgroup")
BOOT_ID = "/proc/sys/kernel/random/boot_id"


def _cmdline(host: HostHandle, pid: int) -> str:
    raw = host.read_bytes(f"/proc/{pid}/cmdline")
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def _status(host: HostHandle, pid: int) -> dict[str, str]:
    fields = {}
    for line in host.read_text(f"/proc/{pid}/status").splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def kernel_release(ctx: ProbeContext) -> str:
    return ctx.host.kernel_release()


def boot_id(ctx: ProbeContext) -> str:
    return ctx.host.read_text(BOOT_ID)


def hostname(ctx: ProbeContext) -> str:
    return ctx.host.hostname()


def pid1(ctx: ProbeContext) -> dict[str, Any]:
    return {"pid": 1, "cmdline": _cmdline(ctx.host, 1), "comm": ctx.host.read_text("/proc/1/comm")}


#: The capability sets of ``/proc/PID/status``, by the names the probe gives them.
CAPABILITY_SETS = {
    "effective": "CapEff",
    "permitted": "CapPrm",
    "bounding": "CapBnd",
    "inheritable": "CapInh",
    "ambient": "CapAmb",
}
_CAPABILITY_NAMES = {number: name.upper() for name, number in CAPABILITIES.items()}


def capability_names(mask: str) -> list[str]:
    """The capabilities a set of ``/proc/PID/status`` holds (``000001ffffffffff``), sorted,
    without ``CAP_``: ``SYS_ADMIN``; a bit this suite does not know is ``CAP_<n>``."""
    bits = int(mask, 16)
    found = [
        _CAPABILITY_NAMES.get(number, f"CAP_{number}")
        for number in range(bits.bit_length())
        if bits >> number & 1
    ]
    return sorted(found)


def capabilities(ctx: ProbeContext, pid: int = 1) -> dict[str, Any]:
    """The capability sets of the host process ``pid`` (the host's init unless told), as
    its ``/proc/PID/status`` on the host gives them. A process that is not there is an error,
    never an empty set; a set the kernel does not show (ambient, before Linux 4.3) is not
    observed."""
    try:
        status = _status(ctx.host, pid)
    except OSError as exc:
        raise ObservationError(
            f"process {pid} cannot be read on the host (it ended, or never was): "
            f"{exc.strerror or exc}"
        ) from None
    reading: dict[str, Any] = {"pid": pid, "name": status.get("Name", "")}
    missing = {}
    for name, key in CAPABILITY_SETS.items():
        if key not in status:
            reading[name] = []
            missing[name] = f"the host's kernel shows no {key} in /proc/{pid}/status"
            continue
        try:
            reading[name] = capability_names(status[key])
        except ValueError:
            raise ObservationError(
                f"process {pid}'s {key} is not a mask: {status[key][:40]!r}"
            ) from None
    return PartlyObserved(reading, missing) if missing else reading


def _ancestry(host: HostHandle, pid: int) -> tuple[list[dict[str, Any]], bool]:
    """The process and its parents, and whether the walk reached the top of the host's tree.

    The top is a process whose parent the host cannot see (``PPid: 0``): the host's PID 1, or
    one entered into the host's PID namespace from outside it, as a CI step ``docker exec``'d
    into its job container is. A parent gone mid-walk, or a chain longer than 64, is no top.
    """
    chain: list[dict[str, Any]] = []
    while len(chain) < 64:
        try:
            status = _status(host, pid)
        except OSError:
            return chain, False
        chain.append({"pid": pid, "comm": status.get("Name", "?")})
        pid = int(status.get("PPid", "0"))
        if pid == 0:
            return chain, True
    return chain, False


def _locate(host: HostHandle, pid_namespace: str, ns_pid: str) -> int | None:
    """Host PID of the process that is ``ns_pid`` inside the namespace ``pid_namespace``."""
    wanted = str(ns_pid).strip()
    for pid, namespace, nspid in host.processes():
        if namespace == pid_namespace and nspid and str(nspid[-1]) == wanted:
            return pid
    return None


def find_process(ctx: ProbeContext, pid_namespace: str, ns_pid: str) -> dict[str, Any]:
    """The host's view of a container process, found from what the container said of itself.

    The container reports its PID namespace (``readlink /proc/$$/ns/pid``) and its own PID;
    the host process table is searched for that pair, without asking any engine.
    """
    host = ctx.host
    pid = _locate(host, str(pid_namespace).strip(), str(ns_pid))
    if pid is None:  # same shape as a find, so claims read "not found" and fail, not error
        return {
            "found": False,
            "pid": None,
            "uid": None,
            "nspid": [],
            "pid_levels": 0,
            "cmdline": "",
            "comm": "",
            "ancestry": [],
            "reaches_host_pid1": False,
            "reaches_tree_top": False,
            "own_namespaces": [],
        }
    status = _status(host, pid)
    theirs, own = host.namespaces(pid, NAMESPACES), host.namespaces("self", NAMESPACES)
    namespaces = {kind: theirs[kind] != own[kind] for kind in NAMESPACES}
    chain, complete = _ancestry(host, pid)
    return {
        "found": True,
        "pid": pid,
        # Whose it is on the host: its real uid there (a rootless engine's root is its user).
        "uid": int(status.get("Uid", "-1").split()[0]),
        "nspid": [int(p) for p in status.get("NSpid", "").split()],
        "pid_levels": len(status.get("NSpid", "").split()),
        "cmdline": _cmdline(host, pid),
        "comm": status.get("Name"),
        "ancestry": chain,
        "reaches_host_pid1": complete and chain[-1]["pid"] == 1,
        "reaches_tree_top": complete and len(chain) > 1,
        "own_namespaces": sorted(kind for kind, differs in namespaces.items() if differs),
    }


def confinement(ctx: ProbeContext, pid_namespace: str, ns_pid: str, boot_id: str) -> dict[str, Any]:
    """How a container process is kept inside its root filesystem, as the host sees it.

    ``sandbox-kernel``: the container runs on another kernel (its boot id differs, and no host
    process is the one it names); ``chroot``: the process's root is a directory of the host's
    tree (``/proc/PID/root``); ``pivot_root``: its root is the root of its own mount
    namespace; ``none``: the host's root. A process the host does run whose boot id differs
    had one mounted over it (LXC and nspawn do): ``boot_id_masked``, and the host's reading
    of its root decides.

    Limit: a root moved onto ``/`` of a private mount namespace and then chrooted into (runc's
    no-pivot mode) looks the same from ``/proc`` as ``pivot_root`` and is reported as such.
    """
    host = ctx.host
    host_boot = host.read_text(BOOT_ID)
    masked = str(boot_id).strip() != host_boot
    pid = _locate(host, str(pid_namespace).strip(), str(ns_pid))
    if masked and pid is None:
        return {
            "mechanism": "sandbox-kernel",
            "container_boot_id": boot_id,
            "host_boot_id": host_boot,
        }
    if pid is None:
        raise ObservationError(f"no host process is PID {ns_pid} in {pid_namespace}")
    root = host.readlink(f"/proc/{pid}/root")
    own_mounts = host.namespace(pid, "mnt") != host.namespace("self", "mnt")
    if root != "/":
        mechanism = "chroot"
    elif own_mounts:
        mechanism = "pivot_root"
    else:
        mechanism = "none"
    return {
        "mechanism": mechanism,
        "pid": pid,
        "root_link": root,
        "own_mount_namespace": own_mounts,
        "boot_id_masked": masked,
    }


def marker_file(ctx: ProbeContext) -> str:
    """Create a file in the host's ``/`` that no image has; removed when the scenario ends."""
    path = f"/{MARKER_PREFIX}{ctx.runtime.run_id}-{ctx.token}"
    host = ctx.host
    if host.reader is not None:  # the sweep of a dead run removes it through the engine
        reader = host.reader
        ledger.record(
            "marker",
            path=path,
            host=ENGINE_HOST,
            config=reader.config.to_json(),
            image=reader.image,
        )
    elif host.target is None:
        ledger.record("marker", path=path)
    else:  # the sweep of a dead run removes it over ssh
        ledger.record("marker", path=path, host=host.target.url, ssh_config=host.target.ssh_config)
    try:
        host.create_file(path, "created by container-claims on the host\n")
    except OSError as exc:
        raise ObservationError(
            f"could not create the marker file {path} on the host: {exc}"
        ) from None
    ctx.defer(lambda: host.remove_file(path))
    return path.removeprefix("/")


def marker_process(ctx: ProbeContext) -> str:
    """Start a process on the host with a unique name; ended (by its PID) with the scenario."""
    marker = f"{MARKER_PREFIX}{ctx.runtime.run_id}-{ctx.token}"
    try:
        held = ctx.host.hold_process(marker, 3600)
    except RuntimeUnavailable as exc:
        raise ObservationError(f"could not start the marker process on the host: {exc}") from None
    ctx.defer(held.stop)
    return marker


def which(ctx: ProbeContext, program: str) -> str:
    """The host's path of ``program`` ("" when the host has none)."""
    return ctx.host.which(program)


def cgroup_limit(ctx: ProbeContext, pid: int, resource: str) -> str:
    """The kernel's limit on a process: ``memory`` (bytes) or ``pids``; ``max`` if none.

    Read from the host's cgroup filesystem, v1 or v2, where the kernel enforces it.
    """
    files = {
        "memory": ("memory", "memory.limit_in_bytes", "memory.max"),
        "pids": ("pids", "pids.max", "pids.max"),
    }
    controller, v1_file, v2_file = files[resource]
    host = ctx.host
    for line in host.read_text(f"/proc/{pid}/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            directory = _cgroup_dir(host, f"/sys/fs/cgroup/{controller}", path)
            value = host.read_text(os.path.join(directory, v1_file))
            break
        if controllers == "" and host.exists("/sys/fs/cgroup/cgroup.controllers"):
            value = host.read_text(os.path.join(_cgroup_dir(host, "/sys/fs/cgroup", path), v2_file))
            break
    else:
        raise ObservationError(f"process {pid} is in no {controller} cgroup")
    # cgroup v1 writes "no limit" as the largest page-aligned number.
    return "max" if value == "max" or int(value) >= 2**62 else value


def _cgroup_dir(host: HostHandle, point: str, path: str) -> str:
    """The directory of the cgroup ``path`` (as ``/proc/PID/cgroup`` gives it) in the cgroup
    filesystem mounted at ``point``. On a machine the whole hierarchy is mounted there; in a
    container that is the host (a CI job's), the mount's root is the container's own cgroup,
    which the path begins with and the directory does not."""
    for mount in host.mountinfo():
        if mount["point"] == point and mount["fstype"] in ("cgroup", "cgroup2"):
            root = mount["root"].rstrip("/")
            if root and (path == root or path.startswith(root + "/")):
                path = path[len(root) :]
            break
    return os.path.join(point, path.lstrip("/"))


def _require_container_process(host: HostHandle, pid: int) -> None:
    """Probes that read a process's tables take a container's process, not any host process:
    one in a PID namespace other than the host's own."""
    theirs = host.namespace(pid, "pid")
    if theirs is None:
        raise ObservationError(f"process {pid} cannot be read here (it ended, or is not ours)")
    if theirs == host.namespace("self", "pid"):
        raise ObservationError(
            f"process {pid} is not a container's: it shares the suite's PID namespace"
        )


def find_file(ctx: ProbeContext, dirs: list[str], path: str) -> dict[str, Any]:
    """Which of the directories ``dirs`` hold ``path`` (relative to each).

    The directories must lie in the runtime's storage (``Runtime.storage_roots``): this probe
    looks into what the engine keeps, not anywhere on the host. No symbolic link is followed,
    neither in the directories nor on the way to the file, so a container cannot point it
    elsewhere.
    """
    _confine(ctx, dirs, "dirs")
    found = [d for d in dirs if _exists_within(ctx.host, d, path)]
    return {"count": len(found), "found_in": found, "searched": list(dirs)}


def _confine(ctx: ProbeContext, dirs: list[str], argument: str) -> None:
    roots = [os.path.normpath(root) for root in ctx.runtime.storage_roots() if root]
    for directory in dirs:
        plain = os.path.normpath(directory)
        if not any(plain == root or plain.startswith(root.rstrip("/") + "/") for root in roots):
            where = ", ".join(roots) or "nowhere (this runtime names no storage)"
            raise ObservationError(
                f"{argument}: {directory!r} is not in the runtime's storage ({where})"
            )
        if ctx.host.realpath(plain) != plain:
            raise ObservationError(f"{argument}: {directory!r} goes through a symbolic link")


def _exists_within(host: HostHandle, directory: str, path: str) -> bool:
    """Whether ``directory/path`` exists, walking it without following any symbolic link."""
    current = directory
    parts = [part for part in path.split("/") if part not in ("", ".")]
    for index, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            entry = host.lstat(current)
        except OSError:
            return False
        if entry.is_link and index < len(parts) - 1:
            return False  # a link on the way: where it points is not this directory's
    return bool(parts)


def container_storage(
    ctx: ProbeContext, compare_to: int, pid: int | None = None, known_dirs: list[str] | None = None
) -> dict[str, Any]:
    """Where a container's writable files live on the host, and how much disk they take.

    ``known_dirs``, when the engine names them (its writable layer and volumes), are measured
    as they are. Otherwise the process's own mount table tells: an overlay root counts its
    upper directory, a root or volume bound from a host directory counts that whole directory
    (for a root, that is a full copy). Read-only mounts and single files (hostname,
    resolv.conf) hold no data of the container. ``ratio`` compares with ``compare_to`` bytes.
    """
    if known_dirs:
        _confine(ctx, known_dirs, "known_dirs")
        dirs, source = list(known_dirs), "engine"
    elif pid is not None:
        _require_container_process(ctx.host, pid)
        dirs, source = _writable_dirs(ctx.host, pid), "mount table"
    else:
        raise ObservationError("neither the engine nor the host process tells where the files are")
    used = ctx.host.disk_usage(dirs)
    return {
        "dirs": dirs,
        "source": source,
        "bytes": used,
        "ratio": round(used / compare_to, 6),
    }


def _writable_dirs(host: HostHandle, pid: int) -> list[str]:
    dirs = []
    host_mounts = host.mountinfo("self")
    for mount in host.mountinfo(pid):
        if "rw" not in mount["options"]:
            continue
        if mount["fstype"] == "overlay":
            options = dict(opt.partition("=")[::2] for opt in mount["super"].split(","))
            if options.get("upperdir"):
                dirs.append(options["upperdir"])
            continue
        host_path = _host_path(mount, host_mounts)
        if host_path and host.is_dir(host_path) and mount["point"] not in ("/dev", "/proc", "/sys"):
            dirs.append(host_path)
    return dirs


def _host_path(mount: dict[str, Any], host_mounts: list[dict[str, Any]]) -> str | None:
    """The host path of a bind mount's source: a host mount of the same device whose root
    contains the bound directory. None for filesystems the host has not mounted (tmpfs...)."""
    for host in host_mounts:
        if host["device"] == mount["device"] and (
            mount["root"] == host["root"]
            or mount["root"].startswith(host["root"].rstrip("/") + "/")
        ):
            rest = mount["root"][len(host["root"].rstrip("/")) :]
            return os.path.normpath(f"{host['point']}/{rest}")
    return None


#: How long :func:`tcp_read` tries again while nothing comes back.
REPLY_WINDOW = 5.0


def tcp_read(ctx: ProbeContext, port: int) -> dict[str, Any]:
    """Connect to ``127.0.0.1:port`` of the host and read what comes back (at most 64 KiB).

    The host's loopback, never another address: a published port is seen where the engine
    publishes it (on another machine, forwarded by ssh from its loopback). For 5 s, a refused
    connection, or one that gave nothing (closed at once, or silent for 2 s), is tried again: a
    proxy in front of the container (docker-proxy) accepts at once, while the server behind it
    may still be starting. How the last connection's read ended is kept (``closed_by_peer``,
    ``timed_out``). A read the peer closed is whole, even empty: nothing more could come. One
    that ended on silence with nothing is not: ``received`` is "" in the evidence but not
    observed, and a claim on it is an error saying no reply came, never a fail.
    """
    if not 0 < port < 65536:
        raise ObservationError(f"port {port} is not a TCP port")
    began = time.monotonic()
    deadline = min(began + REPLY_WINDOW, ctx.deadline)
    connected, last = False, REFUSED
    while not last.received and time.monotonic() < deadline:
        try:
            reply = ctx.host.tcp_read(port, deadline=ctx.deadline)
        except ReadCutShort as exc:
            raise ObservationError(
                f"port {port} of the host was {exc} ({exc.received[:200]!r}...)"
            ) from None
        except OSError as exc:  # the machine, not the port, did not answer
            raise ObservationError(f"could not connect to port {port} of the host: {exc}") from None
        if reply.connected:
            connected, last = True, reply
        if not reply.received:
            time.sleep(0.1)
    reading = {
        "connected": connected,
        "received": last.received.decode(errors="replace"),
        "closed_by_peer": last.ended == "closed",
        "timed_out": last.ended == "quiet",
    }
    if last.received or last.ended != "quiet":
        return reading
    waited = time.monotonic() - began
    why = f"no reply came within {waited:.1f} s: the port accepted and sent nothing"
    return PartlyObserved(reading, {"received": why})


def directory_read(ctx: ProbeContext, directory: str, file: str) -> dict[str, Any]:
    """A file of a directory the scenario declares, as this machine holds it: what is there,
    and a file's text and mode, following no link (:func:`directories.read`)."""
    return directories.read(ctx, directory, file)


def directory_write(
    ctx: ProbeContext, directory: str, file: str, text: str, mode: str | None = None
) -> dict[str, Any]:
    """Write a file of a directory the scenario declares, on this machine: created, or a
    file replaced, never through a link (:func:`directories.write`)."""
    return directories.write(ctx, directory, file, text, mode)
