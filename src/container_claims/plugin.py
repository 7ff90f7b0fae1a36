"""The pytest plugin: scenario files become items, one per claim and runtime.

``pytest scenarios/ --runtime docker`` collects every ``*.yaml`` in a ``scenarios`` folder
(or any YAML file named on the command line). Each claim on each runtime is one item, e.g.
``scenarios/process-namespace.yaml::shell-is-pid-1[docker]``. A scenario runs once per
runtime, on its first selected claim; its other claims reuse the observations.

Verdicts map onto pytest outcomes: pass → passed, fail → failed (expected vs observed),
not applicable → skipped (with the reason), error (could not observe) → error in setup.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from container_claims import ledger
from container_claims.checks import CheckResult, check_claim, errors_of, verdict_of
from container_claims.errors import ClaimsError, InputError, ObservationError
from container_claims.execute import (
    ScenarioResult,
    ScenarioRunner,
    needed_capabilities,
    needed_observations,
)
from container_claims.results import ERROR, FAIL, NOT_APPLICABLE, PASS, Results
from container_claims.runtimes import load_runtimes_file, runtime_class, select
from container_claims.runtimes.base import Runtime, RuntimeConfig
from container_claims.scenario import Claim, Scenario, load_scenario

SESSION = pytest.StashKey["ClaimsSession"]()
DEFAULT_IMAGE = "container-claims/test:bookworm"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("container-claims", "container-claims: claims checked on real runtimes")
    group.addoption(
        "--runtime",
        action="append",
        default=[],
        dest="claims_runtimes",
        metavar="NAME",
        help="runtime to check the claims on (repeat for several; 'all' for every one); default: "
        "the first entry of the runtimes file. 'container-claims runtimes' lists them.",
    )
    group.addoption(
        "--runtimes-file",
        dest="claims_runtimes_file",
        metavar="FILE",
        default=None,
        help="YAML file of runtime configurations (default: the packaged runtimes.yaml).",
    )
    group.addoption(
        "--image",
        dest="claims_image",
        metavar="REF",
        default=None,
        help=f"image the scenarios run (default: {DEFAULT_IMAGE}, built by "
        "'container-claims image build').",
    )
    group.addoption(
        "--allow-host-access",
        dest="claims_allow_host_access",
        action="store_true",
        default=False,
        help="let scenarios open the host to their containers (host network...); without it "
        "such a scenario file is refused. Only for files you trust.",
    )
    group.addoption(
        "--run-deadline",
        dest="claims_run_deadline",
        metavar="SECONDS",
        type=float,
        default=None,
        help="stop observing after SECONDS: the claims left become errors.",
    )
    group.addoption(
        "--runtime-deadline",
        dest="claims_runtime_deadline",
        metavar="SECONDS",
        type=float,
        default=None,
        help="give each runtime at most SECONDS from its first container: its claims left "
        "become errors.",
    )
    group.addoption(
        "--claims-json",
        dest="claims_json",
        metavar="FILE",
        default=None,
        help="write every verdict with its evidence to FILE as JSON.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): a claim from a scenario file")
    session = ClaimsSession(config)
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "container-claims-session")
    if config.getoption("claims_runtimes") or config.getoption("claims_runtimes_file"):
        session.configs()  # asked for explicitly: a bad name or file is a usage error now


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``-n``, a scenario's claims on one runtime go to one worker, so the scenario
    starts its containers once and all its claims rest on the same observations."""
    if config.getoption("dist") not in ("load", "loadgroup"):
        return None  # the user chose a distribution mode: theirs
    from container_claims.scheduling import ScenarioScheduling

    return ScenarioScheduling(config, log)


@functools.cache
def _scenario_marks() -> re.Pattern[str]:
    """A top-level key of the scenario format, or the scenario schema in a modeline."""
    from container_claims.scenario.validate import schema

    keys = "|".join(re.escape(key) for key in schema()["properties"])
    return re.compile(rf"^(?:{keys})[ \t]*:|^#.*\$schema=\S*scenario", re.MULTILINE)


def is_scenario_file(path: Path, config: pytest.Config) -> bool:
    """YAML files named on the command line or in a folder called ``scenarios``; in a claims
    run (``container-claims run``, or pytest given one of this plugin's options), also any
    YAML file that looks like a scenario: a top-level key of the scenario format (claims,
    steps, section...) or the scenario schema in an editor's modeline. Runtimes files and
    other tools' YAML are left alone, and so is a plain pytest run of another project."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    if path.parent.name == "scenarios" or _named(path, config):
        return True
    if not _claims_run(config):
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(64 * 1024)
    except OSError:
        return False
    return _scenario_marks().search(head) is not None


def _claims_run(config: pytest.Config) -> bool:
    return any(
        config.getoption(option)
        for option in (
            "claims_runtimes",
            "claims_runtimes_file",
            "claims_image",
            "claims_json",
            "claims_allow_host_access",
        )
    )


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


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_scenario_file(file_path, parent.config):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ClaimsSession:
    """Per-process state: runtimes, the scenario results cache, services, the results."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        if self.is_worker:
            # A worker is a helper of the run: when the run dies, even by SIGKILL, it gets
            # SIGTERM and cleans up after itself as on Ctrl-C.
            from container_claims.processes import die_with_parent_term

            die_with_parent_term()
        self.run_id: str = workerinput["claims_run_id"] if workerinput else secrets.token_hex(3)
        self.image: str = config.getoption("claims_image") or DEFAULT_IMAGE
        self.results = Results(run_id=self.run_id)
        self._configs: list[RuntimeConfig] | None = None
        self._runtimes: dict[str, Runtime] = {}
        self._unusable: dict[str, str] = {}
        self._scenarios: dict[tuple[Path, str], ScenarioResult] = {}
        self._runtime_info: dict[str, dict[str, Any]] = {}
        self._claim_ids: dict[str, str] = {}
        self._registry: Any = None
        self._previous_sigterm: Any = None
        self.allow_host_access: bool = config.getoption("claims_allow_host_access")
        run_deadline = config.getoption("claims_run_deadline")
        self.run_deadline = time.monotonic() + run_deadline if run_deadline else None
        self._runtime_deadlines: dict[str, float] = {}
        self._transcripts_sent: set[str] = set()
        self.leftovers: list[str] = []  # what the end of the run could not remove
        self.swept: list[str] = []  # what dead runs had left, removed at the start

    # -- configuration ----------------------------------------------------------------------
    def configs(self) -> list[RuntimeConfig]:
        if self._configs is None:
            file = self.config.getoption("claims_runtimes_file")
            path = Path(file) if file else None
            try:
                self._configs = select(
                    load_runtimes_file(path), self.config.getoption("claims_runtimes")
                )
            except InputError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._configs

    def register_claim(self, claim_id: str, where: str) -> str | None:
        """Claim ids are unique across all files; returns where it was first defined."""
        first = self._claim_ids.setdefault(claim_id, where)
        return None if first == where else first

    def runtime(self, name: str) -> Runtime:
        """The runtime called ``name``, checked once with a first container started under a
        short deadline; raises (at once, for every later claim too) if it cannot run here."""
        if name in self._unusable:
            raise ObservationError(self._unusable[name])
        if name not in self._runtimes:
            config = next(c for c in self.configs() if c.name == name)
            ledger.open_ledger(self.run_id).record("runtime", config=config.to_json())
            runtime = runtime_class(config.kind)(config, image=self.image, run_id=self.run_id)
            try:
                runtime.check()
                runtime.preflight(config.start_timeout)
            except ObservationError as exc:
                runtime.close()
                self._unusable[name] = f"runtime {name!r} cannot run here: {exc}"
                raise ObservationError(self._unusable[name]) from None
            self._runtimes[name] = runtime
            limit = self.config.getoption("claims_runtime_deadline")
            if limit:
                self._runtime_deadlines[name] = time.monotonic() + limit
        return self._runtimes[name]

    def deadline(self, runtime: Runtime) -> float | None:
        """When observing on ``runtime`` must stop; raises if that time has passed."""
        candidates = [
            (when, what)
            for when, what in (
                (self.run_deadline, "the run's deadline (--run-deadline)"),
                (
                    self._runtime_deadlines.get(runtime.name),
                    f"{runtime.name}'s deadline (--runtime-deadline)",
                ),
            )
            if when is not None
        ]
        if not candidates:
            return None
        when, what = min(candidates)
        if time.monotonic() >= when:
            raise ObservationError(f"{what} passed before this claim was observed")
        return when

    def transcript_once(self, key: str, text: str) -> str | None:
        """The transcript for the first record of a scenario on a runtime, None for the rest."""
        if not text or key in self._transcripts_sent:
            return None
        self._transcripts_sent.add(key)
        return text

    def add_input_error(self, record: dict[str, Any]) -> None:
        """Recorded when collected (so -k cannot hide it) and again when its item reports."""
        if record["message"] not in {e["message"] for e in self.results.input_errors}:
            self.results.input_errors.append(record)

    def runtime_info(self, runtime: Runtime) -> dict[str, Any]:
        """What a reader needs to trust this runtime's verdicts; asked once per runtime."""
        if runtime.name not in self._runtime_info:
            try:
                versions, image = runtime.version(), runtime.describe_image()
            except ObservationError as exc:
                versions, image = {"error": str(exc)}, {}
            self._runtime_info[runtime.name] = {
                **runtime.config.to_json(),
                "version": versions,
                "image": image,
                "capabilities": sorted(runtime.capabilities),
            }
        return self._runtime_info[runtime.name]

    def scenario_result(self, scenario: Scenario, runtime: Runtime) -> ScenarioResult:
        key = (scenario.path, runtime.name)
        if key not in self._scenarios:
            runner = ScenarioRunner(
                scenario,
                runtime,
                self,
                deadline=self.deadline(runtime),
                allow_host_access=self.allow_host_access,
            )
            self._scenarios[key] = runner.run()
        return self._scenarios[key]

    def registry(self) -> str:
        if self._registry is None:
            from container_claims.localregistry import LocalRegistry, RegistryError

            registry = LocalRegistry()
            try:
                registry.start()
            except RegistryError as exc:
                raise ObservationError(str(exc)) from exc
            ledger.record("dir", path=str(registry.storage_dir.parent))
            if registry.pid is not None:
                ledger.record_process(registry.pid, "registry")
            self._registry = registry
        return str(self._registry.address)

    # -- hooks ------------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # xdist controller: one run id for all
        node.workerinput["claims_run_id"] = self.run_id

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        def interrupt(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt(f"signal {signum}")  # so cleanup runs as on Ctrl-C

        self._previous_sigterm = signal.signal(signal.SIGTERM, interrupt)
        if not self.is_worker:
            from container_claims.sweep import sweep_dead_runs

            swept = sweep_dead_runs()
            self.swept = swept.removed
            self.leftovers += swept.problems
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None and (swept.removed or swept.problems):
                reporter.write_line(
                    f"container-claims: removed {len(swept.removed)} thing(s) that runs which "
                    "ended without cleaning up had left"
                    + (f"; {len(swept.problems)} could not be removed" if swept.problems else "")
                    + " (details at the end)"
                )
            if getattr(self.config.option, "dist", "no") != "no":
                self._validate_for_controller()

    def _validate_for_controller(self) -> None:
        """Under xdist the controller collects nothing: load the scenario files here too, so
        that bad input counts whatever -k deselects on the workers."""
        for path in _scenario_files(self.config):
            try:
                scenario = load_scenario(
                    path,
                    display=as_given(path, self.config),
                    allow_host_access=self.allow_host_access,
                )
            except InputError as exc:
                self.add_input_error(_input_error_record(exc, path))
                continue
            where = as_given(path, self.config)
            for claim in scenario.claims:
                first = self.register_claim(claim.id, f"{where}:{claim.line}")
                if first is not None:
                    error = InputError(
                        f"{where}:{claim.line}: claim id {claim.id!r} is already defined at {first}"
                    )
                    self.add_input_error(_input_error_record(error, path))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "container_claims", None)
        if record is None or self.is_worker:  # a worker's reports go to the controller as they are
            return
        if record.get("verdict") == "invalid":
            self.add_input_error(record)
        else:
            result = {key: value for key, value in record.items() if key != "runtime_info"}
            self.results.add(result)
            self.results.runtimes.setdefault(record["runtime"], record["runtime_info"])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        try:
            self._close()
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
        if self.is_worker:
            return
        if self.results.results or self.results.input_errors:
            if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
                session.exitstatus = self.results.exit_code()
            path = self.config.getoption("claims_json")
            if path:
                self.results.write(Path(path))

    def _close(self) -> None:
        if not self.is_worker:
            # The safety net, once every worker is done: whatever still carries this run's
            # label goes, on every runtime that ran (under xdist the workers ran them).
            used = set(self._runtimes) | {r["runtime"] for r in self.results.results}
            for config in self.configs() if used else []:
                if config.name in used and config.name not in self._unusable:
                    self._sweep(config)
        for runtime in self._runtimes.values():
            try:
                runtime.close()
            except (ObservationError, OSError) as exc:
                self.leftovers.append(f"{runtime.name}: {exc}")
        if self._registry is not None:
            self._registry.stop()
            self._registry = None
        own = ledger.current()
        if own is not None and own.run_id == self.run_id:
            own.close(clean=not self.leftovers)

    def _sweep(self, config: RuntimeConfig) -> None:
        runtime = self._runtimes.get(config.name) or runtime_class(config.kind)(
            config, image=self.image, run_id=self.run_id
        )
        try:
            runtime.remove_objects(run_id=self.run_id)
        except ObservationError as exc:  # the engine is gone: the next run sweeps it
            self.leftovers.append(f"{config.name}: {exc}")
        finally:
            if config.name not in self._runtimes:
                runtime.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not (
            self.results.results or self.results.input_errors or self.swept or self.leftovers
        ):
            return
        from container_claims.report.terminal import summary_lines

        terminalreporter.section("container-claims")
        if self.results.results:
            for line in summary_lines(self.results.to_json()):
                terminalreporter.write_line(line)
        for error in self.results.input_errors:
            terminalreporter.write_line(f"invalid: {error['message']}", red=True)
        for line in self.swept:
            terminalreporter.write_line(f"removed what a dead run left: {line}")
        for line in self.leftovers:
            terminalreporter.write_line(
                f"could not remove: {line} (the next run, or 'container-claims cleanup', will)",
                yellow=True,
            )


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        session = self.config.stash[SESSION]
        shown = as_given(self.path, self.config)
        try:
            scenario = load_scenario(
                self.path, display=shown, allow_host_access=session.allow_host_access
            )
        except InputError as exc:
            yield self._invalid("invalid-scenario", exc)
            return
        except Exception as exc:  # a defect in loading must not hide the other files
            error = InputError(f"{shown}: could not be loaded: {type(exc).__name__}: {exc}")
            yield self._invalid("invalid-scenario", error)
            return
        for claim in scenario.claims:
            where = f"{shown}:{claim.line}"
            first = session.register_claim(claim.id, where)
            if first is not None:
                error = InputError(f"{where}: claim id {claim.id!r} is already defined at {first}")
                yield self._invalid(f"{claim.id}-duplicate", error)
                continue
            for config in session.configs():
                yield ClaimItem.from_parent(
                    self,
                    name=f"{claim.id}[{config.name}]",
                    scenario=scenario,
                    claim=claim,
                    runtime_name=config.name,
                )

    def _invalid(self, name: str, error: InputError) -> InvalidScenario:
        session = self.config.stash[SESSION]
        if not session.is_worker:
            session.add_input_error(_input_error_record(error, self.path))
        return InvalidScenario.from_parent(self, name=name, error=error)


def _scenario_files(config: pytest.Config) -> Iterator[Path]:
    """The scenario files the arguments name, as collection would find them."""
    seen: set[Path] = set()
    for arg in config.args:
        target = Path(os.path.abspath(config.invocation_params.dir / arg.split("::")[0]))
        candidates = [target] if target.is_file() else sorted(target.rglob("*.y*ml"))
        for path in candidates:
            if path not in seen and is_scenario_file(path, config):
                seen.add(path)
                yield path


def _input_error_record(error: InputError, path: Path) -> dict[str, Any]:
    return {
        "verdict": "invalid",
        "file": getattr(error, "path", str(path)),
        "line": getattr(error, "line", None),
        "message": str(error),
    }


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
        raise self.error

    def runtest(self) -> None:  # pragma: no cover - setup always raises
        raise self.error

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"invalid scenario {self.path.name}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return str(excinfo.value)

    def _repr_failure_py(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> Any:
        return str(excinfo.value)  # errors in setup are reported through this one


class ClaimItem(pytest.Item):
    """One claim on one runtime."""

    def __init__(
        self, *, scenario: Scenario, claim: Claim, runtime_name: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.claim = claim
        self.runtime_name = runtime_name
        self.result: ScenarioResult | None = None
        self.checks: list[CheckResult] = []
        self.runtime_info: dict[str, Any] = {}
        self.add_marker(pytest.mark.claim(claim.id))
        self.add_marker(pytest.mark.xdist_group(f"{self.path.name}::{runtime_name}"))

    @property
    def session_state(self) -> ClaimsSession:
        return self.config.stash[SESSION]

    def setup(self) -> None:
        state = self.session_state
        runtime = state.runtime(self.runtime_name)
        self.runtime_info = state.runtime_info(runtime)
        missing = needed_capabilities(self.scenario, self.claim) - runtime.capabilities
        if missing:
            reason = f"not applicable on {runtime.name}: it has no {', '.join(sorted(missing))}"
            raise pytest.skip.Exception(reason, _use_item_location=True)  # report the scenario
        self.result = state.scenario_result(self.scenario, runtime)
        self.checks = check_claim(self.claim, self.result.observations)
        if verdict_of(self.checks) == ERROR:
            stopped = f" (the scenario stopped: {self.result.fatal})" if self.result.fatal else ""
            raise ObservationError("; ".join(errors_of(self.checks)) + stopped)

    def runtest(self) -> None:
        if verdict_of(self.checks) == FAIL:
            raise ClaimFailed(self.checks)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.claim.line - 1, f"{self.claim.id} on {self.runtime_name}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ClaimFailed):
            return self._describe_failure(excinfo.value.checks)
        if isinstance(excinfo.value, ClaimsError):
            return f"{self.nodeid}: could not observe: {excinfo.value}"
        return super().repr_failure(excinfo)

    def _repr_failure_py(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> Any:
        if isinstance(excinfo.value, ClaimsError):
            return self.repr_failure(excinfo)
        return super()._repr_failure_py(excinfo, style=style)

    def _describe_failure(self, checks: list[CheckResult]) -> str:
        lines = [
            f"claim {self.claim.id} does not hold on {self.runtime_name}",
            f"  says: {self.claim.says}",
            f"  at:   {self.nodeid.split('::')[0]}:{self.claim.line}",
        ]
        for check in checks:
            mark = "??  " if check.error else "ok  " if check.ok else "FAIL"
            e = check.expectation
            lines.append(
                f"  {mark} line {e.line}: {e.that} {e.op.replace('_', ' ')} {_short(repr(check.expected))}"
            )
            if check.error:
                lines.append(f"       not observed: {check.error}")
            elif not check.ok:
                lines.append(f"       observed: {_short(check.observed)}")
        evidence = self.evidence()
        for entry in evidence.get("steps", []):
            value = entry.get("error") or entry.get("value")
            if isinstance(value, dict) and "output" in value and "completed" in value:
                value = (
                    value["output"]
                    if value["completed"]
                    else f"{value['output']} ({value['detail']})"
                )
            lines.append(f"  step line {entry['line']}: {entry['step']} -> {_short(value)}")
        return "\n".join(lines)

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

    def evidence(self) -> dict[str, Any]:
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    if isinstance(item, InvalidScenario) and call.when == "setup":
        report.container_claims = _input_error_record(item.error, item.path)  # type: ignore[attr-defined]
    elif isinstance(item, ClaimItem) and (
        call.when == "call" or (call.when == "setup" and not report.passed)
    ):
        if call.when == "setup":
            verdict = NOT_APPLICABLE if report.skipped else ERROR
        else:
            verdict = PASS if report.passed else FAIL
        message = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif call.excinfo is not None and verdict == ERROR:
            message = str(call.excinfo.value)
        evidence = item.evidence()
        transcript = None
        if "transcript_ref" in evidence and item.result is not None:
            transcript = item.session_state.transcript_once(
                evidence["transcript_ref"], item.result.transcript
            )
        report.container_claims = {  # type: ignore[attr-defined]
            "scenario": item.scenario.name,
            "file": item.relative_file(),
            "line": item.claim.line,
            "claim": item.claim.id,
            "says": item.claim.says,
            "section": item.claim.section,
            "runtime": item.runtime_name,
            "verdict": verdict,
            "duration_s": round(report.duration, 3),
            "scenario_duration_s": item.result.duration_s if item.result else None,
            "message": message,
            "evidence": evidence,
            "runtime_info": item.runtime_info or {"name": item.runtime_name},
            **({"transcript": transcript} if transcript else {}),
        }
    return report
