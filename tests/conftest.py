"""Shared setup of the unit tests: the scripted fake runtime's kind and runtimes files for it,
and a state directory of their own (pytester comes from the root conftest.py).

Engine fixtures live elsewhere (they need Docker); nothing here does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

FakeRuntimes = Callable[[Path, Mapping[str, Mapping[str, Any]]], Path]

REPO = Path(__file__).resolve().parents[1]
#: The metadata whose entry point adds the runtime kind ``fake`` (tests/support/fake_runtime.py),
#: as a package adds a kind: the product knows no such kind of its own.
TEST_KINDS = REPO / "tests" / "support" / "kinds"
if str(TEST_KINDS) not in sys.path:
    sys.path.append(str(TEST_KINDS))


def path_with_test_kinds(*others: str) -> str:
    """A PYTHONPATH under which a process finds the ``fake`` kind, then ``others``."""
    return os.pathsep.join([str(REPO), str(TEST_KINDS), *others])


@pytest.fixture(autouse=True)
def fake_kind_in_every_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The processes a test starts (pytest, container-claims) find the ``fake`` kind too."""
    monkeypatch.setenv(
        "PYTHONPATH", path_with_test_kinds(*filter(None, [os.environ.get("PYTHONPATH")]))
    )


@pytest.fixture
def fake_runtimes() -> FakeRuntimes:
    """Write a runtimes file of fake runtimes, one script each; return the file's path.

    The script says what the fake answers (see ``tests/support/fake_runtime.py``)::

        runtimes_file = fake_runtimes(tmp_path, {"fake": {"typed": {"echo $$": "1"}},
                                                 "fake-down": {"unusable": "engine down"}})
    """

    def write(directory: Path, scripts: Mapping[str, Mapping[str, Any]]) -> Path:
        entries = []
        for name, script in scripts.items():
            script_path = directory / f"{name}.script.yaml"
            script_path.write_text(yaml.safe_dump(dict(script)))
            entries.append(
                {"name": name, "kind": "fake", "env": {"CONTAINER_CLAIMS_FAKE": str(script_path)}}
            )
        path = directory / "runtimes.yaml"
        path.write_text(yaml.safe_dump({"runtimes": entries}, sort_keys=False))
        return path

    return write


#: Hostile and broken inputs, fed to the suite by tests/test_corpus.py; never tests themselves.
collect_ignore = ["corpus"]


@pytest.fixture(autouse=True)
def own_state_dir(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unit tests keep their ledgers and run copies in a directory of their own: a run of them
    must neither sweep nor count what a real run on this machine leaves (the engine tests do
    that, on purpose, in the machine's own directory)."""
    if request.node.get_closest_marker("engine") is None:
        monkeypatch.setenv("CONTAINER_CLAIMS_HOME", str(tmp_path_factory.mktemp("state")))
