"""Runtimes on another machine: the address is data and checked as one, the runtimes file says
where each runtime's engine is, and a machine that does not answer makes the runtime unusable
with ssh's reason (no engine or ssh server needed: the port refused is on loopback)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from container_claims.errors import InputError, RuntimeUnavailable, ScenarioError
from container_claims.ledger import MARKER_PREFIX
from container_claims.probes.handle import HostHandle
from container_claims.runtimes import load_runtimes_file
from container_claims.runtimes.base import RuntimeConfig
from container_claims.runtimes.remote import (
    ForwardedSocket,
    HeldProcess,
    ReverseForward,
    SshTarget,
    read_tcp,
)
from tests.support.project import run_cli

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("address", "user", "name", "port"),
    [
        ("ssh://edge-1", "", "edge-1", None),
        ("ssh://root@10.0.0.2:2222", "root", "10.0.0.2", 2222),
        ("ssh://deploy_user@host.example.org", "deploy_user", "host.example.org", None),
    ],
)
def test_addresses_of_the_form_ssh_user_name_port(
    address: str, user: str, name: str, port: int | None
) -> None:
    target = SshTarget.parse(address)
    assert (target.user, target.name, target.port) == (user, name, port)
    assert target.url == address


@pytest.mark.parametrize(
    "address",
    [
        "ssh://root:secret@host",  # a password: never in a runtimes file, results or reports
        "ssh://-oProxyCommand=touch%20/tmp/pwned",  # a name read as an ssh option
        "ssh://root@-oProxyCommand=x",
        "ssh://host/path",
        "ssh://host?x=1",
        "ssh://host:99999",
        "ssh://ho st",
        "tcp://host:2375",
        "ssh://host;rm -rf /",
        "ssh://" + "a" * 300,
        "ssh://\x00host",
    ],
)
def test_anything_else_is_refused(address: str) -> None:
    with pytest.raises(InputError, match="host"):
        SshTarget.parse(address)


def test_the_name_comes_after_the_options_end() -> None:
    argv = SshTarget.parse("ssh://root@edge:2222", "/etc/fleet.conf").ssh_argv("-N")
    assert argv[-2:] == ["--", "edge"]
    assert argv[argv.index("-F") + 1] == "/etc/fleet.conf"
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "root"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def test_a_runtimes_file_names_the_machine_and_its_ssh_config(tmp_path: Path) -> None:
    (tmp_path / "fleet.ssh_config").write_text("Host edge\n  Port 2222\n")
    path = write(
        tmp_path,
        "runtimes:\n"
        "  - {name: docker-edge, kind: docker, host: 'ssh://root@edge',"
        " ssh_config: fleet.ssh_config}\n",
    )

    (config,) = load_runtimes_file(path)

    assert config.host == "ssh://root@edge"
    assert config.ssh_config == str(tmp_path / "fleet.ssh_config")
    assert RuntimeConfig.from_json(config.to_json()) == config  # to xdist's workers and back


def test_podman_on_another_machine_is_a_remote_client_of_its_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A podman entry with a host: its own program (the default binary is the kind's), its
    CLI pointed by CONTAINER_HOST at the forwarded socket of the service there, and never a
    DOCKER_HOST."""
    from container_claims.runtimes.podman import PodmanRuntime

    path = write(tmp_path, "runtimes:\n  - {name: p, kind: podman, host: 'ssh://root@edge'}\n")
    (config,) = load_runtimes_file(path)
    assert config.binary == "podman"
    runtime = PodmanRuntime(config, image="x", run_id="r")
    monkeypatch.setattr(runtime, "engine_url", lambda: "unix:///tmp/forwarded.sock")
    env = runtime.env()
    assert env["CONTAINER_HOST"] == "unix:///tmp/forwarded.sock" and "DOCKER_HOST" not in env
    assert PodmanRuntime.remote_socket == "/run/podman/podman.sock"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: u, kind: unshare, host: 'ssh://edge'}", "runs on this machine only"),
        ("{name: d, kind: docker, ssh_config: x}", "ssh_config needs a host"),
        ("{name: d, kind: docker, host: 'ssh://edge', ssh_config: missing}", "no such file"),
        ("{name: d, kind: docker, host: 'ssh://a:b@edge'}", "not an address of the form"),
    ],
)
def test_a_bad_entry_is_one_line_at_its_line(tmp_path: Path, entry: str, message: str) -> None:
    path = write(tmp_path, f"runtimes:\n  - {{name: ok, kind: docker}}\n  - {entry}\n")

    with pytest.raises(ScenarioError) as caught:
        load_runtimes_file(path)

    assert caught.value.line == 3 and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_machine_that_does_not_answer_makes_the_runtime_unusable_with_the_reason(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a loopback port with no one listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    forward = ForwardedSocket(
        SshTarget.parse(f"ssh://root@127.0.0.1:{port}"), tmp_path / "d.sock", "/run/docker.sock"
    )

    with pytest.raises(RuntimeUnavailable, match="cannot reach the engine of ssh://root@127.0.0.1"):
        forward.open(timeout=15)

    assert forward.process is None and not (tmp_path / "d.sock").exists()


def test_readings_of_another_machine_go_through_ssh() -> None:
    handle = HostHandle.ssh("ssh://root@edge", "/etc/fleet.conf")
    assert handle.target == SshTarget("root", "edge", None, "/etc/fleet.conf") and not handle.direct
    assert HostHandle.local().target is None


def test_hosts_spread_the_runtimes_and_a_host_that_does_not_answer_gives_errors(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scenario = REPO / "scenarios" / "default-command.yaml"
    private = tmp_path / "tmp"  # the run's own temporary directory: no other test's in it
    private.mkdir()

    done = run_cli(
        str(scenario), "--runtime", "docker", "--hosts", f"ssh://root@127.0.0.1:{port}",
        "--json", str(tmp_path / "out.json"), cwd=tmp_path, env={"TMPDIR": str(private)},
    )  # fmt: skip

    assert done.returncode == 3, done.stdout + done.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    assert {r["runtime"] for r in data["results"]} == {"docker@127.0.0.1"}
    assert {r["verdict"] for r in data["results"]} == {"error"}
    assert "cannot reach the engine of ssh://root@127.0.0.1" in data["results"][0]["message"]
    assert list(private.iterdir()) == []  # nothing left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runtime", "unshare", "--hosts", "ssh://edge"], "runs on this machine only"),
        (["--hosts", "ssh://root:secret@edge"], "not an address of the form"),
        (["--ssh-config", "x"], "--ssh-config and --ansible-inventory are for --hosts"),
    ],
)
def test_bad_hosts_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    done = run_cli(str(REPO / "scenarios"), *args, cwd=tmp_path)

    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_dead_runs_machine_that_does_not_answer_is_said_once_not_retried_by_every_run(
    tmp_path: Path,
) -> None:
    from container_claims import ledger
    from container_claims.sweep import sweep_dead_runs

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = RuntimeConfig(name="docker-gone", kind="docker", host=f"ssh://root@127.0.0.1:{port}")
    dead = ledger.Ledger("deadrun")
    dead.record("runtime", config=config.to_json())
    dead.close(clean=False)  # as a killed run leaves it: its lock released

    first = sweep_dead_runs()
    again = sweep_dead_runs()

    assert first.problems == [] and len(first.given_up) == 1
    assert "docker-gone: ssh://root@127.0.0.1" in first.given_up[0]
    assert (
        "does not answer" in first.given_up[0] and "container-claims cleanup" in first.given_up[0]
    )
    assert not dead.path.exists()
    assert again.given_up == [] and again.problems == []


def test_a_dead_runs_private_engine_gone_with_its_directory_is_given_up(tmp_path: Path) -> None:
    from container_claims import ledger
    from container_claims.sweep import sweep_dead_runs

    gone = tmp_path / "engine-that-was" / "docker.sock"
    config = RuntimeConfig(
        name="second-engine", kind="docker", env=(("DOCKER_HOST", f"unix://{gone}"),)
    )
    dead = ledger.Ledger("deadrun2")
    dead.record("runtime", config=config.to_json())
    dead.close(clean=False)

    swept = sweep_dead_runs()

    assert swept.problems == [] and len(swept.given_up) == 1
    assert "second-engine: its engine is gone" in swept.given_up[0]
    assert not dead.path.exists()


def refused_port() -> int:
    """A loopback port with no one listening."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable() -> SshTarget:
    return SshTarget.parse(f"ssh://root@127.0.0.1:{refused_port()}")


def test_what_changes_another_machine_fails_cleanly_when_it_does_not_answer() -> None:
    """A held process, a reverse forward and a connection to its loopback: each one line
    with ssh's reason, and no ssh of ours left running."""
    held = HeldProcess(unreachable(), f"{MARKER_PREFIX}x-y", 3600)
    reverse = ReverseForward(unreachable(), 5000)

    with pytest.raises(RuntimeUnavailable, match="cannot start a process on ssh://root@127"):
        held.start(timeout=15)
    with pytest.raises(RuntimeUnavailable, match="cannot forward port 5000 to ssh://root@127"):
        reverse.open(timeout=15)
    with pytest.raises(RuntimeUnavailable, match="cannot reach ssh://root@127.0.0.1"):
        read_tcp(unreachable(), 80)

    assert held.process is None and reverse.process is None


def test_a_handle_on_a_machine_that_does_not_answer_shares_no_connection_and_says_why() -> None:
    handle = HostHandle.ssh(unreachable().url)
    try:
        assert handle._master is not None and handle._master.process is None
        with pytest.raises(OSError, match="Connection refused"):
            handle.read_text("/proc/1/cmdline")
    finally:
        handle.close()
        handle.close()  # idempotent
    assert handle._master.directory is None  # its control socket's directory is gone


def test_remote_commands_are_the_modules_words_with_values_quoted() -> None:
    argv = SshTarget.parse("ssh://edge").command_argv(["rm", "-f", "--", "/x; touch /pwned"])
    assert argv[-3:] == ["--", "edge", "rm -f -- '/x; touch /pwned'"]


def test_a_marker_probe_on_a_machine_that_does_not_answer_is_an_observation_error() -> None:
    from types import SimpleNamespace

    from container_claims.errors import ObservationError
    from container_claims.probes import host as host_probes

    target = unreachable()
    ctx = SimpleNamespace(
        host=HostHandle.ssh(target.url),
        runtime=SimpleNamespace(run_id="abc123"),
        token="t0",
        defer=lambda undo: None,
        deadline=time.monotonic() + 60,
    )
    with pytest.raises(ObservationError, match="could not start the marker process"):
        host_probes.marker_process(ctx)  # type: ignore[arg-type]
    with pytest.raises(ObservationError, match="could not create the marker file"):
        host_probes.marker_file(ctx)  # type: ignore[arg-type]
    with pytest.raises(ObservationError, match="could not connect to port 80 of the host"):
        host_probes.tcp_read(ctx, 80)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", f"/{MARKER_PREFIX}x/../../etc/passwd", f"/tmp/{MARKER_PREFIX}x", "relative"],
)
def test_a_dead_runs_remote_entry_that_is_no_marker_is_not_touched(path: str) -> None:
    """The ledger names a marker by its path: anything but a marker's in / is left alone, and
    the machine is not even asked (it would not answer, and the sweep would say so)."""
    from container_claims.sweep import _remote_marker

    entry = {"kind": "marker", "path": path, "host": unreachable().url}
    assert _remote_marker(entry, "deadrun") == []


def test_a_dead_runs_remote_marker_on_a_machine_that_does_not_answer_is_given_up() -> None:
    from container_claims import ledger
    from container_claims.sweep import sweep_dead_runs

    dead = ledger.Ledger("deadrun3")
    path = f"/{MARKER_PREFIX}deadrun3-t0"
    dead.record("marker", path=path, host=unreachable().url, ssh_config="")
    dead.close(clean=False)

    swept = sweep_dead_runs()

    assert swept.problems == [] and len(swept.given_up) == 1
    assert path in swept.given_up[0] and "container-claims cleanup" in swept.given_up[0]
    assert not dead.path.exists()


def test_a_ledger_is_locked_before_a_sweep_can_see_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    from container_claims import ledger
    from container_claims.paths import ledger_dir

    seen_unlocked: list[list[Path]] = []
    flock = fcntl.flock

    def watching(handle: Any, operation: int) -> None:
        seen_unlocked.append(sorted(ledger_dir().glob("*.jsonl")))
        flock(handle, operation)

    monkeypatch.setattr(fcntl, "flock", watching)
    made = ledger.Ledger("newrun")
    try:
        assert seen_unlocked == [[]]  # its name appeared only once it was locked
        assert made.path.exists() and not list(ledger_dir().glob("*.new"))
    finally:
        made.close(clean=True)


def test_a_sweep_beside_another_returns_only_once_the_dead_ledger_is_gone() -> None:
    import threading

    from container_claims import ledger
    from container_claims.sweep import sweep_dead_runs

    dead = ledger.Ledger("deadrun4")
    dead.record("marker", path=f"/{MARKER_PREFIX}deadrun4-gone")
    dead.close(clean=False)
    seen: list[bool] = []

    def second_sweep() -> None:
        sweep_dead_runs()
        seen.append(dead.path.exists())

    with ledger.dead_runs() as runs:  # a first sweep, still at work
        assert [run.path for run in runs] == [dead.path]
        second = threading.Thread(target=second_sweep)
        second.start()
        time.sleep(0.3)  # the second sweep has looked by now, were it not waiting its turn
        for run in runs:
            run.path.unlink()
    second.join(timeout=30)
    assert seen == [False]
