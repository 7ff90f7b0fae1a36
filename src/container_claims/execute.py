"""One scenario on one runtime: start the container once, do the steps, keep what was seen.

The result is the observations by name plus a step-by-step log with timings, which becomes
the evidence of every claim of the scenario. Nothing here decides a verdict (see
:mod:`container_claims.checks`); a step that fails to observe stores the error under its
name, so only the claims that need it become errors.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from container_claims.errors import ObservationError
from container_claims.observations import (
    BUILTINS,
    CommandOutcome,
    render,
    render_data,
    strings_in,
    template_names,
    to_json,
)
from container_claims.probes.api import ProbeContext, Services
from container_claims.runtimes.base import Names, Runtime, Shell
from container_claims.scenario.model import MAIN, Claim, ContainerSpec, Scenario, Step
from container_claims.scenario.probes import PROBES, ArgumentError
from container_claims.scenario.safety import spec_problems, text_problem, typed_line_problem

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
                for text in _step_strings(producers[name])
                for ref in template_names(text)
            ]
    return needed


def needed_capabilities(scenario: Scenario, claim: Claim) -> set[str]:
    """Capabilities a runtime needs for this claim to have a meaning on it."""
    needed = set(scenario.requires | claim.requires)
    if scenario.container is not None:  # every claim of the scenario rests on its container
        needed |= scenario.container.spec.capabilities()
    names = needed_observations(scenario, claim)
    for step in scenario.all_steps():
        if step.save in names:
            needed |= set(_step_capabilities(step))
    return needed


def _step_capabilities(step: Step) -> Iterable[str]:
    yield from step.needs  # what the container it acts on needed to start
    if step.kind == "probe":
        yield from PROBES[step.probe].requires
    elif step.kind == "exec":
        yield "exec"
    elif step.kind == "run" and step.spec is not None:
        yield from step.spec.capabilities()


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


def _step_strings(step: Step) -> Iterable[str]:
    yield step.text
    yield from step.command
    yield from strings_in(step.args)
    if step.spec:
        yield from strings_in(dataclasses.asdict(step.spec))


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

    def run(self) -> ScenarioResult:
        started = time.monotonic()
        try:
            self._run_all()
        except ObservationError as exc:
            self.result.fatal = str(exc)
        except Exception as exc:  # a defect must cost this scenario, once, not the whole run
            self.result.fatal = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            self._cleanup()
            if self._shell is not None:
                self.result.transcript = self._shell.transcript
            self.result.duration_s = round(time.monotonic() - started, 3)
        return self.result

    # -- the sequence -----------------------------------------------------------------------
    def _run_all(self) -> None:
        scenario = self.scenario
        for volume in scenario.volumes:
            real = self.names.volumes.setdefault(volume, f"{self.names.prefix}-{volume}")
            self._defer(functools.partial(self.runtime.remove_volume, real))
            self.runtime.create_volume(real)
        main = scenario.container
        if main is not None:
            self._start_main(main.spec, main.save)
        for step in scenario.steps:
            self._step(step)
        if main is not None:
            self._end_main(main.save, main.exit_line)
        for step in scenario.after:
            self._step(step)

    def _start_main(self, spec: ContainerSpec, save: str) -> None:
        name = self.names.container(MAIN)
        self._defer(lambda: self.runtime.remove_container(name))
        spec = self._resolve_spec(spec)
        began = time.monotonic()
        if spec.interactive:
            self._shell = self.runtime.open_shell(spec, name, self._timeout(PROMPT_TIMEOUT))
            self._defer(self._shell.close)
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
        missing = set(_step_capabilities(step)) - self.runtime.capabilities
        try:
            if missing:
                raise ObservationError(
                    f"not applicable: {self.runtime.name} lacks {', '.join(sorted(missing))}"
                )
            wanted = step.timeout or DEFAULT_TIMEOUT + (step.grace if step.kind == "stop" else 0)
            timeout = self._timeout(wanted)
            value = self._do(step, timeout)
            if isinstance(value, CommandOutcome):
                _require_whole(value)
            if step.kind == "wait" and timeout < wanted and _cut_short(value):
                raise ObservationError(
                    f"the deadline left {timeout:.1f} s of the {wanted:g} s this wait watches"
                )
        except ObservationError as exc:
            value = exc
        if step.save:
            self.observations[step.save] = value
        self._log(step.line, step.describe(self._filled), step.save, value, began)

    def _do(self, step: Step, timeout: float) -> Any:
        if step.kind == "type":
            assert self._shell is not None  # validation guarantees an interactive container
            line = self._render(step.text)
            problem = typed_line_problem(line)
            if problem:
                raise ObservationError(f"not typed: {problem} (after templates were filled in)")
            return self._shell.type(line, timeout)
        if step.kind == "exec":
            command = tuple(self._render(part) for part in step.command)
            for part in command:
                problem = text_problem("an exec argument", part)
                if problem:
                    raise ObservationError(f"not run: {problem}")
            return self.runtime.exec(self.names.container(step.target), command, timeout)
        if step.kind == "run":
            assert step.spec is not None
            return self._run_container(step.spec, timeout)
        if step.kind == "stop":
            return self.runtime.stop(self.names.container(step.target), step.grace, timeout)
        if step.kind == "wait":
            contains = self._render(step.contains) if step.contains else ""
            return self.runtime.wait(
                self.names.container(step.target), step.until, timeout, contains=contains
            )
        if step.kind == "signal":
            return self.runtime.signal(self.names.container(step.target), step.signal)
        return self._probe(step, timeout)

    def _probe(self, step: Step, timeout: float) -> Any:
        info = PROBES[step.probe]
        try:
            args = info.convert(render_data(step.args, self.observations))
        except ArgumentError as exc:
            raise ObservationError(f"probe {step.probe} {exc}") from None
        context = ProbeContext(
            self.runtime,
            self.names,
            self.token,
            self.services,
            self.observations,
            self._defer,
            deadline=time.monotonic() + timeout,
        )
        try:
            return info.load()(context, **args)
        except ObservationError:
            raise
        except Exception as exc:  # a probe's defect is this observation's error, once
            raise ObservationError(
                f"probe {step.probe} failed: {type(exc).__name__}: {exc}"
            ) from None

    def _run_container(self, spec: ContainerSpec, timeout: float) -> CommandOutcome:
        self._run_count += 1
        name = self.names.container(spec.name or f"run{self._run_count}")
        self._defer(lambda: self.runtime.remove_container(name))
        spec = self._resolve_spec(spec)
        if spec.detach:
            return self.runtime.start(spec, name, timeout)
        return self.runtime.run(spec, name, timeout)

    # -- helpers ----------------------------------------------------------------------------
    def _render(self, text: str) -> str:
        return str(render(text, self.observations))

    def _filled(self, text: str) -> str:
        """``text`` as the step used it; as written where an observation is missing."""
        try:
            return self._render(text)
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
        values["volumes"] = [(self.names.volumes[v], p) for v, p in values["volumes"]]
        return ContainerSpec.from_values(values)

    def _defer(self, cleanup: Callable[[], object]) -> None:
        self._cleanups.append(cleanup)

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
