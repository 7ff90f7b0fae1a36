"""Expected verdicts (``--expect``): xfail for an accepted deviation, strict about the rest.

The plugin runs in a subprocess on the scripted fake runtime (tests/support/project.py); the
file format is tested on its own below.
"""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from container_claims.errors import ScenarioError
from container_claims.expectations import load_expectations, starting_file
from container_claims.results import Results
from tests.conftest import FakeRuntimes
from tests.support.project import Project, line_with
from tests.test_plugin import SCRIPT, SHELL  # the same scenario: a pass, a fail, an error

KNOWN = """\
expectations:
  - runtime: fake
    claim: shell-is-pid-2
    verdict: fail
    reason: The fake's shell is PID 1, as its script says.
  - runtime: "fak*"
    claim: broken-is-*
    verdict: error
    reason: The fake's script makes cat /broken fail.
    link: https://example.org/why
  - runtime: podman
    claim: shell-is-pid-1
    verdict: fail
    reason: A runtime this run does not use.
  - runtime: fake
    claim: renamed-claim
    verdict: fail
    reason: A claim that is no longer in the scenarios.
"""


@pytest.fixture
def project(pytester: pytest.Pytester, fake_runtimes: FakeRuntimes) -> Project:
    project = Project(pytester, fake_runtimes, SCRIPT)
    project.scenario("shell.yaml", SHELL)
    return project


def write(project: Project, name: str, text: str) -> str:
    path = project.pytester.path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_expected_fail_and_error_are_xfails_and_the_run_passes(project: Project) -> None:
    expect = write(project, "known.yaml", KNOWN)

    result = project.run("--expect", expect, "-rx", "--junitxml", "junit.xml")

    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=1, xfailed=2)
    result.stdout.fnmatch_lines(
        [
            "XFAIL scenarios/shell.yaml::shell-is-pid-2[[]fake[]] - The fake's shell is PID 1, "
            f"as its script says. (expected fail, {expect}:2)",
            "XFAIL at setup of scenarios/shell.yaml::broken-is-fine[[]fake[]] - *(expected error, *",
        ]
    )
    data = project.json()
    by_claim = {r["claim"]: r for r in data["results"]}
    assert by_claim["shell-is-pid-2"]["verdict"] == "fail"  # the verdict stays what was observed
    assert by_claim["shell-is-pid-2"]["expectation"] == {
        "status": "expected",
        "verdict": "fail",
        "reason": "The fake's shell is PID 1, as its script says.",
        "where": f"{expect}:2",
    }
    assert by_claim["broken-is-fine"]["expectation"]["link"] == "https://example.org/why"
    assert "expectation" not in by_claim["shell-is-pid-1"]
    assert data["summary"] == {
        "pass": 1,
        "fail": 1,
        "error": 1,
        "expected": {"fail": 1, "error": 1},
        "unexpected": 0,
    }
    # Entries that matched nothing are listed, each with why.
    assert data["expectations"]["files"] == [expect]
    assert [(s["where"], s["why"]) for s in data["expectations"]["stale"]] == [
        (f"{expect}:11", "names no runtime of this run"),
        (f"{expect}:15", "no such claim was run on a runtime it names"),
    ]
    result.stdout.fnmatch_lines(
        [
            "*2 expectation entries matched nothing in this run*",
            f"*{expect}:15: fake / renamed-claim: no such claim was run on a runtime it names",
        ]
    )
    # JUnit reads them as pytest's own xfails: skipped, with the reason.
    cases = {
        case.get("name"): case
        for case in ET.parse(project.pytester.path / "junit.xml").getroot().iter("testcase")
    }
    skipped = cases["shell-is-pid-2[fake]"].find("skipped")
    assert skipped is not None and skipped.get("type") == "pytest.xfail"
    assert "The fake's shell is PID 1" in (skipped.get("message") or "")


def test_a_claim_no_longer_as_expected_fails_the_run_as_a_strict_xpass(project: Project) -> None:
    expect = write(
        project,
        "known.yaml",
        """\
        expectations:
          - runtime: fake
            claim: shell-is-pid-1
            verdict: fail
            reason: Was PID 7 once.
          - runtime: fake
            claim: shell-is-pid-2
            verdict: error
            reason: Could not be observed once.
        """,
    )

    result = project.run("--expect", expect, "-k", "pid")

    assert result.ret == 1
    result.assert_outcomes(failed=2, deselected=1)
    result.stdout.fnmatch_lines(
        [
            f"*[[]XPASS(strict)[]] no longer as expected: pass where expected fail, "
            f"{expect}:2; update the file",
        ]
    )
    records = {r["claim"]: r for r in project.json()["results"]}
    assert records["shell-is-pid-1"]["expectation"]["status"] == "unexpected"
    assert records["shell-is-pid-1"]["verdict"] == "pass"
    assert records["shell-is-pid-2"]["expectation"]["status"] == "unexpected"
    assert project.json()["summary"]["unexpected"] == 2


def test_expected_verdicts_go_through_pytest_s_own_xfail(project: Project) -> None:
    """pytest's xfail, not a report made to look like one: --runxfail, which reports xfails
    as if they were not marked, shows the expected fail and error as what they are."""
    expect = write(project, "known.yaml", KNOWN)

    result = project.run("--expect", expect, "--runxfail")

    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["claim shell-is-pid-2 does not hold on fake"])
    assert project.json()["summary"]["expected"] == {"fail": 1, "error": 1}


def test_an_expected_fail_is_rerun_by_last_failed_only_when_it_moved(project: Project) -> None:
    expect = write(project, "known.yaml", KNOWN)
    project.pytester.runpytest_subprocess(
        "scenarios",
        "--runtimes-file",
        str(project.runtimes_file),
        "--runtime",
        "fake",
        "--expect",
        expect,
    )

    again = project.pytester.runpytest_subprocess(
        "scenarios",
        "--runtimes-file",
        str(project.runtimes_file),
        "--runtime",
        "fake",
        "--expect",
        expect,
        "--lf",
    )

    # Nothing failed (the xfails are not failures), so --lf runs everything again.
    again.stdout.fnmatch_lines(["*run-last-failure: no previously failed tests*"])


def test_without_an_entry_a_fail_still_fails(project: Project) -> None:
    expect = write(project, "known.yaml", "expectations: []\n")

    result = project.run("--expect", expect)

    assert result.ret == 3  # the error outranks the fail, as without --expect
    result.assert_outcomes(passed=1, failed=1, errors=1)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "expectations:\n  - runtime: fake\n    claim: a\n    verdict: fail\n    reason: TODO\n",
            5,
            "the reason of a on fake is still to be written: say in one sentence why this "
            "verdict is expected",
        ),
        (
            "expectations:\n  - runtime: fake\n    claim: a\n    verdict: fail\n",
            2,
            "*'reason' is a required property*",
        ),
        (
            "expectations:\n  - runtime: fake\n    claim: a\n    verdict: pass\n    reason: x\n",
            4,
            "*'pass' is not one of [[]'fail', 'error'[]]",
        ),
        (
            "expectations:\n  - {runtime: a, claim: b, verdict: fail, reason: c, "
            "link: 'javascript:alert(1)'}\n",
            2,
            "expectations.0.link: 'javascript:alert(1)' is not a web address (http:// or https://)",
        ),
        ("- just a list\n", 1, "an expectations file is a mapping with an 'expectations' list"),
        ("expectations: [\n", 2, "invalid YAML*"),
    ],
)
def test_a_bad_expectations_file_is_one_line_naming_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "known.yaml"
    path.write_text(text)

    with pytest.raises(ScenarioError) as caught:
        load_expectations([path])

    assert caught.value.line == line
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert fnmatchcase(caught.value.message, message), caught.value.message


def test_every_todo_reason_is_named_at_once(tmp_path: Path) -> None:
    path = tmp_path / "known.yaml"
    path.write_text(
        starting_file([({"runtime": "a", "claim": "x", "verdict": "fail"}, "")] * 2, "r.json")
    )

    with pytest.raises(ScenarioError) as caught:
        load_expectations([path])

    assert [e.line for e in caught.value.errors] == [8, 12]  # type: ignore[attr-defined]


def test_a_bad_expectations_file_stops_the_run_with_exit_2(project: Project) -> None:
    expect = write(project, "known.yaml", "expectations:\n  - runtime: fake\n")

    result = project.run("--expect", expect)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{expect}:2: *required property*"])


def test_first_matching_entry_wins_across_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("expectations:\n  - {runtime: '*', claim: c, verdict: error, reason: A.}\n")
    second.write_text("expectations:\n  - {runtime: r, claim: c, verdict: fail, reason: B.}\n")

    expectations = load_expectations([first, second])

    assert expectations.judge("c", "r", "fail") == {
        "status": "unexpected",
        "verdict": "error",
        "reason": "A.",
        "where": f"{first}:2",
    }
    assert expectations.judge("d", "r", "fail") is None


def test_starting_file_lists_every_fail_and_error_and_reads_back(tmp_path: Path) -> None:
    records = [
        ({"runtime": "gvisor", "claim": "shell-is-pid-1", "verdict": "fail"}, "pid equals: 1\n#x"),
        ({"runtime": "docker", "claim": "ok", "verdict": "pass"}, ""),
        ({"runtime": "-n; rm -rf /", "claim": "yes", "verdict": "error"}, "timeout"),
    ]

    text = starting_file(records, "results.json")

    assert "# observed: pid equals: 1 #x" in text
    path = tmp_path / "known.yaml"
    path.write_text(text.replace("reason: TODO", "reason: Checked by hand."))
    entries = load_expectations([path]).entries
    assert [(e.runtime, e.claim, e.verdict) for e in entries] == [
        ("gvisor", "shell-is-pid-1", "fail"),
        ("-n; rm -rf /", "yes", "error"),  # read back as the same strings, nothing else
    ]
    assert line_with(text, "claim: shell-is-pid-1") < line_with(text, '"yes"')


def test_exit_code_counts_expected_as_pass_and_moved_as_fail() -> None:
    results = Results()
    results.add({"verdict": "fail", "expectation": {"status": "expected"}})
    assert results.exit_code() == 0
    results.add({"verdict": "pass", "expectation": {"status": "unexpected"}})
    assert results.exit_code() == 1
    results.add({"verdict": "error", "expectation": {"status": "unexpected"}})
    assert results.exit_code() == 3


def _expected_results() -> dict[str, object]:
    base = {"file": "s.yaml", "line": 3, "section": "S", "says": "It holds.", "evidence": {}}
    return {
        "runtimes": [{"name": "a"}, {"name": "b"}],
        "results": [
            {
                **base,
                "claim": "c",
                "runtime": "a",
                "verdict": "fail",
                "expectation": {
                    "status": "expected",
                    "verdict": "fail",
                    "reason": "Known <b>bold</b> & why",
                    "where": "known.yaml:2",
                    "link": "javascript:alert(1)",  # a hand-edited results file: never a link
                },
            },
            {
                **base,
                "claim": "c",
                "runtime": "b",
                "verdict": "pass",
                "expectation": {
                    "status": "unexpected",
                    "verdict": "fail",
                    "reason": "Was known",
                    "where": "known.yaml:7",
                },
            },
        ],
    }


def test_reports_show_expected_verdicts_apart_with_their_reason() -> None:
    from container_claims.report import compare, render_html, render_markdown

    comparison = compare([("r.json", _expected_results())])

    assert comparison.totals("a") == {"expected": 1}
    assert [runtime for _, runtime, _ in comparison.problems()] == ["b"]
    markdown = render_markdown(comparison)
    assert "| `c` It holds. | fail (expected) | **PASS (no longer as expected)** |" in markdown
    assert (
        "(no longer as expected)** `c` on **b**: known.yaml:7 expects fail: update the file"
        in markdown
    )
    assert "Known \\<b\\>bold\\</b\\> \\& why" in markdown
    assert "javascript:" not in markdown
    html = render_html(comparison)
    assert "fail · expected" in html and "pass · no longer as expected" in html
    assert "Known &lt;b&gt;bold&lt;/b&gt; &amp; why" in html
    assert "javascript:" not in html
    assert "No longer as expected: update the file" in html


def test_junit_carries_verdict_runtime_reason_and_the_evidence(project: Project) -> None:
    expect = write(project, "known.yaml", KNOWN)

    project.run(
        "--expect", expect, "--junitxml", "junit.xml", "-o", "junit_logging=system-out",
        "--show-capture=no",
    )  # fmt: skip

    cases = {
        case.get("name"): case
        for case in ET.parse(project.pytester.path / "junit.xml").getroot().iter("testcase")
    }
    failed = cases["shell-is-pid-2[fake]"]
    properties = {p.get("name"): p.get("value") for p in failed.iter("property")}
    assert properties == {
        "claim": "shell-is-pid-2",
        "runtime": "fake",
        "verdict": "fail",
        "reason": "shell_pid equals: expected 2, observed 1",
        "expected": "expected: The fake's shell is PID 1, as its script says.",
    }
    out = failed.findtext("system-out") or ""
    assert "\nclaim shell-is-pid-2 on fake: fail\nsays: The shell is PID 2.\n" in out
    assert "checks:" in out and "observed: 1" in out
    errored = {
        p.get("name"): p.get("value") for p in cases["broken-is-fine[fake]"].iter("property")
    }
    assert "scripted failure" in (errored["reason"] or "")
