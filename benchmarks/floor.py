"""The floor of a run: the scenarios' container operations, and nothing else.

For one runtime, every scenario of the catalogue (or of the paths given) is observed the way
the suite observes it: the same containers started, the same lines typed, the same host
readings, the same image pushed and pulled, through the same runtime and scenario runner.
What is left out is everything the suite adds on top: pytest (collection, items, hooks,
reports), the runtime's first container (preflight), the checks, the evidence, the results
file, the ledger's sweeps. ``benchmarks/speed.py`` runs this beside the suite and reports the
suite's time as a multiple of this floor.

    .venv/bin/python benchmarks/floor.py [--runtime NAME] [PATH...]

Prints one line: how many scenarios it observed. (speed.py times the whole process.)
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from container_claims.execute import ScenarioRunner, needed_capabilities
from container_claims.image import DEFAULT_IMAGE
from container_claims.localregistry import LocalRegistry
from container_claims.probes.handle import HostHandle
from container_claims.runtimes import load_runtimes_file, open_runtime, select
from container_claims.runtimes.base import Runtime
from container_claims.scenario import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[1]


class Services:
    """What scenarios use besides their runtime: the host, and a registry on first use."""

    def __init__(self) -> None:
        self._registry: LocalRegistry | None = None

    def host(self, runtime: Runtime) -> HostHandle:
        return HostHandle.local()

    def registry(self) -> str:
        if self._registry is None:
            self._registry = LocalRegistry().start()
        return str(self._registry.address)

    def close(self) -> None:
        if self._registry is not None:
            self._registry.stop()


def scenarios(paths: list[str]) -> list[Scenario]:
    files = []
    for given in paths or [str(REPO / "scenarios")]:
        path = Path(given)
        files += sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    return [load_scenario(file) for file in files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or folders")
    parser.add_argument("--runtime", default="docker", metavar="NAME")
    args = parser.parse_args(argv)
    (config,) = select(load_runtimes_file(), [args.runtime])
    services = Services()
    observed = 0
    try:
        with open_runtime(config, image=DEFAULT_IMAGE, run_id=secrets.token_hex(3)) as runtime:
            for scenario in scenarios(args.paths):
                if all(
                    needed_capabilities(scenario, c) - runtime.capabilities for c in scenario.claims
                ):
                    continue  # the suite would not run it on this runtime either
                ScenarioRunner(scenario, runtime, services).run()
                observed += 1
    finally:
        services.close()
    print(f"floor: {observed} scenarios observed on {args.runtime}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
