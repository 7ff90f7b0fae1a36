"""Scenarios observed on runtimes: each once per runtime, within the run's deadlines, and
runtimes side by side.

A :class:`ScenarioObserver` lives in every process of a run (see
:class:`~container_claims.session.ClaimsSession`). It runs a scenario on a runtime on the
first claim that asks and keeps the result for the scenario's other claims
(:meth:`ScenarioObserver.scenario_result`). In a serial run, each runtime's scenarios are
observed ahead in threads of their own (:meth:`ScenarioObserver.side_by_side`), so runtimes
that share nothing run at once while the items report in order; with ``--jobs``, up to N
scenarios of one runtime too, as far as its kind allows. How scenarios are spread over threads
is decided here alone.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path

from container_claims import ledger
from container_claims.errors import ObservationError
from container_claims.execute import ScenarioResult, ScenarioRunner, needed_capabilities
from container_claims.options import DEFAULT_JOBS
from container_claims.probes.api import Services
from container_claims.runtime_pool import RuntimePool
from container_claims.runtimes import runtime_class
from container_claims.runtimes.base import Runtime, RuntimeConfig
from container_claims.scenario import Scenario
from container_claims.scenario.model import Claim

#: How long the end of a run waits for a scenario still being observed side by side.
STOP_AHEAD_TIMEOUT = 120.0
#: A scenario and those of its claims that were selected, in the items' order.
Planned = tuple[Scenario, list[Claim]]


class ScenarioObserver:
    """The scenarios' results of one process of a run, by scenario and runtime.

    ``run_deadline`` and ``runtime_deadline`` (seconds, from now and from when each runtime
    is ready) bound the observing (``--run-deadline``, ``--runtime-deadline``); the scenarios
    use ``runtimes``, ``services``, and the operator's consent ``allow_host_access``.
    ``jobs`` (``--jobs``) is how many scenarios of one runtime may be observed at once:
    a number, or ``auto``.
    """

    def __init__(
        self,
        runtimes: RuntimePool,
        services: Services,
        *,
        run_deadline: float | None = None,
        runtime_deadline: float | None = None,
        allow_host_access: bool = False,
        jobs: int | str = DEFAULT_JOBS,
    ) -> None:
        self.runtimes = runtimes
        self.jobs = jobs
        self.services = services
        self.run_deadline = time.monotonic() + run_deadline if run_deadline else None
        self.runtime_deadline = runtime_deadline
        self.allow_host_access = allow_host_access
        self._scenarios: dict[tuple[Path, str], ScenarioResult] = {}
        # Side by side: a runtime's scenarios observed ahead in a thread of its own.
        self._ahead: dict[tuple[Path, str], Future[ScenarioResult]] = {}
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()  # start no further scenario

    def deadline(self, runtime: Runtime) -> float | None:
        """When observing on ``runtime`` must stop; raises if that time has passed."""
        opened_at = self.runtimes.opened_at(runtime.name)
        own = (
            opened_at + self.runtime_deadline
            if self.runtime_deadline and opened_at is not None
            else None
        )
        candidates = [
            (when, what)
            for when, what in (
                (self.run_deadline, "the run's deadline (--run-deadline)"),
                (own, f"{runtime.name}'s deadline (--runtime-deadline)"),
            )
            if when is not None
        ]
        if not candidates:
            return None
        when, what = min(candidates)
        if time.monotonic() >= when:
            raise ObservationError(f"{what} passed before this claim was observed")
        return when

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

    def jobs_for(self, config: RuntimeConfig) -> int:
        """How many of ``config``'s scenarios are observed at once: as ``--jobs`` asks (auto:
        two per core, as the scenarios mostly wait), never more than its kind allows."""
        wanted = 2 * (os.cpu_count() or 1) if self.jobs == "auto" else int(self.jobs)
        return max(1, min(wanted, runtime_class(config.kind).scenarios_at_once))

    def side_by_side(self, plan: Mapping[str, tuple[RuntimeConfig, list[Planned]]]) -> None:
        """Observe each runtime's scenarios in threads of their own, taken in the items'
        order, so runtimes that share nothing, and up to :meth:`jobs_for` scenarios of one
        runtime, run side by side while the items report in order.

        ``plan`` maps a runtime's name to its config and its scenarios, each with the claims
        of it that were selected. A scenario none of whose claims applies to the runtime is
        not run, as in a run one item after the other. A thread ends with its scenarios: the
        processes it starts are forked by :mod:`container_claims.processes`'s own lasting
        thread, so they get their parent-death signal when the run ends, not this thread.
        """
        threads = {
            name: min(self.jobs_for(config), len(scenarios))
            for name, (config, scenarios) in plan.items()
        }
        if len(plan) < 2 and all(count < 2 for count in threads.values()):
            return  # one thread would do what the items do themselves
        ledger.open_ledger(self.runtimes.run_id)  # before the threads, which all write to it
        for name, (config, scenarios) in plan.items():
            for scenario, _ in scenarios:
                self._ahead[(scenario.path, name)] = Future()
            queue = _Queue(scenarios)
            for number in range(threads[name]):
                thread = threading.Thread(
                    target=self._observe_ahead,
                    args=(config, queue),
                    name=f"container-claims {name}"
                    + (f" {number + 1}" if threads[name] > 1 else ""),
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()

    def _observe_ahead(self, config: RuntimeConfig, queue: _Queue) -> None:
        for scenario, claims in queue:
            future = self._ahead[(scenario.path, config.name)]
            try:
                if self._closing.is_set():
                    raise ObservationError("the run ended before this scenario was observed")
                runtime = self.runtimes.runtime(config)
                if all(
                    needed_capabilities(scenario, claim) - runtime.capabilities for claim in claims
                ):
                    # Not one selected claim applies: no item asks, as none would run it.
                    future.set_exception(ObservationError("not run: no claim applies"))
                    continue
                future.set_result(self._observe(scenario, runtime))
            except BaseException as exc:  # to the item that waits for it, as if it ran there
                future.set_exception(exc)

    def _observe(self, scenario: Scenario, runtime: Runtime) -> ScenarioResult:
        runner = ScenarioRunner(
            scenario,
            runtime,
            self.services,
            deadline=self.deadline(runtime),
            allow_host_access=self.allow_host_access,
        )
        return runner.run()

    def stop(self) -> list[str]:
        """Start no further scenario, and wait for those being observed ahead (each thread
        up to :data:`STOP_AHEAD_TIMEOUT`); the threads still observing, one line each (what
        they made is left to the next run's sweep)."""
        self._closing.set()
        still = []
        for thread in self._threads:
            thread.join(timeout=STOP_AHEAD_TIMEOUT)
            if thread.is_alive():
                still.append(f"{thread.name} was still observing when the run ended")
        return still


class _Queue:
    """A runtime's planned scenarios, each handed to one of the threads that take from it,
    in the items' order."""

    def __init__(self, scenarios: list[Planned]) -> None:
        self._left = iter(scenarios)
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[Planned]:
        while True:
            with self._lock:
                planned = next(self._left, None)
            if planned is None:
                return
            yield planned
