"""scripts/rehearse without an engine: the actions it reads from a workflow, the copy of the
workflow it gives act, the local copies of actions it makes from snapshots, and its errors.

The rehearsal itself, act on the real engine, is tests/integration/test_rehearsal.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from scripts import rehearse
from scripts.rehearse import Action, RehearsalError

REPO = Path(__file__).resolve().parents[1]

WORKFLOW = """\
name: demo
on:
  push:
jobs:
  build:
    runs-on: ubuntu-latest
    container:
      image: debian:12
      options: --privileged --cgroupns=host
    steps:
      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262  # v4
      - uses: actions/cache/restore@v4
      - uses: ./local-action
      - uses: docker://busybox:latest
      - run: "true"
  report:
    runs-on: ubuntu-latest
    container: debian:12
    steps:
      - uses: actions/checkout@v4
  plain:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
  matrix:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - run: "true"
"""


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    path = tmp_path / "demo.yml"
    path.write_text(WORKFLOW)
    return path


def test_every_repository_used_is_listed_once_at_its_ref(workflow: Path) -> None:
    assert rehearse.actions_used(rehearse.load_workflow(workflow)) == [
        Action("actions/cache", "v4"),
        Action("actions/checkout", "11d5960a326750d5838078e36cf38b85af677262"),
        Action("actions/checkout", "v4"),
    ]


@pytest.mark.parametrize("name", ["claims", "ci"])
def test_the_project_workflows_name_their_actions_by_repository_and_ref(name: str) -> None:
    workflow = rehearse.load_workflow(rehearse.workflow_path(name))
    assert rehearse.actions_used(workflow), f"{name}.yml uses no action"


def test_a_uses_that_is_no_repository_at_a_ref_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(WORKFLOW.replace("actions/cache/restore@v4", "actions-cache"))
    with pytest.raises(RehearsalError, match="'actions-cache' is not OWNER/NAME@REF"):
        rehearse.actions_used(rehearse.load_workflow(path))


def test_the_copy_swaps_privileged_for_the_nearest_set_and_adds_the_options(
    workflow: Path, tmp_path: Path
) -> None:
    copy = rehearse.rehearsal_copy(rehearse.load_workflow(workflow), ["-e", "PIP_X=a b"])
    written = tmp_path / "copy.yml"
    rehearse.write_workflow(copy, written)
    again = rehearse.load_workflow(written)

    assert again["name"] == "cc-act-demo"  # act names its containers act-cc-act-demo-...
    assert list(again)[:2] == ["name", "on"]  # `on:` is not YAML 1.1's boolean
    build = again["jobs"]["build"]["container"]["options"]
    assert "--privileged" not in build
    assert build.startswith(rehearse.NEAREST_TO_PRIVILEGED)
    assert build.endswith("--cgroupns=host -e 'PIP_X=a b'")
    assert again["jobs"]["report"]["container"] == {
        "image": "debian:12",
        "options": "-e 'PIP_X=a b'",
    }
    assert "container" not in again["jobs"]["plain"]
    assert again["jobs"]["matrix"]["strategy"] == {"matrix": {"n": [1, 2]}, "max-parallel": 1}


def test_pip_files_under_the_containers_own_certificates_are_mounted_beside_them() -> None:
    assert rehearse._container_path("/etc/ssl/certs/ca.crt") == (
        "/run/rehearsal-host/etc/ssl/certs/ca.crt"
    )
    assert rehearse._container_path("/etc/sslx/pip.conf") == "/etc/sslx/pip.conf"
    assert rehearse._container_path("/opt/wheels") == "/opt/wheels"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def mirrors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of snapshots as the fetch tool leaves them: one of example/action, tagged v1."""
    monkeypatch.setattr(rehearse, "CACHE", tmp_path / "cache")
    repo = tmp_path / "mirrors" / "example+action" / "repo"
    (repo / "dist").mkdir(parents=True)
    (repo / "action.yml").write_text("runs:\n  using: node24\n  main: dist/index.js\n")
    (repo / "dist" / "index.js").write_text("console.log('hi')\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    git(repo, "tag", "v1")
    return tmp_path / "mirrors"


def test_a_local_copy_holds_the_repository_at_the_ref(mirrors: Path) -> None:
    folder = rehearse.local_copy(Action("example/action", "v1"), mirrors)
    assert (folder / "dist" / "index.js").read_text() == "console.log('hi')\n"
    assert rehearse.local_copy(Action("example/action", "v1"), mirrors) == folder  # kept


def test_a_ref_the_snapshot_lacks_is_one_line_naming_the_action(mirrors: Path) -> None:
    with pytest.raises(RehearsalError) as raised:
        rehearse.local_copy(Action("example/action", "v9"), mirrors)
    assert str(raised.value).startswith("no local copy of example/action@v9: ")
    assert "\n" not in str(raised.value)


def test_a_repository_without_snapshot_is_one_line_naming_the_action(mirrors: Path) -> None:
    with pytest.raises(RehearsalError, match=r"^no local copy of actions/absent@v1: .*fetch"):
        rehearse.local_copy(Action("actions/absent", "v1"), mirrors)


def test_help_says_what_the_rehearsal_does() -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "rehearse"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--matrix" in result.stdout and "--container-daemon-socket" not in result.stdout
    assert "Docker socket" in result.stdout


def test_an_unknown_workflow_is_exit_2_naming_the_known_ones() -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "rehearse"), "nosuch"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "known: ci, claims" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_loader_keeps_yaml_12_booleans() -> None:
    document = yaml.load("on: x\nfail-fast: false\nyes: 1\n", Loader=rehearse._WorkflowLoader)
    assert document == {"on": "x", "fail-fast": False, "yes": 1}


def test_the_copy_runs_the_artifact_actions_act_can_serve_and_leaves_the_others() -> None:
    """The project's claims.yml pins upload- and download-artifact by commit at releases act's
    artifact server refuses; the rehearsal's copy runs their stand-ins, and nothing else moves."""
    workflow = rehearse.load_workflow(rehearse.workflow_path("claims"))
    pinned = {action.repo: action.ref for action in rehearse.actions_used(workflow)}
    copy = {
        action.repo: action.ref
        for action in rehearse.actions_used(rehearse.rehearsal_copy(workflow, []))
    }

    assert set(rehearse.ACT_STAND_INS) <= set(pinned)
    for repo, ref in pinned.items():
        assert copy[repo] == rehearse.ACT_STAND_INS.get(repo, ref), repo
