"""Mount options and the host directories a scenario declares, on the five real runtimes.

Each claim holds where its runtime declares what it needs and is not applicable elsewhere;
under its negative control (the same scenario with the option taken away: the mount
read-write, no bind, no volumes_from, a tmpfs without size and mode, a writable root) the
suite reports FAIL wherever it ran. What a container plants in a directory bound read-write
(a link to a host file, a FIFO, a deep tree and many files) neither leads a host-side read or
write astray nor keeps the directory from going. Nothing is left behind: labelled objects,
anonymous volumes, directories.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import RUNTIMES, Run, run_suite

DIRECTORIES = Path("/var/lib/container-claims/directories")

MOUNTS = """\
scenario: mounts
section: Mounts
directories:
  site:
    files:
      index.html: {text: "hello\\n", mode: "0644"}
  drop:
    mode: "0777"
    files:
      index.html: {text: "put there first\\n"}
volumes: [data]
steps:
  - run:
      volumes: {site: {path: /srv, read_only: @RO@}}
      command: [sh, -c, "cat /srv/index.html; echo changed > /srv/index.html && echo wrote"]
    save: site_write
  - probe: host.directory_read
    with: {directory: site, file: index.html}
    save: site_after
  - run:
      @BIND@
      command: [sh, -c, "cat /drop/index.html && echo from-container > /drop/out.txt"]
    save: drop_write
  - probe: host.directory_read
    with: {directory: drop, file: out.txt}
    save: drop_out
  - probe: host.directory_write
    with: {directory: drop, file: in.txt, text: "from the host\\n"}
  - run:
      @BIND@
      command: [cat, /drop/in.txt]
    save: drop_in
  - run:
      volumes: {data: {path: /data, read_only: @RO@}}
      command: [sh, -c, "touch /data/x && echo wrote"]
    save: volume_write
  - run:
      name: keeper
      detach: true
      anonymous_volumes: [/uploads]
      command: [sh, -c, "echo kept > /uploads/f; sleep 60"]
  - wait: {in: keeper, until: running}
  - run:
      @FROM@
      command: [sh, -c, "for i in 1 2 3 4 5 6 7 8 9 10; do cat /uploads/f 2>/dev/null && exit; sleep 0.3; done"]
    save: shared
  - run:
      tmpfs: [@TMPFS@]
      command: [sh, -c, "find /fast -maxdepth 0 -printf '%m\\\\n'; dd if=/dev/zero of=/fast/z bs=1k count=2048 2>/dev/null && echo filled"]
    save: fast
  - run:
      read_only: @ROOT@
      tmpfs: [/scratch]
      command: [sh, -c, "touch /scratch/x && echo scratch; touch /x 2>/dev/null && echo root"]
    save: read_only_root
claims:
  - id: read-only-bind-refuses-writes
    says: A directory bound read-only shows its files and refuses writes; the host's copy stays.
    expect:
      - {that: site_write, contains: hello}
      - {that: site_write, not_contains: wrote}
      - {that: site_after.text, equals: "hello\\n"}
  - id: bind-mount-shares-a-host-directory
    says: A host directory bound into a container shows the file put there first, and each side sees what the other writes.
    expect:
      - {that: drop_write, equals: "put there first"}
      - {that: drop_out.text, equals: "from-container\\n"}
      - {that: drop_in, equals: "from the host"}
  - id: read-only-volume-refuses-writes
    says: A named volume mounted read-only (:ro) refuses writes.
    expect:
      - {that: volume_write, not_contains: wrote}
      - {that: volume_write.status, not_equals: 0}
  - id: volumes-from-shares-an-anonymous-volume
    says: A container started with --volumes-from sees what another wrote to its anonymous volume.
    expect:
      - {that: shared, equals: kept}
  - id: tmpfs-size-and-mode
    says: A tmpfs mounted with a size refuses more than that, and has the mode it was given.
    expect:
      - {that: fast, not_contains: filled}
      - {that: fast, matches: "^700"}
  - id: read-only-root-with-tmpfs
    says: With a read-only root, a tmpfs is still writable and the root is not.
    expect:
      - {that: read_only_root, equals: scratch}
"""

CLAIMS = {  # what each claim needs of a runtime, as its scenario asks for it
    "read-only-bind-refuses-writes": {"directories", "read-only-mounts"},
    "bind-mount-shares-a-host-directory": {"directories"},
    "read-only-volume-refuses-writes": {"volumes", "read-only-mounts"},
    "volumes-from-shares-an-anonymous-volume": {"anonymous-volumes", "volumes-from"},
    "tmpfs-size-and-mode": {"tmpfs", "tmpfs-options"},
    "read-only-root-with-tmpfs": {"read-only", "tmpfs"},
}
HOLDS = {
    "@RO@": "true",
    "@BIND@": "volumes: {drop: /drop}",
    "@FROM@": "volumes_from: [keeper]",
    "@TMPFS@": '{path: /fast, size: 1m, mode: "700"}',
    "@ROOT@": "true",
}
#: The negative control: each option taken away, so every claim must not hold.
CONTROL = {
    "@RO@": "false",
    "@BIND@": "tmpfs: [/drop]",
    "@FROM@": "anonymous_volumes: [/uploads]",
    "@TMPFS@": "/fast",
    "@ROOT@": "false",
}


def _scenario(path: Path, words: dict[str, str]) -> Path:
    text = MOUNTS
    for word, value in words.items():
        text = text.replace(word, value)
    path.write_text(text)
    return path


def _volumes() -> dict[str, set[str]]:
    """Every volume of both engines, labelled or not (anonymous volumes carry no label)."""
    found = {}
    for binary in ("docker", "podman"):
        listed = subprocess.run(
            [binary, "volume", "ls", "-q"], capture_output=True, text=True, check=True
        )
        found[binary] = set(listed.stdout.split())
    return found


def _left_here() -> set[str]:
    return set(p.name for p in DIRECTORIES.iterdir()) if DIRECTORIES.is_dir() else set()


def _capabilities(run: Run) -> dict[str, set[str]]:
    return {r["name"]: set(r["capabilities"]) for r in run.data["runtimes"]}


@pytest.mark.usefixtures("leaves_nothing")
def test_each_option_holds_where_declared_and_fails_under_its_control(tmp_path: Path) -> None:
    volumes, directories = _volumes(), _left_here()

    holds = run_suite(
        str(_scenario(tmp_path / "mounts.yaml", HOLDS)), "--runtime", "all", tmp=tmp_path
    )
    control = run_suite(
        str(_scenario(tmp_path / "control.yaml", CONTROL)), "--runtime", "all", tmp=tmp_path
    )

    capabilities = _capabilities(holds)
    assert set(capabilities) == set(RUNTIMES)
    for claim, needs in CLAIMS.items():
        for runtime, declared in capabilities.items():
            record: dict[str, Any] = holds.record(claim, runtime)
            if needs <= declared:
                assert record["verdict"] == "pass", record
                assert control.verdict(claim, runtime) == "fail", control.record(claim, runtime)
            else:
                assert record["verdict"] == "not-applicable", record
                assert control.verdict(claim, runtime) == "not-applicable"
    # Where the kinds stand today: the engines run as root honour every option; bwrap,
    # containerd, nspawn and lxc directories, their read-only binds and tmpfs options (and a
    # read-only root with a tmpfs); unshare none; the rootless modes cannot reach the suite's
    # directories (private to root).
    assert {
        r for r in capabilities if CLAIMS["bind-mount-shares-a-host-directory"] <= capabilities[r]
    } == {
        "docker",
        "gvisor",
        "podman",
        "bwrap",
        "docker-crun",
        "podman-crun",
        "containerd",
        "nspawn",
        "lxc",
    }
    assert _volumes() == volumes  # the anonymous volumes went with their containers
    assert _left_here() == directories


PLANTED = """\
scenario: planted
section: Hostile
directories:
  drop:
    mode: "0777"
    files:
      index.html: {text: "hello\\n"}
steps:
  - run:
      volumes: {drop: /drop}
      command:
        - sh
        - -c
        - >-
          ln -sf TARGET /drop/index.html && ln -s TARGET /drop/new.txt && mkfifo /drop/pipe &&
          for i in $(seq 1 2000); do : > /drop/f$i; done &&
          cd /drop && i=0 && while [ $i -lt 1500 ]; do mkdir d && cd d; i=$((i+1)); done &&
          echo planted
    save: planted
  - probe: host.directory_read
    with: {directory: drop, file: index.html}
    save: link
  - probe: host.directory_read
    with: {directory: drop, file: pipe}
    save: pipe
  - probe: host.directory_write
    with: {directory: drop, file: new.txt, text: "through the link\\n"}
    save: through_link
  - probe: host.directory_write
    with: {directory: drop, file: pipe, text: "into the pipe\\n"}
    save: into_pipe
claims:
  - id: planted
    says: The container planted its links, FIFO and tree.
    expect:
      - {that: planted, equals: planted}
  - id: link-seen-not-followed
    says: The host sees the link as a link, not the file it points to.
    expect:
      - {that: link.kind, equals: symlink}
      - {that: link.text, equals: null}
  - id: fifo-seen
    says: The host sees the FIFO and does not wait on it.
    expect:
      - {that: pipe.kind, equals: fifo}
  - id: write-through-link
    says: A host-side write follows the planted link.
    expect:
      - {that: through_link.bytes, greater_than: 0}
  - id: write-into-pipe
    says: A host-side write goes into the planted FIFO.
    expect:
      - {that: into_pipe.bytes, greater_than: 0}
"""


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("runtime", ["docker", "bwrap"])
def test_what_a_container_plants_leads_the_host_nowhere(tmp_path: Path, runtime: str) -> None:
    target = tmp_path / "host-file"
    target.write_text("the host's own\n")
    directories = _left_here()
    scenario = tmp_path / "planted.yaml"
    scenario.write_text(PLANTED.replace("TARGET", str(target)))

    run = run_suite(str(scenario), "--runtime", runtime, tmp=tmp_path)

    for claim in ("planted", "link-seen-not-followed", "fifo-seen"):
        assert run.verdict(claim, runtime) == "pass", run.record(claim, runtime)
    through_link = run.record("write-through-link", runtime)
    assert through_link["verdict"] == "error"
    assert "new.txt was not written: it is a symlink there" in through_link["message"]
    into_pipe = run.record("write-into-pipe", runtime)
    assert into_pipe["verdict"] == "error"
    assert "pipe was not written: it is a fifo there" in into_pipe["message"]
    assert target.read_text() == "the host's own\n"
    assert _left_here() == directories  # links, FIFO, 2,000 files, 1,500 levels: all gone
