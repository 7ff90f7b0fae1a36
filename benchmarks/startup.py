"""What the suite costs before its first container starts: collecting the claims.

Two commands, each timed over N rounds (after one round that warms the caches), as separate
processes, with the CPU time (user and system: steadier than the wall time where others share
the machine) and peak memory of each (max RSS, GNU time's ``%M``):

- the catalogue (scenarios/): ``container-claims run --runtime docker -- --collect-only -q``;
- 1,000 scenario files, copies of the catalogue's with claim ids made unique, made in a
  temporary directory: ``python -m pytest DIR --runtime docker --collect-only -q
  -p no:cacheprovider`` (the plugin as pytest loads it, without the command line). The cost
  per file is the median of the 1,000 files less that of one such file, over 999;
- pytest's own floor for those files: the same 1,000 files and as many items, collected by a
  ``conftest.py`` that reads each file and counts its claims, with this suite's plugin off
  (``-p no:container_claims``). What the suite adds is the difference: loading, checking
  and building each scenario.

Then one more collection of the catalogue under ``python -X importtime``: the ten modules
that cost the most, cumulatively (each with what it imports), so the make-up of start-up
shows. Nothing starts a container. Every command runs with its bytecode cached, as an
installed copy does (see ``measure.child_env``). The median wall times have targets,
printed beside them: under 0.5 s for the catalogue, under 1.0 s for 1,000 files (on 2
cores); ``--check`` exits 1 when one is over (for people: no test calls this).

    .venv/bin/python benchmarks/startup.py [--rounds N] [--json FILE] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from measure import GNU_TIME, Run, child_env, cpu_model, run

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = REPO / "scenarios"
FILES = 1000

#: Targets for the median wall time, on the machine the README names (2 cores).
CATALOGUE_TARGET_S = 0.5
FILES_TARGET_S = 1.0

CATALOGUE_COMMAND = [
    sys.executable,
    "-m",
    "container_claims",
    "run",
    "--runtime",
    "docker",
    "--",
    "--collect-only",
    "-q",
]
PYTEST_COMMAND = [sys.executable, "-m", "pytest"]
PYTEST_OPTIONS = ["--runtime", "docker", "--collect-only", "-q", "-p", "no:cacheprovider"]

CLAIM_ID = re.compile(r"(?m)^(\s*- id: )([a-z0-9]+(?:-[a-z0-9]+)*)[ \t]*$")
SCENARIO_NAME = re.compile(r"(?m)^(scenario: )(\S+)[ \t]*$")
COLLECTED = re.compile(r"(\d+) tests? collected")

#: pytest collecting the files without this suite: one item per claim, as :func:`generate`
#: counts them, named as the suite names its items (on one runtime).
FLOOR_CONFTEST = f"""
import re

import pytest

CLAIM_ID = re.compile({CLAIM_ID.pattern!r})


class Claim(pytest.Item):
    def runtest(self):
        pass


class ScenarioFile(pytest.File):
    def collect(self):
        for found in CLAIM_ID.finditer(self.path.read_text()):
            name = f"{{found[2]}}[docker]"
            yield Claim.from_parent(self, name=name, nodeid=f"{{self.nodeid}}::{{name}}")


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".yaml":
        return ScenarioFile.from_parent(parent, path=file_path)
"""
FLOOR_OPTIONS = ["-p", "no:container_claims", "--collect-only", "-q", "-p", "no:cacheprovider"]


def machine() -> dict[str, Any]:
    model = cpu_model()
    try:
        debian = Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = ""
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "model": model,
        "debian": debian,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def generate(into: Path, count: int) -> int:
    """``count`` scenario files in ``into``: the catalogue's in turn, each copy's claim ids
    and scenario name given the copy's number. Returns how many claims they hold."""
    sources = sorted(CATALOGUE.rglob("*.yaml"))
    claims = 0
    for number in range(count):
        source = sources[number % len(sources)]
        suffix = f"-g{number:04d}"
        text, found = CLAIM_ID.subn(rf"\g<1>\g<2>{suffix}", source.read_text())
        text = SCENARIO_NAME.sub(rf"\g<1>\g<2>{suffix}", text)
        (into / f"{source.stem}{suffix}.yaml").write_text(text)
        claims += found
    return claims


def count_claims(folder: Path) -> int:
    """How many claims the scenario files under ``folder`` hold, counted as :func:`generate`
    counts them."""
    return sum(len(CLAIM_ID.findall(path.read_text())) for path in folder.rglob("*.yaml"))


def rounds(command: list[str], cwd: Path, count: int, claims: int) -> list[Run]:
    """One warming round, then ``count`` measured ones; every one must collect ``claims``
    items and exit 0, or the figures would describe something else."""
    measured = []
    for index in range(count + 1):
        result = run(command, cwd)
        found = COLLECTED.search(result.output)
        if result.status != 0 or found is None or int(found[1]) != claims:
            tail = "\n".join(result.output.splitlines()[-15:])
            raise SystemExit(
                f"{' '.join(command)}: exit {result.status}, expected {claims} items "
                f"collected:\n{tail}"
            )
        if index:
            measured.append(result)
    return measured


def figures(results: list[Run], target: float | None) -> dict[str, Any]:
    times = [r.seconds for r in results]
    median = statistics.median(times)
    return {
        "median_s": round(median, 4),
        "cpu_median_s": round(statistics.median(r.cpu_seconds for r in results), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "rounds_s": [round(t, 4) for t in times],
        "peak_rss_mib": round(max(r.max_rss_kib for r in results) / 1024, 1),
        "target_s": target,
        "over_target": target is not None and median > target,
    }


def show(title: str, numbers: dict[str, Any]) -> None:
    print(title)
    verdict = ""
    if numbers["target_s"] is not None:
        state = "OVER" if numbers["over_target"] else "ok"
        verdict = f"   target < {numbers['target_s']:g} s: {state}"
    print(
        f"  wall    {numbers['median_s']:.3f} s median "
        f"({numbers['min_s']:.3f} to {numbers['max_s']:.3f} over "
        f"{len(numbers['rounds_s'])} rounds){verdict}"
    )
    print(f"  cpu     {numbers['cpu_median_s']:.3f} s median (user and system)")
    print(f"  memory  {numbers['peak_rss_mib']:.1f} MiB peak (max RSS)")


def heaviest_imports(count: int) -> dict[str, Any]:
    """``python -X importtime`` over one collection of the catalogue: the ``count`` modules
    with the largest cumulative import time, and the sum of every module's own time."""
    command = [sys.executable, "-X", "importtime", *CATALOGUE_COMMAND[1:]]
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, check=False, env=child_env()
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit {result.returncode}\n{result.stderr[-2000:]}")
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        own, cumulative, name = line[len("import time:") :].split("|", 2)
        if not own.strip().isdigit():  # the header line
            continue
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((int(cumulative), int(own), name.strip(), depth))
    rows.sort(reverse=True)
    return {
        "total_ms": round(sum(own for _, own, _, _ in rows) / 1000, 1),
        "modules": len(rows),
        "heaviest": [
            {
                "module": name,
                "cumulative_ms": round(cumulative / 1000, 1),
                "self_ms": round(own / 1000, 1),
                "depth": depth,
            }
            for cumulative, own, name, depth in rows[:count]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="measured rounds per command (default 5)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here too")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a median is over its target"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    host = machine()
    print(
        f"machine: {host['cpus']} cores, {host['model'] or 'unknown CPU'}, "
        f"Debian {host['debian'] or '?'}, kernel {host['kernel']}, Python {host['python']}"
    )
    if not GNU_TIME:
        print("no /usr/bin/time (Debian's package time): peak memory figures are upper bounds")
    report: dict[str, Any] = {"machine": host}

    catalogue_claims = count_claims(CATALOGUE)
    catalogue = figures(
        rounds(CATALOGUE_COMMAND, REPO, args.rounds, catalogue_claims), CATALOGUE_TARGET_S
    )
    catalogue["claims"] = catalogue_claims
    catalogue["command"] = "container-claims run --runtime docker -- --collect-only -q"
    report["catalogue"] = catalogue
    show(f"catalogue (scenarios/, {catalogue_claims} claims): {catalogue['command']}", catalogue)

    with tempfile.TemporaryDirectory(prefix="cc-bench-startup-") as scratch:
        many, one, floor = Path(scratch) / "many", Path(scratch) / "one", Path(scratch) / "floor"
        many.mkdir()
        one.mkdir()
        floor.mkdir()
        claims = generate(many, FILES)
        one_claims = generate(one, 1)
        generate(floor, FILES)
        (floor / "conftest.py").write_text(FLOOR_CONFTEST)
        files = figures(
            rounds([*PYTEST_COMMAND, str(many), *PYTEST_OPTIONS], REPO, args.rounds, claims),
            FILES_TARGET_S,
        )
        single = figures(
            rounds([*PYTEST_COMMAND, str(one), *PYTEST_OPTIONS], REPO, args.rounds, one_claims),
            None,
        )
        pytest_floor = figures(
            rounds([*PYTEST_COMMAND, str(floor), *FLOOR_OPTIONS], REPO, args.rounds, claims), None
        )
    per_file_ms = (files["median_s"] - single["median_s"]) / (FILES - 1) * 1000
    files.update(
        files=FILES,
        claims=claims,
        command=f"python -m pytest DIR {' '.join(PYTEST_OPTIONS)}",
        one_file_median_s=single["median_s"],
        per_file_ms=round(per_file_ms, 2),
    )
    report["files"] = files
    show(f"{FILES:,} scenario files ({claims:,} claims): {files['command']}", files)
    print(
        f"  per file {per_file_ms:.2f} ms (the median less one file's, "
        f"{single['median_s']:.3f} s, over {FILES - 1})"
    )
    pytest_floor["command"] = f"python -m pytest DIR {' '.join(FLOOR_OPTIONS)}"
    added_ms = (files["median_s"] - pytest_floor["median_s"]) / FILES * 1000
    files.update(
        pytest_floor_s=pytest_floor["median_s"],
        over_pytest_floor=round(files["median_s"] / pytest_floor["median_s"], 2),
        added_per_file_ms=round(added_ms, 2),
    )
    report["pytest_floor"] = pytest_floor
    show(
        f"pytest's floor, the same files and {claims:,} items from a conftest.py that loads "
        f"nothing: {pytest_floor['command']}",
        pytest_floor,
    )
    print(
        f"  the suite / the floor: {files['over_pytest_floor']:.2f}; the suite adds "
        f"{added_ms:.2f} ms a file (loading, checking and building a scenario)"
    )

    imports = heaviest_imports(10)
    report["imports"] = imports
    print(
        f"imports (python -X importtime, collecting the catalogue once more): "
        f"{imports['modules']} modules, {imports['total_ms']:.0f} ms in all; the heaviest, "
        "cumulatively (indented by their depth in the import tree):"
    )
    for row in imports["heaviest"]:
        indent = "  " * min(row["depth"], 6)
        print(
            f"  {row['cumulative_ms']:7.1f} ms  (own {row['self_ms']:5.1f})  "
            f"{indent}{row['module']}"
        )

    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    over = [name for name in ("catalogue", "files") if report[name]["over_target"]]
    if over:
        print(f"over the target: {', '.join(over)}")
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
