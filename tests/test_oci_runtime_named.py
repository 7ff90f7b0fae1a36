"""Every container a Podman entry makes runs on the OCI runtime the entry names: its
containers', its builds' RUN lines, its API service's and its host reader's. Podman's default
is whichever OCI runtime its packages find first, and installing crun (which refuses this
machine's hybrid cgroups) makes it crun: an entry that names its runtime keeps its verdicts
whatever is installed. No engine needed: the command lines are read before they run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from container_claims import ledger, processes
from container_claims.errors import RuntimeUnavailable
from container_claims.observations import CommandOutcome
from container_claims.probes.reader import reader_run_args
from container_claims.runtimes import load_runtimes_file, made_images, podman
from container_claims.runtimes.base import RuntimeConfig
from container_claims.runtimes.docker import DockerRuntime
from container_claims.runtimes.engine_fields import named_oci_runtime
from container_claims.runtimes.podman import PodmanRuntime


def runtime(kind: type[DockerRuntime], *run_args: str) -> DockerRuntime:
    config = RuntimeConfig(name="p", kind=kind.kind, binary=kind.kind, run_args=run_args)
    return kind(config, image="img", run_id="r1")


def built_argv(on: DockerRuntime, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[list[str]] = []

    def cli(args: list[str], **_: Any) -> CommandOutcome:
        seen.append(args)
        return CommandOutcome(output="", status=0)

    monkeypatch.setattr(on, "_cli", cli)
    made_images._build(on, "sha256:base", ("RUN true",), "ref", 10)
    return seen[0]


@pytest.mark.parametrize(
    ("run_args", "named"),
    [
        (("--runtime", "runc", "--ulimit", "nofile=1024:1024"), "runc"),
        (("--runtime=crun",), "crun"),
        (("--runtime", "runc", "--runtime", "crun"), "crun"),  # the last one, as the CLI reads
        (("--ulimit", "nofile=1024:1024"), ""),
        (("--runtime",), ""),  # no value: the CLI refuses it, nothing is named here
    ],
)
def test_the_oci_runtime_an_entry_names(run_args: tuple[str, ...], named: str) -> None:
    assert named_oci_runtime(run_args) == named


def test_a_podman_build_runs_its_lines_on_the_entrys_oci_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = built_argv(runtime(PodmanRuntime, "--runtime", "runc"), monkeypatch)
    assert argv[0] == "build" and argv[argv.index("--runtime") + 1] == "runc"
    assert "--pull=never" in argv


def test_a_podman_entry_that_names_none_builds_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "--runtime" not in built_argv(runtime(PodmanRuntime), monkeypatch)


def test_dockers_build_has_no_runtime_option(monkeypatch: pytest.MonkeyPatch) -> None:
    """Docker's build has no ``--runtime``: its RUN lines run on the daemon's default."""
    argv = built_argv(runtime(DockerRuntime, "--runtime", "runsc"), monkeypatch)
    assert not any(arg.startswith("--runtime") for arg in argv)


def test_podmans_api_service_runs_on_the_entrys_oci_runtime(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[list[str]] = []

    class Ended:
        pid = 0

        def poll(self) -> int:
            return 1

    def start(argv: list[str], **_: Any) -> Ended:
        started.append(argv)
        return Ended()

    monkeypatch.setattr(processes, "start", start)
    monkeypatch.setattr(podman, "end_child", lambda _: None)
    monkeypatch.setattr(ledger, "record", lambda *_, **__: None)
    monkeypatch.setattr(ledger, "record_process", lambda *_: None)
    monkeypatch.setattr(podman, "make_temp_dir", lambda _: tmp_path)
    monkeypatch.setattr(shutil, "which", lambda *_, **__: "/usr/bin/podman")
    on = runtime(PodmanRuntime, "--runtime", "runc", "--ulimit", "nofile=1024:1024")
    with pytest.raises(RuntimeUnavailable, match="did not start"):
        on.engine_url()
    assert started[0][:5] == ["podman", "--runtime", "runc", "system", "service"]


@pytest.mark.parametrize(
    ("kind", "run_args", "kept"),
    [
        ("podman", ("--runtime", "runc", "-e", "A=1"), ["--runtime", "runc", "-e", "A=1"]),
        ("podman", ("--runtime", "/usr/bin/runsc", "-e", "A=1"), ["-e", "A=1"]),  # a sandbox
        ("docker", ("--runtime", "crun", "-e", "A=1"), ["-e", "A=1"]),  # the daemon's default
    ],
)
def test_a_podman_reader_keeps_the_entrys_oci_runtime_unless_a_sandbox(
    kind: str, run_args: tuple[str, ...], kept: list[str]
) -> None:
    assert reader_run_args(run_args, kind) == kept


def test_every_packaged_podman_entry_names_its_oci_runtime() -> None:
    """A package install (crun) changes Podman's default: never a packaged verdict."""
    entries = [config for config in load_runtimes_file() if config.kind == "podman"]
    assert entries
    for config in entries:
        assert named_oci_runtime(config.run_args), config.name
