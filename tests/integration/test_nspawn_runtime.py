"""The nspawn runtime on this machine: the whole catalogue with the shipped expectations, its
negative control, and a run killed outright whose leftovers ``cleanup`` removes.

Only nspawn runs here (the packaged entry, or a runtimes file naming nspawn alone): cleanup
never gets another runtime to sweep."""

from __future__ import annotations

import os
import time
from pathlib import Path

import yaml

from container_claims.paths import ledger_dir, runs_dir
from tests.support.background_run import background_run, kill, wait_for

from .conftest import CONTROLS, SCENARIOS, Run, run_cleanup, run_suite

CGROUPS = Path("/sys/fs/cgroup")
#: A shell that sleeps, with a detached sibling: what a killed run leaves in cgroups.
LONG = """\
scenario: nspawn-long
section: Faults
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - run: {name: sibling, detach: true, command: [sleep, "3599"]}
  - type: sleep 90
    save: slept
    timeout: 120
claims:
  - id: slept-well
    says: The shell slept and answered.
    expect:
      - that: slept.status
        equals: 0
"""


def _cgroups_of(run_id: str) -> list[Path]:
    return [
        group
        for hierarchy in (CGROUPS / "unified", CGROUPS / "systemd", CGROUPS)
        for group in (hierarchy.glob(f"container-claims-{run_id}-*") if hierarchy.is_dir() else [])
    ]


def _leftovers_of(run_id: str) -> list[str]:
    found = [f"cgroup {group}" for group in _cgroups_of(run_id)]
    found += [f"root copy {copy}" for copy in runs_dir().glob(f"{run_id}-*")]
    found += [f"ledger {path}" for path in ledger_dir().glob(f"{run_id}-*.jsonl")]
    return found


def _processes_in(groups: list[Path]) -> list[int]:
    pids: list[int] = []
    for group in groups:
        for top, _, _ in os.walk(group):
            try:
                pids += map(int, (Path(top) / "cgroup.procs").read_text().split())
            except OSError:
                continue
    return pids


def _nspawn_runtimes_file(tmp_path: Path, **extra: object) -> Path:
    path = tmp_path / "nspawn.yaml"
    entry = {"name": "nspawn", "kind": "nspawn", "binary": "systemd-nspawn", **extra}
    path.write_text(yaml.safe_dump({"runtimes": [entry]}))
    return path


def test_the_catalogue_runs_on_nspawn_as_expected(all_runtimes: Run) -> None:
    """Read from the run of every packaged runtime (the gate on the expectations is there)."""
    run = all_runtimes
    verdicts = [r["verdict"] for r in run.data["results"] if r["runtime"] == "nspawn"]
    assert verdicts.count("error") == 0, run.output[-3000:]
    assert verdicts.count("pass") >= 40, verdicts
    assert _leftovers_of(run.data["run_id"]) == []


def test_nspawn_with_its_stub_init_as_pid_1_fails_the_shells_pid_1(
    leaves_nothing: None, tmp_path: Path
) -> None:
    control = next(
        entry
        for entry in yaml.safe_load((CONTROLS / "runtimes.yaml").read_text())["runtimes"]
        if entry["name"] == "nspawn-as-pid2"
    )
    runtimes = tmp_path / "control.yaml"
    runtimes.write_text(yaml.safe_dump({"runtimes": [control]}))
    run = run_suite(
        str(SCENARIOS / "process-namespace.yaml"),
        "--runtimes-file",
        str(runtimes),
        "--runtime",
        "nspawn-as-pid2",
        tmp=tmp_path,
    )
    for claim in ("shell-is-pid-1", "ps-shows-only-shell-and-ps"):
        record = run.record(claim, "nspawn-as-pid2")
        assert record["verdict"] == "fail", (claim, record["evidence"])
        assert any(not check["ok"] for check in record["evidence"]["checks"])
    assert run.returncode == 1, run.output[-3000:]


def test_a_killed_run_leaves_nothing_of_nspawn_after_cleanup(
    leaves_nothing: None, tmp_path: Path
) -> None:
    scenarios = tmp_path / "killed"
    scenarios.mkdir()
    (scenarios / "long.yaml").write_text(LONG)
    runtimes = _nspawn_runtimes_file(tmp_path)

    def running() -> str | None:
        """The run whose shell and sibling run, each in cgroups of their own."""
        for copy in runs_dir().glob("*-nspawn"):
            candidate = copy.name.split("-", 1)[0]
            cgroups = _cgroups_of(candidate)
            if len(cgroups) >= 4 and len(_processes_in(cgroups)) >= 4:
                return candidate
        return None

    with background_run(
        str(scenarios), "--runtimes-file", str(runtimes), "--runtime", "nspawn"
    ) as process:
        run_id = wait_for("an nspawn container runs", running, process, timeout=60)
        time.sleep(1)  # into the typed sleep
        kill(process)
    left = _leftovers_of(run_id)
    assert any(line.startswith("cgroup") for line in left), left
    assert any(line.startswith("root copy") for line in left), left

    cleaned = run_cleanup(runtimes)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert _leftovers_of(run_id) == [], cleaned.stdout + cleaned.stderr
    assert "cgroup" in cleaned.stdout + cleaned.stderr
    assert not list(Path("/tmp").glob("nspawn-volatile-*"))
    assert not Path("/run/systemd/nspawn/propagate").is_dir() or not list(
        Path("/run/systemd/nspawn/propagate").iterdir()
    )
