"""``container-claims run``: its runtimes resolved once, then pytest with the plugin, once per
round, on a command line that makes the scenario folders data; then what the results make
(a report, the comparison with a baseline) and the exit code."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from container_claims import packaged
from container_claims import results as verdicts
from container_claims.errors import InputError
from container_claims.options import AFTER_THE_RUN, CHOOSING, PYTEST_OPTIONS
from container_claims.paths import state_dir

if TYPE_CHECKING:
    from container_claims.cli.against import Replay
    from container_claims.run_outputs import Baseline
    from container_claims.runtimes.base import RuntimeConfig

#: The run options pytest takes from ``run``: not the runtimes (resolved here, handed on as
#: they are) nor what the results make (made here, after every round).
_TO_PYTEST = [
    option
    for option in PYTEST_OPTIONS
    if option not in CHOOSING.values() and option not in AFTER_THE_RUN
]


def run(args: argparse.Namespace) -> int:
    from container_claims.runtimes import choose_runtimes

    # Unknown runtimes and bad runtimes files: one line and exit 2, before pytest starts; the
    # runtimes chosen go to the plugin as they are, not resolved again.
    with contextlib.ExitStack() as cleanup:
        given = {key: getattr(args, option.cli_dest) for key, option in CHOOSING.items()}
        chosen = choose_runtimes(cleanup, **given)
        if args.against:
            from container_claims.cli.against import replayed

            replay = cleanup.enter_context(replayed(args))  # its folder goes with the stack
            args.paths = [str(replay.folder)]
            return _run(args, chosen, replay)
        return _run(args, chosen)


def _run(
    args: argparse.Namespace, chosen: list[RuntimeConfig], replay: Replay | None = None
) -> int:
    import pytest

    from container_claims.expectations import load_expectations
    from container_claims.run_outputs import Baseline, write_run_reports
    from container_claims.session import ChosenRuntimes

    load_expectations([Path(path) for path in args.expect])  # a bad file: exit 2 before any run
    baseline = Baseline.load(args.baseline, args.map, [config.name for config in chosen])
    rounds: list[Any] = []
    for number in range(1, args.repeat + 1):
        if args.repeat > 1:
            print(f"container-claims: round {number} of {args.repeat}", file=sys.stderr)
        outcome = _Outcome()
        plugins = [outcome, ChosenRuntimes(chosen), *(replay.plugins() if replay else [])]
        code = pytest.main(pytest_arguments(args), plugins=plugins)
        if outcome.interrupted or outcome.results is None:
            break
        rounds.append(outcome.results)
    reports = replay.write_reports if replay else write_run_reports
    reports(outcome.results, args.json, html=args.html, markdown=args.markdown)
    if outcome.interrupted:
        return verdicts.EXIT_INTERRUPTED
    if len(rounds) > 1:
        return _report_stability(args, rounds)
    if outcome.results is not None and (outcome.results.results or outcome.results.input_errors):
        code = int(outcome.results.exit_code())
        if baseline is not None:
            code = _against_baseline(args, baseline, outcome.results, code)
        return code
    if code == pytest.ExitCode.USAGE_ERROR:
        return verdicts.EXIT_INPUT
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("container-claims: no claims selected: check the paths and -k", file=sys.stderr)
        return verdicts.EXIT_INPUT
    if code == pytest.ExitCode.INTERRUPTED:
        return verdicts.EXIT_INTERRUPTED
    return verdicts.EXIT_UNOBSERVED if code != pytest.ExitCode.OK else verdicts.EXIT_OK


def _against_baseline(args: argparse.Namespace, baseline: Baseline, results: Any, code: int) -> int:
    """``run --baseline``: print what moved since the baseline; the gate is then "nothing
    regressed", joined with --expect's when given."""
    from container_claims.run_outputs import gate

    moved = baseline.moved(results, args.json)
    for line in baseline.lines(moved):
        print(line)
    return gate(moved, results, code, expecting=bool(args.expect))


def pytest_arguments(args: argparse.Namespace) -> list[str]:
    """The pytest command line of ``run`` (its runtimes go to the plugin as they are: see
    :class:`~container_claims.session.ChosenRuntimes`)."""
    paths = args.paths or [packaged.default_scenarios()]
    for path in paths:
        if not Path(path.split("::")[0]).exists():  # a file, or a claim in it (FILE::ID)
            raise InputError(f"{path}: no such file or folder (give scenario files or folders)")
    # The plugin's package is imported already (this module), so pytest cannot rewrite its
    # asserts; it has none to rewrite, so the warning would only be noise.
    argv = [*paths, "-W", "ignore::pytest.PytestAssertRewriteWarning", *as_data(paths)]
    for option in _TO_PYTEST:
        argv += option.as_pytest_arguments(getattr(args, option.cli_dest))
    for flag, value in (("--junitxml", args.junitxml), ("-n", args.workers), ("-k", args.keyword)):
        if value:
            argv += [flag, str(value)]
    if args.junitxml:
        # Each claim's evidence as its system-out, where CI test reporters show it; the
        # terminal already shows it in the claim's report, so not twice.
        argv += ["-o", "junit_logging=system-out", "--show-capture=no"]
    if args.exitfirst:
        argv.append("-x")
    argv.append("-q" if args.quiet else "-v")
    return argv + list(args.pytest_args)


def _report_stability(args: argparse.Namespace, rounds: list[Any]) -> int:
    """``run --repeat``: per claim and runtime, the verdict of every round, and whether it held
    still. Written into the last round's JSON as ``stability``; the exit code counts all."""
    from container_claims.report.text import printable

    seen: dict[tuple[str, str], list[str]] = {}
    for results in rounds:
        for record in results.to_json()["results"]:
            seen.setdefault((record["claim"], record["runtime"]), []).append(record["verdict"])
    unstable = {
        key: found for key, found in seen.items() if len(set(found)) > 1 or len(found) < len(rounds)
    }
    print(
        f"container-claims: {len(rounds)} rounds: {len(seen) - len(unstable)} of {len(seen)} "
        "claim and runtime pairs gave the same verdict every time"
        + (f"; {len(unstable)} did not:" if unstable else "")
    )
    for (claim, runtime), found in unstable.items():
        print(printable(f"  unstable: {claim} on {runtime}: {', '.join(found)}", lines=False))
    if args.json:
        last = rounds[-1]
        data = last.to_json()
        data["stability"] = [
            {
                "claim": claim,
                "runtime": runtime,
                "verdicts": found,
                "stable": (claim, runtime) not in unstable,
            }
            for (claim, runtime), found in seen.items()
        ]
        path = Path(args.json)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    return verdicts.worst(int(results.exit_code()) for results in rounds)


class _Outcome:
    """Receives the plugin's results when pytest finishes, and whether it was interrupted."""

    results: Any = None
    interrupted = False

    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True

    def pytest_sessionfinish(self, session: Any) -> None:
        from container_claims.session import SESSION

        self.results = session.config.stash[SESSION].results


#: The pytest configuration of every run (see the file): the package's own.
RUN_CONFIG = Path(__file__).parent.parent / "run.ini"


def as_data(paths: list[str]) -> list[str]:
    """pytest's options that make the scenario folders data: the run imports no code from
    them or from above them, and reads no pytest configuration there or where it starts.

    * ``-c``: the package's own configuration, so pytest looks for no pytest.ini, tox.ini,
      setup.cfg or pyproject.toml (their ``addopts``, ``-p``, ``pythonpath``...);
    * ``--rootdir``: where pytest's own rule puts it when no configuration is found (the
      directory common to the paths and the one the run starts in, or the paths' own when
      they share only ``/``), so the claims' ids stay as they were, without a search;
    * ``--noconftest``: no conftest.py, in the folders or above them (the run needs none:
      the plugin comes from its entry point, the rest from this command line);
    * ``-p no:python``, ``-p no:doctest``: no test module, no package's ``__init__.py``, no
      doctest file is collected, so none is imported or run;
    * the cache (what ``--lf`` reads) in the suite's state directory, one per rootdir, not in
      a folder of data.
    """
    root = _rootdir(paths)
    key = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return [
        "-c", str(RUN_CONFIG), "--rootdir", str(root), "--noconftest",
        "-p", "no:python", "-p", "no:doctest",
        "-o", f"cache_dir={state_dir() / 'pytest-cache' / key}",
    ]  # fmt: skip


def _rootdir(paths: list[str]) -> Path:
    # The packaged catalogue is its own root: its files are named scenarios/NAME.yaml, as in
    # a checkout and in the baselines, wherever the package is installed.
    if all(
        Path(os.path.abspath(path.split("::")[0])).is_relative_to(packaged.ROOT) for path in paths
    ):
        return packaged.ROOT
    folders = [
        target if target.is_dir() else target.parent
        for target in (Path(os.path.abspath(path.split("::")[0])) for path in paths)
    ]
    common = Path(os.path.commonpath(folders))
    root = Path(os.path.commonpath([Path.cwd(), common]))
    return common if root == Path(root.anchor) else root
