"""How pytest-xdist spreads claims over workers: a scenario on a runtime is one unit.

A scenario starts its containers once per runtime and all its claims rest on those
observations, so every claim of one scenario on one runtime must run on the same worker.
Different scenarios, and one scenario on different runtimes, share nothing and go to
whichever worker is free. Other tests (not claims) are spread one by one, as ``--dist load``
would.

The controller collects nothing, but it loads the scenario files for itself (see
:func:`container_claims.plugin.pytest_sessionstart`): there it writes down each claim item's
unit (:data:`UNITS`), so a unit is looked up by the item's name, never read back out of it.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

#: A claim item's name (the last part of its node id) -> its unit: one scenario on one runtime.
UNITS = pytest.StashKey[dict[str, str]]()


def claim_item_name(claim_id: str, runtime_name: str) -> str:
    """The name of the item of a claim on a runtime: ``claim-id[runtime]``, the runtime as the
    item's parameter (as pytest shows parameters, and as ``--lf`` finds the item again)."""
    return f"{claim_id}[{runtime_name}]"


class ScenarioScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """Work units of xdist's scope scheduling, scoped by scenario file and runtime."""

    def _split_scope(self, nodeid: str) -> str:
        # The one method xdist's scope schedulers are made to be specialised by.
        units = self.config.stash.get(UNITS, {})
        name = nodeid.rpartition("::")[2]
        # --dist loadgroup appends "@GROUP" to a node id (a runtime's name may hold an @ too).
        unit = units.get(name) or units.get(name.rpartition("@")[0])
        return unit or nodeid
