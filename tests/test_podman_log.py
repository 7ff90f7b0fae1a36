"""A Podman one-shot container's output, as read from the log its conmon writes (k8s-file):
lines and parts of lines put back together, each stream apart, kept up to the limit. The
real engine's side is tests/integration/test_one_shot_output.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from container_claims.errors import ObservationError
from container_claims.observations import CommandOutcome
from container_claims.runtimes.podman import _with_log, read_k8s_log
from container_claims.scenario.model import ContainerSpec

T = b"2026-12-07T21:17:57.030897880+00:00"


def log(tmp_path: Path, *lines: bytes) -> Path:
    path = tmp_path / "c.log"
    path.write_bytes(b"".join(T + b" " + line + b"\n" for line in lines))
    return path


def test_lines_and_parts_of_lines_are_put_back_together_per_stream(tmp_path: Path) -> None:
    path = log(
        tmp_path,
        b"stdout F out1",
        b"stderr F err1",
        b"stdout F ",  # an empty line
        b"stdout P par",
        b"stdout P t of a line",
        b"stdout F  and its end",
        b"stderr P x\x00y \xff",  # NUL, a byte that is not UTF-8, no newline at the end
    )
    out, err, cut = read_k8s_log(path, 1 << 20)
    assert out == "out1\n\npart of a line and its end\n"
    assert err == "err1\nx\x00y \ufffd"
    assert not cut


def test_an_empty_log_is_no_output(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    path.write_bytes(b"")
    assert read_k8s_log(path, 10) == ("", "", False)


def test_each_stream_is_kept_up_to_the_limit_and_said_to_be_longer(tmp_path: Path) -> None:
    path = log(tmp_path, b"stdout F 12345", b"stderr F ab", b"stdout F 678")
    out, err, cut = read_k8s_log(path, 8)
    assert (out, err, cut) == ("12345\n67", "ab\n", True)


def test_reading_stops_once_both_streams_passed_the_limit(tmp_path: Path) -> None:
    path = log(tmp_path, b"stdout F 1234", b"stderr F 1234", b"stdout Z not read")
    assert read_k8s_log(path, 3) == ("123", "123", True)


@pytest.mark.parametrize(
    "line",
    [b"stdout F", b"stdin F x", b"stdout X x", b"no-fields-at-all"],
    ids=["no-content-field", "unknown-stream", "unknown-tag", "one-field"],
)
def test_a_line_conmon_would_not_write_is_an_error(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "c.log"
    path.write_bytes(line + b"\n")
    with pytest.raises(ObservationError, match="is not a log conmon wrote"):
        read_k8s_log(path, 100)


def test_the_output_is_the_logs_and_stderr_follows_the_clis(tmp_path: Path) -> None:
    path = log(tmp_path, b"stdout F hello", b"stderr F oops")
    attached = CommandOutcome(output="5db3b973522794", status=3, stderr="Trying to pull...")
    outcome = _with_log(attached, path, "cc-x")
    assert (outcome.output, outcome.stderr, outcome.status) == (
        "hello",
        "Trying to pull...\noops",
        3,
    )
    assert (outcome.truncated, outcome.detail) == (False, "")


def test_a_log_longer_than_the_limit_is_a_truncated_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("container_claims.runtimes.podman.OUTPUT_LIMIT", 4)
    outcome = _with_log(CommandOutcome(output="", status=0), log(tmp_path, b"stdout F 12345"), "x")
    assert (outcome.output, outcome.truncated, outcome.detail) == (
        "1234",
        True,
        "more than 4 bytes of output",
    )


def test_a_finished_run_without_its_log_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ObservationError, match="the output of cc-x was not logged"):
        _with_log(CommandOutcome(output="id", status=0), tmp_path / "none.log", "cc-x")


def test_a_run_that_timed_out_before_its_log_keeps_what_it_had(tmp_path: Path) -> None:
    timed_out = CommandOutcome(output="", status=None, completed=False, detail="no result")
    assert _with_log(timed_out, tmp_path / "none.log", "cc-x") is timed_out


def podman_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **config: Any
) -> tuple[Any, list[list[str]]]:
    """A podman entry whose CLI is not run, and what the CLI would have been given."""
    from container_claims import ledger
    from container_claims.runtimes import podman
    from container_claims.runtimes.base import RuntimeConfig

    monkeypatch.setattr(ledger, "record", lambda *_, **__: None)
    monkeypatch.setattr(podman, "make_temp_dir", lambda _: tmp_path)
    on = podman.PodmanRuntime(
        RuntimeConfig(name="p", kind="podman", binary="podman", **config), image="img", run_id="r1"
    )
    given: list[list[str]] = []

    def cli(args: list[str], **_: Any) -> CommandOutcome:
        given.append(args)
        logged = args[args.index("--log-driver=k8s-file") + 1].removeprefix("--log-opt=path=")
        Path(logged).write_bytes(T + b" stdout F hi\n")
        return CommandOutcome(output="an-id", status=0)

    monkeypatch.setattr(on, "_cli", cli)
    return on, given


def test_a_one_shot_run_is_attached_to_stdin_and_logged_where_the_suite_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on, given = podman_runtime(tmp_path, monkeypatch, run_args=("--log-driver=journald",))
    outcome = on.run(ContainerSpec(command=("echo", "hi")), "cc-r1-a", timeout=5)
    (args,) = given
    assert outcome.output == "hi"
    # Ours after the entry's: the last --log-driver is the one Podman takes.
    assert args[:5] == [
        "run",
        "--log-driver=journald",
        "--attach=stdin",
        "--log-driver=k8s-file",
        f"--log-opt=path={tmp_path / 'cc-r1-a.log'}",
    ]
    assert args[args.index("--") :] == ["--", "img", "echo", "hi"]
    assert list(tmp_path.iterdir()) == []  # the log went with the container


def test_a_kept_container_keeps_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on, _ = podman_runtime(tmp_path, monkeypatch)
    on.run(ContainerSpec(command=("true",), remove=False), "cc-r1-b", timeout=5)
    assert [path.name for path in tmp_path.iterdir()] == ["cc-r1-b.log"]


@pytest.mark.parametrize(
    ("spec", "config"),
    [
        (ContainerSpec(command=("sh",), tty=True, interactive=True), {}),
        (ContainerSpec(command=("true",)), {"host": "ssh://cc@127.0.0.1"}),
    ],
    ids=["a-terminal", "another-machine"],
)
def test_a_terminal_or_another_machines_engine_is_read_from_the_attach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: ContainerSpec, config: dict[str, Any]
) -> None:
    on, _ = podman_runtime(tmp_path, monkeypatch, **config)
    attached: list[list[str]] = []

    def cli(args: list[str], **_: Any) -> CommandOutcome:
        attached.append(args)
        return CommandOutcome(output="as attached", status=0)

    monkeypatch.setattr(on, "_cli", cli)
    assert on.run(spec, "cc-r1-c", timeout=5).output == "as attached"
    assert not any(arg.startswith(("--attach", "--log")) for arg in attached[0])


@pytest.mark.parametrize("name", ["../escape", ".hidden", "a/b"])
def test_a_name_that_is_no_file_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    on, given = podman_runtime(tmp_path, monkeypatch)
    with pytest.raises(ObservationError, match="cannot name a log file"):
        on.run(ContainerSpec(command=("true",)), name, timeout=5)
    assert given == []
