"""The containerd kind without containerd: the ``ctr`` command lines it builds, what it refuses
to build from a scenario's values, which namespaces it calls its own, why it is unavailable,
and the stdin held open until a task runs. Its runs on a real containerd are in
tests/integration/test_containerd_runtime.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.processes import Finished, run_bounded
from container_claims.runtimes import containerd, runtime_class
from container_claims.runtimes.base import RUN_LABEL, RuntimeConfig
from container_claims.runtimes.containerd import (
    ContainerdRuntime,
    LoggedOutput,
    capability_args,
    logger_uri,
    namespace_of,
    normalized_ref,
    remove_cgroups,
    with_logged,
)
from container_claims.scenario.model import ContainerSpec, Mount, Tmpfs

REF = "docker.io/container-claims/test:bookworm"


def runtime(**config: Any) -> ContainerdRuntime:
    made = ContainerdRuntime(
        RuntimeConfig("containerd", "containerd", binary="ctr", **config),
        image="container-claims/test:bookworm",
        run_id="abc123",
    )
    made._ref = REF  # as if the image were imported: no containerd here
    return made


def test_the_kind_is_known_by_its_name() -> None:
    assert runtime_class("containerd") is ContainerdRuntime


def test_a_plain_run_in_the_runs_namespace_labelled_and_removed() -> None:
    argv = runtime().argv(ContainerSpec(command=("sh", "-c", "echo hi")), "cc-abc123-x")
    assert argv == [
        "ctr",
        "--namespace",
        "cc-abc123",
        "run",
        f"--label={RUN_LABEL}=abc123",
        "--rm",
        "--",
        REF,
        "cc-abc123-x",
        "sh",
        "-c",
        "echo hi",
    ]


def test_options_become_ctr_options_after_their_equals_sign() -> None:
    spec = ContainerSpec(
        tty=True,
        workdir="/tmp",
        read_only=True,
        tmpfs=(Tmpfs("/fast", size="1m", mode="1777"), Tmpfs("/plain")),
        volumes=(Mount("/tmp/cc-dir-1", "/srv/site", kind="directory", read_only=True),),
        env=(("GREETING", "--privileged"),),
        labels=(("role", "web"),),
        command=("-h",),
    )
    argv = runtime().argv(spec, "cc-abc123-y")
    assert argv[3:] == [
        "run",
        f"--label={RUN_LABEL}=abc123",
        "--tty",
        "--cwd=/tmp",
        "--read-only",
        "--mount=type=tmpfs,src=tmpfs,dst=/fast,options=size=1m:mode=1777",
        "--mount=type=tmpfs,src=tmpfs,dst=/plain",
        "--mount=type=bind,src=/tmp/cc-dir-1,dst=/srv/site,options=rbind:ro",
        "--label=role=web",
        "--env=GREETING=--privileged",
        "--rm",
        "--",
        REF,
        "cc-abc123-y",
        "-h",
    ]


def test_a_detached_container_keeps_its_output_in_a_file_of_the_run(tmp_path: Path) -> None:
    made = runtime()
    made._logs = tmp_path
    argv = made.argv(ContainerSpec(command=("sleep", "9"), detach=True), "cc-abc123-d", detach=True)
    assert f"--log-uri=file://{tmp_path}/cc-abc123-d.log" in argv
    assert "--detach" in argv and "--rm" not in argv


@pytest.mark.parametrize(
    ("cap_add", "cap_drop", "expected"),
    [
        ((), (), []),
        ((), ("CHOWN",), ["--cap-drop=CAP_CHOWN"]),
        (("SYS_ADMIN",), (), ["--cap-add=CAP_SYS_ADMIN"]),
        # ctr takes no ALL and drops after it adds: the differences from its default only.
        (
            ("NET_BIND_SERVICE",),
            ("ALL",),
            [
                f"--cap-drop=CAP_{cap}"
                for cap in sorted(
                    [
                        "CHOWN",
                        "DAC_OVERRIDE",
                        "FOWNER",
                        "FSETID",
                        "KILL",
                        "SETGID",
                        "SETUID",
                        "SETPCAP",
                        "NET_RAW",
                        "SYS_CHROOT",
                        "AUDIT_WRITE",
                        "SETFCAP",
                        "MKNOD",
                    ]
                )
            ],
        ),
    ],
)
def test_capabilities_are_the_differences_from_ctrs_default(
    cap_add: tuple[str, ...], cap_drop: tuple[str, ...], expected: list[str]
) -> None:
    assert capability_args(ContainerSpec(cap_add=cap_add, cap_drop=cap_drop)) == expected


@pytest.mark.parametrize(
    "spec",
    [
        ContainerSpec(tmpfs=(Tmpfs("/x,options=rbind"),)),
        ContainerSpec(tmpfs=(Tmpfs("/x", size="1m,exec"),)),
        ContainerSpec(tmpfs=(Tmpfs("/x", mode="1777:exec"),)),
        ContainerSpec(volumes=(Mount("/tmp/cc-d", "/srv,src=/etc", kind="directory"),)),
        ContainerSpec(hostname="cc-named"),  # ctr 1.6 has no --hostname
        ContainerSpec(user="1000"),
        ContainerSpec(memory="256m", pids_limit=64),
        ContainerSpec(stop_signal="SIGINT"),  # containerd records the image's instead
        ContainerSpec(network="bridge"),
        ContainerSpec(pid="host"),
        ContainerSpec(image="other:1"),
        ContainerSpec(volumes=(Mount("data", "/data"),)),
        ContainerSpec(cap_add=("ALL",)),
    ],
)
def test_what_ctr_cannot_give_or_a_value_that_would_become_an_option_is_refused(
    spec: ContainerSpec,
) -> None:
    with pytest.raises(ObservationError):
        runtime().argv(spec, "cc-abc123-z")


@pytest.mark.parametrize(
    "name", ["-rm", "../etc", "a b", "a;b", "a,b", "cc-" + "x" * 80, "", "cc-\u00e9", "a--"]
)
def test_a_name_containerd_would_not_take_is_refused_before_ctr_runs(name: str) -> None:
    made = runtime()
    with pytest.raises(ObservationError, match="no containerd identifier"):
        made.argv(ContainerSpec(), name)
    for call in (
        lambda: made.exec(name, ("true",), 5),
        lambda: made.signal(name, "SIGTERM"),
        lambda: made.stop(name, 1, 5),
        lambda: made.wait(name, "exited", 1),
    ):
        with pytest.raises(ObservationError, match="no containerd identifier"):
            call()


def test_a_run_id_that_is_no_identifier_makes_no_namespace() -> None:
    assert namespace_of("abc123") == "cc-abc123"
    with pytest.raises(ObservationError):
        namespace_of("x/../moby")


@pytest.mark.parametrize(
    ("image", "ref"),
    [
        ("container-claims/test:bookworm", REF),
        ("debian", "docker.io/library/debian:latest"),
        ("127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b:1"),
        ("localhost/x", "localhost/x:latest"),
    ],
)
def test_the_reference_containerd_gives_a_docker_image(image: str, ref: str) -> None:
    assert normalized_ref(image) == ref


LISTING = f"""NAME LABELS
cc-abc123 {RUN_LABEL}=abc123
cc-dead01 {RUN_LABEL}=dead01,other=x
cc-live02 {RUN_LABEL}=live02
cc-forged {RUN_LABEL}=abc123
cc-nolabel
moby
mine {RUN_LABEL}=mine
"""


def test_only_the_suites_namespaces_are_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cc- name carrying the run label of that very name: not moby, not a namespace with
    our label under another name, not one without it."""
    made = runtime()
    monkeypatch.setattr(made, "_ok", lambda *args, **kwargs: LISTING)
    assert made.own_namespaces("abc123", frozenset()) == ["cc-abc123"]
    assert made.own_namespaces(None, frozenset({"live02"})) == ["cc-abc123", "cc-dead01"]


def test_check_says_why_it_is_unavailable(tmp_path: Path) -> None:
    missing = ContainerdRuntime(
        RuntimeConfig("c", "containerd", binary="no-such-ctr"), image="i", run_id="r"
    )
    with pytest.raises(RuntimeUnavailable, match="not an executable on PATH"):
        missing.check()
    if __import__("os").geteuid() != 0:
        pytest.skip("the socket is checked after root")
    nowhere = ContainerdRuntime(
        RuntimeConfig(
            "c",
            "containerd",
            binary=sys.executable,
            env=(("CONTAINERD_ADDRESS", str(tmp_path / "none.sock")),),
        ),
        image="i",
        run_id="r",
    )
    with pytest.raises(RuntimeUnavailable, match="no containerd socket at .*none.sock"):
        nowhere.check()


def test_the_entrys_socket_reaches_ctr_and_the_callers_namespace_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTAINERD_NAMESPACE", "moby")
    env = runtime(env=(("CONTAINERD_ADDRESS", "/run/other.sock"),)).env()
    assert env["CONTAINERD_ADDRESS"] == "/run/other.sock"
    assert "CONTAINERD_NAMESPACE" not in env
    assert runtime().env()["CONTAINERD_ADDRESS"] == "/run/docker/containerd/containerd.sock"


def test_empty_cgroup_directories_of_the_namespace_go_and_no_other(tmp_path: Path) -> None:
    for controller in ("pids", "memory"):
        (tmp_path / controller / "cc-abc123" / "cc-abc123-x").mkdir(parents=True)
        (tmp_path / controller / "moby").mkdir()
    (tmp_path / "cpu").symlink_to(tmp_path / "memory")
    removed = remove_cgroups("cc-abc123", tmp_path)
    assert sorted(removed) == [
        f"cgroup {tmp_path}/memory/cc-abc123",
        f"cgroup {tmp_path}/pids/cc-abc123",
    ]
    assert (tmp_path / "pids" / "moby").is_dir() and (tmp_path / "memory" / "moby").is_dir()


def test_stdin_is_held_open_until_the_client_may_see_its_end() -> None:
    """What ctr needs: an end of input only once its task runs. ``cat`` ends only then."""
    began = time.monotonic()
    done = run_bounded(
        [sys.executable, "-c", "import sys; print(sys.stdin.read())"],
        timeout=10,
        limit=1000,
        stdin="hello",
        eof_when=lambda: time.monotonic() - began > 0.5,
    )
    assert done.returncode == 0 and done.stdout.strip() == "hello"
    assert time.monotonic() - began > 0.5


def test_without_eof_when_stdin_ends_with_its_data() -> None:
    done = run_bounded(["cat"], timeout=10, limit=1000, stdin="x")
    assert (done.returncode, done.stdout) == (0, "x")


def run_logger(files: LoggedOutput, stdout: bytes, stderr: bytes) -> int:
    """Run the logger as the shim does: the container's stdout on fd 3, its stderr on fd 4,
    fd 5 closed once it is ready, SIGTERM as soon as both pipes are closed; its status."""
    uri = urllib.parse.urlsplit(logger_uri(files))
    args = [part for pair in urllib.parse.parse_qsl(uri.query) for part in pair]
    (out_r, out_w), (err_r, err_w), (ready_r, ready_w) = (os.pipe() for _ in range(3))
    moved = (  # the three pipes to fds 3, 4 and 5, and no other copy of them
        "import fcntl, os, sys\n"
        f"high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in ({out_r}, {err_r}, {ready_w})]\n"
        f"for fd in ({out_r}, {err_r}, {ready_w}):\n"
        "    os.close(fd)\n"
        "for new, fd in enumerate(high, 3):\n"
        "    os.dup2(fd, new); os.close(fd)\n"
        "os.execv(sys.argv[1], sys.argv[1:])\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", moved, uri.path, *args], pass_fds=(out_r, err_r, ready_w)
    ) as logger:
        for fd in (out_r, err_r, ready_w):
            os.close(fd)
        assert os.read(ready_r, 1) == b""  # it is ready
        os.close(ready_r)
        for fd, data in ((out_w, stdout), (err_w, stderr)):
            os.write(fd, data)
            os.close(fd)
        logger.send_signal(signal.SIGTERM)
        return logger.wait(timeout=10)


def test_a_one_shot_runs_output_goes_to_a_logger_stdout_and_stderr_apart(tmp_path: Path) -> None:
    files = LoggedOutput.of(tmp_path, "cc-abc123-x")
    argv = runtime().argv(ContainerSpec(command=("true",)), "cc-abc123-x", logged=files)
    assert f"--log-uri={logger_uri(files)}" in argv
    assert argv[argv.index("--rm") + 1].startswith("--log-uri=binary:///bin/sh?-c=")
    assert run_logger(files, b"out\n", b"err\n") == 0
    assert files.read("x") == (b"out\n", b"err\n")


def test_a_longer_output_than_kept_is_seen_as_such(tmp_path: Path) -> None:
    files = LoggedOutput.of(tmp_path, "x")
    big = b"y" * 60_000  # one pipe's worth: written before the logger reads
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(containerd, "OUTPUT_LIMIT", 50_000)
        run_logger(files, big, b"")
        done = with_logged(Finished(0, "", ""), files, "x")
    assert done.stdout_truncated and not done.stderr_truncated
    assert len(done.stdout) == 50_000


def test_an_output_whose_end_the_logger_did_not_mark_is_an_error(tmp_path: Path) -> None:
    files = LoggedOutput.of(tmp_path, "x")
    files.stdout.write_bytes(b"")  # ctr returned, the copy was not finished (or never began)
    with pytest.raises(ObservationError, match="output of x is not complete"):
        with_logged(Finished(0, "", ""), files, "x")
    files.done.touch()  # the negative control: marked, it is an output (an empty one)
    assert with_logged(Finished(0, "", ""), files, "x").stdout == ""


def test_ctr_refusing_a_logged_run_keeps_what_ctr_said(tmp_path: Path) -> None:
    files = LoggedOutput.of(tmp_path, "x")
    refused = Finished(1, "", "ctr: image not found\n")
    assert with_logged(refused, files, "x") is refused


@pytest.mark.parametrize("spec", [ContainerSpec(stdin="echo hi\n"), ContainerSpec(tty=True)])
def test_a_run_with_stdin_or_a_terminal_keeps_ctrs_own_io(spec: ContainerSpec) -> None:
    assert runtime().logged(spec, "cc-abc123-x") is None
    assert not any(arg.startswith("--log-uri") for arg in runtime().argv(spec, "cc-abc123-x"))


@pytest.mark.parametrize("marked", [True, False])
def test_an_execs_output_goes_to_a_logger_and_an_unmarked_end_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marked: bool
) -> None:
    """ctr task exec deletes its process as ctr run --rm deletes a task, and lost the whole
    output of an exec under load: the exec's output comes from its logger's files too."""
    made = runtime()
    made._logs = tmp_path
    seen: list[list[str]] = []

    def ctr_exec(argv: list[str], **_: Any) -> Finished:
        seen.append(argv)
        logger = next(arg for arg in argv if arg.startswith("--log-uri=binary://"))
        exec_id = next(arg for arg in argv if arg.startswith("--exec-id=")).split("=", 1)[1]
        files = LoggedOutput.of(tmp_path, exec_id)
        assert logger == f"--log-uri={logger_uri(files)}"
        files.stdout.write_bytes(b"7 sleep 600 \n")
        if marked:  # the shim waited for the logger, which marked the end
            files.done.touch()
        return Finished(0, "", "")

    monkeypatch.setattr(containerd, "run_bounded", ctr_exec)
    if marked:
        assert made.exec("cc-abc123-x", ("sh", "-c", "echo"), 10).output == "7 sleep 600 "
    else:
        with pytest.raises(ObservationError, match="output of the exec in cc-abc123-x is not"):
            made.exec("cc-abc123-x", ("sh", "-c", "echo"), 10)
    argv = seen[0]
    assert argv[argv.index("--") + 1 :] == ["cc-abc123-x", "sh", "-c", "echo"]
    assert list(tmp_path.iterdir()) == []  # the logger's files go with the exec
