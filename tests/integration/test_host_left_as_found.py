"""Whatever the suite or its tests start leaves the host as it found it.

The second engine of the negative controls, the loopback registry, the podman service and the
engine-less runtimes' namespaces all touch the machine while they run; afterwards the host's
interfaces, addresses, routes, iptables rules, mounts and Docker's daemon.json must be as
before (a dockerd with ``--bridge none`` in the host's network namespace once deleted the
host's ``docker0``).
"""

from __future__ import annotations

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
