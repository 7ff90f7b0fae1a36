"""Fixtures for tests that drive a real Docker engine (marker ``engine``).

They run the suite the way a user does, through ``python -m container_claims run``, and read
the verdicts from its ``--json`` file. Everything they create carries the suite's run label
or is removed by the fixture that made it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from container_claims.runtimes import load_runtimes_file

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
CONTROLS = REPO / "tests" / "controls"
RUN_LABEL = "org.container-claims.run"
#: Every runtime of the packaged runtimes file (as `--runtime all` names them), and the
#: verdicts shipped for this machine.
RUNTIMES = [config.name for config in load_runtimes_file()]
EXPECTATIONS = REPO / "expectations" / "debian12.yaml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.path).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.engine)


@dataclass
class Run:
    """One run of the suite: its exit code, output, and results by (claim, runtime)."""

    returncode: int
    output: str
    data: dict[str, Any]

    def verdict(self, claim: str, runtime: str) -> str:
        return str(self.record(claim, runtime)["verdict"])

    def record(self, claim: str, runtime: str) -> dict[str, Any]:
        for record in self.data.get("results", []):
            if record["claim"] == claim and record["runtime"] == runtime:
                return dict(record)
        raise AssertionError(f"no result for {claim} on {runtime}:\n{self.output[-3000:]}")


def run_suite(
    *args: str, tmp: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> Run:
    """``container-claims run ARGS --json FILE`` in the repository, as a user would."""
    out = tmp / f"results-{len(list(tmp.glob('results-*.json')))}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "container_claims", "run", "-q", *args, "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    data = json.loads(out.read_text()) if out.exists() else {}
    return Run(proc.returncode, proc.stdout + proc.stderr, data)


@dataclass
class CountedRun:
    """A run, and the containers it started, counted per scenario run (its token)."""

    run: Run
    starts: dict[str, int]


def run_counting_starts(*args: str, tmp: Path) -> CountedRun:
    """:func:`run_suite`, with the engine's start events of the run's containers counted."""
    # Streamed while the run goes: the engine keeps only its last 256 events for a later
    # --since query, fewer than a run of the whole catalogue makes.
    events = subprocess.Popen(
        [
            "docker", "events", "--filter", f"label={RUN_LABEL}", "--filter", "event=start",
            "--format", "{{.Actor.Attributes.name}}",
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(0.5)  # subscribed before the first container starts
        run = run_suite(*args, tmp=tmp)
        time.sleep(0.5)  # the last start event delivered
    finally:
        events.terminate()  # the process we started, by its PID
        streamed, _ = events.communicate(timeout=10)
    assert run.data.get("results"), run.output[-3000:]
    prefix = f"cc-{run.data['run_id']}-"
    counted: dict[str, int] = {}
    for name in streamed.split():
        # One first container per process and runtime (preflight) is not a scenario's.
        if name.startswith(prefix) and "-preflight-" not in name:
            token = name.split("-")[2]  # cc-RUNID-TOKEN-...: TOKEN is one scenario's run
            counted[token] = counted.get(token, 0) + 1
    return CountedRun(run, counted)


@pytest.fixture(scope="session")
def docker_catalogue(engine: None, tmp_path_factory: pytest.TempPathFactory) -> CountedRun:
    """The whole catalogue on docker in one process, as ``container-claims run`` does it by
    default: one run shared by every test that reads it (the article's verdicts, the
    containers each scenario starts, the "before" of an upgrade)."""
    return run_counting_starts(
        "scenarios", "--runtime", "docker", tmp=tmp_path_factory.mktemp("docker-catalogue")
    )


@pytest.fixture(scope="session")
def docker_catalogue_in_two(engine: None, tmp_path_factory: pytest.TempPathFactory) -> CountedRun:
    """The same, spread over two worker processes (``-n 2``)."""
    return run_counting_starts(
        "scenarios", "--runtime", "docker", "-n", "2", tmp=tmp_path_factory.mktemp("docker-n2")
    )


@pytest.fixture(scope="session")
def five(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the five-runtime run (its JUnit file is ``side.xml`` there)."""
    return tmp_path_factory.mktemp("five")


@pytest.fixture(scope="session")
def all_runtimes(engine: None, five: Path) -> Run:
    """The whole catalogue on every packaged runtime side by side, several scenarios of each
    at once (the defaults without -n), gated on the expectations, as CI gates it: one run,
    shared by the tests that read its verdicts (each kind's own tests too)."""
    args = [arg for name in RUNTIMES for arg in ("--runtime", name)]
    return run_suite(
        "scenarios", *args, "--expect", str(EXPECTATIONS), "--junitxml", str(five / "side.xml"),
        tmp=five,
    )  # fmt: skip


def run_cleanup(
    runtimes_file: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``container-claims cleanup`` in the repository, as a user would; of the runtimes in
    ``runtimes_file`` only, if given (never another runtime's objects)."""
    only = ["--runtimes-file", str(runtimes_file)] if runtimes_file is not None else []
    return subprocess.run(
        [sys.executable, "-m", "container_claims", "cleanup", *only],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def claims_needing(capability: str) -> set[str]:
    """The catalogue's claim ids that rest on ``capability`` (``directories``: a directory the
    suite makes on this machine, which a runtime on another machine, or one whose host is read
    through its engine, does not have: its claims are not applicable there)."""
    from container_claims.execute import needed_capabilities
    from container_claims.scenario import load_scenario

    return {
        claim.id
        for path in sorted(SCENARIOS.rglob("*.yaml"))
        for scenario in [load_scenario(path)]
        for claim in scenario.claims
        if capability in needed_capabilities(scenario, claim)
    }


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout


def labelled_objects() -> list[str]:
    """Containers, volumes and images that carry the suite's run label, right now, in the
    Docker engine and in Podman's store (images with their intermediate layers: ``-a``)."""
    found = []
    engines = [("docker", docker)] + ([("podman", podman)] if shutil.which("podman") else [])
    for engine_name, client in engines:
        for kind, command in (
            ("container", ["ps", "-a"]),
            ("volume", ["volume", "ls"]),
            ("image", ["images", "-a"]),
        ):
            ids = client(*command, "-q", "--filter", f"label={RUN_LABEL}").split()
            found += [f"{engine_name} {kind} {i}" for i in ids]
    return found


def host_markers() -> list[Path]:
    return list(Path("/").glob("container-claims-host-marker-*"))


@pytest.fixture(scope="session")
def engine() -> None:
    """Skip nothing: these tests need the engine, and its absence is an error to see."""
    try:
        docker("info", "--format", "{{.ServerVersion}}")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"no Docker engine answers ({exc}); run scripts/setup first", pytrace=False)


@pytest.fixture
def leaves_nothing(engine: None) -> Iterator[None]:
    """The test must leave no labelled object and no host marker behind."""
    yield
    assert labelled_objects() == []
    assert host_markers() == []
