"""What a scenario costs, in units of the cheapest thing a runtime can do: start a container.

For each runtime: the floor is the median wall time of ``run --rm IMAGE true`` (or its
engine-less equivalent) measured now, in this process, on this machine; each scenario's
duration (from the suite's own results) is then reported as a multiple of that floor, and the
whole run as a multiple of the sum of its scenarios (the suite's own overhead: pytest,
collection, reports). Ratios measured in one run are comparable between machines and runs;
absolute seconds are not. No thresholds: this prints numbers for people to compare.

    .venv/bin/python benchmarks/run_cost.py [--runtime NAME]... [--repeat N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from container_claims.image import DEFAULT_IMAGE
from container_claims.runtimes import load_runtimes_file, open_runtime, select
from container_claims.scenario.model import ContainerSpec

REPO = Path(__file__).resolve().parents[1]


def floor(name: str, repeat: int) -> float:
    """Median seconds of starting and removing one container that runs ``true``."""
    (config,) = select(load_runtimes_file(), [name])
    with open_runtime(config, image=DEFAULT_IMAGE, run_id="bench") as runtime:
        runtime.check()
        spec = ContainerSpec(command=("true",))
        times = []
        for index in range(repeat + 1):
            began = time.perf_counter()
            outcome = runtime.run(spec, f"cc-bench-{index}", timeout=60)
            elapsed = time.perf_counter() - began
            if outcome.status != 0:
                raise SystemExit(f"{name}: 'true' failed: {outcome.stderr or outcome.detail}")
            if index:  # the first start warms caches
                times.append(elapsed)
        return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runtime", action="append", default=[], help="default: docker")
    parser.add_argument("--repeat", type=int, default=7, help="container starts for the floor")
    parser.add_argument("--json", type=Path, help="write the numbers here too")
    args = parser.parse_args()
    names = args.runtime or ["docker"]
    report: dict[str, object] = {"runtimes": {}}
    for name in names:
        base = floor(name, args.repeat)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "results.json"
            began = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "container_claims",
                    "run",
                    "-q",
                    "--runtime",
                    name,
                    "--json",
                    str(out),
                ],
                cwd=REPO,
                capture_output=True,
                check=False,
            )
            total = time.perf_counter() - began
            results = json.loads(out.read_text())["results"]
        scenarios = {
            r["scenario"]: r["scenario_duration_s"] for r in results if r["scenario_duration_s"]
        }
        rows = {s: round(d / base, 1) for s, d in sorted(scenarios.items())}
        overhead = round(total / max(sum(scenarios.values()), 1e-9), 2)
        report["runtimes"][name] = {  # type: ignore[index]
            "floor_s": round(base, 4),
            "scenario_in_floors": rows,
            "run_over_scenarios": overhead,
        }
        print(f"{name}: floor (run --rm IMAGE true) {base * 1000:.0f} ms")
        for scenario, ratio in rows.items():
            print(f"  {scenario:<20} {ratio:>7.1f} x floor")
        print(f"  whole run            {overhead:>7.2f} x the sum of its scenarios")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
