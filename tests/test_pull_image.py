"""The image the registry pull stages: a busybox-only root filesystem built in Python, with the
run's token, imported, pushed and removed through the runtime's own CLI; no engine here (the
real engines run it in ``scenarios/registry-pull.yaml`` and its negative control)."""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path
from typing import Any

import pytest

from container_claims.errors import ObservationError
from container_claims.observations import CommandOutcome
from container_claims.processes import run_bounded
from container_claims.runtimes import docker as docker_module
from container_claims.runtimes.base import RUN_LABEL, RuntimeConfig
from container_claims.runtimes.docker import DockerRuntime
from container_claims.runtimes.podman import PodmanRuntime
from container_claims.runtimes.pull_image import BUSYBOX, pull_image_tar

TOKEN = "0123abcd"


def fake_elf(*, interpreter: bool = False, payload: bytes = b"busybox") -> bytes:
    """A little-endian 64-bit ELF header with one program header (PT_LOAD, or PT_INTERP: a
    dynamically linked program's), then ``payload``."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x20, 64)  # e_phoff: right after this header
    struct.pack_into("<HH", header, 0x36, 56, 1)  # e_phentsize, e_phnum
    program = bytearray(56)
    struct.pack_into("<I", program, 0, 3 if interpreter else 1)
    return bytes(header + program) + payload


@pytest.fixture
def busybox(tmp_path: Path) -> Path:
    path = tmp_path / "busybox"
    path.write_bytes(fake_elf())
    return path


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {member.name: member for member in tar.getmembers()}


def read(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read()


def test_the_tar_holds_busybox_its_links_and_the_token_and_nothing_else(busybox: Path) -> None:
    data = pull_image_tar(TOKEN, busybox)

    found = members(data)
    assert sorted(found) == [
        "bin",
        "bin/busybox",
        "bin/cat",
        "bin/sh",
        "etc",
        "etc/container-claims-pull-token",
    ]
    assert found["bin"].isdir() and found["etc"].isdir()
    assert found["bin/busybox"].isfile() and found["bin/busybox"].mode == 0o755
    assert found["bin/cat"].issym() and found["bin/cat"].linkname == "busybox"
    assert found["bin/sh"].issym() and found["bin/sh"].linkname == "busybox"
    assert all(m.uid == 0 and m.gid == 0 for m in found.values())
    assert read(data, "bin/busybox") == busybox.read_bytes()
    # What the scenario's ``cat /etc/container-claims-pull-token`` must print.
    assert read(data, "etc/container-claims-pull-token") == f"{TOKEN}\n".encode()


def test_the_token_alone_makes_the_image_new(busybox: Path) -> None:
    assert pull_image_tar(TOKEN, busybox) == pull_image_tar(TOKEN, busybox)
    assert pull_image_tar(TOKEN, busybox) != pull_image_tar("4567cdef", busybox)


@pytest.mark.skipif(not BUSYBOX.exists(), reason=f"{BUSYBOX} is missing (scripts/setup installs)")
def test_with_the_hosts_busybox_the_image_is_a_few_mb() -> None:
    data = pull_image_tar(TOKEN)

    assert len(data) < 4 * 1024 * 1024  # the test image is about 200 MB
    assert read(data, "bin/busybox") == BUSYBOX.read_bytes()


def test_a_missing_busybox_names_the_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(ObservationError, match="busybox-static"):
        pull_image_tar(TOKEN, tmp_path / "nothing-here")


@pytest.mark.parametrize(
    "content",
    [fake_elf(interpreter=True), b"#!/bin/sh\necho not a program\n", fake_elf()[:60]],
    ids=["dynamic", "script", "cut-short"],
)
def test_a_busybox_that_cannot_run_alone_names_the_package(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "busybox"
    path.write_bytes(content)

    with pytest.raises(ObservationError, match="busybox-static"):
        pull_image_tar(TOKEN, path)


def test_bytes_reach_a_commands_stdin_whole() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value: no text decoding on the way

    done = run_bounded(["wc", "-c"], timeout=30, limit=1024, stdin=data)

    assert done.returncode == 0 and done.stdout.strip() == str(len(data))


class Recorder:
    """Stands in for a runtime's ``_cli``: records each call, fails the one named."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[tuple[list[str], Any]] = []
        self.fail = fail

    def __call__(
        self, args: list[str], *, timeout: float, stdin: Any = None, what: str = ""
    ) -> Any:
        self.calls.append((args, stdin))
        status = 1 if args[0] == self.fail else 0
        return CommandOutcome(output="", status=status, stderr="it went wrong" if status else "")


def staging_runtime(
    cls: type[DockerRuntime], monkeypatch: pytest.MonkeyPatch, busybox: Path, recorder: Recorder
) -> tuple[DockerRuntime, list[str]]:
    config = RuntimeConfig(name="test", kind=cls.kind, run_args=("--pull", "never"))
    runtime = cls(config, image="container-claims/test:bookworm", run_id="run1")
    removed: list[str] = []
    monkeypatch.setattr(
        docker_module, "pull_image_tar", lambda token: pull_image_tar(token, busybox)
    )
    monkeypatch.setattr(runtime, "_cli", recorder)
    monkeypatch.setattr(runtime, "remove_image", removed.append)
    return runtime, removed


@pytest.mark.parametrize("cls", [DockerRuntime, PodmanRuntime])
def test_staging_imports_pushes_and_removes_and_runs_nothing(
    cls: type[DockerRuntime], monkeypatch: pytest.MonkeyPatch, busybox: Path
) -> None:
    recorder = Recorder()
    runtime, removed = staging_runtime(cls, monkeypatch, busybox, recorder)

    staged = runtime.stage_in_registry("127.0.0.1:5000", TOKEN)

    ref = f"127.0.0.1:5000/container-claims/pull:{TOKEN}"
    assert staged == {"ref": ref, "token": TOKEN, "registry": "127.0.0.1:5000"}
    (imported, rootfs), (pushed, _), (deleted, _) = recorder.calls
    assert imported[0] == "import" and imported[-2:] == ["-", ref]
    assert f"LABEL {RUN_LABEL}=run1" in imported  # the sweeps find a leftover by it
    assert rootfs == pull_image_tar(TOKEN, busybox)
    assert pushed == ["push", *cls.loopback_registry_flags, ref]
    assert deleted == ["rmi", ref]
    # The runtime's run arguments (``--pull never`` here) play no part in staging.
    assert not any("never" in args for args, _ in recorder.calls)
    assert removed == []


def test_a_failed_push_is_an_error_and_leaves_no_image(
    monkeypatch: pytest.MonkeyPatch, busybox: Path
) -> None:
    runtime, removed = staging_runtime(DockerRuntime, monkeypatch, busybox, Recorder("push"))

    with pytest.raises(ObservationError, match="push failed: it went wrong"):
        runtime.stage_in_registry("127.0.0.1:5000", TOKEN)

    assert removed == [f"127.0.0.1:5000/container-claims/pull:{TOKEN}"]
