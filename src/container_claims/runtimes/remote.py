"""Runtimes on another machine, reached over ssh: the address, and the engine's socket.

A runtimes file entry may name the machine its engine runs on::

    - name: docker-edge
      kind: docker
      host: ssh://root@edge-1:2222       # user and port optional; never a password
      ssh_config: fleet.ssh_config       # optional: an ssh config file (relative to this file)

The engine is reached through one ssh connection per runtime, made by OpenSSH itself:
``ssh -N -L LOCAL.sock:/var/run/docker.sock`` forwards the remote engine's socket to a socket
of the run's own, which the Docker CLI and SDK then use as ``unix://``. That is the Docker
CLI's ``DOCKER_HOST=ssh://`` transport without a new ssh handshake for every command, and
``ssh_config`` reaches the CLI too (it cannot be given ``-F``). Host-side readings go through
testinfra's ssh backend for the same address and config
(:meth:`~container_claims.run_services.RunServices.host`).

What testinfra's one-command-per-reading cannot do is done by ssh processes of ours, each
ended by its PID with the scenario or the run (and dying with the run):

* :class:`ReverseForward`: ``ssh -N -R 0:127.0.0.1:PORT``, so that the remote engine reaches
  a service of this machine (the run's loopback registry) on *its* loopback, at a port its
  sshd picks; the remote sshd binds it to its loopback only (``GatewayPorts`` off, the
  default);
* :class:`HeldProcess`: ``ssh -tt`` running a named ``sleep`` there (the marker process), which
  the remote terminal's hang-up ends when our ssh ends;
* :func:`read_tcp`: ``ssh -L SOCKET:127.0.0.1:PORT``, a connection to the remote machine's
  loopback.

Addresses are data from a runtimes file, so they are checked as addresses: a name that could
be read as an ssh option, a password, a path or a query is refused. Every remote command is
made of this module's own words and quoted values (``shlex.quote``), never a scenario's text.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple, TypeVar

from container_claims import ledger, processes
from container_claims.errors import InputError, ReadCutShort, RuntimeUnavailable
from container_claims.paths import TEMP_PREFIX
from container_claims.processes import end_child

#: ``ssh://[user@]name[:port]``: a user and a name as ssh and DNS have them, nothing else.
_ADDRESS = re.compile(
    r"ssh://(?:(?P<user>[a-z_][a-z0-9_.-]{0,31})@)?"
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
#: How long a forward or a remote process may take to be ready.
FORWARD_TIMEOUT = 20.0
#: ssh's own exit status for a connection or forwarding that failed (not the remote command's).
SSH_FAILED = 255

_T = TypeVar("_T")


@dataclass(frozen=True)
class SshTarget:
    """A machine reached over ssh: ``ssh://[user@]name[:port]``, and an ssh config file."""

    user: str
    name: str
    port: int | None
    ssh_config: str = ""

    @classmethod
    def parse(cls, address: str, ssh_config: str = "") -> SshTarget:
        """The target of ``address``; :class:`InputError` saying what form it must have."""
        match = _ADDRESS.fullmatch(address)
        if match is None:
            raise InputError(
                f"host {address!r} is not an address of the form ssh://[user@]name[:port] "
                "(no password, path or query: give keys through ssh's own config)"
            )
        port = int(match["port"]) if match["port"] else None
        if port is not None and not 0 < port < 65536:
            raise InputError(f"host {address!r}: port {port} is not a TCP port")
        return cls(match["user"] or "", match["name"], port, ssh_config)

    @property
    def url(self) -> str:
        """The address again, as testinfra and the Docker CLI take it."""
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"ssh://{user}{self.name}{port}"

    def ssh_argv(self, *options: str) -> list[str]:
        """``ssh`` with this target's config, user and port, then ``options``, then the name
        after ``--`` (so a name can never be read as an option)."""
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        if self.ssh_config:
            argv += ["-F", self.ssh_config]
        if self.user:
            argv += ["-l", self.user]
        if self.port:
            argv += ["-p", str(self.port)]
        return [*argv, *options, "--", self.name]

    def command_argv(self, words: list[str], *options: str) -> list[str]:
        """``ssh`` running ``words`` on the machine, each word quoted for its shell."""
        return [*self.ssh_argv(*options), shlex.join(words)]

    def run(self, words: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``words`` there; :class:`RuntimeUnavailable` when the machine does not answer."""
        try:
            done = processes.run(
                self.command_argv(words),
                death_signal=signal.SIGTERM,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeUnavailable(f"{self.url} gave no answer within {timeout:g} s") from None
        if done.returncode == SSH_FAILED:
            said = done.stderr.strip()[-300:] or "nothing"
            raise RuntimeUnavailable(f"cannot reach {self.url} over ssh: {said}")
        return done


def _start_ssh(
    argv: list[str],
    ready: Callable[[bytes], _T | None],
    what: str,
    timeout: float,
    out: IO[bytes] | None = None,
) -> tuple[subprocess.Popen[bytes], _T]:
    """Start an ssh process of ours and wait until ``ready(its output so far)`` gives
    something; :class:`RuntimeUnavailable` with ssh's last words if it ends or times out.
    Its output goes to ``out`` (:func:`_said` reads it), by default an anonymous file:
    nothing is left on disk, however the run ends."""
    with contextlib.ExitStack() as stack:
        if out is None:
            out = stack.enter_context(tempfile.TemporaryFile())
        process = processes.start(
            argv,
            death_signal=signal.SIGTERM,
            stdin=subprocess.PIPE,  # held open: an ended stdin would end a remote command
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while (value := ready(said := _said(out))) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                _end_ssh(process)
                words = said.decode(errors="replace").strip()[-300:] or "nothing"
                raise RuntimeUnavailable(f"cannot {what} over ssh: {words}")
            time.sleep(0.05)
    return process, value


def _said(out: IO[bytes]) -> bytes:
    """What an ssh process of ours has written so far (its first 64 KiB)."""
    return os.pread(out.fileno(), 65536, 0)


def _end_ssh(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None:
        if process.stdin is not None:
            process.stdin.close()
        end_child(process)


class ForwardedSocket:
    """The remote engine's socket, forwarded to ``local`` by one ``ssh -N -L`` of ours.

    The ssh process dies with the run (parent-death signal); :meth:`close` ends it by its PID.
    """

    def __init__(self, target: SshTarget, local: Path, remote: str) -> None:
        self.target, self.local, self.remote = target, local, remote
        self.process: subprocess.Popen[bytes] | None = None

    def open(self, timeout: float = FORWARD_TIMEOUT) -> str:
        """Start forwarding; the local socket's address (``unix://...``) once it is there."""
        argv = self.target.ssh_argv(
            "-N",
            "-o", "ExitOnForwardFailure=yes",
            "-o", "StreamLocalBindUnlink=yes",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
            "-L", f"{self.local}:{self.remote}",
        )  # fmt: skip
        self.process, _ = _start_ssh(
            argv,
            lambda _: True if self.local.exists() else None,
            f"reach the engine of {self.target.url}",
            timeout,
        )
        return f"unix://{self.local}"

    def close(self) -> None:
        _end_ssh(self.process)
        self.process = None
        self.local.unlink(missing_ok=True)


class MasterConnection:
    """One ssh connection of ours to a machine that other ssh commands share (``-S``): a
    host-side reading is then a new session on it, not a new connection with its handshake
    (a probe that scans the process table makes hundreds). It lives as long as the run
    uses the machine (``ControlPersist=no``): :meth:`close` ends it by its PID, and it dies
    with the run."""

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self.process: subprocess.Popen[bytes] | None = None
        self.directory: Path | None = None

    @property
    def control_path(self) -> Path | None:
        return self.directory / "control" if self.directory is not None else None

    def open(self, timeout: float = FORWARD_TIMEOUT) -> Path:
        """Connect; the control socket's path. :class:`RuntimeUnavailable` if it cannot."""
        self.directory = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}ssh-"))
        ledger.record("dir", path=str(self.directory))
        control = self.directory / "control"
        argv = self.target.ssh_argv(
            "-M", "-N",
            "-S", str(control),
            "-o", "ControlPersist=no",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
        )  # fmt: skip
        try:
            self.process, _ = _start_ssh(
                argv,
                lambda _: True if control.exists() else None,
                f"reach {self.target.url}",
                timeout,
            )
        except RuntimeUnavailable:
            self.close()
            raise
        ledger.record_process(self.process.pid, f"ssh to {self.target.url}")
        return control

    def close(self) -> None:
        _end_ssh(self.process)
        self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


#: What ssh says (at LogLevel INFO) once the remote sshd has bound a port of its choosing.
_ALLOCATED = re.compile(rb"Allocated port (\d+) for remote forward")


class ReverseForward:
    """A TCP port of this machine's loopback, reachable on the remote machine's loopback at
    :attr:`remote_port` (picked by its sshd), through one ``ssh -N -R`` of ours."""

    def __init__(self, target: SshTarget, local_port: int) -> None:
        self.target, self.local_port = target, local_port
        self.process: subprocess.Popen[bytes] | None = None
        self.remote_port = 0

    def open(self, timeout: float = FORWARD_TIMEOUT) -> int:
        argv = self.target.ssh_argv(
            "-N",
            "-o", "LogLevel=INFO",  # the line that names the port, whatever the config says
            "-o", "ExitOnForwardFailure=yes",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
            "-R", f"127.0.0.1:0:127.0.0.1:{int(self.local_port)}",
        )  # fmt: skip

        def allocated(said: bytes) -> int | None:
            found = _ALLOCATED.search(said)
            return int(found[1]) if found else None

        what = f"forward port {self.local_port} to {self.target.url}"
        self.process, self.remote_port = _start_ssh(argv, allocated, what, timeout)
        return self.remote_port

    def close(self) -> None:
        _end_ssh(self.process)
        self.process = None


#: The command of a held process (bash's): it says its PID, then becomes ``sleep`` under the
#: name it is given (``exec -a``). Only our words; the name is an argument. ``PID_LINE`` finds
#: the PID it said: the first line of digits alone (ssh may warn before it).
HELD_PROCESS = 'echo "$$"; exec -a "$0" sleep "$1"'
PID_LINE = re.compile(rb"^(\d+)\r?\n", re.MULTILINE)


class HeldProcess:
    """A ``sleep`` named ``name`` on the remote machine, for as long as our ``ssh -tt`` runs:
    when it ends (by :meth:`stop`, or with the run), the remote terminal hangs up and the
    kernel ends the sleep with SIGHUP. Needs bash on the remote machine."""

    def __init__(self, target: SshTarget, name: str, seconds: int) -> None:
        self.target, self.name, self.seconds = target, name, seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = 0  # on the remote machine

    def start(self, timeout: float = FORWARD_TIMEOUT) -> int:
        argv = self.target.command_argv(
            ["exec", "bash", "-c", HELD_PROCESS, self.name, str(int(self.seconds))], "-tt"
        )

        def said_pid(said: bytes) -> int | None:
            found = PID_LINE.search(said)
            return int(found[1]) if found else None

        what = f"start a process on {self.target.url}"
        self.process, self.pid = _start_ssh(argv, said_pid, what, timeout)
        return self.pid

    def stop(self) -> None:
        _end_ssh(self.process)
        self.process = None


#: What ssh says when the remote machine refused a forwarded connection, and how long after
#: closing ours it may say it.
_OPEN_FAILED = b"open failed"
REFUSAL_WAIT = 2.0


class TcpReply(NamedTuple):
    """What one connection to a port gave: whether it was made, the bytes that came, and how
    the read ended (``ended``): ``closed`` by the peer, ``quiet`` (``idle`` seconds without a
    byte), ``limit`` (as many bytes as were asked for); "" when no connection was made."""

    connected: bool
    received: bytes = b""
    ended: str = ""


REFUSED = TcpReply(False)


def read_until_quiet(
    connection: socket.socket, *, idle: float, limit: int, deadline: float
) -> TcpReply:
    """What ``connection`` sends until it closes, ``limit`` bytes have come, or ``idle``
    seconds pass without a byte, and which of these ended the read. Raises
    :class:`ReadCutShort` when ``deadline`` (a :func:`time.monotonic` instant) comes first: a
    peer that sends a byte now and then must not keep a read going past its step's timeout."""
    received = bytearray()
    while len(received) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        connection.settimeout(min(idle, left))
        try:
            chunk = connection.recv(min(4096, limit - len(received)))
        except TimeoutError:
            if idle < left:  # silence for ``idle``: what came is all there is
                return TcpReply(True, bytes(received), "quiet")
            break
        if not chunk:
            return TcpReply(True, bytes(received), "closed")
        received += chunk
    else:
        return TcpReply(True, bytes(received), "limit")
    raise ReadCutShort(
        f"still open when the deadline came, after {len(received):,} bytes", bytes(received)
    )


def read_tcp(
    target: SshTarget,
    port: int,
    *,
    idle: float = 2.0,
    limit: int = 65536,
    deadline: float = math.inf,
) -> TcpReply:
    """Connect to ``127.0.0.1:port`` of the remote machine and read what comes back, until it
    closes, ``limit`` bytes, or ``idle`` seconds without a byte. A refused connection is
    :data:`REFUSED`; a machine that does not answer is
    :class:`RuntimeUnavailable`; a read that ``deadline`` cut is :class:`ReadCutShort`.

    The port is forwarded to a socket of ours (``ssh -N -L SOCKET:127.0.0.1:PORT``) and read
    once ssh is connected, so the ``idle`` wait never counts ssh's own handshake; ssh's log
    tells a refusal there from a server that closed at once. (Limit: a refusal that ssh logs
    more than :data:`REFUSAL_WAIT` after it closed ours reads as a server that closed at once:
    connected, nothing received.)
    """
    directory = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}tcp-"))
    ledger.record("dir", path=str(directory))
    local = directory / "port.sock"
    argv = target.ssh_argv(
        "-N",
        "-o", "LogLevel=INFO",  # the refusal is logged, whatever the config says
        "-o", "ExitOnForwardFailure=yes",
        "-L", f"{local}:127.0.0.1:{int(port)}",
    )  # fmt: skip
    process = None
    try:
        with tempfile.TemporaryFile() as out:
            process, _ = _start_ssh(
                argv,
                lambda _: True if local.exists() else None,
                f"reach {target.url}",
                max(0.1, min(FORWARD_TIMEOUT, deadline - time.monotonic())),
                out,
            )
            with socket.socket(socket.AF_UNIX) as connection:
                connection.settimeout(max(0.1, min(idle, deadline - time.monotonic())))
                connection.connect(str(local))
                reply = read_until_quiet(connection, idle=idle, limit=limit, deadline=deadline)
            if reply.received:
                return reply
            # Closed with nothing: refused there, or a server that closed at once. ssh logs a
            # refusal around the time it closes ours (seen up to 0.15 s after): wait for it.
            told_by = min(time.monotonic() + REFUSAL_WAIT, deadline)
            while _OPEN_FAILED not in _said(out) and time.monotonic() < told_by:
                time.sleep(0.02)
            return REFUSED if _OPEN_FAILED in _said(out) else reply
    finally:
        _end_ssh(process)
        shutil.rmtree(directory, ignore_errors=True)
