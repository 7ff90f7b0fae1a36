"""A schema-valid scenario document built into the model, checking the rules the schema
cannot: one operator per expectation, regexes that compile, references to observations that
some step saves, unique ids and names. Every error is kept, each at its own line."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from container_claims.errors import ScenarioError
from container_claims.observations import BUILTINS, strings_in, template_names
from container_claims.patterns import PatternError, compile_pattern
from container_claims.scenario.fields import (
    BUILTIN_SHAPES,
    NUMERIC_KINDS,
    SESSION,
    FieldError,
    Shape,
    any_value,
    resolve_shape,
)
from container_claims.scenario.file_errors import Deferred, raise_all
from container_claims.scenario.loader import MarkedDict, MarkedList
from container_claims.scenario.model import (
    MAIN,
    NUMERIC_OPERATORS,
    OPERATORS,
    PATTERN_OPERATORS,
    ROW_OPERATORS,
    Claim,
    ContainerSpec,
    Directory,
    DirectoryFile,
    Expectation,
    MainContainer,
    Scenario,
)
from container_claims.scenario.safety import directory_file_problem, spec_problems
from container_claims.scenario.step_kind import Section, Step
from container_claims.scenario.steps import STEPS, did_you_mean, has_template, kind_of, some_of


class ScenarioBuilder:
    """Turns a schema-valid document into the model, checking the rules the schema cannot.

    Each step is built by its kind (:mod:`.steps`), which sees this builder as the
    :class:`~container_claims.scenario.step_kind.ScenarioSoFar`.
    """

    def __init__(
        self,
        document: MarkedDict,
        path: Path,
        where: str,
        *,
        allow_host_access: bool,
        allow_drafts: bool = False,
    ) -> None:
        self.doc = document
        self.path = path
        self.where = where
        self.allow_host_access = allow_host_access
        self.allow_drafts = allow_drafts
        self.saved: dict[str, int] = {}  # observation name -> line that saves it
        self.shapes: dict[str, Shape] = dict(BUILTIN_SHAPES)  # name -> what it holds
        self.containers: dict[str, None] = {}  # in the order they start
        self.detached: dict[str, None] = {}  # containers left running: stop and wait take these
        self.specs: dict[str, ContainerSpec] = {}  # container name -> how it was started
        self.errors: list[ScenarioError] = []  # every error found so far, by part of the file
        self.more = 0  # errors the schema found and counted but did not describe
        self.skip: frozenset[tuple[Any, ...]] = frozenset()  # list items the schema refused
        self.volumes: tuple[str, ...] = tuple(document.get("volumes", ()))
        self.directories: dict[str, None] = dict.fromkeys(document.get("directories", {}))
        self.main: MainContainer | None = None

    def error(
        self, line: int | None, message: str, hint: Callable[[], str] | None = None
    ) -> ScenarioError:
        if hint is None:
            return ScenarioError(self.where, line, message)
        return Deferred(self.where, line, message, lambda: message + hint())

    def started(self, name: str, *, detached: bool, spec: ContainerSpec | None) -> None:
        self.containers[name] = None
        if spec is not None:
            self.specs[name] = spec
        if detached:
            self.detached[name] = None

    def build(self) -> Scenario:
        doc = self.doc
        main = None
        if "container" in doc:
            block = doc["container"]
            self.containers[MAIN] = None
            spec = ContainerSpec(tty=True, interactive=True)  # stands in for a spec in error
            with self.collecting():  # a bad spec is reported; its steps are still checked
                spec = self.spec(block, block.line)
            self.specs[MAIN] = spec
            main = MainContainer(
                spec=spec, save=block.get("save", "session"), exit_line=block.get("exit", "exit")
            )
            with self.collecting():
                self.save(main.save, block.line, SESSION)
        self.main = main
        with self.collecting():
            directories = self.declared_directories()
        steps = self.steps(doc.get("steps", ()), "steps")
        if main is None and any(
            isinstance(raw, MarkedDict) and "type" in raw for raw in doc.get("steps", ())
        ):
            self.errors.append(self.error(doc.key_lines["steps"], "type steps need a 'container'"))
        after = self.steps(doc.get("after", ()), "after")
        claims = self.claims(doc["claims"])
        raise_all(self.errors, self.more)
        return Scenario(
            path=self.path,
            name=doc.get("scenario", self.path.stem),
            claims=claims,
            container=main,
            steps=steps,
            after=after,
            volumes=self.volumes,
            requires=frozenset(doc.get("requires", ())),
            source=doc.get("source", ""),
            directories=directories,
        )

    def collecting(self) -> _Collecting:
        """Keep an error of this part of the file and go on with the next part, so that one
        run reports every error in a file (each at its own line)."""
        return _Collecting(self.errors)

    def save(self, name: str | None, line: int, shape: Shape) -> None:
        if name is None:
            return
        if name in BUILTINS:
            raise self.error(line, f"{name!r} is a built-in observation; save under another name")
        if name in self.saved:
            raise self.error(
                line, f"observation {name!r} is already saved at line {self.saved[name]}"
            )
        self.saved[name] = line
        self.shapes[name] = shape

    def check_refs(self, data: Any, line: int) -> None:
        """Every ``{{ name.field }}`` must name a field of something saved before this point."""
        for text in strings_in(data):
            for ref in template_names(text):
                self.check_ref(ref, line)

    def check_ref(self, path: str, line: int, *, anywhere: bool = False) -> Shape:
        """The shape ``path`` names; an error at ``line`` when no step saves it so."""
        name, _, rest = path.partition(".")
        if name not in BUILTINS and name not in self.saved:
            when = "" if anywhere else " before this point"
            message = f"no step saves an observation named {name!r}{when}"
            count = len(self.saved)  # only added to: what was saved by now is its beginning

            def known() -> list[str]:
                return [*itertools.islice(self.saved, count), *BUILTINS]

            raise self.error(line, message, did_you_mean(name, known))
        try:
            return resolve_shape(self.shapes[name], rest)
        except FieldError as exc:
            saved = f" (saved at line {self.saved[name]})" if name in self.saved else ""
            raise self.error(line, f"{path}: observation {name!r}{saved} {exc}") from None

    def declared_directories(self) -> tuple[Directory, ...]:
        """The top-level ``directories``: names apart from the volumes', files checked."""
        declared = self.doc.get("directories", {})
        result = []
        for name, body in declared.items():
            line = declared.key_lines[name]
            if name in self.volumes:
                raise self.error(line, f"directory {name!r} has the name of a volume")
            files = body.get("files", {})
            made = []
            for file_name, file in files.items():
                problem = directory_file_problem(file_name, file["text"], file.get("mode"))
                if problem:
                    raise self.error(files.key_lines[file_name], f"directory {name}: {problem}")
                made.append(DirectoryFile(file_name, file["text"], int(file.get("mode", "644"), 8)))
            result.append(Directory(name, tuple(made), int(body.get("mode", "755"), 8)))
        return tuple(result)

    def spec(self, block: MarkedDict, line: int) -> ContainerSpec:
        def line_of_key(key: str) -> int:
            return block.key_lines.get(key, line)

        for key, value in block.items():
            self.check_refs(value, line_of_key(key))
        for volume in block.get("volumes", {}):
            if volume not in self.volumes and volume not in self.directories:
                raise self.error(
                    line_of_key("volumes"),
                    f"volume {volume!r} is not declared in the top-level 'volumes' "
                    "or 'directories'",
                )
        own = MAIN if block is self.doc.get("container") else None
        for other in block.get("volumes_from", ()):
            if other not in self.containers or other == own:
                before = {c: None for c in self.containers if c != own}
                raise self.error(
                    line_of_key("volumes_from"),
                    f"volumes_from: no container named {other!r} starts before this one "
                    f"(started before it: {some_of(before)})",
                )
        templated = frozenset(
            key for key, value in block.items() if any(has_template(t) for t in strings_in(value))
        )
        for key, problem in spec_problems(
            block, allow_host_access=self.allow_host_access, skip=templated
        ):
            raise self.error(line_of_key(key), problem)
        spec = ContainerSpec.from_values(block)
        if any(m.source in self.directories for m in spec.volumes):
            spec = dataclasses.replace(
                spec,
                volumes=tuple(
                    dataclasses.replace(m, kind="directory") if m.source in self.directories else m
                    for m in spec.volumes
                ),
            )
        if spec.ports and spec.network == "none":
            raise self.error(
                line_of_key("ports"), "ports are published from a network: add network: bridge"
            )
        if spec.stdin is not None and not spec.interactive:
            raise self.error(
                line_of_key("stdin"), "'stdin' needs 'interactive: true' to reach the container"
            )
        return spec

    def steps(self, items: MarkedList | tuple[()], section: Section) -> tuple[Step, ...]:
        result = []
        for index, raw in enumerate(items):
            line = items.item_lines[index] if isinstance(items, MarkedList) else 0
            if (section, index) in self.skip:
                if isinstance(raw, MarkedDict):
                    self.assume(raw, line)
                continue
            before = len(self.errors)
            with self.collecting():
                result.append(self.step(raw, line, section))
            if len(self.errors) > before:
                self.assume(raw, line)
        return tuple(result)

    def assume(self, raw: MarkedDict, line: int) -> None:
        """After a step's error: what it names still exists for later steps and claims, so
        that one mistake is not reported again where it is used."""
        name = raw.get("save")
        if isinstance(name, str) and name not in self.saved:
            self.saved[name] = line
            kind = kind_of(raw)
            self.shapes[name] = kind.yields_of(raw) if kind is not None else any_value()
        for key in raw:
            if key in STEPS:
                STEPS[key].assume(raw, self)

    def step(self, raw: MarkedDict, line: int, section: Section) -> Step:
        kind = kind_of(raw)
        assert kind is not None  # the schema lets a step through with exactly one kind
        step = kind.build(raw, line, section, self)
        if "with" in raw and not kind.takes_arguments:
            raise self.error(line, "'with' gives arguments to a probe; this step is not a probe")
        self.save(step.save, line, kind.yields_of(raw))
        return step

    def needs_of(self, container: str) -> frozenset[str]:
        """A step on a container needs what starting it needed: where it could not start, the
        claims resting on the step are not applicable either."""
        spec = self.specs.get(container)
        return spec.capabilities() if spec is not None else frozenset()

    def claims(self, items: MarkedList) -> tuple[Claim, ...]:
        seen: dict[str, int] = {}
        claims = []
        default_section = self.doc.get("section", "")
        for index, raw in enumerate(items):
            line = items.item_lines[index]
            if ("claims", index) in self.skip:
                continue
            claim_id = raw["id"]
            before = len(self.errors)
            with self.collecting():
                if claim_id in seen:
                    raise self.error(
                        raw.key_lines["id"],
                        f"duplicate claim id {claim_id!r} (first at line {seen[claim_id]})",
                    )
                seen[claim_id] = line
            with self.collecting():
                if raw.get("draft") is True and not self.allow_drafts:
                    # A draft repeats what an article printed: never taken for a checked claim.
                    raise self.error(
                        raw.key_lines["draft"],
                        f"claim {claim_id} is a draft: review it against the article and "
                        'remove "draft: true"',
                    )
            with self.collecting():
                if not raw.get("section", default_section):
                    raise self.error(
                        line, f"claim {claim_id!r} has no 'section' (and the file sets none)"
                    )
            section = raw.get("section", default_section)
            expect = raw["expect"]
            expectations = []
            for i, item in enumerate(expect):
                with self.collecting():
                    expectations.append(self.expectation(item, expect.item_lines[i]))
            if len(self.errors) > before:
                continue
            claims.append(
                Claim(
                    claim_id,
                    raw["says"],
                    section,
                    tuple(expectations),
                    line,
                    frozenset(raw.get("requires", ())),
                )
            )
        return tuple(claims)

    def expectation(self, raw: MarkedDict, line: int) -> Expectation:
        ops = [key for key in raw if key in OPERATORS]
        if len(ops) != 1:
            found = ", ".join(ops) if ops else "none"
            raise self.error(
                line, f"an expectation has exactly one of {', '.join(OPERATORS)} (found: {found})"
            )
        op = ops[0]
        if "header" in raw and op not in ROW_OPERATORS:
            raise self.error(line, f"'header' only applies to {', '.join(ROW_OPERATORS)}")
        observed = self.check_ref(raw["that"], raw.key_lines.get("that", line), anywhere=True)
        value = raw[op]
        if isinstance(value, str):
            for ref in template_names(value):
                self.check_ref(ref, raw.key_lines[op], anywhere=True)
        if op in PATTERN_OPERATORS:
            try:
                compile_pattern(re.sub(r"\{\{[^}]*\}\}", "x", value))
            except PatternError as exc:
                raise self.error(
                    raw.key_lines[op], f"invalid regular expression {value!r}: {exc}"
                ) from None
        if op in NUMERIC_OPERATORS and observed.kind not in NUMERIC_KINDS:
            raise self.error(
                raw.key_lines[op],
                f"{op} compares numbers: {raw['that']} is {observed.describe()}, never a number",
            )
        if op in NUMERIC_OPERATORS and not _is_number_or_template(value):
            raise self.error(
                raw.key_lines[op],
                f"{op} compares numbers: {value!r} is no number "
                "(write one, or a template that gives one)",
            )
        return Expectation(raw["that"], op, value, line, header=bool(raw.get("header", False)))


class _Collecting:
    """The context of :meth:`ScenarioBuilder.collecting` (a class: a generator's context
    manager costs several times more, for each step, claim and expectation of every file)."""

    __slots__ = ("errors",)

    def __init__(self, errors: list[ScenarioError]) -> None:
        self.errors = errors

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> bool:
        if isinstance(error, ScenarioError):
            self.errors.append(error)
            return True
        return False


def _is_number_or_template(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        if has_template(value):
            return True
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False
