"""How pytest-xdist spreads claims over workers: a scenario on a runtime is one unit.

A scenario starts its containers once per runtime and all its claims rest on those
observations, so every claim of one scenario on one runtime must run on the same worker.
Different scenarios, and one scenario on different runtimes, share nothing and go to
whichever worker is free. Other tests (not claims) are spread one by one, as ``--dist load``
would.
"""

from __future__ import annotations

import re

from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

#: ``path/to/file.yaml::claim-id[runtime]`` (xdist may append ``@group``).
_CLAIM = re.compile(r"^(?P<file>[^:]+\.ya?ml)::[^\[\]]+\[(?P<runtime>[^\[\]]+)\]")


class ScenarioScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """Work units of xdist's scope scheduling, scoped by scenario file and runtime."""

    def _split_scope(self, nodeid: str) -> str:
        # The one method xdist's scope schedulers are made to be specialised by.
        match = _CLAIM.match(nodeid)
        if match is None:
            return nodeid
        return f"{match['file']}::{match['runtime']}"
