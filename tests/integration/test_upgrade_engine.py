"""Debian 13's Docker engine runs beside the main one, and leaves nothing when it stops.

The support for engine-upgrade tests (:mod:`tests.support.upgrade_engine`): the second engine
answers as 26.1.5 with containerd 1.7.24, runs a container, and the suite sees it as a usable
runtime through a runtimes file; the main engine and the host's ``docker0`` are unharmed; after
``stop()`` no process, directory or mount of it is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from container_claims.hostfs import mountinfo
from container_claims.image import DEFAULT_IMAGE
from tests.support.upgrade_engine import (
    CONTAINERD_VERSION,
    DOCKERD_VERSION,
    UpgradeEngine,
    write_runtimes_file,
)

from .conftest import REPO, docker


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_debian13_engine_beside_the_main_one(tmp_path: Path, engine: None) -> None:
    main_version = docker("version", "--format", "{{.Server.Version}}").strip()

    with UpgradeEngine() as upgrade:
        versions = upgrade.versions()
        assert versions["Engine"].startswith(f"{DOCKERD_VERSION}+"), versions
        assert versions["containerd"].startswith(f"{CONTAINERD_VERSION}~"), versions
        assert upgrade.docker("info", "--format", "{{.Driver}}").stdout.strip() == "overlay2"

        ran = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", DEFAULT_IMAGE]
            + ["cat", "/etc/debian_version"],
            env={**os.environ, **upgrade.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip().startswith("12."), ran.stdout

        runtimes = write_runtimes_file(tmp_path / "runtimes.yaml", upgrade)
        listed = subprocess.run(
            [
                sys.executable,
                "-m",
                "container_claims",
                "runtimes",
                "--runtimes-file",
                str(runtimes),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        row = next(
            (line for line in listed.stdout.splitlines() if line.startswith("docker-26")), ""
        )
        assert "usable" in row and f"engine {DOCKERD_VERSION}" in row, listed.stdout + listed.stderr

        # The main engine is the one it was, on the host's network.
        assert docker("version", "--format", "{{.Server.Version}}").strip() == main_version
        assert Path("/sys/class/net/docker0").exists()

        processes = upgrade.process_ids()
        root = upgrade.root
        assert len(processes) >= 3  # the supervisor, containerd, dockerd

    assert [pid for pid in processes if running(pid)] == []
    assert not root.exists()
    assert [m["point"] for m in mountinfo() if m["point"].startswith(str(root))] == []
    assert docker("version", "--format", "{{.Server.Version}}").strip() == main_version
    assert Path("/sys/class/net/docker0").exists()
    print(f"timings: {upgrade.timings}")
