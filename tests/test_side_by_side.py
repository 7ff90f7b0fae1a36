"""Runtimes side by side: without -n, each runtime's scenarios are observed in a thread of its
own while the claims report in their order (the plugin on the scripted fake runtime).

Two fakes that can only both open a shell when they run at the same time (each waits for the
other's, ``meet`` in their scripts) show the overlap without timing anything.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from container_claims import ledger
from container_claims.observer import Planned, ScenarioObserver
from container_claims.run_services import RunServices
from container_claims.runtime_pool import RuntimePool
from container_claims.runtimes.base import RuntimeConfig
from tests.conftest import FakeRuntimes
from tests.support.project import Project
from tests.support.shell import shell_scenario

SHELL = shell_scenario(
    ("shell-is-pid-1", "The shell is PID 1.", "shell_pid", 1),
    ("shell-is-still-pid-1", "The shell is PID 1 still.", "shell_pid", 1),
)


def meeting(tmp_path: Path, me: str, other: str) -> dict[str, object]:
    return {
        "typed": {"echo $$": "1"},
        "arrive": str(tmp_path / f"{me}.here"),
        "meet": str(tmp_path / f"{other}.here"),
        "meet_timeout": 3,
        "journal": str(tmp_path / f"{me}.journal"),
    }


@pytest.fixture
def project(pytester: pytest.Pytester, fake_runtimes: FakeRuntimes) -> Project:
    project = Project(pytester, fake_runtimes, {})
    project.scenario("shell.yaml", SHELL)
    project.scenario("again.yaml", SHELL.replace("shell-is-", "again-shell-is-"))
    path = pytester.path
    project.script(left=meeting(path, "left", "right"), right=meeting(path, "right", "left"))
    return project


def test_runtimes_are_observed_side_by_side_and_report_in_order(project: Project) -> None:
    result = project.run("--runtime", "right", runtime="left")

    result.assert_outcomes(passed=8)
    lines = [line.split(" ")[0] for line in result.outlines if " PASSED" in line]
    assert lines == [
        f"scenarios/{file}::{prefix}shell-is-{claim}[{runtime}]"
        for file, prefix in (("again.yaml", "again-"), ("shell.yaml", ""))
        for claim in ("pid-1", "still-pid-1")
        for runtime in ("left", "right")
    ]
    # Each scenario still opened its container once per runtime.
    for runtime in ("left", "right"):
        journal = (project.pytester.path / f"{runtime}.journal").read_text().splitlines()
        assert len([line for line in journal if line.startswith("open ")]) == 2, journal


def test_one_runtime_at_a_time_cannot_meet_so_the_check_above_can_fail(project: Project) -> None:
    result = project.run("--runtime", "right", "--one-runtime-at-a-time", runtime="left")

    # The first scenario on left waits for right's shell, which opens only after it.
    verdicts = {(r["claim"], r["runtime"]): r["verdict"] for r in project.json()["results"]}
    assert verdicts[("again-shell-is-pid-1", "left")] == "error"
    assert verdicts[("again-shell-is-pid-1", "right")] == "pass"
    assert "never opened meanwhile" in result.stdout.str()


@pytest.mark.parametrize("jobs", ["2", "auto", None])
def test_scenarios_of_one_runtime_side_by_side_with_jobs(
    project: Project, jobs: str | None
) -> None:
    """Two scenarios of one runtime whose shells open only together: with --jobs (auto when
    not given) they do, and report in order, each opening its container once."""
    gather = project.pytester.path / "gathered"
    gather.mkdir()
    journal = project.pytester.path / "one.journal"
    script = {"typed": {"echo $$": "1"}, "gather": str(gather), "gather_count": 2}
    project.script(one={**script, "meet_timeout": 5, "journal": str(journal)})

    result = project.run(*(("--claims-jobs", jobs) if jobs else ()), runtime="one")

    result.assert_outcomes(passed=4)
    lines = [line.split(" ")[0] for line in result.outlines if " PASSED" in line]
    assert lines == [
        f"scenarios/{file}::{prefix}shell-is-{claim}[one]"
        for file, prefix in (("again.yaml", "again-"), ("shell.yaml", ""))
        for claim in ("pid-1", "still-pid-1")
    ]
    opened = [line for line in journal.read_text().splitlines() if line.startswith("open ")]
    assert len(opened) == 2, opened


def test_one_scenario_at_a_time_cannot_gather_so_the_check_above_can_fail(
    project: Project,
) -> None:
    gather = project.pytester.path / "gathered"
    gather.mkdir()
    script = {"typed": {"echo $$": "1"}, "gather": str(gather), "gather_count": 2}
    project.script(one={**script, "meet_timeout": 1})

    result = project.run("--claims-jobs", "1", runtime="one")

    verdicts = {r["claim"]: r["verdict"] for r in project.json()["results"]}
    assert verdicts["again-shell-is-pid-1"] == "error"
    assert "never opened meanwhile" in result.stdout.str()


def test_jobs_never_exceed_what_the_kind_allows() -> None:
    services = RunServices(run_id="jobs01")
    pool = RuntimePool(run_id="jobs01", image="unused", services=services)

    def jobs(asked: int | str, kind: str) -> int:
        return ScenarioObserver(pool, services, jobs=asked).jobs_for(
            RuntimeConfig(name=kind, kind=kind)
        )

    assert jobs(8, "docker") == jobs(8, "podman") == 8
    assert jobs(3, "docker") == 3
    assert jobs(8, "unshare") == jobs(8, "bwrap") == 1  # one root filesystem copy per process
    assert jobs(16, "fake") == 4
    assert jobs("auto", "docker") == min(8, 2 * (os.cpu_count() or 1))
    assert jobs(1, "docker") == 1


def test_a_runtime_that_cannot_run_makes_only_its_claims_errors(
    project: Project, tmp_path: Path
) -> None:
    project.script(left={"typed": {"echo $$": "1"}}, right={"unusable": "engine down"})

    result = project.run("--runtime", "right", runtime="left")

    verdicts = {(r["claim"], r["runtime"]): r["verdict"] for r in project.json()["results"]}
    assert {v for (_, rt), v in verdicts.items() if rt == "left"} == {"pass"}
    assert {v for (_, rt), v in verdicts.items() if rt == "right"} == {"error"}
    assert result.ret == 3


def test_a_thread_observing_ahead_ends_with_its_scenarios() -> None:
    # Its children are forked by processes' lasting thread, so nothing needs it to live on.
    services = RunServices(run_id="ahead1")
    pool = RuntimePool(run_id="ahead1", image="unused", services=services)
    observer = ScenarioObserver(pool, services)
    empty: list[Planned] = []
    plan = {name: (RuntimeConfig(name=name, kind="fake"), empty) for name in ("left", "right")}

    observer.side_by_side(plan)
    try:
        assert observer.stop() == []
        alive = {thread.name for thread in threading.enumerate()}
        assert not alive & {"container-claims left", "container-claims right"}
    finally:
        own = ledger.current()
        if own is not None:
            own.close(clean=True)
