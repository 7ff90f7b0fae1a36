"""One scenario on one runtime: start the container once, do the steps, keep what was seen.

The result is the observations by name plus a step-by-step log with timings, which becomes
the evidence of every claim of the scenario. Nothing here decides a verdict (see
:mod:`container_claims.checks`); a step that fails to observe stores the error under its
name, so only the claims that need it become errors.

How each kind of step is done is registered here by its class (:func:`performs`): the kinds
themselves (:mod:`container_claims.scenario.steps`) sit a layer below the runtimes they use.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import secrets
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from container_claims.errors import ObservationError
from container_claims.observations import (
    BUILTINS,
    CommandOutcome,
    render,
    render_data,
    template_names,
    to_json,
)
from container_claims.probes import directories
from container_claims.probes.api import ProbeContext, Services
from container_claims.runtimes.base import Names, Runtime, Shell
from container_claims.scenario.image_steps import BuildStep, CommitStep
from container_claims.scenario.model import MAIN, Claim, ContainerSpec, Directory, Scenario
from container_claims.scenario.probes import PROBES, ArgumentError
from container_claims.scenario.safety import (
    build_line_problem,
    spec_problems,
    text_problem,
    typed_line_problem,
)
from container_claims.scenario.step_kind import Step
from container_claims.scenario.steps import (
    ExecStep,
    ProbeStep,
    RunStep,
    SignalStep,
    StopStep,
    TypeStep,
    WaitStep,
)

DEFAULT_TIMEOUT = 30.0
PROMPT_TIMEOUT = 15.0  # a terminal shell prompts within this; without -t none comes


class IncompleteObservation(ObservationError):
    """A command ran but its observation is not whole (no reply in time, output cut off).

    Claims resting on it are errors; what was seen so far stays in the evidence.
    """

    def __init__(self, message: str, partial: CommandOutcome) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass
class ScenarioResult:
    observations: dict[str, Any]
    log: list[dict[str, Any]] = field(default_factory=list)
    transcript: str = ""
    fatal: str | None = None  # the scenario could not go on: what stopped it
    duration_s: float = 0.0


def raised_at(exc: BaseException) -> str:
    """Where ``exc`` was raised, and where it left the suite's own code when that is
    elsewhere (a library's frame alone does not say which call of ours reached it): what a
    report of an internal error needs."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "no traceback"
    ours = [frame for frame in frames if f"{os.sep}container_claims{os.sep}" in frame.filename]

    def place(frame: traceback.FrameSummary) -> str:
        return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"

    where = f"at {place(frames[-1])}"
    if ours and ours[-1] is not frames[-1]:
        where += f", from {place(ours[-1])}"
    return where


def needed_observations(scenario: Scenario, claim: Claim) -> set[str]:
    """Names a claim depends on, directly or through the templates of the steps saving them."""
    producers = {step.save: step for step in scenario.all_steps() if step.save}
    pending = [e.that.split(".")[0] for e in claim.expectations]
    pending += [
        ref.split(".")[0]
        for e in claim.expectations
        if isinstance(e.value, str)
        for ref in template_names(e.value)
    ]
    needed: set[str] = set()
    while pending:
        name = pending.pop()
        if name in needed or name in BUILTINS:
            continue
        needed.add(name)
        if name in producers:
            pending += [
                ref.split(".")[0]
                for text in producers[name].texts()
                for ref in template_names(text)
            ]
    return needed


def needed_capabilities(scenario: Scenario, claim: Claim) -> set[str]:
    """Capabilities a runtime needs for this claim to have a meaning on it: what the claim
    and its file require, and what the observations it rests on needed (a step on the main
    container, or its session, needs what starting it needed; a claim resting on other
    containers only does not)."""
    needed = set(scenario.requires | claim.requires)
    names = needed_observations(scenario, claim)
    if scenario.container is not None and scenario.container.save in names:
        needed |= scenario.container.spec.capabilities()
    for step in scenario.all_steps():
        if step.save in names:
            needed |= step.capabilities()
    return needed


def _cut_short(watched: Mapping[str, Any]) -> bool:
    """Whether a wait ended on its time, not on what it watched for (or on an exit, final)."""
    return not watched["reached"] and watched["state"] != "exited"


def _require_whole(outcome: CommandOutcome) -> None:
    """An outcome that did not complete, or was cut off, is no observation to check."""
    if not outcome.completed:
        raise IncompleteObservation(
            f"no complete observation: {outcome.detail or 'it did not finish'}", outcome
        )
    if outcome.truncated:
        raise IncompleteObservation(
            f"no complete observation: the output was cut off ({outcome.detail})", outcome
        )


class ScenarioRunner:
    """Runs one scenario on one runtime. Use :meth:`run`; it always cleans up after itself.

    ``deadline`` (a :func:`time.monotonic` instant) bounds the whole scenario: no step waits
    past it, and the steps left when it passes are errors. ``allow_host_access`` is the
    operator's consent (``--allow-host-access``) to specs that open the host.
    """

    def __init__(
        self,
        scenario: Scenario,
        runtime: Runtime,
        services: Services,
        *,
        deadline: float | None = None,
        allow_host_access: bool = False,
    ) -> None:
        self.scenario = scenario
        self.runtime = runtime
        self.services = services
        self.deadline = deadline
        self.allow_host_access = allow_host_access
        self.token = secrets.token_hex(4)
        self.names = Names(prefix=f"cc-{runtime.run_id}-{self.token}")
        self.observations: dict[str, Any] = {
            "image": runtime.image,
            "token": self.token,
            "runtime": runtime.name,
            "run_id": runtime.run_id,
        }
        self.result = ScenarioResult(self.observations)
        self._cleanups: list[Callable[[], object]] = []
        self._shell: Shell | None = None
        self._run_count = 0
        self._image_count = 0

    def run(self) -> ScenarioResult:
        started = time.monotonic()
        try:
            self._run_all()
        except ObservationError as exc:
            self.result.fatal = str(exc)
        except Exception as exc:  # a defect must cost this scenario, once, not the whole run
            self.result.fatal = f"internal error: {type(exc).__name__}: {exc} ({raised_at(exc)})"
        finally:
            self._cleanup()
            if self._shell is not None:
                self.result.transcript = self._shell.transcript
            self.result.duration_s = round(time.monotonic() - started, 3)
        return self.result

    # -- the sequence -----------------------------------------------------------------------
    def _run_all(self) -> None:
        scenario = self.scenario
        for directory in scenario.directories:  # removed last, once no container holds it
            self._make_directory(directory)
        # Without volumes, every container using one is not applicable, and not started.
        for volume in scenario.volumes if "volumes" in self.runtime.capabilities else ():
            real = self.names.volumes.setdefault(volume, f"{self.names.prefix}-{volume}")
            self.defer(functools.partial(self.runtime.remove_volume, real))
            self.runtime.create_volume(real)
        main = scenario.container
        if main is not None and self._can_start_main(main.spec, main.save):
            self._start_main(main.spec, main.save)
        else:
            main = None
        for step in scenario.steps:
            self._step(step)
        if main is not None:
            self._end_main(main.save, main.exit_line)
        for step in scenario.after:
            self._step(step)

    def _can_start_main(self, spec: ContainerSpec, save: str) -> bool:
        """Whether the runtime has what the main container needs. Where it has not, the main
        container is not started: the claims resting on it are not applicable here, the steps
        on it errors saying why, and the claims resting on other containers still run."""
        missing = spec.capabilities() - self.runtime.capabilities
        if not missing:
            return True
        why = f"not applicable: {self.runtime.name} lacks {', '.join(sorted(missing))}"
        self.names.not_started[MAIN] = why
        self.observations[save] = ObservationError(why)
        self._log(0, f"did not start {MAIN}", save, ObservationError(why), time.monotonic())
        return False

    def _make_directory(self, directory: Directory) -> None:
        if "directories" not in self.runtime.capabilities:
            return  # the claims resting on it are not applicable here: nothing binds or reads it
        began = time.monotonic()
        path = directories.path_for(self.runtime.run_id, self.token, directory.name)
        self.defer(functools.partial(directories.remove, path))
        try:
            directories.make(path, directory)
        except OSError as exc:
            raise ObservationError(f"directory {directory.name} was not made: {exc}") from None
        self.names.directories[directory.name] = str(path)
        self._log(0, f"made directory {directory.name}", None, None, began)

    def _start_main(self, spec: ContainerSpec, save: str) -> None:
        name = self.names.container(MAIN)
        self.defer(lambda: self.runtime.remove_container(name))
        spec = self._resolve_spec(spec)
        began = time.monotonic()
        if spec.interactive:
            self._shell = self.runtime.open_shell(spec, name, self._timeout(PROMPT_TIMEOUT))
            self.defer(self._shell.close)
            value: dict[str, Any] = {"name": name, "prompt": self._shell.prompt}
        else:
            outcome = self.runtime.start(
                dataclasses.replace(spec, detach=True), name, self._timeout(DEFAULT_TIMEOUT)
            )
            if not outcome.completed or outcome.status != 0:
                raise ObservationError(
                    f"the container did not start: {outcome.stderr or outcome.detail}"
                )
            value = {"name": name, "prompt": None}
        self.observations[save] = value
        self._log(0, f"started {name}", save, value, began)

    def _end_main(self, save: str, exit_line: str) -> None:
        began = time.monotonic()
        session = self.observations[save]
        if self._shell is not None:
            session["exit_status"] = self._shell.exit(exit_line, self._timeout(DEFAULT_TIMEOUT))
            session["transcript"] = self._shell.transcript
        else:
            self.runtime.remove_container(session["name"])
            session["exit_status"] = None
        self._log(0, f"ended {session['name']}", save, session.get("exit_status"), began)

    def _timeout(self, wanted: float) -> float:
        """``wanted``, or less when the scenario's deadline is nearer. Raises when it passed."""
        if self.deadline is None:
            return wanted
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ObservationError("the deadline passed before this step")
        return min(wanted, left)

    def _step(self, step: Step) -> None:
        began = time.monotonic()
        missing = step.capabilities() - self.runtime.capabilities
        perform = _performer(step)
        try:
            if missing:
                raise ObservationError(
                    f"not applicable: {self.runtime.name} lacks {', '.join(sorted(missing))}"
                )
            value = perform(self, step, self._timeout(wanted_seconds(step)))
            if isinstance(value, CommandOutcome):
                _require_whole(value)
        except ObservationError as exc:
            value = exc
        if step.save:
            self.observations[step.save] = value
        self._log(step.line, step.describe(self._filled), step.save, value, began)

    # -- what the steps use -----------------------------------------------------------------
    @property
    def shell(self) -> Shell:
        """The main container's interactive shell (a ``type`` step's, which validation
        allows only where there is one)."""
        if self._shell is None:
            self.names.container(MAIN)  # raises when it did not start, saying why
            raise ObservationError("no interactive container to type into")
        return self._shell

    def render(self, text: str) -> str:
        """``text`` with its ``{{ templates }}`` filled in from the observations so far."""
        return str(render(text, self.observations))

    def run_container(self, spec: ContainerSpec, timeout: float) -> CommandOutcome:
        """Another container of the scenario: run to completion, or started when it detaches;
        removed when the scenario ends."""
        self._run_count += 1
        known_as = spec.name or f"run{self._run_count}"
        name = self.names.container(known_as)
        self.defer(lambda: self.runtime.remove_container(name))
        try:
            spec = self._resolve_spec(spec)
            if not spec.detach:
                return self.runtime.run(spec, name, timeout)
            outcome = self.runtime.start(spec, name, timeout)
            _require_whole(outcome)
            return outcome
        except ObservationError as exc:
            self.names.not_started[known_as] = str(exc)
            raise

    def new_image(self, kind: str) -> str:
        """A reference of the suite's own (never from scenario text) for an image the scenario
        makes; the image goes when the scenario ends, after the containers started from it
        (they start later: their removal comes first)."""
        self._image_count += 1
        ref = f"localhost/{self.names.prefix}:{kind}{self._image_count}"
        self.defer(lambda: self.runtime.remove_made_image(ref))
        return ref

    def defer(self, cleanup: Callable[[], object]) -> None:
        """Call ``cleanup`` when the scenario ends, whatever happened (last deferred first)."""
        self._cleanups.append(cleanup)

    # -- helpers ----------------------------------------------------------------------------
    def _filled(self, text: str) -> str:
        """``text`` as the step used it; as written where an observation is missing."""
        try:
            return self.render(text)
        except ObservationError:
            return text

    def _resolve_spec(self, spec: ContainerSpec) -> ContainerSpec:
        """Templates filled in, scenario volume names replaced by the engine's names.

        Filled-in values are checked as the file's own were: an observation can no more
        choose a runtime option than the scenario can.
        """
        values = render_data(dataclasses.asdict(spec), self.observations)
        for field_name, problem in spec_problems(values, allow_host_access=self.allow_host_access):
            raise ObservationError(f"not started: {field_name}: {problem}")
        spec = ContainerSpec.from_values(values)
        real = {"volume": self.names.volumes, "directory": self.names.directories}
        return dataclasses.replace(
            spec,
            volumes=tuple(
                dataclasses.replace(mount, source=real[mount.kind][mount.source])
                for mount in spec.volumes
            ),
            volumes_from=tuple(self.names.container(name) for name in spec.volumes_from),
        )

    def _cleanup(self) -> None:
        errors = []
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                cleanup()
            except Exception as exc:  # every cleanup runs, whatever the others did
                errors.append(repr(exc))
        if errors and self.result.fatal is None:
            self.result.fatal = "cleanup failed: " + "; ".join(errors)

    def _log(self, line: int, what: str, save: str | None, value: Any, began: float) -> None:
        entry: dict[str, Any] = {
            "line": line,
            "step": what,
            "duration_s": round(time.monotonic() - began, 3),
        }
        if save:
            entry["save"] = save
        if isinstance(value, ObservationError):
            entry["error"] = str(value)
            if isinstance(value, IncompleteObservation):
                entry["partial"] = to_json(value.partial)
        else:
            entry["value"] = to_json(value)
        self.result.log.append(entry)


# -- how each kind of step is done -----------------------------------------------------------
_S = TypeVar("_S", bound=Step)
#: How a kind of step is done: given the runner, the step and the seconds it may take, what it
#: observed. An :class:`ObservationError` is its observation's error.
Perform = Callable[[ScenarioRunner, _S, float], Any]

#: How each kind of step is done, by its class (see :func:`performs`).
PERFORMERS: dict[type[Step], Perform[Any]] = {}


def performs(kind: type[_S]) -> Callable[[Perform[_S]], Perform[_S]]:
    """Register the decorated function as how steps of ``kind`` are done, as below for the
    kinds of :mod:`container_claims.scenario.steps` (a kind from elsewhere registers its own)."""

    def register(perform: Perform[_S]) -> Perform[_S]:
        if kind in PERFORMERS:
            raise ValueError(f"how {kind.__name__} steps are done is already registered")
        PERFORMERS[kind] = perform
        return perform

    return register


def _performer(step: Step) -> Perform[Any]:
    try:
        return PERFORMERS[type(step)]
    except KeyError:
        raise LookupError(
            f"no way to do a {step.kind!r} step ({type(step).__name__}) is registered "
            "(container_claims.execute.performs)"
        ) from None


def wanted_seconds(step: Step) -> float:
    """How long a step may take: its ``timeout``, else the default and what it adds."""
    return step.timeout or DEFAULT_TIMEOUT + step.extra_seconds


@performs(TypeStep)
def _type(runner: ScenarioRunner, step: TypeStep, timeout: float) -> CommandOutcome:
    line = runner.render(step.text)
    problem = typed_line_problem(line)
    if problem:
        raise ObservationError(f"not typed: {problem} (after templates were filled in)")
    return runner.shell.type(line, timeout)


@performs(ExecStep)
def _exec(runner: ScenarioRunner, step: ExecStep, timeout: float) -> CommandOutcome:
    command = tuple(runner.render(part) for part in step.command)
    for part in command:
        problem = text_problem("an exec argument", part)
        if problem:
            raise ObservationError(f"not run: {problem}")
    return runner.runtime.exec(runner.names.container(step.target), command, timeout)


@performs(RunStep)
def _run(runner: ScenarioRunner, step: RunStep, timeout: float) -> CommandOutcome:
    return runner.run_container(step.spec, timeout)


@performs(ProbeStep)
def _probe(runner: ScenarioRunner, step: ProbeStep, timeout: float) -> Any:
    info = PROBES[step.probe]
    try:
        args = info.convert(render_data(step.args, runner.observations))
    except ArgumentError as exc:
        raise ObservationError(f"probe {step.probe} {exc}") from None
    context = ProbeContext(
        runner.runtime,
        runner.names,
        runner.token,
        runner.services,
        runner.observations,
        runner.defer,
        deadline=time.monotonic() + timeout,
    )
    try:
        return info.load()(context, **args)
    except ObservationError:
        raise
    except Exception as exc:  # a probe's defect is this observation's error, once
        raise ObservationError(f"probe {step.probe} failed: {type(exc).__name__}: {exc}") from None


@performs(StopStep)
def _stop(runner: ScenarioRunner, step: StopStep, timeout: float) -> Any:
    return runner.runtime.stop(runner.names.container(step.target), step.grace, timeout)


@performs(WaitStep)
def _wait(runner: ScenarioRunner, step: WaitStep, timeout: float) -> Any:
    contains = runner.render(step.contains) if step.contains else ""
    watched = runner.runtime.wait(
        runner.names.container(step.target), step.until, timeout, contains=contains
    )
    wanted = wanted_seconds(step)
    if timeout < wanted and _cut_short(watched):
        raise ObservationError(
            f"the deadline left {timeout:.1f} s of the {wanted:g} s this wait watches"
        )
    return watched


@performs(SignalStep)
def _signal(runner: ScenarioRunner, step: SignalStep, timeout: float) -> Any:
    return runner.runtime.signal(runner.names.container(step.target), step.signal)


@performs(CommitStep)
def _commit(runner: ScenarioRunner, step: CommitStep, timeout: float) -> Any:
    name = runner.names.container(step.target)
    return runner.runtime.commit(name, runner.new_image("commit"), timeout)


@performs(BuildStep)
def _build(runner: ScenarioRunner, step: BuildStep, timeout: float) -> Any:
    lines = tuple(runner.render(line) for line in step.lines)
    for index, line in enumerate(lines):
        problem = build_line_problem(f"build line {index + 1}", line)
        if problem:
            raise ObservationError(f"not built: {problem} (after templates were filled in)")
    base = runner.runtime.image
    if step.base is not None:  # what the runner saved of an image it made: its own reference
        made = runner.observations[step.base]
        if isinstance(made, ObservationError):
            raise ObservationError(f"no image to build on: {step.base}: {made}")
        base = made["ref"]
    return runner.runtime.build(base, lines, runner.new_image("build"), timeout)
