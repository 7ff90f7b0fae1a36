"""claims.yml rehearsed with act on this machine's engine, as GitHub's runner runs it: the
docker job of the matrix and the report job after it (scripts/rehearse).

It needs the local snapshots of the actions the workflow uses (scripts/rehearse --help) and
skips, saying so, where they are not.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from scripts import rehearse

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = rehearse.workflow_path("claims")


def missing_snapshots() -> list[str]:
    missing = []
    copy = rehearse.rehearsal_copy(rehearse.load_workflow(WORKFLOW), [])
    for action in rehearse.actions_used(copy):
        try:
            rehearse.resolve(action, rehearse.snapshot(action, rehearse.DEFAULT_MIRRORS))
        except rehearse.RehearsalError:
            missing.append(str(action))
    return missing


def act_leftovers() -> list[str]:
    names = subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    return [name for name in names if name.startswith("act-cc-act-claims")]


def test_the_docker_job_and_the_report_job_are_green() -> None:
    missing = missing_snapshots()
    if missing:
        pytest.skip(
            f"no local snapshot of {', '.join(missing)} in {rehearse.DEFAULT_MIRRORS} (the"
            " fetch tool brings them; REHEARSE_MIRRORS names another folder)"
        )
    result = subprocess.run(
        [str(REPO / "scripts" / "rehearse"), "claims", "--matrix", "runtime:docker"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    output = result.stdout + result.stderr
    ended = dict(
        re.findall(r"^\[[^/\]]+/([^\]]+?)\s*\]\s+\S+\s+Job (succeeded|failed)", output, re.M)
    )
    failed_steps = re.findall(
        r"^\[[^/\]]+/([^\]]+?)\s*\]\s+\S+\s+Failure - Main (.+?) \[", output, re.M
    )
    tail = output[-6000:]

    # What the rehearsal itself must do: both jobs run to their end in the job image, the
    # actions from their local copies under Node 24, and nothing of act's is left.
    assert set(ended) == {"claims on docker", "report and diff against the baseline"}, tail
    assert "Success - Main upload the verdicts" in output, tail
    assert "Success - Main download every runtime's verdicts" in output, tail
    assert act_leftovers() == []
    assert result.returncode == 0, f"act exited {result.returncode}: {failed_steps}\n{tail}"
    assert set(ended.values()) == {"succeeded"}, tail
