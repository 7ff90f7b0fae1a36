"""How fast the catalogue runs, as ratios measured in one run against floors measured beside it.

For each runtime asked for (default: docker), round after round, alternating:

* the suite, one process, one scenario at a time (``container-claims run --runtime NAME
  --jobs 1``);
* its floor, ``benchmarks/floor.py``: the same scenarios' container operations one after the
  other through the same runtime and scenario runner, without pytest, preflight, checks or
  reports;
* the suite with ``-n 2`` (two processes, one scenario at a time in each);
* the suite as it runs by default: one process, its scenarios side by side (``--jobs auto``).

With ``--all``, also the five runtimes of the article's comparison in one run, by default
(side by side, and their scenarios too), against the sum of their runs one by one, one
scenario at a time (``--jobs 1``, as the serial floor is measured); and beside it that run's
CPU floor: the CPU time the whole machine was busy during it (engines, runtimes, sandboxes and
the suite) over its cores, the shortest any schedule could make it on this machine.

Container starts are counted from the engine's event stream during the docker runs (one at a
time, ``-n 2`` and the default must start the same containers: once per scenario, plus what a
claim needs by nature; the first container of each process is counted apart).

Prints medians with their spread (min–max) and each ratio beside its target; no assertion, no
exit code from the figures: a ratio that moved shows here, not as a timed test.

    .venv/bin/python benchmarks/speed.py [--rounds 3] [--runtime NAME]... [--all] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from measure import machine_words

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
RUNTIMES = ["docker", "gvisor", "podman", "unshare", "bwrap"]
RUN_LABEL = "org.container-claims.run"
#: The targets of the speed issue, as (figure, most allowed).
TARGETS = {
    "suite/floor": 1.3,
    "-n 2/serial": 0.65,
    "jobs/floor": 0.5,
    "jobs/-n 2": 1.0,
    "all/sum": 0.3,
}
#: One scenario of a runtime at a time (the default is ``--jobs auto``).
ONE_AT_A_TIME = ("--jobs", "1")


def timed(argv: list[str], cwd: Path = REPO) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False)
    return time.perf_counter() - began, done


def suite(runtimes: list[str], tmp: Path, *extra: str) -> tuple[float, dict[str, Any]]:
    out = tmp / "results.json"
    out.unlink(missing_ok=True)
    args = [arg for name in runtimes for arg in ("--runtime", name)]
    seconds, done = timed(
        [PYTHON, "-m", "container_claims", "run", "-q", *args, "--json", str(out), *extra]
    )
    if done.returncode not in (0, 1) or not out.exists():
        raise SystemExit(f"the suite failed ({done.returncode}): {done.stdout[-2000:]}")
    return seconds, json.loads(out.read_text())


def machine_busy() -> float:
    """The CPU time the whole machine has spent busy since boot, in seconds (/proc/stat: all
    but idle and iowait), to tell a run that waits from one the cores cannot go faster for."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = sum(int(value) for index, value in enumerate(fields[:8]) if index not in (3, 4))
    return ticks / os.sysconf("SC_CLK_TCK")


def floor(runtime: str) -> float:
    seconds, done = timed([PYTHON, str(REPO / "benchmarks" / "floor.py"), "--runtime", runtime])
    if done.returncode != 0:
        raise SystemExit(f"the floor failed: {done.stdout[-1000:]}{done.stderr[-2000:]}")
    return seconds


class Starts:
    """Container starts of the suite's runs, streamed from Docker's events while they run."""

    def __enter__(self) -> Starts:
        self.process = subprocess.Popen(
            ["docker", "events", "--filter", f"label={RUN_LABEL}", "--filter", "event=start",
             "--format", "{{.Actor.Attributes.name}}"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(0.5)  # subscribed before the first start
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)  # the last event delivered
        self.process.terminate()  # the process we started, by its PID
        self.names = self.process.communicate(timeout=10)[0].split()

    def of(self, run_id: str) -> tuple[Counter[str], int]:
        """Starts per scenario run (by its token), and first containers, of one run."""
        prefix = f"cc-{run_id}-"
        names = [name for name in self.names if name.startswith(prefix)]
        first = sum(1 for name in names if "-preflight-" in name)
        per = Counter(name.split("-")[2] for name in names if "-preflight-" not in name)
        return per, first


def verdicts(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["claim"], r["runtime"], r["verdict"]) for r in data["results"]]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}–{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each measure (3)")
    parser.add_argument(
        "--runtime", action="append", default=[], metavar="NAME", help="default: docker"
    )
    parser.add_argument(
        "--all", action="store_true", help="also --runtime all against the sum of one by one"
    )
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    runtimes = args.runtime or ["docker"]
    figures: dict[str, Any] = {"machine": machine_words(), "rounds": args.rounds, "runtimes": {}}
    print(f"machine: {figures['machine']}; {args.rounds} rounds, alternating")
    with tempfile.TemporaryDirectory(prefix="cc-speed-") as folder:
        tmp = Path(folder)
        for name in runtimes:
            serial: list[float] = []
            floors: list[float] = []
            parallel: list[float] = []
            side: list[float] = []
            starts: dict[str, Any] = {}
            same_verdicts = True
            for _ in range(args.rounds):
                with Starts() as seen:
                    seconds, serial_data = suite([name], tmp, *ONE_AT_A_TIME)
                    serial.append(seconds)
                    floors.append(floor(name))
                    seconds, parallel_data = suite([name], tmp, "-n", "2")
                    parallel.append(seconds)
                    seconds, jobs_data = suite([name], tmp)
                    side.append(seconds)
                same_verdicts &= verdicts(jobs_data) == verdicts(serial_data)
                starts = {
                    "serial": seen.of(serial_data["run_id"]),
                    "-n 2": seen.of(parallel_data["run_id"]),
                    "jobs": seen.of(jobs_data["run_id"]),
                }
            ratio = statistics.median(serial) / statistics.median(floors)
            speedup = statistics.median(parallel) / statistics.median(serial)
            jobs_ratio = statistics.median(side) / statistics.median(floors)
            jobs_n2 = statistics.median(side) / statistics.median(parallel)
            print(f"\n{name}:")
            print(f"  suite, --jobs 1     {spread(serial)}")
            print(f"  floor               {spread(floors)}")
            print(f"  suite -n 2          {spread(parallel)}")
            print(f"  suite (jobs auto)   {spread(side)}")
            print(f"  --jobs 1 / floor    {ratio:6.2f}   (target ≤ {TARGETS['suite/floor']})")
            print(f"  -n 2 / --jobs 1     {speedup:6.2f}   (target ≤ {TARGETS['-n 2/serial']})")
            print(f"  auto / floor        {jobs_ratio:6.2f}   (target ≤ {TARGETS['jobs/floor']})")
            print(f"  auto / -n 2         {jobs_n2:6.2f}   (target ≤ {TARGETS['jobs/-n 2']})")
            print(f"  auto's verdicts     {'the serial ones' if same_verdicts else 'NOT the same'}")
            figures["runtimes"][name] = {
                "serial_s": serial,
                "floor_s": floors,
                "n2_s": parallel,
                "jobs_s": side,
                "suite/floor": ratio,
                "-n 2/serial": speedup,
                "jobs/floor": jobs_ratio,
                "jobs/-n 2": jobs_n2,
                "jobs_verdicts_same": same_verdicts,
            }
            if starts["serial"][0]:
                (per_serial, first_serial), (per_n2, first_n2) = starts["serial"], starts["-n 2"]
                per_jobs = starts["jobs"][0]
                same = (
                    sorted(per_serial.values())
                    == sorted(per_n2.values())
                    == sorted(per_jobs.values())
                )
                print(
                    f"  container starts    {sum(per_serial.values())} for "
                    f"{len(per_serial)} scenario runs serially, {sum(per_n2.values())} for "
                    f"{len(per_n2)} with -n 2, {sum(per_jobs.values())} with jobs auto "
                    f"({'the same' if same else 'NOT the same'}); "
                    f"first containers: {first_serial} serially, {first_n2} with -n 2"
                )
                print(f"  starts per scenario {sorted(per_serial.values(), reverse=True)}")
                figures["runtimes"][name]["starts"] = {
                    "serial": sorted(per_serial.values()),
                    "n2": sorted(per_n2.values()),
                    "jobs": sorted(per_jobs.values()),
                    "first_serial": first_serial,
                    "first_n2": first_n2,
                }
        if args.all:
            together: list[float] = []
            cpu_floors: list[float] = []
            one_by_one: list[float] = []
            cores = os.cpu_count() or 1
            for _ in range(args.rounds):
                busy = machine_busy()
                together.append(suite(RUNTIMES, tmp)[0])
                cpu_floors.append((machine_busy() - busy) / cores)
                one_by_one.append(sum(suite([name], tmp, *ONE_AT_A_TIME)[0] for name in RUNTIMES))
            share = statistics.median(together) / statistics.median(one_by_one)
            print("\nthe five runtimes:")
            print(f"  in one run          {spread(together)}")
            print(
                f"  its CPU floor       {spread(cpu_floors)}   (machine's busy CPU / {cores} cores)"
            )
            print(f"  sum one by one      {spread(one_by_one)}   (each --jobs 1)")
            print(f"  one run / sum       {share:6.2f}   (target ≤ {TARGETS['all/sum']})")
            print(
                f"  CPU floor / sum     "
                f"{statistics.median(cpu_floors) / statistics.median(one_by_one):6.2f}   "
                "(no run on these cores can go below this)"
            )
            figures["all"] = {
                "together_s": together,
                "cpu_floor_s": cpu_floors,
                "one_by_one_s": one_by_one,
                "all/sum": share,
            }
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
