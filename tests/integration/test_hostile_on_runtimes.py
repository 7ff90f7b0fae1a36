"""Hostile scenarios on the real runtimes: a scenario can choose no runtime option and read
no host path beyond what a probe documents.

What the loader refuses is in tests/test_corpus.py; these are the values that reach a real
runtime or probe: container commands that look like options of bwrap, unshare or chroot,
symbolic links a container plants for a host probe to follow, and host paths built from
observations.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import run_suite

HOST_TARGET = Path("/cc-hostile-bind-target")

OPTIONS_AS_COMMAND = f"""\
scenario: options-as-command
section: Hostile
steps:
  - run:
      command: [--bind, /, {HOST_TARGET}, /bin/sh, -c, "ls {HOST_TARGET}/etc"]
    save: bound
  - run:
      command: ["--userspec=0:0", /, /bin/sh, -c, "ls /etc"]
    save: chrooted
claims:
  - id: host-root-bound
    says: A command that is bwrap's own option binds the host's root.
    expect:
      - that: bound
        contains: passwd
  - id: chroot-option
    says: A command that is chroot's own option is taken as one.
    expect:
      - that: chrooted
        contains: passwd
"""


@pytest.mark.parametrize("runtime", ["bwrap", "unshare"])
def test_a_command_is_never_read_as_an_option_of_the_runtime(
    engine: None, tmp_path: Path, runtime: str
) -> None:
    scenario = tmp_path / "options.yaml"
    scenario.write_text(OPTIONS_AS_COMMAND)

    run = run_suite(str(scenario), "--runtime", runtime, tmp=tmp_path)

    for claim in ("host-root-bound", "chroot-option"):
        record = run.record(claim, runtime)
        assert record["verdict"] == "error", record
        assert "refused" in record["message"]
    assert not HOST_TARGET.exists()


PLANTED_LINK = """\
scenario: planted-link
section: Hostile
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - type: ln -s / /srv/escape && echo planted
    save: planted
  - probe: engine.container
    save: live
  - probe: engine.info
    save: info
  - probe: host.find_file
    with: {dirs: "{{ live.upper_dir }}", path: srv/escape}
    save: link
  - probe: host.find_file
    with: {dirs: "{{ live.upper_dir }}", path: srv/escape/etc/passwd}
    save: through_link
  - probe: host.find_file
    with: {dirs: "{{ info.root_dir }}/../../etc", path: passwd}
    save: climbed
  - probe: host.container_storage
    with: {compare_to: 1, pid: HOST_PID}
    save: host_init
claims:
  - id: link-is-there
    says: The planted link is in the container's layer.
    expect:
      - that: planted
        equals: planted
      - that: link.count
        equals: 1
  - id: link-not-followed
    says: The probe does not follow a link out of the layer to the host's /etc/passwd.
    expect:
      - that: through_link.count
        equals: 0
  - id: no-climbing
    says: A directory built to climb out of the engine's storage is refused.
    expect:
      - that: climbed.count
        equals: 1
  - id: no-host-process
    says: The storage probe does not walk the mounts of a host process.
    expect:
      - that: host_init.bytes
        greater_than: 0
"""


def test_host_probes_stay_in_the_runtimes_storage(engine: None, tmp_path: Path) -> None:
    scenario = tmp_path / "planted.yaml"
    scenario.write_text(PLANTED_LINK.replace("HOST_PID", str(os.getpid())))  # this test's

    run = run_suite(str(scenario), "--runtime", "docker", tmp=tmp_path)

    assert run.verdict("link-is-there", "docker") == "pass"
    assert run.verdict("link-not-followed", "docker") == "pass"
    climbed = run.record("no-climbing", "docker")
    assert climbed["verdict"] == "error"
    assert "which is not a plain path" in climbed["message"]
    host_init = run.record("no-host-process", "docker")
    assert host_init["verdict"] == "error"
    assert f"process {os.getpid()} is not a container's" in host_init["message"]
