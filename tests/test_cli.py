"""The command line: help, input errors, exit codes, and the runtimes listing.

``run`` starts pytest, so it is tested in a subprocess (``python -m container_claims``); the
other commands are called in-process through :func:`container_claims.cli.main`.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from container_claims.cli import main, parse_run
from tests.support.project import run_command
from tests.support.shell import shell_scenario

FakeRuntimes = Callable[[Path, Mapping[str, Mapping[str, Any]]], Path]  # the conftest fixture

SHELL = shell_scenario(
    ("holds", "Holds.", "shell_pid", 1),
    ("does-not-hold", "Does not hold.", "shell_pid", 2),
    ("not-observed", "Not observed.", "broken", "x"),
)

INVALID = """\
section: Broken
claims:
  - {id: invalid, says: Two operators., expect: [{that: image, equals: a, contains: b}]}
"""

SCRIPT = {"typed": {"echo $$": "1", "cat /broken": "!error"}}


@pytest.fixture
def workdir(tmp_path: Path, fake_runtimes: FakeRuntimes) -> Path:
    """A folder with scenarios/shell.yaml and runtimes.yaml naming a fake runtime."""
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "shell.yaml").write_text(SHELL)
    fake_runtimes(tmp_path, {"fake": SCRIPT})
    return tmp_path


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(*args, cwd=cwd)


# -- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "explains"),
    [
        ([], ["run", "runtimes", "cleanup", "image", "exit codes:", "not-applicable"]),
        (
            ["run"],
            [
                "Check the claims of scenario files",
                "--runtime",
                "--runtimes-file",
                "--image",
                "--json",
                "-k EXPR",
                "pytest's own options may follow as well, anywhere after run: "
                "--collect-only (--co), --lf,",
                "Arguments after -- go to pytest",
            ],
        ),
        (["runtimes"], ["List the runtimes of a runtimes file", "--runtimes-file"]),
        (["cleanup"], ["--all", "--runtimes-file"]),
        (["image"], ["Manage the test image", "build"]),
        (["image", "build"], ["Build the test image offline", "--tag", "--force"]),
    ],
    ids=["top-level", "run", "runtimes", "cleanup", "image", "image-build"],
)
def test_help_exits_0_and_explains(
    capsys: pytest.CaptureFixture[str], argv: list[str], explains: list[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])

    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: container-claims {' '.join(argv)}".rstrip())
    for text in explains:
        assert text in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])

    assert info.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


# -- run ----------------------------------------------------------------------------------------


def test_run_on_a_missing_path_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.yaml"

    assert main(["run", str(missing)]) == 2

    err = capsys.readouterr().err
    assert err == (
        f"container-claims: {missing}: no such file or folder (give scenario files or folders)\n"
    )


@pytest.mark.parametrize(
    ("keyword", "code"),
    [("holds", 0), ("holds or does-not-hold", 1), ("holds or does-not-hold or not-observed", 3)],
    ids=["all-hold", "one-fails", "one-not-observed"],
)
def test_run_exit_codes(workdir: Path, keyword: str, code: int) -> None:
    result = cli(
        workdir,
        "run",
        "--runtimes-file",
        "runtimes.yaml",
        "--runtime",
        "fake",
        "-k",
        keyword,
        "--json",
        "out.json",
        "--",
        "-p",
        "no:cacheprovider",
    )

    assert result.returncode == code, result.stdout + result.stderr
    assert (workdir / "out.json").exists()


def test_run_defaults_to_the_scenarios_folder_and_the_first_runtime(workdir: Path) -> None:
    result = cli(workdir, "run", "--runtimes-file", "runtimes.yaml", "-k", "holds")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "scenarios/shell.yaml::holds[fake] PASSED" in result.stdout


def test_run_quiet_and_pytest_arguments_after_double_dash(workdir: Path) -> None:
    result = cli(
        workdir,
        "run",
        "scenarios/shell.yaml",
        "--runtimes-file",
        "runtimes.yaml",
        "-q",
        "-k",
        "holds",
        "--",
        "-p",
        "no:cacheprovider",
        "--co",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "scenarios/shell.yaml::holds[fake]" in result.stdout
    assert "PASSED" not in result.stdout  # --co reached pytest: nothing ran


@pytest.mark.parametrize(
    ("argv", "paths", "to_pytest"),
    [
        (["scenarios/", "--co"], ["scenarios/"], ["--co"]),
        (["scenarios/", "--collect-only", "-q"], ["scenarios/"], ["--collect-only"]),
        (["a.yaml", "-x", "--lf", "b.yaml"], ["a.yaml", "b.yaml"], ["--lf"]),
        (["-p", "no:cacheprovider", "a.yaml"], ["a.yaml"], ["-pno:cacheprovider"]),
        (["a.yaml", "--maxfail", "2", "-rs"], ["a.yaml"], ["--maxfail=2", "-rs"]),
        (["a.yaml", "-xvs"], ["a.yaml"], ["-v", "-s"]),
        (["--deselect=-odd", "-W", "error", "a.yaml"], ["a.yaml"], ["--deselect=-odd", "-Werror"]),
        (["a.yaml", "--dist", "loadfile", "-n", "2"], ["a.yaml"], ["--dist=loadfile"]),
        (["--a-plugins=3", "a.yaml"], ["a.yaml"], ["--a-plugins=3"]),
        (["a.yaml", "--co", "--", "-k", "x"], ["a.yaml"], ["--co", "-k", "x"]),
    ],
    ids=[
        "co", "collect-only", "lf-between-paths", "plugin", "value-apart", "flags-together", "values-like-options",
        "xdist", "unknown-option", "after-dashes",
    ],
)  # fmt: skip
def test_run_passes_pytest_s_options_after_the_paths(
    argv: list[str], paths: list[str], to_pytest: list[str]
) -> None:
    """pytest's options go to pytest as given, in order, wherever they are; their values are
    never taken for paths, and run's own options (-x, -n, -k) stay run's."""
    args, extra = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )

    parsed = parse_run(args, extra)

    assert parsed.paths == paths
    assert parsed.pytest_args == to_pytest
    assert parsed.exitfirst == ("-x" in argv or "-xvs" in argv)
    assert parsed.workers == ("2" if "-n" in argv else None)


def test_run_takes_collect_only_and_last_failed_after_the_paths(workdir: Path) -> None:
    collected = cli(
        workdir, "run", "scenarios/", "--runtimes-file", "runtimes.yaml", "--collect-only", "-q"
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "scenarios/shell.yaml::holds[fake]" in collected.stdout
    assert "PASSED" not in collected.stdout and "passed" not in collected.stdout

    first = cli(workdir, "run", "scenarios/", "--runtimes-file", "runtimes.yaml")
    again = cli(workdir, "run", "scenarios/", "--runtimes-file", "runtimes.yaml", "--lf", "-x")

    assert first.returncode == 3, first.stdout + first.stderr
    assert "holds[fake] PASSED" in first.stdout
    assert again.returncode == 1, again.stdout + again.stderr
    assert "holds[fake] PASSED" not in again.stdout  # only what did not hold ran again
    assert "does-not-hold[fake] FAILED" in again.stdout
    assert "not-observed[fake]" not in again.stdout.split("short test summary")[0]  # -x


def test_run_with_an_option_nobody_knows_leaves_it_to_pytest(workdir: Path) -> None:
    result = cli(workdir, "run", "--runtimes-file", "runtimes.yaml", "--no-such-option")

    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr


def test_run_with_nothing_selected_exits_2(workdir: Path) -> None:
    result = cli(workdir, "run", "--runtimes-file", "runtimes.yaml", "-k", "no-such-claim")

    assert result.returncode == 2
    assert "no claims selected" in result.stderr


def test_run_with_an_invalid_scenario_exits_2(workdir: Path) -> None:
    (workdir / "scenarios" / "bad.yaml").write_text(INVALID)

    result = cli(workdir, "run", "--runtimes-file", "runtimes.yaml")

    assert result.returncode == 2
    assert "scenarios/bad.yaml:3: an expectation has exactly one of" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--runtimes-file", "runtimes.yaml", "--runtime", "fakr"],
            "container-claims: unknown runtime 'fakr' (did you mean 'fake'?); known: fake",
        ),
        (
            ["--runtimes-file", "bad-runtimes.yaml"],
            "container-claims: bad-runtimes.yaml:3: unknown runtime kind 'dockr'",
        ),
    ],
    ids=["unknown-runtime", "bad-runtimes-file"],
)
def test_run_with_unknown_runtime_exits_2_naming_the_known_ones(
    workdir: Path, args: list[str], message: str
) -> None:
    (workdir / "bad-runtimes.yaml").write_text("runtimes:\n  - name: x\n    kind: dockr\n")

    result = cli(workdir, "run", *args)

    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stdout + result.stderr


def test_run_prints_no_assert_rewrite_warning(workdir: Path) -> None:
    # The cli imports the plugin's package before pytest.main() loads it from its entry point.
    result = cli(workdir, "run", "--runtimes-file", "runtimes.yaml", "-k", "holds")

    assert result.returncode == 0
    assert "PytestAssertRewriteWarning" not in result.stdout
    assert "warnings summary" not in result.stdout


# -- runtimes -----------------------------------------------------------------------------------


def test_runtimes_lists_usable_and_unusable_with_the_reason(
    tmp_path: Path, fake_runtimes: FakeRuntimes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = fake_runtimes(tmp_path, {"fake": SCRIPT, "fake-down": {"unusable": "engine down"}})

    assert main(["runtimes", "--runtimes-file", str(path)]) == 0

    rows = [
        line.split(maxsplit=3) for line in capsys.readouterr().out.splitlines()[1:]
    ]  # after the header
    assert rows == [
        ["fake", "fake", "usable", "engine fake 1.0"],
        ["fake-down", "fake", "unusable", "engine down"],
    ]


def test_runtimes_prints_descriptions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runtimes.yaml"
    path.write_text("runtimes:\n  - {name: fake, kind: fake, description: From a script.}\n")

    assert main(["runtimes", "--runtimes-file", str(path)]) == 0

    out = capsys.readouterr().out.splitlines()[1:]  # after the header
    assert out[0].split() == ["fake", "fake", "usable", "engine", "fake", "1.0"]
    assert out[1].strip() == "From a script."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            """\
            runtimes:
              - name: x
                kind: dockr
            """,
            "{path}:3: unknown runtime kind 'dockr' (did you mean 'docker'?); "
            "known kinds: docker, podman, unshare, bwrap, containerd, nspawn, lxc, fake",
        ),
        (
            """\
            runtimes:
              - name: x
                kind: fake
                binry: docker
            """,
            "{path}:4: unknown key 'binry' in runtimes.0 (did you mean 'binary'?)",
        ),
        (
            """\
            runtimes:
              - {name: x, kind: fake}
              - {name: x, kind: fake}
            """,
            "{path}:3: duplicate runtime name 'x' (first at line 2)",
        ),
        (
            """\
            runtimes: [
            """,
            "{path}:2: invalid YAML",
        ),
        (
            """\
            - name: x
            """,
            "{path}:1: a runtimes file is a mapping with a 'runtimes' list",
        ),
    ],
    ids=["unknown-kind", "unknown-key", "duplicate-name", "yaml-syntax", "not-a-mapping"],
)
def test_bad_runtimes_file_is_one_line_at_the_right_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "runtimes.yaml"
    path.write_text(textwrap.dedent(text))

    assert main(["runtimes", "--runtimes-file", str(path)]) == 2

    err = capsys.readouterr().err
    assert err.startswith("container-claims: " + message.format(path=path))
    assert err.count("\n") == 1


def test_missing_runtimes_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runtimes", "--runtimes-file", str(tmp_path / "none.yaml")]) == 2

    assert "cannot read the runtimes file" in capsys.readouterr().err


def test_schema_is_printed_or_written_for_editors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from container_claims.scenario.validate import schema

    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == schema()  # exactly what files are checked against
    assert printed["$id"].startswith("urn:container-claims:scenario:")

    target = tmp_path / "scenario.schema.json"
    assert main(["schema", "--output", str(target)]) == 0
    assert json.loads(target.read_text()) == printed
    assert capsys.readouterr().err == f"wrote {target}\n"

    assert main(["schema", "--output", str(tmp_path / "missing" / "x.json")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "cannot write the schema" in error[0]


@pytest.mark.parametrize("command", ["report", "diff"])
def test_report_and_diff_help_explain_host(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])

    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--host PATTERN only the runtimes on machines PATTERN matches" in out
    assert "local is this machine" in out and "repeat for several" in out
    assert "a --host that matches no machine" in out  # in the exit codes
