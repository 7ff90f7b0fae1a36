"""``container-claims run FOLDER`` treats the folder as data: it imports no code from it or
from above it, and reads no pytest configuration there.

An attacker's folder holds, besides two scenarios: a conftest.py in it, in a subfolder that
is a package (``__init__.py``), in its parent and in its grandparent; a pytest.ini whose
``addopts`` add a plugin module placed beside it (``-p evil``, importable by its
``pythonpath = .``) and a JUnit file; a tox.ini, setup.cfg and pyproject.toml asking the
same; a test module and a doctest file. Each piece of code writes a marker file when it
runs, and each configuration asks for a JUnit file: after a run, there is none of either.
pytest run directly on the folder is the control: the same plants do act there (that run,
and its conftest, are the user's own choice).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FakeRuntimes

SCENARIO = """\
section: S
claims:
  - {id: CLAIM, says: It runs on the fake., expect: [{that: runtime, equals: fake}]}
"""


def marker_code(markers: Path, name: str) -> str:
    return f"open({str(markers / name)!r}, 'w').write('ran')\n"


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    (tmp_path / "markers").mkdir()
    return tmp_path / "markers"


@pytest.fixture
def folder(tmp_path: Path, markers: Path, fake_runtimes: FakeRuntimes) -> Path:
    """``tmp/top/parent/folder``: the scenario folder, planted from the root down."""
    fake_runtimes(tmp_path, {"fake": {}})
    folder = tmp_path / "top" / "parent" / "folder"
    sub = folder / "sub"
    sub.mkdir(parents=True)
    for where in (tmp_path / "top", folder.parent, folder, sub):
        (where / "conftest.py").write_text(marker_code(markers, f"conftest-{where.name}"))
    (sub / "__init__.py").write_text(marker_code(markers, "package-init"))
    (folder / "evil.py").write_text(marker_code(markers, "plugin-from-addopts"))
    (folder / "test_evil.py").write_text(
        marker_code(markers, "test-module") + "def test_x(): pass\n"
    )
    (folder / "test_evil.txt").write_text(f">>> {marker_code(markers, 'doctest').strip()}\n3\n")
    junit = markers / "junit"
    (folder / "pytest.ini").write_text(
        f"[pytest]\naddopts = --junitxml={junit}-ini.xml -p evil\npythonpath = .\n"
    )
    (folder.parent / "tox.ini").write_text(f"[pytest]\naddopts = --junitxml={junit}-tox.xml\n")
    (sub / "setup.cfg").write_text(f"[tool:pytest]\naddopts = --junitxml={junit}-cfg.xml\n")
    (folder.parent / "pyproject.toml").write_text(
        f'[tool.pytest.ini_options]\naddopts = "--junitxml={junit}-toml.xml"\npythonpath = ["."]\n'
    )
    (folder / "one.yaml").write_text(SCENARIO.replace("CLAIM", "one"))
    (sub / "two.yaml").write_text(SCENARIO.replace("CLAIM", "two"))
    return folder


def container_claims(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "container_claims", *args],
        cwd=cwd, env={**environment, **env}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def ran(markers: Path) -> list[str]:
    return sorted(path.name for path in markers.iterdir())


@pytest.mark.parametrize(
    ("where", "path", "extra"),
    [
        ("tmp", "top/parent/folder", []),
        ("folder", ".", []),
        ("sub", "..", []),
        ("tmp", "top/parent/folder", ["-n", "2"]),
        ("tmp", "top/parent/folder/sub/two.yaml", ["--co"]),
    ],
    ids=["from-outside", "from-inside", "from-a-subfolder", "workers", "a-file-collected"],
)
def test_run_imports_nothing_and_reads_no_configuration_of_the_folder(
    tmp_path: Path, folder: Path, markers: Path, where: str, path: str, extra: list[str]
) -> None:
    cwd = {"tmp": tmp_path, "folder": folder, "sub": folder / "sub"}[where]
    runtimes = str(tmp_path / "runtimes.yaml")

    result = container_claims("run", path, "--runtimes-file", runtimes, "-q", *extra, cwd=cwd)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert ran(markers) == []
    if "--co" not in extra:
        assert result.stdout.count(" pass ") >= (1 if path.endswith(".yaml") else 2)
    assert "test_evil" not in result.stdout


def test_the_user_s_own_environment_still_reaches_pytest(
    tmp_path: Path, folder: Path, markers: Path
) -> None:
    """PYTEST_ADDOPTS is the user's, not the folder's: it applies."""
    runtimes = str(tmp_path / "runtimes.yaml")
    junit = tmp_path / "mine.xml"

    result = container_claims(
        "run", str(folder), "--runtimes-file", runtimes, "-q", cwd=tmp_path,
        PYTEST_ADDOPTS=f"--junitxml={junit}",
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert junit.exists()
    assert ran(markers) == []


def test_pytest_run_directly_on_the_folder_is_the_user_s_own_choice(
    tmp_path: Path, folder: Path, markers: Path
) -> None:
    """The control: these plants act when pytest itself is run on the folder (with the
    plugin, asked for claims), so their absence above is run's doing."""
    runtimes = str(tmp_path / "runtimes.yaml")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}

    subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "--runtimes-file", runtimes,
         "--runtime", "fake", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert {
        "conftest-folder",
        "conftest-sub",
        "package-init",
        "plugin-from-addopts",
        "test-module",
        "doctest",
        "junit-ini.xml",
    } <= set(ran(markers))
