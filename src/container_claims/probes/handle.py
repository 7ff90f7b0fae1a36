"""The one way probes read the engine's host: a handle on testinfra's ``host``.

Every host-side reading a probe makes (``/proc`` files, links, mount tables, cgroups,
directory sizes, programs on the ``PATH``) goes through :class:`HostHandle`, so that the same
probes can read another machine by giving them another testinfra host (ssh, an Ansible
inventory) instead of changing a probe.

On testinfra's ``local`` backend the handle reads the files itself: testinfra would run
``cat`` once per file, and a probe that scans the process table reads hundreds of them. On any
other backend each reading is one command run through testinfra, arguments quoted by it:
over ssh, or in a reader container of the engine (:mod:`container_claims.probes.reader`).
``HostHandle(host, direct=False)`` takes that path on the local machine too, which is how the
tests compare both paths on the same host.

Paths are the host's absolute paths. A reading that cannot be made raises ``OSError``, as
reading a local file would.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import math
import os
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from container_claims import ledger, processes
from container_claims.errors import RuntimeUnavailable
from container_claims.hostfs import parse_mountinfo
from container_claims.processes import end_child
from container_claims.runtimes.remote import (
    HELD_PROCESS,
    REFUSED,
    HeldProcess,
    MasterConnection,
    SshTarget,
    TcpReply,
    read_tcp,
    read_until_quiet,
)

if TYPE_CHECKING:
    from container_claims.probes.held_in_reader import HeldInReader
    from container_claims.probes.reader import HostReader


@dataclass(frozen=True)
class Entry:
    """What ``lstat`` says of a path, as far as probes need it."""

    mode: int
    device: int
    inode: int
    blocks: int  # of 512 bytes

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


class HostHandle:
    """Readings of one machine, through testinfra's ``host`` for it."""

    def __init__(
        self,
        host: Any,
        *,
        direct: bool | None = None,
        target: SshTarget | None = None,
        reader: HostReader | None = None,
    ) -> None:
        self.host = host
        self.direct = host.backend.NAME == "local" if direct is None else direct
        # For what is not one command (see "changes"): another machine over ssh, or the
        # engine's reader container; neither: this machine.
        self.target = target
        self.reader = reader
        # The process whose namespaces and mounts are the host's own ("self"): the reader's
        # own are its container's, so through a reader it is the engine's process holding it.
        self.own = "self"
        self._own_namespaces: dict[str, str] = {}

    @classmethod
    @functools.cache
    def local(cls) -> HostHandle:
        """This machine (testinfra's ``local://`` backend)."""
        import testinfra  # on first use: most runs start without a host-side probe

        return cls(testinfra.get_host("local://"))

    @classmethod
    def ssh(cls, url: str, ssh_config: str = "") -> HostHandle:
        """Another machine, through testinfra's ssh backend: one ssh command per reading,
        each a session on one connection of ours (:class:`~container_claims.runtimes.remote.
        MasterConnection`, ended by :meth:`close`), not testinfra's own kept master, which
        would outlive the run. A machine that does not answer yet gets no shared connection:
        each reading then says why it could not be made."""
        import testinfra

        target = SshTarget.parse(url, ssh_config)
        master = MasterConnection(target)
        shared = ""
        with contextlib.suppress(RuntimeUnavailable):
            shared = f"-o ControlMaster=no -o ControlPath={master.open()}"
        host = testinfra.get_host(
            url, ssh_config=ssh_config or None, controlpersist=0, ssh_extra_args=shared or None
        )
        handle = cls(host, target=target)
        handle._master = master
        return handle

    _master: MasterConnection | None = None

    def close(self) -> None:
        """End the shared connection, if there is one."""
        if self._master is not None:
            self._master.close()

    # -- files --------------------------------------------------------------------------------

    def read_bytes(self, path: str) -> bytes:
        if self.direct:
            with open(path, "rb") as file:
                return file.read()
        return self._run_bytes("cat -- %s", path)

    def read_text(self, path: str) -> str:
        """The file's text, stripped of surrounding blanks (``/proc`` ends lines with one)."""
        return self.read_bytes(path).decode(errors="replace").strip()

    def readlink(self, path: str) -> str:
        if self.direct:
            return os.readlink(path)
        return self._run_bytes("readlink -v -- %s", path).decode(errors="replace").rstrip("\n")

    def listdir(self, path: str) -> list[str]:
        if self.direct:
            return os.listdir(path)
        text = self._run_bytes("ls -1A -- %s", path).decode(errors="replace")
        return [name for name in text.split("\n") if name]

    def lstat(self, path: str) -> Entry:
        if self.direct:
            st = os.lstat(path)
            return Entry(st.st_mode, st.st_dev, st.st_ino, st.st_blocks)
        fields = self._run_bytes("stat -c '%%f %%d %%i %%b %%B' -- %s", path).split()
        mode, device, inode, blocks, unit = (int(fields[0], 16), *map(int, fields[1:]))
        return Entry(mode, device, inode, blocks * unit // 512)

    def exists(self, path: str) -> bool:
        try:
            self.lstat(path)
        except OSError:
            return False
        return True

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory, following links (like ``os.path.isdir``)."""
        if self.direct:
            return os.path.isdir(path)
        return bool(self.host.run("test -d %s", path).rc == 0)

    def realpath(self, path: str) -> str:
        if self.direct:
            return os.path.realpath(path)
        return self._run_bytes("realpath -m -- %s", path).decode(errors="replace").rstrip("\n")

    def disk_usage(self, dirs: list[str]) -> int:
        """Bytes the disk holds for what is inside ``dirs``, hard links counted once."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for top in dirs:
            for device, inode, blocks in self._entries(top):
                if (device, inode) not in seen:
                    seen.add((device, inode))
                    total += blocks * 512
        return total

    def _entries(self, top: str) -> list[tuple[int, int, int]]:
        """``(device, inode, 512-byte blocks)`` of everything below ``top``: on another
        machine in one ``find`` (GNU's ``-printf``), not a command per file."""
        if self.direct:
            found = []
            for root, subdirs, files in os.walk(top):
                for name in subdirs + files:
                    try:
                        entry = self.lstat(os.path.join(root, name))
                    except OSError:  # it went away while we looked
                        continue
                    found.append((entry.device, entry.inode, entry.blocks))
            return found
        listing = self._run_bytes("find %s -mindepth 1 -printf '%%D %%i %%b\\n'", top)
        return [
            (int(device), int(inode), int(blocks))
            for device, inode, blocks in (line.split() for line in listing.decode().splitlines())
        ]

    # -- the system ---------------------------------------------------------------------------

    def mountinfo(self, pid: int | str = "self") -> list[dict[str, Any]]:
        """A process's mount table (see :func:`container_claims.hostfs.parse_mountinfo`);
        ``pid="self"``: the host's own (see :meth:`namespace`)."""
        pid = self.own if pid == "self" else pid
        return parse_mountinfo(self.read_bytes(f"/proc/{pid}/mountinfo").decode(errors="replace"))

    def namespace(self, pid: int | str, kind: str) -> str | None:
        """The namespace ``kind`` of a process (``pid:[4026531836]``), None if unreadable.

        ``pid="self"`` is the host's own: this process locally, the command's over ssh, the
        engine's process that holds the reader through a reader container. It is read once
        per kind: a probe compares many processes with it, each reading a command elsewhere.
        """
        if pid == "self" and kind in self._own_namespaces:
            return self._own_namespaces[kind]
        try:
            found = self.readlink(f"/proc/{self.own if pid == 'self' else pid}/ns/{kind}")
        except OSError:
            return None
        if pid == "self":
            self._own_namespaces[kind] = found
        return found

    def namespaces(self, pid: int | str, kinds: tuple[str, ...]) -> dict[str, str | None]:
        """The namespaces ``kinds`` of a process, as :meth:`namespace` reads each: on another
        machine or through a reader in one command, not one per kind."""
        if self.direct or (pid == "self" and set(kinds) <= set(self._own_namespaces)):
            return {kind: self.namespace(pid, kind) for kind in kinds}
        command = _NAMESPACES.replace("KINDS", " ".join(["%s"] * len(kinds)))
        listing = self._run_bytes(command, str(self.own if pid == "self" else pid), *kinds)
        found: dict[str, str | None] = dict.fromkeys(kinds)
        for line in listing.decode(errors="replace").splitlines():
            kind, _, link = line.partition(" ")
            if kind in found and link:
                found[kind] = link
        if pid == "self":
            self._own_namespaces.update({k: v for k, v in found.items() if v is not None})
        return found

    def processes(self) -> list[tuple[int, str, list[int]]]:
        """Every process of the host that can be read: its PID, its PID namespace
        (``pid:[4026531836]``) and its ``NSpid`` (its PID in each namespace, the host's
        first). In one command on another machine: a scan of the process table is then one
        reading, not one per process."""
        found: list[tuple[int, str, list[int]]] = []
        if self.direct:
            for name in os.listdir("/proc"):
                if not name.isdigit():
                    continue
                try:
                    namespace = os.readlink(f"/proc/{name}/ns/pid")
                    with open(f"/proc/{name}/status", "rb") as status:
                        nspid = _nspid(status.read().decode(errors="replace"))
                except OSError:
                    continue  # it ended while we looked, or is not ours to read
                found.append((int(name), namespace, nspid))
            return found
        listing = self._run_bytes(_PROCESSES).decode(errors="replace")
        for line in listing.splitlines():
            pid, namespace, *levels = line.split()
            if pid.isdigit() and all(level.isdigit() for level in levels):
                found.append((int(pid), namespace, [int(level) for level in levels]))
        return found

    def kernel_release(self) -> str:
        return os.uname().release if self.direct else self._line("uname -r")

    def hostname(self) -> str:
        return os.uname().nodename if self.direct else self._line("uname -n")

    def which(self, program: str) -> str:
        """The host's path of ``program``, "" when it has none."""
        try:
            return str(self.host.find_command(program))
        except ValueError:
            return ""

    # -- changes, each undone by the caller ----------------------------------------------------
    # What a probe makes on the host to see whether a container sees it. Names and contents
    # are the probe's own (a marker's run id and token), never a scenario's text.

    def create_file(self, path: str, text: str) -> None:
        """A new file; ``OSError`` if anything is at ``path`` already."""
        if self.reader is not None:  # its own root is read-only
            self.reader.create_file(path, text)
            return
        if self.direct:
            with open(path, "x", encoding="utf-8") as file:
                file.write(text)
            return
        self._run_bytes("set -C && printf '%%s' %s > %s", text, path)

    def remove_file(self, path: str) -> None:
        """Remove a file (nothing if it is gone)."""
        if self.reader is not None:
            self.reader.remove_file(path)
            return
        if self.direct:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        self._run_bytes("rm -f -- %s", path)

    def hold_process(self, name: str, seconds: int) -> HeldProcess | HeldInReader | LocalProcess:
        """A ``sleep`` running under the name ``name`` (its ``argv[0]``) until ``stop()``, or
        the run's end; ``pid`` is its PID on the host. The process of ours (the sleep here,
        the ssh holding it on another machine, the exec holding it in a reader) is in the
        run's ledger."""
        if self.reader is not None:
            return self.reader.hold_process(name, seconds)
        if self.target is None:
            local = LocalProcess(name, seconds)
            ledger.record_process(local.pid, "marker process")
            return local
        held = HeldProcess(self.target, name, seconds)
        held.start()
        if held.process is not None:  # the remote sleep ends when this ssh ends
            ledger.record_process(held.process.pid, f"ssh holding a process on {held.target.url}")
        return held

    def tcp_read(
        self, port: int, idle: float = 2.0, limit: int = 65536, deadline: float = math.inf
    ) -> TcpReply:
        """Connect to the host's ``127.0.0.1:port`` and read until it closes, ``limit`` bytes
        or ``idle`` seconds of silence: what came, and which ended the read. Loopback only.
        Raises :class:`~container_claims.errors.ReadCutShort` when ``deadline`` cuts the read."""
        if self.reader is not None:
            return self.reader.tcp_read(port, idle=idle, limit=limit, deadline=deadline)
        if self.target is not None:
            try:
                return read_tcp(self.target, port, idle=idle, limit=limit, deadline=deadline)
            except RuntimeUnavailable as exc:
                raise OSError(errno.EHOSTUNREACH, str(exc)) from None
        connect_within = max(0.1, min(idle, deadline - time.monotonic()))
        try:
            connection = socket.create_connection(("127.0.0.1", port), timeout=connect_within)
        except OSError:
            return REFUSED
        with connection:
            try:
                return read_until_quiet(connection, idle=idle, limit=limit, deadline=deadline)
            except OSError:  # reset: as good as refused
                return REFUSED

    # -- commands -----------------------------------------------------------------------------

    def _run_bytes(self, command: str, *args: str) -> bytes:
        try:
            result = self.host.run(command, *args)
        except RuntimeError as exc:  # testinfra's ssh backend: the machine did not answer
            raise OSError(errno.EHOSTUNREACH, f"the host did not answer: {exc}") from None
        if result.rc != 0:
            said = result.stderr.strip().splitlines()
            where = args[-1] if args else command
            raise OSError(errno.EIO, said[-1] if said else f"exit status {result.rc}", where)
        return bytes(result.stdout_bytes)

    def _line(self, command: str) -> str:
        return self._run_bytes(command).decode(errors="replace").strip()


#: :meth:`HostHandle.processes` on another machine: each process's PID, PID namespace and
#: NSpid, a line each; processes that end or cannot be read while it runs are left out.
_PROCESSES = (
    "cd /proc && for d in [0-9]*; do "
    'n=$(readlink "$d/ns/pid" 2>/dev/null) || continue; '
    "s=$(grep '^NSpid:' \"$d/status\" 2>/dev/null) || continue; "
    'echo "$d $n ${s#NSpid:}"; done'
)


#: :meth:`HostHandle.namespaces` elsewhere: ``KIND LINK`` a line each, the link empty when it
#: cannot be read (KINDS: a quoted argument each).
_NAMESPACES = (
    "d=/proc/%s/ns; for k in KINDS; do "
    'printf "%%s %%s\\n" "$k" "$(readlink "$d/$k" 2>/dev/null)"; done'
)


def _argv0(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return ""


def _nspid(status: str) -> list[int]:
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return [int(n) for n in line.split()[1:]]
    return []


class LocalProcess:
    """:meth:`HostHandle.hold_process` on this machine: a child of ours, dying with the run."""

    def __init__(self, name: str, seconds: int, timeout: float = 10.0) -> None:
        # bash's exec -a names the sleep (its argv[0]), as on another machine; the name is
        # there once bash has become the sleep, which this waits for.
        self.process = processes.start(
            ["bash", "-c", HELD_PROCESS, name, str(int(seconds))],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = self.process.pid
        deadline = time.monotonic() + timeout
        while _argv0(self.pid) != name:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeUnavailable(f"the process {name} did not start on this machine")
            time.sleep(0.005)

    def stop(self) -> None:
        end_child(self.process)
