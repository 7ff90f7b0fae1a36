"""The test daemons' shared life cycle (tests/support/daemons.py), on local ``sh``/``sleep``
processes of this test's own, ended by their PIDs."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import tempfile

import pytest

from container_claims.hostfs import mountinfo, remove_tree
from tests.support import daemons


def test_a_daemon_is_launched_waited_for_and_terminated_by_its_pid(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "daemon.log"
    process = daemons.launch(
        ["sh", "-c", "echo listening; exec sleep 30"],
        tmp_path,
        log,
        env=dict(os.environ),
        cwd=tmp_path,
        death_signal=signal.SIGTERM,
    )
    try:
        assert (tmp_path / "owner").read_text().split() == [str(os.getpid()), str(process.pid)]
        daemons.wait_until(
            lambda: "listening" in log.read_text(),
            process,
            timeout=10,
            ended=lambda code: AssertionError(f"ended with {code}"),
            late=lambda: AssertionError("late"),
            interval=0.02,
        )
        assert daemons.running(process.pid)
        assert daemons.log_tail(log, 4) == "listening"
    finally:
        daemons.terminate(process.pid, 5.0, gone=lambda: process.poll() is not None)
    assert process.returncode == -signal.SIGTERM


def test_waiting_ends_when_the_daemon_ends_or_the_time_is_up(tmp_path: pathlib.Path) -> None:
    def start(command: str) -> subprocess.Popen[bytes]:
        return daemons.launch(
            ["sh", "-c", command],
            tmp_path,
            tmp_path / "log",
            env=dict(os.environ),
            cwd=tmp_path,
            death_signal=signal.SIGKILL,
        )

    with pytest.raises(ValueError, match="status 3"):
        daemons.wait_until(
            lambda: False,
            start("exit 3"),
            timeout=10,
            ended=lambda code: ValueError(f"status {code}"),
            late=lambda: ValueError("late"),
            interval=0.02,
        )
    sleeping = start("exec sleep 30")
    try:
        with pytest.raises(ValueError, match="late"):
            daemons.wait_until(
                lambda: False,
                sleeping,
                timeout=0.1,
                ended=lambda code: ValueError(f"status {code}"),
                late=lambda: ValueError("late"),
                interval=0.02,
            )
    finally:
        daemons.terminate(sleeping.pid, 5.0, gone=lambda: sleeping.poll() is not None)


def test_the_directories_of_dead_owners_are_swept_and_live_ones_kept() -> None:
    prefix = f"cc-test-daemons-{os.getpid()}-"
    dead = pathlib.Path(tempfile.mkdtemp(prefix=f"{prefix}dead-"))
    alive = pathlib.Path(tempfile.mkdtemp(prefix=f"{prefix}alive-"))
    unnamed = pathlib.Path(tempfile.mkdtemp(prefix=f"{prefix}unnamed-"))
    try:
        gone_pid = 2**22 + 1  # above the largest PID Linux gives (PID_MAX_LIMIT)
        (dead / "owner").write_text(f"{gone_pid} {gone_pid + 1}\n")
        (alive / "owner").write_text(f"{os.getpid()} {gone_pid}\n")

        assert daemons.sweep_dead(prefix) == [dead]
        assert not dead.exists() and alive.exists() and unnamed.exists()
    finally:
        for directory in (dead, alive, unnamed):
            subprocess.run(["rm", "-rf", "--", str(directory)], check=True)


def test_a_daemons_directory_on_overlayfs_gets_a_tmpfs_of_its_own(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a CI job container /tmp is the container's overlayfs root, where no store can stack
    (overlay2 refuses it, vfs's copies show an overlay root): a tmpfs is mounted there, and
    removed with the directory. Elsewhere the directory is a plain one."""
    if os.geteuid() != 0:
        pytest.skip("mounting an overlayfs needs root")
    plain = daemons.make_root("cc-test-daemons-plain-")
    try:
        assert plain.is_mount() == (daemons.filesystem_type(plain.parent) == "overlay")
    finally:
        remove_tree(plain, unmount=True)

    # The layers on a tmpfs: an overlayfs does not stack on one (where this test runs in a
    # container, tmp_path is on its overlayfs root).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "cc-test", str(tmp_path)], check=True)
    try:
        layers = {name: tmp_path / name for name in ("lower", "upper", "work", "merged")}
        for directory in layers.values():
            directory.mkdir()
        lower, upper, work, merged = (str(layers[name]) for name in layers)
        options = f"lowerdir={lower},upperdir={upper},workdir={work}"
        subprocess.run(["mount", "-t", "overlay", "-o", options, "cc-test", merged], check=True)
        try:
            monkeypatch.setattr(tempfile, "tempdir", merged)
            assert daemons.filesystem_type(layers["merged"]) == "overlay"
            root = daemons.make_root("cc-test-daemons-")
            assert root.parent == layers["merged"]
            assert daemons.filesystem_type(root) == "tmpfs"
            (root / "store").write_text("a layer")
            assert not (layers["upper"] / root.name / "store").exists()
            remove_tree(root, unmount=True)
            assert not root.exists()
            assert all(m["point"] != str(root) for m in mountinfo())
        finally:
            subprocess.run(["umount", "--lazy", merged], check=True)
    finally:
        subprocess.run(["umount", "--lazy", str(tmp_path)], check=True)
