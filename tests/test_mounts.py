"""Mount options and the host directories a scenario declares: how the file loads, what each
runtime kind is told, what a kind declares it can do, and the directories' host side, with
what a container could plant there (links, FIFOs, deep trees, huge files).

What the loader refuses, line by line, is in the corpus (tests/corpus/); that each option
works, and fails under its negative control, on the five runtimes is in
tests/integration/test_mounts_on_runtimes.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import textwrap
import threading
from pathlib import Path
from typing import cast

import pytest

from container_claims import ledger
from container_claims.errors import ObservationError
from container_claims.execute import needed_capabilities
from container_claims.paths import directories_dir, is_ours
from container_claims.probes import directories
from container_claims.probes.api import ProbeContext
from container_claims.runtimes.base import Names, RuntimeConfig
from container_claims.runtimes.bwrap import BwrapRuntime
from container_claims.runtimes.docker import DockerRuntime
from container_claims.runtimes.podman import PodmanRuntime
from container_claims.runtimes.unshare import UnshareRuntime
from container_claims.scenario import load_scenario
from container_claims.scenario.model import (
    ContainerSpec,
    Directory,
    DirectoryFile,
    Mount,
    Tmpfs,
)
from container_claims.scenario.safety import spec_problems
from container_claims.scenario.steps import RunStep
from container_claims.sweep import sweep_dead_runs
from tests.conftest import FakeRuntimes

SCENARIO = """\
section: Mounts
directories:
  site:
    mode: "0777"
    files:
      index.html: {text: "hello\\n", mode: "0600"}
      notes.txt: {text: "two\\nlines\\n"}
volumes: [data]
container:
  command: [/bin/bash]
  tty: true
  interactive: true
  volumes:
    data: /data
    site: {path: /srv, read_only: true}
  anonymous_volumes: [/uploads]
  tmpfs: [/scratch, {path: /fast, size: 16m, mode: "1777"}]
steps:
  - run: {volumes_from: [main], command: [cat, /uploads/x]}
    save: shared
  - probe: host.directory_read
    with: {directory: site, file: index.html}
    save: index
claims:
  - id: shared
    says: A container mounts another's volumes.
    expect: [{that: shared, equals: x}]
  - id: served
    says: The host reads the file.
    expect: [{that: index.text, equals: "hello\\n"}]
"""


def _load(tmp_path: Path, text: str, name: str = "s.yaml") -> object:
    path = tmp_path / name
    path.write_text(text)
    return load_scenario(path, name)


def test_the_forms_become_the_model_and_each_names_its_capability(tmp_path: Path) -> None:
    path = tmp_path / "mounts.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path, "mounts.yaml")

    (site,) = scenario.directories
    assert site == Directory(
        "site",
        (DirectoryFile("index.html", "hello\n", 0o600), DirectoryFile("notes.txt", "two\nlines\n")),
        0o777,
    )
    assert scenario.container is not None
    spec = scenario.container.spec
    assert spec.volumes == (
        Mount("data", "/data"),
        Mount("site", "/srv", kind="directory", read_only=True),
    )
    assert spec.anonymous_volumes == ("/uploads",)
    assert spec.tmpfs == (Tmpfs("/scratch"), Tmpfs("/fast", size="16m", mode="1777"))
    assert spec.capabilities() >= {
        "volumes",
        "directories",
        "read-only-mounts",
        "anonymous-volumes",
        "tmpfs",
        "tmpfs-options",
    }
    run = scenario.steps[0]
    assert isinstance(run, RunStep) and run.spec.volumes_from == ("main",)
    assert "volumes-from" in run.capabilities()
    served = next(c for c in scenario.claims if c.id == "served")
    assert "directories" in needed_capabilities(scenario, served)  # the probe's, and main's


def test_a_container_taking_anothers_volumes_needs_what_that_one_needed(tmp_path: Path) -> None:
    path = tmp_path / "from.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            section: Mounts
            steps:
              - run: {name: keeper, detach: true, tmpfs: [{path: /k, size: 1m}], command: [sleep, "9"]}
              - run: {volumes_from: [keeper], command: ["true"]}
                save: reader
            claims:
              - {id: c, says: C, expect: [{that: reader.status, equals: 0}]}
            """
        )
    )
    reader = load_scenario(path, "from.yaml").steps[1]
    assert reader.capabilities() == {"volumes-from", "tmpfs", "tmpfs-options"}


def test_plain_forms_need_only_what_they_did() -> None:
    spec = ContainerSpec(volumes=(("data", "/data"),), tmpfs=("/scratch",))  # type: ignore[arg-type]
    assert spec.volumes == (Mount("data", "/data"),) and spec.tmpfs == (Tmpfs("/scratch"),)
    assert spec.capabilities() == {"volumes", "tmpfs"}


def test_values_filled_in_by_templates_are_checked_again() -> None:
    """After templates, a spec is plain data (dataclasses.asdict): a mount option smuggled into
    a path, a size or a mode is refused there too."""
    for spec, field in (
        (ContainerSpec(volumes=(Mount("d", "/srv:rw,rshared", "directory"),)), "volumes"),
        (ContainerSpec(anonymous_volumes=("/up/../etc",)), "anonymous_volumes"),
        (ContainerSpec(tmpfs=(Tmpfs("/fast", size="1g,exec"),)), "tmpfs"),
        (ContainerSpec(tmpfs=(Tmpfs("/fast", mode="777,exec"),)), "tmpfs"),
        (ContainerSpec(volumes_from=("--privileged",)), "volumes_from"),
    ):
        problems = dict(spec_problems(dataclasses.asdict(spec), allow_host_access=False))
        assert list(problems) == [field], spec
    plain = ContainerSpec(
        volumes=(Mount("d", "/srv", "directory", read_only=True),),
        tmpfs=(Tmpfs("/fast", "16m", "1777"),),
        anonymous_volumes=("/uploads",),
        volumes_from=("keeper",),
    )
    assert list(spec_problems(dataclasses.asdict(plain), allow_host_access=False)) == []


SPEC = ContainerSpec(
    volumes=(
        Mount("cc-r-t-data", "/data", read_only=True),
        Mount("/state/directories/r-t-site", "/srv", kind="directory"),
    ),
    anonymous_volumes=("/uploads",),
    volumes_from=("cc-r-t-keeper",),
    tmpfs=(Tmpfs("/scratch"), Tmpfs("/fast", size="16m", mode="1777")),
)


def test_docker_and_podman_get_the_flags_of_the_same_name() -> None:
    for kind in (DockerRuntime, PodmanRuntime):
        runtime = kind(RuntimeConfig("r", kind.kind), image="img:1", run_id="r")
        options = runtime.run_argv(SPEC, "cc-r-t-main", "img:1")
        options = options[: options.index("--")]
        assert [o for o in options if o.startswith(("--volume", "--tmpfs"))] == [
            "--tmpfs=/scratch",
            "--tmpfs=/fast:size=16m,mode=1777",
            "--volume=cc-r-t-data:/data:ro",
            "--volume=/state/directories/r-t-site:/srv",
            "--volume=/uploads",
            "--volumes-from=cc-r-t-keeper",
        ]


def test_bwrap_binds_directories_sizes_tmpfs_and_turns_the_root_read_only_last(
    tmp_path: Path,
) -> None:
    bwrap = BwrapRuntime(
        RuntimeConfig("bwrap", "bwrap", rootfs=str(tmp_path)), image="i", run_id="r"
    )
    spec = ContainerSpec(
        read_only=True,
        volumes=(
            Mount("/d/site", "/srv", kind="directory", read_only=True),
            Mount("/d/drop", "/drop", kind="directory"),
        ),
        tmpfs=(Tmpfs("/scratch"), Tmpfs("/fast", size="16m", mode="1777")),
    )
    argv = bwrap.wrap(spec, tmp_path)
    setup = argv[: argv.index("--chdir")]
    assert setup[:3] == ["--bind", str(tmp_path), "/"]
    assert setup[3:12] == [
        "--tmpfs",
        "/scratch",
        "--size",
        str(16 << 20),
        "--perms",
        "1777",
        "--tmpfs",
        "/fast",
        "--ro-bind",
    ]
    assert setup[12:17] == ["/d/site", "/srv", "--bind", "/d/drop", "/drop"]
    assert setup[-2:] == ["--remount-ro", "/"]  # after every mount point was made
    assert "--remount-ro" not in bwrap.wrap(ContainerSpec(tmpfs=(Tmpfs("/t"),)), tmp_path)


def test_kinds_declare_only_what_they_honour(tmp_path: Path) -> None:
    local = DockerRuntime(RuntimeConfig("docker", "docker"), image="i", run_id="r")
    assert {"directories", "read-only-mounts", "anonymous-volumes", "volumes-from"} <= set(
        local.capabilities
    )
    for host in ("ssh://root@edge-1", "engine"):
        for kind in (DockerRuntime, PodmanRuntime):
            elsewhere = kind(RuntimeConfig("d", kind.kind, host=host), image="i", run_id="r")
            assert "directories" not in elsewhere.capabilities, (kind, host)
            assert "volumes-from" in elsewhere.capabilities  # the engine's own, wherever it is
    assert "directories" in DockerRuntime.capabilities  # the class is untouched
    bwrap = BwrapRuntime(RuntimeConfig("b", "bwrap"), image="i", run_id="r").capabilities
    assert {"directories", "read-only-mounts", "tmpfs-options"} <= bwrap
    assert not {"volumes", "anonymous-volumes", "volumes-from"} & bwrap
    unshare = UnshareRuntime(RuntimeConfig("u", "unshare"), image="i", run_id="r").capabilities
    assert not {"directories", "read-only-mounts", "tmpfs-options", "tmpfs"} & unshare
    with pytest.raises(ObservationError, match="cannot give a container anonymous-volumes"):
        BwrapRuntime(RuntimeConfig("b", "bwrap", rootfs=str(tmp_path)), image="i", run_id="r").argv(
            ContainerSpec(anonymous_volumes=("/uploads",))
        )


# -- the host side --------------------------------------------------------------------------
SITE = Directory(
    "site",
    (DirectoryFile("index.html", "hello\n", 0o600), DirectoryFile("run.sh", "#!/bin/sh\n", 0o755)),
    0o770,
)


class _Context:
    """What the directory probes use of a probe's context: the scenario's names."""

    def __init__(self, path: Path) -> None:
        self.names = Names(prefix="cc-r-t", directories={"site": str(path)})


@pytest.fixture
def site() -> Path:
    path = directories.path_for("run1", "t0", "site")
    os.umask(0o077)  # modes are the scenario's, whatever the umask
    try:
        directories.make(path, SITE)
    finally:
        os.umask(0o022)
    return path


def test_a_directory_is_made_with_its_files_and_modes_where_only_root_reaches(site: Path) -> None:
    assert site.parent == directories_dir() and is_ours(site)
    assert stat.S_IMODE(site.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(site.stat().st_mode) == 0o770
    assert (site / "index.html").read_text() == "hello\n"
    assert stat.S_IMODE((site / "index.html").stat().st_mode) == 0o600
    assert stat.S_IMODE((site / "run.sh").stat().st_mode) == 0o755
    assert not is_ours(site / "index.html") and not is_ours(Path("/etc"))


def test_the_host_reads_what_is_there_and_follows_no_link(site: Path, tmp_path: Path) -> None:
    ctx = cast(ProbeContext, _Context(site))
    secret = tmp_path / "secret"
    secret.write_text("host only\n")
    (site / "link").symlink_to(secret)
    os.mkfifo(site / "pipe")  # a read that opened it would wait for a writer for ever
    (site / "sub").mkdir()
    (site / "big").write_bytes(b"x" * (directories.READ_LIMIT + 1))

    read = directories.read
    assert read(ctx, "site", "index.html") == {
        "exists": True,
        "kind": "file",
        "text": "hello\n",
        "mode": "0600",
        "bytes": 6,
    }
    link = read(ctx, "site", "link")
    assert link["kind"] == "symlink" and link["text"] is None
    assert read(ctx, "site", "pipe")["kind"] == "fifo"
    assert read(ctx, "site", "sub")["kind"] == "directory"
    assert read(ctx, "site", "gone") == {
        "exists": False,
        "kind": "missing",
        "text": None,
        "mode": None,
        "bytes": None,
    }
    with pytest.raises(ObservationError, match="more than 1,048,576 bytes: not read whole"):
        read(ctx, "site", "big")
    with pytest.raises(ObservationError, match="directory other was not made"):
        read(ctx, "other", "x")


def test_the_host_writes_only_a_file_and_never_through_a_link(site: Path, tmp_path: Path) -> None:
    ctx = cast(ProbeContext, _Context(site))
    secret = tmp_path / "secret"
    secret.write_text("host only\n")
    (site / "link").symlink_to(secret)
    os.mkfifo(site / "pipe")
    write = directories.write

    assert write(ctx, "site", "new.txt", "from host\n", "0640") == {
        "bytes": 10,
        "mode": "0640",
    }
    assert (site / "new.txt").read_text() == "from host\n"
    assert write(ctx, "site", "index.html", "hi")["bytes"] == 2
    assert (site / "index.html").read_text() == "hi"  # replaced, not appended
    with pytest.raises(ObservationError, match="link was not written: it is a symlink there"):
        write(ctx, "site", "link", "planted\n")
    assert secret.read_text() == "host only\n" and (site / "link").is_symlink()
    # A FIFO with no reader: refused at once, never a write that waits for one.
    refused: list[str] = []

    def write_to_pipe() -> None:
        try:
            write(ctx, "site", "pipe", "x")
        except ObservationError as exc:
            refused.append(str(exc))

    writer = threading.Thread(target=write_to_pipe, daemon=True)
    writer.start()
    writer.join(timeout=5)
    assert not writer.is_alive() and len(refused) == 1
    with pytest.raises(ObservationError, match="pipe was not written: it is a fifo there"):
        write(ctx, "site", "pipe", "x")


def test_removal_follows_no_link_and_goes_however_deep(site: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("kept\n")
    (site / "link").symlink_to(outside)
    os.mkfifo(site / "pipe")
    deep = os.open(site, os.O_RDONLY)
    for _ in range(1200):  # deeper than rmtree's recursion goes
        os.mkdir("d", dir_fd=deep)
        inner = os.open("d", os.O_RDONLY, dir_fd=deep)
        os.close(deep)
        deep = inner
    os.close(deep)

    directories.remove(site)

    assert not site.exists()
    assert (outside / "keep").read_text() == "kept\n"


def test_a_killed_runs_directory_is_swept_by_the_next_run() -> None:
    dead = ledger.open_ledger("deadrun7")
    path = directories.path_for("deadrun7", "t0", "site")
    directories.make(path, SITE)
    dead.close(clean=False)  # as a SIGKILL leaves it

    swept = sweep_dead_runs()

    assert f"run deadrun7: directory {path}" in swept.removed
    assert not path.exists()


def test_a_scenario_with_a_directory_runs_and_leaves_nothing(
    pytester: pytest.Pytester, fake_runtimes: FakeRuntimes
) -> None:
    """On the scripted runtime (for the flow, never as evidence): the directory is made before
    the first step, read and written on the host by the probes, and removed at the end."""
    runtimes = fake_runtimes(pytester.path, {"fake": {}})
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "dirs.yaml").write_text(
        textwrap.dedent(
            """\
            section: Mounts
            directories:
              site:
                files:
                  index.html: {text: "hello\\n"}
            steps:
              - probe: host.directory_write
                with: {directory: site, file: new.txt, text: "id={{ token }}\\n", mode: "0600"}
                save: wrote
              - probe: host.directory_read
                with: {directory: site, file: new.txt}
                save: new
              - probe: host.directory_read
                with: {directory: site, file: index.html}
                save: index
            claims:
              - id: host-side
                says: The host writes and reads the scenario's directory.
                expect:
                  - {that: new.text, equals: "id={{ token }}\\n"}
                  - {that: new.mode, equals: "0600"}
                  - {that: index.text, equals: "hello\\n"}
                  - {that: wrote.bytes, equals: 12}
            """
        )
    )

    result = pytester.runpytest_subprocess(
        "scenarios",
        "-p",
        "no:cacheprovider",
        "--runtimes-file",
        str(runtimes),
        "--claims-json",
        "out.json",
    )

    assert result.ret == 0, result.stdout.str()[-2000:]
    (record,) = json.loads((pytester.path / "out.json").read_text())["results"]
    assert record["verdict"] == "pass"
    assert list(directories_dir().iterdir()) == []
