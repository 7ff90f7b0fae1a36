"""What each broken or hostile input costs to refuse, against the cost of a real scenario.

The floor is refusing the largest scenario of the catalogue with one unknown key added: the
path every refusal takes (YAML, the quick schema check, jsonschema saying why), measured now,
in this process. (Loading it valid is no floor for refusals: it skips jsonschema, and each
speed-up of that path would tighten the bounds on refusals that did not change.) Every file of
the corpus (tests/corpus/, plus generated ones at the size limit) is loaded the same way. Its
wall time is reported against the floor's at its size (the floor's time, times the input's
size over the floor file's when it is larger): a loader linear in its input costs the same
per byte whatever the input, so only what costs more per byte than a real scenario shows.
Its peak of allocated memory (tracemalloc) is reported against the floor's. Ratios measured
in one run are comparable between machines; absolute figures are not.

With ``--check`` the script fails (exit 1) when an input costs more than the bounds below:
an input that makes the loader expand, recurse or backtrack shows here as a ratio that grows
with the input, long before it shows as a hung run.

Then inputs of many errors are made at two sizes, the second :data:`GROWTH` times the first
(thousands of bad steps, lists and mappings of mixed types, names no step saves...): what the
larger costs, against the smaller, must stay near :data:`GROWTH` times, as for anything linear
in its input (a cost quadratic in it would be ``GROWTH`` squared), and the larger is held to
the time bound above.

    .venv/bin/python benchmarks/corpus_bounds.py [--check] [--repeat N]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from container_claims import cli
from container_claims.errors import InputError
from container_claims.scenario import load_scenario
from container_claims.scenario.source import MAX_BYTES

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "corpus"
FLOOR_SCENARIO = REPO / "scenarios" / "filesystem.yaml"

#: The most an input may cost: in time, as a multiple of the floor at its size; in memory, of
#: the floor's peak. Seen here: at most 6 to 9 times the time (a 4 KiB file of bad steps, 20
#: of them explained; the 1 MiB flow list, refused at 100,000 values, 0.5 to 0.7), and 10
#: times the memory (a 1 MiB list of aliases). What grows with its input (expansion,
#: recursion, backtracking) would be far beyond: a few hundred bytes that expand cost the
#: floor's time many times over.
TIME_BOUND = 20.0
MEMORY_BOUND = 100.0

#: How many times larger the second size of a growing input is than the first.
GROWTH = 4
#: The most the larger may cost against the smaller, over GROWTH: linear is 1, quadratic
#: GROWTH. Seen here: 0.9 to 1.2.
GROWTH_BOUND = 2.0

_CLAIM = "claims: [{id: a, says: A, expect: [{that: image, equals: x}]}]\n"
_MAIN = "container:\n  command: [/bin/bash]\n"


def _items(n: int, *kinds: Callable[[int], str]) -> str:
    """``n`` flow items, the kinds taking turns, each made from its index."""
    return ", ".join(kinds[i % len(kinds)](i) for i in range(n))


#: Files with ``n`` errors (or ``n`` items that cost to check), as text.
GROWING: dict[str, Callable[[int], str]] = {
    "bad-steps": lambda n: "section: S\nsteps: [" + ",".join(["1"] * n) + "]\n" + _CLAIM,
    "bad-steps-mappings": lambda n: (
        ("section: S\nsteps: [" + _items(n, lambda i: f"{{x: {i}}}", lambda i: "{}") + "]\n")
        + _CLAIM
    ),
    "tmpfs-mixed-types": lambda n: (
        (f"section: S\n{_MAIN}  tmpfs: [" + _items(n, str, lambda i: f"/t{i}") + ", /t1]\n")
        + _CLAIM
    ),
    "ports-mixed-types": lambda n: (
        (
            f"section: S\n{_MAIN}  network: bridge\n  ports: ["
            + _items(n, lambda i: str(i + 1), lambda i: f"p{i}", lambda i: f"[{i}]")
            + ", 1]\n"
        )
        + _CLAIM
    ),
    "requires-mixed-types": lambda n: (
        "section: S\nrequires: [" + _items(n, str, lambda i: f"r{i}") + "]\n" + _CLAIM
    ),
    "volumes-mixed-types": lambda n: (
        (f"section: S\n{_MAIN}  volumes: {{" + _items(n, lambda i: f"v{i}: {i}") + "}\n") + _CLAIM
    ),
    "labels-bad-names": lambda n: (
        (f"section: S\n{_MAIN}  labels: {{" + _items(n, lambda i: f"L{i}: {i}") + "}\n") + _CLAIM
    ),
    "directories-many": lambda n: (
        "section: S\ndirectories: {" + _items(n, lambda i: f"d{i}: {{x: {i}}}") + "}\n" + _CLAIM
    ),
    "unknown-keys": lambda n: (
        ("section: S\ncontainer: {command: [sh], " + _items(n, lambda i: f"k{i}: 1") + "}\n")
        + _CLAIM
    ),
    "unknown-probes": lambda n: (
        "section: S\nsteps: [" + _items(n, lambda i: f"{{probe: host.x{i}}}") + "]\n" + _CLAIM
    ),
    "names-no-step-saves": lambda n: (
        "section: S\nsteps:\n"
        + "".join(f"  - {{probe: host.hostname, save: s{i}}}\n" for i in range(n))
        + "claims:\n  - id: a\n    says: A\n    expect:\n"
        + "".join(f"      - {{that: q{i}, equals: x}}\n" for i in range(n))
    ),
    "stops-of-unknown-containers": lambda n: (
        "section: S\nsteps:\n"
        + "".join(f"  - run: {{command: [sh], detach: true, name: c{i}}}\n" for i in range(n))
        + "".join(f"  - stop: z{i}\n" for i in range(n))
        + _CLAIM
    ),
}

#: The smaller size of each growing input.
GROWING_FROM = 2_000


def measure(load: Callable[[], object], repeat: int) -> tuple[float, int]:
    """Median seconds over ``repeat`` loads, and the peak of allocated bytes of one more
    (traced apart: tracing slows allocation, and would inflate the times)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        began = time.perf_counter()
        with contextlib.suppress(InputError):
            load()
        times.append(time.perf_counter() - began)
    gc.collect()
    tracemalloc.start()
    with contextlib.suppress(InputError):
        load()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak


def _quiet(argv: list[str]) -> Callable[[], object]:
    def run() -> object:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            return cli.main(argv)

    return run


def inputs(scratch: Path) -> dict[str, tuple[Callable[[], object], int]]:
    """Every corpus file as the suite reads it, and generated files at the size limit, each
    with its size in bytes."""
    loads: dict[str, tuple[Callable[[], object], int]] = {}
    for path in sorted((CORPUS / "scenario_files").iterdir()):
        loads[f"scenario_files/{path.name}"] = (_load(path), path.stat().st_size)
    for path in sorted((CORPUS / "runtimes").iterdir()):
        loads[f"runtimes/{path.name}"] = (
            _quiet(["runtimes", "--runtimes-file", str(path)]),
            path.stat().st_size,
        )
    for path in sorted((CORPUS / "results").iterdir()):
        loads[f"results/{path.name}"] = (_quiet(["report", str(path)]), path.stat().st_size)
    generated = {
        "at-limit-comments.yaml": "claims: []\n" + "#\n" * ((MAX_BYTES - 20) // 2),
        "at-limit-one-value.yaml": "claims: []\nsummary: " + "x" * (MAX_BYTES - 40) + "\n",
        "at-limit-flow-list.yaml": "claims: [" + "1," * ((MAX_BYTES - 20) // 2) + "1]\n",
        "at-limit-aliases.yaml": "a: &a [1]\nclaims: [" + "*a," * ((MAX_BYTES - 30) // 3) + "*a]\n",
    }
    for name, text in generated.items():
        path = scratch / name
        path.write_text(text)
        loads[f"generated/{name}"] = (_load(path), len(text))
    return loads


def _load(path: Path) -> Callable[[], object]:
    return lambda: load_scenario(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a bound is exceeded")
    parser.add_argument("--repeat", type=int, default=3, help="loads per input (median)")
    args = parser.parse_args(argv)

    over = []
    with tempfile.TemporaryDirectory(prefix="cc-bench-") as scratch:
        floor = Path(scratch) / FLOOR_SCENARIO.name
        floor.write_text(FLOOR_SCENARIO.read_text() + "surprise: 1\n")

        def refuse_floor() -> None:
            with contextlib.suppress(InputError):
                load_scenario(floor)
                raise SystemExit(f"{floor.name} with an unknown key was not refused")

        refuse_floor()  # imports and caches (schemas, probes) are not the floor
        floor_time, floor_memory = measure(refuse_floor, args.repeat * 10)  # small: noisy
        floor_size = floor.stat().st_size
        print(
            f"floor: {FLOOR_SCENARIO.relative_to(REPO)} with an unknown key "
            f"({floor_size / 1024:.1f} KiB) is refused in {floor_time * 1000:.1f} ms, "
            f"peak {floor_memory / 1024:.0f} KiB allocated"
        )

        def time_ratio(seconds: float, size: int) -> float:
            """``seconds`` against the floor's time at ``size`` bytes (see the docstring)."""
            return seconds / (floor_time * max(1.0, size / floor_size))

        print(f"{'input':50} {'size':>8} {'time':>8} {'x floor':>8} {'memory':>9} {'x floor':>8}")
        for name, (load, size) in inputs(Path(scratch)).items():
            seconds, peak = measure(load, args.repeat)
            ratio, memory_ratio = time_ratio(seconds, size), peak / floor_memory
            flag = ""
            if ratio > TIME_BOUND or memory_ratio > MEMORY_BOUND:
                over.append(name)
                flag = "  OVER"
            print(
                f"{name:50} {size / 1024:6.0f}KiB {seconds * 1000:6.1f}ms {ratio:8.2f} "
                f"{peak / 1048576:7.1f}MB {memory_ratio:8.1f}{flag}"
            )
        print(
            f"bounds: {TIME_BOUND:g} x the floor's time at the input's size, "
            f"{MEMORY_BOUND:g} x its memory"
        )
        print()
        small, large = GROWING_FROM, GROWING_FROM * GROWTH
        print(
            f"{'growing input':30} {small:>8,} {large:>8,} {'x floor':>8} "
            f"{'growth':>7} {'memory':>7}"
        )
        for name, make in GROWING.items():
            costs, size = [], 0
            for n in (small, large):
                path = Path(scratch) / f"{name}-{n}.yaml"
                size = path.write_text(make(n))
                costs.append(measure(_load(path), args.repeat))
            (t_small, m_small), (t_large, m_large) = costs
            time_growth = t_large / t_small / GROWTH
            memory_growth = m_large / m_small / GROWTH
            ratio = time_ratio(t_large, size)
            flag = ""
            if time_growth > GROWTH_BOUND or memory_growth > GROWTH_BOUND or ratio > TIME_BOUND:
                over.append(name)
                flag = "  OVER"
            print(
                f"{name:30} {t_small * 1000:6.0f}ms {t_large * 1000:6.0f}ms "
                f"{ratio:8.2f} {time_growth:7.2f} {memory_growth:7.2f}{flag}"
            )
    print(f"bound: growing {GROWTH} times, at most {GROWTH_BOUND:g} x {GROWTH} times the cost")
    if over:
        print(f"over the bounds: {', '.join(over)}")
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
