"""The pytest plugin, run in a subprocess by pytester on the scripted fake runtime.

Each test writes a ``scenarios/`` folder, a fake runtime's script and a runtimes file into
pytester's directory; the plugin is loaded through its entry point as users get it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from container_claims.report.reasons import STDERR_SHOWN
from container_claims.results import VERDICTS
from container_claims.scenario.model import CAPABILITIES
from tests.conftest import FakeRuntimes
from tests.support.project import Project, line_with
from tests.support.shell import shell_scenario

SHELL = shell_scenario(
    ("shell-is-pid-1", "The shell is PID 1.", "shell_pid", 1),
    ("shell-is-pid-2", "The shell is PID 2.", "shell_pid", 2),
    ("broken-is-fine", "What could not be observed is fine.", "broken", "fine"),
)

REGISTRY = """\
scenario: registry
section: Registry
requires: [registry]
claims:
  - id: pulls-from-registry
    says: Images are pulled from a registry.
    expect:
      - that: runtime
        equals: fake
"""

INVALID = """\
section: Broken
claims:
  - id: two-operators
    says: An expectation with two operators.
    expect:
      - that: image
        equals: a
        contains: b
"""

SCRIPT = {"typed": {"echo $$": "1", "cat /broken": "!error"}}
ALL_BUT_REGISTRY = ["engine", "images", "layers", "volumes", "exec", "resources", "host-processes"]


@pytest.fixture
def project(pytester: pytest.Pytester, fake_runtimes: FakeRuntimes) -> Project:
    return Project(pytester, fake_runtimes, SCRIPT)


def test_each_claim_on_each_runtime_is_one_item(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)
    project.script(fake=SCRIPT, other=SCRIPT)

    result = project.pytester.runpytest_subprocess(
        "scenarios",
        "-p",
        "no:cacheprovider",
        "--collect-only",
        "-q",
        "--runtimes-file",
        str(project.runtimes_file),
        "--runtime",
        "fake",
        "--runtime",
        "other",
    )

    assert result.ret == pytest.ExitCode.OK
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [
        f"scenarios/shell.yaml::{claim}[{runtime}]"
        for claim in ("shell-is-pid-1", "shell-is-pid-2", "broken-is-fine")
        for runtime in ("fake", "other")
    ]


def test_verdicts_map_onto_pytest_outcomes(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)

    result = project.run()

    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "scenarios/shell.yaml::shell-is-pid-1[[]fake[]] PASSED*",
            "scenarios/shell.yaml::shell-is-pid-2[[]fake[]] FAILED*",
            "scenarios/shell.yaml::broken-is-fine[[]fake[]] ERROR*",
        ]
    )
    assert project.verdicts() == {
        "shell-is-pid-1": "pass",
        "shell-is-pid-2": "fail",
        "broken-is-fine": "error",
    }


def test_failure_shows_expected_observed_and_where_the_claim_is(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)

    result = project.run("-k", "shell-is-pid-2")

    result.assert_outcomes(failed=1, deselected=2)
    claim_line = line_with(SHELL, "id: shell-is-pid-2")
    expect_line = claim_line + 3
    result.stdout.fnmatch_lines(
        [
            "claim shell-is-pid-2 does not hold on fake",
            "  says: The shell is PID 2.",
            f"  at:   *scenarios/shell.yaml:{claim_line}",
            f"  FAIL line {expect_line}: shell_pid equals 2",
            "       observed: 1",
            f"  step line {line_with(SHELL, 'type: echo $$')}: typed 'echo $$' -> *",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_claim_whose_observation_errored_is_an_error_not_a_failure(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)

    result = project.run("-k", "broken-is-fine")

    result.assert_outcomes(errors=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "*scenarios/shell.yaml::broken-is-fine[[]fake[]]: could not observe: "
            "line 26: observation 'broken' could not be made: scripted failure for 'cat /broken'",
        ]
    )
    (record,) = project.json()["results"]
    assert record["verdict"] == "error"
    assert "scripted failure" in record["message"]
    assert record["evidence"]["steps"][0]["error"] == "scripted failure for 'cat /broken'"


#: A defect of ours, put in a run by its conftest.py: making a check's record raises.
DEFECT = """\
from container_claims.checks import CheckResult


def to_json(self):
    raise ZeroDivisionError(f"a defect at line {self.expectation.line}")


CheckResult.to_json = to_json
"""


def test_a_defect_of_ours_during_a_claim_is_an_error_with_its_traceback(project: Project) -> None:
    """shell-is-pid-2 would fail; a defect while its verdict is made is an error instead, with
    the traceback from the claim's item down to the defect, and the run goes on."""
    project.scenario("shell.yaml", SHELL)
    project.pytester.makeconftest(DEFECT)

    result = project.run("-k", "shell-is-pid-2")

    result.assert_outcomes(errors=1, deselected=2)
    assert result.ret == 3
    line = line_with(SHELL, "id: shell-is-pid-2") + 3
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of shell-is-pid-2 on fake*",
            "    def setup(self) -> None:",
            '>       raise ZeroDivisionError(f"a defect at line {self.expectation.line}")',
            f"E       ZeroDivisionError: a defect at line {line}",
            "conftest.py:5: ZeroDivisionError",
        ]
    )
    assert "_pytest/runner.py" not in result.stdout.str()  # not pytest's frames above the item
    (record,) = project.json()["results"]
    assert (record["verdict"], record["message"]) == ("error", f"a defect at line {line}")


def test_unusable_runtime_makes_every_claim_an_error_naming_the_reason(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)
    project.script(fake={"unusable": "engine down"})

    result = project.run()

    result.assert_outcomes(errors=3)
    assert result.ret == 3
    result.stdout.fnmatch_lines(
        ["*could not observe: runtime 'fake' (*runtimes.yaml:2) cannot run here: engine down"]
    )
    assert set(project.verdicts().values()) == {"error"}


def test_container_that_does_not_start_stops_the_scenario_with_the_reason(
    project: Project,
) -> None:
    project.scenario("shell.yaml", SHELL)
    project.script(fake={"start_fails": "no such image"})

    result = project.run("-k", "shell-is-pid-1")

    result.assert_outcomes(errors=1, deselected=2)
    result.stdout.fnmatch_lines(["*could not observe: *(the scenario stopped: no such image)"])


def test_claim_needing_a_missing_capability_is_not_applicable(project: Project) -> None:
    project.scenario("registry.yaml", REGISTRY)
    project.script(fake={"capabilities": ALL_BUT_REGISTRY})

    result = project.run()

    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["SKIPPED * not applicable on fake: it has no registry"])
    (record,) = project.json()["results"]
    assert record["verdict"] == "not-applicable"
    assert record["message"] == "not applicable on fake: it has no registry"


def test_same_claim_applies_where_the_capability_exists(project: Project) -> None:
    project.scenario("registry.yaml", REGISTRY)

    result = project.run()  # the fake has every capability unless its script says otherwise

    result.assert_outcomes(passed=1)
    assert project.verdicts() == {"pulls-from-registry": "pass"}


#: A main container with a volume and claims that rest on it, or only on another container.
MAIN_NEEDS_VOLUMES = """\
section: Volumes and tmpfs
volumes: [data]
container:
  command: [/bin/sh]
  interactive: true
  tty: true
  volumes: {data: /data}
steps:
  - type: echo kept > /data/kept && echo written
    save: written
  - run:
      tmpfs: [/scratch]
      command: [sh, -c, "echo scratch"]
    save: scratch
claims:
  - id: volume-written
    says: A volume can be written.
    expect:
      - that: written
        equals: written
  - id: session-ends-cleanly
    says: The shell ends with status 0.
    expect:
      - that: session.exit_status
        equals: 0
  - id: tmpfs-is-writable
    says: A container can write to a tmpfs.
    expect:
      - that: scratch
        equals: scratch
"""


def test_a_claim_resting_on_another_container_runs_where_the_main_one_cannot_start(
    project: Project, tmp_path: Path
) -> None:
    """What a claim needs follows its observations, not its file: without volumes, the main
    container (which mounts one) does not start and the claims resting on it are not
    applicable, while the claim on a container with a tmpfs only still runs and passes."""
    journal = tmp_path / "journal"
    project.scenario("mixed.yaml", MAIN_NEEDS_VOLUMES)
    without_volumes = [c for c in CAPABILITIES if c != "volumes"]
    project.script(
        fake={"capabilities": without_volumes, "run": {"sh -c echo scratch": "scratch"},
              "journal": str(journal)}
    )  # fmt: skip

    result = project.run()

    result.assert_outcomes(passed=1, skipped=2)
    assert project.verdicts() == {
        "volume-written": "not-applicable",
        "session-ends-cleanly": "not-applicable",
        "tmpfs-is-writable": "pass",
    }
    records = {r["claim"]: r for r in project.json()["results"]}
    assert records["volume-written"]["message"] == "not applicable on fake: it has no volumes"
    assert journal.read_text().splitlines() == ["run (image) sh -c echo scratch"]  # no shell

    project.script(
        fake={
            "run": {"sh -c echo scratch": "scratch"},
            "typed": {"echo kept > /data/kept && echo written": "written"},
            "exit_status": 0,
        }
    )
    assert project.run().ret == pytest.ExitCode.OK  # with volumes: all three run


def test_invalid_scenario_is_one_error_line_and_the_others_still_run(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)
    project.scenario("bad.yaml", INVALID)

    result = project.run("-k", "shell-is-pid-1 or invalid")

    result.assert_outcomes(passed=1, errors=1, deselected=2)
    assert result.ret == 2
    lines = result.outlines
    header = next(i for i, line in enumerate(lines) if "invalid scenario bad.yaml" in line)
    line = line_with(INVALID, "that: image")
    expected = f"scenarios/bad.yaml:{line}: an expectation has exactly one of"
    assert lines[header + 1].startswith(expected)
    assert lines[header + 2].startswith(("_", "=")), "the error is more than one line"
    assert project.json()["input_errors"][0]["message"] == lines[header + 1]


TWO_ERRORS = """\
section: Broken
steps:
  - probe: host.kernal_release
    save: kernel
claims:
  - id: two-operators
    says: An expectation with two operators.
    expect:
      - that: kernel
        equals: a
        contains: b
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "n2"])
def test_every_error_of_a_file_is_its_own_line_and_counts(
    project: Project, workers: list[str]
) -> None:
    project.scenario("shell.yaml", SHELL)
    project.scenario("bad.yaml", TWO_ERRORS)

    result = project.run(*workers, "-k", "shell-is-pid-1")

    assert result.ret == 2
    errors = project.json()["input_errors"]
    assert [(e["file"], e["line"]) for e in errors] == [
        ("scenarios/bad.yaml", line_with(TWO_ERRORS, "probe: host.kernal")),
        ("scenarios/bad.yaml", line_with(TWO_ERRORS, "that: kernel")),
    ]
    assert "unknown probe 'host.kernal_release'" in errors[0]["message"]
    assert "exactly one of" in errors[1]["message"]
    assert "\n" not in errors[0]["message"] + errors[1]["message"]


MANY_ERRORS = "section: Broken\nsteps:\n" + "  - 1\n" * 30 + "claims: []\n"


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "n2"])
def test_a_file_of_many_errors_shows_twenty_and_counts_the_rest(
    project: Project, workers: list[str]
) -> None:
    project.scenario("shell.yaml", SHELL)
    project.scenario("bad.yaml", MANY_ERRORS)

    result = project.run(*workers, "-k", "shell-is-pid-1 or invalid")

    assert result.ret == 2
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["errors"]) == (1, 21)
    messages = [e["message"] for e in project.json()["input_errors"]]
    assert messages == [
        *(f"scenarios/bad.yaml:{3 + i}: steps.{i}: 1 is not of type 'object'" for i in range(20)),
        "... and 11 more errors in scenarios/bad.yaml",  # 10 steps, and the empty claims
    ]
    for message in messages:
        result.stdout.fnmatch_lines([f"invalid: {message}"])
    assert "Traceback" not in result.stdout.str() and "raise " not in result.stdout.str()
    assert "collect.py" not in result.stdout.str()  # no frame of the plugin's either


def test_duplicate_claim_ids_across_files_are_reported(project: Project) -> None:
    project.scenario("a.yaml", REGISTRY)
    project.scenario("b.yaml", REGISTRY.replace("scenario: registry", "scenario: again"))

    result = project.run()

    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == 2
    claim_line = line_with(REGISTRY, "id: pulls-from-registry")
    result.stdout.fnmatch_lines(
        [
            f"scenarios/b.yaml:{claim_line}: claim id 'pulls-from-registry' is already defined "
            f"at scenarios/a.yaml:{claim_line}",
        ]
    )


def test_k_selects_claims_by_id(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)
    project.scenario("registry.yaml", REGISTRY)

    result = project.run("-k", "pulls-from-registry")

    result.assert_outcomes(passed=1, deselected=3)
    assert list(project.verdicts()) == ["pulls-from-registry"]


def test_results_file_has_runtimes_and_results(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)

    project.run()

    data = project.json()
    (runtime,) = data["runtimes"]
    assert {"name", "kind", "binary", "run_args", "version"} <= set(runtime)
    assert (runtime["name"], runtime["kind"]) == ("fake", "fake")
    assert runtime["version"] == {"engine": "fake 1.0"}
    assert len(data["results"]) == 3
    for record in data["results"]:
        assert {"scenario", "claim", "runtime", "verdict", "duration_s", "evidence"} <= set(record)
        assert record["verdict"] in VERDICTS
        assert record["scenario"] == "shell"
        assert record["runtime"] == "fake"
        assert isinstance(record["duration_s"], float)
    passed = next(r for r in data["results"] if r["verdict"] == "pass")
    assert passed["evidence"]["checks"] == [
        {
            "that": "shell_pid",
            "op": "equals",
            "expected": 1,
            "observed": "1",
            "ok": True,
            "line": line_with(SHELL, "id: shell-is-pid-1") + 3,
        }
    ]
    assert passed["evidence"]["steps"][0]["save"] == "shell_pid"
    # The transcript is kept once for the scenario on its runtime; claims refer to it.
    ref = passed["evidence"]["transcript_ref"]
    assert ref == "scenarios/shell.yaml::fake"
    assert list(data["transcripts"]) == [ref]
    assert "echo $$" in data["transcripts"][ref]
    assert all("transcript" not in r["evidence"] for r in data["results"])


def test_summary_matrix_is_printed(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)

    result = project.run()

    result.stdout.fnmatch_lines(
        [
            "*= container-claims =*",
            "claim*fake*",
            "Shell:",  # claims in the order of the scenario file
            "  shell-is-pid-1*pass*",
            "  shell-is-pid-2*FAIL*",
            "  broken-is-fine*ERROR*",
            "1 pass, 1 fail, 1 error",
        ]
    )


@pytest.mark.parametrize(
    ("keyword", "code"),
    [
        ("shell-is-pid-1", 0),
        ("shell-is-pid-1 or shell-is-pid-2", 1),
        ("shell-is-pid-1 or broken-is-fine", 3),
        ("", 3),  # could-not-observe outranks a failure
    ],
)
def test_exit_code(project: Project, keyword: str, code: int) -> None:
    project.scenario("shell.yaml", SHELL)

    result = project.run("-k", keyword)

    assert result.ret == code


@pytest.mark.parametrize("keyword", ["", "shell-is-pid-1"])
def test_an_invalid_scenario_outranks_everything_even_when_deselected(
    project: Project, keyword: str
) -> None:
    project.scenario("shell.yaml", SHELL)
    project.scenario("bad.yaml", INVALID)

    result = project.run("-k", keyword)

    assert result.ret == 2
    result.stdout.fnmatch_lines(["invalid: scenarios/bad.yaml:*"])


def test_unknown_runtime_names_the_known_ones(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)

    result = project.run(runtime="fakr")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown runtime 'fakr' (did you mean 'fake'?); known: fake*"])


def test_last_failed_reruns_the_claims_that_did_not_hold(project: Project) -> None:
    """pytest keeps the failed ids between runs; each claim's item is found again by its id
    (the runtime in brackets read as its parameter, as pytest reads the ids it kept)."""
    project.scenario("shell.yaml", SHELL)
    options = [
        "scenarios",
        "-v",
        "--runtimes-file",
        str(project.runtimes_file),
        "--runtime",
        "fake",
    ]
    project.pytester.runpytest_subprocess(*options)

    again = project.pytester.runpytest_subprocess(*options, "--lf")

    again.assert_outcomes(failed=1, errors=1)
    again.stdout.fnmatch_lines(["*rerun previous 2 failures*"])
    again.stdout.no_fnmatch_line("*shell-is-pid-1*PASSED*")


def test_unknown_runtime_is_a_usage_error(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)

    result = project.run(runtime="fakr")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: unknown runtime 'fakr'*"])


def test_yaml_named_on_the_command_line_is_collected(
    pytester: pytest.Pytester, fake_runtimes: FakeRuntimes
) -> None:
    runtimes_file = fake_runtimes(pytester.path, {"fake": SCRIPT})
    (pytester.path / "checks").mkdir()
    (pytester.path / "checks" / "registry.yaml").write_text(REGISTRY)

    result = pytester.runpytest_subprocess(
        "checks/registry.yaml",
        "-p",
        "no:cacheprovider",
        "--runtimes-file",
        str(runtimes_file),
    )

    result.assert_outcomes(passed=1)


def test_plain_pytest_run_is_unaffected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "config.yaml").write_text("not: [a scenario\n")
    (pytester.path / "other.yaml").write_text(INVALID)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["collected 1 item"])
    result.stdout.no_fnmatch_line("*= container-claims =*")
    assert not (pytester.path / "out.json").exists()


TEMPLATED = """\
scenario: templated
section: Shell
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - type: echo $$
    save: shell_pid
  - type: "echo {{ shell_pid }} {{ runtime }}"
    save: echoed
  - probe: host.which
    with: {program: "sh{{ shell_pid }}"}
    save: where
claims:
  - id: echoed-pid
    says: The shell echoes its PID.
    expect:
      - that: echoed
        contains: "{{ shell_pid }}"
      - that: where
        equals: ""
"""


def test_evidence_shows_the_steps_with_their_templates_filled_in(
    pytester: pytest.Pytester, fake_runtimes: FakeRuntimes
) -> None:
    project = Project(pytester, fake_runtimes, {"typed": {"echo $$": "1", "echo 1 fake": "1 fake"}})
    project.scenario("templated.yaml", TEMPLATED)

    project.run()

    (record,) = project.json()["results"]
    steps = [step["step"] for step in record["evidence"]["steps"]]
    assert steps[1:] == ["typed 'echo 1 fake'", "probe host.which program=sh1"]


#: A scenario whose words carry terminal escapes (YAML's double-quoted escapes: \e is ESC,
#: \a BEL, \x9b the one-byte CSI), and a container whose output does: OSC 52 writes the
#: operator's clipboard, OSC 0 the window title, CSI 2J clears the screen.
HOSTILE = r"""
scenario: hostile
section: "Shell\e]0;pwned\a"
source: "An article\e[2J"
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - run: {command: [printf, clipboard]}
    save: printed
  - exec: [cat, /title]
    save: titled
claims:
  - id: printed-ok
    says: "It prints ok.\e]52;c;Y3VybCBldmlsIHwgc2g=\a"
    expect:
      - that: printed
        equals: ok
  - id: titled-ok
    says: "The title is ok.\x9b2J"
    expect:
      - that: titled
        equals: ok
"""
HOSTILE_SCRIPT = {
    "run": {"printf clipboard": "\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07done\x1bP1$qm\x1b\\"},
    "exec": {"cat /title": "\x9d0;title\x9c\x1b_Gf=100\x1b\\\r\nsecond line"},
}
#: What must not reach the terminal raw: C0 (but newline and tab), DEL and C1.
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_failure_text_and_matrix_show_escapes_from_scenarios_and_containers(
    project: Project,
) -> None:
    project.scenario("hostile.yaml", HOSTILE)
    project.script(fake=HOSTILE_SCRIPT)

    result = project.run("--color=no", "-rA")

    result.assert_outcomes(failed=2)
    out = result.stdout.str() + result.stderr.str()
    assert CONTROLS.findall(out) == []
    result.stdout.fnmatch_lines(
        [
            r"  says: It prints ok.\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07",
            r"       observed: \x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07done\x1bP1$qm\x1b\*",
            r"  says: The title is ok.\u009b2J",
            r"       observed: \u009d0;title\u009c\x1b_Gf=100\x1b\*",
            "second line",
            r"Shell\x1b]0;pwned\x07:",
        ]
    )
    data = project.json()  # the JSON keeps the exact text
    says = {r["claim"]: r["says"] for r in data["results"]}
    assert says["titled-ok"] == "The title is ok.\x9b2J"
    assert data["results"][0]["section"] == "Shell\x1b]0;pwned\x07"
    step = data["results"][0]["evidence"]["steps"][0]
    assert step["value"]["output"] == HOSTILE_SCRIPT["run"]["printf clipboard"]


def test_could_not_observe_shows_the_escapes_of_the_reason(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)
    project.script(fake={"start_fails": "docker: \x1b]0;pwned\x07\x9b2J refused"})

    result = project.run("--color=no", "-k", "shell-is-pid-1")

    result.assert_outcomes(errors=1, deselected=2)
    assert CONTROLS.findall(result.stdout.str() + result.stderr.str()) == []
    result.stdout.fnmatch_lines([r"*could not observe:*docker: \x1b]0;pwned\x07\u009b2J refused*"])
    (record,) = project.json()["results"]
    assert "\x1b]0;pwned\x07\x9b2J" in record["message"]


def test_an_invalid_scenarios_line_shows_its_escapes(project: Project) -> None:
    project.scenario("bad.yaml", 'section: Broken\nclaims:\n  - {id: "a\\e]0;t\\a", says: x}\n')

    result = project.run("--color=no")

    assert result.ret == 2
    assert CONTROLS.findall(result.stdout.str() + result.stderr.str()) == []


STDERR = """\
scenario: stderr
section: Stderr
steps:
  - run: {command: [failing]}
    save: failing
  - run: {command: [slow]}
    save: slow
claims:
  - id: failing-exits-0
    says: It exits 0.
    expect:
      - that: failing.status
        equals: 0
  - id: slow-exits-0
    says: It exits 0.
    expect:
      - that: slow.status
        equals: 0
"""
#: A long stderr whose end says what went wrong, with an escape sequence in it; and what a run
#: that never finished printed on stderr so far.
LONG_STDERR = "x" * 1000 + "\nwarning: \x1b]0;pwned\x07\nfatal: the end\n"
STDERR_SCRIPT = {
    "run": {
        "failing": {"output": "out", "status": 1, "stderr": LONG_STDERR},
        "slow": {
            "output": "",
            "status": None,
            "completed": False,
            "detail": "no result within 2 s",
            "stderr": "still starting",
        },
    }
}


def test_a_failed_or_errored_claim_shows_its_steps_stderr_bounded_and_escaped(
    project: Project,
) -> None:
    project.scenario("stderr.yaml", STDERR)
    project.script(fake=STDERR_SCRIPT)

    result = project.run("--color=no")

    result.assert_outcomes(failed=1, errors=1)
    out = result.stdout.str()
    assert CONTROLS.findall(out + result.stderr.str()) == []
    (shown,) = [line for line in out.splitlines() if line.startswith("       stderr: ")]
    assert shown.endswith(r"x\nwarning: \x1b]0;pwned\x07\nfatal: the end")
    left_out = len(LONG_STDERR.strip()) - STDERR_SHOWN
    assert f"({left_out} characters before) …" in shown and len(shown) < 480  # its end, bounded
    run_line = line_with(STDERR, "command: [slow]")
    assert f"  stderr of step line {run_line}: still starting" in result.stdout.lines
    failing = next(r for r in project.json()["results"] if r["claim"] == "failing-exits-0")
    assert failing["evidence"]["steps"][0]["value"]["stderr"] == LONG_STDERR  # whole in JSON


def test_a_claim_whose_steps_printed_no_stderr_shows_none(project: Project) -> None:
    project.scenario("shell.yaml", SHELL)

    result = project.run("-k", "shell-is-pid-2 or broken-is-fine")

    result.assert_outcomes(failed=1, errors=1, deselected=1)
    assert "stderr:" not in result.stdout.str() and "stderr of step" not in result.stdout.str()


GC_WATCH = """\
import gc

import pytest


def pytest_collection_finish(session):
    print(f"collecting: collector on {gc.isenabled()}, frozen {gc.get_freeze_count() > 0}")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    print(f"started: collector on {gc.isenabled()}, frozen {gc.get_freeze_count() > 0}")


def pytest_sessionfinish(session):
    print(f"finished: collector on {gc.isenabled()}")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "n2"])
def test_the_cycle_collector_rests_while_scenarios_load_and_works_again_after(
    project: Project, workers: list[str]
) -> None:
    project.scenario("shell.yaml", SHELL)
    project.pytester.makeconftest(GC_WATCH)

    result = project.run("-s", "-k", "shell-is-pid-1", *workers)

    assert result.ret == pytest.ExitCode.OK
    printed = result.stdout.str()
    if workers:  # the controller loads every file as the session starts, and collects nothing
        assert "started: collector on True, frozen True" in printed
    else:
        assert "collecting: collector on False, frozen True" in printed
    assert "finished: collector on True" in printed
