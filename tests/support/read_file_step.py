"""A step kind from outside the package, as a plugin would add one: ``read_file: PATH`` reads
a file of the main container (``cat`` beside its shell) and saves what it holds.

Importing this module registers the kind and how it is done; a project's ``conftest.py``
names it in ``pytest_plugins`` (tests/test_steps.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Self

from container_claims.execute import ScenarioRunner, performs
from container_claims.observations import CommandOutcome
from container_claims.scenario.fields import COMMAND
from container_claims.scenario.loader import MarkedDict
from container_claims.scenario.model import MAIN
from container_claims.scenario.step_kind import ScenarioSoFar, Section, Step
from container_claims.scenario.steps import register_step


@register_step
@dataclass(frozen=True, kw_only=True)
class ReadFileStep(Step):
    kind = "read_file"
    yields = COMMAND
    value_schema = {"type": "string", "pattern": "^/", "description": "A file's absolute path."}

    path: str

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        if scenario.main is None or section == "after":
            raise scenario.error(line, "read_file reads a file of the running main 'container'")
        return cls(**cls.common(raw, line), path=raw["read_file"])

    def describe(self, fill: Callable[[str], str] = str) -> str:
        return f"read {fill(self.path)} in {MAIN}"

    def capabilities(self) -> frozenset[str]:
        return frozenset({"exec"})

    def texts(self) -> Iterable[str]:
        return (self.path,)


@performs(ReadFileStep)
def read_file(runner: ScenarioRunner, step: ReadFileStep, timeout: float) -> CommandOutcome:
    return runner.runtime.exec(
        runner.names.container(MAIN), ("cat", "--", runner.render(step.path)), timeout
    )
