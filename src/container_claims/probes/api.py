"""What a probe may use when it runs: the runtime, the scenario's names, shared services.

Probes are called by the scenario runner (:mod:`container_claims.execute`) with a
:class:`ProbeContext` and their checked arguments; they import this module, never the runner.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from container_claims.probes.handle import HostHandle
from container_claims.runtimes.base import Names, Runtime


class Services(Protocol):
    """Shared helpers that live for the whole test session (started on first use)."""

    def registry(self) -> str:
        """Address (host:port on loopback) of a registry the runtime can push to and pull from."""
        ...

    def host(self, runtime: Runtime) -> HostHandle:
        """The machine ``runtime``'s containers run on, for host-side readings."""
        ...


@dataclass
class ProbeContext:
    """What a probe may use: the runtime, its host, the scenario's names, a way to clean up."""

    runtime: Runtime
    names: Names
    token: str
    services: Services
    observations: dict[str, Any]
    defer: Callable[[Callable[[], object]], None]
    #: A :func:`time.monotonic` instant no reading may go past: the step's timeout, or the
    #: run's deadlines when nearer. A probe that waits on the other side honours it.
    deadline: float = math.inf

    @property
    def host(self) -> HostHandle:
        """The runtime's host, which every reading of it goes through. Asked for when a probe
        reads it, not before: a probe of the engine alone needs no reader container, and
        stands when the engine refused one."""
        return self.services.host(self.runtime)
