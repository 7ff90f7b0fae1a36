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


#: Tools a confining program could look up by name, planted where the container's PATH finds
#: them first: each one that runs leaves /planted-ran behind and hands on to a shell.
_PLANTED = "setpriv nsenter chroot env sh python3 python3.11 python cc-jail unshare bwrap"
ESCAPES = """\
scenario: escapes
section: Hostile
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - run:
      command: [perl, -e, 'mkdir "x"; chroot "x"; chdir ".." for 1..64; chroot "."; open(F, ">", "/ESCAPE_MARK") and print F "escaped\\n"; print "climbed"']
    save: climbed
  - type: >-
      for d in /usr/local/sbin /usr/local/bin; do for t in PLANTED; do
      printf '#!/bin/sh\\ntouch /planted-ran\\nexec /bin/sh "$@"\\n' > $d/$t && chmod +x $d/$t;
      done; done; echo planted
    save: planted
  - exec: [grep, CapEff, /proc/self/status]
    save: exec_caps
  - run:
      command: [grep, CapEff, /proc/self/status]
    save: run_caps
  - exec: [find, /, -maxdepth, "1", -name, planted-ran]
    save: ran
claims:
  - id: chroot-escape-stays-inside
    says: chroot("x") and ".." climbed from outside it do not reach the host's root.
    expect:
      - that: climbed
        equals: climbed
  - id: planted-tools-never-run
    says: Nothing the container planted runs when the runtime starts or enters a container.
    expect:
      - that: planted
        equals: planted
      - that: ran
        equals: ""
  - id: no-capability-beyond-the-default
    says: An exec and a later container get no capability outside Docker's default set.
    expect:
      - that: exec_caps
        matches: '^CapEff:\\s+00000000[0-9a-f]{8}$'
      - that: run_caps
        matches: '^CapEff:\\s+00000000[0-9a-f]{8}$'
"""
_DEFAULT_CAPS = 0xA80425FB  # Docker's default set: no capability outside it may show


@pytest.mark.parametrize("runtime", ["docker", "gvisor", "podman", "unshare", "bwrap"])
def test_escapes_from_a_container_reach_nothing_of_the_host(
    engine: None, tmp_path: Path, runtime: str
) -> None:
    """A chroot climb, tools planted for the runtime's own programs to run, and the
    capabilities an exec and a later container get: confined on every runtime."""
    mark = Path(f"/cc-hostile-escape-{os.getpid()}-{runtime}")
    scenario = tmp_path / "escapes.yaml"
    text = ESCAPES.replace("ESCAPE_MARK", mark.name).replace("PLANTED", _PLANTED)
    scenario.write_text(text)

    run = run_suite(str(scenario), "--runtime", runtime, tmp=tmp_path)

    try:
        assert not mark.exists(), f"{runtime}: a chroot climb wrote {mark} on the host"
    finally:
        mark.unlink(missing_ok=True)
    for claim in ("chroot-escape-stays-inside", "planted-tools-never-run"):
        assert run.verdict(claim, runtime) == "pass", run.record(claim, runtime)
    caps = run.record("no-capability-beyond-the-default", runtime)
    assert caps["verdict"] == "pass", caps
    for check in caps["evidence"]["checks"]:
        effective = int(str(check["observed"]).split()[-1], 16)
        assert effective & ~_DEFAULT_CAPS == 0, f"{runtime}: {check['that']} is {effective:x}"


FORGED_ENDS = """\
scenario: forged-ends
section: Hostile
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - type: >-
      printf '__CC_%s1:0__\\n' E; printf '__CC_%s2:0__\\n' E; sleep 30
    timeout: 3
    save: guessed
  - type: >-
      m=$(history 1 | grep -o '_E[0-9a-f]\\{16\\}' | head -1);
      printf '__CC%s:0__\\n' "$m"; sleep 30
    timeout: 3
    save: forged
  - type: echo after
    save: after
claims:
  - id: a-guessed-end-is-no-end
    says: A line that prints an end marker of its own making and runs on did not end.
    expect:
      - that: guessed.status
        equals: 0
  - id: a-forged-end-is-no-end
    says: A line that prints its own end marker, read from the history, and runs on did not end.
    expect:
      - that: forged.status
        equals: 0
  - id: the-session-goes-on
    says: Ctrl-C ended both lines; the next one runs.
    expect:
      - that: after
        equals: after
"""


def test_a_line_that_prints_its_own_end_is_no_observation(engine: None, tmp_path: Path) -> None:
    """An end marker a line prints itself, guessed or read back from the shell's history,
    followed by a line still running: an error on every runtime, never a pass."""
    scenario = tmp_path / "forged.yaml"
    scenario.write_text(FORGED_ENDS)

    runtimes = ("docker", "gvisor", "podman", "unshare", "bwrap")
    run = run_suite(
        str(scenario), *(arg for name in runtimes for arg in ("--runtime", name)), tmp=tmp_path
    )

    for runtime in runtimes:
        for claim in ("a-guessed-end-is-no-end", "a-forged-end-is-no-end"):
            record = run.record(claim, runtime)
            assert record["verdict"] == "error", record
            assert "no complete observation" in record["message"], record
        assert run.verdict("the-session-goes-on", runtime) == "pass", runtime
