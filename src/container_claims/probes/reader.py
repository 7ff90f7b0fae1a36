"""A host read through its engine: one reader container per runtime (``host: engine``).

An engine whose machine the suite cannot shell into (a CI runner's engine through a mounted
socket, ``DOCKER_HOST=tcp://...``, Docker Desktop's VM) still runs containers there. For a
runtimes entry with ``host: engine``, the run starts one reader container on that engine, on
the first host-side reading, and removes it when the run ends:

* in the host's PID, UTS and cgroup namespaces (``--pid=host --uts=host --cgroupns=host``), so
  ``/proc/self`` is a host process, the hostname the host's, cgroup paths the host's;
* with the host's root bound read-only at ``/host`` (with what is mounted below it: ``/proc``,
  ``/sys/fs/cgroup``, the engine's storage), and each reading made as
  ``BINARY exec READER chroot /host /bin/sh -c COMMAND``, by the host's own programs, so paths,
  links and ``PATH`` are the host's, as over ssh;
* with no network, every capability dropped but three (``SYS_CHROOT`` for the chroot,
  ``SYS_PTRACE`` for the ``/proc/PID/ns``, ``root`` and ``mountinfo`` of processes with more
  capabilities than the reader's: the engine's, other containers', ``DAC_READ_SEARCH`` for
  the engine's storage, whose files belong to the containers' users) and
  ``no-new-privileges``; never ``--privileged``;
* from the run's image (local already: nothing is pulled), on the engine's default OCI
  runtime (the entry's ``run_args`` apply, but its ``--runtime``: a sandbox such as runsc has
  a kernel of its own; a Podman entry's OCI runtime is kept, see :func:`reader_run_args`),
  named and labelled like every container of the run, so a killed run's reader is swept
  with the rest.

Readings go through testinfra's docker (or podman) backend (:mod:`.reader_backends`), run
with the runtime's binary and environment and within :data:`READING_TIMEOUT`, into the same
:class:`~container_claims.probes.handle.HostHandle` as local and ssh readings. The host's own
namespaces (``self`` to the handle) are those of the reader's parent, the engine's process
that holds it (containerd's shim, Podman's conmon): the reader's mounts are its container's.

What a probe changes on the host is done through the engine too, and undone by the probe:

* the marker process is a named ``sleep`` of the image's bash held in the reader (in the host's
  PID namespace), ended by its PID through the reader, and with the reader
  (:mod:`.held_in_reader`);
* the marker file is made and removed by a container of a moment that binds the host's root
  writable and runs one ``printf`` (or ``rm``) of that file, nothing else;
* a connection to the host's loopback (``tcp_read``) is made by a container of a moment in the
  host's network namespace, whose bash relays the connection on its standard output.

An engine that refuses the reader, or a reader that cannot read the host as its root (a
user namespace of its own, as under a rootless engine; a security option that forbids the
chroot or reading other processes), is checked once when it starts: the runtime's host-side
readings are then errors naming why, never readings of something else.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import socket
import subprocess
import tempfile
import time
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from container_claims import processes
from container_claims.errors import ReadCutShort, RuntimeUnavailable
from container_claims.probes.held_in_reader import HeldInReader
from container_claims.probes.reader_backends import (
    HOST_ROOT,
    READING_TIMEOUT,
    DockerReaderBackend,
    PodmanReaderBackend,
)
from container_claims.processes import end_child, last_line, run_bounded
from container_claims.runtimes.base import RUN_LABEL, RuntimeConfig
from container_claims.runtimes.engine_fields import SANDBOX_OCI_RUNTIMES, named_oci_runtime
from container_claims.runtimes.remote import REFUSED, TcpReply, read_until_quiet

if TYPE_CHECKING:
    from container_claims.probes.handle import HostHandle

#: The capabilities the reader keeps (see the module's docstring for what each one reads).
READER_CAPABILITIES = ("SYS_CHROOT", "SYS_PTRACE", "DAC_READ_SEARCH")
#: ``/proc/self/uid_map`` of a process in the host's own user namespace.
HOST_UID_MAP = ["0", "0", "4294967295"]
#: What the connecting container prints once it is connected, before the server's bytes.
_CONNECTED = b"connected\n"
#: Its bash: connect to the host's loopback port ``$1`` and copy what comes back; exit
#: ``_REFUSED`` if refused. Only our words; the port is an argument.
_REFUSED = 3
_CONNECT = (
    f'exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || exit {_REFUSED}; '
    "printf 'connected\\n'; exec cat <&3"
)


def reader_run_args(run_args: tuple[str, ...], kind: str = "docker") -> list[str]:
    """The entry's run arguments without its ``--runtime``: the reader must share the host's
    kernel and namespaces, which the engine's default OCI runtime gives and a sandbox does not.

    Podman's default is whichever OCI runtime its packages find first (installing crun makes
    it crun, which refuses this machine's hybrid cgroups): a Podman reader keeps the entry's
    own, unless that is a sandbox."""
    named = named_oci_runtime(run_args)
    if kind == "podman" and PurePosixPath(named).name not in SANDBOX_OCI_RUNTIMES:
        return list(run_args)
    kept: list[str] = []
    skip = False
    for arg in run_args:
        if skip:
            skip = False
        elif arg == "--runtime":
            skip = True
        elif not arg.startswith("--runtime="):
            kept.append(arg)
    return kept


class HostReader:
    """One runtime's reader container, and the containers of a moment that change the host.

    ``HostReader(config, env, image=..., run_id=...).open()`` starts and checks the reader and
    gives the handle readings go through; :meth:`close` removes it (idempotent).
    """

    def __init__(
        self, config: RuntimeConfig, env: dict[str, str], *, image: str, run_id: str
    ) -> None:
        self.config, self.env, self.image, self.run_id = config, env, image, run_id
        self.name = self._name("host-reader")
        self.started = False

    def _name(self, role: str) -> str:
        return f"cc-{self.run_id}-{role}-{secrets.token_hex(3)}"

    def _run_argv(self, name: str, *options: str) -> list[str]:
        """``BINARY run`` of a container of ours on this engine, with ``options`` last."""
        return [
            self.config.binary,
            "run",
            *reader_run_args(self.config.run_args, self.config.kind),
            f"--name={name}",
            f"--label={RUN_LABEL}={self.run_id}",
            "--pull=never",  # the run's image is there; a reader must not fetch anything
            "--security-opt=no-new-privileges",
            *options,
        ]

    def cli(self, args: list[str], timeout: float, what: str) -> str:
        """Run the runtime's binary; its stdout, or :class:`RuntimeUnavailable` naming ``what``
        and what it said."""
        try:
            done = run_bounded(args, timeout=timeout, limit=65536, env=self.env)
        except OSError as exc:
            raise RuntimeUnavailable(f"{self.config.binary!r} cannot be run: {exc}") from None
        if done.timed_out:
            raise RuntimeUnavailable(f"{what}: no answer within {timeout:g} s")
        if done.returncode != 0:
            said = last_line(done.stderr) or last_line(done.stdout) or "nothing"
            raise RuntimeUnavailable(f"{what}: {said} (exit {done.returncode})")
        return done.stdout

    # -- the reader ---------------------------------------------------------------------------

    def open(self, timeout: float) -> HostHandle:
        """Start the reader and check that it reads the host as its root; the handle for
        readings through it. :class:`RuntimeUnavailable` naming why it cannot."""
        import testinfra.host

        from container_claims.probes.handle import HostHandle

        argv = self._run_argv(
            self.name,
            "--detach",
            "--network=none",
            "--pid=host",
            "--uts=host",
            "--cgroupns=host",
            "--cap-drop=ALL",
            *(f"--cap-add={capability}" for capability in READER_CAPABILITIES),
            f"--volume=/:{HOST_ROOT}:ro",
            "--entrypoint=sleep",
            "--",
            self.image,
            "infinity",
        )
        self.started = True  # from here on, close() removes it, whatever came of the run
        self.cli(argv, timeout, f"the engine refused the host reader {self.name}")
        backend_class = PodmanReaderBackend if self.config.kind == "podman" else DockerReaderBackend
        backend = backend_class(self.name, self.config.binary, self.env)
        host = testinfra.host.Host(backend)
        backend.set_host(host)
        handle = HostHandle(host, direct=False, reader=self)
        handle.own = str(self._engine_process(handle, timeout))
        return handle

    def _engine_process(self, handle: HostHandle, timeout: float) -> int:
        """The engine's process that holds the reader (its parent), after checking that the
        reader is in the host's user and PID namespaces and may read that process."""
        inspected = self.cli(
            [self.config.binary, "inspect", "--format={{.State.Pid}}", self.name],
            timeout,
            f"the engine could not tell the host reader {self.name}'s process",
        )
        pid = inspected.strip()

        def refuse(why: str) -> RuntimeUnavailable:
            return RuntimeUnavailable(f"the host reader {self.name} cannot read the host: {why}")

        try:
            uid_map = handle.read_text("/proc/self/uid_map").split()
        except OSError as exc:
            raise refuse(str(exc.strerror or exc)) from None
        if uid_map != HOST_UID_MAP:
            raise refuse(
                f"it runs in a user namespace of its own (uid_map {' '.join(uid_map)!r}), as "
                "a rootless engine's containers do, not as the host's root"
            )
        try:
            status = handle.read_text(f"/proc/{pid}/status")
            parent = next(
                line.split()[1] for line in status.splitlines() if line.startswith("PPid:")
            )
            theirs = handle.readlink(f"/proc/{parent}/ns/pid")
        except (OSError, StopIteration, IndexError) as exc:
            raise refuse(
                f"it cannot read the engine's process that holds it ({exc}): "
                "a security option may forbid reading other processes"
            ) from None
        if handle.readlink("/proc/self/ns/pid") != theirs:
            raise refuse("it is not in the host's PID namespace (the engine ignored --pid=host)")
        return int(parent)

    def close(self) -> None:
        """Remove the reader (its held processes end with it); nothing if it is gone."""
        if self.started:
            self.started = False
            self._remove(self.name)

    def _remove(self, name: str) -> None:
        with contextlib.suppress(RuntimeUnavailable):
            self.cli([self.config.binary, "rm", "--force", name], 60, f"could not remove {name}")

    # -- changes, each undone by the caller ----------------------------------------------------

    def hold_process(self, name: str, seconds: int) -> HeldInReader:
        """A ``sleep`` named ``name`` held in the reader: a host process in the host's PID
        namespace, whose ``pid`` is the host's."""
        held = HeldInReader(self, name, seconds)
        held.start()
        return held

    def create_file(self, path: str, text: str) -> None:
        """A new file at the host's ``path``; ``OSError`` if anything is there already."""
        self._write(path, 'set -C && printf \'%s\' "$2" > "$HOST$1"', text)

    def remove_file(self, path: str) -> None:
        """Remove the host's file at ``path`` (nothing if it is gone)."""
        self._write(path, 'rm -f -- "$HOST$1"')

    def _write(self, path: str, script: str, *args: str) -> None:
        """One command of ours on the host's root, bound writable in a container of a moment."""
        argv = self._run_argv(
            self._name("host-writer"),
            "--rm",
            "--network=none",
            "--cap-drop=ALL",
            f"--env=HOST={HOST_ROOT}",
            f"--volume=/:{HOST_ROOT}",
            "--entrypoint=/bin/sh",
            "--",
            self.image,
            "-c",
            script,
            "sh",
            path,
            *args,
        )
        try:
            self.cli(argv, READING_TIMEOUT, f"could not change {path} on the host")
        except RuntimeUnavailable as exc:
            raise OSError(str(exc)) from None

    def tcp_read(
        self, port: int, idle: float = 2.0, limit: int = 65536, deadline: float = math.inf
    ) -> TcpReply:
        """Connect to the host's ``127.0.0.1:port`` from a container of a moment in the host's
        network namespace, and read until it closes, ``limit`` bytes, or ``idle`` seconds of
        silence: what came, and which ended the read. The wait counts from the connection, not from the
        container's start. Raises :class:`ReadCutShort` when ``deadline`` cuts the read."""
        name = self._name("host-connect")
        argv = self._run_argv(
            name,
            "--rm",
            "--network=host",
            "--cap-drop=ALL",
            "--entrypoint=bash",
            "--",
            self.image,
            "-c",
            _CONNECT,
            "bash",
            str(int(port)),
        )
        ours, theirs = socket.socketpair()
        with tempfile.TemporaryFile() as errors, ours:
            try:
                process = processes.start(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=theirs.fileno(),
                    stderr=errors,
                    env=self.env,
                )
            except OSError as exc:
                raise OSError(f"{self.config.binary!r} cannot be run: {exc}") from None
            finally:
                theirs.close()
            try:
                return self._relay(ours, process, errors, idle, limit, deadline)
            finally:
                end_child(process)
                self._remove(name)

    def _relay(
        self,
        connection: socket.socket,
        process: subprocess.Popen[bytes],
        errors: Any,
        idle: float,
        limit: int,
        deadline: float,
    ) -> TcpReply:
        """The connecting container's line that says it connected, then what the port sent."""
        start_by = min(deadline, time.monotonic() + self.config.start_timeout)
        head = b""
        while len(head) < len(_CONNECTED):
            connection.settimeout(max(0.05, start_by - time.monotonic()))
            try:
                chunk = connection.recv(len(_CONNECTED) - len(head))
            except TimeoutError:
                chunk = b""
            if not chunk:  # it ended (refused, or the engine failed), or is still starting
                try:
                    status = process.wait(timeout=max(0.1, start_by - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise OSError("the connecting container gave no answer in time") from None
                if status == _REFUSED:
                    return REFUSED
                errors.seek(0)
                said = last_line(errors.read(4096).decode(errors="replace")) or "nothing"
                raise OSError(f"the connecting container failed (exit {status}): {said}")
            head += chunk
        if head != _CONNECTED:
            raise OSError(f"the connecting container said {head!r}, not that it connected")
        try:
            return read_until_quiet(connection, idle=idle, limit=limit, deadline=deadline)
        except ReadCutShort:
            raise
        except OSError:  # reset: as good as refused
            return REFUSED


def remove_marker(config: RuntimeConfig, image: str, path: str, run_id: str) -> None:
    """A dead run's marker file on the host of an engine read through it (its sweep's): a
    container of a moment labelled with that run's id removes it. ``OSError`` if it cannot."""
    from container_claims.runtimes import open_runtime

    with open_runtime(config, image=image, run_id=run_id) as runtime:
        HostReader(config, runtime.env(), image=image, run_id=run_id).remove_file(path)


__all__ = ["HOST_ROOT", "HostReader", "reader_run_args", "remove_marker"]
