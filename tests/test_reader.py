"""A host read through its engine (``host: engine``): the runtimes file's field and its
errors, and the reader's path from testinfra's backend to the host handle, driven by a
stand-in for the engine's CLI whose "reader container" is this machine itself (no engine
needed: tests/integration/test_reader_container.py runs real ones)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra

from container_claims.errors import RuntimeUnavailable, ScenarioError
from container_claims.probes.handle import HostHandle
from container_claims.probes.reader import HostReader, reader_run_args
from container_claims.runtimes import load_runtimes_file
from container_claims.runtimes.base import RuntimeConfig
from container_claims.runtimes.remote import REFUSED, TcpReply

LOCAL = HostHandle(testinfra.get_host("local://"), direct=True)

#: The engine's CLI, as far as the reader uses it: ``exec`` runs the command here (the chroot
#: of the host is this machine's own root), ``inspect`` names $FAKE_PID as the reader's
#: process, a ``run --rm`` (a container of a moment) runs its entrypoint here with the host's
#: root at $FAKE_ROOT. $FAKE_REFUSE makes ``run`` refused as an engine refuses;
#: $FAKE_NO_CHROOT makes the chroot fail as a security option makes it; $FAKE_GONE makes every
#: exec find no container.
FAKE_CLI = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_LOG"
case "$1" in
  run)
    if [ -n "$FAKE_REFUSE" ]; then
      echo "docker: Error response from daemon: $FAKE_REFUSE." >&2; exit 125
    fi
    case " $* " in *" --rm "*)
      while [ "$1" != "--" ]; do
        case "$1" in --entrypoint=*) entry=${1#--entrypoint=} ;; esac
        shift
      done
      shift 2
      HOST="$FAKE_ROOT" exec "$entry" "$@" ;;
    esac
    echo 0123abcd ;;
  inspect) echo "$FAKE_PID" ;;
  exec)
    if [ -n "$FAKE_GONE" ]; then
      echo "Error response from daemon: No such container: $2" >&2; exit 1
    fi
    shift 2
    if [ "$1" = chroot ]; then
      if [ -n "$FAKE_NO_CHROOT" ]; then
        echo "chroot: cannot change root directory to '$2': Operation not permitted" >&2
        exit 125
      fi
      shift 2
    fi
    exec "$@" ;;
esac
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runtimes.yaml"
    path.write_text(text)
    return path


def test_host_engine_is_read_through_the_engine_and_never_over_ssh(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "runtimes:\n"
        "  - {name: docker-reader, kind: docker, host: engine}\n"
        "  - {name: podman-reader, kind: podman, host: engine, run_args: [--runtime, runc]}\n",
    )

    docker, podman = load_runtimes_file(path)

    for config in (docker, podman):
        assert config.host == "engine" and config.read_through_engine and not config.over_ssh
        assert RuntimeConfig.from_json(config.to_json()) == config  # to xdist's workers and back


def test_an_engine_read_through_itself_is_reached_as_binary_and_env_say(tmp_path: Path) -> None:
    from container_claims.runtimes.docker import DockerRuntime

    path = write(
        tmp_path,
        "runtimes:\n  - {name: d, kind: docker, host: engine,"
        " env: {DOCKER_HOST: 'tcp://127.0.0.1:2375'}}\n",
    )
    (config,) = load_runtimes_file(path)
    runtime = DockerRuntime(config, image="x", run_id="r")

    assert runtime.engine_url() is None  # no ssh forward: from the environment
    assert runtime.env()["DOCKER_HOST"] == "tcp://127.0.0.1:2375"
    assert runtime.registry_for_engine("127.0.0.1:5000") == "127.0.0.1:5000"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: f, kind: fake, host: engine}", "a fake runtime runs on this machine only"),
        ("{name: u, kind: unshare, host: engine}", "read its host through it"),
        ("{name: d, kind: docker, host: engine, ssh_config: x}", "ssh_config is for host: ssh"),
        ("{name: d, kind: docker, host: engin}", "or host: engine, to read the host"),
        ("{name: d, kind: docker, host: ''}", "or host: engine"),
    ],
)
def test_a_bad_host_is_one_line_at_its_line(tmp_path: Path, entry: str, message: str) -> None:
    path = write(tmp_path, f"runtimes:\n  - {{name: ok, kind: fake}}\n  - {entry}\n")

    with pytest.raises(ScenarioError) as caught:
        load_runtimes_file(path)

    assert caught.value.line == 3 and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_reader_keeps_the_run_arguments_but_the_oci_runtime() -> None:
    """A sandbox (runsc) has a kernel of its own: the reader runs on the engine's default."""
    args = ("--runtime", "runsc", "--ulimit", "nofile=1024:1024", "--runtime=kata", "-e", "A=1")
    assert reader_run_args(args) == ["--ulimit", "nofile=1024:1024", "-e", "A=1"]


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The stand-in CLI, and a child of ours standing in for the reader's process, so that its
    parent (the engine's process to the reader) is this one, in this machine's namespaces."""
    cli = tmp_path / "fake-docker"
    cli.write_text(FAKE_CLI)
    cli.chmod(0o755)
    held = subprocess.Popen(["sleep", "60"])
    env = {**os.environ, "FAKE_LOG": str(tmp_path / "log"), "FAKE_PID": str(held.pid)}
    env["FAKE_ROOT"] = str(tmp_path / "root")
    (tmp_path / "root").mkdir()
    env["CLI"] = str(cli)
    try:
        yield env
    finally:
        held.kill()
        held.wait()


def reader(env: dict[str, str], kind: str = "docker") -> HostReader:
    config = RuntimeConfig(
        name="d", kind=kind, binary=env["CLI"], run_args=("--runtime", "runsc"), host="engine"
    )
    return HostReader(config, env, image="container-claims/test:bookworm", run_id="r1")


@pytest.mark.parametrize("kind", ["docker", "podman"])
def test_readings_through_the_reader_are_the_hosts_own(engine: dict[str, str], kind: str) -> None:
    """Through testinfra's docker (podman) backend, with the runtime's binary and env, each
    reading in the reader's chroot of the host: the same as reading the host directly, and
    "self" is the engine's process holding the reader, not the reader's own."""
    through = reader(engine, kind)
    handle = through.open(timeout=10)

    assert handle.host.backend.get_connection_type() == kind and not handle.direct
    assert handle.own == str(os.getpid())
    assert handle.kernel_release() == LOCAL.kernel_release()
    assert handle.hostname() == LOCAL.hostname()
    assert handle.read_text("/proc/sys/kernel/random/boot_id") == LOCAL.read_text(
        "/proc/sys/kernel/random/boot_id"
    )
    for kind_of_namespace in ("pid", "mnt", "net", "uts"):
        assert handle.namespace("self", kind_of_namespace) == LOCAL.namespace(
            os.getpid(), kind_of_namespace
        )
    assert handle.mountinfo("self") == LOCAL.mountinfo(os.getpid())
    assert os.getpid() in {pid for pid, _, _ in handle.processes()}

    run = (Path(engine["FAKE_LOG"]).read_text().splitlines())[0].split()
    assert run[0] == "run" and "runsc" not in run and "--privileged" not in run
    for option in ("--pid=host", "--uts=host", "--cgroupns=host", "--network=none",
                   "--cap-drop=ALL", "--cap-add=SYS_PTRACE", "--cap-add=SYS_CHROOT",
                   "--cap-add=DAC_READ_SEARCH", "--volume=/:/host:ro", "--pull=never",
                   "--label=org.container-claims.run=r1"):  # fmt: skip
        assert option in run, option
    assert any(arg.startswith("--name=cc-r1-host-reader-") for arg in run)
    through.close()
    assert Path(engine["FAKE_LOG"]).read_text().splitlines()[-1].startswith("rm --force cc-r1-")


def test_a_process_held_in_the_reader_is_a_host_process_ended_by_its_pid(
    engine: dict[str, str],
) -> None:
    through = reader(engine)
    handle = through.open(timeout=10)
    held = handle.hold_process("container-claims-test-held", 60)
    try:
        assert LOCAL.read_text(f"/proc/{held.pid}/comm") == "sleep"
        assert LOCAL.read_bytes(f"/proc/{held.pid}/cmdline").startswith(
            b"container-claims-test-held\0"
        )
    finally:
        held.stop()
    assert (
        not Path(f"/proc/{held.pid}").exists()
        or "Z" in LOCAL.read_text(f"/proc/{held.pid}/stat").split(")")[1][:3]
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FAKE_REFUSE", "no privilege", "the engine refused the host reader cc-r1-host-reader-"),
        ("FAKE_NO_CHROOT", "1", "cannot read the host: chroot: cannot change root directory"),
        ("FAKE_PID", "999999999", "cannot read the engine's process that holds it"),
    ],
)
def test_a_reader_the_engine_refuses_says_why_and_reads_nothing(
    engine: dict[str, str], variable: str, value: str, message: str
) -> None:
    through = reader({**engine, variable: value})
    with pytest.raises(RuntimeUnavailable, match=message) as caught:
        through.open(timeout=10)
    assert "\n" not in str(caught.value)
    through.close()  # removed all the same: the engine may have made it before it refused
    assert Path(engine["FAKE_LOG"]).read_text().splitlines()[-1].startswith("rm --force")


def test_a_reader_gone_mid_run_makes_readings_errors_never_absent_files(
    engine: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reading the engine could not make is not "no such file": exists() would read that as
    absent, and a claim would rest on it."""
    through = reader(engine)
    handle = through.open(timeout=10)
    through.env = {**engine, "FAKE_GONE": "1"}
    handle.host.backend.env = through.env

    with pytest.raises(RuntimeUnavailable, match="No such container"):
        handle.exists("/etc/hostname")
    with pytest.raises(RuntimeUnavailable, match="could not read the host through cc-r1-"):
        handle.processes()


def test_a_file_made_on_the_host_by_a_container_of_a_moment_and_removed(
    engine: dict[str, str],
) -> None:
    through = reader(engine)
    handle = through.open(timeout=10)
    made = Path(engine["FAKE_ROOT"]) / "container-claims-host-marker-r1-t0"

    handle.create_file("/container-claims-host-marker-r1-t0", "it's $(here)\n")
    assert made.read_text() == "it's $(here)\n"  # data, never shell
    with pytest.raises(OSError, match="could not change /container-claims-host-marker-r1-t0"):
        handle.create_file("/container-claims-host-marker-r1-t0", "again")  # never overwritten
    handle.remove_file("/container-claims-host-marker-r1-t0")
    assert not made.exists()
    writer = Path(engine["FAKE_LOG"]).read_text().splitlines()[-1].split()
    assert "--volume=/:/host" in writer and "--network=none" in writer and "--rm" in writer


def test_the_hosts_loopback_is_read_from_a_container_of_a_moment(engine: dict[str, str]) -> None:
    import socket
    import threading

    handle = reader(engine).open(timeout=10)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def serve() -> None:
            connection, _ = server.accept()
            with connection:
                connection.sendall(b"hello-from-the-host\n")

        threading.Thread(target=serve, daemon=True).start()
        assert handle.tcp_read(port, idle=1) == TcpReply(True, b"hello-from-the-host\n", "closed")
    assert handle.tcp_read(port, idle=1) == REFUSED  # closed now: refused
    connect = [
        line
        for line in Path(engine["FAKE_LOG"]).read_text().splitlines()
        if "-host-connect-" in line
    ]
    assert "--network=host" in connect[0].split()


def test_a_dead_runs_marker_on_an_engines_host_is_removed_through_the_engine(
    engine: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the ledger says of a marker made through a reader is enough for the next run's
    sweep: the runtime's configuration and image, and a container of a moment removes it."""
    from container_claims import ledger
    from container_claims.sweep import sweep_dead_runs

    for name in ("FAKE_LOG", "FAKE_PID", "FAKE_ROOT"):
        monkeypatch.setenv(name, engine[name])
    name = "container-claims-host-marker-deadrun4-t0"
    (Path(engine["FAKE_ROOT"]) / name).write_text("left by a killed run\n")
    config = RuntimeConfig(name="d", kind="docker", binary=engine["CLI"], host="engine")
    dead = ledger.Ledger("deadrun4")
    dead.record("marker", path=f"/{name}", host="engine", config=config.to_json(), image="img")
    dead.close(clean=False)

    swept = sweep_dead_runs()

    assert swept.problems == [] and swept.given_up == []
    assert f"run deadrun4: file /{name} on the host of d's engine" in swept.removed
    assert not (Path(engine["FAKE_ROOT"]) / name).exists() and not dead.path.exists()
    writer = Path(engine["FAKE_LOG"]).read_text().splitlines()[-1].split()
    assert "--label=org.container-claims.run=deadrun4" in writer and "img" in writer
