"""Host probes against real processes the test starts itself, without any engine.

Each test runs on both paths of the host handle: files read directly, and commands run
through testinfra (as on a remote host); both must find the same."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from container_claims.paths import rootfs_dir
from container_claims.probes import host
from container_claims.probes.handle import HostHandle


@pytest.fixture
def chrooted_sleep() -> Iterator[int]:
    """A process confined by plain chroot in new PID and mount namespaces (util-linux)."""
    rootfs = rootfs_dir()
    if not (rootfs / "bin").exists():
        pytest.fail(f"no root filesystem at {rootfs}: run scripts/setup", pytrace=False)
    parent = subprocess.Popen(
        ["unshare", "--mount", "--pid", "--fork", "chroot", str(rootfs), "sleep", "600"]
    )
    child = 0
    try:
        deadline = time.monotonic() + 10
        while not child and time.monotonic() < deadline:
            children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
            child = int(children[0]) if children else 0
            time.sleep(0.02)
        assert child, "unshare started no child"
        yield child
    finally:
        if child:
            os.kill(child, 9)  # PID 1 of its namespace: ending it ends the namespace
        parent.wait(timeout=10)


def _identity(pid: int) -> tuple[str, str]:
    nspid = [
        line
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("NSpid:")
    ][0].split()[-1]
    return os.readlink(f"/proc/{pid}/ns/pid"), nspid


def test_confinement_reports_chroot_for_a_chrooted_process(ctx: Any, chrooted_sleep: int) -> None:
    namespace, nspid = _identity(chrooted_sleep)
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    found = host.confinement(ctx, namespace, nspid, boot)
    assert found["mechanism"] == "chroot"
    assert found["root_link"] == str(rootfs_dir())


def test_confinement_reports_a_sandbox_kernel_by_its_boot_id(ctx: Any) -> None:
    # As gVisor's shell reports itself: a namespace no host process is in, a boot id of its own.
    found = host.confinement(ctx, "pid:[111]", "1", "00000000-0000-0000-0000-000000000000")
    assert found["mechanism"] == "sandbox-kernel"


def test_a_boot_id_mounted_over_is_no_sandbox_kernel(ctx: Any, chrooted_sleep: int) -> None:
    """The host runs the process: a boot id other than the host's was mounted over it (as LXC
    and nspawn do), and the host's reading of its root decides."""
    namespace, nspid = _identity(chrooted_sleep)
    found = host.confinement(ctx, namespace, nspid, "00000000-0000-0000-0000-000000000000")
    assert found["mechanism"] == "chroot"
    assert found["boot_id_masked"] is True
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert host.confinement(ctx, namespace, nspid, boot)["boot_id_masked"] is False


def test_find_process_sees_both_pids(ctx: Any, chrooted_sleep: int) -> None:
    namespace, nspid = _identity(chrooted_sleep)
    found = host.find_process(ctx, namespace, nspid)
    assert found["found"] is True
    assert found["nspid"] == [chrooted_sleep, 1]
    assert {"pid", "mnt"} <= set(found["own_namespaces"])


def test_find_process_not_found_has_the_same_shape(ctx: Any, chrooted_sleep: int) -> None:
    namespace, _ = _identity(chrooted_sleep)
    found = host.find_process(ctx, namespace, "99999")
    assert found["found"] is False
    assert set(found) == set(host.find_process(ctx, *_identity(chrooted_sleep)))


@pytest.fixture(params=[True, False], ids=["direct", "commands"])
def ctx(request: pytest.FixtureRequest) -> Any:
    """What these probes use of their context: the host handle, on one of its paths."""
    import testinfra

    return SimpleNamespace(host=HostHandle(testinfra.get_host("local://"), direct=request.param))
