"""Images made in a scenario, on real engines: a commit and a build on Docker, gVisor and
Podman, a container run from each, the claim "a commit leaves out the volume's content" with
its negative control, and nothing of the images left behind (also when a sweep finds an image
and one built on it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import RUN_LABEL, Run, docker, run_cleanup, run_suite

RUNTIMES = ["docker", "gvisor", "podman"]

#: MARKER: where the detached container writes the scenario's token before it is committed.
SCENARIO = """\
section: Images
volumes: [data]
steps:
  - run:
      name: writer
      detach: true
      volumes: {data: /data}
      command: [sh, -c, "echo {{ token }} > MARKER && sleep 60"]
  - exec: {in: writer, command: [sh, -c, "until test -s MARKER; do sleep 0.1; done; cat MARKER"]}
    save: written
  - commit: {in: writer}
    save: snapshot
  - run: {image: "{{ snapshot.ref }}", command: [sh, -c, "cat MARKER 2>/dev/null; true"]}
    save: in_commit
  - build:
      from: snapshot
      lines:
        - RUN echo built-{{ token }} > /greeting && cat /proc/net/dev > /net-at-build
        - ENV GREETING=hello
    save: built
  - run: {image: "{{ built.ref }}", command: [sh, -c, "cat /greeting; echo $GREETING; cat /net-at-build"]}
    save: from_built
  - probe: engine.image
    with: {ref: "{{ built.ref }}"}
    save: built_image
claims:
  - id: commit-leaves-out-volume-content
    says: A commit keeps what a container wrote to its own filesystem, not what it wrote to a volume.
    expect:
      - {that: written, equals: "{{ token }}"}
      - {that: in_commit, not_contains: "{{ token }}"}
  - id: build-runs-its-lines-offline
    says: A build's RUN lines make the image's files, with no network but loopback.
    expect:
      - {that: from_built, contains: "built-{{ token }}"}
      - {that: from_built, contains: hello}
      - {that: from_built, matches: "lo:"}
      - {that: from_built, rows: 5}
      - {that: built_image.id, equals: "{{ built.id }}"}
"""


def labelled_by(run_id: str) -> list[str]:
    """What carries the run's label on Docker and Podman: containers, volumes and every image
    (intermediate ones too)."""
    found = []
    for binary in ("docker", "podman"):
        for kind, command in (("container", ["ps", "-a"]), ("volume", ["volume", "ls"])):
            listed = subprocess.run(
                [binary, *command, "-q", "--filter", f"label={RUN_LABEL}={run_id}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            found += [f"{binary} {kind} {i}" for i in listed]
        images = subprocess.run(
            [binary, "images", "-a", "-q", "--filter", f"label={RUN_LABEL}={run_id}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        found += [f"{binary} image {i}" for i in images]
    return found


def run_images(tmp_path: Path, marker: str) -> Run:
    folder = tmp_path / marker.strip("/").replace("/", "-")
    folder.mkdir()
    (folder / "images.yaml").write_text(SCENARIO.replace("MARKER", marker))
    args = [arg for name in RUNTIMES for arg in ("--runtime", name)]
    return run_suite(str(folder), *args, tmp=tmp_path)


@pytest.mark.usefixtures("leaves_nothing")
def test_a_commit_leaves_out_the_volume_and_a_build_runs_offline(tmp_path: Path) -> None:
    run = run_images(tmp_path, "/data/marker")
    for runtime in RUNTIMES:
        for claim in ("commit-leaves-out-volume-content", "build-runs-its-lines-offline"):
            record = run.record(claim, runtime)
            assert record["verdict"] == "pass", (runtime, claim, record.get("message"), run.output)
    assert labelled_by(run.data["run_id"]) == []


@pytest.mark.usefixtures("leaves_nothing")
def test_negative_control_what_the_container_wrote_to_its_own_filesystem_is_in_the_commit(
    tmp_path: Path,
) -> None:
    run = run_images(tmp_path, "/srv/marker")
    for runtime in RUNTIMES:
        record = run.record("commit-leaves-out-volume-content", runtime)
        assert record["verdict"] == "fail", (runtime, record.get("message"), run.output)
        (failed,) = [check for check in record["evidence"]["checks"] if not check["ok"]]
        assert failed["that"] == "in_commit"
    assert labelled_by(run.data["run_id"]) == []


@pytest.mark.usefixtures("leaves_nothing")
def test_a_failing_build_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "failing"
    folder.mkdir()
    failing = SCENARIO.replace("ENV GREETING=hello", "RUN exit 3")
    (folder / "images.yaml").write_text(failing.replace("MARKER", "/data/marker"))
    run = run_suite(str(folder), "--runtime", "docker", "--runtime", "podman", tmp=tmp_path)
    for runtime in ("docker", "podman"):
        record = run.record("build-runs-its-lines-offline", runtime)
        assert record["verdict"] == "error", (runtime, record)
        assert "the build failed (exit " in record["message"], record["message"]
        assert "cleanup failed" not in record["message"]
    assert labelled_by(run.data["run_id"]) == []


def test_cleanup_removes_a_labelled_image_and_one_built_on_it_and_nothing_else(
    engine: None, tmp_path: Path
) -> None:
    """The sweep meets images in any order; an engine refuses to remove one that another is
    built on, so the child goes first. An image without the label stays."""
    suffix = os.urandom(4).hex()
    base = "container-claims/test:bookworm"
    parent, child, theirs = (f"localhost/cc-test-{w}-{suffix}:x" for w in ("p", "c", "t"))

    def build(tag: str, on: str, label: str) -> None:
        dockerfile = f"FROM {on}\n{label}\n"
        subprocess.run(
            ["docker", "build", "--network=none", "-q", "-t", tag, "-"],
            input=dockerfile,
            text=True,
            capture_output=True,
            check=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )

    build(theirs, base, "LABEL com.example.owner=someone")
    build(parent, base, f"LABEL {RUN_LABEL}=crashed-{suffix}")
    build(child, parent, "ENV CHILD=1")  # carries the label it inherits
    try:
        result = run_cleanup(timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        left = docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
        assert parent not in left and child not in left, result.stdout
        assert theirs in left
    finally:
        subprocess.run(["docker", "rmi", "-f", child, parent, theirs], capture_output=True)
