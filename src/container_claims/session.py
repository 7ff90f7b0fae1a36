"""One test session's state: its runtimes, the scenarios' results, services, and its end.

A :class:`ClaimsSession` lives in every process of a run (the pytest process, and each xdist
worker): it makes each runtime once (checked with a first container under a deadline), runs
each scenario once per runtime and keeps the result for all its claims, starts shared
services (the loopback registry) on first use, keeps the ledger of what could outlive the
run, and at the end removes what the run made. The controller also collects the verdicts,
writes the results file and the terminal summary, and first sweeps what dead runs left.

The plugin makes one only for a run that asks for claims (see
:func:`container_claims.plugin.claims_asked`): any other run has no session, so nothing of
this module acts in it.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from container_claims import ledger
from container_claims.errors import InputError, ObservationError, RuntimeUnavailable
from container_claims.execute import ScenarioResult, ScenarioRunner, needed_capabilities
from container_claims.expectations import Expectations, load_expectations
from container_claims.image import DEFAULT_IMAGE
from container_claims.options import CHOOSING
from container_claims.probes.handle import HostHandle
from container_claims.results import Results
from container_claims.runtimes import choose_runtimes, open_runtime
from container_claims.runtimes.base import ENGINE_HOST, Runtime, RuntimeConfig
from container_claims.scenario import Scenario
from container_claims.scenario.model import Claim

SESSION = pytest.StashKey["ClaimsSession"]()
#: How long the end of a run waits for a scenario still being observed side by side.
STOP_AHEAD_TIMEOUT = 120.0
#: A scenario and those of its claims that were selected, in the items' order.
Planned = tuple[Scenario, list[Claim]]
#: Attribute of a test report that carries a claim's record (or an input error's).
RECORD = "container_claims"
#: Key of an input error's record that tells it from a verdict's.
INPUT_ERROR = "input_error"


def _expectations(config: pytest.Config) -> Expectations:
    """The expectations files of ``--expect``, read in every process; a bad one is a usage error."""
    try:
        return load_expectations([Path(p) for p in config.getoption("claims_expect")])
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None


#: The runtimes of this run, resolved once (:func:`~container_claims.runtimes.choose_runtimes`)
#: and then handed on as they are: by a caller before pytest starts (:class:`ChosenRuntimes`),
#: by the xdist controller to its workers, or by the session from the run's options.
RUNTIMES = pytest.StashKey[list[RuntimeConfig]]()


class ChosenRuntimes:
    """Runtimes a caller (the CLI) resolved, handed to the run as they are::

        pytest.main(args, plugins=[ChosenRuntimes(configs)])

    They go into the run's stash (:data:`RUNTIMES`) before the plugin configures the run.
    """

    def __init__(self, configs: list[RuntimeConfig]) -> None:
        self.configs = configs

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[RUNTIMES] = self.configs


class ClaimsSession:
    """Per-process state: runtimes, the scenario results cache, services, the results."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        workerinput = getattr(config, "workerinput", None)
        self.workerinput: dict[str, Any] | None = workerinput
        self.is_worker = workerinput is not None
        if self.is_worker:
            # A worker is a helper of the run: when the run dies, even by SIGKILL, it gets
            # SIGTERM and cleans up after itself as on Ctrl-C.
            from container_claims.processes import die_with_parent_term

            die_with_parent_term()
        self.run_id: str = workerinput["claims_run_id"] if workerinput else secrets.token_hex(3)
        self.image: str = config.getoption("claims_image") or DEFAULT_IMAGE
        self.allow_host_access: bool = config.getoption("claims_allow_host_access")
        self.results = Results(run_id=self.run_id)
        self.expectations = _expectations(config)
        run_deadline = config.getoption("claims_run_deadline")
        self.run_deadline = time.monotonic() + run_deadline if run_deadline else None
        self.leftovers: list[str] = []  # what the end of the run could not remove
        self.swept: list[str] = []  # what dead runs had left, removed at the start
        self.given_up: list[str] = []  # what dead runs left out of reach (a machine gone)
        self._open = contextlib.ExitStack()
        self._runtimes: dict[str, Runtime] = {}
        self._unusable: dict[str, str] = {}
        self._runtime_deadlines: dict[str, float] = {}
        self._runtime_info: dict[str, dict[str, Any]] = {}
        self._scenarios: dict[tuple[Path, str], ScenarioResult] = {}
        self._claim_ids: dict[str, str] = {}
        self._input_error_messages: set[str] = set()  # of results.input_errors, to skip repeats
        self._transcripts_sent: set[str] = set()
        self._registry: Any = None
        self._registry_lock = threading.Lock()
        self._hosts: dict[tuple[str, str], HostHandle] = {}
        self._readers_refused: dict[tuple[str, str], str] = {}
        self._hosts_lock = threading.Lock()
        # Side by side (see side_by_side): a runtime's scenarios observed in its own thread.
        self._making: dict[str, threading.Lock] = {}
        self._ahead: dict[tuple[Path, str], Future[ScenarioResult]] = {}
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()  # start no further scenario
        self._idle: list[threading.Event] = []  # one per thread: its scenarios are done
        self._ended = threading.Event()  # the session is closed: the threads may end
        self._previous_sigterm: Any = None

    # -- configuration ----------------------------------------------------------------------
    def configs(self) -> list[RuntimeConfig]:
        """The runtimes of this run: as a caller or the controller handed them on, or chosen
        by the run's options (a bad one is a usage error), once."""
        stash = self.config.stash
        if RUNTIMES not in stash:
            if self.workerinput is not None and "claims_configs" in self.workerinput:
                data = self.workerinput["claims_configs"]
                stash[RUNTIMES] = [RuntimeConfig.from_json(each) for each in data]
            else:
                given = {key: self.config.getoption(opt.dest) for key, opt in CHOOSING.items()}
                try:
                    stash[RUNTIMES] = choose_runtimes(self._open, **given)
                except InputError as exc:
                    raise pytest.UsageError(str(exc)) from None
        return stash[RUNTIMES]

    def register_claim(self, claim_id: str, where: str) -> str | None:
        """Claim ids are unique across all files; returns where it was first defined."""
        first = self._claim_ids.setdefault(claim_id, where)
        return None if first == where else first

    def add_input_error(self, record: dict[str, Any]) -> None:
        """Recorded when collected (so -k cannot hide it) and again when its item reports."""
        if record["message"] not in self._input_error_messages:
            self._input_error_messages.add(record["message"])
            self.results.input_errors.append(record)

    # -- runtimes and scenarios -------------------------------------------------------------
    def runtime(self, config: RuntimeConfig) -> Runtime:
        """The runtime of ``config``, made and checked once, with a first container started
        under its start_timeout; raises (at once, for every later claim too) if it cannot
        run here."""
        name = config.name
        with self._making.setdefault(name, threading.Lock()):
            return self._make_runtime(config)

    def _make_runtime(self, config: RuntimeConfig) -> Runtime:
        name = config.name
        if name in self._unusable:
            raise ObservationError(self._unusable[name])
        if name not in self._runtimes:
            ledger.open_ledger(self.run_id).record("runtime", config=config.to_json())
            runtime = self._open.enter_context(
                open_runtime(config, image=self.image, run_id=self.run_id)
            )
            try:
                runtime.check()
                runtime.preflight(config.start_timeout)
            except ObservationError as exc:
                where = f" ({config.source})" if config.source else ""
                self._unusable[name] = f"runtime {name!r}{where} cannot run here: {exc}"
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

    def runtime_info(self, runtime: Runtime) -> dict[str, Any]:
        """What a reader needs to trust this runtime's verdicts; asked once per runtime."""
        if runtime.name not in self._runtime_info:
            try:
                versions, image = runtime.version(), runtime.describe_image()
                environment = runtime.environment()
            except ObservationError as exc:
                versions, image, environment = {"error": str(exc)}, {}, {}
            self._runtime_info[runtime.name] = {
                **runtime.config.to_json(),
                "machine": self._machine(runtime),
                "version": versions,
                "environment": environment,
                "image": image,
                "capabilities": sorted(runtime.capabilities),
            }
        return self._runtime_info[runtime.name]

    def _machine(self, runtime: Runtime) -> dict[str, str]:
        """Which machine the runtime's containers run on: its name, kernel and boot id, read
        on that machine (a fleet's results say which host each verdict comes from)."""
        found = {"address": runtime.config.host or "local"}
        for key, path in (
            ("hostname", "/proc/sys/kernel/hostname"),
            ("kernel", "/proc/sys/kernel/osrelease"),
            ("boot_id", "/proc/sys/kernel/random/boot_id"),
        ):
            try:
                found[key] = self.host(runtime).read_text(path)
            except OSError as exc:
                found[key] = f"unknown ({exc.strerror or exc})"
            except ObservationError as exc:  # a reader the engine refused: said once per key
                found[key] = f"unknown ({exc})"
        return found

    def scenario_result(self, scenario: Scenario, runtime: Runtime) -> ScenarioResult:
        """The scenario's observations on ``runtime``: run on its first claim, then kept; or
        made side by side with other runtimes' (:meth:`side_by_side`), then waited for."""
        key = (scenario.path, runtime.name)
        ahead = self._ahead.get(key)
        if ahead is not None:
            return ahead.result()
        if key not in self._scenarios:
            self._scenarios[key] = self._observe(scenario, runtime)
        return self._scenarios[key]

    def side_by_side(self, plan: Mapping[str, tuple[RuntimeConfig, list[Planned]]]) -> None:
        """Observe each runtime's scenarios in a thread of its own, in the items' order, so
        runtimes that share nothing run side by side while the items report in order.

        ``plan`` maps a runtime's name to its config and its scenarios, each with the claims
        of it that were selected. A scenario none of whose claims applies to the runtime is
        not run, as in a run one item after the other. The threads live until the session
        closes: processes started from a thread get their parent-death signal when that
        thread ends, and the services they start (the registry, Podman's API) serve the
        whole run.
        """
        if len(plan) < 2:
            return
        ledger.open_ledger(self.run_id)  # before the threads, which all write to it
        for name, (config, scenarios) in plan.items():
            keys = [(scenario.path, name) for scenario, _ in scenarios]
            for key in keys:
                self._ahead[key] = Future()
            idle = threading.Event()
            thread = threading.Thread(
                target=self._observe_ahead,
                args=(config, scenarios, idle),
                name=f"container-claims {name}",
                daemon=True,
            )
            self._threads.append(thread)
            self._idle.append(idle)
            thread.start()

    def _observe_ahead(
        self, config: RuntimeConfig, scenarios: list[Planned], idle: threading.Event
    ) -> None:
        try:
            for scenario, claims in scenarios:
                future = self._ahead[(scenario.path, config.name)]
                try:
                    if self._closing.is_set():
                        raise ObservationError("the run ended before this scenario was observed")
                    runtime = self.runtime(config)
                    if all(
                        needed_capabilities(scenario, claim) - runtime.capabilities
                        for claim in claims
                    ):
                        # Not one selected claim applies: no item asks, as none would run it.
                        future.set_exception(ObservationError("not run: no claim applies"))
                        continue
                    future.set_result(self._observe(scenario, runtime))
                except BaseException as exc:  # to the item that waits for it, as if it ran there
                    future.set_exception(exc)
        finally:
            idle.set()
        self._ended.wait()  # see side_by_side: live as long as the session's services

    def _observe(self, scenario: Scenario, runtime: Runtime) -> ScenarioResult:
        runner = ScenarioRunner(
            scenario,
            runtime,
            self,
            deadline=self.deadline(runtime),
            allow_host_access=self.allow_host_access,
        )
        return runner.run()

    def transcript_once(self, key: str, text: str) -> str | None:
        """The transcript for the first record of a scenario on a runtime, None for the rest."""
        if not text or key in self._transcripts_sent:
            return None
        self._transcripts_sent.add(key)
        return text

    def host(self, runtime: Runtime) -> HostHandle:
        """The machine ``runtime``'s containers run on: this one (testinfra's local backend),
        its ``host`` over ssh (testinfra's ssh backend, with its ssh config), or the engine's
        host through a reader container (``host: engine``, testinfra's docker or podman
        backend), started on first use and removed with the run. A reader the engine refused
        is :class:`RuntimeUnavailable` with the reason, at once for every later reading."""
        config = runtime.config
        if not config.host:
            return HostHandle.local()
        if config.read_through_engine:
            with self._making.setdefault(f"reader {config.name}", threading.Lock()):
                return self._reader(runtime)
        with self._hosts_lock:
            key = (config.host, config.ssh_config)
            if key not in self._hosts:
                self._hosts[key] = HostHandle.ssh(config.host, config.ssh_config)
                self._open.callback(self._hosts[key].close)
            return self._hosts[key]

    def _reader(self, runtime: Runtime) -> HostHandle:
        from container_claims.probes.reader import HostReader

        key = (ENGINE_HOST, runtime.name)
        if key in self._readers_refused:
            raise RuntimeUnavailable(self._readers_refused[key])
        if key not in self._hosts:
            reader = HostReader(
                runtime.config, runtime.env(), image=runtime.image, run_id=self.run_id
            )
            self._open.callback(reader.close)
            try:
                self._hosts[key] = reader.open(runtime.config.start_timeout)
            except RuntimeUnavailable as exc:
                reader.close()
                self._readers_refused[key] = f"{runtime.name}'s host cannot be read: {exc}"
                raise RuntimeUnavailable(self._readers_refused[key]) from None
        return self._hosts[key]

    def registry(self) -> str:
        """The loopback registry's address, started on first use (a probe's service)."""
        with self._registry_lock:
            return self._start_registry()

    def _start_registry(self) -> str:
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
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: every worker works for this run, on these runtimes."""
        node.workerinput["claims_run_id"] = self.run_id
        node.workerinput["claims_configs"] = [config.to_json() for config in self.configs()]

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        def interrupt(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt(f"signal {signum}")  # so cleanup runs as on Ctrl-C

        self._previous_sigterm = signal.signal(signal.SIGTERM, interrupt)
        # What dead runs left goes before this run makes anything; a collection makes nothing.
        if not self.is_worker and not self.config.option.collectonly:
            self._sweep_dead_runs()

    def _sweep_dead_runs(self) -> None:
        from container_claims.sweep import sweep_dead_runs

        swept = sweep_dead_runs()
        self.swept = swept.removed
        self.given_up = swept.given_up
        self.leftovers += swept.problems
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and (swept.removed or swept.problems):
            reporter.write_line(
                f"container-claims: removed {len(swept.removed)} thing(s) that runs which "
                "ended without cleaning up had left"
                + (f"; {len(swept.problems)} could not be removed" if swept.problems else "")
                + " (details at the end)"
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, RECORD, None)
        if record is None or self.is_worker:  # a worker's reports go to the controller as they are
            return
        if record.get(INPUT_ERROR):
            self.add_input_error({k: v for k, v in record.items() if k != INPUT_ERROR})
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
            if self.expectations:
                self.results.expectations = self.expectations.to_json(self.results.results)
            path = self.config.getoption("claims_json")
            if path:
                self.results.write(Path(path))

    def _close(self) -> None:
        self._closing.set()  # the threads observing ahead start no further scenario
        for thread, idle in zip(self._threads, self._idle, strict=True):
            if not idle.wait(timeout=STOP_AHEAD_TIMEOUT):  # leave the ledger to the next sweep
                self.leftovers.append(f"{thread.name} was still observing when the run ended")
        if not self.is_worker:
            # The safety net, once every worker is done: whatever still carries this run's
            # label goes, on every runtime that ran (under xdist the workers ran them).
            used = set(self._runtimes) | {r["runtime"] for r in self.results.results}
            for config in self.configs() if used else []:
                if config.name in used and config.name not in self._unusable:
                    self._sweep(config)
        try:
            self._open.close()
        except (ObservationError, OSError) as exc:
            self.leftovers.append(str(exc))
        if self._registry is not None:
            self._registry.stop()
            self._registry = None
        self._ended.set()  # only now: what the threads started (Podman's API) served the sweep
        for thread in self._threads:
            thread.join(timeout=1)
        own = ledger.current()
        if own is not None and own.run_id == self.run_id:
            own.close(clean=not self.leftovers)

    def _sweep(self, config: RuntimeConfig) -> None:
        with contextlib.ExitStack() as stack:
            runtime = self._runtimes.get(config.name) or stack.enter_context(
                open_runtime(config, image=self.image, run_id=self.run_id)
            )
            try:
                runtime.remove_objects(run_id=self.run_id)
            except ObservationError as exc:  # the engine is gone: the next run sweeps it
                self.leftovers.append(f"{config.name}: {exc}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not (
            self.results.results
            or self.results.input_errors
            or self.swept
            or self.given_up
            or self.leftovers
        ):
            return
        from container_claims.report.model import printable
        from container_claims.report.terminal import expectation_lines, summary_lines

        terminalreporter.section("container-claims")
        if self.results.results:
            data = self.results.to_json()
            for line in summary_lines(data):
                terminalreporter.write_line(line)
            for line in expectation_lines(data):
                terminalreporter.write_line(line, yellow=True)
        # What scenario files, engines and containers said, with its control characters shown.
        for error in self.results.input_errors:
            terminalreporter.write_line(printable(f"invalid: {error['message']}"), red=True)
        for line in self.given_up:
            terminalreporter.write_line(printable(f"out of reach, not swept: {line}"))
        for line in self.swept:
            terminalreporter.write_line(printable(f"removed what a dead run left: {line}"))
        for line in self.leftovers:
            terminalreporter.write_line(
                printable(
                    f"could not remove: {line} (the next run, or 'container-claims cleanup', will)"
                ),
                yellow=True,
            )
