"""The crun variants, docker-crun and podman-crun: packaged entries of the docker and podman
kinds, the wrapper that hides a hybrid host's cgroup v2 hierarchy from crun, and what the
docker kind observes of an engine set apart (no bridge, a network namespace of its own).
No engine needed (tests/integration/test_crun_runtime.py runs them)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from container_claims.errors import RuntimeUnavailable
from container_claims.runtimes import load_runtimes_file
from container_claims.runtimes.base import RuntimeConfig
from container_claims.runtimes.docker import DockerRuntime, _shares_our_network
from container_claims.runtimes.engine_fields import named_oci_runtime

LIBEXEC = Path(__file__).resolve().parents[1] / "src" / "container_claims" / "libexec"
UNIFIED = Path("/sys/fs/cgroup/unified")


def packaged(name: str) -> RuntimeConfig:
    return next(config for config in load_runtimes_file() if config.name == name)


def test_docker_crun_runs_crun_on_an_engine_of_its_own() -> None:
    config = packaged("docker-crun")
    assert config.kind == "docker" and named_oci_runtime(config.run_args) == "crun"
    assert dict(config.env)["DOCKER_HOST"] == "unix:///run/container-claims/crun/docker.sock"


def test_podman_crun_runs_crun_through_the_shipped_wrapper() -> None:
    config = packaged("podman-crun")
    assert config.kind == "podman" and named_oci_runtime(config.run_args) == "crun"
    assert Path(config.binary) == LIBEXEC / "podman-crun"
    assert os.access(config.binary, os.X_OK)
    # The limits of the packaged podman: this machine withholds CAP_SYS_RESOURCE.
    podman = packaged("podman").run_args
    assert config.run_args[2:] == podman[2:]


class Engine:
    """An engine's answers for :meth:`DockerRuntime.check`, with the networks it has."""

    def __init__(self, networks: list[str]) -> None:
        self._networks = networks

    def version(self) -> dict[str, Any]:
        return {"Version": "20.10.24", "ApiVersion": "1.41", "Components": []}

    def info(self) -> dict[str, Any]:
        return {"DefaultRuntime": "runc", "Runtimes": {"runc": {"path": "runc"}}}

    @property
    def networks(self) -> Any:
        found = [type("Network", (), {"name": name})() for name in self._networks]
        return type("Networks", (), {"list": staticmethod(lambda: found)})()


def checked(networks: list[str], monkeypatch: pytest.MonkeyPatch, *, ours: bool) -> DockerRuntime:
    from container_claims.runtimes import docker

    monkeypatch.setattr(docker, "_shares_our_network", lambda _: ours)
    runtime = DockerRuntime(RuntimeConfig("r", "docker", binary="true"), image="i", run_id="r")
    runtime._client = Engine(networks)
    runtime.check()
    runtime._client = None
    return runtime


def test_an_engine_without_a_bridge_gives_no_network_and_publishes_no_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = checked(["host", "none"], monkeypatch, ours=True)
    assert DockerRuntime.capabilities - runtime.capabilities == {"network", "ports"}
    assert checked(["bridge", "host", "none"], monkeypatch, ours=True).capabilities == (
        DockerRuntime.capabilities
    )


def test_an_engine_in_another_network_namespace_reaches_neither_registry_nor_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = checked(["bridge"], monkeypatch, ours=False)
    assert DockerRuntime.capabilities - runtime.capabilities == {"registry", "ports"}


def serve(path: Path, argv: list[str]) -> subprocess.Popen[bytes]:
    """A unix socket server at ``path``, by ``argv`` + a Python one-liner, until killed."""
    code = (
        "import socket,sys,time;s=socket.socket(socket.AF_UNIX);s.bind(sys.argv[1]);s.listen(4)\n"
        "while True: s.accept()[0].close()"
    )
    server = subprocess.Popen([*argv, sys.executable, "-c", code, str(path)])
    deadline = time.monotonic() + 10
    while server.poll() is None and time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX) as probe:  # listening, not only bound
            if probe.connect_ex(str(path)) == 0:
                break
        time.sleep(0.02)
    return server


def test_the_engines_network_namespace_is_read_from_its_sockets_peer(tmp_path: Path) -> None:
    here = serve(tmp_path / "here.sock", [])
    try:
        assert _shares_our_network(f"unix://{tmp_path / 'here.sock'}")
    finally:
        here.kill()  # ours, by its PID
        here.wait()
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a server in a network namespace of its own needs root and unshare")
    apart = serve(tmp_path / "apart.sock", ["unshare", "--net", "--"])
    try:
        assert apart.poll() is None, "unshare --net could not start the server"
        assert not _shares_our_network(f"unix://{tmp_path / 'apart.sock'}")
    finally:
        apart.kill()
        apart.wait()
    # What cannot be told is taken as shared: nothing is dropped on a guess.
    assert _shares_our_network("tcp://127.0.0.1:2375")
    assert _shares_our_network(f"unix://{tmp_path / 'nonesuch.sock'}")


def test_an_engine_that_does_not_answer_is_unavailable_saying_where_and_how_to_start_it(
    tmp_path: Path,
) -> None:
    address = f"unix://{tmp_path / 'docker.sock'}"
    config = RuntimeConfig("c", "docker", binary="true", env=(("DOCKER_HOST", address),))
    runtime = DockerRuntime(config, image="i", run_id="r")
    with runtime, pytest.raises(RuntimeUnavailable) as caught:
        runtime.check()
    said = str(caught.value)
    assert address in said and "scripts/setup" in said and "\n" not in said


# -- the wrapper ---------------------------------------------------------------------------

needs_hybrid_root = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.ismount(UNIFIED),
    reason="hiding the unified hierarchy needs root on a hybrid cgroup host",
)


@pytest.mark.parametrize(
    "argv",
    [
        ["-rf", "/"],  # leading '-': an argument, never an option of the wrapper
        ["$(touch /tmp/cc-crun-pwned)", "`id`", "a;b", "a b", "*", "'\"", "../../etc"],
        ["x" * 100_000],
        [""],
    ],
)
def test_unified_hidden_passes_its_arguments_untouched(argv: list[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("a mount namespace of its own needs root")
    done = subprocess.run(
        [str(LIBEXEC / "unified-hidden"), sys.executable, "-c",
         "import json,sys;print(json.dumps(sys.argv[1:]))", *argv],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout) == argv
    assert not Path("/tmp/cc-crun-pwned").exists()


@needs_hybrid_root
def test_unified_hidden_hides_the_unified_hierarchy_from_the_command_only() -> None:
    inside = subprocess.run(
        [str(LIBEXEC / "unified-hidden"), "mountpoint", "-q", str(UNIFIED)], timeout=30
    )
    assert inside.returncode != 0  # not a mount point in there
    assert os.path.ismount(UNIFIED)  # the host keeps it
    mounts = Path("/proc/self/mountinfo").read_text()
    assert f" {UNIFIED} " in mounts


@needs_hybrid_root
def test_the_command_of_unified_hidden_is_no_shell_string(tmp_path: Path) -> None:
    """The command itself is exec'd as given: a name with metacharacters is a file name."""
    done = subprocess.run(
        [str(LIBEXEC / "unified-hidden"), "true; touch /tmp/cc-crun-pwned"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode != 0 and not Path("/tmp/cc-crun-pwned").exists()


def test_the_wrapper_is_in_the_package_data() -> None:
    import tomllib

    data = tomllib.loads((LIBEXEC.parents[2] / "pyproject.toml").read_text())
    assert "libexec/*" in data["tool"]["setuptools"]["package-data"]["container_claims"]
