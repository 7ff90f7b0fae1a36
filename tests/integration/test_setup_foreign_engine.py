"""scripts/setup where the engine that answers is foreign, as in a GitHub job container.

The runner mounts its host's engine socket into the job container: the engine answers, but no
dockerd the job can see serves it. Simulated faithfully: a throwaway dockerd of the test's own
(the "foreign" engine, on a socket under /tmp) and setup run in new PID, mount and network
namespaces, so that it sees that socket and not the process behind it, exactly as a job
container does. In the mount namespace, tmpfs mounts stand on ``/run``, ``/var/log`` and
``/var/lib/docker``: the suite's own dockerd that setup starts there writes nothing of this
machine's (its socket, log and data root are the namespace's own), and ends with it.

What must hold: setup calls the engine foreign, starts the suite's own dockerd (runsc
registered in its own configuration), builds the test image there, hands DOCKER_HOST on
through $GITHUB_ENV and stdout, and a second run only checks; the suite's engine runs containers whose
processes this machine's ``/proc`` shows; the foreign engine is untouched (its volume is
there, runsc is not in its runtimes) and still answers.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.control_engine import ControlEngine, ControlEngineError

REPO = Path(__file__).resolve().parents[2]
PRIVATE = "unix:///run/container-claims/docker.sock"
MARKER_VOLUME = "cc-setup-foreign-marker"


class ForeignEngine(ControlEngine):
    """A dockerd of the test's own, standing for the runner's engine behind a mounted socket."""

    what = "foreign engine"
    error = ControlEngineError
    temp_prefix = "cc-setup-foreign-"


@pytest.fixture
def foreign() -> Iterator[ForeignEngine]:
    with ForeignEngine(image=None) as engine:  # no image: setup must build its own
        engine.docker("volume", "create", MARKER_VOLUME)
        yield engine


# Run inside the namespaces: setup twice (the second only checks), then a container on the
# suite's engine whose PID this /proc must show, then that dockerd ended by its pidfile.
INSIDE = r"""
set -euo pipefail
ip link set lo up
for dir in /run /var/log /var/lib/docker; do mount -t tmpfs cc-setup "$dir"; done
seconds() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
started=$EPOCHREALTIME
scripts/setup --only gvisor 2>&1 | sed 's/^/first: /'
echo "first-seconds: $(seconds "$started")"
started=$EPOCHREALTIME
scripts/setup --only gvisor 2>&1 | sed 's/^/second: /'
echo "second-seconds: $(seconds "$started")"
export DOCKER_HOST=unix:///run/container-claims/docker.sock
echo "runtimes: $(docker info --format '{{json .Runtimes}}')"
echo "data-root: $(docker info --format '{{.DockerRootDir}}')"
docker run -d --name cc-setup-probe --network none container-claims/test:bookworm sleep 60 >/dev/null
pid=$(docker inspect --format '{{.State.Pid}}' cc-setup-probe)
echo "container-process: $(tr '\0' ' ' </proc/$pid/cmdline)"
docker rm -f cc-setup-probe >/dev/null
dockerd=$(cat /run/container-claims/docker.pid)
kill -TERM "$dockerd"
while kill -0 "$dockerd" 2>/dev/null; do sleep 0.2; done
echo "ended: dockerd $dockerd"
"""


def test_a_foreign_engine_is_left_alone_and_the_suite_gets_its_own(
    foreign: ForeignEngine, tmp_path: Path
) -> None:
    github_env = tmp_path / "github_env"
    github_env.touch()
    # In a CI job container, .ci/run's own setup has already started the suite's dockerd there.
    outside_before = _identity(Path(PRIVATE.removeprefix("unix://")))
    started = time.monotonic()
    done = subprocess.run(
        # --kill-child: when unshare ends (a timeout kills it), its child, the namespace's PID 1,
        # ends too, and with it every process of the namespace (the setup's dockerd).
        ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--mount", "--net"]
        + ["--", "bash", "-c"]
        + [INSIDE],
        cwd=REPO,
        env={**os.environ, **foreign.env, "GITHUB_ENV": str(github_env)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    lines = out.splitlines()

    def said(prefix: str) -> list[str]:
        return [line for line in lines if line.startswith(prefix)]

    first, second = said("first: "), said("second: ")
    foreign_line = f"setup: the Docker engine at {foreign.host} is served by no dockerd"
    assert any(foreign_line in line for line in first), out
    starting = "starting dockerd --config-file=/run/container-claims/daemon.json"
    assert any(starting in line for line in first), out
    assert any("registered runtime runsc" in line for line in first), out
    # The second run finds the suite's dockerd running: it only checks.
    assert any(foreign_line in line for line in second), out
    assert not any("starting dockerd" in line or "registered" in line for line in second), out
    assert float(said("second-seconds: ")[0].split()[1]) < 10, out
    assert github_env.read_text() == f"DOCKER_HOST={PRIVATE}\n" * 2
    for run in ("first", "second"):  # and on stdout, for this step: eval "$(scripts/setup)"
        assert f"{run}: export DOCKER_HOST={PRIVATE}" in lines, out
    assert '"runsc"' in said("runtimes: ")[0], out
    assert said("data-root: ") == ["data-root: /var/lib/docker"], out
    assert said("container-process: ") == ["container-process: sleep 60 "], out
    assert said("ended: dockerd"), out

    # The foreign engine: untouched, still answering.
    assert foreign.docker("volume", "ls", "-q").stdout.split() == [MARKER_VOLUME]
    assert "runsc" not in foreign.docker("info", "--format", "{{json .Runtimes}}").stdout
    assert foreign.docker("ps", "-aq").stdout.strip() == ""
    assert foreign.docker("images", "-q").stdout.strip() == ""
    # Nothing of the namespaces' engine outside them: the socket there is as it was.
    assert _identity(Path(PRIVATE.removeprefix("unix://"))) == outside_before
    print(f"setup against a foreign engine, twice: {time.monotonic() - started:.1f} s")


def _identity(path: Path) -> tuple[int, int, float] | None:
    """Which file ``path`` is (device, inode, change time), or None when there is none."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino, found.st_ctime
