"""What the package ships, and what it runs when installed.

The wheel carries the catalogue (every scenario, expectations file and baseline), the license
and the metadata PyPI shows; the sdist carries everything the tests read, and builds the same
wheel. Both are built here, offline (no isolated build environment: the backend is in the dev
extra), from a copy of this source tree, so the checkout gets no ``build/``: the sdist and the
wheel from it with ``python -m build --no-isolation``, and a wheel straight from the tree with
``pip wheel --no-deps --no-build-isolation``.

The catalogue as an installed package finds it (:mod:`container_claims.packaged`) is checked
with the fake runtime: ``run`` from an empty folder, and expectations and baselines by name.
``scripts/check-wheel`` runs the built wheel's catalogue on a real engine.
"""

from __future__ import annotations

import email.parser
import email.policy
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from container_claims import packaged
from container_claims.expectations import load_expectations
from tests.conftest import FakeRuntimes
from tests.support.project import run_command

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

#: What the tests read besides tests/, all of which the sdist carries (MANIFEST.in).
SDIST_FOLDERS = [
    "scenarios",
    "expectations",
    "baselines",
    "benchmarks",
    "scripts",
    ".ci",
    ".github",
]
SDIST_FILES = ["conftest.py", "tox.ini", "LICENSE", "README.md", "pyproject.toml", "MANIFEST.in"]

#: Never part of a distribution: what tools and runs leave in a tree.
LEFT_BY_TOOLS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def files_under(root: Path, folder: str, pattern: str = "*") -> Iterator[str]:
    """Files of ``root/folder`` matching ``pattern`` at any depth, relative to ``root``, less
    what tools leave."""
    for path in sorted((root / folder).rglob(pattern)):
        relative = path.relative_to(root)
        if path.is_file() and not LEFT_BY_TOOLS & set(relative.parts) and path.suffix != ".pyc":
            yield str(relative)


def catalogue_files() -> list[str]:
    """The catalogue as the repository has it, relative to its root."""
    return [
        *files_under(REPO, "scenarios", "*.yaml"),
        *files_under(REPO, "expectations", "*.yaml"),
        *files_under(REPO, "baselines", "*.json"),
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, the wheel built from it, and a wheel built straight from the tree."""
    work = tmp_path_factory.mktemp("dist")
    source = work / "source"
    anywhere = shutil.ignore_patterns("*.egg-info", "*.pyc", *LEFT_BY_TOOLS)

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = {".git", ".venv", "build", "dist", "results"} if Path(folder) == REPO else set()
        return set(anywhere(folder, names)) | (top & set(names))

    shutil.copytree(REPO, source, symlinks=True, ignore=ignore)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PIP_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for command in (
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "sdist"), "."],
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--wheel-dir", str(work / "tree"), "."],
    ):
        done = subprocess.run(
            command, cwd=source, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    (sdist,) = (work / "sdist").glob("*.tar.gz")
    (wheel,) = (work / "sdist").glob("*.whl")
    (tree_wheel,) = (work / "tree").glob("*.whl")
    return {"sdist": sdist, "wheel": wheel, "tree_wheel": tree_wheel}


def wheel_contents(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_wheel_carries_the_whole_catalogue_as_the_repository_has_it(
    built: dict[str, Path],
) -> None:
    contents = wheel_contents(built["wheel"])

    catalogue = catalogue_files()
    assert any(name.startswith("scenarios/docker-run/") for name in catalogue)
    assert "expectations/debian12.yaml" in catalogue and "baselines/debian12.json" in catalogue
    for name in catalogue:
        packaged_name = f"container_claims/catalogue/{name}"
        assert packaged_name in contents, f"the wheel lacks {name}"
        assert contents[packaged_name] == (REPO / name).read_bytes(), f"{name} differs"
    extra = {
        name.removeprefix("container_claims/catalogue/")
        for name in contents
        if name.startswith("container_claims/catalogue/")
    } - set(catalogue)
    assert not extra
    assert not [name for name in contents if name.startswith(("tests/", "scenarios/"))]


def test_the_wheel_carries_the_license_and_the_metadata_pypi_shows(built: dict[str, Path]) -> None:
    contents = wheel_contents(built["wheel"])
    (license_file,) = [name for name in contents if name.endswith(".dist-info/licenses/LICENSE")]
    (metadata_file,) = [name for name in contents if name.endswith(".dist-info/METADATA")]
    metadata = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        contents[metadata_file]
    )

    assert contents[license_file] == (REPO / "LICENSE").read_bytes()
    assert b"MIT License" in contents[license_file]
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    classifiers: list[str] = metadata.get_all("Classifier") or []
    assert classifiers == PROJECT["classifiers"]
    assert "Framework :: Pytest" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # the expression says it
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert urls == PROJECT["urls"] and {"Source", "Issues"} <= set(urls)


def test_the_sdist_carries_what_the_tests_read_and_builds_the_same_wheel(
    built: dict[str, Path],
) -> None:
    with tarfile.open(built["sdist"]) as archive:
        top = archive.getnames()[0].split("/")[0]
        in_sdist = {name.removeprefix(f"{top}/") for name in archive.getnames()}
    wanted = [
        *SDIST_FILES,
        *files_under(REPO, "tests"),
        *(name for folder in SDIST_FOLDERS for name in files_under(REPO, folder)),
        *(name for name in files_under(REPO, "src") if ".egg-info" not in name),
    ]

    assert not [name for name in wanted if name not in in_sdist]
    assert {"tests/conftest.py", "tests/support/__init__.py", "conftest.py"} <= in_sdist
    # The sdist's wheel and the tree's are the same, file for file.
    assert wheel_contents(built["wheel"]) == wheel_contents(built["tree_wheel"])
    assert built["wheel"].name == built["tree_wheel"].name


# -- the catalogue as the installed package finds it --------------------------------------------


def test_expectations_and_baselines_go_by_their_packaged_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    expected = packaged.ROOT / "expectations" / "debian12.yaml"
    assert packaged.named("expectations", "debian12") == expected
    assert packaged.named("expectations", "debian12.yaml") == expected
    assert packaged.named("baselines", "debian12") == packaged.ROOT / "baselines" / "debian12.json"
    assert packaged.names("expectations") == ["debian12"]
    assert load_expectations([Path("debian12")]).files == (str(expected),)
    # A path is a path, and a file here comes first; an unknown name stays as given.
    assert packaged.named("expectations", "sub/debian12") == Path("sub/debian12")
    (tmp_path / "debian12").write_text("expectations: []\n")
    assert packaged.named("expectations", "debian12") == Path("debian12")
    assert packaged.named("expectations", "debian13") == Path("debian13")


def test_the_packaged_catalogue_is_the_repositorys(tmp_path: Path) -> None:
    """An editable install reads the top-level folders through the catalogue's links."""
    for name in catalogue_files():
        assert (packaged.ROOT / name).read_bytes() == (REPO / name).read_bytes(), name


def cli(cwd: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_command(
        *args, cwd=cwd, env=None if home is None else {"CONTAINER_CLAIMS_HOME": str(home)}
    )


def test_run_from_a_folder_without_scenarios_checks_the_packaged_catalogue(
    tmp_path: Path, fake_runtimes: FakeRuntimes
) -> None:
    runtimes_file = fake_runtimes(tmp_path, {"fake": {"typed": {}}})
    empty = tmp_path / "empty"
    empty.mkdir()

    listed = cli(
        empty,
        "run",
        "--runtimes-file",
        str(runtimes_file),
        "--expect",
        "debian12",
        "-q",
        "--",
        "--collect-only",
    )

    assert listed.returncode == 0, listed.stdout + listed.stderr
    files = {line.split("::")[0] for line in listed.stdout.splitlines() if "::" in line}
    assert files == set(files_under(REPO, "scenarios", "*.yaml"))


def test_a_run_of_the_packaged_catalogue_is_rooted_in_it_and_caches_in_the_state_directory(
    tmp_path: Path, fake_runtimes: FakeRuntimes
) -> None:
    runtimes_file = fake_runtimes(tmp_path, {"fake": {"typed": {"echo $$": "1"}}})
    empty = tmp_path / "empty"
    empty.mkdir()
    home = tmp_path / "home"

    done = cli(
        empty, "run", "--runtimes-file", str(runtimes_file), "-k", "shell-is-pid-1", home=home
    )

    # Named as in a checkout and in the baselines, wherever the package is installed.
    assert "scenarios/process-namespace.yaml::shell-is-pid-1[fake]" in done.stdout, (
        done.stdout + done.stderr
    )
    assert [path.name for path in (home / "pytest-cache").iterdir()], "no cache in the state dir"
    assert not (empty / ".pytest_cache").exists()
    assert not (packaged.ROOT / ".pytest_cache").exists()
