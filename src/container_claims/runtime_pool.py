"""The runtimes a run opened: each opened and checked once, described once, closed together.

A :class:`RuntimePool` lives in every process of a run (see
:class:`~container_claims.session.ClaimsSession`). The first claim on a runtime opens it
(:meth:`RuntimePool.runtime`): a first container under its ``start_timeout`` shows that it
can run here, or the reason it cannot is kept and given at once to every later claim. At the
end the pool removes what still carries the run's label on the runtimes that ran
(:meth:`RuntimePool.remove_run_objects`), then closes them all (:meth:`RuntimePool.close`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from container_claims import ledger
from container_claims.errors import ObservationError
from container_claims.probes.api import Services
from container_claims.runtimes import choose_runtimes, open_runtime
from container_claims.runtimes.base import Runtime, RuntimeConfig


class RuntimePool:
    """The open runtimes of one process of a run, by name; safe to ask from several threads.

    ``services`` gives the host of a runtime, which :meth:`info` reads its machine from.
    """

    def __init__(self, *, run_id: str, image: str, services: Services) -> None:
        self.run_id = run_id
        self.image = image
        self._services = services
        self._open = contextlib.ExitStack()
        self._runtimes: dict[str, Runtime] = {}
        self._unusable: dict[str, str] = {}
        self._opened_at: dict[str, float] = {}
        self._info: dict[str, dict[str, Any]] = {}
        self._opening: dict[str, threading.Lock] = {}

    def choose(self, **given: Any) -> list[RuntimeConfig]:
        """The runtimes the run's options name (:func:`~container_claims.runtimes.choose_runtimes`);
        what choosing them made (an inventory's ssh config) is removed when the pool closes."""
        return choose_runtimes(self._open, **given)

    def runtime(self, config: RuntimeConfig) -> Runtime:
        """The runtime of ``config``, made and checked once, with a first container started
        under its start_timeout; raises (at once, for every later claim too) if it cannot
        run here."""
        with self._opening.setdefault(config.name, threading.Lock()):
            return self._open_runtime(config)

    def _open_runtime(self, config: RuntimeConfig) -> Runtime:
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
                # Its record says so, and why: reports show it as one line, not a column of
                # errors.
                self._info[name] = {
                    **config.to_json(),
                    "family": runtime.family or runtime.kind,
                    "unavailable": str(exc) or type(exc).__name__,
                }
                raise ObservationError(self._unusable[name]) from None
            self._runtimes[name] = runtime
            self._opened_at[name] = time.monotonic()
        return self._runtimes[name]

    def opened_at(self, name: str) -> float | None:
        """When the runtime called ``name`` was ready (a :func:`time.monotonic` instant), if
        it was: its own deadline counts from then."""
        return self._opened_at.get(name)

    def opened(self) -> set[str]:
        """The names of the runtimes this process opened and could use."""
        return set(self._runtimes)

    def unavailable_info(self, config: RuntimeConfig) -> dict[str, Any]:
        """The record of a runtime that could not run here (its ``unavailable`` says why);
        empty for one that could, or was not tried."""
        return self._info.get(config.name, {}) if config.name in self._unusable else {}

    def info(self, runtime: Runtime) -> dict[str, Any]:
        """What a reader needs to trust this runtime's verdicts; asked once per runtime."""
        if runtime.name not in self._info:
            try:
                versions, image = runtime.version(), runtime.describe_image()
                environment = runtime.environment()
            except ObservationError as exc:
                versions, image, environment = {"error": str(exc)}, {}, {}
            self._info[runtime.name] = {
                **runtime.config.to_json(),
                "family": runtime.family or runtime.kind,
                "machine": self._machine(runtime),
                "version": versions,
                "environment": environment,
                "image": image,
                "capabilities": sorted(runtime.capabilities),
            }
        return self._info[runtime.name]

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
                found[key] = self._services.host(runtime).read_text(path)
            except OSError as exc:
                found[key] = f"unknown ({exc.strerror or exc})"
            except ObservationError as exc:  # a reader the engine refused: said once per key
                found[key] = f"unknown ({exc})"
        return found

    def remove_run_objects(self, configs: list[RuntimeConfig], used: set[str]) -> list[str]:
        """The safety net at the end of a run: whatever still carries the run's label goes,
        on each runtime of ``configs`` named in ``used`` that could run (opened here, or
        again for the purpose). What could not be removed, one line each."""
        problems: list[str] = []
        for config in configs:
            if config.name in used and config.name not in self._unusable:
                problems += self._remove_run_objects(config)
        return problems

    def _remove_run_objects(self, config: RuntimeConfig) -> list[str]:
        with contextlib.ExitStack() as stack:
            runtime = self._runtimes.get(config.name) or stack.enter_context(
                open_runtime(config, image=self.image, run_id=self.run_id)
            )
            try:
                runtime.remove_objects(run_id=self.run_id)
            except ObservationError as exc:  # the engine is gone: the next run sweeps it
                return [f"{config.name}: {exc}"]
        return []

    def close(self) -> None:
        """Close every runtime opened, and what choosing them made, last opened first."""
        self._open.close()
