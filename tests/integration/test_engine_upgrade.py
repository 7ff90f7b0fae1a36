"""An engine upgrade, shown on this machine: the catalogue on Docker 20.10 (Debian 12) and on
Docker 26.1 (Debian 13) side by side, and ``container-claims diff`` between the two.

The operator's flow of the README, with the "after" engine running beside the "before" one
(``--map docker=docker-26``). What the diff says is held against what the two engines really
are: their versions as each engine reports them, and the claims that moved as the two results
files say, each named with its evidence. Then a regression is injected through a runtimes
file (the "after" engine's containers share the host's PID namespace) and must show up as
exactly the claims about the container's own PID namespace, with exit code 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.upgrade_engine import UpgradeEngine, write_runtimes_file

from .conftest import REPO, CountedRun, Run, docker, run_suite

#: The claims whose observations rest on the container having a PID namespace of its own:
#: its processes numbered from 1 (what /proc/1 is, what ps shows, PID 1's immunity to
#: signals it has no handler for), invisible to others, seen twice from the host. With
#: --pid=host none of them can hold; every other claim of the catalogue is indifferent to it.
PID_NAMESPACE_CLAIMS = {
    "shell-is-pid-1",
    "ps-shows-only-shell-and-ps",
    "command-overrides-default",
    "host-pid-1-is-init",
    "host-pid-differs",
    "pid-in-both-namespaces",
    "containers-are-ordinary-processes",
    "container-cannot-see-host-processes",
    "simultaneous-containers-share-kernel",
    "exec-runs-beside-the-main-process",
    "pid-1-ignores-sigterm-without-a-handler",
    "stop-kills-after-the-grace-period",
}


@pytest.fixture(scope="module")
def upgraded(engine: None) -> Iterator[UpgradeEngine]:
    with UpgradeEngine() as after:
        yield after


@pytest.fixture(scope="module")
def runs(
    upgraded: UpgradeEngine, docker_catalogue: CountedRun, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Run | Path]:
    """The catalogue before (main engine), after (Debian 13's), and after with --pid=host."""
    tmp = tmp_path_factory.mktemp("upgrade")
    after_file = write_runtimes_file(tmp / "after.yaml", upgraded, name="docker-26")
    broken = yaml.safe_load(after_file.read_text())
    broken["runtimes"][0]["run_args"] = ["--pid=host"]
    broken_file = tmp / "after-pid-host.yaml"
    broken_file.write_text(yaml.safe_dump(broken))
    return {
        "before": docker_catalogue.run,
        "after": run_suite(
            "scenarios", "--runtimes-file", str(after_file), "--runtime", "docker-26", tmp=tmp
        ),
        "broken": run_suite(
            "scenarios", "--runtimes-file", str(broken_file), "--runtime", "docker-26", tmp=tmp
        ),
        "tmp": tmp,
    }


def results_file(run: Run, tmp: Path, name: str) -> Path:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(run.data))
    return path


def diff(tmp: Path, before: Path, after: Path) -> tuple[int, dict[str, Any], str]:
    out = tmp / f"diff-{before.stem}-{after.stem}.json"
    done = subprocess.run(
        [sys.executable, "-m", "container_claims", "diff", str(before), str(after)]
        + ["--map", "docker=docker-26", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), done.stderr
    return done.returncode, json.loads(out.read_text()), done.stdout


def verdicts(run: Run) -> dict[str, str]:
    return {record["claim"]: record["verdict"] for record in run.data["results"]}


def test_the_diff_names_both_engines_and_exactly_the_claims_that_moved(
    runs: dict[str, Any], upgraded: UpgradeEngine
) -> None:
    tmp: Path = runs["tmp"]
    before, after = runs["before"], runs["after"]
    assert set(verdicts(before)) == set(verdicts(after))  # the whole catalogue, both sides
    # The "after" engine lives in a network namespace of its own: the loopback registry of
    # the pull claim is out of its reach, so that claim cannot be observed there. Nothing
    # else may be unobservable.
    errors = {claim for claim, verdict in verdicts(after).items() if verdict == "error"}
    assert errors <= {"image-pulled-when-missing"}, after.output[-3000:]

    code, data, text = diff(
        tmp, results_file(before, tmp, "before"), results_file(after, tmp, "after")
    )

    # The header: what each engine says it is, from the engines themselves.
    (pair,) = data["runtimes"]
    assert (pair["before"], pair["after"]) == ("docker", "docker-26")
    changes = {c["field"]: (c["before"], c["after"]) for c in pair["environment_changes"]}
    old_engine = docker("version", "--format", "{{.Server.Version}}").strip()
    new = upgraded.versions()
    assert changes["version.engine"] == (old_engine, new["Engine"])
    assert new["Engine"].startswith("26.1.5")
    old_containerd = docker("version", "--format", "{{json .Server.Components}}")
    old_containerd_version = next(
        c["Version"] for c in json.loads(old_containerd) if c["Name"] == "containerd"
    )
    assert changes["version.containerd"] == (old_containerd_version, new["containerd"])
    assert changes["environment.data_root"] == ("/var/lib/docker", str(upgraded.data_root))
    assert "environment.storage_driver" not in changes  # overlay2 on both
    assert f"version.engine: {old_engine} → {new['Engine']}" in text

    # The claims that moved: exactly those whose verdicts differ in the two results files,
    # each with both sides' evidence; the exit code says whether one regressed.
    old, now = verdicts(before), verdicts(after)
    moved = {claim for claim in old if old[claim] != now[claim]}
    assert {c["claim"] for c in data["changes"]} == moved
    for change in data["changes"]:
        assert change["before"]["verdict"] == old[change["claim"]]
        assert change["after"]["verdict"] == now[change["claim"]]
        # What it rests on: the checks of a verdict, or why there is none (an error, or a
        # capability the engine lacks: the pull's registry is out of its network's reach).
        assert change["after"]["evidence"].get("checks") or change["after"]["message"], change
    regressed = any(old[c] == "pass" and now[c] in ("fail", "error") for c in moved)
    assert code == (1 if regressed else 0)
    assert data["summary"]["unchanged"] == len(old) - len(moved)


def test_an_injected_regression_is_exactly_the_pid_namespace_claims(
    runs: dict[str, Any],
) -> None:
    tmp: Path = runs["tmp"]
    before, after, broken = runs["before"], runs["after"], runs["broken"]

    code, data, text = diff(
        tmp, results_file(before, tmp, "before"), results_file(broken, tmp, "broken")
    )

    assert code == 1
    old, upgraded_only = verdicts(before), verdicts(after)
    moved_by_upgrade = {claim for claim in old if old[claim] != upgraded_only[claim]}
    regressions = {c["claim"] for c in data["changes"] if c["kind"] == "regression"}
    assert regressions - moved_by_upgrade == PID_NAMESPACE_CLAIMS - moved_by_upgrade
    (pair,) = data["runtimes"]
    run_args = {c["field"]: c for c in pair["environment_changes"]}["run_args"]
    assert run_args["after"] == "--pid=host"  # the header names the cause too
    for claim in PID_NAMESPACE_CLAIMS - moved_by_upgrade:
        assert f"REGRESSION {claim} on docker-26: pass → fail" in text
