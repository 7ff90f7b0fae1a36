"""A second, throwaway Docker engine: the negative control for the filesystem claims.

Every claim needs a configuration under which it does *not* hold, so that a check is shown to be
able to fail. The main engine runs overlay2 with runc's ``pivot_root``; this one differs exactly
where the article's filesystem claims live:

* storage driver ``vfs``: each container gets a full copy of the image, not a copy-on-write
  layer, so ``copy-on-write-no-full-copy``, ``changes-stored-separately`` and
  ``layered-root-filesystem`` must FAIL here (``/`` inside is a plain directory of the host's
  filesystem, not an overlay mount);
* its data root is not ``/var/lib/docker``, so ``images-stored-under-engine-root`` must FAIL.

It coexists with the main dockerd because everything it owns is under its own temporary
directory: ``--data-root``, ``--exec-root`` (so its *managed* containerd gets its own socket,
state and root, and the containerd namespaces need not differ), ``--pidfile``, its API socket,
and ``--config-file`` (an empty one: ``/etc/docker/daemon.json`` may set keys that conflict with
these flags). It touches no host networking: it runs in a network namespace of its own
(``unshare --net``: in the host's, a dockerd started with ``--bridge none`` deletes the host's
``docker0``, and the main engine's default network is gone until it restarts), with
``--bridge none``, ``--iptables=false``, ``--ip6tables=false``, ``--ip-masq=false``,
``--ip-forward=false``; run its containers with ``--network none``.

Needs root and Debian's ``docker.io``. Example::

    with ControlEngine() as engine:          # also copies the test image into it
        subprocess.run(["docker", "run", "--rm", "--network", "none", DEFAULT_IMAGE, "true"],
                       env={**os.environ, **engine.env}, check=True)

"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
import time
from types import TracebackType
from typing import Self

from container_claims.hostfs import remove_tree
from container_claims.image import DEFAULT_IMAGE, check_engine, image_info
from container_claims.processes import pipe
from tests.support import daemons

__all__ = ["ControlEngine", "ControlEngineError"]


class ControlEngineError(RuntimeError):
    """The control engine could not be started, used or cleaned up."""


class ControlEngine:
    """A private dockerd (vfs storage) under a temporary directory.

    ``env`` is ``{"DOCKER_HOST": "unix://.../docker.sock"}``: add it to a ``docker`` command's
    environment (or pass ``base_url`` to the Docker SDK) to talk to this engine. ``stop()``
    removes its containers, stops dockerd and its containerd, unmounts what is left under its
    directory and deletes it; it is idempotent and runs from ``__exit__``.
    """

    #: What a subclass (another private engine) changes: the name its messages use, the error
    #: they raise, the process start() watches, the prefix of its directory and the storage
    #: driver it must report.
    what = "control engine"
    watched = "dockerd"
    error: type[ControlEngineError] = ControlEngineError
    temp_prefix = "cc-control-engine-"
    storage_driver = "vfs"

    def __init__(
        self,
        image: str | None = DEFAULT_IMAGE,
        *,
        dockerd_binary: str = "dockerd",
        docker_binary: str = "docker",
        start_timeout: float = 60.0,
        stop_timeout: float = 20.0,
    ) -> None:
        self.image = image
        self.dockerd_binary = dockerd_binary
        self.docker_binary = docker_binary
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.timings: dict[str, float] = {}
        self._root: pathlib.Path | None = None
        self._dockerd: subprocess.Popen[bytes] | None = None
        self._containerd_pid: int | None = None

    # -- paths and addresses ----------------------------------------------------------------

    @property
    def root(self) -> pathlib.Path:
        """The temporary directory holding everything this engine owns."""
        if self._root is None:
            raise self.error(f"The {self.what} is not running: call start() first.")
        return self._root

    @property
    def data_root(self) -> pathlib.Path:
        return self.root / "data"

    @property
    def exec_root(self) -> pathlib.Path:
        return self.root / "exec"

    @property
    def socket(self) -> pathlib.Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        """``unix:///tmp/.../docker.sock``, for ``DOCKER_HOST`` or the SDK's ``base_url``."""
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        """Environment additions that point the Docker CLI at this engine."""
        return {"DOCKER_HOST": self.host}

    @property
    def pid(self) -> int | None:
        """PID of this engine's dockerd while it runs."""
        return self._dockerd.pid if self._dockerd is not None else None

    @property
    def log_path(self) -> pathlib.Path:
        return self.root / "dockerd.log"

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Start dockerd, wait until it answers, check its storage driver, load the image."""
        if self._dockerd is not None:
            raise self.error(f"The {self.what} is already running ({self.host}).")
        if os.geteuid() != 0:
            raise self.error(f"The {self.what} runs its own dockerd and needs root.")
        dockerd = shutil.which(self.dockerd_binary) or shutil.which(
            self.dockerd_binary, path="/usr/sbin:/sbin"
        )
        if dockerd is None:
            raise self.error(
                f"{self.dockerd_binary!r} is not installed: apt-get install docker.io, "
                "or run scripts/setup."
            )
        started = time.monotonic()
        self._root = daemons.make_root(self.temp_prefix)
        try:
            self._launch(dockerd)
            self._wait_ready()
            self.timings["start"] = time.monotonic() - started
            driver = self.docker("info", "--format", "{{.Driver}}").stdout.strip()
            if driver != self.storage_driver:
                raise self.error(f"The {self.what} uses storage driver {driver!r}.")
            if self.image is not None:
                loading = time.monotonic()
                copy_image(self.image, self.env, docker_binary=self.docker_binary)
                self.timings["image_load"] = time.monotonic() - loading
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Remove all containers, stop the daemons, unmount leftovers, delete the directory."""
        if self._root is None:
            return
        problems: list[str] = []
        stopping = time.monotonic()
        try:
            if self._dockerd is not None and self._dockerd.poll() is None:
                with contextlib.suppress(ControlEngineError, subprocess.TimeoutExpired):
                    self._remove_containers()
            self._stop_dockerd()
            self._end_strays()
            try:
                remove_tree(self._root, unmount=True)
            except OSError as error:
                problems.append(str(error))
        finally:
            self.timings["stop"] = time.monotonic() - stopping
            if not problems:
                self._root = None
        if problems:
            raise self.error(
                f"The {self.what} under {self._root} was not fully cleaned up: "
                + "; ".join(problems)
            )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.host if self._dockerd is not None else "stopped"
        return f"<{type(self).__name__} {state}>"

    # -- use --------------------------------------------------------------------------------

    def docker(
        self, *args: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the Docker CLI against this engine; raises :attr:`error` if ``check``."""
        result = subprocess.run(
            [self.docker_binary, *args],
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise self.error(
                f"docker {' '.join(args)} failed on the {self.what} "
                f"({result.returncode}): {result.stderr.strip()}"
            )
        return result

    # -- internals --------------------------------------------------------------------------

    def _launch(self, dockerd: str) -> None:
        for directory in (self.data_root, self.exec_root):
            directory.mkdir(mode=0o711)
        config = self.root / "daemon.json"
        config.write_text("{}\n", encoding="utf-8")
        command = [
            "unshare",
            "--net",
            "--",
            dockerd,
            f"--config-file={config}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.root / 'docker.pid'}",
            f"--host={self.host}",
            f"--storage-driver={self.storage_driver}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--ip-forward=false",
        ]
        env = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
        self._dockerd = daemons.launch(
            command,
            self.root,
            self.log_path,
            env=env,
            cwd=self.root,
            # SIGTERM when the test run dies, even by SIGKILL: no dockerd left serving.
            death_signal=signal.SIGTERM,
        )

    def _wait_ready(self) -> None:
        assert self._dockerd is not None

        def answers() -> bool:
            if self.socket.exists():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    return self.docker("version", check=False, timeout=5).returncode == 0
            return False

        daemons.wait_until(
            answers,
            self._dockerd,
            timeout=self.start_timeout,
            ended=lambda code: self.error(
                f"The {self.what}'s {self.watched} exited with status {code}; "
                f"its log ends with: {self._log_tail()}"
            ),
            late=lambda: self.error(
                f"The {self.what} did not answer within {self.start_timeout:.0f} s; "
                f"its log ends with: {self._log_tail()}"
            ),
            interval=0.2,
        )
        pid_file = self.exec_root / "containerd" / "containerd.pid"
        with contextlib.suppress(OSError, ValueError):
            self._containerd_pid = int(pid_file.read_text().strip())

    def _remove_containers(self) -> None:
        ids = self.docker("ps", "--all", "--quiet", timeout=30).stdout.split()
        if ids:
            self.docker("rm", "--force", "--volumes", *ids, check=False, timeout=60)

    def _stop_dockerd(self) -> None:
        process = self._dockerd
        if process is None:
            return
        daemons.terminate(process.pid, self.stop_timeout, gone=lambda: process.poll() is not None)
        process.wait()
        self._dockerd = None
        # dockerd stops its managed containerd when it shuts down cleanly, not when killed.
        pid = self._containerd_pid
        if pid is not None and self._root is not None and _cmdline_mentions(pid, self._root):
            daemons.terminate(pid, 10.0, gone=lambda: not _cmdline_mentions(pid, self._root))
        self._containerd_pid = None

    def _end_strays(self) -> None:
        """End what this engine started and left running: a dockerd killed, or one that could
        not stop its containers in time on a loaded machine, leaves their shims (whose command
        lines name this engine's directory) and the containers under them. Each container's
        first process goes first (its PID namespace ends with it), then the shim."""
        deadline = time.monotonic() + self.stop_timeout
        while (strays := [pid for pid in _pids() if _cmdline_mentions(pid, self._root)]) and (
            time.monotonic() < deadline
        ):
            for stray in strays:
                for pid in [*daemons.descendants(stray), stray]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    def _log_tail(self, lines: int = 8) -> str:
        return daemons.log_tail(self.log_path, lines)


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _cmdline_mentions(pid: int, path: pathlib.Path | None) -> bool:
    if path is None:
        return False
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(path).encode() in cmdline and daemons.running(pid)


def copy_image(tag: str, env: dict[str, str], *, docker_binary: str = "docker") -> None:
    """Copy ``tag`` from the default engine into the one ``env`` names (``docker save | docker
    load``); the image keeps its id, and nothing is done when the engine already has it."""
    source = image_info(tag, docker_binary)
    if source is None:
        raise ControlEngineError(f"{tag} is not in the default engine: run scripts/setup")
    check_engine(docker_binary, env)
    present = image_info(tag, docker_binary, env)
    if present is not None and present[0] == source[0]:
        return
    _, problem = pipe(
        [docker_binary, "save", tag], [docker_binary, "load", "--quiet"], consumer_env=env
    )
    copied = image_info(tag, docker_binary, env)
    if problem or copied is None or copied[0] != source[0]:
        raise ControlEngineError(f"copying {tag} into {env} failed: {problem or 'another id'}")
