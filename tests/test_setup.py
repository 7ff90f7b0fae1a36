"""scripts/setup's arguments and its choice of packages, without changing the machine.

``--print-packages`` prints what a choice of runtimes needs and stops before anything is
installed or started; a bad ``--only`` is refused (exit 2) in one line naming the known runtimes.
What happens with a foreign engine is in tests/integration/test_setup_foreign_engine.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from container_claims.runtimes import load_runtimes_file

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / "scripts" / "setup"

#: What every runtime needs: an engine and debootstrap, to make the test image.
IMAGE = ["docker.io", "debootstrap"]
#: The registry pull of the engine kinds.
REGISTRY = ["docker-registry", "busybox-static"]
#: Only for the project's own tests: never with --only.
TESTS_ONLY = {"chromium", "chromium-driver", "openssh-server", "iproute2"}


def setup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SETUP), *args], capture_output=True, text=True, timeout=30, check=False
    )


def packages(*args: str) -> list[str]:
    done = setup(*args, "--print-packages")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        ("docker", [*IMAGE, *REGISTRY]),
        ("gvisor", [*IMAGE, *REGISTRY, "runsc"]),
        ("podman", [*IMAGE, *REGISTRY, "podman", "catatonit"]),
        ("unshare", IMAGE),
        ("bwrap", [*IMAGE, "bubblewrap"]),
        ("containerd", [*IMAGE, "containerd"]),
        ("nspawn", [*IMAGE, "systemd-container"]),
        ("lxc", [*IMAGE, "lxc"]),
        ("bwrap,gvisor,docker", [*IMAGE, "bubblewrap", *REGISTRY, "runsc"]),
    ],
)
def test_only_installs_what_those_runtimes_need(only: str, expected: list[str]) -> None:
    assert packages("--only", only) == expected
    assert packages(f"--only={only}") == expected


def test_without_only_everything_and_the_tests_own_packages() -> None:
    everything = packages()
    for runtime in known_runtimes():
        assert set(packages("--only", runtime)) <= set(everything)
        assert not set(packages("--only", runtime)) & TESTS_ONLY
    assert set(everything) >= TESTS_ONLY
    assert len(everything) == len(set(everything))


def known_runtimes() -> list[str]:
    return [runtime.name for runtime in load_runtimes_file()]


def test_the_script_knows_the_packaged_runtimes() -> None:
    """An unknown runtime's error lists the known ones: those of runtimes.yaml, in its order."""
    done = setup("--only", "nonesuch", "--print-packages")
    assert done.returncode == 2
    assert done.stderr == (
        "setup: error: unknown runtime 'nonesuch' in --only; known: "
        + ", ".join(known_runtimes())
        + ".\n"
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--only", "docker,"], "unknown runtime '' in --only"),
        (["--only", "docker,,bwrap"], "unknown runtime '' in --only"),
        (["--only", ""], "unknown runtime '' in --only"),
        (["--only", "Docker"], "unknown runtime 'Docker' in --only"),
        (["--only"], "--only needs RUNTIME[,RUNTIME]"),
        (["--bogus"], "unknown argument '--bogus'"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(args: list[str], says: str) -> None:
    done = setup(*args)  # no --print-packages: refused before anything is done
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr


def test_help() -> None:
    done = setup("--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: scripts/setup [--only RUNTIME[,RUNTIME]]")
    for runtime in known_runtimes():
        assert runtime in done.stdout
