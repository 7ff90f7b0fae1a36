"""Faults injected into real runs: what could not be observed is an error, never a verdict,
and nothing a run made outlives it, however it ends.

Each test starts the suite as a user would (``python -m container_claims``), breaks
something it depends on (a runtime binary, an engine, the run itself), and looks at the
verdicts and at the machine afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from container_claims.paths import ledger_dir, runs_dir
from tests.support.background_run import background_run, kill, wait_for
from tests.support.control_engine import ControlEngine

from .conftest import (
    REPO,
    RUN_LABEL,
    CountedRun,
    docker,
    host_markers,
    run_cleanup,
    run_suite,
)
from .test_article_on_docker import catalogue

#: A scenario that keeps its container busy for a while, with a sibling container, a host
#: marker process and a marker file: everything a killed run could leave behind.
LONG = """\
scenario: long
section: Faults
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - probe: host.marker_process
    save: marker_process
  - probe: host.marker_file
    save: marker_file
  - run: {name: SIBLING, detach: true, command: [sleep, "3599"]}
    save: sibling
  - type: sleep SECONDS
    save: slept
    timeout: 120
claims:
  - id: slept-well
    says: The shell slept and answered.
    expect:
      - that: slept.status
        equals: 0
"""

#: Quick, on every runtime: makes the runtimes (podman's service, unshare's root copy).
QUICK = """\
scenario: quick
section: Faults
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - type: echo $$
    save: pid
claims:
  - id: quick-pid
    says: The shell answers.
    expect:
      - that: pid
        matches: '^[0-9]+$'
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def _long(seconds: int) -> tuple[str, str]:
    """The LONG scenario sleeping ``seconds``, and its sibling's name (unique to this test)."""
    sibling = f"sibling_{os.urandom(3).hex()}"
    return LONG.replace("SECONDS", str(seconds)).replace("SIBLING", sibling), sibling


def _running_sibling(sibling: str) -> str | None:
    """The run id of the labelled container named ``sibling`` if it runs now."""
    lines = docker(
        "ps",
        "--filter",
        f"label={RUN_LABEL}",
        "--format",
        f'{{{{.Names}}}} {{{{.Label "{RUN_LABEL}"}}}}',
    ).splitlines()
    for line in lines:
        name, _, run_id = line.partition(" ")
        if name.endswith(f"-{sibling}"):
            return run_id
    return None


def _ledgers(run_id: str) -> list[Path]:
    directory = ledger_dir()
    return sorted(directory.glob(f"{run_id}-*.jsonl")) if directory.is_dir() else []


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _recorded_processes(run_id: str) -> list[int]:
    pids = []
    for path in _ledgers(run_id):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("kind") == "process":
                pids.append(int(entry["pid"]))
    return pids


def _leftovers_of(run_id: str) -> list[str]:
    label = f"label={RUN_LABEL}={run_id}"
    found = [f"object container {c}" for c in docker("ps", "-aq", "--filter", label).split()]
    found += [f"object volume {v}" for v in docker("volume", "ls", "-q", "--filter", label).split()]
    if runs_dir().is_dir():
        found += [f"root copy {p}" for p in runs_dir().glob(f"{run_id}-*")]
    found += [f"marker {p}" for p in host_markers() if run_id in p.name]
    found += [f"ledger {p}" for p in _ledgers(run_id)]
    return found


def test_sigkill_leaves_nothing_that_the_next_run_does_not_sweep(
    engine: None, tmp_path: Path
) -> None:
    scenarios = tmp_path / "killed"
    scenarios.mkdir()
    _write(scenarios, "a-quick.yaml", QUICK)
    text, sibling = _long(90)
    _write(scenarios, "b-long.yaml", text)
    with background_run(
        str(scenarios), "--runtime", "docker", "--runtime", "podman", "--runtime", "unshare"
    ) as process:
        run_id = wait_for("a sibling container runs", lambda: _running_sibling(sibling), process)
        wait_for(
            "the marker file exists", lambda: any(run_id in p.name for p in host_markers()), process
        )
        helpers = _recorded_processes(run_id)
        assert helpers, "the podman service and the marker process are in the ledger"
        kill(process)
    # Helper processes die with the run (parent-death signal): podman's service, the marker.
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in helpers if _alive(pid)] == []
    # What cannot die with it is named where the next run finds it.
    left = _leftovers_of(run_id)
    assert any(line.startswith("object container") for line in left), left
    assert any(line.startswith("root copy") for line in left), left
    assert any(line.startswith("ledger") for line in left), left

    after = run_suite(str(scenarios / "a-quick.yaml"), "--runtime", "docker", tmp=tmp_path)

    assert f"run {run_id}" in after.output, after.output[-3000:]
    assert "removed" in after.output
    assert _leftovers_of(run_id) == [], after.output[-3000:]  # what the sweep said of them
    assert not list(Path("/tmp").glob("cc-podman-*")) or all(
        run_id not in p.name for p in Path("/tmp").glob("cc-podman-*")
    )


def test_cleanup_leaves_a_live_run_alone(engine: None, tmp_path: Path) -> None:
    text, sibling = _long(6)
    scenario = _write(tmp_path, "long.yaml", text)
    stale = f"cc-test-stale-{os.urandom(3).hex()}"
    docker(
        "run", "-d", "--network=none", f"--name={stale}", f"--label={RUN_LABEL}=deadbeef",
        "--", "container-claims/test:bookworm", "sleep", "600",
    )  # fmt: skip
    try:
        with background_run(str(scenario), "--json", str(tmp_path / "live.json")) as live:
            run_id = wait_for("a sibling container runs", lambda: _running_sibling(sibling), live)
            cleanup = run_cleanup(timeout=300)
            output, _ = live.communicate(timeout=300)
    finally:
        subprocess.run(["docker", "rm", "-f", stale], capture_output=True, check=False)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert f"container {stale}" in cleanup.stdout  # a dead run's object goes
    assert run_id not in cleanup.stdout  # the live run's stay
    results = json.loads((tmp_path / "live.json").read_text())
    assert [r["verdict"] for r in results["results"]] == ["pass"], output[-3000:]
    assert live.returncode == 0


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("#!/bin/sh\necho 'broken runtime' >&2\nexit 1\n", "exited with 1: broken runtime"),
        ("#!/bin/sh\nexec sleep 3600\n", "gave no result within 3 s"),
    ],
    ids=["exits-1", "hangs"],
)
def test_a_runtime_that_fails_or_hangs_makes_every_claim_an_error_at_once(
    engine: None, tmp_path: Path, script: str, reason: str
) -> None:
    binary = _write(tmp_path, "docker-broken", script)
    binary.chmod(0o755)
    runtimes = _write(
        tmp_path,
        "runtimes.yaml",
        yaml.safe_dump(
            {
                "runtimes": [
                    {"name": "broken", "kind": "docker", "binary": str(binary), "start_timeout": 3}
                ]
            }
        ),
    )
    started = time.monotonic()
    run = run_suite(
        "scenarios/process-namespace.yaml", "--runtimes-file", str(runtimes), "--runtime", "broken",
        tmp=tmp_path, timeout=120,
    )  # fmt: skip
    took = time.monotonic() - started
    verdicts = {r["verdict"] for r in run.data["results"]}
    assert verdicts == {"error"}, run.output[-3000:]
    assert all(reason in r["message"] for r in run.data["results"]), run.data["results"][0]
    assert run.returncode == 3
    # Not a timed assertion of speed: a bound on waiting, far above the one deadline (3 s),
    # far below what per-step timeouts would cost (30 s for each of about ten steps).
    assert took < 60


def test_a_cli_that_reaches_another_engine_than_the_api_is_refused_and_leaves_nothing(
    engine: None, tmp_path: Path
) -> None:
    """The engine's API (DOCKER_HOST in the entry's env) is a Podman service; the binary drops
    DOCKER_HOST and so starts containers (and, with -v, makes volumes) on Docker's engine,
    which the runtime neither reads nor sweeps. Its first container tells: every claim is an
    error saying so, and nothing is left on either engine."""
    socket = tmp_path / "podman.sock"
    service = subprocess.Popen(
        ["podman", "--runtime", "runc", "system", "service", "--time=0", f"unix://{socket}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        binary = _write(
            tmp_path, "docker-elsewhere", '#!/bin/sh\nexec env -u DOCKER_HOST docker "$@"\n'
        )
        binary.chmod(0o755)
        entry = {"name": "crossed", "kind": "docker", "binary": str(binary),
                 "env": {"DOCKER_HOST": f"unix://{socket}"}}  # fmt: skip
        runtimes = _write(tmp_path, "runtimes.yaml", yaml.safe_dump({"runtimes": [entry]}))
        containers, volumes = docker("ps", "-aq"), docker("volume", "ls", "-q")
        run = run_suite(
            "scenarios/volumes.yaml", "--runtimes-file", str(runtimes), "--runtime", "crossed",
            tmp=tmp_path, timeout=300,
        )  # fmt: skip
        theirs = subprocess.run(
            ["podman", "--url", f"unix://{socket}", "ps", "-aq"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        service.terminate()  # ours, by its PID
        service.wait(timeout=30)
    assert {r["verdict"] for r in run.data["results"]} == {"error"}, run.output[-3000:]
    assert all("on another engine" in r["message"] for r in run.data["results"])
    assert (docker("ps", "-aq"), docker("volume", "ls", "-q")) == (containers, volumes)
    assert theirs.stdout == ""


def test_a_stopped_engine_gives_errors_not_verdicts(engine: None, tmp_path: Path) -> None:
    scenario = _write(
        tmp_path,
        "stopped.yaml",
        """\
scenario: stopped
section: Faults
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - type: sleep 4; echo slept
    save: slept
    timeout: 30
after:
  - run: {command: [echo, after]}
    save: after_run
  - run: {command: [sh, -c, "echo gone"]}
    save: second_run
claims:
  - id: after-ran
    says: A container started after the engine stopped says so.
    expect:
      - that: after_run
        equals: after
  - id: nothing-to-see
    says: Text that was never observed cannot pass a not_contains.
    expect:
      - that: second_run
        not_contains: anything
""",
    )
    with ControlEngine() as control:
        runtimes = _write(
            tmp_path,
            "runtimes.yaml",
            yaml.safe_dump(
                {"runtimes": [{"name": "doomed", "kind": "docker", "env": control.env}]}
            ),
        )
        with background_run(
            str(scenario), "--runtimes-file", str(runtimes), "--runtime", "doomed",
            "--json", str(tmp_path / "out.json"),
        ) as process:  # fmt: skip
            wait_for(
                "the session's container runs",
                lambda: control.docker("ps", "-q", check=False).stdout.strip() != "",
                process,
            )
            time.sleep(1.5)
            assert control.pid is not None
            os.kill(control.pid, signal.SIGKILL)  # the engine this test started, by its PID
            output, _ = process.communicate(timeout=300)
        results = json.loads((tmp_path / "out.json").read_text())
        verdicts = {r["claim"]: r["verdict"] for r in results["results"]}
        assert verdicts == {"after-ran": "error", "nothing-to-see": "error"}, output[-3000:]
        run_id = results["run_id"]
        # The end of the run could not reach the engine: it says so, and keeps its ledger.
        assert "could not remove" in output
        assert _ledgers(run_id)
    # The engine and all its objects are gone with its data root; so is the ledger's point.
    for path in _ledgers(run_id):
        path.unlink()


def test_a_scenario_starts_its_containers_once_per_runtime_whatever_n_is(
    docker_catalogue: CountedRun, docker_catalogue_in_two: CountedRun
) -> None:
    serial, parallel = docker_catalogue.starts, docker_catalogue_in_two.starts
    scenario_files = len(list((REPO / "scenarios").rglob("*.yaml")))
    assert len(serial) == len(parallel) == scenario_files  # each scenario ran once
    assert sorted(serial.values()) == sorted(parallel.values())
    assert sum(parallel.values()) == sum(serial.values())


def test_repeat_reports_whether_each_verdict_was_stable(engine: None, tmp_path: Path) -> None:
    out = tmp_path / "repeat.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "container_claims", "run", "-q", "scenarios/process-namespace.yaml",
            "--repeat", "3", "--json", str(out),
        ],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["stability"], data.keys()
    assert all(entry["stable"] and len(entry["verdicts"]) == 3 for entry in data["stability"])
    assert "3 rounds: 10 of 10 claim and runtime pairs gave the same verdict every time" in (
        result.stdout
    )


def test_two_runs_at_once_give_the_same_verdicts(engine: None, tmp_path: Path) -> None:
    outputs = [tmp_path / "first.json", tmp_path / "second.json"]
    with (
        background_run("scenarios", "--json", str(outputs[0])) as one,
        background_run("scenarios", "--json", str(outputs[1])) as other,
    ):
        one.communicate(timeout=600)
        other.communicate(timeout=600)
    first, second = (json.loads(out.read_text()) for out in outputs)
    assert first["run_id"] != second["run_id"]
    verdicts = [
        {(r["claim"], r["runtime"]): r["verdict"] for r in d["results"]} for d in (first, second)
    ]
    assert verdicts[0] == verdicts[1]
    assert len(verdicts[0]) == len(catalogue())


def _podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout


def test_objects_that_outlive_a_lost_engine_are_swept_by_the_next_run(
    engine: None, tmp_path: Path
) -> None:
    text, sibling = _long(8)
    scenario = _write(tmp_path, "lost.yaml", text)

    def sibling_run_id() -> str | None:
        lines = _podman(
            "ps",
            "--filter",
            f"label={RUN_LABEL}",
            "--format",
            f'{{{{.Names}}}} {{{{index .Labels "{RUN_LABEL}"}}}}',
        ).splitlines()
        return next(
            (line.split()[1] for line in lines if line.split()[0].endswith(f"-{sibling}")), None
        )

    with background_run(str(scenario), "--runtime", "podman") as process:
        run_id = wait_for("podman's sibling container runs", sibling_run_id, process)
        (service,) = [
            json.loads(line)["pid"]
            for path in _ledgers(run_id)
            for line in path.read_text().splitlines()
            if json.loads(line).get("what") == "podman service"
        ]
        os.kill(service, signal.SIGKILL)  # the run's API service, by the PID it recorded
        output, _ = process.communicate(timeout=300)
    # The run could not remove its containers through the lost service: it says so and keeps
    # its ledger.
    assert "could not remove" in output, output[-3000:]
    label = f"label={RUN_LABEL}={run_id}"
    assert _podman("ps", "-aq", "--filter", label).split()
    assert _ledgers(run_id)

    after = run_suite(
        str(tmp_path / "lost.yaml"), "--runtime", "docker", "-k", "nothing", tmp=tmp_path
    )

    assert f"run {run_id}" in after.output, after.output[-3000:]
    assert _podman("ps", "-aq", "--filter", label).split() == []
    assert _ledgers(run_id) == []
