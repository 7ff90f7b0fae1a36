"""Children of ours die with the process that started them, not with the thread that asked.

Each test starts real local processes (``sleep``, a Python helper) and ends only those, by PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from container_claims import processes
from container_claims.processes import end_child

PYTHONPATH = str(Path(processes.__file__).resolve().parents[1])


def gone(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` has ended (or is a zombie) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


#: Prints its own parent-death signal, as the kernel holds it (PR_GET_PDEATHSIG is 2).
SAY_DEATH_SIGNAL = (
    "import ctypes\n"
    "sig = ctypes.c_int()\n"
    "ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)\n"
    "print(sig.value)\n"
)


def test_the_kernel_holds_the_death_signal_asked_for() -> None:
    for sig in (signal.SIGKILL, signal.SIGTERM):
        said = processes.run(
            [sys.executable, "-c", SAY_DEATH_SIGNAL],
            death_signal=sig,
            capture_output=True,
            text=True,
        )
        assert int(said.stdout) == sig


def test_the_child_is_the_program_itself_with_the_pid_popen_gives() -> None:
    child = processes.start(["sleep", "30"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child.pid}/comm").read_text().strip() != "sleep":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert Path(f"/proc/{child.pid}/cmdline").read_bytes() == b"sleep\x0030\x00"
    finally:
        end_child(child)


def test_a_child_started_from_a_thread_that_ends_lives_on() -> None:
    started: list[subprocess.Popen[bytes]] = []
    worker = threading.Thread(target=lambda: started.append(processes.start(["sleep", "30"])))
    worker.start()
    worker.join()
    (child,) = started
    try:
        assert not gone(child.pid, within=0.5)
        assert child.poll() is None
    finally:
        end_child(child)
    assert child.returncode == -signal.SIGTERM


def test_every_child_dies_when_the_process_that_started_it_is_killed() -> None:
    """The run's process, killed by SIGKILL (no cleanup runs): its children from the main
    thread and from a thread that has ended get their signal all the same."""
    code = (
        "import threading, time\n"
        "from container_claims import processes\n"
        "main = processes.start(['sleep', '60'])\n"
        "other = []\n"
        "t = threading.Thread(target=lambda: other.append(processes.start(['sleep', '60'])))\n"
        "t.start(); t.join()\n"
        "print(main.pid, other[0].pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    with processes.start(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    ) as run:
        try:
            assert run.stdout is not None
            pids = [int(word) for word in run.stdout.readline().split()]
            assert len(pids) == 2 and not any(gone(pid, within=0.2) for pid in pids)
        finally:
            run.kill()
            run.wait()
    assert all(gone(pid) for pid in pids)


def test_a_program_that_cannot_be_found_raises_as_popen_does(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-program-here"):
        processes.start(["no-such-program-here"])
    with pytest.raises(FileNotFoundError):
        processes.run_bounded(["no-such-program-here"], timeout=5, limit=100)
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        processes.start([str(script)])
    # Looked up on the PATH the child gets, as Popen does.
    with pytest.raises(FileNotFoundError):
        processes.start(["sleep", "1"], env={"PATH": str(tmp_path)})


def test_run_kills_the_child_at_its_timeout_and_reaps_it() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        processes.run(["sleep", "30"], timeout=0.2)
    done = processes.run(["sh", "-c", "cat; exit 3"], input="in", capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.args) == (3, "in", ["sh", "-c", "cat; exit 3"])


def test_ctrl_c_signals_come_back_to_their_default_when_asked() -> None:
    """The terminal's client gets Ctrl-C even when the suite was started with it ignored."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        argv = ["sh", "-c", "grep SigIgn /proc/self/status"]
        ignored = processes.run(argv, capture_output=True, text=True).stdout
        command = processes.dying_with_us(argv, default_signals=(signal.SIGINT,))
        restored = subprocess.run(command, capture_output=True, text=True).stdout
    finally:
        signal.signal(signal.SIGINT, previous)
    sigint = 1 << (signal.SIGINT - 1)
    assert int(ignored.split()[1], 16) & sigint
    assert not int(restored.split()[1], 16) & sigint


def test_no_child_of_the_product_runs_python_code_between_fork_and_exec() -> None:
    source = Path(processes.__file__).parent
    assert [str(path) for path in source.rglob("*.py") if "preexec_fn=" in path.read_text()] == []


def test_the_environment_is_copied_while_another_thread_changes_it() -> None:
    """pytest sets and deletes PYTEST_CURRENT_TEST around every test, in its thread, while
    scenarios are observed in others: a copy made meanwhile must not raise (``dict(os.environ)``
    did, now and then: a KeyError in place of a verdict)."""
    done = threading.Event()

    def changing() -> None:
        while not done.is_set():
            os.environ["CC_TEST_CHANGING"] = "x"
            del os.environ["CC_TEST_CHANGING"]

    thread = threading.Thread(target=changing)
    thread.start()
    try:
        copies = [processes.environment({"ADDED": "1"}) for _ in range(20_000)]
    finally:
        done.set()
        thread.join()
    assert all(copy["ADDED"] == "1" and copy["PATH"] == os.environ["PATH"] for copy in copies)


def test_the_engines_client_reads_nothing_from_the_environment_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same race through the Docker SDK: requests iterates os.environ for proxies on
    every call to the engine (a KeyError seen under --jobs). Our clients never ask it."""
    import docker
    import requests

    from container_claims.runtimes.base import RuntimeConfig
    from container_claims.runtimes.docker import DockerRuntime

    def offline(**_: object) -> docker.DockerClient:  # no engine here: no version asked
        return docker.DockerClient(base_url="unix:///nonexistent.sock", version="1.41")

    def environment_read(*_: object, **__: object) -> dict[str, str]:
        raise AssertionError("the environment was read for proxies")

    monkeypatch.setattr(docker.DockerClient, "from_env", offline)
    monkeypatch.setattr(requests.sessions, "get_environ_proxies", environment_read)
    config = RuntimeConfig(name="d", kind="docker", env=(("DOCKER_HOST", "unix:///x.sock"),))
    client = DockerRuntime(config, image="img", run_id="r1").client()
    settings = client.api.merge_environment_settings(
        "http+docker://localhost/info", {}, None, None, None
    )
    assert settings["proxies"] == {}
