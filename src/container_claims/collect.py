"""Scenario files become items: one per claim and runtime, and one per invalid file.

Which YAML files are scenarios (:func:`is_scenario_file`), the paths as the user wrote them
(:func:`as_given`), and the items: :class:`ClaimItem` (one claim on one runtime, its verdict
and its evidence) and :class:`InvalidScenario` (a file that could not be loaded, so that it
counts and the others still run).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from container_claims.checks import CheckResult, check_claim, errors_of, verdict_of
from container_claims.errors import ClaimsError, InputError, ObservationError, ScenarioErrors
from container_claims.execute import ScenarioResult, needed_capabilities, needed_observations
from container_claims.report.reasons import step_stderr
from container_claims.report.text import printable
from container_claims.results import ERROR, EXPECTED, FAIL, NOT_APPLICABLE, PASS
from container_claims.runtimes.base import RuntimeConfig
from container_claims.scenario import Claim, Scenario, load_scenario
from container_claims.scheduling import claim_item_name
from container_claims.session import INPUT_ERROR, SESSION, ClaimsSession


@functools.cache
def _scenario_marks() -> re.Pattern[str]:
    """A top-level key of the scenario format, or the scenario schema in a modeline."""
    from container_claims.scenario.validate import schema

    keys = "|".join(re.escape(key) for key in schema()["properties"])
    return re.compile(rf"^(?:{keys})[ \t]*:|^#.*\$schema=\S*scenario", re.MULTILINE)


def is_scenario_file(path: Path, config: pytest.Config) -> bool:
    """In a claims run (the plugin asks nothing of any other): YAML files named on the
    command line or in a folder called ``scenarios``, and any other YAML file that looks like
    a scenario: a top-level key of the scenario format (claims, steps, section...) or the
    scenario schema in an editor's modeline. Runtimes files and other tools' YAML are left
    alone. ``container-claims run PATH`` and ``pytest PATH --claims`` find the same files."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    if path.parent.name == "scenarios" or _named(path, config):
        return True
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(64 * 1024)
    except OSError:
        return False
    return _scenario_marks().search(head) is not None


def _named(path: Path, config: pytest.Config) -> bool:
    return any(
        os.path.abspath(config.invocation_params.dir / arg.split("::")[0]) == str(path)
        for arg in config.args
    )


def as_given(path: Path, config: pytest.Config) -> str:
    """``path`` as the user wrote it: under the argument (file or folder) that named it."""
    for arg in config.args:
        given = arg.split("::")[0]
        target = Path(os.path.abspath(config.invocation_params.dir / given))
        if target == path:
            return given
        if path.is_relative_to(target):
            return os.path.join(given, str(path.relative_to(target)))
    return str(path)


def scenario_files(config: pytest.Config) -> Iterator[Path]:
    """The scenario files the arguments name, as collection would find them."""
    seen: set[Path] = set()
    for arg in config.args:
        target = Path(os.path.abspath(config.invocation_params.dir / arg.split("::")[0]))
        candidates = [target] if target.is_file() else sorted(target.rglob("*.y*ml"))
        for path in candidates:
            if path not in seen and is_scenario_file(path, config):
                seen.add(path)
                yield path


def load_for(session: ClaimsSession, path: Path) -> tuple[Scenario | None, list[InputError]]:
    """A scenario file loaded for this run, or why not: its own error, or duplicate ids.

    The same for collection and, under xdist, for the controller (which collects nothing
    but must count bad input whatever ``-k`` deselects on the workers).
    """
    shown = as_given(path, session.config)
    try:
        scenario = load_scenario(
            path,
            display=shown,
            allow_host_access=session.allow_host_access,
            allow_drafts=session.allows_drafts(path),
        )
    except ScenarioErrors as exc:  # the file's errors, each at its own line, then how many more
        return None, [*exc.errors, *([exc.left_out()] if exc.more else [])]
    except InputError as exc:
        return None, [exc]
    except Exception as exc:  # a defect in loading must not hide the other files
        return None, [InputError(f"{shown}: could not be loaded: {type(exc).__name__}: {exc}")]
    duplicates: list[InputError] = []
    for claim in scenario.claims:
        where = f"{shown}:{claim.line}"
        first = session.register_claim(claim.id, where)
        if first is not None:
            message = f"{where}: claim id {claim.id!r} is already defined at {first}"
            duplicates.append(DuplicateClaim(message, claim.id))
    return scenario, duplicates


class DuplicateClaim(InputError):
    """A claim id used a second time (the first one stands)."""

    def __init__(self, message: str, claim_id: str) -> None:
        super().__init__(message)
        self.claim_id = claim_id


def input_error_record(error: InputError, path: Path) -> dict[str, Any]:
    return {
        INPUT_ERROR: True,
        "file": getattr(error, "path", str(path)),
        "line": getattr(error, "line", None),
        "message": str(error),
    }


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        session = self.config.stash[SESSION]
        scenario, errors = load_for(session, self.path)
        duplicated = set()
        for number, error in enumerate(errors, 1):
            if isinstance(error, DuplicateClaim):
                duplicated.add(error.claim_id)
                yield self._invalid(f"{error.claim_id}-duplicate", error)
            else:
                yield self._invalid(
                    "invalid-scenario" + (f"-{number}" if number > 1 else ""), error
                )
        if scenario is None:
            return
        for claim in scenario.claims:
            if claim.id in duplicated:
                continue
            for config in session.configs():
                name = claim_item_name(claim.id, config.name)
                yield ClaimItem.from_parent(
                    self,
                    name=name,
                    # Given as text, so pytest reads the runtime as the item's parameter, as
                    # in the ids it keeps between runs: --lf and --nf find the item again.
                    nodeid=f"{self.nodeid}::{name}",
                    scenario=scenario,
                    claim=claim,
                    runtime=config,
                )

    def _invalid(self, name: str, error: InputError) -> InvalidScenario:
        session = self.config.stash[SESSION]
        if not session.is_worker:
            session.add_input_error(input_error_record(error, self.path))
        return InvalidScenario.from_parent(self, name=name, error=error)


class ClaimFailed(Exception):
    """The claim was observed not to hold."""

    def __init__(self, checks: list[CheckResult]) -> None:
        super().__init__("claim does not hold")
        self.checks = checks


class InvalidScenario(pytest.Item):
    """Stands for a scenario file that could not be loaded, so the others still run."""

    def __init__(self, *, error: InputError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def setup(self) -> None:
        # Its one line, without a traceback: pytest would read the source of every frame to
        # format one (a tenth of a second), for each of a file's errors.
        pytest.fail(str(self.error), pytrace=False)

    def runtest(self) -> None:  # pragma: no cover - setup always raises
        pytest.fail(str(self.error), pytrace=False)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"invalid scenario {self.path.name}"


#: The phase of pytest's in which each verdict shows. A claim is observed and checked in
#: setup: what could not be observed is an error there, as a broken fixture is, and a claim
#: that does not apply is skipped there; the call shows what was observed, a pass or a fail.
SHOWN_AT = {PASS: "call", FAIL: "call", NOT_APPLICABLE: "setup", ERROR: "setup"}


class ClaimItem(pytest.Item):
    """One claim on one runtime.

    Its setup observes and checks the claim and keeps the verdict here (:attr:`verdict`, with
    :attr:`reason`, :attr:`expectation` and :attr:`evidence`), where the records read it; then
    :meth:`_to_pytest` makes it pytest's outcome, the one place that does.
    """

    def __init__(
        self, *, scenario: Scenario, claim: Claim, runtime: RuntimeConfig, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.claim = claim
        self.runtime_config = runtime
        self.result: ScenarioResult | None = None
        self.checks: list[CheckResult] = []
        self.runtime_info: dict[str, Any] = {}
        #: One of :data:`~container_claims.results.VERDICTS`, once setup has decided it.
        self.verdict: str | None = None
        #: Why the claim is not applicable, or could not be observed; empty otherwise.
        self.reason = ""
        #: What the expectations file says of the verdict (a record's ``expectation``).
        self.expectation: dict[str, Any] | None = None
        #: What the verdict rests on: the checks, the steps that made their observations.
        self.evidence: dict[str, Any] = {}
        self.add_marker(pytest.mark.claim(claim.id))

    @property
    def runtime_name(self) -> str:
        return self.runtime_config.name

    @property
    def session_state(self) -> ClaimsSession:
        return self.config.stash[SESSION]

    def setup(self) -> None:
        cause: Exception | None = None
        try:
            self.verdict, self.reason = self._observe_and_check()
            self.evidence = self._evidence()
        except Exception as exc:  # could not observe, or a defect of ours: an error either way
            self.verdict, self.reason, cause = ERROR, str(exc), exc
            if not self.runtime_info:
                self.runtime_info = self.session_state.runtimes.unavailable_info(
                    self.runtime_config
                )
        self.expectation = self.session_state.expectations.judge(
            self.claim.id, self.runtime_name, self.verdict
        )
        self._to_pytest("setup", cause)

    def runtest(self) -> None:
        self._to_pytest("call")

    def _observe_and_check(self) -> tuple[str, str]:
        """The claim's verdict on its runtime, and why when it is not applicable or an error;
        raises when the runtime or the scenario could not be observed at all."""
        state = self.session_state
        runtime = state.runtimes.runtime(self.runtime_config)
        self.runtime_info = state.runtimes.info(runtime)
        missing = needed_capabilities(self.scenario, self.claim) - runtime.capabilities
        if missing:
            return NOT_APPLICABLE, (
                f"not applicable on {runtime.name}: it has no {', '.join(sorted(missing))}"
            )
        self.result = state.observer.scenario_result(self.scenario, runtime)
        self.checks = check_claim(self.claim, self.result.observations)
        verdict = verdict_of(self.checks)
        if verdict == ERROR:
            stopped = f" (the scenario stopped: {self.result.fatal})" if self.result.fatal else ""
            return ERROR, "; ".join(errors_of(self.checks)) + stopped
        return verdict, ""

    def _to_pytest(self, when: str, cause: Exception | None = None) -> None:
        """The verdict as pytest's outcome, in the phase :data:`SHOWN_AT` names: not
        applicable is a skip, an error an error (a defect of ours keeps its traceback), a fail
        a failure, a pass nothing.

        With an expectations file, through pytest's own xfail: a verdict its entry accepts is
        an xfail with the entry's reason; a pass where it expects a fail is a strict XPASS; a
        fail or error it no longer expects stays what it is (the record says so); not
        applicable where it expects a fail or error fails setup with the words that say so.
        """
        __tracebackhide__ = True  # a defect's traceback shows where it was, not this relay
        assert self.verdict is not None, "setup decides the verdict"
        expected = self.expectation is not None and self.expectation["status"] == EXPECTED
        if when == "setup" and self.expectation is not None:
            # pytest reads an xfail mark of the call when the call ends, as one a test adds.
            if self.verdict == FAIL and expected:
                self.add_marker(
                    pytest.mark.xfail(reason=self.as_expected(), raises=ClaimFailed, strict=True)
                )
            elif self.verdict == PASS:  # an entry accepts only a fail or an error
                self.add_marker(pytest.mark.xfail(reason=self.no_longer_as_expected(), strict=True))
        if SHOWN_AT[self.verdict] != when:
            return
        if self.verdict == NOT_APPLICABLE:
            if self.expectation is not None:  # an entry accepts only a fail or an error
                reason = f"{self.no_longer_as_expected()} ({printable(self.reason)})"
                pytest.fail(reason, pytrace=False)
            pytest.skip(self.reason)
        elif self.verdict == ERROR:
            if expected:
                pytest.xfail(self.as_expected())
            raise cause if cause is not None else ObservationError(self.reason)
        elif self.verdict == FAIL:
            raise ClaimFailed(self.checks)

    def as_expected(self) -> str:
        """Why the verdict is as expected: the entry's reason, and which entry it is."""
        assert self.expectation is not None
        entry = self.expectation
        return printable(f"{entry['reason']} (expected {entry['verdict']}, {entry['where']})")

    def no_longer_as_expected(self) -> str:
        """What a verdict its entry no longer expects says: which, where, and what to do."""
        assert self.expectation is not None
        entry = self.expectation
        return printable(
            f"no longer as expected: {self.verdict} where expected {entry['verdict']}, "
            f"{entry['where']}; update the file"
        )

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.claim.line - 1, f"{self.claim.id} on {self.runtime_name}"

    def _traceback_filter(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
        # A defect of ours shows from this item's setup down: the frames of pytest and pluggy
        # above it say nothing of it (pytest cuts its own items' tracebacks the same way).
        return excinfo.traceback.cut(path=__file__).filter(excinfo)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ClaimFailed):
            return self._describe_failure(excinfo.value.checks)
        if isinstance(excinfo.value, ClaimsError):
            return self.could_not_observe(excinfo.value)
        return super().repr_failure(excinfo)

    def could_not_observe(self, error: BaseException) -> str:
        """Its one line, and below it what the steps it rests on printed on stderr."""
        lines = [f"{self.nodeid}: could not observe: {error}"]
        lines += [f"  stderr of step line {n}: {text}" for n, text in step_stderr(self.evidence)]
        return printable("\n".join(lines))

    def _describe_failure(self, checks: list[CheckResult]) -> str:
        lines = [
            f"claim {self.claim.id} does not hold on {self.runtime_name}",
            f"  says: {self.claim.says}",
            f"  at:   {self.nodeid.split('::')[0]}:{self.claim.line}",
        ]
        for check in checks:
            mark = "??  " if check.error else "ok  " if check.ok else "FAIL"
            e = check.expectation
            expected = _short(repr(check.expected))
            lines.append(f"  {mark} line {e.line}: {e.that} {e.op.replace('_', ' ')} {expected}")
            if check.error:
                lines.append(f"       not observed: {check.error}")
            elif not check.ok:
                lines.append(f"       observed: {_short(check.observed)}")
        for entry in self.evidence.get("steps", []):
            value = entry.get("error") or entry.get("value")
            if isinstance(value, dict) and "output" in value and "completed" in value:
                value = (
                    value["output"]
                    if value["completed"]
                    else f"{value['output']} ({value['detail']})"
                )
            lines.append(f"  step line {entry['line']}: {entry['step']} -> {_short(value)}")
            lines += [f"       stderr: {text}" for _, text in step_stderr({"steps": [entry]})]
        # The scenario's words and what the containers printed, on the operator's terminal.
        return printable("\n".join(lines))

    def _through_shell(self) -> set[str | None]:
        names: set[str | None] = {s.save for s in self.scenario.steps if s.kind == "type"}
        if self.scenario.container is not None:
            names.add(self.scenario.container.save)
        return names

    def relative_file(self) -> str:
        root = self.config.rootpath
        return (
            str(self.path.relative_to(root)) if self.path.is_relative_to(root) else str(self.path)
        )

    def transcript_key(self) -> str:
        return f"{self.relative_file()}::{self.runtime_name}"

    def _evidence(self) -> dict[str, Any]:
        """What this verdict rests on: the checks, the steps that made its observations."""
        if self.result is None:
            return {}
        needed = needed_observations(self.scenario, self.claim)
        steps = [entry for entry in self.result.log if entry.get("save") in needed]
        evidence: dict[str, Any] = {
            "checks": [check.to_json() for check in self.checks],
            "steps": steps,
        }
        # The transcript, when the claim rests on anything the terminal session showed: kept
        # once per scenario and runtime in the results, referenced by its claims.
        if self.result.transcript and needed & self._through_shell():
            evidence["transcript_ref"] = self.transcript_key()
        if self.result.fatal:
            evidence["stopped"] = self.result.fatal
        return evidence


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"
