"""The plugin acts only when a run asks for claims; any other run goes as without it.

An unrelated project (its own ``scenarios/`` and ``tests/scenarios/`` of another tool's YAML, a
conftest, a test that reads the SIGTERM handler) is run by pytest with the plugin loaded
through its entry point, and with ``-p no:container_claims``: the same items, the same
outcome, and the dead run's ledger lying in the state directory, with what it names, left
as it was. The same project asking for claims shows that the ledger is a real one to sweep
and that the test sees a changed handler.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from container_claims.ledger import SWEEP_LOCK
from tests.conftest import FakeRuntimes

REPO = Path(__file__).resolve().parents[1]

#: Another tool's YAML, in folders named as the plugin's conventions name theirs.
LOGIN = """\
name: login
steps:
  - visit: /login
  - fill: {user: bob}
"""

#: A file of the scenario format, for the runs that ask for claims.
SCENARIO = """\
section: Shell
claims:
  - {id: runs-on-fake, says: It runs on the fake., expect: [{that: runtime, equals: fake}]}
"""

CONFTEST = """\
import pytest


@pytest.fixture
def user():
    return "bob"
"""

TEST_LOGIN = """\
import signal


def test_login(user):
    assert user == "bob"


def test_sigterm_is_left_alone():
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
"""


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory holding the ledger of a dead run, which names a run copy."""
    home = tmp_path / "state"
    monkeypatch.setenv("CONTAINER_CLAIMS_HOME", str(home))
    copy = home / "runs" / "dead01-rootfs"
    copy.mkdir(parents=True)
    (copy / "etc").write_text("a root filesystem copy\n")
    ledger = home / "ledger" / f"dead01-{2**22 + 1}.jsonl"  # no process holds its lock
    ledger.parent.mkdir(mode=0o700)
    ledger.write_text(json.dumps({"kind": "dir", "path": str(copy)}) + "\n")
    return home


@pytest.fixture
def unrelated(pytester: pytest.Pytester, state: Path) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    for folder in ("scenarios", "tests/scenarios"):
        (pytester.path / folder).mkdir(parents=True)
        (pytester.path / folder / "login.yaml").write_text(LOGIN)
    (pytester.path / "tests" / "test_login.py").write_text(TEST_LOGIN)
    return pytester


def left_in(state: Path) -> list[str]:
    return sorted(str(path.relative_to(state)) for path in state.rglob("*"))


def outcome(pytester: pytest.Pytester, *args: str) -> tuple[int, list[str], dict[str, int]]:
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")
    lines = [line for line in result.outlines if "::" in line and " " not in line.strip()]
    return int(result.ret), lines, result.parseoutcomes()


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--co", "-q"),
        ("-q",),
        ("tests", "--co", "-q"),
        ("scenarios", "--co", "-q"),
        ("scenarios/login.yaml",),
        ("tests/scenarios", "tests/test_login.py"),
    ],
    ids=["pytest", "co", "quiet", "tests", "scenarios", "a-yaml-file", "yaml-beside-tests"],
)
def test_a_run_that_asks_for_no_claims_goes_as_without_the_plugin(
    unrelated: pytest.Pytester, state: Path, args: tuple[str, ...]
) -> None:
    before = left_in(state)

    loaded = outcome(unrelated, *args)
    without = outcome(unrelated, *args, "-p", "no:container_claims")

    assert loaded == without
    assert left_in(state) == before  # the dead run's ledger, and what it names, untouched


def test_the_plain_run_passes_with_the_handler_untouched(unrelated: pytest.Pytester) -> None:
    code, _, outcomes = outcome(unrelated)

    assert code == pytest.ExitCode.OK
    assert outcomes == {"passed": 2}


def test_a_run_that_asks_for_claims_sweeps_and_takes_sigterm(
    unrelated: pytest.Pytester, state: Path
) -> None:
    """The controls: the ledger above is one a claims run sweeps, and a claims run's handler
    is what the plain run's test would see if the plugin replaced it."""
    collected = outcome(unrelated, "tests/test_login.py", "--claims", "--co", "-q")
    assert collected[0] == pytest.ExitCode.OK
    assert (state / "runs" / "dead01-rootfs").exists()  # a collection sweeps nothing

    result = unrelated.runpytest_subprocess(
        "tests/test_login.py", "--claims", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*removed what a dead run left: run dead01: directory *"])
    assert not (state / "runs" / "dead01-rootfs").exists()
    # No run's record is left; the sweeps' lock file stays, as a lock that is never removed.
    assert [path.name for path in (state / "ledger").iterdir()] == [SWEEP_LOCK]


def test_asked_for_another_tool_s_yaml_in_a_scenarios_folder_is_invalid(
    unrelated: pytest.Pytester,
) -> None:
    """Asked for claims on it, a folder named scenarios is scenarios: its YAML says why not."""
    result = unrelated.runpytest_subprocess(
        "scenarios", "--claims", "--co", "-p", "no:cacheprovider"
    )

    assert result.ret == 2  # bad input, as in every claims run
    result.stdout.fnmatch_lines(["*invalid: *login.yaml:1: unknown key 'name' in the top level*"])


@pytest.fixture
def configured(pytester: pytest.Pytester, fake_runtimes: FakeRuntimes) -> pytest.Pytester:
    """A project whose pytest configuration names its scenario folder, ``checks``."""
    fake_runtimes(pytester.path, {"fake": {}})
    pytester.makeini("[pytest]\nclaims_paths = checks\n")
    (pytester.path / "checks" / "more").mkdir(parents=True)
    (pytester.path / "checks" / "more" / "fake.yaml").write_text(SCENARIO)
    (pytester.path / "checks" / "more" / "settings.yaml").write_text("settings: {a: 1}\n")
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_plain.py").write_text("def test_plain():\n    pass\n")
    return pytester


@pytest.mark.parametrize(
    ("args", "collected"),
    [
        (("checks",), ["checks/more/fake.yaml::runs-on-fake[docker]"]),
        (("checks/more",), ["checks/more/fake.yaml::runs-on-fake[docker]"]),
        (("checks/more/fake.yaml",), ["checks/more/fake.yaml::runs-on-fake[docker]"]),
        ((), ["tests/test_plain.py::test_plain"]),
        ((".",), ["tests/test_plain.py::test_plain"]),
        (("tests",), ["tests/test_plain.py::test_plain"]),
    ],
    ids=["folder", "subfolder", "file", "pytest", "above", "other-tests"],
)
def test_the_claims_paths_setting_asks_for_the_claims_of_runs_inside_it(
    configured: pytest.Pytester, args: tuple[str, ...], collected: list[str]
) -> None:
    """A run inside the folders checks their claims (on the packaged first runtime, not
    contacted by a collection); a run of the project's other tests, or above, does not."""
    code, ids, _ = outcome(configured, *args, "--co", "-q")

    assert code == pytest.ExitCode.OK
    assert ids == collected


def test_claims_paths_runs_on_the_runtimes_given(configured: pytest.Pytester) -> None:
    result = configured.runpytest_subprocess(
        "checks", "-p", "no:cacheprovider", "--runtimes-file", "runtimes.yaml", "--runtime", "fake"
    )

    result.assert_outcomes(passed=1)


def test_pytest_on_the_scenarios_collects_what_run_collects() -> None:
    """In this repository, ``pytest scenarios/`` is a claims run (its ``claims_paths``): the
    same items as ``container-claims run scenarios/``, the docker-run folder's too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    commands = {
        "pytest": [sys.executable, "-m", "pytest", "scenarios/", "--co", "-q"],
        "run": [sys.executable, "-m", "container_claims", "run", "scenarios/", "-q", "--co"],
    }
    collected = {}
    for name, command in commands.items():
        result = subprocess.run(
            [*command, "-p", "no:cacheprovider"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        collected[name] = [line for line in result.stdout.splitlines() if "::" in line]

    assert collected["pytest"] == collected["run"]
    scenario_files = {str(p.relative_to(REPO)) for p in (REPO / "scenarios").rglob("*.yaml")}
    assert {node.split("::")[0] for node in collected["pytest"]} == scenario_files
    assert any(node.startswith("scenarios/docker-run/") for node in collected["pytest"])
