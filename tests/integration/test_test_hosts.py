"""Test hosts (:mod:`tests.support.test_hosts`): two "machines" on this one, reached over ssh.

What fleet tests rely on: plain ssh, the Docker CLI (``DOCKER_HOST=ssh://``) and testinfra
reach each test host through its ssh config; each is a machine of its own
(hostname, PID 1, namespaces, engine and its data, network) on this machine's kernel; one can
drop off (its sshd ended) while the other answers; and after ``stop()`` nothing of either is
left: no process, link, address, mount or directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra

from container_claims.hostfs import mountinfo
from container_claims.image import DEFAULT_IMAGE
from tests.support.test_hosts import (
    TestHost,
    TestHostError,
    write_ssh_config,
    write_ssh_wrapper,
)

from .conftest import docker


def running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def mentioning(text: str) -> list[int]:
    """Processes on this machine whose command line contains ``text`` (to check, not kill)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline and running(int(entry.name)):
                found.append(int(entry.name))
    return found


def ssh(config: Path, name: str, *command: str) -> subprocess.CompletedProcess[str]:
    """``ssh -F CONFIG NAME COMMAND``, as a user types it."""
    return subprocess.run(
        ["ssh", "-F", str(config), name, *command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass(frozen=True)
class Machine:
    """What makes a machine itself, as read on it."""

    hostname: str
    pid1: bytes
    boot_id: str
    kernel: str
    namespaces: tuple[str, ...]  # pid, net, mnt
    data_root: str  # the directory at the engine's data root: device and inode


NAMESPACES = ("pid", "net", "mnt")


def identity(path: str) -> str:
    """``device:inode`` of ``path``, as ``stat -c %d:%i`` says it."""
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def test_two_test_hosts_over_ssh(tmp_path: Path, engine: None) -> None:
    machine = Machine(
        hostname=socket.gethostname(),
        pid1=Path("/proc/1/cmdline").read_bytes(),
        boot_id=Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
        kernel=os.uname().release,
        namespaces=tuple(os.readlink(f"/proc/self/ns/{ns}") for ns in NAMESPACES),
        data_root=identity(docker("info", "--format", "{{.DockerRootDir}}").strip()),
    )

    # a with the test image (copied in, run once over ssh at start), b without.
    with TestHost("cc-host-a") as a, TestHost("cc-host-b", image=None) as b:
        hosts = (a, b)
        fleet = write_ssh_config(tmp_path / "fleet.ssh_config", hosts)
        bin_dir = write_ssh_wrapper(tmp_path / "bin", fleet).parent
        cli_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

        seen: dict[str, Machine] = {}
        engine_ids: dict[str, str] = {}
        for host in hosts:
            # Plain ssh, with the host's own config and with the fleet's.
            for config in (host.ssh_config, fleet):
                said = ssh(config, host.name, "hostname")
                assert (said.returncode, said.stdout.strip()) == (0, host.name), said.stderr

            # The Docker CLI over ssh: DOCKER_HOST=ssh://root@NAME, ssh from the wrapper.
            info = subprocess.run(
                ["docker", "info", "--format", "{{.Name}}\t{{.DockerRootDir}}\t{{.ID}}"],
                env={**cli_env, "DOCKER_HOST": host.url},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert info.returncode == 0, info.stderr
            name, data_root, engine_ids[host.name] = info.stdout.strip().split("\t")
            assert (name, data_root) == (host.name, "/var/lib/docker")  # bound on its own
            assert (host.root / "data" / "image").is_dir()

            # testinfra's ssh backend reads the test host's own /proc.
            remote = testinfra.get_host(host.url, ssh_config=str(fleet))
            pid1 = remote.file("/proc/1/cmdline").content
            assert pid1.split(b"\0")[3:5] == [b"cc-test-host-init", host.name.encode()]
            seen[host.name] = Machine(
                hostname=remote.check_output("hostname"),
                pid1=pid1,
                boot_id=remote.check_output("cat /proc/sys/kernel/random/boot_id"),
                kernel=remote.check_output("uname -r"),
                namespaces=tuple(
                    remote.check_output(f"readlink /proc/self/ns/{ns}") for ns in NAMESPACES
                ),
                data_root=remote.check_output(f"stat -c %d:%i {data_root}"),
            )
            assert seen[host.name].hostname == host.name

        # A container runs on a, through the CLI over ssh, on the one kernel there is.
        ran = subprocess.run(
            ["docker", "run", "--rm", "--pull", "never", "--network", "none", DEFAULT_IMAGE]
            + ["uname", "-r"],
            env={**cli_env, "DOCKER_HOST": a.url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (ran.returncode, ran.stdout.strip()) == (0, machine.kernel), ran.stderr

        # Three machines: their own hostname, PID 1, namespaces, engine and data; one kernel,
        # booted once. The image copied into a is not in b.
        everyone = [machine, *seen.values()]
        for differs in ("hostname", "pid1", "data_root"):
            assert len({getattr(m, differs) for m in everyone}) == 3, differs
        for index, ns in enumerate(NAMESPACES):
            assert len({m.namespaces[index] for m in everyone}) == 3, ns
        assert len({m.boot_id for m in everyone}) == 1
        assert len({m.kernel for m in everyone}) == 1
        assert engine_ids[a.name] != engine_ids[b.name]
        assert a.ssh("docker", "images", "--quiet").stdout.split() != []
        assert b.ssh("docker", "images", "--quiet").stdout.split() == []
        main_version = docker("version", "--format", "{{.Server.Version}}").strip()
        assert a.versions()["Engine"] == main_version  # same packages: one filesystem

        # b cannot reach a: its only route is the /30 to this machine.
        probe = b.ssh("bash", "-c", f"exec 3<>/dev/tcp/{a.address}/{a.port}", check=False)
        assert probe.returncode != 0 and "unreachable" in probe.stderr, probe.stderr

        # a drops off: new ssh connections fail, its engine goes on, b still answers.
        sshd = a.sshd_pid
        assert sshd is not None
        a.stop_sshd()
        assert not running(sshd) and a.sshd_pid is None
        refused = ssh(fleet, a.name, "hostname")
        assert refused.returncode == 255 and "refused" in refused.stderr, refused.stderr
        assert ssh(fleet, b.name, "hostname").stdout.strip() == b.name
        assert a.docker("info", "--format", "{{.Name}}").stdout.strip() == a.name

        processes = [
            pid
            for host in hosts
            for pid in (host.unshare_pid, host.init_pid, host.sshd_pid, host.dockerd_pid)
        ]
        assert processes.count(None) == 1  # a's sshd
        links = [host.link for host in hosts]
        addresses = [host.machine_address for host in hosts]
        roots = [host.root for host in hosts]

    print(f"timings: a {a.timings}, b {b.timings}")
    assert [pid for pid in processes if running(pid)] == []
    for root in roots:
        assert not root.exists()
        assert mentioning(str(root)) == []  # containerd, shims, ssh clients with its config
        assert [m["point"] for m in mountinfo() if m["point"].startswith(str(root))] == []
    assert mentioning(str(fleet)) == []  # no ssh client (the CLI's, testinfra's) lingers
    for link in links:
        assert not Path(f"/sys/class/net/{link}").exists()
    listed = subprocess.run(["ip", "-4", "-o", "address"], capture_output=True, text=True)
    assert [address for address in addresses if f" {address}/" in listed.stdout] == []
    # The main engine is the one it was.
    assert identity(docker("info", "--format", "{{.DockerRootDir}}").strip()) == machine.data_root


class BrokenSshd(TestHost):
    """A test host whose sshd refuses its own config: its start must fail, and clean up."""

    made: tuple[Path, str] | None = None  # its directory and link, to look for afterwards

    def _sshd_config(self) -> str:
        self.made = (self.root, self.link)
        return super()._sshd_config() + "NoSuchKeyword yes\n"


def test_a_start_that_fails_says_why_and_leaves_nothing(engine: None) -> None:
    host = BrokenSshd("cc-host-x", image=None)
    with pytest.raises(TestHostError) as raised:
        host.start()
    message = str(raised.value)
    assert "\n" not in message
    assert "sshd exited while starting" in message and "NoSuchKeyword" in message, message
    assert host.made is not None and host.unshare_pid is None
    root, link = host.made
    assert not root.exists() and mentioning(str(root)) == []
    assert not Path(f"/sys/class/net/{link}").exists()
