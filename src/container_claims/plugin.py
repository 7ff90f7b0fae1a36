"""The pytest plugin: scenario files become items, one per claim and runtime.

It acts only when a run asks for claims (:func:`claims_asked`): ``--claims`` or another of
its options (``pytest scenarios/ --runtime docker``), an argument inside a folder the
project's ``claims_paths`` setting names, or ``container-claims run``. Any other pytest run,
of this project or another, goes as if the plugin were not installed: it collects nothing,
sweeps nothing, and leaves SIGTERM alone.

In a claims run, the scenario files are collected (see
:func:`~container_claims.collect.is_scenario_file`). Each claim on each runtime is one item,
e.g. ``scenarios/process-namespace.yaml::shell-is-pid-1[docker]``. A scenario runs once per
runtime, on its first selected claim; its other claims reuse the observations.

Verdicts map onto pytest outcomes: pass → passed, fail → failed (expected vs observed),
not applicable → skipped (with the reason), error (could not observe) → error in setup.

This module is the entry point (``pytest11``): the options (those of a run are
:mod:`.options`, shared with ``container-claims run``) and the hooks. The rest lives in
one module each: :mod:`.collect` (files and items), :mod:`.session` (runtimes, scenarios,
services, cleanup), :mod:`.records` (reports become result records), :mod:`.scheduling`.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from container_claims import records
from container_claims.collect import (
    ClaimItem,
    DuplicateClaim,
    ScenarioFile,
    input_error_record,
    is_scenario_file,
    load_for,
    scenario_files,
)
from container_claims.errors import InputError
from container_claims.options import (
    AFTER_THE_RUN,
    BASELINE,
    CHOOSING,
    EXPECT,
    HTML,
    JSON,
    MAP,
    MARKDOWN,
    PYTEST_OPTIONS,
)
from container_claims.run_outputs import Baseline, gate, write_run_reports
from container_claims.scheduling import UNITS, claim_item_name
from container_claims.session import RUNTIMES, SESSION, ClaimsSession

#: The ini setting that names a project's scenario folders.
CLAIMS_PATHS = "claims_paths"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        CLAIMS_PATHS,
        type="paths",
        default=[],
        help="container-claims: the project's scenario folders (or files), relative to this "
        "file. A run whose arguments are in one of them checks its claims, as --claims would; "
        "any other run is left alone.",
    )
    group = parser.getgroup("container-claims", "container-claims: claims checked on real runtimes")
    group.addoption(
        "--claims",
        dest="claims",
        action="store_true",
        default=False,
        help="check the claims of the scenario files the arguments name (every option below "
        "asks for that too, as does an argument inside a claims_paths folder). Without one, "
        "this plugin does nothing: it collects no YAML file and sweeps nothing.",
    )
    for option in PYTEST_OPTIONS:  # the run options, as container-claims run takes them
        group.addoption(option.pytest_flag, dest=option.dest, **option.argparse_keywords())


def claims_asked(config: pytest.Config) -> bool:
    """Whether this run checks claims: the CLI's run (it hands its runtimes on), one of this
    plugin's options, or an argument at or inside a ``claims_paths`` folder (a run of the
    project's other tests, or of a folder above the scenarios, is not one). An xdist worker
    does what its controller does."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return "claims_run_id" in workerinput
    if RUNTIMES in config.stash:
        return True
    if config.getoption("claims") or any(
        config.getoption(option.dest) for option in PYTEST_OPTIONS
    ):
        return True
    folders = [Path(os.path.abspath(path)) for path in config.getini(CLAIMS_PATHS)]
    for arg in config.args:
        target = Path(os.path.abspath(config.invocation_params.dir / arg.split("::")[0]))
        if any(target == folder or target.is_relative_to(folder) for folder in folders):
            return True
    return False


def _active(config: pytest.Config) -> bool:
    return SESSION in config.stash


def pytest_configure(config: pytest.Config) -> None:
    if not claims_asked(config):
        return  # not asked: no session, no hooks of its, as if not installed
    config.addinivalue_line("markers", "claim(id): a claim from a scenario file")
    session = ClaimsSession(config)
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "container-claims-session")
    config.pluginmanager.register(records, "container-claims-records")
    if any(config.getoption(option.dest) for option in CHOOSING.values()):
        session.configs()  # asked for explicitly: a bad name or file is a usage error now
    if not session.is_worker and any(config.getoption(option.dest) for option in AFTER_THE_RUN):
        config.pluginmanager.register(AfterTheRun(config, session), "container-claims-after")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if _active(parent.config) and is_scenario_file(file_path, parent.config):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    if not _active(session.config):
        return (yield)
    with _made_to_last():
        return (yield)


@contextlib.contextmanager
def _made_to_last() -> Iterator[None]:
    """Loading scenarios makes objects that live as long as the run, and little garbage:
    Python's cycle collector, which would walk every one of them again and again (a third of
    collecting 1,000 files, and once more at exit), is off meanwhile, and what exists before
    and after is frozen out of its walks (``gc.freeze``: still freed by reference counts)."""
    collecting = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
        gc.freeze()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under xdist the controller collects nothing: it loads the scenario files itself, so
    that bad input counts the same as in a serial run, whatever -k deselects."""
    if not _active(session.config) or getattr(session.config, "workerinput", None) is not None:
        return
    if getattr(session.config.option, "dist", "no") == "no":
        return
    state = session.config.stash[SESSION]
    units = session.config.stash.setdefault(UNITS, {})
    with _made_to_last():
        for path in scenario_files(session.config):
            scenario, errors = load_for(state, path)
            for error in errors:
                state.add_input_error(input_error_record(error, path))
            duplicated = {e.claim_id for e in errors if isinstance(e, DuplicateClaim)}
            for claim in scenario.claims if scenario is not None else []:
                if claim.id not in duplicated:
                    for runtime in state.configs():  # a scenario on a runtime: one unit of work
                        unit = f"{path}::{runtime.name}"
                        units.setdefault(claim_item_name(claim.id, runtime.name), unit)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Serially (no -n), runtimes share nothing and need not wait for each other: each one's
    scenarios are observed in a thread of its own while the items report in their order."""
    config = session.config
    if (
        not _active(config)
        or config.option.collectonly
        or getattr(config, "workerinput", None) is not None
        or getattr(config.option, "dist", "no") != "no"
        or config.getoption("claims_one_runtime_at_a_time")
    ):
        return
    plan: dict[str, tuple[Any, list[tuple[Any, list[Any]]]]] = {}
    for item in session.items:
        if isinstance(item, ClaimItem):
            _, scenarios = plan.setdefault(item.runtime_name, (item.runtime_config, []))
            if not scenarios or scenarios[-1][0] is not item.scenario:
                scenarios.append((item.scenario, []))
            scenarios[-1][1].append(item.claim)
    config.stash[SESSION].side_by_side(plan)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``-n``, a scenario's claims on one runtime go to one worker, so the scenario
    starts its containers once and all its claims rest on the same observations."""
    if not _active(config) or config.getoption("dist") not in ("load", "loadgroup"):
        return None  # not a claims run, or the user chose a distribution mode: theirs
    from container_claims.scheduling import ScenarioScheduling

    return ScenarioScheduling(config, log)


class AfterTheRun:
    """What the results make, through pytest: ``--claims-html`` and ``--claims-markdown``
    write the run's report, ``--claims-baseline`` (with ``--claims-map``) prints what moved
    since and makes "nothing regressed" the exit status, as ``container-claims run`` does
    with its own spellings. Checked when the run is configured, applied when it ends."""

    def __init__(self, config: pytest.Config, session: ClaimsSession) -> None:
        self.config = config
        self.session = session
        self.moved: Any = None
        names = [runtime.name for runtime in session.configs()]
        try:
            self.baseline = Baseline.load(
                config.getoption(BASELINE.dest), config.getoption(MAP.dest), names
            )
        except InputError as exc:
            raise pytest.UsageError(str(exc)) from None

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Any:
        # Within the terminal's own wrapper: after the session's results are complete, before
        # the terminal summary, which shows what moved.
        outcome = yield
        results, name = self.session.results, self.config.getoption(JSON.dest)
        write_run_reports(
            results,
            name,
            html=self.config.getoption(HTML.dest),
            markdown=self.config.getoption(MARKDOWN.dest),
        )
        if self.baseline is not None and (results.results or results.input_errors):
            self.moved = self.baseline.moved(results, name)
            expecting = bool(self.config.getoption(EXPECT.dest))
            session.exitstatus = gate(self.moved, results, results.exit_code(), expecting=expecting)
        return outcome

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.baseline is not None and self.moved is not None:
            for line in self.baseline.lines(self.moved):
                terminalreporter.write_line(line)
