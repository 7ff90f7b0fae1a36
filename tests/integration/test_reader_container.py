"""A host read through its engine (``host: engine``), on this machine's engines: the reader
container's verdicts are the local reader's on the whole catalogue, on Docker and on Podman;
a reader the engine refuses makes the host-side claims errors that say why, never passes; and
a run killed outright leaves its reader to the next run's sweep, which removes it and what it
held."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.background_run import background_run, kill, wait_for

from .conftest import REPO, RUN_LABEL, SCENARIOS, Run, claims_needing, docker, run_suite

IMAGE = "container-claims/test:bookworm"

PACKAGED = REPO / "src" / "container_claims" / "runtimes.yaml"
#: Claims that rest on a reading of the host (process-namespace.yaml, filesystem.yaml).
HOST_SIDE = (
    "host-pid-1-is-init",
    "host-sees-container-process",
    "host-pid-differs",
    "pid-in-both-namespaces",
    "container-cannot-see-host-processes",
    "containers-are-ordinary-processes",
    "own-userland",
)


def runtimes_file(tmp_path: Path, **extra: dict[str, Any]) -> Path:
    """The packaged runtimes, each docker and podman one again as NAME-reader with its host
    read through its engine, and ``extra`` entries by name."""
    entries = yaml.safe_load(PACKAGED.read_text())["runtimes"]
    readers = [
        {**entry, "name": f"{entry['name']}-reader", "host": "engine"}
        for entry in entries
        if entry["name"] in ("docker", "podman")
    ]
    added = [{"name": name, **entry} for name, entry in extra.items()]
    path = tmp_path / "runtimes.yaml"
    path.write_text(yaml.safe_dump({"runtimes": entries + readers + added}))
    return path


def readers_left() -> list[str]:
    """Reader containers of any run, right now (on Docker: the tests' runs use it)."""
    names = docker("ps", "-a", "--filter", f"label={RUN_LABEL}", "--format", "{{.Names}}")
    return [name for name in names.split() if "-host-reader-" in name]


def machines(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {runtime["name"]: runtime["machine"] for runtime in data["runtimes"]}


def verdicts(data: dict[str, Any], runtime: str) -> dict[str, str]:
    return {
        f"{r['scenario']}::{r['claim']}": r["verdict"]
        for r in data["results"]
        if r["runtime"] == runtime
    }


@pytest.fixture(scope="module")
def through_readers(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The whole catalogue on Docker and Podman with the host read through each engine, side
    by side; held to the same runtimes' verdicts with the local reader (the five-runtime run)."""
    tmp = tmp_path_factory.mktemp("readers")
    before = set(readers_left())
    run = run_suite(
        str(SCENARIOS), "--runtimes-file", str(runtimes_file(tmp)),
        "--runtime", "docker-reader", "--runtime", "podman-reader", tmp=tmp,
    )  # fmt: skip
    assert set(readers_left()) <= before, "the run left its reader"
    return run


@pytest.mark.parametrize("engine_name", ["docker", "podman"])
def test_the_reader_gives_the_local_readers_verdicts_on_the_whole_catalogue(
    all_runtimes: Run, through_readers: Run, engine_name: str
) -> None:
    local = verdicts(all_runtimes.data, engine_name)
    through = verdicts(through_readers.data, f"{engine_name}-reader")
    assert len(local) >= 51, all_runtimes.output[-3000:]
    # A directory the suite makes lies on this machine, not on a host read through its engine.
    local_only = {key for key in local if key.split("::")[1] in claims_needing("directories")}
    assert local_only and {through[key] for key in local_only} == {"not-applicable"}
    moved = {claim: (local[claim], through.get(claim)) for claim in local if local[claim] != through.get(claim) and claim not in local_only}  # fmt: skip
    assert moved == {}, through_readers.output[-3000:]
    machine, here = machines(through_readers.data), machines(all_runtimes.data)
    assert machine[f"{engine_name}-reader"]["address"] == "engine"
    assert machine[f"{engine_name}-reader"]["boot_id"] == here[engine_name]["boot_id"]


NO_CHROOT = (
    '{"defaultAction": "SCMP_ACT_ALLOW",'
    ' "syscalls": [{"names": ["chroot"], "action": "SCMP_ACT_ERRNO"}]}'
)


@pytest.mark.parametrize(
    ("engine_name", "refusing", "why"),
    [
        # A security option that forbids the chroot (a seccomp profile), as a policy might.
        ("docker", ["--security-opt", "seccomp={profile}"], "chroot: cannot change root"),
        # A user namespace of the container's own, as a rootless engine gives.
        ("podman", ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"], "uid_map"),
    ],
    ids=["docker-seccomp", "podman-userns"],
)
def test_a_reader_the_engine_refuses_makes_the_host_side_claims_errors_that_say_why(
    engine: None, tmp_path: Path, engine_name: str, refusing: list[str], why: str
) -> None:
    """The reader starts but cannot read the host as its root: every claim that rests on the
    host is an error naming why, none passes or fails; the claims about the container itself
    keep their verdicts (the engine's records too: no reader is asked for them)."""
    profile = tmp_path / "no-chroot.json"
    profile.write_text(NO_CHROOT)
    packaged = {entry["name"]: entry for entry in yaml.safe_load(PACKAGED.read_text())["runtimes"]}
    run_args = packaged[engine_name].get("run_args", [])
    run_args += [arg.format(profile=profile) for arg in refusing]
    if engine_name == "podman":
        _skip_unless_podman_runs(run_args)
    refused = {"kind": engine_name, "run_args": run_args, "host": "engine"}
    run = run_suite(
        str(SCENARIOS / "process-namespace.yaml"),
        str(SCENARIOS / "filesystem.yaml"),
        "--runtimes-file", str(runtimes_file(tmp_path, refused=refused)),
        "--runtime", engine_name,
        "--runtime", "refused",
        tmp=tmp_path,
    )  # fmt: skip

    local, through = verdicts(run.data, engine_name), verdicts(run.data, "refused")
    for claim, verdict in through.items():
        assert verdict in (local[claim], "error"), (claim, verdict, local[claim])
    for claim in HOST_SIDE:
        record = run.record(claim, "refused")
        assert record["verdict"] == "error", record
        assert "refused's host cannot be read" in record["message"], record["message"]
        assert why in record["message"], record["message"]
    for claim in ("shell-is-pid-1", "exit-stops-and-removes", "changes-vanish-after-exit"):
        assert run.verdict(claim, "refused") == "pass"  # the container and the engine: read
    assert machines(run.data)["refused"]["hostname"].startswith("unknown (")


def _skip_unless_podman_runs(run_args: list[str]) -> None:
    """Skip, saying why, where Podman cannot start any container with ``run_args``: then no
    reader can be refused either. In a container not ``--privileged`` whose masked /proc paths
    stay (act's job containers), a user namespace's container cannot mount its /proc."""
    started = subprocess.run(
        ["podman", "run", "--rm", "--network", "none", *run_args, IMAGE, "true"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if started.returncode != 0:
        why = started.stderr.strip().splitlines()[-1:] or [f"exit {started.returncode}"]
        pytest.skip(f"this machine's Podman runs no container with {run_args}: {why[0]}")


def test_a_run_killed_outright_leaves_its_reader_to_the_next_runs_sweep(
    engine: None, tmp_path: Path
) -> None:
    before = set(readers_left())
    with background_run(
        "scenarios/process-namespace.yaml",
        "--runtimes-file", str(runtimes_file(tmp_path)),
        "--runtime", "docker-reader",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:  # fmt: skip
        reader, held = wait_for(
            "its reader holds the marker process", lambda: held_marker(before), process, every=0.05
        )
        kill(process, timeout=60)
    assert reader in readers_left()  # nothing could clean up after SIGKILL

    nxt = run_suite(str(SCENARIOS / "process-namespace.yaml"), "-k", "shell-is-pid-1", tmp=tmp_path)

    assert reader not in readers_left(), nxt.output[-3000:]
    assert reader in nxt.output, nxt.output[-3000:]  # said, among what the dead run left
    assert not Path(f"/proc/{held}").exists()  # the marker process ended with its reader


def held_marker(before: set[str]) -> tuple[str, int] | None:
    """A new reader, once it holds its run's marker process (the host's PID of that)."""
    for reader in set(readers_left()) - before:
        run_id = reader.split("-")[1]
        found = subprocess.run(
            ["pgrep", "-f", f"^container-claims-host-marker-{run_id}-"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if found:
            return reader, int(found[0])
    return None
