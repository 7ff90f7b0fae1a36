"""Test hosts: "other machines" built on this one and reached only over ssh, for fleet tests.

A fleet test checks engines on several machines at once (``run --hosts ssh://a,ssh://b``, a
runtimes file entry with ``host: ssh://...``). CI has one machine, so a :class:`TestHost` makes
another one out of namespaces: its own hostname, PID 1, network, ``/run`` (so its own
``/var/run/docker.sock``), its own dockerd and its own sshd, sharing only the kernel and the
filesystem with this machine. The suite reaches it the way it reaches a real remote machine:
by ssh to an address, with a key, through an ssh config file.

**The host.** ``unshare --net --mount --pid --uts --ipc --fork --kill-child --mount-proc``
runs a small bash *INIT* as PID 1 of the new namespaces (not ``ip netns exec``: that remounts
``/sys``, the cgroup mounts vanish and dockerd refuses to start). INIT sets the hostname,
mounts a tmpfs on ``/run`` (what ``/var/run`` points to; on a machine where it does not, on
``/var/run`` itself), brings up ``lo``, waits for its interface ``eth0`` and the address this
process gives it, then starts:

* dockerd with its own ``--exec-root``, ``--pidfile`` and ``--config-file`` under the test
  host's directory, and its data in the directory's ``data``, bound on ``/var/lib/docker`` in
  the host's mount namespace (so the engine's root is where a machine's is, as a claim about
  it expects). Its default bridge ``docker0`` is in the host's network namespace, without
  ``iptables`` rules (``--iptables=false --ip6tables=false --ip-masq=false
  --ip-forward=false``): a published port is served by docker-proxy on the host's loopback,
  and containers reach nothing beyond the host. ``--shutdown-timeout=2``. Its config holds one key,
  ``deprecated-key-path``: an engine's ID comes from that key file, and the default one,
  ``/etc/docker/key.json``, would give every test host the main engine's ID. Its API socket is
  the default ``/var/run/docker.sock``, which is in INIT's tmpfs. From this machine it is
  :attr:`TestHost.docker_socket`, ``/proc/INIT_PID/root/run/docker.sock`` (not
  ``.../root/var/run/...``: the kernel resolves the absolute link ``/var/run -> /run`` from
  the opener's root, so that path reaches the main engine's socket);
* with ``podman=True``, Podman's API service at ``/run/podman/podman.sock`` (where systemd's
  ``podman.socket`` serves it on a machine), with ``--runtime runc`` as this machine's Podman
  runtime has it, and its own store: the directory's ``containers`` and ``cni`` bound on
  ``/var/lib/containers`` and ``/var/lib/cni``;
* Debian's sshd (``openssh-server``, installed by ``scripts/setup``) with a config of its own:
  its own host key, ``authorized_keys`` and pidfile in the directory, listening on the private
  address only (port :data:`SSH_PORT`), ``UsePAM no``, ``StrictModes no`` (the files are in
  ``/tmp``), ``PermitRootLogin prohibit-password``, no passwords at all.

Then INIT sleeps, reaps, and logs which daemon exited (``init.log``). When PID 1 of a PID
namespace exits, the kernel kills everything else in it, so killing INIT by its PID ends the
whole host: :meth:`TestHost.stop` removes the containers through the engine (so runc removes
their cgroups, the one thing of a host outside its namespaces), then sends INIT SIGKILL. The
host's mounts live in its own mount namespace (private propagation) and vanish with it; its
sockets and shims' state in its ``/run``; its files in its directory. (SIGTERM makes INIT stop
sshd and dockerd gracefully first, which takes a second longer and cleans nothing more.)

**Death of the test process.** ``unshare`` gets SIGKILL as its parent-death signal (it blocks
SIGTERM while it waits for its child, so SIGTERM would not end it), and ``--kill-child`` sends SIGKILL on to INIT: a test process killed by
anything leaves no daemon running. It leaves the directory, which the next
:meth:`TestHost.start` removes (:func:`sweep_dead_test_hosts`). The parent-death signal comes with
the end of the test process, whichever thread started the host
(:mod:`container_claims.processes`).

**The network.** One veth pair per host, made from this machine with its inner end created
directly in INIT's network namespace (``ip link add cc-thN type veth peer name eth0 netns
PID``). Each host takes the first free *slot* N: the kernel refuses a second link of the same
name, so two test hosts, in this process or in any other, never share a slot. Slot N is the
/30 at ``10.213.0.0 + 4N`` (:data:`NETWORK`): ``.1`` on this machine's end, ``.2`` the test
host's. The host has no default route: it reaches this machine's end and nothing else, and
the test hosts cannot reach each other. :meth:`TestHost.start` refuses to run when anything
else on the machine routes into :data:`NETWORK`.

**ssh.** A key pair per host (``ssh-keygen -t ed25519``), and :attr:`TestHost.ssh_config`, a
config file with one entry: ``Host NAME``, its address, port, ``User root``, the key,
``IdentitiesOnly yes`` (no agent's keys), ``StrictHostKeyChecking no``, ``UserKnownHostsFile
/dev/null``, ``LogLevel ERROR``, ``ControlMaster no``, ``BatchMode yes`` (never a prompt),
``ConnectTimeout 10``. With ``-F`` no other config (``~/.ssh/config``, ``/etc/ssh/ssh_config``)
is read. (testinfra adds ``-o ControlMaster=auto -o ControlPersist=60s``, which beats the
config, but without a ``ControlPath`` no master is left running.) :func:`write_ssh_config` writes one file for several hosts.

* plain ssh and testinfra: ``ssh -F CONFIG NAME hostname``, :meth:`TestHost.ssh`,
  ``testinfra.get_host(host.url, ssh_config=str(host.ssh_config))``;
* the Docker CLI and the Docker SDK cannot be given ``-F``: they run ``ssh`` from ``PATH``.
  :func:`write_ssh_wrapper` writes an ``ssh`` script (``exec /usr/bin/ssh -F CONFIG "$@"``);
  put its directory first on ``PATH`` (:attr:`TestHost.cli_env` does both for one host:
  ``DOCKER_HOST=ssh://root@NAME``). The SDK takes ``base_url=`` :attr:`TestHost.sdk_url`
  (``ssh://root@NAME:PORT``) with ``use_ssh_client=True`` and the wrapper on ``os.environ``'s
  ``PATH``: the port must be in the URL, since the SDK adds ``:22`` to one without and passes
  ``-p 22``, which beats the config's ``Port``. It needs ``paramiko`` installed even then
  (``docker[ssh]``): the module holding its ``ssh`` shell-out imports paramiko.

Needs root, util-linux ``unshare``, iproute2 ``ip``, Debian's ``docker.io`` and
``openssh-server``, and the test image in the main engine (``scripts/setup``). Example::

    with TestHost("cc-host-a") as host:        # the test image is copied into its engine
        host.ssh("hostname").stdout            # "cc-host-a\\n"
        subprocess.run(["docker", "ps"], env={**os.environ, **host.cli_env}, check=True)
        host.stop_sshd()                       # the machine "drops off" mid-run
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self

import yaml

from container_claims import processes
from container_claims.errors import ClaimsError
from container_claims.hostfs import remove_tree
from container_claims.image import DEFAULT_IMAGE
from container_claims.paths import TEMP_PREFIX
from container_claims.processes import last_line
from tests.support import daemons
from tests.support.control_engine import ControlEngineError, copy_image

__all__ = [
    "LINK_PREFIX",
    "NETWORK",
    "SSH_PORT",
    "TestHost",
    "TestHostError",
    "sweep_dead_test_hosts",
    "write_fleet_file",
    "write_ssh_config",
    "write_ssh_wrapper",
]

#: Where test hosts get their addresses: a /30 per host, ``.1`` this machine's end, ``.2`` the
#: test host's. Nothing else on these machines uses it (Docker has 172.17/16, Podman 10.88/16).
NETWORK = ipaddress.IPv4Network("10.213.0.0/16")
#: The port every test host's sshd listens on (not 22, so the port is given and used: the
#: Docker SDK and runtimes addresses must carry it).
SSH_PORT = 2222
#: Host-side names of the veth pairs: ``cc-th0``, ``cc-th1``, ... (a slot each).
LINK_PREFIX = "cc-th"
#: The programs a test host runs: Debian's, by absolute path (sshd insists on one).
SSHD = pathlib.Path("/usr/sbin/sshd")
SSH = pathlib.Path("/usr/bin/ssh")

_SLOTS = 256  # tried in order; plenty for the tests of one machine at once
#: The daemons INIT starts, and their logs in the host's directory.
DAEMON_LOGS = (("dockerd", "dockerd.log"), ("sshd", "sshd.log"), ("podman", "podman.log"))
_TEMP_PREFIX = f"{TEMP_PREFIX}test-host-"
_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?")  # a hostname, short: paths hold it
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class TestHostError(RuntimeError):
    """A test host could not be started, used or cleaned up (one line, with the log's tail)."""

    __test__ = False  # not a test class, whatever pytest's name pattern says


# Arguments: the hostname, the test host's directory, sshd, podman ("": none), then dockerd's
# command. PID 1 of the test host: see the module's docstring.
_INIT = r"""
set -u
name=$1 root=$2 sshd=$3 podman=$4
shift 4
d= s= p=
say() { echo "init: $*" >&2; }
fail() { say "$*"; exit 1; }
stop_all() {
    trap '' TERM INT HUP
    if [ -n "$s" ]; then kill -TERM "$s" 2>/dev/null; fi
    if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null; fi
    if [ -n "$d" ]; then
        kill -TERM "$d" 2>/dev/null
        # dockerd stops its containers (--shutdown-timeout) and its containerd; bounded: the
        # kernel kills whatever is left when this PID 1 exits.
        for ((i = 0; i < 50; i++)); do kill -0 "$d" 2>/dev/null || break; sleep 0.1; done
    fi
}
trap 'stop_all; exit 143' TERM INT HUP
hostname "$name" || fail "could not set the hostname to $name"
run=$(readlink -f /var/run)
mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m "cc-test-host-$name" "$run" \
    || fail "could not mount a tmpfs on $run"
mkdir -m 0755 "$run/sshd"  # sshd's privilege separation directory
[ -d /var/lib/docker ] || fail "this machine has no /var/lib/docker to bind the host's data on"
mount --bind "$root/data" /var/lib/docker || fail "could not bind $root/data on /var/lib/docker"
if [ -n "$podman" ]; then
    for dir in containers cni; do  # Podman's store, and its network's address leases
        [ -d "/var/lib/$dir" ] || fail "this machine has no /var/lib/$dir to bind the host's on"
        mount --bind "$root/$dir" "/var/lib/$dir" || fail "could not bind $root/$dir"
    done
fi
ip link set dev lo up || fail "could not bring up lo"
for ((i = 0; i < 400; i++)); do
    [ -s "$root/network" ] && ip link show dev eth0 >/dev/null 2>&1 && break
    sleep 0.05
done
[ -s "$root/network" ] || fail "no interface and address were given within 20 s"
read -r cidr <"$root/network"
{ ip address add "$cidr" dev eth0 && ip link set dev eth0 up; } \
    || fail "could not give eth0 the address $cidr"
"$@" >"$root/dockerd.log" 2>&1 </dev/null &
d=$!
"$sshd" -D -f "$root/sshd_config" -E "$root/sshd.log" </dev/null &
s=$!
if [ -n "$podman" ]; then  # what systemd's podman.socket serves on a machine, with runc
    mkdir -m 0755 "$run/podman"
    "$podman" --runtime runc system service --time=0 "unix://$run/podman/podman.sock" \
        >"$root/podman.log" 2>&1 </dev/null &
    p=$!
fi
say "$name on ${cidr%/*}: dockerd $d, sshd $s, podman ${p:-none} (PIDs in the test host)"
sleep infinity &
z=$!
while :; do
    ended=
    wait -n -p ended
    status=$?
    if [ -z "$ended" ]; then continue; fi
    if [ "$ended" = "$d" ]; then say "dockerd exited with status $status"; d=
    elif [ "$ended" = "$s" ]; then say "sshd exited with status $status"; s=
    elif [ "$ended" = "$p" ]; then say "podman exited with status $status"; p=
    elif [ "$ended" = "$z" ]; then sleep infinity & z=$!
    fi
done
"""


class TestHost:
    """A machine of its own in namespaces, with its own dockerd, reached over ssh.

    ``name`` is its hostname and its alias in :attr:`ssh_config` (and so the name in
    :attr:`url`); ``image`` is copied from the main engine into its engine at start (None:
    none) and run once through ssh, so a fleet test can start containers there at once.
    ``podman`` adds Podman's API service (at ``/run/podman/podman.sock``, where systemd's
    ``podman.socket`` has it), with its own store, holding ``image`` too.
    ``stop()`` (idempotent, also from ``__exit__``) ends everything and deletes the
    directory; ``timings`` says how long the parts of :meth:`start` and :meth:`stop` took.
    """

    __test__ = False  # not a test class, whatever pytest's name pattern says

    def __init__(
        self,
        name: str = "cc-host-a",
        image: str | None = DEFAULT_IMAGE,
        *,
        port: int = SSH_PORT,
        podman: bool = False,
        start_timeout: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        if not _NAME.fullmatch(name):
            raise TestHostError(
                f"test host name {name!r} is not a short hostname ([a-z][a-z0-9-]*, 20 at most)"
            )
        if not 0 < port < 65536:
            raise TestHostError(f"test host port {port} is not a TCP port")
        self.name = name
        self.image = image
        self.port = port
        self.podman = podman
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.timings: dict[str, float] = {}
        self._root: pathlib.Path | None = None
        self._unshare: subprocess.Popen[bytes] | None = None
        self._init_pid: int | None = None
        self._slot: int | None = None
        self._link_index: int | None = None

    # -- where it is --------------------------------------------------------------------------

    @property
    def root(self) -> pathlib.Path:
        """The directory holding everything of this test host (keys, configs, logs, data)."""
        if self._root is None:
            raise TestHostError(f"The test host {self.name} is not running: call start() first.")
        return self._root

    @property
    def slot(self) -> int:
        if self._slot is None:
            raise TestHostError(f"The test host {self.name} has no network yet.")
        return self._slot

    @property
    def link(self) -> str:
        """The veth end on this machine (``cc-thN``); the test host's end is its ``eth0``."""
        return f"{LINK_PREFIX}{self.slot}"

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The /30 of this test host and this machine's end of the link."""
        return ipaddress.IPv4Network((int(NETWORK.network_address) + 4 * self.slot, 30))

    @property
    def address(self) -> str:
        """The test host's address (sshd listens there, and only there)."""
        return str(self.network.network_address + 2)

    @property
    def machine_address(self) -> str:
        """This machine's address on the link: the only one the test host can reach."""
        return str(self.network.network_address + 1)

    @property
    def ssh_config(self) -> pathlib.Path:
        """An ssh config file with this host's entry, for ``ssh -F`` and testinfra."""
        return self.root / "ssh_config"

    @property
    def identity(self) -> pathlib.Path:
        """The private key the config logs in with."""
        return self.root / "id_ed25519"

    @property
    def url(self) -> str:
        """``ssh://root@NAME``: for testinfra, ``DOCKER_HOST`` and runtimes files (the port
        comes from :attr:`ssh_config`)."""
        return f"ssh://root@{self.name}"

    @property
    def sdk_url(self) -> str:
        """``ssh://root@NAME:PORT``: the Docker SDK's ``base_url`` (it gives ssh ``-p 22``
        for a URL without a port, whatever the config says)."""
        return f"ssh://root@{self.name}:{self.port}"

    @property
    def wrapper_dir(self) -> pathlib.Path:
        """A directory holding only ``ssh``, a wrapper adding ``-F`` :attr:`ssh_config`: put
        it first on ``PATH`` for the Docker CLI and the SDK (they run ``ssh`` from there)."""
        return self.root / "bin"

    @property
    def cli_env(self) -> dict[str, str]:
        """Environment additions for the Docker CLI to use this host's engine over ssh."""
        return {
            "DOCKER_HOST": self.url,
            "PATH": f"{self.wrapper_dir}:{os.environ.get('PATH', _PATH)}",
        }

    @property
    def init_pid(self) -> int:
        """PID (on this machine) of the test host's PID 1."""
        if self._init_pid is None:
            raise TestHostError(f"The test host {self.name} is not running.")
        return self._init_pid

    @property
    def unshare_pid(self) -> int | None:
        """PID of the ``unshare`` that INIT is the child of (our own child) while it runs."""
        return self._unshare.pid if self._unshare is not None else None

    @property
    def docker_socket(self) -> pathlib.Path:
        """The engine's socket, from this machine: through INIT's root, into its ``/run``.

        Not ``/proc/PID/root/var/run/docker.sock``: ``/var/run`` is a link to ``/run``, and
        the kernel resolves an absolute link from the root of the process that opens the
        path, so that name reaches *this* machine's ``/run``, the main engine's socket. The
        link is resolved here instead (the filesystem is shared; only the mounts differ).
        """
        return pathlib.Path(f"/proc/{self.init_pid}/root{_run_dir()}/docker.sock")

    @property
    def podman_socket(self) -> pathlib.Path:
        """Podman's API socket, from this machine (as :attr:`docker_socket`)."""
        return pathlib.Path(f"/proc/{self.init_pid}/root{_run_dir()}/podman/podman.sock")

    @property
    def docker_env(self) -> dict[str, str]:
        """Environment additions for the Docker CLI to use the engine through its socket
        directly (no ssh): for setting up and inspecting, not for what a test checks."""
        return {"DOCKER_HOST": f"unix://{self.docker_socket}"}

    @property
    def sshd_pid(self) -> int | None:
        """PID (on this machine) of the listening sshd, None when it is not running."""
        return self._host_pid(self.root / "sshd.pid") if self._init_pid is not None else None

    @property
    def dockerd_pid(self) -> int | None:
        """PID (on this machine) of the test host's dockerd, None when it is not running."""
        return self._host_pid(self.root / "docker.pid") if self._init_pid is not None else None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Make the host: keys and configs, INIT, the link, both daemons answering, an ssh
        login giving the right hostname; then the image copied in and run over ssh."""
        if self._root is not None:
            raise TestHostError(f"The test host {self.name} is already running.")
        _check_prerequisites(podman=self.podman)
        sweep_dead_test_hosts()
        started = time.monotonic()
        self._root = daemons.make_root(f"{_TEMP_PREFIX}{self.name}-")
        try:
            self._make_keys()
            self._launch()
            self._connect()
            self._wait_ready()
            self._check_engine_is_ours()
            self.timings["daemons"] = time.monotonic() - started
            said = self.ssh("hostname", timeout=30).stdout.strip()
            if said != self.name:
                raise TestHostError(f"ssh to the test host {self.name} reached {said!r}.")
            self.timings["ssh"] = time.monotonic() - started - self.timings["daemons"]
            if self.image is not None:
                self._load_image(self.image)
            self.timings["start"] = time.monotonic() - started
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End the host: remove its link and its containers, kill INIT (and so everything
        in it), unmount leftovers and delete the directory. Idempotent."""
        if self._root is None:
            return
        stopping = time.monotonic()
        problems: list[str] = []
        try:
            # First, while our namespace still holds the other end: after it, the name may
            # already be another test host's.
            self._remove_link(problems)
            self._stop_init()
            self.timings["stop_init"] = time.monotonic() - stopping
            try:
                remove_tree(self._root, unmount=True)
            except OSError as error:
                problems.append(str(error))
        finally:
            self.timings["stop"] = time.monotonic() - stopping
        if problems:
            raise TestHostError(
                f"The test host {self.name} under {self._root} was not fully cleaned up: "
                + "; ".join(problems)
            )
        self._root = None
        self._slot = None
        self._link_index = None

    def stop_sshd(self, *, sessions: bool = False) -> None:
        """End the test host's sshd, by its PID, so that new ssh connections are refused
        (the machine "drops off" while its engine goes on). Connections already open stay,
        as they would on a real machine whose sshd restarts; ``sessions`` ends them too
        (their processes, by PID, before the listener)."""
        pid = self.sshd_pid
        if pid is None:
            raise TestHostError(f"The test host {self.name} has no sshd running.")
        victims = [*(daemons.descendants(pid) if sessions else []), pid]
        for victim in reversed(victims):
            daemons.terminate(victim, 5.0, kill_timeout=5.0)
        (self.root / "sshd.pid").unlink(missing_ok=True)

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
        if self._root is None or self._slot is None:
            return f"<TestHost {self.name} stopped>"
        return f"<TestHost {self.name} {self.address}:{self.port} init {self._init_pid}>"

    # -- use ----------------------------------------------------------------------------------

    def ssh(
        self, *command: str, check: bool = True, timeout: float = 60.0, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the test host over ssh (with :attr:`ssh_config`).

        The arguments are words, quoted for the remote shell: ``ssh("cat", "/a b")`` reads
        one file; for a shell line, ``ssh("sh", "-c", "LINE")``. Raises :class:`TestHostError`
        on a timeout, and on a non-zero status if ``check``.
        """
        if not command:
            raise TestHostError("TestHost.ssh needs a command.")
        argv = [str(SSH), "-F", str(self.ssh_config), "--", self.name, shlex.join(command)]
        what = f"ssh {self.name} {shlex.join(command)}"
        return _command(argv, what, check=check, timeout=timeout, stdin=stdin)

    def docker(
        self, *args: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """The Docker CLI on the test host's engine through its socket (no ssh)."""
        what = f"docker {' '.join(args)} on the test host {self.name}"
        env = {**os.environ, **self.docker_env}
        return _command(["docker", *args], what, check=check, timeout=timeout, env=env)

    def versions(self) -> dict[str, str]:
        """What its engine reports, by component: ``Engine``, ``containerd``, ``runc``,
        ``docker-init`` (the same packages as the main engine's: one filesystem)."""
        out = self.docker("version", "--format", "{{json .Server}}").stdout
        try:
            server = json.loads(out)
            return {str(c["Name"]): str(c["Version"]) for c in server["Components"]}
        except (ValueError, KeyError, TypeError) as error:
            raise TestHostError(
                f"docker version on the test host {self.name} gave no server components "
                f"({error}): {out.strip()[:200]}"
            ) from None

    def ssh_config_entry(self) -> str:
        """This host's ``Host`` block, for an ssh config naming several test hosts."""
        return (
            f"Host {self.name}\n"
            f"    HostName {self.address}\n"
            f"    Port {self.port}\n"
            "    User root\n"
            f"    IdentityFile {self.identity}\n"
            "    IdentitiesOnly yes\n"
            "    StrictHostKeyChecking no\n"
            "    UserKnownHostsFile /dev/null\n"
            "    LogLevel ERROR\n"
            "    ControlMaster no\n"
            "    BatchMode yes\n"
            "    ConnectTimeout 10\n"
        )

    # -- internals ----------------------------------------------------------------------------

    def _make_keys(self) -> None:
        """The host key sshd serves and the key pair we log in with: new for each host."""
        root = self.root
        keygens = [
            processes.start(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for path, comment in (
                (root / "ssh_host_ed25519_key", f"{self.name} host key"),
                (self.identity, f"container-claims test host {self.name}"),
            )
        ]
        for keygen in keygens:
            out, _ = keygen.communicate(timeout=30)
            if keygen.returncode != 0:
                said = last_line(out.decode(errors="replace")) or "no message"
                raise TestHostError(f"ssh-keygen failed ({keygen.returncode}): {said}")
        shutil.copyfile(self.identity.with_suffix(".pub"), root / "authorized_keys")
        write_ssh_wrapper(self.wrapper_dir, self.ssh_config)

    def _launch(self) -> None:
        root = self.root
        for directory in ("data", "exec", "containers", "cni"):
            (root / directory).mkdir(mode=0o711)
        # Nothing of /etc/docker/daemon.json (its keys may conflict with the flags below),
        # and a key of its own: the engine's ID comes from it, and the default,
        # /etc/docker/key.json, would make every test host's engine the main engine's twin.
        # (dockerd 20.10 takes this path from the config file only.)
        config = {"deprecated-key-path": str(root / "key.json")}
        (root / "daemon.json").write_text(json.dumps(config) + "\n", encoding="utf-8")
        dockerd = shutil.which("dockerd", path=_PATH)
        assert dockerd is not None  # _check_prerequisites
        command = [
            "unshare",
            "--net",
            "--mount",
            "--pid",
            "--uts",
            "--ipc",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--",
            "bash",
            "-c",
            _INIT,
            "cc-test-host-init",
            self.name,
            str(root),
            str(SSHD),
            (shutil.which("podman", path=_PATH) or "podman") if self.podman else "",
            dockerd,
            f"--config-file={root / 'daemon.json'}",
            f"--exec-root={root / 'exec'}",
            f"--pidfile={root / 'docker.pid'}",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--shutdown-timeout=2",
        ]
        self._unshare = daemons.launch(
            command,
            root,
            root / "init.log",
            env={"PATH": _PATH, "LANG": "C.UTF-8"},  # a machine's daemons: not our env
            cwd="/",
            death_signal=signal.SIGKILL,  # unshare blocks SIGTERM (docstring)
        )
        deadline = time.monotonic() + 10.0
        while self._init_pid is None:
            children = daemons.children(self._unshare.pid)
            if children:
                self._init_pid = children[0]
            elif self._unshare.poll() is not None or time.monotonic() > deadline:
                raise TestHostError(
                    f"The test host {self.name}'s unshare did not start INIT "
                    f"(status {self._unshare.poll()}): {self._tail('init.log')}"
                )
            else:
                time.sleep(0.005)

    def _connect(self) -> None:
        """Take a free slot by creating its veth pair into INIT's network namespace, address
        this machine's end, then give INIT its address (the file it waits for) once sshd's
        config, which listens there, is written."""
        _check_network_free()
        for slot in range(_SLOTS):
            link = f"{LINK_PREFIX}{slot}"
            made = _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns",
                       str(self.init_pid))  # fmt: skip
            if made.returncode == 0:
                self._slot = slot
                break
            if "File exists" not in made.stderr:
                raise TestHostError(
                    f"could not create the veth pair of the test host {self.name}: "
                    f"{last_line(made.stderr) or made.returncode}"
                )
        else:
            raise TestHostError(f"All {_SLOTS} test host links {LINK_PREFIX}N are taken.")
        self._link_index = int(pathlib.Path(f"/sys/class/net/{link}/ifindex").read_text())
        for step in (
            ("address", "add", f"{self.machine_address}/30", "dev", link),
            ("link", "set", "dev", link, "up"),
        ):
            done = _ip(*step)
            if done.returncode != 0:
                raise TestHostError(
                    f"ip {' '.join(step)} failed: {last_line(done.stderr) or done.returncode}"
                )
        root = self.root
        (root / "sshd_config").write_text(self._sshd_config(), encoding="utf-8")
        self.ssh_config.write_text(self.ssh_config_entry(), encoding="utf-8")
        network = root / "network.tmp"
        network.write_text(f"{self.address}/30\n", encoding="utf-8")
        network.rename(root / "network")  # INIT reads it whole or not at all

    def _sshd_config(self) -> str:
        root = self.root
        return (
            f"Port {self.port}\n"
            f"ListenAddress {self.address}\n"
            f"HostKey {root / 'ssh_host_ed25519_key'}\n"
            f"AuthorizedKeysFile {root / 'authorized_keys'}\n"
            f"PidFile {root / 'sshd.pid'}\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitUserEnvironment no\n"
            "AllowAgentForwarding no\n"
            "X11Forwarding no\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            "UseDNS no\n"
            # Fleet tests open many connections at once (a forwarded socket per runtime,
            # testinfra, the CLI): the default 10 unauthenticated ones would drop some.
            "MaxStartups 100\n"
            "MaxSessions 100\n"
            "Subsystem sftp internal-sftp\n"
        )

    def _wait_ready(self) -> None:
        """Until dockerd answers on its socket and sshd accepts on its address; a daemon or
        INIT that exits ends the wait with that one's log."""
        assert self._unshare is not None
        docker_up = sshd_up = podman_up = False

        def answers() -> bool:
            nonlocal docker_up, sshd_up, podman_up
            said = self._tail("init.log", 20)
            for daemon, log in DAEMON_LOGS:
                if f"init: {daemon} exited" in said:
                    raise TestHostError(
                        f"The test host {self.name}'s {daemon} exited while starting: "
                        f"{self._tail(log)}"
                    )
            docker_up = docker_up or _docker_pings(self.docker_socket)
            sshd_up = sshd_up or _accepts(self.address, self.port)
            podman_up = not self.podman or self.podman_socket.exists()
            return docker_up and sshd_up and podman_up

        def late() -> TestHostError:
            waiting, log = DAEMON_LOGS[0 if not docker_up else 1 if not sshd_up else 2]
            return TestHostError(
                f"The test host {self.name}'s {waiting} did not answer within "
                f"{self.start_timeout:.0f} s: {self._tail(log)}"
            )

        daemons.wait_until(
            answers,
            self._unshare,
            timeout=self.start_timeout,
            ended=lambda code: TestHostError(
                f"The test host {self.name} ended while starting (status {code}): "
                f"{self._tail('init.log')}"
            ),
            late=late,
            interval=0.05,
        )

    def _check_engine_is_ours(self) -> None:
        """The engine behind :attr:`docker_socket` must be this host's: its name is the
        test host's hostname, and its /var/lib/docker our directory (a wrong path would reach
        the main engine, and everything would seem to work)."""
        said = self.docker("info", "--format", "{{.Name}}\t{{.DockerRootDir}}", timeout=30)
        found = said.stdout.strip()
        if found != f"{self.name}\t/var/lib/docker" or not (self.root / "data/image").is_dir():
            raise TestHostError(
                f"The engine at {self.docker_socket} is not the test host {self.name}'s: "
                f"it says {found!r}, and {self.root / 'data'} holds "
                f"{sorted(p.name for p in (self.root / 'data').iterdir())}."
            )

    def _load_image(self, image: str) -> None:
        """Copy ``image`` from the main engine through the socket, then run it over ssh: what
        a fleet test will do first must work before the test begins."""
        loading = time.monotonic()
        try:
            copy_image(image, self.docker_env)
        except (ControlEngineError, ClaimsError, OSError, subprocess.SubprocessError) as error:
            raise TestHostError(
                f"could not copy {image} into the test host {self.name}: "
                f"{last_line(str(error)) or type(error).__name__}"
            ) from None
        self.timings["image_load"] = time.monotonic() - loading
        running = time.monotonic()
        self.ssh(
            "docker", "run", "--rm", "--pull", "never", "--network", "none", image, "true",
            timeout=120,
        )  # fmt: skip
        self.timings["run_check"] = time.monotonic() - running
        if self.podman:  # from the host's own engine, as scripts/setup fills a machine's
            loading = time.monotonic()
            self.ssh("podman", "pull", "--quiet", f"docker-daemon:{image}", timeout=300)
            self.timings["podman_image"] = time.monotonic() - loading

    def _remove_link(self, problems: list[str]) -> None:
        """Delete our end of the veth (the pair goes with it), if the link of that name is
        still the one we made (same ifindex)."""
        if self._slot is None or self._link_index is None:
            return
        index_file = pathlib.Path(f"/sys/class/net/{self.link}/ifindex")
        with contextlib.suppress(OSError, ValueError):
            if int(index_file.read_text()) == self._link_index:
                gone = _ip("link", "delete", "dev", self.link)
                if gone.returncode != 0 and index_file.exists():
                    problems.append(f"ip link delete {self.link}: {last_line(gone.stderr)}")

    def _stop_init(self) -> None:
        """Remove the containers through the engine, then SIGKILL INIT: the kernel ends
        everything else in its PID namespace before INIT is reaped.

        A graceful dockerd shutdown would add a second (it waits for its containerd to come
        back) and clean nothing more: the host's mounts, sockets and shims are in its own
        namespaces and ``/run``, its files in the directory. Only a running container's
        cgroups are outside; ``docker rm --force`` lets runc remove them first.
        """
        unshare = self._unshare
        if unshare is None:
            return
        if unshare.poll() is None and self._init_pid is not None:
            with contextlib.suppress(TestHostError):
                self._remove_containers()
            # INIT is unshare's child, not reaped while unshare runs: the PID is still INIT's.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._init_pid, signal.SIGKILL)
            try:
                unshare.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                unshare.kill()  # --kill-child: SIGKILL to INIT too
        unshare.wait()
        self._unshare = None
        self._init_pid = None

    def _remove_containers(self) -> None:
        ids = self.docker("ps", "--all", "--quiet", timeout=20).stdout.split()
        if ids:
            self.docker("rm", "--force", "--volumes", *ids, check=False, timeout=60)
        if self.podman and self.podman_socket.exists():  # through its socket: sshd may be gone
            subprocess.run(
                ["podman", "rm", "--all", "--force", "--time=0"],
                env={**os.environ, "CONTAINER_HOST": f"unix://{self.podman_socket}"},
                stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False,
            )  # fmt: skip

    def _host_pid(self, pidfile: pathlib.Path) -> int | None:
        """The PID on this machine of INIT's child that a pidfile names by its PID in the
        test host (the last field of its ``NSpid``)."""
        try:
            inside = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        for child in daemons.children(self.init_pid):
            with contextlib.suppress(OSError, ValueError, IndexError):
                status = pathlib.Path(f"/proc/{child}/status").read_text()
                nspid = next(line for line in status.splitlines() if line.startswith("NSpid:"))
                if int(nspid.split()[-1]) == inside and daemons.running(child):
                    return child
        return None

    def _tail(self, name: str, lines: int = 4) -> str:
        if self._root is None:
            return "(no log)"
        return daemons.log_tail(
            self._root / name, lines, missing=f"(no {name})", empty=f"({name} is empty)"
        )


# -- several hosts ----------------------------------------------------------------------------


def write_fleet_file(path: pathlib.Path, hosts: Iterable[TestHost]) -> pathlib.Path:
    """A runtimes file for this machine's docker (``docker``) and each host's
    (``docker-NAME``), with an ssh config for the hosts beside it: a fleet, for
    ``--runtimes-file PATH --runtime all``."""
    hosts = list(hosts)
    config = write_ssh_config(path.with_suffix(".ssh_config"), hosts)
    entries = [{"name": "docker", "kind": "docker"}] + [
        {"name": f"docker-{host.name}", "kind": "docker", "host": host.url,
         "ssh_config": config.name}
        for host in hosts
    ]  # fmt: skip
    path.write_text(yaml.safe_dump({"runtimes": entries}, sort_keys=False), encoding="utf-8")
    return path


def write_ssh_config(path: pathlib.Path, hosts: Iterable[TestHost]) -> pathlib.Path:
    """One ssh config naming all ``hosts`` (``run --hosts ssh://a,ssh://b --ssh-config``)."""
    path.write_text("\n".join(host.ssh_config_entry() for host in hosts), encoding="utf-8")
    return path


def write_ssh_wrapper(directory: pathlib.Path, ssh_config: pathlib.Path) -> pathlib.Path:
    """Write ``directory/ssh``, running ``/usr/bin/ssh -F ssh_config`` with its arguments.

    The Docker CLI (``DOCKER_HOST=ssh://NAME``) and the Docker SDK (``use_ssh_client=True``)
    run ``ssh`` from ``PATH`` and cannot be given ``-F``: put ``directory`` first on the
    ``PATH`` they see. Returns the script's path.
    """
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "ssh"
    script.write_text(
        f'#!/bin/sh\nexec {SSH} -F {shlex.quote(str(ssh_config))} "$@"\n', encoding="utf-8"
    )
    script.chmod(0o755)
    return script


def sweep_dead_test_hosts() -> list[pathlib.Path]:
    """Remove the directories of test hosts whose test process is gone (the kernel ended
    their processes; no one deleted their files). A directory whose test process or
    ``unshare`` still runs, or that names neither yet, is left alone."""
    return daemons.sweep_dead(_TEMP_PREFIX)


# -- helpers ----------------------------------------------------------------------------------


def _command(
    argv: list[str],
    what: str,
    *,
    check: bool,
    timeout: float,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command of a test host's to its end: :class:`TestHostError` naming ``what`` on a
    timeout, and on a non-zero status if ``check``."""
    try:
        result = processes.run(
            argv,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise TestHostError(f"{what} did not finish within {timeout:.0f} s.") from None
    if check and result.returncode != 0:
        said = last_line(result.stderr) or last_line(result.stdout) or "no message"
        raise TestHostError(f"{what} failed ({result.returncode}): {said}")
    return result


def _check_prerequisites(*, podman: bool) -> None:
    if os.geteuid() != 0:
        raise TestHostError("A test host makes namespaces, links and a dockerd: needs root.")
    missing = [
        f"{program} ({package})"
        for program, package in (
            ("unshare", "util-linux"),
            ("ip", "iproute2"),
            ("dockerd", "docker.io"),
            ("docker", "docker.io"),
            ("ssh-keygen", "openssh-client"),
            *([("podman", "podman")] if podman else []),
        )
        if shutil.which(program, path=_PATH) is None
    ]
    missing += [
        f"{path} ({package})"
        for path, package in ((SSH, "openssh-client"), (SSHD, "openssh-server"))
        if not path.exists()
    ]
    if missing:
        raise TestHostError(f"A test host needs {', '.join(missing)}: run scripts/setup.")


def _check_network_free() -> None:
    """Refuse to start when a route on this machine, other than a test host's link, reaches
    into :data:`NETWORK`: our addresses would then shadow, or be shadowed by, someone's."""
    listed = _ip("-json", "-4", "route", "show", "table", "all")
    if listed.returncode != 0:
        raise TestHostError(f"ip route failed: {last_line(listed.stderr)}")
    for route in json.loads(listed.stdout or "[]"):
        dst, dev = str(route.get("dst", "")), str(route.get("dev", ""))
        if dst in ("", "default") or dev.startswith(LINK_PREFIX):
            continue
        with contextlib.suppress(ValueError):
            if ipaddress.IPv4Network(dst, strict=False).overlaps(NETWORK):
                raise TestHostError(
                    f"{NETWORK} is in use on this machine (route {dst} dev {dev}): "
                    "test hosts need it to themselves."
                )


def _run_dir() -> str:
    """What ``/var/run`` is, links resolved: where INIT mounts its tmpfs (``/run`` here)."""
    return os.path.realpath("/var/run")


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _docker_pings(path: pathlib.Path) -> bool:
    """Whether an engine answers ``/_ping`` on the unix socket ``path`` (no CLI: cheap)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = sock.recv(64)
        except OSError:
            return False
    return answer.startswith(b"HTTP/1.") and answer[9:12] == b"200"


def _accepts(address: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``address:port`` (a test host's only)."""
    try:
        with socket.create_connection((address, port), timeout=1.0):
            return True
    except OSError:
        return False
