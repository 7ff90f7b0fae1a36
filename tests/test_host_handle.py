"""The host handle reads the same on both of its paths: files read directly (testinfra's
local backend) and commands run through testinfra (how it reads any other backend). Both
read this machine here, so every reading must agree, and names that look like options or
shell syntax stay data on the command path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import testinfra

from container_claims.checks import CheckResult, check_claim, errors_of, verdict_of
from container_claims.probes.handle import HostHandle
from container_claims.results import ERROR, FAIL, PASS
from container_claims.runtimes.remote import REFUSED, TcpReply
from container_claims.scenario.model import Claim, Expectation

DIRECT = HostHandle(testinfra.get_host("local://"), direct=True)
COMMANDS = HostHandle(testinfra.get_host("local://"), direct=False)


def test_the_local_handle_reads_files_itself() -> None:
    assert HostHandle.local().direct is True
    assert HostHandle.local() is HostHandle.local()  # one per process


@pytest.mark.parametrize(
    "path", ["/proc/1/comm", "/proc/sys/kernel/random/boot_id", "/proc/1/cgroup"]
)
def test_text_files_read_the_same(path: str) -> None:
    assert COMMANDS.read_text(path) == DIRECT.read_text(path) != ""


def test_binary_files_and_links_read_the_same() -> None:
    assert COMMANDS.read_bytes("/proc/1/cmdline") == DIRECT.read_bytes("/proc/1/cmdline")
    assert b"\0" in DIRECT.read_bytes("/proc/1/cmdline")
    ours = f"/proc/{os.getpid()}/ns/pid"
    assert COMMANDS.readlink(ours) == DIRECT.readlink(ours)
    for kind in ("pid", "mnt", "net"):  # "self" is the host's own either way
        assert COMMANDS.namespace("self", kind) == DIRECT.namespace("self", kind) is not None
    assert COMMANDS.namespace(2**22 + 7, "pid") is DIRECT.namespace(2**22 + 7, "pid") is None


def test_namespaces_read_in_one_command_read_the_same() -> None:
    kinds = ("pid", "mnt", "uts", "ipc", "net", "user", "cgroup")
    ours = os.getpid()
    assert COMMANDS.namespaces(ours, kinds) == DIRECT.namespaces(ours, kinds)
    assert COMMANDS.namespaces("self", kinds) == DIRECT.namespaces("self", kinds)
    assert all(DIRECT.namespaces(ours, kinds).values())
    gone = COMMANDS.namespaces(2**22 + 7, kinds)
    assert gone == DIRECT.namespaces(2**22 + 7, kinds) == dict.fromkeys(kinds)


def test_the_system_reads_the_same() -> None:
    assert COMMANDS.mountinfo(1) == DIRECT.mountinfo(1)
    assert COMMANDS.kernel_release() == DIRECT.kernel_release() == os.uname().release
    assert COMMANDS.hostname() == DIRECT.hostname()
    assert COMMANDS.which("sh") == DIRECT.which("sh") != ""
    assert COMMANDS.which("no-such-program-here") == ""


def test_the_process_table_reads_the_same() -> None:
    """Processes come and go between two readings: the ones alive throughout (this one and
    a child of it) read the same, and most of the rest are in both."""
    child = DIRECT.hold_process("container-claims-test-table", 60)
    try:
        by_commands = {pid: (ns, nspid) for pid, ns, nspid in COMMANDS.processes()}
        directly = {pid: (ns, nspid) for pid, ns, nspid in DIRECT.processes()}
    finally:
        child.stop()
    ours = os.getpid()
    for pid in (ours, child.pid):
        assert by_commands[pid] == directly[pid]
    assert directly[ours][0] == os.readlink(f"/proc/{ours}/ns/pid")
    assert directly[ours][1][0] == ours  # the host's PID comes first
    assert len(set(by_commands) & set(directly)) > 0.8 * len(directly)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Names a shell or a command line would misread, a link, and a hard link."""
    root = tmp_path / "tree"
    (root / "sub dir").mkdir(parents=True)
    (root / "-n; touch pwned").write_text("dash and semicolon\n")
    (root / "$(touch pwned2)").write_text("x" * 10_000)
    (root / "sub dir" / "file").write_bytes(os.urandom(50_000))
    os.link(root / "sub dir" / "file", root / "hard")
    os.symlink("/etc", root / "link")
    return root


def test_directories_read_the_same_and_names_stay_data(tree: Path) -> None:
    assert sorted(COMMANDS.listdir(str(tree))) == sorted(DIRECT.listdir(str(tree)))
    hostile = str(tree / "-n; touch pwned")
    assert COMMANDS.read_text(hostile) == "dash and semicolon"
    assert COMMANDS.read_text(str(tree / "$(touch pwned2)")) == "x" * 10_000
    assert not any(Path(p).exists() for p in ("pwned", "pwned2", tree / "pwned"))
    assert COMMANDS.disk_usage([str(tree)]) == DIRECT.disk_usage([str(tree)]) > 50_000


def test_entries_read_the_same(tree: Path) -> None:
    for name in ("sub dir", "hard", "link", "-n; touch pwned"):
        path = str(tree / name)
        assert COMMANDS.lstat(path) == DIRECT.lstat(path), name
        assert COMMANDS.is_dir(path) == DIRECT.is_dir(path), name
    assert DIRECT.lstat(str(tree / "link")).is_link and DIRECT.is_dir(str(tree / "link"))
    assert COMMANDS.realpath(str(tree / "link")) == DIRECT.realpath(str(tree / "link")) == "/etc"


@pytest.mark.parametrize("handle", [DIRECT, COMMANDS], ids=["direct", "commands"])
def test_what_cannot_be_read_is_an_os_error(handle: HostHandle, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    for read in (handle.read_text, handle.readlink, handle.listdir, handle.lstat):
        with pytest.raises(OSError):
            read(missing)
    assert handle.exists(missing) is False


@pytest.mark.parametrize("handle", [DIRECT, COMMANDS], ids=["direct", "commands"])
def test_a_file_is_made_new_and_removed_and_its_text_stays_data(
    handle: HostHandle, tmp_path: Path
) -> None:
    path = str(tmp_path / "-marker $(touch pwned)")
    text = "it's `data` $HOME %s\n"

    handle.create_file(path, text)
    with pytest.raises(OSError):  # never over something that is there
        handle.create_file(path, "again")
    made = Path(path).read_text()
    handle.remove_file(path)
    handle.remove_file(path)  # gone already: nothing

    assert made == text
    assert not Path(path).exists() and not (tmp_path / "pwned").exists()


def test_a_held_process_runs_under_its_name_until_stopped() -> None:
    held = DIRECT.hold_process("container-claims-test-held", 60)
    try:
        cmdline = Path(f"/proc/{held.pid}/cmdline").read_bytes()
    finally:
        held.stop()
    assert cmdline == b"container-claims-test-held\x0060\x00"
    assert not Path(f"/proc/{held.pid}").exists()


def test_a_tcp_read_of_loopback_says_what_came_and_whether_it_connected() -> None:
    import socket
    import threading

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve() -> None:
            connection, _ = server.accept()
            with connection:
                connection.sendall(b"hello\n")

        thread = threading.Thread(target=serve)
        thread.start()
        said = DIRECT.tcp_read(port, idle=5)
        thread.join()

    assert said == TcpReply(True, b"hello\n", "closed")
    assert DIRECT.tcp_read(port) == REFUSED  # closed now: refused


def _listener_saying_nothing(closes: bool) -> Any:
    """Read ``host.tcp_read`` of a listener of the test's own on loopback that accepts and
    sends nothing: it closes each connection at once, or holds it open and silent."""
    import socket
    import threading
    import time
    from types import SimpleNamespace

    from container_claims.probes import host as host_probes

    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        server.settimeout(0.1)

        def serve() -> None:
            held = []
            while not stop.is_set():
                try:
                    connection, _ = server.accept()
                except TimeoutError:
                    continue
                if closes:
                    connection.close()
                else:
                    held.append(connection)  # open, and silent, until the test ends
            for connection in held:
                connection.close()

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            ctx = SimpleNamespace(host=DIRECT, deadline=time.monotonic() + 30)
            return host_probes.tcp_read(ctx, port)  # type: ignore[arg-type]
        finally:
            stop.set()
            thread.join()


def _replies(served: Any) -> list[CheckResult]:
    """A claim that the port connects (line 3) and that its reply is hello (line 5)."""
    says = Claim(
        "replies",
        "The port replies hello.",
        "Net",
        (
            Expectation("served.connected", "equals", True, line=3),
            Expectation("served.received", "equals", "hello", line=5),
        ),
        line=1,
    )
    return check_claim(says, {"served": served})


def test_a_port_that_accepts_and_stays_silent_gave_no_reply_to_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Silence until the read's window ends is no reply: the probe says it connected and
    timed out, and a claim on what came back is an error that says so (there is nothing to
    compare: not a fail), while the claim that it connects holds."""
    from container_claims.probes import host as host_probes

    monkeypatch.setattr(host_probes, "REPLY_WINDOW", 0.5)  # one silent read is 2 s
    served = _listener_saying_nothing(closes=False)

    assert dict(served) == {
        "connected": True,
        "received": "",
        "closed_by_peer": False,
        "timed_out": True,
    }
    checks = _replies(served)
    assert [c.ok for c in checks] == [True, False]
    assert verdict_of(checks) == ERROR
    (why,) = errors_of(checks)
    assert why.startswith("line 5: served.received was not observed: no reply came within ")
    assert why.endswith(" s: the port accepted and sent nothing")
    assert verdict_of(checks[:1]) == PASS


def test_a_port_that_accepts_and_closes_without_a_byte_gave_an_empty_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reply the peer ended is whole, even empty: nothing more could come on it. A claim on
    its content is checked, and fails, with how it ended in the evidence."""
    from container_claims.probes import host as host_probes

    monkeypatch.setattr(host_probes, "REPLY_WINDOW", 0.5)
    served = _listener_saying_nothing(closes=True)

    assert served == {"connected": True, "received": "", "closed_by_peer": True, "timed_out": False}
    checks = _replies(served)
    assert [(c.ok, c.error, c.observed) for c in checks[1:]] == [(False, None, "")]
    assert verdict_of(checks) == FAIL


def test_a_refused_port_fails_a_claim_that_it_connects(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time
    from types import SimpleNamespace

    from container_claims.probes import host as host_probes

    monkeypatch.setattr(host_probes, "REPLY_WINDOW", 0.5)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: refused
        ctx = SimpleNamespace(host=DIRECT, deadline=time.monotonic() + 30)
        began = time.monotonic()
        served = host_probes.tcp_read(ctx, port)  # type: ignore[arg-type]

    assert 0.5 <= time.monotonic() - began < 3  # tried again for the whole window
    assert served == {
        "connected": False,
        "received": "",
        "closed_by_peer": False,
        "timed_out": False,
    }
    checks = _replies(served)
    assert [(c.ok, c.error) for c in checks] == [(False, None), (False, None)]
    assert verdict_of(checks) == FAIL  # observed: it does not connect
