"""The lxc kind without LXC: the config and command lines it builds, what a scenario's values
can and cannot become there, what it says when it cannot run, and what its sweep finds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.runtimes import lxc
from container_claims.runtimes.base import RuntimeConfig
from container_claims.runtimes.lxc import LxcRuntime, lxc_argv, lxc_config
from container_claims.scenario.model import ContainerSpec, Mount, Tmpfs


def _config(spec: ContainerSpec, root: Path = Path("/var/lib/cc/runs/r-1-lxc")) -> list[str]:
    return lxc_config(spec, root=root, hostname="cc-r-1-1", cgroup="cc-r.lxc/c", pivot="p").split(
        "\n"
    )


def test_the_config_is_lxcs_common_one_then_the_suites_lines() -> None:
    lines = _config(ContainerSpec())
    assert lines[0] == f"lxc.include = {lxc.COMMON_CONF}"
    assert "lxc.rootfs.path = dir:/var/lib/cc/runs/r-1-lxc" in lines
    assert "lxc.uts.name = cc-r-1-1" in lines
    assert "lxc.net.0.type = empty" in lines  # no network: no lxcbr0 wanted
    assert "lxc.apparmor.profile = unconfined" in lines and "lxc.autodev = 1" in lines
    assert "lxc.cgroup.dir.container = cc-r.lxc/c" in lines
    assert "lxc.cgroup.dir.monitor = cc-r.lxc/c.monitor" in lines
    assert "lxc.cgroup.dir.monitor.pivot = p" in lines  # not LXC's shared lxc.pivot
    assert not any("cap" in line or "mount" in line for line in lines)


def test_the_options_a_scenario_gives_become_lxcs_own_lines() -> None:
    spec = ContainerSpec(
        read_only=True,
        workdir="/tmp",
        security_opt=("no-new-privileges",),
        tmpfs=(Tmpfs("/scratch"), Tmpfs("/fast", size="1m", mode="1777")),
        volumes=(Mount("/var/lib/cc/directories/r-x-data", "/data", "directory", True),),
        cap_drop=("CHOWN", "NET_RAW"),
    )
    lines = _config(spec)
    assert "lxc.rootfs.options = ro" in lines
    assert "lxc.init.cwd = /tmp" in lines
    assert "lxc.no_new_privs = 1" in lines
    assert "lxc.mount.entry = tmpfs scratch tmpfs rw,nosuid,nodev,create=dir 0 0" in lines
    assert (
        "lxc.mount.entry = tmpfs fast tmpfs rw,nosuid,nodev,create=dir,size=1m,mode=1777 0 0"
        in lines
    )
    assert (
        "lxc.mount.entry = /var/lib/cc/directories/r-x-data data none bind,create=dir,ro 0 0"
        in lines
    )
    assert "lxc.cap.drop = chown net_raw" in lines


@pytest.mark.parametrize(
    ("drop", "add", "expected"),
    [
        (("ALL",), (), ["lxc.cap.drop =", "lxc.cap.keep = none"]),
        (("ALL",), ("CHOWN",), ["lxc.cap.drop =", "lxc.cap.keep = chown"]),
        ((), ("SYS_TIME",), ["lxc.cap.drop =", *(
            f"lxc.cap.drop = {cap}" for cap in lxc.COMMON_DROPS if cap != "sys_time"
        )]),
    ],
)  # fmt: skip
def test_capabilities_as_docker_takes_them(
    drop: tuple[str, ...], add: tuple[str, ...], expected: list[str]
) -> None:
    lines = _config(ContainerSpec(cap_drop=drop, cap_add=add))
    assert [line for line in lines if line.startswith("lxc.cap")] == expected


@pytest.mark.parametrize(
    "spec",
    [
        ContainerSpec(tmpfs=(Tmpfs("/a b"),)),  # a space: the mount entry's next field
        ContainerSpec(tmpfs=(Tmpfs("/a\nlxc.apparmor.profile = unconfined"),)),
        ContainerSpec(tmpfs=(Tmpfs("/a/../../etc"),)),
        ContainerSpec(tmpfs=(Tmpfs("relative"),)),
        ContainerSpec(tmpfs=(Tmpfs("/a", size="1m rw"),)),
        ContainerSpec(workdir="/" + "x" * 5000),
        ContainerSpec(workdir="/tmp\tlxc.x"),
        ContainerSpec(volumes=(Mount("/srv/a", "/in side", "directory"),)),
        ContainerSpec(cap_drop=("CHOWN\nlxc.cap.keep = none",)),
    ],
)
def test_a_value_that_is_not_one_field_of_a_config_line_is_refused(spec: ContainerSpec) -> None:
    with pytest.raises(ObservationError, match="lxc: "):
        _config(spec)


def test_a_hostile_hostname_or_root_never_makes_a_line_of_its_own() -> None:
    for hostname in ("a\nlxc.include = /etc/x", "", "a b"):
        with pytest.raises(ObservationError):
            lxc_config(ContainerSpec(), root=Path("/r"), hostname=hostname, cgroup="c", pivot="p")
    with pytest.raises(ObservationError):
        _config(ContainerSpec(), root=Path("/r\nlxc.hook.pre-start = /bin/x"))
    assert "lxc.rootfs.path = dir:/a b" in _config(ContainerSpec(), root=Path("/a b"))


def test_the_program_and_its_arguments() -> None:
    env = {"PATH": "/bin", "X": "-v --privileged", "Y": "a=b;$(rm -rf /)"}
    shell = ContainerSpec(command=("--help",), tty=True)
    argv = lxc_argv(shell, "/usr/bin/lxc-start", "cc-r-1-1", Path("/p"), env, ())
    assert argv[:6] == [
        "/usr/bin/lxc-start",
        "--foreground",
        "--name",
        "cc-r-1-1",
        "--lxcpath",
        "/p",
    ]
    # Each variable is one argument that names its key: no value becomes an option.
    assert "--define=lxc.environment=X=-v --privileged" in argv
    assert "--define=lxc.environment=Y=a=b;$(rm -rf /)" in argv
    assert argv[-2:] == ["--", "--help"]  # the command after "--", whatever it starts with
    ran = lxc_argv(ContainerSpec(), "/usr/bin/lxc-execute", "n", Path("/p"), {}, ("-l", "INFO"))
    assert "--foreground" not in ran and ran[-4:] == ["-l", "INFO", "--", "/bin/bash"]


def _lxc_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of stand-ins for LXC's programs, and a suite home of the test's own."""
    monkeypatch.setenv("CONTAINER_CLAIMS_HOME", str(tmp_path / "home"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("lxc-start", "lxc-execute", "lxc-attach"):
        (bindir / tool).write_text("#!/bin/sh\n")
        (bindir / tool).chmod(0o755)
    return bindir


def _runtime(tmp_path: Path, binary: str = "lxc-start") -> LxcRuntime:
    config = RuntimeConfig("lxc", "lxc", binary=binary, rootfs=str(tmp_path))
    return LxcRuntime(config, image="i", run_id="abc123")


def test_the_program_is_chosen_by_what_the_container_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = _lxc_tools(tmp_path, monkeypatch)
    runtime = _runtime(tmp_path, str(bindir / "lxc-start"))
    runtime._root = tmp_path  # no copy made
    shell = runtime.argv(ContainerSpec(tty=True), "main")
    ran = runtime.argv(ContainerSpec(), "other")
    under_init = runtime.argv(ContainerSpec(tty=True, init=True), "third")
    assert shell[0].endswith("/lxc-start") and "--foreground" in shell
    assert ran[0].endswith("/lxc-execute") and under_init[0].endswith("/lxc-execute")
    # The names are the suite's own, never the scenario's; each has its config.
    names = [argv[argv.index("--name") + 1] for argv in (shell, ran, under_init)]
    assert names == [f"cc-abc123-{os.getpid()}-{n}" for n in (1, 2, 3)]
    lxcpath = Path(shell[shell.index("--lxcpath") + 1])
    assert lxcpath.parent == tmp_path / "home" / "runs" and lxcpath.name.endswith(".lxc")
    assert all((lxcpath / name / "config").is_file() for name in names)
    with pytest.raises(ObservationError, match="lxc cannot give a container user"):
        runtime.argv(ContainerSpec(user="1000"), "fourth")


def test_a_read_only_root_gets_its_mount_points_before_lxc_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LXC mounts a tmpfs once the root is read-only, where it can make no mount point: the
    copy gets it first (and a writable root is left as it is)."""
    bindir = _lxc_tools(tmp_path, monkeypatch)
    root = tmp_path / "root"
    root.mkdir()
    runtime = _runtime(tmp_path, str(bindir / "lxc-start"))
    runtime._root = root  # no copy made
    runtime.argv(ContainerSpec(tmpfs=(Tmpfs(path="/writable"),)), "one")
    runtime.argv(ContainerSpec(read_only=True, tmpfs=(Tmpfs(path="/scratch/deep"),)), "two")
    assert not (root / "writable").exists()
    assert (root / "scratch" / "deep").is_dir()


def test_check_says_why_lxc_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeUnavailable, match="'lxc-nowhere' is not an executable"):
        _runtime(tmp_path, "lxc-nowhere").check()
    if os.geteuid() != 0:
        return
    (tmp_path / "bin").mkdir()
    start = tmp_path / "bin" / "lxc-start"
    start.write_text("#!/bin/sh\n")
    start.chmod(0o755)
    (tmp_path / "bin" / "bash").mkdir()
    runtime = _runtime(tmp_path, str(start))
    with pytest.raises(RuntimeUnavailable, match="lxc-execute is not beside"):
        runtime.check()
    for tool in ("lxc-execute", "lxc-attach"):
        (tmp_path / "bin" / tool).write_text("#!/bin/sh\n")
        (tmp_path / "bin" / tool).chmod(0o755)
    monkeypatch.setattr(lxc, "COMMON_CONF", tmp_path / "no-common.conf")
    with pytest.raises(RuntimeUnavailable, match="no-common.conf is missing: install the lxc"):
        runtime.check()


def test_the_sweep_finds_a_runs_cgroups_and_locks_by_name_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTAINER_CLAIMS_HOME", str(tmp_path / "home"))
    cgroups = tmp_path / "cgroup"
    for hierarchy in ("memory", "unified"):
        (cgroups / hierarchy).mkdir(parents=True)
        (cgroups / hierarchy / "cgroup.procs").write_text("")
        for name in ("cc-abc123-7-lxc.lxc", "cc-def456-7-lxc.lxc", "cc-abc123-7", "docker"):
            (cgroups / hierarchy / name).mkdir()
    monkeypatch.setattr(lxc, "CGROUP_ROOT", cgroups)
    monkeypatch.setattr(lxc, "LOCK_ROOT", tmp_path / "lock")
    locks = lxc._lock_dir(tmp_path / "home" / "runs")
    for name in ("abc123-7-lxc.lxc", "def456-7-lxc.lxc", "abc123-7-lxc", "../x.lxc"):
        (locks / name).mkdir(parents=True, exist_ok=True)

    assert [p.relative_to(cgroups) for p in lxc.cgroups_of("abc123")] == [
        Path("memory/cc-abc123-7-lxc.lxc"),
        Path("unified/cc-abc123-7-lxc.lxc"),
    ]
    assert [p.name for p in lxc.cgroups_of(None, frozenset({"abc123"}))] == [
        "cc-def456-7-lxc.lxc"
    ] * 2
    assert [p.name for p in lxc.locks_of("abc123")] == ["abc123-7-lxc.lxc"]
    assert [p.name for p in lxc.locks_of(None, frozenset({"def456"}))] == ["abc123-7-lxc.lxc"]
    assert lxc._owner("cc-zz-1-lxc.lxc", ".lxc") is None  # not a run id of ours
