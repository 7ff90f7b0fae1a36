"""What the scenarios of a run share: the loopback registry, the hosts' handles, transcripts.

:class:`RunServices` is the :class:`~container_claims.probes.api.Services` probes use. Each
service starts on first use and serves the rest of the run; safe to ask from several threads.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from container_claims import ledger
from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.probes.handle import HostHandle
from container_claims.runtimes.base import ENGINE_HOST, Runtime


class RunServices:
    """Services of one process of a run, started on first use: :meth:`close_hosts`, then
    :meth:`stop_registry`, end them."""

    def __init__(self, *, run_id: str) -> None:
        self.run_id = run_id
        self._open = contextlib.ExitStack()
        self._registry: Any = None
        self._registry_lock = threading.Lock()
        self._hosts: dict[tuple[str, str], HostHandle] = {}
        self._readers_refused: dict[tuple[str, str], str] = {}
        self._hosts_lock = threading.Lock()
        self._reading: dict[str, threading.Lock] = {}  # one per runtime read through its engine
        self._transcripts_sent: set[str] = set()

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
            with self._reading.setdefault(config.name, threading.Lock()):
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

    def transcript_once(self, key: str, text: str) -> str | None:
        """The transcript for the first record of a scenario on a runtime, None for the rest."""
        if not text or key in self._transcripts_sent:
            return None
        self._transcripts_sent.add(key)
        return text

    def close_hosts(self) -> None:
        """Close the hosts' handles and remove the readers, last opened first. Before the
        runtimes close: a reader is removed through its runtime's engine."""
        self._open.close()

    def stop_registry(self) -> None:
        if self._registry is not None:
            self._registry.stop()
            self._registry = None
