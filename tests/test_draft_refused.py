"""A claim marked ``draft: true`` (drafted from an article, not reviewed) is never taken for a
checked claim: loading a scenario to run it refuses each draft claim, one line each, and the
other files still run; once the line is removed, the claim runs and can fail."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from container_claims.errors import ScenarioError, ScenarioErrors
from container_claims.scenario import load_scenario
from tests.conftest import FakeRuntimes
from tests.support.project import run_command

DRAFTED = """\
scenario: drafted
section: Shell
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - type: echo $$
    save: shell_pid
claims:
  - id: drafted-pid
    draft: true
    source: "article.md:12"
    says: The shell is PID 1.
    expect:
      - that: shell_pid
        equals: 1
  - id: drafted-not-pid-2
    draft: true
    says: The shell is not PID 2.
    expect:
      - that: shell_pid
        not_equals: 2
"""

REVIEWED = """\
scenario: reviewed
section: Shell
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - type: echo $$
    save: shell_pid
claims:
  - id: reviewed-pid
    draft: false
    source: "article.md:12"
    says: The shell is PID 1.
    expect:
      - that: shell_pid
        equals: 1
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _line_of(text: str, fragment: str, after: str) -> int:
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if after in line)
    return next(n for n, line in enumerate(lines[start:], start + 1) if fragment in line)


def test_each_draft_claim_is_refused_on_its_own_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "drafted.yaml", DRAFTED)

    with pytest.raises(ScenarioErrors) as info:
        load_scenario(path, "drafted.yaml")

    lines = str(info.value).splitlines()
    first = _line_of(DRAFTED, "draft: true", "drafted-pid")
    second = _line_of(DRAFTED, "draft: true", "drafted-not-pid-2")
    assert lines == [
        f'drafted.yaml:{first}: claim drafted-pid is a draft: review it against the article and remove "draft: true"',
        f'drafted.yaml:{second}: claim drafted-not-pid-2 is a draft: review it against the article and remove "draft: true"',
    ]  # fmt: skip


def test_a_reviewed_claim_loads_and_source_is_accepted(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, "reviewed.yaml", REVIEWED))

    assert [claim.id for claim in scenario.claims] == ["reviewed-pid"]


def test_the_drafter_alone_loads_drafts(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, "drafted.yaml", DRAFTED), allow_drafts=True)

    assert [claim.id for claim in scenario.claims] == ["drafted-pid", "drafted-not-pid-2"]


def test_draft_must_be_true_or_false(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", DRAFTED.replace("draft: true", "draft: maybe", 1))

    with pytest.raises(ScenarioError) as info:
        load_scenario(path, "bad.yaml")

    assert "draft" in str(info.value)


def test_run_refuses_drafts_and_runs_the_other_files(
    tmp_path: Path, fake_runtimes: FakeRuntimes
) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    _write(folder, "drafted.yaml", DRAFTED)
    _write(folder, "reviewed.yaml", REVIEWED)
    fake_runtimes(tmp_path, {"fake": {"typed": {"echo $$": "1"}}})

    result = run_command(
        "run", "--runtimes-file", "runtimes.yaml", "--", "-p", "no:cacheprovider", cwd=tmp_path
    )

    assert result.returncode == 2, result.stdout + result.stderr
    first = _line_of(DRAFTED, "draft: true", "drafted-pid")
    assert (
        f"scenarios/drafted.yaml:{first}: claim drafted-pid is a draft: review it against the "
        'article and remove "draft: true"'
    ) in result.stdout
    assert "scenarios/reviewed.yaml::reviewed-pid[fake] PASSED" in result.stdout


def test_a_reviewed_draft_runs_and_can_fail(tmp_path: Path, fake_runtimes: FakeRuntimes) -> None:
    """Removing "draft: true" makes it a claim like any other: it fails where it does not hold
    (the negative control of the refusal: the claim itself is checked, not waved through)."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    _write(folder, "drafted.yaml", DRAFTED.replace("    draft: true\n", ""))
    fake_runtimes(tmp_path, {"fake": {"typed": {"echo $$": "2"}}})

    result = run_command(
        "run", "--runtimes-file", "runtimes.yaml", "--", "-p", "no:cacheprovider", cwd=tmp_path
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "drafted.yaml::drafted-pid[fake] FAILED" in result.stdout
    assert "drafted.yaml::drafted-not-pid-2[fake] FAILED" in result.stdout
