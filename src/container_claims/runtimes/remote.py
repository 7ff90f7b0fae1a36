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
(:meth:`~container_claims.session.ClaimsSession.host`).

Addresses are data from a runtimes file, so they are checked as addresses: a name that could
be read as an ssh option, a password, a path or a query is refused.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from container_claims.errors import InputError, RuntimeUnavailable
from container_claims.processes import die_with_parent_term, end_child

#: ``ssh://[user@]name[:port]``: a user and a name as ssh and DNS have them, nothing else.
_ADDRESS = re.compile(
    r"ssh://(?:(?P<user>[a-z_][a-z0-9_.-]{0,31})@)?"
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
#: The engine's socket on the remote machine.
REMOTE_DOCKER_SOCKET = "/var/run/docker.sock"
#: How long the forwarded socket may take to appear.
FORWARD_TIMEOUT = 20.0


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


class ForwardedSocket:
    """The remote engine's socket, forwarded to ``local`` by one ``ssh -N -L`` of ours.

    The ssh process dies with the run (parent-death signal); :meth:`close` ends it by its PID.
    """

    def __init__(self, target: SshTarget, local: Path, remote: str = REMOTE_DOCKER_SOCKET) -> None:
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
        log = self.local.with_suffix(".log")
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent_term,
            )
        deadline = time.monotonic() + timeout
        while not self.local.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = log.read_text(errors="replace").strip()[-300:] or "nothing"
                self.close()
                raise RuntimeUnavailable(
                    f"cannot reach the engine of {self.target.url} over ssh: {said}"
                )
            time.sleep(0.05)
        return f"unix://{self.local}"

    def close(self) -> None:
        if self.process is not None:
            end_child(self.process)
            self.process = None
        self.local.unlink(missing_ok=True)
