"""The repository's own conftest.py: what pytest at the root collects, and with which plugins.

Each test runs pytest in a subprocess at the root of this checkout, as a developer would, with
a small probe plugin that counts, once collection is done, how many times each hook of
``container_claims.plugin`` is registered (twice would run every hook twice, or fail).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeRuntimes, path_with_test_kinds

REPO = Path(__file__).resolve().parents[1]

PROBE = """\
import json, os

import container_claims.plugin as plugin

HOOKS = [name for name in vars(plugin) if name.startswith("pytest_")]


def pytest_collection_finish(session):
    hook = session.config.hook
    registered = {
        name: sum(impl.function is getattr(plugin, name) for impl in getattr(hook, name).get_hookimpls())
        for name in HOOKS
    }
    out = {"hooks": registered, "pytester": session.config.pluginmanager.has_plugin("pytester")}
    with open(os.environ["CLAIMS_PROBE_OUT"], "w") as handle:
        json.dump(out, handle)
"""


def collect(tmp_path: Path, *args: str) -> tuple[list[str], dict[str, Any]]:
    """``pytest ARGS --collect-only -q`` at the root: the ids collected, and what the probe saw."""
    (tmp_path / "claims_probe.py").write_text(PROBE)
    out = tmp_path / "probe.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    env.update(PYTHONPATH=path_with_test_kinds(str(tmp_path)), CLAIMS_PROBE_OUT=str(out))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--collect-only", "-q"]
        + ["-p", "claims_probe", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert out.exists(), f"the probe did not run:\n{output}"
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    return ids, json.loads(out.read_text())


def assert_plugin_registered_once(probe: dict[str, Any]) -> None:
    hooks = probe["hooks"]
    assert {"pytest_addoption", "pytest_configure", "pytest_collect_file"} <= set(hooks)
    assert all(count == 1 for count in hooks.values()), hooks


@pytest.mark.parametrize("args", [(), (".",)], ids=["pytest", "pytest ."])
def test_pytest_at_the_root_collects_the_tests_with_the_plugin_once(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    ids, probe = collect(tmp_path, *args)

    assert_plugin_registered_once(probe)
    assert probe["pytester"], "pytester is not loaded: the tests of the plugin need it"
    assert len(ids) > 100 and all(node.startswith("tests/") for node in ids), [
        node for node in ids if not node.startswith("tests/")
    ][:10]
    assert any(node.startswith("tests/test_root_conftest.py::") for node in ids)
    assert not any(node.startswith("tests/corpus/") for node in ids)


def test_named_scenarios_are_collected_as_claims_on_the_fake_runtime(
    tmp_path: Path, fake_runtimes: FakeRuntimes
) -> None:
    runtimes_file = fake_runtimes(tmp_path, {"fake": {"typed": {}}})

    ids, probe = collect(
        tmp_path, "scenarios/", "--runtime", "fake", "--runtimes-file", str(runtimes_file)
    )

    assert_plugin_registered_once(probe)
    assert "scenarios/process-namespace.yaml::shell-is-pid-1[fake]" in ids
    assert all(node.endswith("[fake]") for node in ids), ids[:10]
    files = {node.split("::")[0] for node in ids}
    scenario_files = {str(path.relative_to(REPO)) for path in (REPO / "scenarios").rglob("*.yaml")}
    assert files == scenario_files
