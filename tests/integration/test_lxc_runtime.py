"""The lxc runtime kind on this machine: the whole catalogue as the shipped expectations say,
a negative control of its own, and nothing left of a run killed outright once ``cleanup`` ran.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from container_claims.paths import ledger_dir, runs_dir
from container_claims.runtimes.lxc import LOCK_ROOT, cgroups_of, locks_of
from tests.support.background_run import background_run, kill, wait_for

from .conftest import CONTROLS, SCENARIOS, Run, run_cleanup, run_suite

#: A terminal session that sleeps beside a container in the background: a killed run leaves
#: both containers' configs, cgroups and lock files, and the root filesystem copy.
LONG = """\
scenario: lxc-long
section: Faults
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - run: {name: sibling, detach: true, command: [sleep, "3599"]}
    save: sibling
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


def _left_of(run_id: str) -> list[str]:
    """What run ``run_id`` left of the lxc kind: cgroups, lock files, copies, ledgers."""
    found = [f"cgroup {p}" for p in cgroups_of(run_id)]
    found += [f"lock {p}" for p in locks_of(run_id)]
    found += [f"copy {p}" for p in runs_dir().glob(f"{run_id}-*")] if runs_dir().is_dir() else []
    found += [f"ledger {p}" for p in ledger_dir().glob(f"{run_id}-*.jsonl")]
    return found


def test_the_catalogue_on_lxc_gives_the_shipped_verdicts(all_runtimes: Run) -> None:
    """Read from the run of every packaged runtime (the gate on the expectations is there)."""
    run = all_runtimes
    verdicts = [r["verdict"] for r in run.data["results"] if r["runtime"] == "lxc"]
    assert "error" not in verdicts and verdicts.count("pass") > 30, run.output[-3000:]
    assert _left_of(run.data["run_id"]) == []
    assert not LOCK_ROOT.parent.exists() or list(LOCK_ROOT.parent.iterdir()) != []


#: Claims of the docker-run pack that the overridden options make false.
OVERRIDDEN = (
    "hostname-option-sets-hostname",
    "tmpfs-mounts-a-tmpfs",
    "tmpfs-writable-on-read-only-root",
    "cap-drop-removes-a-capability",
    "cap-drop-all-leaves-none",
    "no-new-privileges-is-set",
    "workdir-sets-the-working-directory",
)


def test_options_overridden_on_lxcs_command_line_fail_their_claims(
    tmp_path: Path, leaves_nothing: None
) -> None:
    run = run_suite(
        str(SCENARIOS / "docker-run" / "options.yaml"),
        "--runtimes-file", str(CONTROLS / "runtimes.yaml"),
        "--runtime", "lxc-options-overridden",
        tmp=tmp_path,
    )  # fmt: skip

    for claim in OVERRIDDEN:
        record = run.record(claim, "lxc-options-overridden")
        assert record["verdict"] == "fail", (claim, record["message"], record["evidence"])
        assert any(not c["ok"] and "error" not in c for c in record["evidence"]["checks"])
    assert run.returncode == 1, run.output[-2000:]
    assert _left_of(run.data["run_id"]) == []


def _lxc_run_id() -> str | None:
    """The run id of a run whose lxc configs hold two containers (the shell, the sibling)."""
    for lxcpath in runs_dir().glob("*.lxc") if runs_dir().is_dir() else []:
        if len([p for p in lxcpath.iterdir() if (p / "config").exists()]) >= 2:
            return lxcpath.name.split("-", 1)[0]
    return None


def _processes_in(run_id: str) -> list[str]:
    """The PIDs in the run's cgroups, any hierarchy, any depth."""
    return [
        pid
        for top in cgroups_of(run_id)
        for procs in top.rglob("cgroup.procs")
        for pid in procs.read_text().split()
    ]


def test_a_killed_run_leaves_nothing_of_lxc_after_cleanup(
    tmp_path: Path, leaves_nothing: None
) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(LONG)
    only_lxc = tmp_path / "runtimes.yaml"
    only_lxc.write_text(
        yaml.safe_dump({"runtimes": [{"name": "lxc", "kind": "lxc", "binary": "lxc-start"}]})
    )
    with background_run(
        str(scenario), "--runtimes-file", str(only_lxc), "--runtime", "lxc"
    ) as process:
        run_id = wait_for("two lxc containers run", _lxc_run_id, process)
        time.sleep(1)  # the shell is typed into: the run is mid-scenario
        kill(process)
    # The containers die with the run (LXC's monitor is killed with it, and its init with
    # that); what they ran in stays for the sweep.
    deadline = time.monotonic() + 20
    while _processes_in(run_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_in(run_id) == []
    left = _left_of(run_id)
    assert any(line.startswith("cgroup") for line in left), left
    assert any(line.startswith("lock") for line in left), left
    assert any(line.startswith("ledger") for line in left), left

    cleaned = run_cleanup(only_lxc)

    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"run {run_id}" in cleaned.stdout, cleaned.stdout
    assert _left_of(run_id) == [], cleaned.stdout
