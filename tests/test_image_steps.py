"""``commit`` and ``build`` steps without an engine: what loads, what is refused (each hostile
Dockerfile line with its one message), what a claim on their images needs of a runtime, and
how the runner names, checks and removes the images. The engine tests
(tests/integration/test_images.py) make real images on Docker, gVisor and Podman."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from container_claims.errors import ObservationError, ScenarioError
from container_claims.execute import ScenarioRunner, needed_capabilities
from container_claims.observations import CommandOutcome
from container_claims.runtimes.base import RuntimeConfig
from container_claims.runtimes.made_images import remove_in_order
from container_claims.scenario import load_scenario
from container_claims.scenario.image_steps import BuildStep, CommitStep
from container_claims.scenario.model import ContainerSpec
from container_claims.scenario.safety import build_line_problem
from tests.support.fake_runtime import FakeRuntime

CLAIMS = """\
claims:
  - id: built
    says: The built image runs.
    expect:
      - {that: from_built, contains: hi}
"""

GOOD = f"""\
section: Images
container: {{command: [/bin/bash], tty: true, interactive: true}}
steps:
  - type: echo content > /in-root
  - commit: {{in: main}}
    save: snapshot
  - build:
      from: snapshot
      lines:
        - RUN echo hi > /greeting && echo {{{{ token }}}}
        - ENV A=b
        - LABEL com.example.role=web
        - CMD ["cat", "/greeting"]
    save: built
  - run: {{image: "{{{{ built.ref }}}}", command: [cat, /greeting]}}
    save: from_built
{CLAIMS}"""


def load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "images.yaml"
    path.write_text(text)
    return load_scenario(path, "images.yaml")


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as refused:
        load(tmp_path, text)
    return str(refused.value)


def test_commit_and_build_load_with_what_a_claim_on_them_needs(tmp_path: Path) -> None:
    scenario = load(tmp_path, GOOD)
    commit, build = scenario.steps[1], scenario.steps[2]
    assert isinstance(commit, CommitStep) and commit.target == "main"
    assert isinstance(build, BuildStep) and build.base == "snapshot"
    assert build.lines[2] == "LABEL com.example.role=web"
    # The run rests on the build, which rests on the commit: a runtime needs all three.
    assert {"images", "build", "commit"} <= needed_capabilities(scenario, scenario.claims[0])


def test_a_build_on_the_runs_image_needs_no_commit(tmp_path: Path) -> None:
    text = GOOD.replace("      from: snapshot\n", "")
    scenario = load(tmp_path, text)
    assert "commit" not in needed_capabilities(scenario, scenario.claims[0])


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "commit: nobody",
            "images.yaml:5: commit of 'nobody': no container has that name (known: main)",
        ),
        (
            "build: {from: session, lines: [RUN true]}",
            "images.yaml:5: build from 'session': that is no image an earlier commit or build made",
        ),
        (
            "build: {from: later, lines: [RUN true]}",
            "images.yaml:5: no step saves an observation named 'later' before this point",
        ),
        (
            'build: {lines: ["RUN echo {{ nothing.ref }}"]}',
            "images.yaml:5: no step saves an observation named 'nothing' before this point",
        ),
        (
            "build: {lines: []}",
            "images.yaml:5: steps.1.build.lines: [] should be non-empty",
        ),
    ],
)
def test_steps_that_name_nothing_they_could_use_are_refused(
    tmp_path: Path, step: str, message: str
) -> None:
    text = f"""\
section: Images
container: {{command: [/bin/bash], tty: true, interactive: true}}
steps:
  - type: "true"
  - {step}
    save: made
  - run: {{image: "{{{{ made.ref }}}}", command: [cat, /greeting]}}
    save: from_built
{CLAIMS}"""
    assert refusal(tmp_path, text) == message


def test_the_main_container_is_not_committed_after_it_ended(tmp_path: Path) -> None:
    text = GOOD.replace("steps:\n  - type: echo content > /in-root\n", "steps: []\nafter:\n")
    assert refusal(tmp_path, text) == (
        "images.yaml:5: commit of the main container: it is gone in 'after'"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("FROM debian", "'FROM' is not one of RUN, ENV, WORKDIR, USER, LABEL, CMD, ENTRYPOINT"),
        ("COPY / /host", "'COPY' is not one of"),
        ("ADD http://example.com/x /x", "'ADD' is not one of"),
        ("ARG X=1", "'ARG' is not one of"),
        ("ONBUILD RUN true", "'ONBUILD' is not one of"),
        ("run echo lower-case", "'run' is not one of"),
        ("# syntax=docker/dockerfile:1", "'#' is not one of"),
        ("  RUN true", "'' is not one of"),
        ("RUN --mount=type=bind,source=/,target=/host cat /host/etc/shadow", "takes no flags"),
        ("RUN  --network=host true", "takes no flags"),
        ("RUN --security=insecure true", "takes no flags"),
        ("RUN echo a \\", "a line continuation"),
        ("RUN echo a \\  ", "a line continuation"),
        ("RUN cat <<EOF", "a here-document"),
        ("RUN echo a\nFROM debian", "holds the character 0x0a"),
        ("RUN echo a\rb", "holds the character 0x0d"),
        ("RUN echo \x00", "holds the character 0x00"),
        ("RUN\techo", "holds the character 0x09"),
        ("RUN echo \u2028", "holds the character 0x2028"),
        ("RUN", "RUN needs its arguments"),
        ("RUN " + "x" * 5000, "is 5,004 characters long; at most 4,096"),
        ("LABEL org.container-claims.run=other", "are container-claims' own"),
        ("LABEL ORG.Container-Claims.run=other", "are container-claims' own"),
        ('LABEL org."container-claims".run=x', "without quotes, '$' or '\\'"),
        ("LABEL org.container\\-claims.run=x", "without quotes, '$' or '\\'"),
        ("LABEL $K=x", "without quotes, '$' or '\\'"),
        ('LABEL a="two words"', "without quotes, '$' or '\\'"),
    ],
)
def test_hostile_dockerfile_lines_are_refused(line: str, message: str) -> None:
    problem = build_line_problem("build line 1", line)
    assert problem is not None and message in problem


@pytest.mark.parametrize(
    "line",
    [
        "RUN echo hi > /greeting",
        'RUN ["sh", "-c", "echo -n x"]',
        "RUN echo a-b --c",
        "ENV A=b C=d",
        "WORKDIR /srv/app",
        "USER nobody",
        "LABEL com.example.role=web version=1",
        'CMD ["cat", "/greeting"]',
        "ENTRYPOINT /bin/sh",
    ],
)
def test_plain_instructions_pass(line: str) -> None:
    assert build_line_problem("build line 1", line) is None


class ImageMaker(FakeRuntime):
    """Commits and builds as the test says, noting what it was asked."""

    def commit(self, name: str, ref: str, timeout: float) -> Mapping[str, Any]:
        self.log.append(f"commit {name} {ref}")
        if self.script.get("commit_fails"):
            raise ObservationError("no such container")
        return {"ref": ref, "id": "sha256:c0"}

    def build(
        self, base: str, lines: tuple[str, ...], ref: str, timeout: float
    ) -> Mapping[str, Any]:
        self.log.append(f"build {ref} on {base}: {' | '.join(lines)}")
        return {"ref": ref, "id": "sha256:b0", "output": "hi"}

    def run(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        self.log.append(f"run {spec.image}")
        return CommandOutcome(output="hi", status=0)


def run_on_fake(tmp_path: Path, text: str, **script: Any) -> tuple[Any, ImageMaker]:
    runtime = ImageMaker(RuntimeConfig(name="fake", kind="fake"), image="img", run_id="r1")
    runtime.script.update(script)
    if "capabilities" in script:
        runtime.capabilities = frozenset(script["capabilities"])  # type: ignore[misc]
    runner = ScenarioRunner(load(tmp_path, text), runtime, services=None)  # type: ignore[arg-type]
    return runner.run(), runtime


def test_images_get_the_suites_names_and_go_after_the_containers_of_them(
    tmp_path: Path,
) -> None:
    result, runtime = run_on_fake(tmp_path, GOOD)
    prefix = f"cc-r1-{result.observations['token']}"
    commit_ref, build_ref = f"localhost/{prefix}:commit1", f"localhost/{prefix}:build2"
    assert result.observations["snapshot"] == {"ref": commit_ref, "id": "sha256:c0"}
    assert result.observations["built"]["ref"] == build_ref
    token = result.observations["token"]
    assert f"build {build_ref} on {commit_ref}: RUN echo hi > /greeting && echo {token}" in (
        " | ".join(runtime.log)
    )
    assert f"run {build_ref}" in runtime.log
    # Last made, first removed: the run's container, the built image, the commit, then main.
    assert runtime.removed == [f"{prefix}-run1", build_ref, commit_ref, f"{prefix}-main"]
    assert result.fatal is None


def test_a_failed_commit_is_an_error_and_so_is_a_build_on_it(tmp_path: Path) -> None:
    result, runtime = run_on_fake(tmp_path, GOOD, commit_fails=True)
    assert str(result.observations["snapshot"]) == "no such container"
    assert str(result.observations["built"]) == "no image to build on: snapshot: no such container"
    assert not [entry for entry in runtime.log if entry.startswith("build")]
    assert f"localhost/cc-r1-{result.observations['token']}:commit1" in runtime.removed


def test_a_template_that_makes_a_line_hostile_is_an_error_of_the_step(tmp_path: Path) -> None:
    text = GOOD.replace("RUN echo hi > /greeting && echo {{ token }}", "RUN echo {{ line }}")
    text = text.replace("  - commit:", "  - type: echo x\n    save: line\n  - commit:")
    result, runtime = run_on_fake(tmp_path, text, typed={"echo x": "a\nFROM x"})
    error = result.observations["built"]
    assert isinstance(error, ObservationError)
    assert str(error) == (
        "not built: build line 1 holds the character 0x0a; write one instruction a line, "
        "printable (after templates were filled in)"
    )
    assert not [entry for entry in runtime.log if entry.startswith("build")]


def test_runtimes_without_the_capabilities_make_the_claims_not_applicable(
    tmp_path: Path,
) -> None:
    result, runtime = run_on_fake(tmp_path, GOOD, capabilities=["exec", "images"])
    assert str(result.observations["snapshot"]) == "not applicable: fake lacks commit"
    assert str(result.observations["built"]) == "not applicable: fake lacks build"
    assert [entry for entry in runtime.log if entry.startswith(("commit", "build"))] == []


class Refusing:
    """Stands in for a runtime whose engine refuses to remove an image others are built on."""

    def __init__(self, parents: dict[str, str]) -> None:
        self.parents = parents  # image -> the image it is built on
        self.gone: list[str] = []

    def client(self) -> Any:
        return self

    @property
    def images(self) -> Any:
        return self

    def remove(self, image: str, force: bool) -> None:
        if any(
            parent == image and child not in self.gone for child, parent in self.parents.items()
        ):
            raise ObservationError(f"conflict: unable to delete {image}: it has child images")
        self.gone.append(image)

    def _gone_is_done(self, what: str, call: Any, *args: Any, **kwargs: Any) -> None:
        call(*args, **kwargs)


class Image:
    def __init__(self, name: str) -> None:
        self.id = self.short_id = name
        self.tags = [f"localhost/{name}:x"]


def test_images_are_removed_children_first_whatever_order_they_come_in() -> None:
    runtime = Refusing({"child": "parent", "grandchild": "child"})
    images = [Image("parent"), Image("child"), Image("grandchild"), Image("other")]
    removed = remove_in_order(runtime, images)  # type: ignore[arg-type]
    assert runtime.gone == ["grandchild", "other", "child", "parent"]
    assert removed == [f"image localhost/{n}:x" for n in runtime.gone]


def test_an_image_never_removed_is_the_error_of_the_sweep() -> None:
    runtime = Refusing({"child": "parent", "elsewhere": "parent"})  # elsewhere is not ours
    with pytest.raises(ObservationError, match="unable to delete parent"):
        remove_in_order(runtime, [Image("parent"), Image("child")])  # type: ignore[arg-type]
    assert runtime.gone == ["child"]
