"""An engine on another machine (``host: ssh://...``), reached through ssh processes of ours.

Its API socket is forwarded to a socket here (the SDK and the CLI talk to that), and the run's
loopback registry is forwarded to that machine's loopback (``ssh -R``), so the engine pulls
from it as an engine on this machine does. Each is opened on first use, recorded in the run's
ledger, and ended by :meth:`RemoteEngine.close`.
"""

from __future__ import annotations

import shutil

from container_claims import ledger
from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.paths import make_temp_dir
from container_claims.runtimes.remote import ForwardedSocket, ReverseForward, SshTarget


class RemoteEngine:
    """The engine whose API listens on ``remote_socket`` of the machine ``host``."""

    def __init__(self, host: str, ssh_config: str, remote_socket: str) -> None:
        self.host, self.ssh_config, self.remote_socket = host, ssh_config, remote_socket
        self._forward: ForwardedSocket | None = None
        self._url = ""
        self._reverse: ReverseForward | None = None

    def url(self) -> str:
        """The engine's API address here: its socket, forwarded over ssh."""
        if self._forward is None:
            directory = make_temp_dir("ssh")
            ledger.record("dir", path=str(directory))
            target = SshTarget.parse(self.host, self.ssh_config)
            forward = ForwardedSocket(target, directory / "engine.sock", self.remote_socket)
            try:
                self._url = forward.open()
            except BaseException:
                shutil.rmtree(directory, ignore_errors=True)
                raise
            if forward.process is not None:
                ledger.record_process(forward.process.pid, f"ssh to {target.url}")
            self._forward = forward
        return self._url

    def registry(self, registry: str) -> str:
        """The run's loopback registry (``127.0.0.1:PORT``) as the engine reaches it: through
        an ``ssh -R`` of ours to its machine's loopback, at a port its sshd picks."""
        port = int(registry.rpartition(":")[2])
        if self._reverse is None or self._reverse.local_port != port:
            self._end_reverse()
            target = SshTarget.parse(self.host, self.ssh_config)
            reverse = ReverseForward(target, port)
            try:
                reverse.open()
            except RuntimeUnavailable as exc:
                raise ObservationError(f"{self.lost()}{exc}") from None
            if reverse.process is not None:
                ledger.record_process(reverse.process.pid, f"ssh forwarding to {target.url}")
            self._reverse = reverse
        return f"127.0.0.1:{self._reverse.remote_port}"

    def lost(self) -> str:
        """When the ssh connection to the engine has ended: the words that say so, ahead of
        whatever the engine's client made of it ("" otherwise)."""
        process = self._forward.process if self._forward is not None else None
        if process is None or process.poll() is None:
            return ""
        return f"the ssh connection to {self.host} was lost (ssh exited {process.returncode}): "

    def close(self) -> None:
        self._end_reverse()
        if self._forward is not None:
            self._forward.close()
            shutil.rmtree(self._forward.local.parent, ignore_errors=True)
            self._forward = None

    def _end_reverse(self) -> None:
        if self._reverse is not None:
            self._reverse.close()
            self._reverse = None
