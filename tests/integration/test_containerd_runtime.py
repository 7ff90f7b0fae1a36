"""The containerd kind on the Docker engine's containerd: the whole catalogue with the shipped
expectations, its negative controls, and a run killed outright that ``cleanup`` sweeps.

Only namespaces the suite made (``cc-RUNID``, labelled with the run id) are looked at."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.background_run import background_run, kill, wait_for

from .conftest import CONTROLS, RUN_LABEL, SCENARIOS, Run, run_cleanup, run_suite
from .test_faults import LONG

SOCKET = "/run/docker/containerd/containerd.sock"
ENTRY = {
    "name": "containerd",
    "kind": "containerd",
    "binary": "ctr",
    "description": "containerd's ctr alone, for a cleanup of its runs only",
}


def ctr(*args: str, namespace: str = "default") -> str:
    return subprocess.run(
        ["ctr", "--address", SOCKET, "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def namespaces() -> dict[str, str]:
    """The suite's namespaces by name, with the run id each is labelled with."""
    found = {}
    for line in ctr("namespaces", "ls").splitlines()[1:]:
        name, _, labels = line.partition(" ")
        if name.startswith("cc-"):
            found[name] = dict(
                label.split("=", 1) for label in labels.strip().split(",") if "=" in label
            ).get(RUN_LABEL, "")
    return found


def cgroups(namespace: str) -> list[Path]:
    return sorted(Path("/sys/fs/cgroup").glob(f"*/{namespace}"))


@pytest.fixture
def containerd(engine: None) -> None:
    if not Path(SOCKET).is_socket():
        pytest.fail(f"no containerd socket at {SOCKET}: run scripts/setup", pytrace=False)


@pytest.fixture
def leaves_no_namespace(containerd: None) -> object:
    before = set(namespaces())
    yield
    after = set(namespaces()) - before
    assert after == set(), f"namespaces left: {after}"
    assert [path for name in after for path in cgroups(name)] == []


def test_the_catalogue_runs_on_containerd_as_expected(containerd: None, all_runtimes: Run) -> None:
    """Read from the run of every packaged runtime (the gate on the expectations is there)."""
    run = all_runtimes
    verdicts = [r["verdict"] for r in run.data["results"] if r["runtime"] == "containerd"]
    assert verdicts.count("error") == 0, run.output[-3000:]
    assert verdicts.count("pass") > 30 and verdicts.count("fail") == 2
    # The claim ctr 1.6 cannot meet, read from the container: the host's own name.
    record = run.record("hostname-differs-from-host", "containerd")
    assert record["evidence"]["checks"][0]["observed"] == os.uname().nodename
    # The run's namespace went with it.
    assert f"cc-{run.data['run_id']}" not in namespaces()


@pytest.mark.parametrize(
    ("control", "claim"),
    [
        ("containerd-net-host", "network-none-has-only-loopback"),
        ("containerd-new-privs", "no-new-privileges-is-set"),
    ],
)
def test_a_containerd_control_fails_the_claim_it_breaks(
    leaves_no_namespace: None, tmp_path: Path, control: str, claim: str
) -> None:
    run = run_suite(
        str(SCENARIOS / "docker-run" / "options.yaml"),
        "--runtimes-file",
        str(CONTROLS / "runtimes.yaml"),
        "--runtime",
        control,
        tmp=tmp_path,
    )
    assert run.verdict(claim, control) == "fail", run.output[-3000:]
    errors = [r["claim"] for r in run.data["results"] if r["verdict"] == "error"]
    assert errors == [], run.output[-3000:]


def test_a_run_killed_mid_scenario_leaves_nothing_after_cleanup(
    containerd: None, tmp_path: Path
) -> None:
    scenarios = tmp_path / "killed"
    scenarios.mkdir()
    sibling = f"sibling_{os.urandom(3).hex()}"
    (scenarios / "long.yaml").write_text(LONG.replace("SECONDS", "90").replace("SIBLING", sibling))
    before = set(namespaces())
    logs = set(Path("/tmp").glob("cc-containerd-*"))

    def sibling_namespace() -> str | None:
        for name in set(namespaces()) - before:
            if sibling in ctr("tasks", "ls", namespace=name):
                return name
        return None

    with background_run(str(scenarios), "--runtime", "containerd") as process:
        namespace = wait_for("the sibling container runs", sibling_namespace, process, every=0.2)
        kill(process)
    run_id = namespaces()[namespace]
    assert namespace == f"cc-{run_id}"
    assert ctr("tasks", "ls", "-q", namespace=namespace).split()  # left running: to sweep
    assert cgroups(namespace)

    runtimes = tmp_path / "containerd-only.yaml"
    runtimes.write_text(yaml.safe_dump({"runtimes": [ENTRY]}))
    cleaned = run_cleanup(runtimes)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"namespace {namespace}" in cleaned.stdout + cleaned.stderr
    assert namespace not in namespaces()
    assert cgroups(namespace) == []
    assert set(Path("/tmp").glob("cc-containerd-*")) <= logs  # its output files went too
