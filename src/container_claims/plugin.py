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

This module is the entry point (``pytest11``): the options and the hooks. The rest lives in
one module each: :mod:`.collect` (files and items), :mod:`.session` (runtimes, scenarios,
services, cleanup), :mod:`.records` (reports become result records), :mod:`.scheduling`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from container_claims import records
from container_claims.collect import (
    ClaimItem,
    ScenarioFile,
    input_error_record,
    is_scenario_file,
    load_for,
    scenario_files,
)
from container_claims.image import DEFAULT_IMAGE
from container_claims.session import SESSION, Choice, ClaimsSession

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
    group.addoption(
        "--runtime",
        action="append",
        default=[],
        dest="claims_runtimes",
        metavar="NAME",
        help="runtime to check the claims on (repeat for several; 'all' for every one); default: "
        "the first entry of the runtimes file. 'container-claims runtimes' lists them.",
    )
    group.addoption(
        "--runtimes-file",
        dest="claims_runtimes_file",
        metavar="FILE",
        default=None,
        help="YAML file of runtime configurations (default: the packaged runtimes.yaml).",
    )
    group.addoption(
        "--image",
        dest="claims_image",
        metavar="REF",
        default=None,
        help=f"image the scenarios run (default: {DEFAULT_IMAGE}, built by "
        "'container-claims image build').",
    )
    group.addoption(
        "--allow-host-access",
        dest="claims_allow_host_access",
        action="store_true",
        default=False,
        help="let scenarios open the host to their containers (host network...); without it "
        "such a scenario file is refused. Only for files you trust.",
    )
    group.addoption(
        "--run-deadline",
        dest="claims_run_deadline",
        metavar="SECONDS",
        type=float,
        default=None,
        help="stop observing after SECONDS: the claims left become errors.",
    )
    group.addoption(
        "--runtime-deadline",
        dest="claims_runtime_deadline",
        metavar="SECONDS",
        type=float,
        default=None,
        help="give each runtime at most SECONDS from its first container: its claims left "
        "become errors.",
    )
    group.addoption(
        "--expect",
        action="append",
        default=[],
        dest="claims_expect",
        metavar="FILE",
        help="expected verdicts (a reviewed YAML file of accepted fails and errors, each with "
        "its reason): a result as expected does not fail the run (xfail); one no longer as "
        "expected does (strict). Repeat for several files; the first matching entry wins.",
    )
    group.addoption(
        "--one-runtime-at-a-time",
        dest="claims_one_runtime_at_a_time",
        action="store_true",
        default=False,
        help="observe the runtimes one after the other; by default, without -n, each runtime's "
        "scenarios run in a thread of their own, side by side (the items report in order).",
    )
    group.addoption(
        "--claims-json",
        dest="claims_json",
        metavar="FILE",
        default=None,
        help="write every verdict with its evidence to FILE as JSON.",
    )


#: Options of this plugin: giving any of them asks for claims.
_CLAIMS_OPTIONS = (
    "claims",
    "claims_runtimes",
    "claims_runtimes_file",
    "claims_image",
    "claims_allow_host_access",
    "claims_run_deadline",
    "claims_runtime_deadline",
    "claims_expect",
    "claims_one_runtime_at_a_time",
    "claims_json",
)


def claims_asked(config: pytest.Config) -> bool:
    """Whether this run checks claims: the CLI's run, one of this plugin's options, or an
    argument at or inside a ``claims_paths`` folder (a run of the project's other tests, or
    of a folder above the scenarios, is not one). An xdist worker does what its controller
    does."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return "claims_run_id" in workerinput
    if any(isinstance(plugin, Choice) for plugin in config.pluginmanager.get_plugins()):
        return True
    if any(config.getoption(option) for option in _CLAIMS_OPTIONS):
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
    if config.getoption("claims_runtimes") or config.getoption("claims_runtimes_file"):
        session.configs()  # asked for explicitly: a bad name or file is a usage error now


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if _active(parent.config) and is_scenario_file(file_path, parent.config):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under xdist the controller collects nothing: it loads the scenario files itself, so
    that bad input counts the same as in a serial run, whatever -k deselects."""
    if not _active(session.config) or getattr(session.config, "workerinput", None) is not None:
        return
    if getattr(session.config.option, "dist", "no") == "no":
        return
    state = session.config.stash[SESSION]
    for path in scenario_files(session.config):
        for error in load_for(state, path)[1]:
            state.add_input_error(input_error_record(error, path))


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
