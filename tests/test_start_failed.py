"""A container whose start failed (refused by the engine, or no answer in time) is no subject of
observations: a later step that names it is an error saying why, never a reading of what the
engine left behind (a container "created" but not running, a port that does not answer)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from container_claims.errors import ObservationError
from container_claims.execute import ScenarioRunner
from container_claims.observations import CommandOutcome
from container_claims.runtimes.base import RuntimeConfig
from container_claims.scenario import load_scenario
from container_claims.scenario.model import ContainerSpec
from tests.support.fake_runtime import FakeRuntime

SCENARIO = """\
scenario: start-failed
section: Tests
steps:
  - run: {detach: true, name: server, command: [sleep, "60"]}
  - probe: engine.container
    with: {name: server}
    save: server_info
  - exec: {in: server, command: ["true"]}
    save: inside
  - run: {detach: true, name: other, command: [sleep, "60"]}
  - probe: engine.container
    with: {name: other}
    save: other_info
claims:
  - id: server-runs
    says: The server runs.
    expect:
      - {that: server_info.running, equals: true}
"""


class StartFails(FakeRuntime):
    """Starts ``other``; ``server``'s start ends as the test says."""

    how = "refused"

    def start(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        if not name.endswith("-server"):
            return super().start(spec, name, timeout)
        if self.how == "refused":
            raise ObservationError(f"podman refused to start {name} (exit 126): no network")
        return CommandOutcome(output="", status=None, completed=False, detail="no reply in 30 s")

    def inspect_container(self, name: str) -> dict[str, Any]:
        return {"exists": True, "running": False, "status": "created"}


@pytest.mark.parametrize("how", ["refused", "no reply"])
def test_steps_that_name_a_container_that_did_not_start_are_errors(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "start-failed.yaml"
    path.write_text(SCENARIO)
    runtime = StartFails(RuntimeConfig(name="fake", kind="fake"), image="img", run_id="r1")
    runtime.how = how
    result = ScenarioRunner(load_scenario(path), runtime, services=None).run()  # type: ignore[arg-type]
    for save in ("server_info", "inside"):
        error = result.observations[save]
        assert isinstance(error, ObservationError), save
        assert str(error).startswith("container server did not start: ")
        assert ("no network" if how == "refused" else "no reply in 30 s") in str(error)
    assert result.observations["other_info"] == {
        "exists": True,
        "running": False,
        "status": "created",
    }
    assert not result.fatal


class Broken(FakeRuntime):
    """A defect in a library the runtime calls: a KeyError from a mapping's lookup."""

    def start(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        import collections

        empty: collections.ChainMap[str, str] = collections.ChainMap({})
        empty["PYTEST_CURRENT_TEST"]
        raise AssertionError("not reached")


def test_an_internal_error_says_where_it_was_raised_and_from_which_code_of_ours(
    tmp_path: Path,
) -> None:
    """An internal error is a defect to report: its message names the frame that raised it
    and the last frame of the suite's own that led there."""
    path = tmp_path / "start-failed.yaml"
    path.write_text(SCENARIO)
    runtime = Broken(RuntimeConfig(name="fake", kind="fake"), image="img", run_id="r1")
    result = ScenarioRunner(load_scenario(path), runtime, services=None).run()  # type: ignore[arg-type]
    assert result.fatal is not None
    assert re.fullmatch(
        r"internal error: KeyError: 'PYTEST_CURRENT_TEST' "
        r"\(at __init__\.py:\d+ in __missing__, from execute\.py:\d+ in \w+\)",
        result.fatal,
    ), result.fatal
