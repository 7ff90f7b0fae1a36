"""A throwaway image registry on 127.0.0.1, for the claim that a missing image is pulled.

No public registry is reachable from the suite's machines, so the claim
``image-pulled-when-missing`` is observed against Debian's ``docker-registry`` (the CNCF
distribution registry, v2 API) started here on a free loopback port, storing into a fresh
temporary directory that is deleted on stop. Docker treats ``127.0.0.0/8`` as an insecure
registry by default, so plain HTTP push and pull work without changing the engine's config.

Example::

    with LocalRegistry() as registry:
        ref = f"{registry.address}/cc/test:1"      # "127.0.0.1:40123/cc/test:1"
        subprocess.run(["docker", "tag", DEFAULT_IMAGE, ref], check=True)
        subprocess.run(["docker", "push", ref], check=True)
"""

from __future__ import annotations

import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from types import TracebackType

from container_claims import processes
from container_claims.paths import make_temp_dir
from container_claims.processes import end_child

__all__ = ["LocalRegistry", "RegistryError"]

_BINARY = "docker-registry"


class RegistryError(Exception):
    """The local registry could not be started (or is used before it was)."""


class LocalRegistry:
    """``docker-registry serve`` on ``127.0.0.1:<free port>``, as a context manager.

    ``start()`` returns once ``http://ADDRESS/v2/`` answers; ``stop()`` ends the process (by its
    PID: SIGTERM, then SIGKILL after ``stop_timeout`` seconds) and deletes its storage. ``stop()``
    is idempotent and runs from ``__exit__`` whatever ended the block, Ctrl-C included.
    """

    def __init__(
        self,
        *,
        binary: str = _BINARY,
        start_timeout: float = 20.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.binary = binary
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._tmpdir: pathlib.Path | None = None
        self._port: int | None = None

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``: the prefix of image references pushed here."""
        if self._port is None or self._process is None:
            raise RegistryError("The local registry is not running: call start() first.")
        return f"127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        """PID of the registry process while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def storage_dir(self) -> pathlib.Path:
        """Directory the registry stores blobs and manifests in (deleted on stop)."""
        if self._tmpdir is None:
            raise RegistryError("The local registry is not running: call start() first.")
        return self._tmpdir / "storage"

    def start(self) -> LocalRegistry:
        """Start the registry and wait until its API answers; returns ``self``."""
        if self._process is not None:
            raise RegistryError(f"The local registry is already running at {self.address}.")
        executable = shutil.which(self.binary)
        if executable is None:
            raise RegistryError(
                f"{self.binary!r} is not installed: apt-get install docker-registry, "
                "or run scripts/setup."
            )
        self._tmpdir = make_temp_dir("registry")
        try:
            # Another process can take the port between our probe and the registry's bind;
            # the registry then exits at once and we try another port.
            attempts = 3
            for attempt in range(1, attempts + 1):
                self._port = _free_port()
                self._launch(executable)
                if self._wait_ready(last_attempt=attempt == attempts):
                    break
                self._terminate()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the registry and delete its storage. Safe to call more than once."""
        try:
            self._terminate()
        finally:
            self._port = None
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------

    @property
    def _log_path(self) -> pathlib.Path:
        assert self._tmpdir is not None
        return self._tmpdir / "registry.log"

    def _launch(self, executable: str) -> None:
        assert self._tmpdir is not None and self._port is not None
        storage = self._tmpdir / "storage"
        storage.mkdir(exist_ok=True)
        config = self._tmpdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n"
            "  level: warn\n"
            "  accesslog:\n"
            "    disabled: true\n"
            "storage:\n"
            "  filesystem:\n"
            f"    rootdirectory: {storage}\n"
            "  delete:\n"
            "    enabled: true\n"
            "http:\n"
            f"  addr: 127.0.0.1:{self._port}\n"
            # Only to silence the startup warning about a generated secret.
            f"  secret: {secrets.token_hex(16)}\n",
            encoding="utf-8",
        )
        with open(self._log_path, "wb") as log:  # a retry keeps only its own log
            # Its own process group: a Ctrl-C meant for the test run reaches us, and stop()
            # decides when the registry ends.
            self._process = processes.start(
                [executable, "serve", str(config)],
                death_signal=signal.SIGTERM,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._tmpdir,
                start_new_session=True,
            )

    def _wait_ready(self, *, last_attempt: bool) -> bool:
        """True once /v2/ answers; False if the registry exited early (port race) and we may
        retry; raises RegistryError on timeout or on an early exit in the last attempt."""
        assert self._process is not None
        # Never through a proxy: the registry is on loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        url = f"http://{self.address}/v2/"
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                if not last_attempt:
                    return False
                raise RegistryError(
                    f"{self.binary} exited with status {code} before answering on "
                    f"127.0.0.1:{self._port}; its log ends with: {self._log_tail()}"
                )
            try:
                with opener.open(url, timeout=1.0) as response:
                    if response.status == 200:
                        return True
            except urllib.error.HTTPError as error:
                raise RegistryError(
                    f"{url} answered HTTP {error.code}, not 200: is something else listening "
                    f"there? Registry log: {self._log_tail()}"
                ) from error
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"{self.binary} did not answer on {url} within {self.start_timeout:.0f} s; "
                    f"its log ends with: {self._log_tail()}"
                )
            time.sleep(0.1)

    def _terminate(self) -> None:
        process = self._process
        if process is None:
            return
        end_child(process, self.stop_timeout)
        self._process = None

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        tail = [line.strip() for line in text.strip().splitlines()[-lines:]]
        return " | ".join(tail) if tail else "(empty)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
