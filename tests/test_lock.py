"""requirements.lock against pyproject.toml, offline: every dependency pyproject.toml names (its
extras' too) is pinned in the lock at a version its range allows, with the hashes of its files,
for the interpreter and platform scripts/lock resolves for; and what installs the project
(tox, the workflows) installs from the lock.

scripts/setup installs the lock and then the project with ``--no-deps``: a dependency missing
from the lock would not be installed at all, and one outside its range would be installed all
the same. The checks below find both, with a made-up pyproject and lock to show they can.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
LOCK_SCRIPT = REPO / "scripts" / "lock"
WORKFLOWS = REPO / ".github" / "workflows"


@dataclass(frozen=True)
class Pin:
    """One package of the lock: ``name==version``, with the sha256 of each of its files."""

    name: NormalizedName
    version: Version
    marker: Marker | None
    hashes: tuple[str, ...]


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Each line of a requirements file, its continuations (a backslash at the end) joined, with
    the number of its first line."""
    first, parts = 0, []
    for number, line in enumerate(text.splitlines(), 1):
        first = first or number
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        yield first, " ".join(part.strip() for part in [*parts, line]).strip()
        first, parts = 0, []
    if parts:
        yield first, " ".join(part.strip() for part in parts).strip()


def read_lock(text: str) -> dict[NormalizedName, Pin]:
    """The pins of a lock as uv's ``pip compile --generate-hashes`` writes it: one requirement a
    logical line (continued by backslashes), each ``NAME==VERSION`` with its ``--hash`` options,
    and comments. Anything else (an option, an editable, a URL) is refused: ``pip install
    --require-hashes`` would not take it as a pin."""
    pins: dict[NormalizedName, Pin] = {}
    for number, line in logical_lines(text):
        if not line or line.startswith("#"):
            continue
        requirement, sep, rest = (part.strip() for part in line.partition(" --"))
        options = f"--{rest}".split() if sep else []
        if not requirement or requirement.startswith("-"):
            raise ValueError(f"line {number}: not a pinned requirement: {line[:80]}")
        parsed = Requirement(requirement)
        specifiers = list(parsed.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==" or parsed.url:
            raise ValueError(f"line {number}: {parsed} is not pinned with ==")
        hashes = []
        for option in options:
            key, _, value = option.partition("=")
            if key != "--hash" or not re.fullmatch(r"sha256:[0-9a-f]{64}", value):
                raise ValueError(f"line {number}: {parsed.name}: {option!r} is not a sha256 hash")
            hashes.append(value)
        name = canonicalize_name(parsed.name)
        if name in pins:
            raise ValueError(f"line {number}: {name} is pinned twice")
        pins[name] = Pin(name, Version(specifiers[0].version), parsed.marker, tuple(hashes))
    return pins


def target_environment(lock_script: str) -> dict[str, str]:
    """The marker environment the lock is made for: the Python version and platform that
    scripts/lock passes to uv (``--python-version X.Y``, ``--python-platform linux``)."""
    version = re.search(r"--python-version[ =](\d+\.\d+)\b", lock_script)
    platform = re.search(r"--python-platform[ =](\S+)", lock_script)
    assert version and platform, "scripts/lock names no --python-version or --python-platform"
    assert platform.group(1) in {"linux", "x86_64-unknown-linux-gnu"}, platform.group(1)
    return {
        "python_version": version.group(1),
        "python_full_version": f"{version.group(1)}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
    }


def declared(project: dict[str, Any]) -> Iterator[tuple[str, Requirement]]:
    """Every requirement of ``[project]``, with where it is declared ("dependencies" or the
    extra's name); the project's own extras (``NAME[extra]``) are checked to exist, not as a
    package: their requirements are declared under their own names."""
    name = canonicalize_name(project["name"])
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})
    groups = [("dependencies", project.get("dependencies", []))] + sorted(extras.items())
    for where, requirements in groups:
        for line in requirements:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == name:
                unknown = requirement.extras - set(extras)
                assert not unknown, f"{where}: {line}: the project has no extra {unknown}"
                continue
            yield where, requirement


def mismatches(
    project: dict[str, Any], pins: dict[NormalizedName, Pin], environment: dict[str, str]
) -> list[str]:
    """What the lock gets wrong about the project's requirements, one line each."""
    found = []
    for where, requirement in declared(project):
        extra = "" if where == "dependencies" else where
        marker = requirement.marker
        if marker is not None and not marker.evaluate({**environment, "extra": extra}):
            continue  # not for the interpreter and platform the lock is made for
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            found.append(f"{where}: {requirement} is not in the lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            found.append(f"{where}: {requirement}: the lock has {pin.version}")
        elif pin.marker is not None and not pin.marker.evaluate(environment):
            found.append(f"{where}: {requirement}: the lock leaves it out ({pin.marker})")
    return found


def load_project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project


# --- the lock and pyproject.toml -------------------------------------------------------------


def test_every_package_of_the_lock_is_pinned_with_the_hashes_of_its_files() -> None:
    pins = read_lock(LOCK.read_text(encoding="utf-8"))
    assert len(pins) > 20, sorted(pins)  # the whole dev extra, not an empty file
    assert all(pin.hashes for pin in pins.values()), [p.name for p in pins.values() if not p.hashes]
    # The project itself is installed from the work tree (pip install --no-deps -e .).
    assert canonicalize_name(load_project()["name"]) not in pins


def test_every_dependency_of_pyproject_is_locked_within_its_range() -> None:
    pins = read_lock(LOCK.read_text(encoding="utf-8"))
    environment = target_environment(LOCK_SCRIPT.read_text(encoding="utf-8"))
    problems = mismatches(load_project(), pins, environment)
    assert not problems, (
        "requirements.lock does not match pyproject.toml (scripts/lock makes it anew):\n"
        + "\n".join(problems)
    )


def test_the_checks_cover_every_extra_and_the_lock_is_for_a_python_the_project_takes() -> None:
    project = load_project()
    assert {where for where, _ in declared(project)} == {
        "dependencies",
        *project["optional-dependencies"],
    }
    environment = target_environment(LOCK_SCRIPT.read_text(encoding="utf-8"))
    assert SpecifierSet(project["requires-python"]).contains(environment["python_full_version"])


PROJECT = {
    "name": "demo",
    "dependencies": ["pyyaml>=6", "tomli>=2; python_version < '3.11'"],
    "optional-dependencies": {
        "extra": ["rich>=13"],
        "dev": ["demo[extra]", "mypy>=1.10,<2"],
    },
}
HASH = "--hash=sha256:" + "0" * 64


def lock_of(*pins: str) -> dict[NormalizedName, Pin]:
    return read_lock("# made by hand\n" + "".join(f"{pin} \\\n    {HASH}\n" for pin in pins))


def test_a_lock_that_matches_has_no_mismatch() -> None:
    pins = lock_of("pyyaml==6.0.3", "rich==13.7.1", "mypy==1.10.0")
    environment = target_environment("uv pip compile --python-version 3.11 --python-platform linux")

    assert mismatches(PROJECT, pins, environment) == []  # tomli is not for 3.11


def test_a_missing_dependency_and_a_version_out_of_range_are_found() -> None:
    pins = lock_of("pyyaml==5.4.1", "mypy==2.0.0")
    environment = target_environment("uv pip compile --python-version 3.11 --python-platform linux")

    assert mismatches(PROJECT, pins, environment) == [
        "dependencies: pyyaml>=6: the lock has 5.4.1",
        "dev: mypy<2,>=1.10: the lock has 2.0.0",
        "extra: rich>=13 is not in the lock",
    ]


def test_a_dependency_for_an_older_python_is_asked_of_a_lock_made_for_it() -> None:
    pins = lock_of("pyyaml==6.0.3", "rich==13.7.1", "mypy==1.10.0")
    environment = target_environment("uv pip compile --python-version 3.10 --python-platform linux")

    assert mismatches(PROJECT, pins, environment) == [
        'dependencies: tomli>=2; python_version < "3.11" is not in the lock'
    ]


def test_an_extra_of_the_project_that_does_not_exist_is_refused() -> None:
    project = {**PROJECT, "optional-dependencies": {"dev": ["demo[ansible]"]}}

    with pytest.raises(AssertionError, match="the project has no extra"):
        list(declared(project))


@pytest.mark.parametrize(
    "line",
    [
        "pyyaml>=6 \\\n    " + HASH,  # a range, not a pin
        "-e . \\\n    " + HASH,  # an editable
        "pyyaml==6.0.3 \\\n    --hash=md5:0123",  # not a sha256
        "--index-url https://example.org/simple",  # an option
        "pyyaml==6.0.3 \\\n    " + HASH + "\npyyaml==6.0.4 \\\n    " + HASH,  # twice
    ],
)
def test_a_lock_line_that_is_no_hashed_pin_is_refused(line: str) -> None:
    with pytest.raises(ValueError):
        read_lock(line + "\n")


def test_a_pin_without_hashes_is_read_as_such() -> None:
    assert read_lock("pyyaml==6.0.3\n")[canonicalize_name("PyYAML")].hashes == ()


# --- what installs from it -------------------------------------------------------------------


def installs_the_lock(command: str) -> bool:
    """``pip install --require-hashes -r .../requirements.lock`` (in any order)."""
    words = command.split()
    return "--require-hashes" in words and any(
        words[i] == "-r" and words[i + 1].endswith("requirements.lock")
        for i in range(len(words) - 1)
    )


def pip_installs(script: str) -> list[str]:
    """Each ``pip install`` command of a shell script, up to the next operator."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|\|\||;|\|", line):
            if re.search(r"\bpip\s+install\b", part):
                commands.append(" ".join(part.split()))
    return commands


def test_the_workflows_install_dependencies_only_from_the_lock() -> None:
    """Every pip install in a workflow is the lock's, hashes checked, or a package without its
    dependencies (they come from the lock): none resolves ranges anew."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                for command in pip_installs(str(step.get("run", ""))):
                    found.append(command)
                    assert installs_the_lock(command) or "--no-deps" in command.split(), (
                        f"{path.name} {job_id}: {command}: neither the lock nor --no-deps"
                    )
    assert any(installs_the_lock(command) for command in found), found


def test_tox_installs_from_the_lock_but_for_the_newest_env() -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini", encoding="utf-8")
    assert installs_the_lock(tox["testenv"]["deps"]), tox["testenv"]["deps"]
    overriding = [
        section for section in tox.sections() if section != "testenv" and "deps" in tox[section]
    ]
    assert overriding == ["testenv:newest"]
    assert tox["testenv:newest"]["deps"].strip() == ""
