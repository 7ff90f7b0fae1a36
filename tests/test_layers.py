"""The architecture's layers, as declared in pyproject.toml ([tool.importlinter]): each module
imports only from the layers below it. import-linter reads the imports; a module that imports
upwards fails here, in CI, with the import named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_no_import_runs_back_up_the_layers() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_every_probe_runs_code_that_the_layer_contract_sees_imported() -> None:
    """The probe table imports its modules by name (the contract allows those two imports):
    each probe's target is a function of the module its name begins with."""
    from container_claims.scenario.probes import PROBES

    for name, info in PROBES.items():
        function = info.load()
        assert callable(function), name
        assert function.__module__ == f"container_claims.probes.{name.split('.')[0]}", name
