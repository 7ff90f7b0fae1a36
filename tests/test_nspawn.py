"""The nspawn kind's command line, its cgroups and what a hostile scenario can make of them.

No container starts here: tests/integration/test_nspawn_runtime.py runs the catalogue."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from container_claims import ledger, processes
from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.runtimes import nspawn
from container_claims.runtimes.base import RuntimeConfig
from container_claims.runtimes.confinement import ALL_CAPABILITIES, JAIL
from container_claims.runtimes.namespaces import _WRAPPER_ERRORS, NamespaceRuntime, make_mount_point
from container_claims.runtimes.nspawn import NspawnRuntime
from container_claims.scenario.model import ContainerSpec, Mount, Tmpfs


def _runtime(tmp_path: Path, binary: str = "systemd-nspawn") -> NspawnRuntime:
    return NspawnRuntime(
        RuntimeConfig("nspawn", "nspawn", binary=binary, rootfs=str(tmp_path)),
        image="i",
        run_id="r1",
    )


def _options(argv: list[str]) -> list[str]:
    return argv[: argv.index("--")]


def test_the_command_line_of_a_plain_container(tmp_path: Path) -> None:
    argv = _runtime(tmp_path).wrap(ContainerSpec(command=("true",)), tmp_path)
    options = _options(argv)
    assert {
        "--quiet",
        f"--directory={tmp_path}",
        "--register=no",
        "--keep-unit",
        "--private-network",
        "--volatile=overlay",
        "--console=pipe",
    } <= set(options)
    assert "--read-only" not in options and "--as-pid2" not in options
    assert argv[-2:] == ["--", "true"]


def test_options_a_scenario_asks_for(tmp_path: Path) -> None:
    spec = ContainerSpec(
        tty=True,
        init=True,
        read_only=True,
        workdir="/tmp",
        hostname="cc-named",
        tmpfs=(Tmpfs("/scratch"), Tmpfs("/fast", size="16m", mode="1777")),
        volumes=(
            Mount("/var/lib/cc/dirs/r1-a-site", "/srv", "directory", read_only=True),
            Mount("/var/lib/cc/dirs/r1-a-data", "/data", "directory"),
        ),
        security_opt=("no-new-privileges",),
    )
    options = _options(_runtime(tmp_path).wrap(spec, tmp_path))
    assert {
        "--read-only",
        "--console=interactive",
        "--as-pid2",
        "--chdir=/tmp",
        "--hostname=cc-named",
        "--tmpfs=/scratch",
        "--tmpfs=/fast:mode=1777,size=16m",
        "--bind-ro=/var/lib/cc/dirs/r1-a-site:/srv",
        "--bind=/var/lib/cc/dirs/r1-a-data:/data",
        "--no-new-privileges=yes",
    } <= set(options)
    assert "--volatile=overlay" not in options  # it would make the read-only root writable


@pytest.mark.parametrize(
    ("spec", "kept"),
    [
        (ContainerSpec(), {"CAP_CHOWN", "CAP_SETUID", "CAP_NET_RAW"}),
        (ContainerSpec(cap_drop=("CHOWN",)), {"CAP_SETUID"}),
        (ContainerSpec(cap_drop=("ALL",)), set()),
        (ContainerSpec(cap_drop=("ALL",), cap_add=("NET_ADMIN",)), {"CAP_NET_ADMIN"}),
    ],
)
def test_the_root_keeps_only_the_capabilities_the_suite_grants(
    tmp_path: Path, spec: ContainerSpec, kept: set[str]
) -> None:
    """nspawn's own default set is wider (CAP_SYS_ADMIN, CAP_NET_ADMIN with a private
    network...): every capability not kept is dropped by name, so nothing of it is left."""
    options = _options(_runtime(tmp_path).wrap(spec, tmp_path))
    added = {o for o in options if o.startswith("--capability=")}
    dropped = {o for o in options if o.startswith("--drop-capability=")}
    given = set(next(iter(added)).split("=", 1)[1].split(",")) if added else set()
    taken = set(dropped.pop().split("=", 1)[1].split(","))
    assert kept <= given
    assert given | taken == {f"CAP_{cap.upper()}" for cap in ALL_CAPABILITIES}
    assert not given & taken
    assert ("CAP_SYS_ADMIN" in taken) and ("CAP_MKNOD" in taken)


def test_the_capability_list_is_the_jails() -> None:
    import runpy

    jail = runpy.run_path(str(JAIL), run_name="not_main")
    assert tuple(jail["CAPABILITIES"]) == ALL_CAPABILITIES


HOSTILE = [
    "--privileged",
    "-D/",
    "x; rm -rf / #",
    "$(touch /tmp/owned)",
    "../../../etc",
    "a" * 100_000,
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_scenarios_values_never_become_options(tmp_path: Path, value: str) -> None:
    """Every value is joined to its option by '=' (or follows '--'): none stands alone where
    nspawn reads an option, whatever it begins with, and nothing reaches a shell."""
    spec = ContainerSpec(
        hostname=value,
        workdir=f"/{value}",
        env=(("GREETING", value),),
        command=(value, value),
    )
    argv = _runtime(tmp_path).wrap(spec, tmp_path)
    options = _options(argv)
    assert all(option.startswith("--") for option in options)  # each one token: --NAME[=VALUE]
    assert f"--hostname={value}" in options and f"--setenv=GREETING={value}" in options
    assert not any(option == value for option in options)
    assert argv[argv.index("--") + 1 :] == [value, value]


@pytest.mark.parametrize("path", ["/a:b", "/a,b", "/a b", "relative", "/a\\b"])
def test_paths_nspawn_would_split_are_refused(tmp_path: Path, path: str) -> None:
    runtime = _runtime(tmp_path)
    with pytest.raises(ObservationError, match="nspawn cannot bind the path"):
        runtime.wrap(ContainerSpec(tmpfs=(Tmpfs(path),)), tmp_path)
    with pytest.raises(ObservationError, match="nspawn cannot bind the path"):
        runtime.wrap(ContainerSpec(volumes=(Mount("/var/x", path, "directory"),)), tmp_path)


def test_what_nspawn_cannot_give_is_refused_before_anything_runs(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    for spec, capability in [
        (ContainerSpec(user="1000:1000"), "user"),
        (ContainerSpec(pid="host"), "host-pid"),
        (ContainerSpec(memory="64m"), "resources"),
        (ContainerSpec(shm_size="64m"), "shm-size"),
    ]:
        with pytest.raises(ObservationError, match=f"cannot give a container {capability}"):
            runtime.argv(spec, "c")
    assert not list(tmp_path.iterdir())  # no copy, no cgroup was made for them


def test_check_says_why_nspawn_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = _runtime(tmp_path, binary="/nonexistent/systemd-nspawn")
    with pytest.raises(RuntimeUnavailable, match="'/nonexistent/systemd-nspawn' is not an exec"):
        missing.check()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "bash").write_text("")
    monkeypatch.setattr(NamespaceRuntime, "check", lambda self: None)
    monkeypatch.setattr(nspawn, "hierarchies", lambda text: [])
    with pytest.raises(RuntimeUnavailable, match="no unified or systemd cgroup hierarchy"):
        _runtime(tmp_path).check()


def test_the_cgroups_nspawn_places_itself_in(tmp_path: Path) -> None:
    hybrid = "9:name=systemd:/\n4:memory:/process_api/x\n0::/\n"
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.procs").write_text("")
    assert nspawn.hierarchies(hybrid, tmp_path) == [tmp_path / "systemd", tmp_path / "unified"]
    unified_only = "0::/user.slice/session-1.scope\n"
    assert nspawn.hierarchies(unified_only, tmp_path / "v2") == [
        tmp_path / "v2" / "user.slice" / "session-1.scope"
    ]
    assert nspawn.hierarchies("4:memory:/\n", tmp_path) == []


def test_a_runs_cgroups_are_found_by_their_name(tmp_path: Path) -> None:
    for name in ["container-claims-r1-7-1", "container-claims-r2-7-1", "cc-exp", "payload"]:
        (tmp_path / name).mkdir()
    assert nspawn.cgroups_of("r1", frozenset(), [tmp_path]) == [
        tmp_path / "container-claims-r1-7-1"
    ]
    # cleanup: every run not alive; never what another program named
    assert nspawn.cgroups_of(None, frozenset({"r2"}), [tmp_path]) == [
        tmp_path / "container-claims-r1-7-1"
    ]


def test_a_cgroup_outside_the_hierarchies_is_never_removed(tmp_path: Path) -> None:
    for path in [str(tmp_path), "/sys/fs/cgroup/../../etc", "/sys/fs/cgroupx/a"]:
        with pytest.raises(OSError, match="not a cgroup the suite made"):
            processes.remove_cgroup(path)


def test_a_ledger_names_only_its_own_runs_cgroups(monkeypatch: pytest.MonkeyPatch) -> None:
    removed: list[str] = []

    def remove(path: str) -> bool:
        removed.append(path)
        return True

    monkeypatch.setattr(ledger, "remove_cgroup", remove)
    run = ledger.DeadRun(Path("/nowhere"), "r1")
    for path in ["/sys/fs/cgroup/unified/cc-exp", "/sys/fs/cgroup/unified/container-claims-r2-1"]:
        assert ledger._sweep({"kind": "cgroup", "path": path}, run, _no, _no) == []
    ours = "/sys/fs/cgroup/unified/container-claims-r1-7-1"
    assert ledger._sweep({"kind": "cgroup", "path": ours}, run, _no, _no) == [f"cgroup {ours}"]
    assert removed == [ours]


def _no(entry: dict[str, Any], run_id: str) -> list[str]:
    raise AssertionError("not a runtime's entry")


def test_mount_points_are_made_in_the_root_and_never_through_a_link(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    make_mount_point(root, "/scratch/deep")
    assert (root / "scratch" / "deep").is_dir()
    (root / "link").symlink_to(outside)
    make_mount_point(root, "/link/planted")
    assert not (outside / "planted").exists()  # left to nspawn, which resolves it inside
    with pytest.raises(ObservationError, match="no mount point can be made at"):
        make_mount_point(root, "/a/../../escape")


def test_nspawn_refusals_are_told_from_the_commands_output() -> None:
    refused = "src/nspawn/nspawn-mount.c:842: Creating mount point for tmpfs /x failed: Read-only"
    assert _WRAPPER_ERRORS.match(refused)
    assert not _WRAPPER_ERRORS.match(
        "src/nspawn/nspawn.c:5421: Container r terminated by signal KILL."
    )
    assert not _WRAPPER_ERRORS.match("Failed to do what the command tried")
    env = _runtime(Path("/")).host_env()
    assert env["SYSTEMD_LOG_LOCATION"] == "1" and env["SYSTEMD_NSPAWN_LOCK"] == "0"


def test_nspawn_runs_staged_in_its_cgroups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    groups = tmp_path / "cg"
    monkeypatch.setattr(
        nspawn, "hierarchies", lambda text: [groups / "unified", groups / "systemd"]
    )
    monkeypatch.setattr(
        ledger, "record", lambda kind, **data: made.append(f"{kind} {data['path']}")
    )
    for hierarchy in ("unified", "systemd"):
        (groups / hierarchy).mkdir(parents=True)
    runtime = _runtime(tmp_path)
    monkeypatch.setattr(runtime, "root", lambda: tmp_path)
    monkeypatch.setattr("shutil.which", lambda binary, path=None: "/usr/bin/systemd-nspawn")
    argv = runtime.argv(ContainerSpec(command=("true",)), "main")
    leaf = argv[6].rsplit("/", 1)[1]
    assert argv[:6] == [sys.executable, "-I", "-S", "-B", str(JAIL), "stage"]
    assert argv[6:9] == [str(groups / "unified" / leaf), str(groups / "systemd" / leaf), "--"]
    assert argv[9] == "/usr/bin/systemd-nspawn"
    assert leaf.startswith("container-claims-r1-")
    assert made == [f"cgroup {argv[6]}", f"cgroup {argv[7]}"]  # in the ledger first
