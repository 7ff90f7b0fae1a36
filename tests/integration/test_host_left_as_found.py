"""Whatever the suite or its tests start leaves the host as it found it.

The second engine of the negative controls, the loopback registry, the podman service and the
engine-less runtimes' namespaces all touch the machine while they run; afterwards the host's
interfaces, addresses, routes, iptables rules, mounts and Docker's daemon.json must be as
before (a dockerd with ``--bridge none`` in the host's network namespace once deleted the
host's ``docker0``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from tests.support.control_engine import ControlEngine
from tests.support.host_state import snapshot

from .conftest import SCENARIOS, run_suite


def test_the_host_is_left_as_it_was_found(tmp_path: Path, leaves_nothing: None) -> None:
    before = snapshot()

    with ControlEngine() as engine:
        started = engine.docker("run", "--rm", "--network=none", "--", engine.image or "", "true")
        assert started.returncode == 0
    run = run_suite(
        str(SCENARIOS / "registry-pull.yaml"),
        str(SCENARIOS / "process-namespace.yaml"),
        "--runtime",
        "all",
        tmp=tmp_path,
    )

    after = snapshot()
    assert run.data["results"], run.output[-3000:]
    assert before.differences(after) == []
    # The main engine's default network still works: docker0 is there and usable.
    bridge = subprocess.run(
        ["docker", "network", "inspect", "bridge", "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bridge.stdout.strip() == "bridge"


def test_a_control_engine_that_died_leaves_no_container_running() -> None:
    """Its dockerd and containerd gone (killed, as on a machine too loaded for them to stop in
    time), its containers' shims live on: stopping the engine ends them too."""
    engine = ControlEngine()
    with engine:
        started = engine.docker(
            "run", "-d", "--network=none", "--", engine.image or "", "sleep", "1000"
        )
        container = engine.docker("inspect", "-f", "{{.State.Pid}}", started.stdout.strip())
        pid = int(container.stdout)
        root = engine.root
        # Our own children, by their ids: the engine dies without stopping anything.
        for daemon in (engine.pid, engine._containerd_pid):
            assert daemon is not None
            os.kill(daemon, signal.SIGKILL)
        assert _running(pid)
    assert not _running(pid)
    assert [cmdline for cmdline in _cmdlines() if str(root).encode() in cmdline] == []


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _cmdlines() -> list[bytes]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                found.append((entry / "cmdline").read_bytes())
    return found
