"""Results files are input: what ``run --json`` writes is accepted, anything else refused.

``report``, ``diff``, ``expect --from`` and ``run --baseline`` read results files that may
come from anywhere (a CI artifact, a colleague). Each file is bounded in depth before anything
that recurses reads it, then checked against the results format's JSON Schema
(``scenario/results.schema.json``); what is wrong is one line naming the file, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from container_claims.cli import main
from container_claims.errors import InputError
from container_claims.report.results_file import (
    MAX_RESULTS_DEPTH,
    read_results,
    results_schema_problem,
    too_deep,
)
from container_claims.scenario.validate import results_schema
from tests.support.shell import shell_scenario

FakeRuntimes = Callable[[Path, Mapping[str, Mapping[str, Any]]], Path]  # the conftest fixture

REPO = Path(__file__).resolve().parents[1]
WRITTEN = [REPO / "baselines" / "debian12.json", REPO / "tests" / "data" / "sample-results.json"]
CORPUS_RESULTS = sorted((REPO / "tests" / "corpus" / "results").glob("*.json"))


def _record(**extra: Any) -> dict[str, Any]:
    record = {
        "claim": "a",
        "runtime": "r",
        "verdict": "fail",
        "says": "a says.",
        "evidence": {"checks": [{"that": "x", "op": "equals", "expected": 1, "observed": 2}]},
    }
    return {**record, **extra}


def _file(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return path


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(results_schema())


@pytest.mark.parametrize("path", WRITTEN, ids=[p.name for p in WRITTEN])
def test_the_committed_results_files_are_accepted(path: Path) -> None:
    data = read_results(path)

    assert data["results"]
    assert list(jsonschema.Draft202012Validator(results_schema()).iter_errors(data)) == []


SCENARIO = shell_scenario(
    ("shell-is-pid-1", "The shell is PID 1.", "shell_pid", 1),
    ("shell-is-pid-2", "The shell is PID 2.", "shell_pid", 2),
    source="An article",
)


def test_what_run_json_writes_is_accepted_with_expectations_errors_and_rounds(
    tmp_path: Path, fake_runtimes: FakeRuntimes
) -> None:
    """Every key ``--json`` writes: expectations (with a stale entry), an input error,
    transcripts, two runtimes on this machine, and --repeat's stability."""
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "shell.yaml").write_text(SCENARIO)
    (tmp_path / "scenarios" / "broken.yaml").write_text("claims: 7\n")
    (tmp_path / "known.yaml").write_text(
        "expectations:\n"
        "  - {runtime: other, claim: shell-is-pid-1, verdict: fail, reason: It says 2.}\n"
        "  - {runtime: gone, claim: '*', verdict: error, reason: Never run here.}\n"
    )
    fake_runtimes(
        tmp_path, {"fake": {"typed": {"echo $$": "1"}}, "other": {"typed": {"echo $$": "2"}}}
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}

    argv = [
        sys.executable, "-m", "container_claims", "run", "--runtimes-file", "runtimes.yaml",
        "--runtime", "all", "--expect", "known.yaml", "--repeat", "2",
        "--json", "out.json", "--", "-p", "no:cacheprovider",
    ]  # fmt: skip
    proc = subprocess.run(
        argv,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert proc.returncode == 2, proc.stdout + proc.stderr  # the broken scenario
    data = read_results(tmp_path / "out.json")
    assert {"expectations", "input_errors", "transcripts", "stability"} <= set(data)
    assert data["input_errors"] and data["expectations"]["stale"]
    assert any("expectation" in record for record in data["results"])
    assert list(jsonschema.Draft202012Validator(results_schema()).iter_errors(data)) == []
    assert main(["report", str(tmp_path / "out.json")]) == 0
    assert main(["diff", str(tmp_path / "out.json"), str(tmp_path / "out.json")]) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"results": [_record()], "input_errors": 7},
            "input_errors is a number (7), not a list",
        ),
        (
            {"results": [_record(evidence={"checks": 7})]},
            "results[0].evidence.checks is a number (7), not a list",
        ),
        (
            {"results": [_record(evidence={"steps": {"line": 1}})]},
            "results[0].evidence.steps is a mapping, not a list",
        ),
        (
            {"results": [_record(evidence={"checks": [{"that": "x", "ok": "no"}]})]},
            'results[0].evidence.checks[0].ok is a string ("no"), not true or false',
        ),
        (
            {"results": [_record(line="3")]},
            'results[0].line is a string ("3"), not a whole number or null',
        ),
        ({"results": [_record(evidence=[])]}, "results[0].evidence is a list, not a mapping"),
        (
            {"results": [_record()], "runtimes": [{"name": "r", "env": {"A": 1}}]},
            "runtimes[0].env.A is a number (1), not a string",
        ),
        (
            {"results": [_record()], "transcripts": {"s.yaml::r": None}},
            'transcripts["s.yaml::r"] is null, not a string',
        ),
        (
            {"results": [_record()], "summary": {"pass": "1"}},
            'summary.pass is a string ("1"), not a whole number',
        ),
        (
            {"results": [_record(expectation={"status": "maybe"})]},
            "results[0].expectation lacks verdict, reason, where",
        ),
        (
            {"results": [_record(says="\x1b]52;c;aGk=\x07", section=["\x9b2J"])]},
            "results[0].section is a list, not a string",
        ),
        (
            {"results": [_record(message="x" * 100_000 + "\x1b]0;t\x07")], "host": []},
            "host is a list, not a mapping",
        ),
        (
            {"results": [_record(claim="a", scenario_duration_s=-1)]},
            "results[0].scenario_duration_s is a number (-1), less than 0",
        ),
    ],
    ids=[
        "input-errors-number",
        "checks-number",
        "steps-mapping",
        "ok-text",
        "line-text",
        "evidence-list",
        "env-number",
        "transcript-null",
        "summary-text",
        "expectation-incomplete",
        "section-list",
        "host-list",
        "negative-duration",
    ],
)
def test_a_results_file_of_the_wrong_shape_is_one_line_naming_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any], message: str
) -> None:
    path = _file(tmp_path, data)

    for argv in (["report", str(path)], ["diff", str(path), str(path)], ["expect", "--from", str(path)]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err == (
            f"container-claims: {path}: {message}; not a container-claims results file "
            "(give a file written by run --json)\n"
        )


def test_a_wrong_value_is_shown_short_and_without_its_control_characters(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, {"results": [_record(line="\x1b]52;c;" + "A" * 10_000 + "\x07")]})

    with pytest.raises(InputError) as caught:
        read_results(path)

    message = str(caught.value)
    assert len(message) < 300
    assert "\\u001b]52;c;AAA" in message and "\x1b" not in message


@pytest.mark.parametrize("container", ["list", "mapping"])
def test_nesting_is_bounded_before_anything_recurses(tmp_path: Path, container: str) -> None:
    # The document is level 1, its results list 2, a record 3, evidence 4, steps 5, a step 6:
    # a value in it made of N lists or mappings nests 6 + N levels.
    def document(depth: int) -> dict[str, Any]:
        value: Any = "x"
        for _ in range(depth - 6):
            value = [value] if container == "list" else {"k": value}
        step = {"line": 1, "step": "run", "value": value}
        return {"results": [_record(evidence={"steps": [step]})]}

    assert not too_deep(document(MAX_RESULTS_DEPTH), MAX_RESULTS_DEPTH)
    assert too_deep(document(MAX_RESULTS_DEPTH + 1), MAX_RESULTS_DEPTH)
    read_results(_file(tmp_path, document(MAX_RESULTS_DEPTH)))  # the deepest accepted
    for depth in (MAX_RESULTS_DEPTH + 1, 900):
        with pytest.raises(InputError, match=r"nested more than 128 levels deep"):
            read_results(_file(tmp_path, document(depth)))


def test_depth_is_measured_without_recursion() -> None:
    value: Any = []
    for _ in range(200_000):  # far beyond the interpreter's stack
        value = {"k": [value]}

    assert too_deep(value, MAX_RESULTS_DEPTH)
    assert not too_deep(7, 1) and not too_deep([], 1) and too_deep([[]], 1)


def test_a_deep_file_that_json_itself_refuses_is_the_same_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"results": ' + "[" * 100_000 + "]" * 100_000 + "}")

    with pytest.raises(InputError, match=rf"^{path}: nested more than 128 levels deep"):
        read_results(path)


@pytest.mark.parametrize("path", [*WRITTEN, *CORPUS_RESULTS], ids=lambda p: p.name)
def test_the_compiled_check_answers_as_jsonschema(path: Path) -> None:
    """fastjsonschema answers first; where it refuses, jsonschema must find the error, and
    where it accepts, jsonschema must too (else a bad file would pass unexplained)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return  # not JSON: the schema never sees it
    if too_deep(data, MAX_RESULTS_DEPTH):
        return
    thorough = next(jsonschema.Draft202012Validator(results_schema()).iter_errors(data), None)
    assert (results_schema_problem(data) is None) == (thorough is None)
