"""The host's PID namespace asked for (``pid: host``) and the capability sets of a host
process (``host.capabilities``), without an engine: what the loader refuses, how the probe
decodes ``/proc/PID/status``, the command line each runtime kind builds, and how the
engine-less kinds end what a container in the host's PID namespace leaves running."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import testinfra

from container_claims import processes
from container_claims.errors import ObservationError, ScenarioError
from container_claims.observations import PartlyObserved
from container_claims.probes import host as probes
from container_claims.probes.handle import HostHandle
from container_claims.runtimes.base import RuntimeConfig
from container_claims.runtimes.bwrap import BwrapRuntime
from container_claims.runtimes.docker import DockerRuntime
from container_claims.runtimes.namespaces import NamespaceRuntime
from container_claims.runtimes.podman import PodmanRuntime
from container_claims.runtimes.unshare import UnshareRuntime
from container_claims.scenario import load_scenario
from container_claims.scenario.model import ContainerSpec
from container_claims.scenario.probes import PROBES, ArgumentError

# -- the loader ---------------------------------------------------------------------------------

HOST_PID = """\
scenario: host-pid
section: Host
steps:
  - run:
      command: [cat, /proc/1/comm]
      pid: {PID}
    save: init
claims:
  - id: sees-the-hosts-init
    says: The container's PID 1 is the host's.
    expect:
      - {that: init, not_equals: ""}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_pid_host_needs_the_operators_consent_and_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, HOST_PID.replace("{PID}", "host"))

    with pytest.raises(ScenarioError) as refused:
        load_scenario(path)

    assert str(refused.value) == (
        f"{path}:6: the host's processes (its PID namespace) would be opened to the scenario; "
        "the scenario alone cannot ask for that: run with --allow-host-access if you trust "
        "this file"
    )
    scenario = load_scenario(path, allow_host_access=True)
    (step,) = scenario.steps
    assert step.spec.pid == "host"  # type: ignore[attr-defined]
    assert "host-pid" in step.capabilities()


@pytest.mark.parametrize("value", ["private", "container:main", "HOST", "''", "true"])
def test_a_pid_mode_other_than_host_is_refused_at_its_line(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, HOST_PID.replace("{PID}", value))

    with pytest.raises(ScenarioError) as refused:
        load_scenario(path, allow_host_access=True)

    assert str(refused.value).startswith(f"{path}:6: ")
    assert "\n" not in str(refused.value)


def test_without_pid_a_container_has_a_pid_namespace_of_its_own() -> None:
    assert ContainerSpec().pid is None
    assert "host-pid" not in ContainerSpec(network="host").capabilities()
    assert ContainerSpec(pid="host").capabilities() == {"host-pid"}


CAPABILITIES_PROBE = """\
scenario: capabilities
section: Host
steps:
  - run: {name: keeper, detach: true, command: [sleep, "60"]}
  - probe: engine.container
    with: {name: keeper}
    save: keeper
  - probe: host.capabilities
    with: {WITH}
    save: caps
claims:
  - id: no-sys-admin
    says: The container's root has no SYS_ADMIN.
    expect:
      - {that: caps.bounding, not_contains: SYS_ADMIN}
"""


@pytest.mark.parametrize(
    ("with_", "phrase"),
    [
        ("pid: 0", "'pid' must be at least 1, not 0"),
        ("pid: -3", "'pid' must be at least 1, not -3"),
        ("pid: abc", "'pid' must be a whole number, not 'abc'"),
        ("pid: '1; reboot'", "'pid' must be a whole number"),
        ("pid: true", "'pid' must be a whole number"),
        ("pid: 99999999999999999999", "'pid' must be a whole number"),
        ("pid: [1]", "'pid' must be a whole number"),
        ("process: 1", "takes no argument 'process' (it takes: pid)"),
        ("pid: '{{ keeper.namex }}'", "has no field 'namex'"),
    ],
)
def test_bad_pid_arguments_are_refused_at_the_probes_line(
    tmp_path: Path, with_: str, phrase: str
) -> None:
    path = _write(tmp_path, CAPABILITIES_PROBE.replace("WITH", with_))

    with pytest.raises(ScenarioError) as refused:
        load_scenario(path)

    message = str(refused.value)
    assert message.startswith(f"{path}:8: ") or message.startswith(f"{path}:9: "), message
    assert phrase in message
    assert "\n" not in message


@pytest.mark.parametrize("with_", ["", "pid: 1", "pid: '{{ keeper.host_pid }}'", "pid: '42'"])
def test_the_pid_is_a_host_pid_written_out_or_from_the_engine(tmp_path: Path, with_: str) -> None:
    load_scenario(_write(tmp_path, CAPABILITIES_PROBE.replace("WITH", with_)))


# -- the probe ----------------------------------------------------------------------------------

#: Docker's default capabilities as its containers' /proc/1/status shows them.
DOCKER_DEFAULT = "00000000a80425fb"
DOCKER_DEFAULT_NAMES = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
]


def test_masks_decode_to_the_kernels_names() -> None:
    assert probes.capability_names(DOCKER_DEFAULT) == DOCKER_DEFAULT_NAMES
    assert probes.capability_names("0000000000000000") == []
    every = probes.capability_names("000001ffffffffff")  # Linux 5.9 and later: 41
    assert len(every) == 41
    assert {"SYS_ADMIN", "CHECKPOINT_RESTORE", "BPF", "PERFMON", "AUDIT_READ"} <= set(every)
    assert "SYS_RESOURCE" not in probes.capability_names("000001fffeffffff")  # bit 24
    # A bit of a newer kernel than the suite knows keeps its number.
    assert probes.capability_names("0000060000200000") == ["CAP_41", "CAP_42", "SYS_ADMIN"]


class StandIn:
    """A host of ``/proc/PID/status`` files."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read_text(self, path: str) -> str:
        if path not in self.files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return self.files[path].strip()


STATUS = """\
Name:\tsystemd
Pid:\t1
CapInh:\t0000000000000000
CapPrm:\t000001ffffffffff
CapEff:\t000001ffffffffff
CapBnd:\t000001ffffffffff
CapAmb:\t0000000000000000
NoNewPrivs:\t0
"""
CONTAINER = STATUS.replace("systemd", "sleep").replace("000001ffffffffff", DOCKER_DEFAULT)


def _read(host: Any, **args: Any) -> dict[str, Any]:
    return probes.capabilities(SimpleNamespace(host=host), **args)  # type: ignore[arg-type]


def test_the_probe_reads_the_hosts_init_unless_told() -> None:
    host = StandIn({"/proc/1/status": STATUS, "/proc/4242/status": CONTAINER})

    init, container = _read(host), _read(host, pid=4242)

    assert init["pid"] == 1 and init["name"] == "systemd"
    assert "SYS_ADMIN" in init["bounding"] and "SYS_ADMIN" in init["effective"]
    assert init["inheritable"] == init["ambient"] == []
    assert container["pid"] == 4242 and container["name"] == "sleep"
    for name in ("effective", "permitted", "bounding"):
        assert container[name] == DOCKER_DEFAULT_NAMES
    # Its fields are the ones the probe table says it yields.
    assert set(init) == set(PROBES["host.capabilities"].yields.fields)
    assert not isinstance(init, PartlyObserved)


def test_a_process_that_is_not_there_is_an_error_not_an_empty_set() -> None:
    with pytest.raises(ObservationError, match="process 4243 cannot be read on the host"):
        _read(StandIn({"/proc/1/status": STATUS}), pid=4243)


def test_a_set_the_kernel_does_not_show_is_not_observed() -> None:
    old_kernel = "\n".join(line for line in STATUS.splitlines() if "CapAmb" not in line)

    reading = _read(StandIn({"/proc/1/status": old_kernel}))

    assert isinstance(reading, PartlyObserved)
    assert set(reading.unobserved) == {"ambient"}
    assert "SYS_ADMIN" in reading["bounding"]


def test_a_mask_that_is_no_mask_is_an_error() -> None:
    broken = STATUS.replace("CapBnd:\t000001ffffffffff", "CapBnd:\tnot-hex")
    with pytest.raises(ObservationError, match="process 1's CapBnd is not a mask"):
        _read(StandIn({"/proc/1/status": broken}))


DIRECT = HostHandle(testinfra.get_host("local://"), direct=True)
COMMANDS = HostHandle(testinfra.get_host("local://"), direct=False)


def test_both_paths_of_the_host_handle_read_the_same_sets() -> None:
    """Read directly, and as through ssh or a reader container (a command per reading)."""
    for pid in (1, os.getpid()):
        assert _read(COMMANDS, pid=pid) == _read(DIRECT, pid=pid)
    with pytest.raises(ObservationError, match="cannot be read on the host"):
        _read(COMMANDS, pid=2**22 + 7)
    with pytest.raises(ObservationError, match="cannot be read on the host"):
        _read(DIRECT, pid=2**22 + 7)


# -- the command line each kind builds ----------------------------------------------------------


def _options(argv: list[str]) -> list[str]:
    """A wrapper's or the CLI's own options: what comes before the first ``--``."""
    return argv[: argv.index("--")]


@pytest.mark.parametrize("kind", [DockerRuntime, PodmanRuntime])
def test_the_engines_get_pid_host_as_a_flag_of_its_own(kind: type[DockerRuntime]) -> None:
    runtime = kind(RuntimeConfig("r", kind.kind), image="img:1", run_id="r")

    asked = _options(runtime.run_argv(ContainerSpec(pid="host"), "cc-r-main", "img:1"))
    default = _options(runtime.run_argv(ContainerSpec(), "cc-r-main", "img:1"))

    assert "--pid=host" in asked
    assert not any(option.startswith("--pid") for option in default)
    assert "host-pid" in kind.capabilities


def test_the_engine_less_kinds_leave_out_their_pid_namespace(tmp_path: Path) -> None:
    unshare = UnshareRuntime(
        RuntimeConfig("unshare", "unshare", rootfs=str(tmp_path)), image="i", run_id="r"
    )
    bwrap = BwrapRuntime(
        RuntimeConfig("bwrap", "bwrap", rootfs=str(tmp_path)), image="i", run_id="r"
    )
    host, own = ContainerSpec(pid="host"), ContainerSpec()

    assert "--pid" in _options(unshare.wrap(own, tmp_path))
    assert "--pid" not in _options(unshare.wrap(host, tmp_path))
    assert {"--mount", "--uts", "--ipc", "--net"} <= set(_options(unshare.wrap(host, tmp_path)))
    assert "--unshare-pid" in _options(bwrap.wrap(own, tmp_path))
    assert "--unshare-pid" not in _options(bwrap.wrap(host, tmp_path))
    assert {"--unshare-uts", "--unshare-ipc", "--unshare-net"} <= set(bwrap.wrap(host, tmp_path))
    assert "host-pid" in UnshareRuntime.capabilities and "host-pid" in BwrapRuntime.capabilities


class Engine:
    """An engine's answers (``docker version`` and ``info``) for :meth:`DockerRuntime.check`."""

    def __init__(self, info: dict[str, Any]) -> None:
        self._info = info

    def version(self) -> dict[str, Any]:
        return {"Version": "26.1.5", "ApiVersion": "1.45", "Components": []}

    def info(self) -> dict[str, Any]:
        return self._info

    @property
    def networks(self) -> Any:
        """Its networks: Docker's default bridge, as a dockerd started without --bridge=none."""
        bridge = type("Network", (), {"name": "bridge"})()
        return type("Networks", (), {"list": staticmethod(lambda: [bridge])})()


RUNTIMES = {"runc": {"path": "runc"}, "runsc": {"path": "/usr/bin/runsc"}}


@pytest.mark.parametrize(
    ("run_args", "default", "declared"),
    [
        ((), "runc", True),
        (("--runtime", "runsc"), "runc", False),
        (("--runtime=runsc",), "runc", False),
        ((), "runsc", False),  # an engine whose default is gVisor
        (("--runtime", "gvisor"), "runc", False),  # runsc under another name
        (("--runtime", "runc"), "runsc", True),
    ],
)
def test_a_sandbox_with_a_kernel_of_its_own_does_not_declare_host_pid(
    run_args: tuple[str, ...], default: str, declared: bool
) -> None:
    runtimes = {**RUNTIMES, "gvisor": {"path": "/opt/gvisor/runsc"}}
    runtime = DockerRuntime(
        RuntimeConfig("r", "docker", binary="true", run_args=run_args), image="i", run_id="r"
    )
    runtime._client = Engine({"DefaultRuntime": default, "Runtimes": runtimes})

    runtime.check()

    assert ("host-pid" in runtime.capabilities) is declared
    assert runtime.capabilities | {"host-pid"} == DockerRuntime.capabilities  # nothing else
    runtime._client = None


# -- what a container in the host's PID namespace leaves running ---------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _named(argv0: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.split(b"\0", 1)[0] == argv0.encode() and _alive(int(name)):
                found.append(int(name))
    return found


def _none_named(argv0: str, within: float = 5.0) -> bool:
    """Whether no live process is named ``argv0`` within ``within`` seconds (a process sent
    SIGKILL ends a moment later)."""
    deadline = time.monotonic() + within
    while _named(argv0):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_run_in_a_session_of_its_own_ends_what_it_left_in_the_background() -> None:
    marker = f"cc-test-left-{os.getpid()}"
    began = time.monotonic()

    done = processes.run_bounded(
        ["bash", "-c", f"(exec -a {marker} sleep 30) & echo started"],
        timeout=20,
        limit=1024,
        group=True,
    )

    assert done.returncode == 0 and done.stdout == "started\n"
    assert time.monotonic() - began < 5  # not held open until the timeout by the sleep
    assert _none_named(marker)


def test_a_session_is_ended_in_every_process_group_of_it() -> None:
    marker = f"cc-test-job-{os.getpid()}"
    leader = processes.start(
        ["bash", "-c", f"set -m; (exec -a {marker} sleep 30) & (exec -a {marker} sleep 30) & wait"],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while len(_named(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(_named(marker)) == 2
        groups = {os.getpgid(pid) for pid in _named(marker)}
        assert leader.pid not in groups  # job control: each job in a group of its own

        assert processes.end_session(leader.pid) == 2

        assert leader.wait(timeout=10) is not None  # its jobs ended, its wait returned
        assert _none_named(marker)
    finally:
        processes.end_child(leader)


class PlainRuntime(NamespaceRuntime):
    """The engine-less runtime's bookkeeping around a plain command: no namespace at all, as
    in the host's PID namespace with nothing else of a container."""

    kind = "plain"
    capabilities = NamespaceRuntime.capabilities | {"host-pid"}

    def argv(self, spec: ContainerSpec, name: str = "") -> list[str]:
        assert spec.command is not None
        return list(spec.command)


@pytest.mark.parametrize("end", ["remove", "stop"])
def test_an_engine_less_container_in_the_host_pid_namespace_takes_its_session_along(
    end: str,
) -> None:
    marker = f"cc-test-detached-{os.getpid()}"
    runtime = PlainRuntime(RuntimeConfig("plain", "plain", binary="true"), image="i", run_id="r")
    spec = ContainerSpec(
        pid="host",
        detach=True,
        # The outer bash stands for the wrapper, the inner one for the container's first
        # process, which leaves the marker behind when it ends.
        command=("bash", "-c", f"bash -c '(exec -a {marker} sleep 30) & exec sleep 31'; exit $?"),
    )
    try:
        runtime.start(spec, "keeper", timeout=10)
        deadline = time.monotonic() + 10
        while not _named(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _named(marker)

        if end == "stop":
            assert runtime.stop("keeper", grace=1, timeout=10)["status"] == 128 + 15
        else:
            runtime.remove_container("keeper")

        assert _none_named(marker)
    finally:
        runtime.close()


def test_a_pid_whose_template_gave_nothing_is_an_error_not_the_hosts_init() -> None:
    """A container's process not found (``host.find_process``'s ``pid`` is null) must not
    turn into a reading of the host's init, which the argument left out would mean."""
    info = PROBES["host.capabilities"]

    assert info.convert({}) == {}
    assert info.convert({"pid": "4242"}) == {"pid": 4242}
    with pytest.raises(ArgumentError, match=r"'pid' is null .* 1, the host's init"):
        info.convert({"pid": None})
    # Other probes' optional arguments keep the rule: null is left out.
    assert PROBES["engine.container"].convert({"name": None}) == {}


def test_a_typed_session_in_the_host_pid_namespace_ends_its_jobs_with_its_shell() -> None:
    """A job typed into the background holds the terminal: without a PID namespace whose end
    takes it along, the session would not end (on exit) until the job did."""
    marker = f"cc-test-job-{os.getpid()}"
    runtime = PlainRuntime(RuntimeConfig("plain", "plain", binary="true"), image="i", run_id="r")
    # The outer bash stands for the wrapper, the interactive one for the container's shell.
    spec = ContainerSpec(
        pid="host", tty=True, interactive=True, command=("bash", "-c", "bash --norc -i; exit $?")
    )
    try:
        shell = runtime.open_shell(spec, "main", timeout=10)
        typed = shell.type(f"{{ (exec -a {marker} sleep 30) >/dev/null 2>&1 & }}", timeout=10)
        assert typed.status == 0
        deadline = time.monotonic() + 10
        while not _named(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _named(marker)

        began = time.monotonic()
        assert shell.exit("exit", timeout=20) == 0
        assert time.monotonic() - began < 5
        assert _none_named(marker)
    finally:
        runtime.close()
