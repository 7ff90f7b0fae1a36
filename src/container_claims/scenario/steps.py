"""The kinds of step a scenario can take: one class each, found by its key in :data:`STEPS`.

A step in a file is a mapping with exactly one kind's key (``type: echo $$``, ``wait: {...}``)
beside ``save``, ``timeout`` and, for a probe, ``with``. The kind's class holds its fields and
says how it is checked when the file loads (:meth:`Step.build`), what it saves
(:attr:`Step.yields`), what a runtime needs for it (:meth:`Step.capabilities`) and how the
evidence describes it (:meth:`Step.describe`). How it is done on a runtime is registered by
class in :mod:`container_claims.execute` (``performs``), a layer up, where the runtimes are.
What every kind has, and the scenario it sees while the file loads, is in :mod:`.step_kind`.

Adding a kind touches its class (here, or anywhere that calls :func:`register_step`), its key
in ``schema.json`` (a kind registered from elsewhere brings :attr:`Step.value_schema`
instead), its row in the README's table of steps, and its execution. Messages that name the
kinds are made from this table.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from container_claims.observations import strings_in, template_names
from container_claims.scenario.fields import COMMAND, SIGNAL, STOP, WAIT, Shape, any_value
from container_claims.scenario.loader import MarkedDict
from container_claims.scenario.model import MAIN, ContainerSpec
from container_claims.scenario.probes import PROBES, ArgumentError
from container_claims.scenario.safety import text_problem, typed_line_problem
from container_claims.scenario.step_kind import ScenarioSoFar, Section, Step

#: Every kind of step, by its key in a file, in the order messages list them.
STEPS: dict[str, type[Step]] = {}

#: Keys of a step that are no kind: every kind may have them.
SHARED_KEYS = ("save", "timeout", "with")

_Kind = TypeVar("_Kind", bound=type[Step])


def register_step(kind: _Kind) -> _Kind:
    """Make ``kind`` a step of scenarios, under ``kind.kind``; usable as a class decorator."""
    name = kind.__dict__.get("kind")
    if not isinstance(name, str) or not name.isidentifier() or name in SHARED_KEYS:
        raise ValueError(f"{kind.__name__} needs its own key in a file as kind, not {name!r}")
    if "__dataclass_fields__" not in kind.__dict__ or inspect.isabstract(kind):
        raise TypeError(
            f"{kind.__name__} must be a dataclass (frozen, kw_only) with build and describe"
        )
    if STEPS.get(name, kind) is not kind:
        raise ValueError(f"a step kind {name!r} is already registered ({STEPS[name].__name__})")
    STEPS[name] = kind
    return kind


def kind_of(raw: MarkedDict) -> type[Step] | None:
    """The kind of the step written as ``raw``: None unless it names exactly one."""
    kinds = [STEPS[key] for key in raw if key in STEPS]
    return kinds[0] if len(kinds) == 1 else None


def did_you_mean(word: str, names: Callable[[], list[str]]) -> Callable[[], str]:
    """A hint naming the one of ``names`` nearest to ``word``, worked out when shown."""

    def hint() -> str:
        near = difflib.get_close_matches(word, names(), n=1)
        return f" (did you mean {near[0]!r}?)" if near else ""

    return hint


def some_of(names: Mapping[str, Any], limit: int = 10) -> str:
    """At most ``limit`` of ``names``, in the order they came, and how many more there are:
    in time that does not grow with them, as a message for each of thousands of steps."""
    if not names:
        return "none"
    shown = ", ".join(itertools.islice(names, limit))
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def has_template(text: str) -> bool:
    return "{{" in text and next(template_names(text), None) is not None


@register_step
@dataclass(frozen=True, kw_only=True)
class TypeStep(Step):
    """``type: LINE``: a line typed into the main container's interactive shell."""

    kind = "type"
    yields = COMMAND

    text: str
    #: What starting the main container needed: where it could not start, nothing is typed.
    needs: frozenset[str] = frozenset()

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        if section == "after":
            raise scenario.error(
                line, "'type' steps belong in 'steps': the container has ended in 'after'"
            )
        main = scenario.main
        if main is not None and not main.spec.interactive:
            raise scenario.error(line, "'type' needs the container to be interactive: true")
        problem = typed_line_problem(raw["type"])
        if problem:
            raise scenario.error(line, problem)
        scenario.check_refs(raw["type"], line)
        return cls(**cls.common(raw, line), text=raw["type"], needs=scenario.needs_of(MAIN))

    def describe(self, fill: Callable[[str], str] = str) -> str:
        return f"typed {fill(self.text)!r}"

    def capabilities(self) -> frozenset[str]:
        return self.needs

    def texts(self) -> Iterable[str]:
        return (self.text,)


@dataclass(frozen=True, kw_only=True)
class OnContainer(Step):
    """A step that acts on a running container of the scenario."""

    target: str = MAIN
    #: What starting that container needed: where it could not start, the step means nothing.
    needs: frozenset[str] = frozenset()

    def capabilities(self) -> frozenset[str]:
        return self.needs


@register_step
@dataclass(frozen=True, kw_only=True)
class ExecStep(OnContainer):
    """``exec: [CMD...]`` or ``exec: {in: NAME, command: [...]}``: a command run beside a
    running container's main process."""

    kind = "exec"
    yields = COMMAND

    command: tuple[str, ...]

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        value = raw["exec"]
        target, command = (
            (MAIN, value) if isinstance(value, list) else (value.get("in", MAIN), value["command"])
        )
        if target not in scenario.containers:
            raise scenario.error(line, f"exec in {target!r}: no running container has that name")
        if section == "after" and target == MAIN:
            raise scenario.error(line, "exec in the main container is not possible after it ended")
        for index, part in enumerate(command):
            problem = text_problem(f"exec argument {index + 1}", part)
            if problem:
                raise scenario.error(line, problem)
        scenario.check_refs(command, line)
        return cls(
            **cls.common(raw, line),
            command=tuple(command),
            target=target,
            needs=scenario.needs_of(target),
        )

    def describe(self, fill: Callable[[str], str] = str) -> str:
        return f"exec in {self.target}: {' '.join(map(fill, self.command))}"

    def capabilities(self) -> frozenset[str]:
        return self.needs | {"exec"}

    def texts(self) -> Iterable[str]:
        return self.command


@register_step
@dataclass(frozen=True, kw_only=True)
class RunStep(Step):
    """``run: {...}``: another container, run to completion or left running (``detach``)."""

    kind = "run"
    yields = COMMAND

    spec: ContainerSpec
    #: What starting the containers it takes volumes from needed (``volumes_from``).
    needs: frozenset[str] = frozenset()

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        spec = scenario.spec(raw["run"], line)
        if spec.name is not None:
            if spec.name in scenario.containers:
                raise scenario.error(line, f"a container named {spec.name!r} already exists")
            scenario.started(spec.name, detached=spec.detach, spec=spec)
        needs = frozenset().union(*map(scenario.needs_of, spec.volumes_from))
        return cls(**cls.common(raw, line), spec=spec, needs=needs)

    @classmethod
    def assume(cls, raw: MarkedDict, scenario: ScenarioSoFar) -> None:
        spec = raw.get("run")
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            scenario.started(spec["name"], detached=bool(spec.get("detach")), spec=None)

    def describe(self, fill: Callable[[str], str] = str) -> str:
        return f"run {' '.join(map(fill, self.spec.command or ('(default)',)))}"

    def capabilities(self) -> frozenset[str]:
        return self.spec.capabilities() | self.needs

    def texts(self) -> Iterable[str]:
        return strings_in(dataclasses.asdict(self.spec))


@register_step
@dataclass(frozen=True, kw_only=True)
class ProbeStep(Step):
    """``probe: NAME`` with ``with: {...}``: a named reading of the host or the engine."""

    kind = "probe"
    takes_arguments = True

    probe: str
    args: dict[str, Any] = field(default_factory=dict)
    #: What starting the containers it reads needed (an argument naming one, by default
    #: the main container): where one could not start, the reading means nothing.
    needs: frozenset[str] = frozenset()

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        name = raw["probe"]
        if name not in PROBES:
            hint = did_you_mean(name, lambda: list(PROBES))
            raise scenario.error(line, f"unknown probe {name!r}", hint)
        args = dict(raw.get("with", {}))
        _check_probe_args(name, args, line, scenario)
        scenario.check_refs(args, line)
        needs = frozenset[str]().union(
            *(
                scenario.needs_of(str(args.get(key, MAIN)))
                for key, spec in PROBES[name].args.items()
                if spec.kind == "container"
            )
        )
        return cls(**cls.common(raw, line), probe=name, args=args, needs=needs)

    @classmethod
    def yields_of(cls, raw: MarkedDict) -> Shape:
        name = raw.get("probe")
        return PROBES[name].yields if isinstance(name, str) and name in PROBES else any_value()

    def describe(self, fill: Callable[[str], str] = str) -> str:
        args = " ".join(
            f"{key}={fill(value) if isinstance(value, str) else value}"
            for key, value in self.args.items()
        )
        return f"probe {self.probe} {args}".rstrip()

    def capabilities(self) -> frozenset[str]:
        return frozenset(PROBES[self.probe].requires) | self.needs

    def texts(self) -> Iterable[str]:
        return strings_in(self.args)


def _check_probe_args(probe: str, args: dict[str, Any], line: int, scenario: ScenarioSoFar) -> None:
    """Arguments written out are checked now; those with templates when the step runs."""
    info = PROBES[probe]
    try:
        info.check_names(args)
        for key, spec in info.args.items():
            if key not in args:
                if spec.required:
                    raise ArgumentError(f"needs the argument {key!r}")
                continue
            templated = any(map(has_template, strings_in(args[key])))
            if spec.kind == "container" and templated:
                raise ArgumentError(f"{key!r} names a container: write its name out")
            if not templated:
                spec.convert(key, args[key])
            if spec.kind == "container" and args[key] not in scenario.containers:
                known = some_of(scenario.containers)
                raise ArgumentError(
                    f"{key!r}: no container named {args[key]!r} runs before this step "
                    f"(known: {known})"
                )
            if spec.kind == "directory" and templated:
                raise ArgumentError(f"{key!r} names a directory: write its name out")
            if spec.kind == "directory" and args[key] not in scenario.directories:
                known = some_of(scenario.directories)
                raise ArgumentError(
                    f"{key!r}: no directory named {args[key]!r} is declared in 'directories' "
                    f"(declared: {known})"
                )
    except ArgumentError as exc:
        raise scenario.error(line, f"probe {probe} {exc}") from None


def _detached_target(raw: MarkedDict, kind: str, line: int, scenario: ScenarioSoFar) -> str:
    """The container a ``stop``, ``wait`` or ``signal`` acts on: one a ``run`` left running."""
    value = raw[kind]
    target: str = value if isinstance(value, str) else value["in"]
    if target not in scenario.detached:
        known = some_of(scenario.detached)
        raise scenario.error(
            line,
            f"{kind} takes a container left running by an earlier step (run: with detach: "
            f"true and a name); {target!r} is not one (running: {known})",
        )
    return target


#: Seconds ``stop`` waits between the stop signal and SIGKILL, as ``docker stop``.
DEFAULT_GRACE = 10


@register_step
@dataclass(frozen=True, kw_only=True)
class StopStep(OnContainer):
    """``stop: NAME`` or ``stop: {in: NAME, grace: S}``: a detached container stopped as
    ``docker stop`` does, its stop signal then SIGKILL after the grace period."""

    kind = "stop"
    yields = STOP

    grace: int = DEFAULT_GRACE

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        target = _detached_target(raw, "stop", line, scenario)
        value = raw["stop"]
        grace = DEFAULT_GRACE if isinstance(value, str) else value.get("grace", DEFAULT_GRACE)
        return cls(
            **cls.common(raw, line), target=target, needs=scenario.needs_of(target), grace=grace
        )

    def describe(self, fill: Callable[[str], str] = str) -> str:
        return f"stop {self.target} (SIGKILL after {self.grace} s)"

    @property
    def extra_seconds(self) -> float:
        return self.grace


@register_step
@dataclass(frozen=True, kw_only=True)
class WaitStep(OnContainer):
    """``wait: {in: NAME, until: running | exited | output, contains: TEXT}``: a detached
    container watched, within the step's timeout, until it gets there."""

    kind = "wait"
    yields = WAIT

    until: str
    contains: str = ""  # with until: output, the text

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        target = _detached_target(raw, "wait", line, scenario)
        until, contains = raw["wait"]["until"], raw["wait"].get("contains", "")
        if (until == "output") != bool(contains):
            raise scenario.error(
                line, "wait until: output takes 'contains' (the text), and only it"
            )
        needs = scenario.needs_of(target)
        if contains:
            scenario.check_refs(contains, line)
            needs |= {"logs"}
        return cls(
            **cls.common(raw, line), target=target, needs=needs, until=until, contains=contains
        )

    def describe(self, fill: Callable[[str], str] = str) -> str:
        if self.until == "output":
            return f"wait until {self.target} prints {fill(self.contains)!r}"
        return f"wait until {self.target} is {self.until}"

    def texts(self) -> Iterable[str]:
        return (self.contains,)


@register_step
@dataclass(frozen=True, kw_only=True)
class SignalStep(OnContainer):
    """``signal: {in: NAME, signal: SIGNAME}``: a signal sent to a detached container's main
    process."""

    kind = "signal"
    yields = SIGNAL

    signal: str

    @classmethod
    def build(cls, raw: MarkedDict, line: int, section: Section, scenario: ScenarioSoFar) -> Self:
        target = _detached_target(raw, "signal", line, scenario)
        return cls(
            **cls.common(raw, line),
            target=target,
            needs=scenario.needs_of(target),
            signal=raw["signal"]["signal"],
        )

    def describe(self, fill: Callable[[str], str] = str) -> str:
        return f"signal {self.signal} to {self.target}"
