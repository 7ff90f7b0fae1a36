"""A one-shot container's output, as each engine kind reads it: Docker from the attach,
Podman from the log its conmon writes (the attach lost a short container's stdout under
load). Both must give the same stdout, stderr and status, byte for byte: lines, empty lines,
a last line without its newline, what came in on stdin."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_suite

SCENARIO = r"""
scenario: one-shot-output
section: Output
steps:
  - run:
      interactive: true
      command: [/bin/sh, -c, 'cat; printf "out\n\n  end"; printf "e1\ne2" >&2; exit 3']
      stdin: "in\n"
    save: ran
  - run:
      command: [/bin/sh, -c, "printf 'only err' >&2"]
    save: quiet
claims:
  - id: one-shot-output
    says: A one-shot container's stdout is read whole, stdin included.
    expect:
      - that: ran
        equals: "in\nout\n\n  end"
      - that: quiet
        equals: ""
"""


@pytest.mark.parametrize("runtime", ["docker", "podman", "podman-crun", "podman-rootless"])
def test_a_one_shot_containers_output_is_read_whole(
    leaves_nothing: None, tmp_path: Path, runtime: str
) -> None:
    scenario = tmp_path / "one-shot.yaml"
    scenario.write_text(SCENARIO)

    run = run_suite(str(scenario), "--runtime", runtime, tmp=tmp_path)

    record = run.record("one-shot-output", runtime)
    assert record["verdict"] == "pass", (record["message"], record["evidence"])
    ran, quiet = (step["value"] for step in record["evidence"]["steps"])
    assert (ran["status"], ran["stderr"].splitlines()[-2:]) == (3, ["e1", "e2"]), ran
    assert (quiet["status"], quiet["stderr"].splitlines()[-1:]) == (0, ["only err"]), quiet
    assert not ran["truncated"] and ran["completed"]
