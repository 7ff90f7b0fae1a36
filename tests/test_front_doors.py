"""One front door: ``container-claims run`` and ``pytest`` take the same run options, checked
the same way, and hand a run's runtimes on as they are (options.py, runtimes.choose_runtimes,
scheduling.py)."""

from __future__ import annotations

import shutil
import types
from pathlib import Path

import pytest

from container_claims.cli import main
from container_claims.cli.parser import run_parser
from container_claims.options import PYTEST_OPTIONS, RUN_OPTIONS
from container_claims.scheduling import UNITS, ScenarioScheduling, claim_item_name
from tests.conftest import FakeRuntimes
from tests.support.project import Project, run_cli
from tests.support.shell import shell_scenario

SHELL = shell_scenario(
    ("shell-is-pid-1", "The shell is PID 1.", "shell_pid", 1),
    ("shell-is-pid-2", "The shell is PID 2.", "shell_pid", 2),
)


@pytest.fixture
def project(pytester: pytest.Pytester, fake_runtimes: FakeRuntimes) -> Project:
    return Project(pytester, fake_runtimes, {"typed": {"echo $$": "1"}})


def test_every_run_option_is_run_s_and_but_two_pytest_s_too() -> None:
    run = run_parser()._option_string_actions
    assert all(option.flag in run for option in RUN_OPTIONS)
    assert [option.flag for option in RUN_OPTIONS if option.cli_only] == ["--repeat", "--against"]
    spelled = [option.pytest_flag for option in PYTEST_OPTIONS]
    assert len(set(spelled)) == len(spelled) == len(RUN_OPTIONS) - 2
    # Where another plugin of this environment has the word (testinfra's --hosts...).
    assert "--claims-hosts" in spelled and "--hosts" not in spelled


def test_pytest_reads_every_run_option_as_run_does(pytester: pytest.Pytester) -> None:
    given: list[str] = []
    for option in PYTEST_OPTIONS:
        if not option.switch:
            given += [option.pytest_flag, "7" if option.check else "x"]
        else:
            given.append(option.pytest_flag)

    config = pytester.parseconfig(*given)

    for option in PYTEST_OPTIONS:
        value = config.getoption(option.dest)
        expected = True if option.switch else 7.0 if option.check else "x"
        assert value == ([expected] if option.repeated else expected), option.flag


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--run-deadline", "-5", "'-5': give seconds above 0 (at most a week)"),
        ("--runtime-deadline", "soon", "'soon' is not a number of seconds"),
        ("--runtime-deadline", "1e9", "'1e9': give seconds above 0 (at most a week)"),
    ],
)
def test_a_bad_value_is_the_same_usage_error_through_either_door(
    project: Project, capsys: pytest.CaptureFixture[str], flag: str, value: str, says: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}: {says}" in capsys.readouterr().err

    result = project.pytester.runpytest_subprocess("scenarios", f"{flag}={value}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*argument {flag}: {says}*"])


def test_pytest_chooses_runtimes_on_hosts_as_run_does(project: Project) -> None:
    """--claims-hosts goes through the same choice as run --hosts, and is refused for the
    same reason (a fake runtime runs on this machine only), as a usage error."""
    project.scenario("shell.yaml", SHELL)
    refusal = "--hosts: runtime 'fake' is a fake runtime, which runs on this machine only"

    through_run = run_cli(
        "scenarios", "--runtimes-file", str(project.runtimes_file), "--hosts", "ssh://edge-1",
        cwd=project.pytester.path,
    )  # fmt: skip
    through_pytest = project.run("--claims-hosts", "ssh://edge-1")

    assert through_run.returncode == 2 and refusal in through_run.stderr
    assert through_pytest.ret == pytest.ExitCode.USAGE_ERROR
    through_pytest.stderr.fnmatch_lines([f"*{refusal}*"])


def test_pytest_writes_the_report_and_gates_on_a_baseline_as_run_does(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)
    assert project.run().ret == 1  # shell-is-pid-2 fails
    shutil.copy(project.pytester.path / "out.json", project.pytester.path / "baseline.json")
    project.script(fake={"typed": {"echo $$": "2"}})  # now shell-is-pid-1 regresses

    through_pytest = project.run(
        "--claims-baseline", "baseline.json", "--claims-html", "report.html"
    )
    through_run = run_cli(
        "scenarios", "--runtimes-file", str(project.runtimes_file), "--runtime", "fake",
        "--baseline", "baseline.json", "--html", "run.html", cwd=project.pytester.path,
    )  # fmt: skip

    assert through_pytest.ret == through_run.returncode == 1  # a regression
    for moved in ("REGRESSION shell-is-pid-1 on fake: pass → fail", "1 regression, 1 fix"):
        assert moved in through_run.stdout
        through_pytest.stdout.fnmatch_lines(["container-claims: against the baseline", f"{moved}*"])
    for report in ("report.html", "run.html"):
        assert "shell-is-pid-1" in (project.pytester.path / report).read_text()


def test_a_map_without_a_baseline_is_refused_by_either_door(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)

    through_pytest = project.run("--claims-map", "old=fake")

    assert through_pytest.ret == pytest.ExitCode.USAGE_ERROR
    through_pytest.stderr.fnmatch_lines(["*--map pairs runtimes of a --baseline: give one*"])


def test_a_scenario_on_a_runtime_is_one_unit_looked_up_not_parsed() -> None:
    config = types.SimpleNamespace(stash=pytest.Stash())
    config.stash[UNITS] = {
        claim_item_name("a", "docker@edge-1"): "/s/x.yaml::docker@edge-1",
        claim_item_name("b", "docker@edge-1"): "/s/x.yaml::docker@edge-1",
    }
    scheduling = types.SimpleNamespace(config=config)

    def unit(nodeid: str) -> str:
        return ScenarioScheduling._split_scope(scheduling, nodeid)  # type: ignore[arg-type]

    assert unit("scenarios/x.yaml::a[docker@edge-1]") == "/s/x.yaml::docker@edge-1"
    assert unit("scenarios/x.yaml::b[docker@edge-1]@group") == "/s/x.yaml::docker@edge-1"
    assert unit("tests/test_x.py::test_y") == "tests/test_x.py::test_y"  # not a claim: alone


def test_under_xdist_a_scenario_starts_once_per_runtime(project: Project, tmp_path: Path) -> None:
    for name in ("one", "two"):
        project.scenario(f"{name}.yaml", SHELL.replace("shell-is", f"{name}-shell-is"))
    journals = {name: tmp_path / f"{name}.journal" for name in ("fake", "other")}
    project.script(
        **{
            name: {"typed": {"echo $$": "1"}, "journal": str(path)}
            for name, path in journals.items()
        }
    )

    result = project.run("-n", "2", "--runtime", "other")

    result.assert_outcomes(passed=4, failed=4)
    for journal in journals.values():
        opened = [line for line in journal.read_text().splitlines() if line.startswith("open ")]
        assert len(opened) == 2, opened  # each scenario once, whatever worker its claims ran on
