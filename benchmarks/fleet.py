"""What a machine reached over ssh costs, as ratios to the same catalogue on this machine.

Two test hosts (``tests/support/test_hosts.py``: their own namespaces, dockerd and sshd on a
private link) and this machine; round after round, alternating:

* the catalogue on this machine's docker (the floor);
* the catalogue on one test host's docker, over ssh;
* the fleet: this machine and both test hosts in one run, side by side.

The ratios say what ssh adds per machine (the host-side readings are one command each, as
sessions on one shared connection) and how much of a fleet runs at once. Prints medians with
their spread; no assertion. Needs root and ``scripts/setup``.

    .venv/bin/python benchmarks/fleet.py [--rounds 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from measure import machine_words, run

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test hosts live with the tests

from tests.support.test_hosts import TestHost, write_fleet_file  # noqa: E402

KINDS = {"this machine": ["docker"], "one host": ["docker-cc-bench-a"], "fleet of three": ["all"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with (
        tempfile.TemporaryDirectory(prefix="cc-bench-fleet-") as scratch,
        TestHost("cc-bench-a") as first,
        TestHost("cc-bench-b") as second,
    ):
        runtimes = write_fleet_file(Path(scratch) / "fleet.yaml", [first, second])
        for number in range(1, args.rounds + 1):
            for kind, names in KINDS.items():
                command = [sys.executable, "-m", "container_claims", "run", "-q", "scenarios"]
                command += ["--runtimes-file", str(runtimes)]
                command += [arg for name in names for arg in ("--runtime", name)]
                done = run(command, REPO)
                if done.status not in (0, 1):  # 1: the claims that fail on docker, as expected
                    print(done.output[-2000:], file=sys.stderr)
                    return 1
                seconds[kind].append(done.seconds)
                print(f"round {number}: {kind}: {done.seconds:.1f} s", file=sys.stderr)
    medians = {kind: statistics.median(found) for kind, found in seconds.items()}
    floor = medians["this machine"]
    print(f"fleet benchmark, {machine_words()}; medians of {args.rounds} rounds")
    for kind, found in seconds.items():
        spread = f"{min(found):.1f}–{max(found):.1f}"
        print(f"  {kind:16} {medians[kind]:6.1f} s ({spread})  {medians[kind] / floor:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"seconds": seconds, "medians": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
