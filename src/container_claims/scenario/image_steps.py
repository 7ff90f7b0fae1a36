"""The kinds of step that make images of the scenario's run: ``commit`` and ``build``.

Registered in :data:`.steps.STEPS` after the kinds there, when the package loads (its
``__init__``); how they are done is in :mod:`container_claims.execute`, the images' making and
removal in :mod:`container_claims.runtimes.made_images`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Self

from container_claims.scenario.fields import BUILT, COMMIT
from container_claims.scenario.loader import MarkedDict, MarkedList
from container_claims.scenario.model import MAIN
from container_claims.scenario.safety import build_line_problem
from container_claims.scenario.step_kind import ScenarioSoFar, Section, Step
from container_claims.scenario.steps import OnContainer, register_step, some_of


@register_step
@dataclass(frozen=True, kw_only=True)
class CommitStep(OnContainer):
    """``commit: NAME`` or ``commit: {in: NAME}``: an image of this run made of a container
    of the scenario, the main one or a named one (``docker commit``)."""

    kind = "commit"
    yields = COMMIT

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        value = raw["commit"]
        target: str = value if isinstance(value, str) else value["in"]
        if target not in scenario.containers:
            known = some_of(scenario.containers)
            raise scenario.error(
                line, f"commit of {target!r}: no container has that name (known: {known})"
            )
        if section == "after" and target == MAIN:
            raise scenario.error(line, "commit of the main container: it is gone in 'after'")
        return cls(**cls.common(raw, line), target=target, needs=scenario.needs_of(target))

    def describe(self, fill: Callable[[str], str] = str) -> str:
        return f"commit {self.target}"

    def capabilities(self) -> frozenset[str]:
        return self.needs | {"commit"}


@register_step
@dataclass(frozen=True, kw_only=True)
class BuildStep(Step):
    """``build: {lines: [...], from: NAME}``: an image of this run built from Dockerfile lines,
    with no network and no context, on the run's image or on one an earlier step made."""

    kind = "build"
    yields = BUILT

    lines: tuple[str, ...]
    base: str | None = None  # the observation of the commit or build it builds on

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        value = raw["build"]
        lines = value["lines"]
        for index, text in enumerate(lines):
            at = lines.item_lines[index] if isinstance(lines, MarkedList) else line
            problem = build_line_problem(f"build line {index + 1}", text)
            if problem:
                raise scenario.error(at, problem)
            scenario.check_refs(text, at)
        base = value.get("from")
        if base is not None and scenario.check_ref(base, line) not in (COMMIT, BUILT):
            raise scenario.error(
                line, f"build from {base!r}: that is no image an earlier commit or build made"
            )
        return cls(**cls.common(raw, line), lines=tuple(lines), base=base)

    def describe(self, fill: Callable[[str], str] = str) -> str:
        on = f" on {self.base}" if self.base else ""
        return f"build{on}: {'; '.join(map(fill, self.lines))}"

    def capabilities(self) -> frozenset[str]:
        return frozenset({"build"})

    def texts(self) -> Iterable[str]:
        # The image built on is a dependency, as a template naming it would be.
        return (*self.lines, *([f"{{{{ {self.base} }}}}"] if self.base else []))
