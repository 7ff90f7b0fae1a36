"""crun, the OCI runtime in C, under Docker and Podman: the packaged docker-crun and
podman-crun, which are data (runtimes.yaml), not kinds of their own.

crun 1.8 refuses this machine's hybrid cgroups; both run where the cgroup v2 hierarchy is
hidden: docker-crun on the second dockerd scripts/setup starts so, podman-crun through the
wrapper the package ships. The whole catalogue runs on both with the shipped expectations;
a negative control of each fails its claim; a run killed outright leaves nothing of either
once ``cleanup`` (of these two runtimes only) has run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from container_claims.runtimes import default_runtimes_file, load_runtimes_file
from tests.support.background_run import background_run, kill, wait_for

from .conftest import CONTROLS, RUN_LABEL, SCENARIOS, Run, run_cleanup, run_suite

CRUN = ["docker-crun", "podman-crun"]
#: docker-crun's engine, as the packaged entry names it (scripts/setup starts it).
CRUN_ENGINE = dict(next(c for c in load_runtimes_file() if c.name == "docker-crun").env)


@pytest.fixture(scope="module")
def crun_engine(engine: None) -> None:
    """docker-crun's dockerd answers: scripts/setup starts it; its absence is an error."""
    answered = subprocess.run(
        ["docker", "info", "--format", "{{json .Runtimes}}"],
        capture_output=True, text=True, env={**os.environ, **CRUN_ENGINE}, check=False,
    )  # fmt: skip
    if answered.returncode != 0 or '"crun"' not in answered.stdout:
        pytest.fail(
            f"docker-crun's engine does not answer with crun registered "
            f"({answered.stderr.strip()[-300:]}): run scripts/setup first", pytrace=False
        )  # fmt: skip


def crun_docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True,
        env={**os.environ, **CRUN_ENGINE},
    ).stdout  # fmt: skip


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout


def test_the_catalogue_runs_on_both_with_the_shipped_expectations(
    crun_engine: None, all_runtimes: Run
) -> None:
    """Read from the run of every packaged runtime (the gate on the expectations is there)."""
    run = all_runtimes
    verdicts = [r["verdict"] for r in run.data["results"] if r["runtime"] in CRUN]
    assert "error" not in verdicts and verdicts.count("pass") > 100, run.output[-3000:]
    for info in run.data["runtimes"]:  # what ran them: crun, as its own binary reports
        if info["name"] in CRUN:
            assert info["version"]["oci_runtime"].startswith("crun: crun version"), info
    # Their confinement, observed: crun's pivot_root, as runc's (an expected deviation).
    for name in CRUN:
        assert run.verdict("confined-by-chroot", name) == "fail"
        assert run.verdict("shell-is-pid-1", name) == "pass"


@pytest.mark.parametrize(
    ("control", "claim", "scenario"),
    [
        ("docker-crun-uts-host", "hostname-differs-from-host", "interactive-shell"),
        ("podman-crun-pid-host", "host-pid-differs", "process-namespace"),
    ],
)
def test_a_claim_fails_under_its_negative_control_on_crun(
    crun_engine: None, tmp_path: Path, control: str, claim: str, scenario: str
) -> None:
    run = run_suite(
        str(SCENARIOS / f"{scenario}.yaml"), "--runtimes-file", str(CONTROLS / "runtimes.yaml"),
        "--runtime", control, tmp=tmp_path,
    )  # fmt: skip
    record = run.record(claim, control)
    assert record["verdict"] == "fail", (record["message"], record["evidence"])
    assert any(not check["ok"] for check in record["evidence"]["checks"])
    assert run.returncode == 1, run.output[-2000:]


#: A scenario whose shell sleeps, with a detached sibling: what a killed run leaves running.
LONG = """\
scenario: long-on-crun
section: Faults
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - run: {name: SIBLING, detach: true, command: [sleep, "3599"]}
  - type: sleep 90
    save: slept
    timeout: 120
claims:
  - id: slept-on-crun
    says: The shell slept and answered.
    expect:
      - that: slept.status
        equals: 0
"""


def labelled(run_id: str) -> list[str]:
    """The containers and volumes of run ``run_id`` on either engine, right now."""
    label = f"label={RUN_LABEL}={run_id}"
    found = []
    for name, cli in (("docker-crun", crun_docker), ("podman-crun", podman)):
        found += [f"{name} container {c}" for c in cli("ps", "-aq", "--filter", label).split()]
        found += [
            f"{name} volume {v}" for v in cli("volume", "ls", "-q", "--filter", label).split()
        ]
    return found


def test_a_run_killed_outright_leaves_nothing_after_cleanup(
    crun_engine: None, tmp_path: Path
) -> None:
    sibling = f"sibling_{os.urandom(3).hex()}"
    scenario = tmp_path / "long.yaml"
    scenario.write_text(LONG.replace("SIBLING", sibling))
    # Only these two runtimes: the cleanup below never sweeps another runtime's objects.
    packaged = yaml.safe_load(default_runtimes_file().read_text())["runtimes"]
    entries = [entry for entry in packaged if entry["name"] in CRUN]
    for entry in entries:
        if "/" in entry.get("binary", ""):
            entry["binary"] = str((default_runtimes_file().parent / entry["binary"]).resolve())
    runtimes = tmp_path / "runtimes.yaml"
    runtimes.write_text(yaml.safe_dump({"runtimes": entries}))

    def on_both_engines() -> dict[str, str] | None:
        found = run_ids_running(sibling)
        return found if len(found) == 2 else None

    with background_run(
        str(scenario), "--runtimes-file", str(runtimes), "--runtime", "all"
    ) as process:
        run_ids = wait_for("the sibling runs on both engines", on_both_engines, process, every=0.2)
        assert len(set(run_ids.values())) == 1, run_ids
        kill(process)
    (run_id,) = set(run_ids.values())
    assert labelled(run_id), "the killed run left its containers running"

    cleaned = run_cleanup(runtimes)

    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert labelled(run_id) == [], cleaned.stdout + cleaned.stderr
    assert not [p for p in Path("/tmp").glob("cc-podman-*") if run_id in p.name]
    assert [p.name for p in Path("/run/netns").glob("*") if not _mounted(p)] == []


def run_ids_running(sibling: str) -> dict[str, str]:
    """The run id of the running sibling container on each engine that has it."""
    found = {}
    for name, cli in (("docker-crun", crun_docker), ("podman-crun", podman)):
        ids = cli("ps", "-q", "--filter", f"label={RUN_LABEL}", "--filter", f"name={sibling}")
        for container in ids.split():
            label = f'{{{{index .Config.Labels "{RUN_LABEL}"}}}}'
            found[name] = cli("inspect", "--format", label, container).strip()
    return found


def _mounted(path: Path) -> bool:
    """Whether a network namespace file under /run/netns is bound (in use), in this namespace:
    a file left there unbound is what a call in another mount namespace failed to remove."""
    return any(
        line.split()[4] == str(path)
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )
