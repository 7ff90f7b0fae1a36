"""The table of step kinds: each kind is in the schema, the README and the execution, and a
kind registered from outside the package (tests/support/read_file_step.py) is loaded, checked
and run like the package's own."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pytest

from container_claims.errors import ScenarioError
from container_claims.execute import PERFORMERS, needed_capabilities
from container_claims.scenario import load_scenario
from container_claims.scenario.loader import MarkedDict
from container_claims.scenario.schemas import _shipped_schema, schema
from container_claims.scenario.step_kind import ScenarioSoFar, Section, Step
from container_claims.scenario.steps import STEPS, ExecStep, register_step
from tests.conftest import FakeRuntimes
from tests.support.project import Project, line_with

ROOT = Path(__file__).resolve().parents[1]


def test_every_step_kind_is_in_the_schema_the_readme_and_the_execution() -> None:
    step = _shipped_schema()["$defs"]["step"]
    assert [branch["required"] for branch in step["oneOf"]] == [[kind] for kind in STEPS]
    assert set(STEPS) <= set(step["properties"])
    assert step["description"].endswith(": " + ", ".join(STEPS) + ".")
    readme = (ROOT / "README.md").read_text()
    rows = readme.split("### Steps", 1)[1].split("###", 1)[0].splitlines()
    undocumented = [k for k in STEPS if not any(r.startswith(f"| `{k}: ") for r in rows)]
    assert undocumented == []
    assert [kind for kind, cls in STEPS.items() if cls not in PERFORMERS] == []


@pytest.fixture
def own_registry() -> Iterator[None]:
    """Kinds registered by a test are gone after it."""
    kept = dict(STEPS)
    yield
    STEPS.clear()
    STEPS.update(kept)


@dataclass(frozen=True, kw_only=True)
class PauseStep(Step):
    kind = "pause"
    value_schema = {"type": "number", "minimum": 0}

    seconds: float

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        return cls(**cls.common(raw, line), seconds=raw["pause"])

    def describe(self, fill: Callable[[str], str] = str) -> str:
        return f"pause {self.seconds} s"


@pytest.mark.usefixtures("own_registry")
def test_a_registered_kind_joins_the_schema_and_its_messages(tmp_path: Path) -> None:
    register_step(PauseStep)

    step = schema()["$defs"]["step"]
    assert step["properties"]["pause"] == {"type": "number", "minimum": 0}
    assert step["oneOf"][-1] == {"required": ["pause"]}
    assert "pause" not in _shipped_schema()["$defs"]["step"]["properties"]  # the file's own
    path = tmp_path / "two-kinds.yaml"
    claims = "claims: [{id: a, says: A, section: S, expect: [{that: image, equals: x}]}]"
    path.write_text(f"steps:\n  - {{pause: 1, probe: host.hostname}}\n{claims}\n")
    with pytest.raises(ScenarioError) as refused:
        load_scenario(path, "two-kinds.yaml")
    assert str(refused.value) == (
        "two-kinds.yaml:2: steps.0: a step has exactly one of "
        "type, exec, run, probe, stop, wait, signal, commit, build, pause"
    )


@pytest.mark.usefixtures("own_registry")
def test_a_kind_is_registered_once_under_a_key_of_its_own() -> None:
    register_step(PauseStep)
    register_step(PauseStep)  # the same class again: nothing changes

    @dataclass(frozen=True, kw_only=True)
    class Exec(ExecStep):
        kind = "exec"

    class Undecorated(PauseStep):
        kind = "undecorated"

    @dataclass(frozen=True, kw_only=True)
    class Save(PauseStep):
        kind = "save"

    with pytest.raises(ValueError, match="a step kind 'exec' is already registered"):
        register_step(Exec)
    with pytest.raises(ValueError, match="needs its own key"):
        register_step(Save)
    with pytest.raises(TypeError, match="must be a dataclass"):
        register_step(Undecorated)
    assert list(STEPS)[-1] == "pause"


@pytest.mark.usefixtures("own_registry")
def test_a_kind_the_schema_does_not_know_must_bring_its_own() -> None:
    @register_step
    @dataclass(frozen=True, kw_only=True)
    class Unknown(Step):
        kind = "unknown"

        @classmethod
        def build(
            cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar
        ) -> Self:
            return cls(**cls.common(raw, line))

        def describe(self, fill: Callable[[str], str] = str) -> str:
            return "unknown"

    with pytest.raises(TypeError, match="'unknown' .* is not in schema.json"):
        schema()


GOOD = """\
section: Files
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - read_file: /etc/hostname
    save: hostname
claims:
  - id: hostname-is-read
    says: The container's hostname file holds its name.
    expect:
      - that: hostname
        equals: fakehost
"""

NO_CONTAINER = """\
section: Files
steps:
  - read_file: /etc/hostname
    save: hostname
claims:
  - {id: no-container, says: Nothing to read from., expect: [{that: hostname, equals: x}]}
"""

RELATIVE = """\
section: Files
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - read_file: etc/hostname
claims:
  - {id: relative-path, says: A path from nowhere., expect: [{that: image, equals: x}]}
"""

TWO_KINDS = """\
section: Files
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - read_file: /etc/hostname
    type: echo
claims:
  - {id: two-kinds, says: Two kinds in one step., expect: [{that: image, equals: x}]}
"""


@pytest.fixture
def project(
    pytester: pytest.Pytester, fake_runtimes: FakeRuntimes, monkeypatch: pytest.MonkeyPatch
) -> Project:
    """A project whose conftest.py adds ``read_file`` steps, as a plugin of its own would."""
    pytester.makeconftest('pytest_plugins = ["tests.support.read_file_step"]')
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)  # for the subprocess to import tests.support
    return Project(pytester, fake_runtimes, {"exec": {"cat -- /etc/hostname": "fakehost"}})


def test_a_step_kind_from_outside_the_package_runs_on_the_fake_runtime(project: Project) -> None:
    project.scenario("good.yaml", GOOD)
    project.scenario("no-container.yaml", NO_CONTAINER)
    project.scenario("relative.yaml", RELATIVE)
    project.scenario("two-kinds.yaml", TWO_KINDS)

    result = project.run()

    assert result.ret == 2  # the bad files are bad input; the good one still ran
    assert project.verdicts() == {"hostname-is-read": "pass"}
    (record,) = project.json()["results"]
    (step,) = record["evidence"]["steps"]
    assert step["step"] == "read /etc/hostname in main"
    assert step["value"]["output"] == "fakehost"
    errors = {e["file"]: e for e in project.json()["input_errors"]}
    assert errors["scenarios/no-container.yaml"]["line"] == line_with(NO_CONTAINER, "read_file")
    assert errors["scenarios/no-container.yaml"]["message"].endswith(
        "read_file reads a file of the running main 'container'"
    )
    assert errors["scenarios/relative.yaml"]["message"] == (
        f"scenarios/relative.yaml:{line_with(RELATIVE, 'read_file')}: "
        "steps.0.read_file: 'etc/hostname' is not an absolute path"
    )
    assert re.search(
        r"two-kinds.yaml:4: steps.0: a step has exactly one of type, exec, .*, read_file$",
        errors["scenarios/two-kinds.yaml"]["message"],
    )


PROBED_CONTAINER = """\
section: Labels
steps:
  - run: {name: web, detach: true, labels: {role: web}, command: [sleep, "30"]}
  - probe: engine.container
    with: {name: web}
    save: web
  - probe: engine.info
    save: engine
claims:
  - id: label-kept
    says: The engine keeps a container's labels.
    expect:
      - that: web.labels.role
        equals: web
  - id: engine-answers
    says: The engine reports its version.
    expect:
      - that: engine.version
        not_equals: ""
"""


def test_a_probe_of_a_container_needs_what_starting_it_needed(tmp_path: Path) -> None:
    """Where the container could not start (no labels), its probe means nothing: the claim
    resting on it is not applicable; a probe of the engine alone needs only the engine."""
    path = tmp_path / "labels.yaml"
    path.write_text(PROBED_CONTAINER)
    scenario = load_scenario(path)
    needed = {claim.id: needed_capabilities(scenario, claim) for claim in scenario.claims}
    assert needed == {"label-kept": {"engine", "labels"}, "engine-answers": {"engine"}}
