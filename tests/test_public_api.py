"""The public surface: renaming or dropping any of these breaks users, so it must be deliberate.

Like httpx's ``tests/test_exported_members.py``: when a test here fails, either restore the name
or change the test together with the documentation and a note for users.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import container_claims.runtimes
import container_claims.scenario
from container_claims import results
from container_claims.cli import build_parser
from container_claims.observations import BUILTINS
from container_claims.runtimes import (
    KIND_ENTRY_POINTS,
    KINDS,
    known_kinds,
    load_runtimes_file,
    runtime_class,
)
from container_claims.scenario.fields import SESSION
from container_claims.scenario.model import CAPABILITIES, OPERATORS
from container_claims.scenario.probe_docs import arguments_table
from container_claims.scenario.probes import PROBES, Arg, ProbeInfo
from container_claims.scenario.steps import STEPS
from tests.support.project import fresh_python

FakeRuntimes = Callable[[Path, Mapping[str, Mapping[str, Any]]], Path]  # the conftest fixture


def test_scenario_exports() -> None:
    assert container_claims.scenario.__all__ == [
        "Claim",
        "Expectation",
        "Scenario",
        "Step",
        "load_scenario",
    ]
    for name in container_claims.scenario.__all__:
        assert getattr(container_claims.scenario, name).__module__.startswith(
            "container_claims.scenario."
        )


def test_runtimes_exports() -> None:
    assert container_claims.runtimes.__all__ == [
        "KINDS",
        "KIND_ENTRY_POINTS",
        "Runtime",
        "RuntimeConfig",
        "choose_runtimes",
        "known_kinds",
        "load_runtimes_file",
        "open_runtime",
        "runtime_class",
        "select",
    ]
    for name in container_claims.runtimes.__all__:
        assert hasattr(container_claims.runtimes, name)


def test_runtime_kinds_are_registered_and_importable() -> None:
    assert set(KINDS) == {"docker", "podman", "unshare", "bwrap", "containerd", "nspawn", "lxc"}
    for kind in KINDS:
        assert runtime_class(kind).kind == kind


def test_a_package_adds_a_runtime_kind_by_an_entry_point() -> None:
    """The tests' scripted runtime is no kind of the product's: the tests add it as any
    package would (tests/support/kinds), and it then works as a built-in kind does."""
    from tests.support.fake_runtime import FakeRuntime

    assert KIND_ENTRY_POINTS == "container_claims.runtimes"
    assert known_kinds()["fake"] == "tests.support.fake_runtime:FakeRuntime"
    assert runtime_class("fake") is FakeRuntime
    assert list(known_kinds())[: len(KINDS)] == list(KINDS)  # a built-in kind's name wins


def test_packaged_runtimes_file_names_its_runtimes_docker_first() -> None:
    configs = load_runtimes_file()
    assert [(c.name, c.kind) for c in configs] == [
        ("docker", "docker"),
        ("gvisor", "docker"),
        ("podman", "podman"),
        ("unshare", "unshare"),
        ("bwrap", "bwrap"),
        ("docker-crun", "docker"),  # crun: variants of the engine kinds, as data
        ("podman-crun", "podman"),
        ("podman-rootless", "podman"),
        ("docker-rootless", "docker"),
        ("containerd", "containerd"),
        ("nspawn", "nspawn"),
        ("lxc", "lxc"),
    ]
    assert configs[0].binary == "docker"  # the default runtime is the article's system


def test_scenario_vocabulary() -> None:
    assert OPERATORS == (
        "equals",
        "not_equals",
        "contains",
        "not_contains",
        "matches",
        "not_matches",
        "rows",
        "rows_at_least",
        "rows_at_most",
        "less_than",
        "greater_than",
    )
    assert CAPABILITIES == (
        "engine",
        "images",
        "registry",
        "layers",
        "volumes",
        "exec",
        "resources",
        "host-processes",
        "workdir",
        "user",
        "network",
        "hostname",
        "read-only",
        "tmpfs",
        "capabilities",
        "init",
        "labels",
        "stop-signal",
        "shm-size",
        "no-new-privileges",
        "logs",
        "ports",
        "commit",
        "build",
        "directories",
        "read-only-mounts",
        "anonymous-volumes",
        "volumes-from",
        "tmpfs-options",
        "host-pid",
    )
    assert BUILTINS == ("image", "token", "runtime", "run_id")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def test_cli_subcommands_and_options() -> None:
    commands = _subcommands(build_parser())
    assert set(commands) == {
        "run",
        "report",
        "expect",
        "diff",
        "runtimes",
        "cleanup",
        "schema",
        "image",
        "draft",
    }
    assert set(_subcommands(commands["image"])) == {"build"}
    assert {
        "--runtime",
        "--runtimes-file",
        "--image",
        "--json",
        "--junitxml",
        "--html",
        "--markdown",
        "-n",
        "-k",
        "-x",
        "--exitfirst",
        "-q",
        "--quiet",
        "--expect",
        "--baseline",
        "--map",
    } <= _options(commands["run"])
    assert {"--from", "--output"} <= _options(commands["expect"])
    assert {"--before", "--after", "--map", "--markdown", "--json"} <= _options(commands["diff"])
    assert {"--html", "--markdown"} <= _options(commands["report"])
    assert "--runtimes-file" in _options(commands["runtimes"])
    assert "--runtimes-file" in _options(commands["cleanup"])
    assert {"--tag", "--force"} <= _options(_subcommands(commands["image"])["build"])
    assert "--output" in _options(commands["schema"])
    assert {"-o", "--output", "--force", "--format"} <= _options(commands["draft"])


def test_draft_exports() -> None:
    import container_claims.draft

    assert container_claims.draft.__all__ == [
        "DraftFile",
        "Drafts",
        "Skipped",
        "draft_article",
        "read_article",
        "summary_lines",
        "write_drafts",
    ]


def test_the_command_line_starts_without_the_drafter() -> None:
    """The drafter's names are imported on first use: the command line builds its parser
    (with the article formats, from .article) without the 50 ms of drafting."""
    program = (
        "import sys\n"
        "from container_claims.cli.parser import build_parser\n"
        "build_parser()\n"
        "print(*sorted(m for m in sys.modules if m.startswith('container_claims.draft')))\n"
    )
    imported = fresh_python(program).split()
    assert imported == ["container_claims.draft", "container_claims.draft.article"]


def test_entry_points() -> None:
    scripts = metadata.entry_points(group="console_scripts")
    assert scripts["container-claims"].value == "container_claims.cli:main"
    plugins = metadata.entry_points(group="pytest11")
    assert plugins["container_claims"].value == "container_claims.plugin"


def test_pytest_options(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig(
        "--runtime",
        "a",
        "--runtime",
        "b",
        "--runtimes-file",
        "r.yaml",
        "--image",
        "example/image:1",
        "--claims-json",
        "out.json",
        "--expect",
        "known.yaml",
    )
    assert config.getoption("--runtime") == ["a", "b"]
    assert config.getoption("--runtimes-file") == "r.yaml"
    assert config.getoption("--image") == "example/image:1"
    assert config.getoption("--claims-json") == "out.json"
    assert config.getoption("--expect") == ["known.yaml"]


def test_verdicts_and_exit_codes() -> None:
    assert results.VERDICTS == ("pass", "fail", "not-applicable", "error")
    assert (
        results.EXIT_OK,
        results.EXIT_FAILED,
        results.EXIT_INPUT,
        results.EXIT_UNOBSERVED,
        results.EXIT_INTERRUPTED,
    ) == (0, 1, 2, 3, 130)
    assert results.exit_code(["pass", "not-applicable"]) == 0
    assert results.exit_code(["pass", "fail"]) == 1
    assert results.exit_code(["fail", "error"]) == 3
    assert results.exit_code(["pass"], input_errors=1) == 2


RESULT_KEYS = {"scenario", "claim", "runtime", "verdict", "duration_s", "evidence"}
RUNTIME_KEYS = {"name", "kind", "binary", "run_args", "version"}

SCENARIO = """\
section: S
claims:
  - {id: runs-on-fake, says: It runs on the fake., expect: [{that: runtime, equals: fake}]}
"""


def test_results_file_keys(pytester: pytest.Pytester, fake_runtimes: FakeRuntimes) -> None:
    runtimes_file = fake_runtimes(pytester.path, {"fake": {}})
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "s.yaml").write_text(SCENARIO)

    result = pytester.runpytest_subprocess(
        "scenarios",
        "-p",
        "no:cacheprovider",
        "--runtimes-file",
        str(runtimes_file),
        "--claims-json",
        "out/results.json",
    )

    assert result.ret == 0
    data = json.loads((pytester.path / "out" / "results.json").read_text())
    assert {"runtimes", "results", "summary", "input_errors"} <= set(data)
    (runtime,) = data["runtimes"]
    assert set(runtime) >= RUNTIME_KEYS
    (record,) = data["results"]
    assert set(record) >= RESULT_KEYS
    assert record["verdict"] == "pass"
    assert data["summary"] == {"pass": 1}


def test_the_readme_documents_every_operator_probe_and_field() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("### Observations and their fields", 1)[1].split("###", 1)[0]
    missing = [op for op in OPERATORS if f"`{op}`" not in readme]
    for name, info in PROBES.items():
        row = next((line for line in table.splitlines() if line.startswith(f"| `{name}` |")), "")
        missing += (
            [name]
            if not row
            else [f"{name}.{f}" for f in info.yields.fields if f"`{f}`" not in row]
        )
    for shape in (SESSION, *(kind.yields for kind in STEPS.values())):
        missing += [f for f in shape.fields if f"`{f}`" not in table]
    assert missing == []


def _readme_arguments() -> list[str]:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Probes and their arguments", 1)[1].split("###", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_the_readme_lists_every_probes_arguments_as_the_probe_table_says() -> None:
    assert _readme_arguments() == arguments_table(), (
        "README.md's table of probe arguments is not the probe table's: put the output of "
        "`python -m container_claims.scenario.probe_docs` in its place"
    )
    undocumented = [
        f"{name}.{arg_name}"
        for name, info in PROBES.items()
        for arg_name, arg in info.args.items()
        if not arg.doc or bool(arg.default) == arg.required  # an optional one says its default
    ]
    assert undocumented == []


def test_an_argument_added_to_the_probe_table_fails_the_readme_comparison(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The comparison above can fail: the README no longer matches once the table grows, and
    an argument described otherwise changes its row."""
    probes = dict(PROBES)
    probes["host.added"] = ProbeInfo("host:added", args={"depth": Arg("integer", doc="how deep")})
    monkeypatch.setattr("container_claims.scenario.probe_docs.PROBES", probes)
    grown = arguments_table()
    assert grown != _readme_arguments()
    assert grown[-1] == (
        "| `host.added` | `depth` | a whole number (or text that is one) | required | how deep |"
    )
