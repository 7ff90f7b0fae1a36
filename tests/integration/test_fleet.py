"""A fleet from one place: the catalogue on two machines reached over ssh and on this one, in
one run (``--runtimes-file fleet.yaml --runtime all``), side by side.

The two machines are test hosts (:mod:`tests.support.test_hosts`): their own hostname, PID 1,
namespaces, dockerd and sshd, reached only over ssh. Their host-side claims must be read on
them (their own process tables), their verdicts must be this machine's, and a host that
drops mid-run makes only its own claims errors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from container_claims.ledger import MARKER_PREFIX
from container_claims.runtimes import load_runtimes_file
from container_claims.runtimes.remote import REFUSED, SshTarget, read_tcp
from tests.support.background_run import background_run
from tests.support.test_hosts import TestHost, write_fleet_file

from .conftest import Run, claims_needing, run_suite


@pytest.fixture(scope="module")
def fleet(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("fleet")
    # The second host has Podman too; the first is the one a test takes off the network.
    with TestHost("cc-host-a") as first, TestHost("cc-host-b", podman=True) as second:
        runtimes = write_fleet_file(folder / "fleet.yaml", [first, second])
        config = runtimes.with_suffix(".ssh_config")
        # Podman here (the packaged entry) and on the second host. Its remote client takes no
        # --runtime: the OCI runtime is the service's there (runc, as here).
        packaged = next(c for c in load_runtimes_file() if c.name == "podman").run_args
        assert packaged[:2] == ("--runtime", "runc")
        podman = [
            {"name": "podman", "kind": "podman", "run_args": list(packaged)},
            {"name": f"podman-{second.name}", "kind": "podman", "host": second.url,
             "ssh_config": config.name, "run_args": list(packaged[2:])},
        ]  # fmt: skip
        podman_runtimes = folder / "podman.yaml"
        podman_runtimes.write_text(yaml.safe_dump({"runtimes": podman}, sort_keys=False))
        yield {
            "folder": folder,
            "runtimes": runtimes,
            "podman_runtimes": podman_runtimes,
            "hosts": (first, second),
        }


@pytest.fixture(scope="module")
def fleet_run(fleet: dict[str, Any]) -> Run:
    return run_suite(
        "scenarios", "--runtimes-file", str(fleet["runtimes"]), "--runtime", "all",
        "--html", str(fleet["folder"] / "fleet.html"), tmp=fleet["folder"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def podman_run(fleet: dict[str, Any]) -> Run:
    return run_suite(
        "scenarios", "--runtimes-file", str(fleet["podman_runtimes"]), "--runtime", "all",
        tmp=fleet["folder"],
    )  # fmt: skip


def verdicts(run: Run, runtime: str) -> dict[str, str]:
    return {r["claim"]: r["verdict"] for r in run.data["results"] if r["runtime"] == runtime}


def assert_same_verdicts(run: Run, local: str, remote: str) -> None:
    """Another machine (runtime ``remote``) gives this machine's verdicts (``local``'s), but
    for the claims on directories the suite makes on this machine: not applicable there."""
    here, there = verdicts(run, local), verdicts(run, remote)
    assert here, run.output[-3000:]
    local_only = claims_needing("directories")
    assert local_only and {here[claim] for claim in local_only} == {"pass"}
    assert {there[claim] for claim in local_only} == {"not-applicable"}
    moved = {
        claim: (here.get(claim), there.get(claim))
        for claim in set(here) | set(there)
        if claim not in local_only and here.get(claim) != there.get(claim)
    }
    # What the runtime that moved said, so that a failure shows its cause, not just its name.
    said = {claim: run.record(claim, remote).get("message", "")[:500] for claim in moved}
    assert moved == {}, said


def test_each_runtime_says_which_machine_it_ran_on(fleet: dict[str, Any], fleet_run: Run) -> None:
    machines = {r["name"]: r["machine"] for r in fleet_run.data["runtimes"]}
    assert machines["docker"]["address"] == "local"
    for host in fleet["hosts"]:
        machine = machines[f"docker-{host.name}"]
        assert machine["hostname"] == host.name  # read on that machine, over ssh
        assert machine["address"] == host.url
    html = (fleet["folder"] / "fleet.html").read_text()
    assert "on cc-host-a (ssh://root@cc-host-a)" in html and "on cc-host-b" in html


def test_the_fleet_gives_this_machines_verdicts(fleet_run: Run) -> None:
    """Every claim, the host-side ones and those that change the host (a marker file, a marker
    process, a published port, a pull from the run's registry) included, gives each test
    host the verdict it gives this machine: they are set up alike, and each is observed on
    its own machine. The claims on directories the suite makes on this machine are not
    applicable on another's."""
    for name in ("docker-cc-host-a", "docker-cc-host-b"):
        assert_same_verdicts(fleet_run, "docker", name)


def test_what_the_probes_made_on_each_host_was_made_there_and_is_gone(
    fleet: dict[str, Any], fleet_run: Run
) -> None:
    """The marker process ran on the test host (its own process table), the published port
    was read on its loopback, the pull came through its engine; none of it is left."""
    for host in fleet["hosts"]:
        runtime = f"docker-{host.name}"
        record = fleet_run.record("container-cannot-see-host-processes", runtime)
        steps = {step.get("save"): step for step in record["evidence"]["steps"]}
        marker = steps["host_marker"]["value"]
        assert marker.startswith(MARKER_PREFIX) and marker not in steps["visible"]["value"]
        served = fleet_run.record("published-port-reaches-the-container", runtime)
        assert served["verdict"] == "pass", served["evidence"]
        processes = host.ssh("ps", "-eo", "args").stdout
        assert MARKER_PREFIX not in processes, processes
        # A port no one listens on there reads as refused, not as a server that said nothing.
        target = SshTarget.parse(host.url, str(fleet["folder"] / "fleet.ssh_config"))
        assert read_tcp(target, 9) == REFUSED
    assert not list(Path("/").glob(f"{MARKER_PREFIX}*"))


def test_host_side_claims_are_read_on_each_host(fleet: dict[str, Any], fleet_run: Run) -> None:
    """What a host-side claim read as the host's PID 1 is that host's own PID 1 (a test host's
    is its INIT, not this machine's), and it found the container's shell there."""
    for host in fleet["hosts"]:
        record = fleet_run.record("host-pid-1-is-init", f"docker-{host.name}")
        assert record["verdict"] == "pass", record["evidence"]
        steps = {step.get("save"): step for step in record["evidence"]["steps"]}
        own_pid1 = host.ssh("cat", "/proc/1/cmdline").stdout.replace("\0", " ").strip()
        assert steps["host_pid1"]["value"]["cmdline"].strip() == own_pid1
        assert steps["shell_on_host"]["value"]["found"] is True
    here = fleet_run.record("host-pid-1-is-init", "docker")["evidence"]["steps"]
    assert {s.get("save"): s for s in here}["host_pid1"]["value"]["cmdline"].strip() != own_pid1


def test_an_ansible_inventory_names_the_machines(fleet: dict[str, Any], fleet_run: Run) -> None:
    """``--hosts ansible://GROUP`` with an inventory: its hosts' variables reach them (the
    inventory's names are not the machines' own), ssh options come from --ssh-config, and
    the verdicts are those of the same machines named in a runtimes file. (Before the drop
    test: that one takes the first host off the network.)"""
    folder = fleet["folder"]
    inventory = folder / "hosts.ini"
    inventory.write_text(
        "[fleet]\n"
        + "".join(
            f"edge-{host.name[-1]} ansible_host={host.address} ansible_port={host.port} "
            f"ansible_user=root ansible_ssh_private_key_file={host.identity}\n"
            for host in fleet["hosts"]
        )
    )
    options = folder / "options.ssh_config"  # new host keys each time: nothing to check them by
    options.write_text(
        "Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
    )
    scenario = "scenarios/process-namespace.yaml"
    run = run_suite(
        scenario, "--runtime", "docker", "--hosts", "ansible://fleet",
        "--ansible-inventory", str(inventory), "--ssh-config", str(options), tmp=folder,
    )  # fmt: skip

    machines = {r["name"]: r["machine"] for r in run.data["runtimes"]}
    assert sorted(machines) == ["docker@edge-a", "docker@edge-b"], run.output[-3000:]
    for host in fleet["hosts"]:
        machine = machines[f"docker@edge-{host.name[-1]}"]
        assert (machine["address"], machine["hostname"]) == (
            f"ssh://edge-{host.name[-1]}",
            host.name,
        )
        named = verdicts(fleet_run, f"docker-{host.name}")
        found = verdicts(run, f"docker@edge-{host.name[-1]}")
        assert found and found == {claim: named[claim] for claim in found}


def test_a_host_that_drops_mid_run_leaves_the_others_verdicts_intact(
    fleet: dict[str, Any],
) -> None:
    first, second = fleet["hosts"]
    out = fleet["folder"] / "dropped.json"
    with background_run(
        "scenarios",
        "--runtimes-file", str(fleet["runtimes"]),
        "--runtime", f"docker-{first.name}", "--runtime", f"docker-{second.name}",
        "--json", str(out),
    ) as process:  # fmt: skip
        time.sleep(4)  # the run is under way on both hosts
        first.stop_sshd(sessions=True)  # the first host drops off the network
        output, _ = process.communicate(timeout=600)
    data = json.loads(out.read_text())
    dropped = verdicts(Run(process.returncode, output, data), f"docker-{first.name}")
    kept = verdicts(Run(process.returncode, output, data), f"docker-{second.name}")
    assert "error" in dropped.values(), output[-3000:]
    errors = [
        r["message"]
        for r in data["results"]
        if r["runtime"] == f"docker-{first.name}" and r["verdict"] == "error"
    ]
    # The errors say why: the connection to that machine was lost.
    assert any(f"ssh connection to {first.url} was lost" in message for message in errors), errors

    assert "error" not in kept.values(), kept
    assert process.returncode == 3


def test_podman_on_another_machine_gives_this_machines_verdicts(
    fleet: dict[str, Any], podman_run: Run
) -> None:
    """Podman's API socket there, forwarded, with its CLI as a remote client of it
    (CONTAINER_HOST): the catalogue gives the verdicts of Podman here, read on that host."""
    host = fleet["hosts"][1]
    assert_same_verdicts(podman_run, "podman", f"podman-{host.name}")
    machine = {r["name"]: r["machine"] for r in podman_run.data["runtimes"]}
    assert machine[f"podman-{host.name}"]["hostname"] == host.name
    record = podman_run.record("host-pid-1-is-init", f"podman-{host.name}")
    pid1 = {s.get("save"): s for s in record["evidence"]["steps"]}["host_pid1"]["value"]
    assert "cc-test-host-init" in pid1["cmdline"]  # that host's PID 1, not this machine's
    assert host.ssh("podman", "ps", "--all", "--quiet").stdout.split() == []  # none left
