"""Debian 13's Docker engine (docker.io 26.1.5, containerd 1.7.24) beside the main one.

For engine-upgrade tests: the same claims, the same machine, the same kernel, runc and storage
driver (overlay2), only the engine and containerd versions differ from the main engine
(Debian 12's docker.io 20.10.24 with containerd 1.6.20).

**Packages.** :func:`fetch_debian13_docker` downloads ``docker.io``, ``containerd``, ``tini``
(``docker-init``) and ``docker-cli`` from Debian 13 (trixie) through a private apt state, so
the system's sources, lists, caches and hooks are left alone, and unpacks them with
``dpkg-deb -x``. The unpacked tree is kept in :func:`cache_dir` between runs; it appears there
only complete (unpacked in a temporary directory beside it, then renamed), and when it is
there nothing goes to the network. Debian 13's ``runc`` is not fetched: it needs glibc 2.38,
and Debian 12 has 2.36; the engine runs Debian 12's ``/usr/sbin/runc``.

**Engine.** :class:`UpgradeEngine` is a :class:`~tests.support.control_engine.ControlEngine`
(same directory, socket, ``docker()``, container removal and clean-up) whose daemons are
started by a small bash *supervisor*, in a network namespace of its own (``unshare --net``:
in the host's, a dockerd with ``--bridge=none`` deletes the host's ``docker0``):

* containerd with a config of its own: ``root``, ``state``, ``grpc.address``, the ``opt``
  plugin's directory, no debug or metrics socket, no CRI; everything under the engine's
  directory. (The shims' sockets go to the compiled-in ``/run/containerd/s/``, as every
  containerd's do; they are named by a hash of our socket's path and go with the shims.)
* dockerd with ``--containerd`` pointing at it and its own data and exec roots, pidfile, API
  socket and an empty ``--config-file``, no bridge, iptables or forwarding.
* ``PATH`` begins with a directory holding only ``runc -> /usr/sbin/runc``, then the unpacked
  tree: the shim finds Debian 12's runc, and everything else (``containerd-shim-runc-v2``,
  ``docker-init``, ``docker-proxy``) is Debian 13's. (Putting all of ``/usr/sbin`` first would
  also bring Debian 12's ``docker-proxy``.)

The supervisor is the *child subreaper* of everything the engine starts, so shims that outlive
containerd come back to it, not to PID 1. On SIGTERM (from :meth:`UpgradeEngine.stop`, or as
its parent-death signal when the test process dies) it stops dockerd (which stops its
containers), then containerd, then kills whatever is still its child. When either daemon
exits by itself, it stops the other and exits too. A test process that was killed leaves the
engine's directory behind; the next :meth:`UpgradeEngine.start` removes such directories.

Needs root, ``unshare``, ``setpriv`` (util-linux), ``apt-get`` and ``dpkg-deb``. Example::

    with UpgradeEngine() as engine:          # fetches once, copies the test image in
        engine.versions()                    # {"Engine": "26.1.5+dfsg1", "containerd": ...}
        subprocess.run(["docker", "run", "--rm", "--network", "none", DEFAULT_IMAGE, "true"],
                       env={**os.environ, **engine.env}, check=True)
        write_runtimes_file(tmp_path / "runtimes.yaml", engine, include=("docker",))
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import yaml

from container_claims import processes
from container_claims.hostfs import remove_tree
from container_claims.image import DEFAULT_IMAGE
from container_claims.paths import TEMP_PREFIX, state_dir
from container_claims.processes import last_line
from container_claims.runtimes import default_runtimes_file
from tests.support import daemons
from tests.support.control_engine import ControlEngine, ControlEngineError

__all__ = [
    "CONTAINERD_VERSION",
    "DEBIAN13_PACKAGES",
    "DOCKERD_VERSION",
    "HOST_RUNC",
    "Debian13Docker",
    "UpgradeEngine",
    "UpgradeEngineError",
    "cache_dir",
    "fetch_debian13_docker",
    "sweep_dead_engines",
    "write_runtimes_file",
]

#: The Debian 13 packages the engine is made of (``runc`` stays Debian 12's, see above).
DEBIAN13_PACKAGES = ("docker.io", "containerd", "tini", "docker-cli")
#: Upstream versions the fetched packages must have: an upgrade test compares these.
DOCKERD_VERSION = "26.1.5"
CONTAINERD_VERSION = "1.7.24"
#: Debian 12's runc, the one that runs on this glibc.
HOST_RUNC = pathlib.Path("/usr/sbin/runc")

_SOURCE = (
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    "http://deb.debian.org/debian trixie main\n"
)
_CACHE_FORMAT = 1  # bump when the packages or the layout change: the cache is then remade
_APT_TIMEOUT = 600.0
#: A command line's prefix: it becomes the child subreaper (PR_SET_CHILD_SUBREAPER, 36 in
#: <linux/prctl.h>), then executes the rest, which keeps it (through ``unshare`` and ``bash``),
#: as it keeps the parent-death signal given before.
_AS_SUBREAPER = [
    sys.executable,
    "-c",
    "import ctypes, os, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n",
]


class UpgradeEngineError(ControlEngineError):
    """Debian 13's engine could not be fetched, started, used or cleaned up."""


# -- the packages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Debian13Docker:
    """Debian 13's unpacked engine packages: ``root`` is the ``dpkg-deb -x`` tree."""

    root: pathlib.Path
    packages: Mapping[str, str]  # package name -> Debian version
    dockerd_version: str  # what ``dockerd --version`` says
    containerd_version: str  # what ``containerd --version`` says

    @property
    def dockerd(self) -> pathlib.Path:
        return self.root / "usr" / "sbin" / "dockerd"

    @property
    def containerd(self) -> pathlib.Path:
        return self.root / "usr" / "bin" / "containerd"

    @property
    def docker_cli(self) -> pathlib.Path:
        """Debian 13's Docker CLI (26.1.5), for a test that wants the matching client."""
        return self.root / "usr" / "bin" / "docker"

    @property
    def bin_dirs(self) -> tuple[pathlib.Path, ...]:
        return (self.root / "usr" / "sbin", self.root / "usr" / "bin")


def cache_dir() -> pathlib.Path:
    """Where the unpacked packages are kept between runs (under the suite's state directory)."""
    return state_dir() / "debian13-docker"


def fetch_debian13_docker(cache: pathlib.Path | None = None) -> Debian13Docker:
    """Debian 13's engine packages, unpacked: from ``cache`` (default :func:`cache_dir`)
    without any network when it is there, otherwise downloaded and unpacked into it first.

    Raises :class:`UpgradeEngineError` when apt or dpkg-deb fail, or the binaries are not
    the expected versions.
    """
    cache = cache or cache_dir()
    found = _read_cache(cache)
    if found is not None:
        return found
    cache.parent.mkdir(parents=True, exist_ok=True)
    with _lock(cache.parent / f".{cache.name}.lock"):
        found = _read_cache(cache)  # another process may have fetched while we waited
        if found is not None:
            return found
        # Half-made trees of fetches that were killed; we hold the lock, no one writes them.
        for stale in cache.parent.glob(f".{cache.name}.*-*"):
            remove_tree(stale)
        work = pathlib.Path(tempfile.mkdtemp(prefix=f".{cache.name}.tmp-", dir=cache.parent))
        try:
            _download_and_unpack(work)
            _replace(cache, work)
        except BaseException:
            remove_tree(work)
            raise
    found = _read_cache(cache)
    if found is None:
        raise UpgradeEngineError(f"The fetched Debian 13 packages in {cache} are incomplete.")
    return found


def _read_cache(cache: pathlib.Path) -> Debian13Docker | None:
    try:
        manifest = json.loads((cache / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != _CACHE_FORMAT:
        return None
    packages = manifest.get("packages")
    if not isinstance(packages, dict) or sorted(packages) != sorted(DEBIAN13_PACKAGES):
        return None
    found = Debian13Docker(
        root=cache / "root",
        packages=packages,
        dockerd_version=str(manifest.get("dockerd", "")),
        containerd_version=str(manifest.get("containerd", "")),
    )
    binaries = (
        found.dockerd,
        found.containerd,
        found.docker_cli,
        found.root / "usr/bin/docker-init",
    )
    return found if all(os.access(path, os.X_OK) for path in binaries) else None


@contextlib.contextmanager
def _lock(path: pathlib.Path) -> Iterator[None]:
    """Serialise fetches (pytest-xdist workers may all want the packages at once)."""
    with open(path, "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _download_and_unpack(work: pathlib.Path) -> None:
    """apt-get update and download through a private apt state in ``work``; unpack into
    ``work/root``; check the versions; write ``work/manifest.json``; drop the rest."""
    apt = work / "apt"
    debs = work / "debs"
    root = work / "root"
    for directory in (
        apt / "lists" / "partial",
        apt / "cache" / "archives" / "partial",
        apt / "preferences.d",
        apt / "log",
        debs,
        root,
    ):
        directory.mkdir(parents=True)
    (apt / "sources.list").write_text(_SOURCE, encoding="utf-8")
    (apt / "status").write_text("", encoding="utf-8")
    # The system's apt.conf.d is read (proxies, Check-Valid-Until and the like of this
    # machine), but its update hooks are cleared: they refresh system caches (AppStream,
    # PackageKit). Only a config file can clear a list; -o cannot.
    (apt / "apt.conf").write_text(
        "#clear APT::Update::Pre-Invoke;\n"
        "#clear APT::Update::Post-Invoke;\n"
        "#clear APT::Update::Post-Invoke-Success;\n",
        encoding="utf-8",
    )
    options = {
        "Dir::Etc::sourcelist": apt / "sources.list",
        "Dir::Etc::sourceparts": "-",
        "Dir::Etc::preferences": apt / "preferences",
        "Dir::Etc::preferencesparts": apt / "preferences.d",
        "Dir::State": apt,
        "Dir::State::Lists": apt / "lists",
        "Dir::State::status": apt / "status",
        "Dir::Cache": apt / "cache",
        "Dir::Log": apt / "log",
        # apt's download user (_apt) cannot enter our root-only directory.
        "APT::Sandbox::User": "root",
    }
    apt_get = ["apt-get", "-q", "-c", str(apt / "apt.conf")]
    for key, value in options.items():
        apt_get += ["-o", f"{key}={value}"]
    _run([*apt_get, "update"], "apt-get update (Debian 13)", cwd=work)
    _run([*apt_get, "download", *DEBIAN13_PACKAGES], "apt-get download (Debian 13)", cwd=debs)
    packages: dict[str, str] = {}
    for deb in sorted(debs.glob("*.deb")):
        fields = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"], "dpkg-deb -f")
        name, version = (line.partition(": ")[2] for line in fields.splitlines()[:2])
        packages[name] = version
        _run(["dpkg-deb", "-x", str(deb), str(root)], f"dpkg-deb -x {deb.name}")
    if sorted(packages) != sorted(DEBIAN13_PACKAGES):
        raise UpgradeEngineError(
            f"apt-get download gave {sorted(packages)}, not {sorted(DEBIAN13_PACKAGES)}."
        )
    found = Debian13Docker(root=root, packages=packages, dockerd_version="", containerd_version="")
    dockerd = last_line(_run([str(found.dockerd), "--version"], "dockerd --version"))
    containerd = last_line(_run([str(found.containerd), "--version"], "containerd --version"))
    if f"version {DOCKERD_VERSION}" not in dockerd:
        raise UpgradeEngineError(
            f"Debian 13's dockerd is not {DOCKERD_VERSION}: it says {dockerd!r}."
        )
    if f" {CONTAINERD_VERSION}" not in containerd:
        raise UpgradeEngineError(
            f"Debian 13's containerd is not {CONTAINERD_VERSION}: it says {containerd!r}."
        )
    manifest = {
        "format": _CACHE_FORMAT,
        "source": _SOURCE.strip(),
        "packages": packages,
        "dockerd": dockerd,
        "containerd": containerd,
    }
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(apt)
    shutil.rmtree(debs)
    work.chmod(0o755)


def _replace(cache: pathlib.Path, work: pathlib.Path) -> None:
    """Rename ``work`` to ``cache``; an outdated ``cache`` is renamed away first, then removed."""
    if cache.exists():
        old = pathlib.Path(tempfile.mkdtemp(prefix=f".{cache.name}.old-", dir=cache.parent))
        os.rename(cache, old / cache.name)
        os.rename(work, cache)
        remove_tree(old)
    else:
        os.rename(work, cache)


def _run(argv: Sequence[str], what: str, *, cwd: pathlib.Path | None = None) -> str:
    """Run a fetch step; its stdout, or :class:`UpgradeEngineError` with its last words.

    In a PID namespace of its own whose init dies with us: ``dpkg-deb -x`` and apt fork
    helpers that would otherwise go on writing into a directory the next fetch removes.
    """
    try:
        result = processes.run(
            ["unshare", "--pid", "--fork", "--kill-child", "--", *argv],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_APT_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UpgradeEngineError(f"{what} failed: {error}") from None
    if result.returncode != 0:
        said = last_line(result.stderr) or last_line(result.stdout) or "no message"
        raise UpgradeEngineError(f"{what} failed ({result.returncode}): {said}")
    return str(result.stdout)


# -- the engine -------------------------------------------------------------------------------

# Arguments: containerd, its config, its socket, its log, dockerd's log, dockerd's command.
# Runs as the child subreaper of both daemons and of every shim that outlives containerd.
_SUPERVISOR = r"""
set -u
containerd=$1 config=$2 socket=$3 containerd_log=$4 dockerd_log=$5
shift 5
c= d= ended=
stop_all() {
    trap '' TERM INT HUP
    # dockerd first: it stops its containers through containerd.
    if [ -n "$d" ] && [ "$d" != "$ended" ]; then kill -TERM "$d" 2>/dev/null; wait "$d"; fi
    if [ -n "$c" ] && [ "$c" != "$ended" ]; then kill -TERM "$c" 2>/dev/null; wait "$c"; fi
    # Shims (and what they run) that outlived containerd were re-parented to us.
    for ((i = 0; i < 50; i++)); do
        left=()
        read -r -a left < "/proc/$$/task/$$/children" || true
        [ "${#left[@]}" -eq 0 ] && return
        echo "supervisor: killing leftover processes ${left[*]}" >&2
        kill -KILL "${left[@]}" 2>/dev/null
        sleep 0.1
    done
}
trap 'stop_all; exit 143' TERM INT HUP
setpriv --pdeathsig TERM -- "$containerd" --config "$config" >"$containerd_log" 2>&1 &
c=$!
for ((i = 0; i < 300; i++)); do
    [ -S "$socket" ] && break
    kill -0 "$c" 2>/dev/null || break
    sleep 0.1
done
if [ ! -S "$socket" ]; then
    echo "supervisor: containerd did not open $socket" >&2
    stop_all
    exit 1
fi
setpriv --pdeathsig TERM -- "$@" >"$dockerd_log" 2>&1 &
d=$!
# (-p unsets its variable when a signal interrupts the wait: the trap must not read that one.)
wait -n -p first "$c" "$d"
status=$?
ended=${first:-}
if [ "$ended" = "$c" ]; then name=containerd; else name=dockerd; fi
echo "supervisor: $name exited with status $status" >&2
stop_all
exit "$status"
"""


class UpgradeEngine(ControlEngine):
    """Debian 13's dockerd and containerd under a temporary directory, overlay2 storage.

    ``env`` is ``{"DOCKER_HOST": "unix://.../docker.sock"}``; :meth:`versions` says what the
    server reports; ``stop()`` (idempotent, also from ``__exit__``) removes its containers,
    stops both daemons and everything they left, unmounts and deletes the directory.
    ``packages`` skips the cache lookup (a :func:`fetch_debian13_docker` result).
    """

    what = "upgrade engine"
    error = UpgradeEngineError
    watched = "supervisor"
    temp_prefix = f"{TEMP_PREFIX}upgrade-engine-"
    storage_driver = "overlay2"

    def __init__(
        self,
        image: str | None = DEFAULT_IMAGE,
        *,
        docker_binary: str = "docker",
        packages: Debian13Docker | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        super().__init__(
            image,
            docker_binary=docker_binary,
            start_timeout=start_timeout,
            stop_timeout=stop_timeout,
        )
        self.packages = packages

    # -- paths and processes ----------------------------------------------------------------

    @property
    def containerd_dir(self) -> pathlib.Path:
        return self.root / "containerd"

    @property
    def containerd_socket(self) -> pathlib.Path:
        return self.containerd_dir / "containerd.sock"

    @property
    def containerd_log_path(self) -> pathlib.Path:
        return self.root / "containerd.log"

    @property
    def supervisor_log_path(self) -> pathlib.Path:
        return self.root / "supervisor.log"

    @property
    def pid(self) -> int | None:
        """PID of this engine's dockerd while it runs (from its pidfile)."""
        if self._dockerd is None or self._root is None:
            return None
        try:
            return int((self.root / "docker.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def process_ids(self) -> list[int]:
        """The supervisor and every process under it (daemons, shims, containers) now."""
        if self._dockerd is None:
            return []
        found = [self._dockerd.pid]
        for pid in found:  # grows while it is walked: breadth first
            found += daemons.children(pid)
        return found

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Fetch the packages if they are not cached, remove directories of engines whose
        test process died, then start as :meth:`ControlEngine.start` does."""
        if os.geteuid() != 0:
            raise self.error(f"The {self.what} runs its own dockerd and containerd: needs root.")
        fetching = time.monotonic()
        if self.packages is None:
            self.packages = fetch_debian13_docker()
        self.timings["fetch"] = time.monotonic() - fetching
        self.dockerd_binary = str(self.packages.dockerd)
        sweep_dead_engines()
        super().start()
        return self

    # -- use --------------------------------------------------------------------------------

    def versions(self) -> dict[str, str]:
        """What ``docker version`` reports of the server, by component: ``Engine``,
        ``containerd``, ``runc``, ``docker-init``."""
        out = self.docker("version", "--format", "{{json .Server}}").stdout
        try:
            server = json.loads(out)
            return {str(c["Name"]): str(c["Version"]) for c in server["Components"]}
        except (ValueError, KeyError, TypeError) as error:
            raise UpgradeEngineError(
                f"docker version gave no server components ({error}): {out.strip()[:200]}"
            ) from None

    def runtime_entry(self, name: str = "docker-26") -> dict[str, Any]:
        """An entry for a runtimes file (``--runtimes-file``) that runs on this engine."""
        packages = self.packages
        assert packages is not None
        return {
            "name": name,
            "kind": "docker",
            "binary": self.docker_binary,
            "env": dict(self.env),
            "description": (
                f"Debian 13's Docker (docker.io {packages.packages['docker.io']}, containerd "
                f"{packages.packages['containerd']}) with Debian 12's runc, overlay2, beside "
                "the main engine."
            ),
        }

    # -- internals --------------------------------------------------------------------------

    def _launch(self, dockerd: str) -> None:
        packages = self.packages
        assert packages is not None
        root = self.root
        for directory in (self.data_root, self.exec_root, root / "bin"):
            directory.mkdir(mode=0o711)
        for name in ("root", "state", "opt"):
            (self.containerd_dir / name).mkdir(mode=0o711, parents=True)
        (root / "bin" / "runc").symlink_to(HOST_RUNC)
        containerd_config = root / "containerd.toml"
        containerd_config.write_text(self._containerd_config(), encoding="utf-8")
        config = root / "daemon.json"
        config.write_text("{}\n", encoding="utf-8")
        dockerd_command = [
            dockerd,
            f"--config-file={config}",
            f"--containerd={self.containerd_socket}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={root / 'docker.pid'}",
            f"--host={self.host}",
            f"--storage-driver={self.storage_driver}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--ip-forward=false",
        ]
        command = [
            *_AS_SUBREAPER,
            "unshare",
            "--net",
            "--",
            "bash",
            "-c",
            _SUPERVISOR,
            "upgrade-engine-supervisor",
            str(packages.containerd),
            str(containerd_config),
            str(self.containerd_socket),
            str(self.containerd_log_path),
            str(self.log_path),
            *dockerd_command,
        ]
        path = [str(root / "bin"), *map(str, packages.bin_dirs), "/usr/sbin", "/usr/bin"]
        env = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
        env["PATH"] = ":".join([*path, "/sbin", "/bin"])
        # SIGTERM when the test process dies: the supervisor stops the daemons (docstring).
        self._dockerd = daemons.launch(
            command,
            root,
            self.supervisor_log_path,
            env=env,
            cwd=root,
            death_signal=signal.SIGTERM,
        )

    def _containerd_config(self) -> str:
        """containerd's config: everything under our directory, nothing shared with the main
        engine's containerd (no debug or metrics socket, no CRI, its own ``opt``)."""
        here = self.containerd_dir
        return (
            "version = 2\n"
            f'root = "{here / "root"}"\n'
            f'state = "{here / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            "[grpc]\n"
            f'  address = "{self.containerd_socket}"\n'
            "[ttrpc]\n"
            f'  address = "{self.containerd_socket}.ttrpc"\n'
            "[debug]\n"
            '  address = ""\n'
            "[metrics]\n"
            '  address = ""\n'
            '[plugins."io.containerd.internal.v1.opt"]\n'
            f'  path = "{here / "opt"}"\n'
        )

    def _stop_dockerd(self) -> None:
        """SIGTERM the supervisor (it stops dockerd, containerd, then leftovers); if it has
        not finished within ``stop_timeout``, SIGKILL everything under it, by PID, then it."""
        supervisor = self._dockerd
        if supervisor is None:
            return
        stopping = time.monotonic()
        if supervisor.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(supervisor.pid, signal.SIGTERM)
            try:
                supervisor.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                for pid in reversed(self.process_ids()[1:]):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                supervisor.kill()
                supervisor.wait()
        self._dockerd = None
        self.timings["stop_daemons"] = time.monotonic() - stopping

    def _log_tail(self, lines: int = 4) -> str:
        """What the supervisor said (which daemon ended), then the end of that daemon's log
        (dockerd's when neither ended: it did not answer in time)."""
        said = daemons.log_tail(self.supervisor_log_path, 2, missing="", empty="")
        daemon = "containerd" if "supervisor: containerd" in said else "dockerd"
        log = self.containerd_log_path if daemon == "containerd" else self.log_path
        parts = [said] if said else []
        parts.append(f"{daemon}: {daemons.log_tail(log, lines, missing='(empty)')}")
        return " | ".join(parts)


def sweep_dead_engines() -> list[pathlib.Path]:
    """Remove the directories of upgrade engines whose test process is gone (a killed test
    leaves its directory: the supervisor stopped the daemons, no one deleted the files).
    A directory whose test process or supervisor still runs, or that names neither yet, is
    left alone."""
    return daemons.sweep_dead(UpgradeEngine.temp_prefix)


# -- runtimes files ---------------------------------------------------------------------------


def write_runtimes_file(
    path: pathlib.Path,
    engine: UpgradeEngine,
    *,
    name: str = "docker-26",
    include: Sequence[str] = (),
) -> pathlib.Path:
    """Write a runtimes file with an entry ``name`` for ``engine``, after the entries of the
    packaged runtimes file named in ``include`` (``("docker",)``: the main engine too, for
    one run on both). Returns ``path``."""
    default = yaml.safe_load(default_runtimes_file().read_text(encoding="utf-8"))
    by_name = {entry["name"]: entry for entry in default["runtimes"]}
    missing = [wanted for wanted in include if wanted not in by_name]
    if missing:
        raise UpgradeEngineError(f"The packaged runtimes file has no {', '.join(missing)}.")
    entries = [by_name[wanted] for wanted in include]
    entries.append(engine.runtime_entry(name))
    path.write_text(yaml.safe_dump({"runtimes": entries}, sort_keys=False), encoding="utf-8")
    return path
