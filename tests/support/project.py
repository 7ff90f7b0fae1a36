"""A project of scenario files and fake runtimes in pytester's directory, run with pytest.

The plugin is loaded through its entry point, as users get it, in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeRuntimes


def line_with(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


class Project:
    """Scenario files and runtimes in pytester's directory, and a way to run pytest on them."""

    def __init__(
        self, pytester: pytest.Pytester, fake_runtimes: FakeRuntimes, script: dict[str, Any]
    ) -> None:
        self.pytester = pytester
        self.fake_runtimes = fake_runtimes
        self.runtimes_file = fake_runtimes(pytester.path, {"fake": script})

    def scenario(self, name: str, text: str) -> None:
        folder = self.pytester.path / "scenarios"
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))

    def script(self, **scripts: dict[str, Any]) -> None:
        self.runtimes_file = self.fake_runtimes(self.pytester.path, scripts)

    def run(self, *args: str, runtime: str = "fake") -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(
            "scenarios",
            "-p",
            "no:cacheprovider",
            "-v",
            "-rs",
            "--runtimes-file",
            str(self.runtimes_file),
            "--runtime",
            runtime,
            "--claims-json",
            "out.json",
            *args,
        )

    def json(self) -> dict[str, Any]:
        return json.loads((self.pytester.path / "out.json").read_text())  # type: ignore[no-any-return]

    def verdicts(self) -> dict[str, str]:
        return {r["claim"]: r["verdict"] for r in self.json()["results"]}


def run_command(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``container-claims ARGS`` in a process of its own, outside this pytest, with ``env``
    added to this environment."""
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")},
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "container_claims", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``container-claims run -q ARGS``, as :func:`run_command`."""
    return run_command("run", "-q", *args, cwd=cwd, env=env)


def fresh_python(program: str) -> str:
    """What ``program`` prints, run by a Python of its own: one that has imported nothing of
    this test run (to see what a command or a load imports by itself)."""
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    ).stdout
