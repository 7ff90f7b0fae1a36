"""Nothing of a run survives it: not a finished run, not an interrupted one; and cleanup
touches only what carries the suite's label."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.support.background_run import background_run, wait_for

from .conftest import REPO, RUN_LABEL, docker, host_markers, labelled_objects, run_cleanup


def _labelled_containers() -> set[str]:
    return set(docker("ps", "-q", "--filter", f"label={RUN_LABEL}").split())


def _signals_as_from_a_shell() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    "runtimes",
    [["docker"], ["docker", "gvisor", "unshare"]],
    ids=["one-runtime", "side-by-side"],  # several: each observed in a thread of its own
)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_leaves_nothing(
    engine: None, sig: signal.Signals, runtimes: list[str]
) -> None:
    before = _labelled_containers()
    with background_run(
        "scenarios/process-namespace.yaml",
        "scenarios/interactive-shell.yaml",
        *(arg for name in runtimes for arg in ("--runtime", name)),
        # As a user's shell starts it: with SIGINT handled, even when this test runs where it
        # is ignored (a background job of a non-interactive shell), where Python keeps it so.
        preexec_fn=_signals_as_from_a_shell,
    ) as process:
        # A container of its own (not one another run is still ending), so the signal
        # reaches the run mid-run, not while Python starts.
        wait_for("it starts a container", lambda: _labelled_containers() - before, process)
        os.kill(process.pid, sig)  # the run we started, by its PID
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output[-2000:]
    assert labelled_objects() == []
    assert host_markers() == []


def test_a_finished_run_leaves_nothing(engine: None, tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "container_claims", "run", "-q", "scenarios"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]
    assert labelled_objects() == []
    assert host_markers() == []


def test_cleanup_removes_labelled_objects_and_nothing_else(engine: None) -> None:
    suffix = os.urandom(4).hex()
    ours, theirs = f"cc-test-ours-{suffix}", f"cc-test-theirs-{suffix}"
    image = "container-claims/test:bookworm"
    docker(
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        ours,
        "--label",
        f"{RUN_LABEL}=crashed",
        image,
        "sleep",
        "600",
    )
    docker("run", "-d", "--network", "none", "--name", theirs, image, "sleep", "600")
    try:
        result = run_cleanup(timeout=120)
        assert result.returncode == 0, result.stderr
        assert f"container {ours}" in result.stdout
        names = docker("ps", "-a", "--format", "{{.Names}}").split()
        assert ours not in names
        assert theirs in names
    finally:
        subprocess.run(["docker", "rm", "-f", ours, theirs], capture_output=True, check=False)
