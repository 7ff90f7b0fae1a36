"""The rootless modes on a real machine (after scripts/setup): the catalogue on
podman-rootless and docker-rootless gives the shipped expectations, no error; what the modes
change is observed (the shell under the user's uid on the host); and a run killed outright
leaves nothing of theirs once `container-claims cleanup` has run on those two runtimes only.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from container_claims.runtimes import load_runtimes_file
from tests.support.background_run import background_run, kill, wait_for

from .conftest import REPO, RUN_LABEL, Run, run_cleanup

ROOTLESS = ["podman-rootless", "docker-rootless"]


@pytest.fixture(scope="module")
def user() -> pwd.struct_passwd:
    (name,) = {c.user for c in load_runtimes_file() if c.name in ROOTLESS}
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pytest.fail(f"no user {name}: run scripts/setup first", pytrace=False)


@pytest.fixture
def catalogue(all_runtimes: Run) -> Run:
    """The run of every packaged runtime (the gate on the expectations is there)."""
    return all_runtimes


def test_the_catalogue_gives_the_shipped_expectations_without_an_error(catalogue: Run) -> None:
    verdicts = [r["verdict"] for r in catalogue.data["results"] if r["runtime"] in ROOTLESS]
    assert "error" not in verdicts and verdicts.count("pass") > 80


def test_the_host_sees_the_containers_root_as_the_user(
    catalogue: Run, user: pwd.struct_passwd
) -> None:
    """The negative control of host-sees-shell-as-root: observed, not assumed."""
    for runtime in ROOTLESS:
        record = catalogue.record("host-sees-shell-as-root", runtime)
        assert record["verdict"] == "fail"
        observed = {c["that"]: c["observed"] for c in record["evidence"]["checks"]}
        assert observed == {"shell_on_host.found": True, "shell_on_host.uid": user.pw_uid}
        # And the images live in the user's home, as the engine says.
        record = catalogue.record("images-stored-under-engine-root", runtime)
        (root,) = [
            c["observed"] for c in record["evidence"]["checks"] if c["that"].endswith("root_dir")
        ]
        assert str(root).startswith(user.pw_dir + "/")


#: A scenario that keeps its container and a detached sibling busy while the run is killed.
LONG = """\
scenario: rootless-long
section: Faults
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - run: {name: sibling, detach: true, command: [sleep, "3599"]}
    save: sibling
  - type: sleep 90
    save: slept
    timeout: 120
claims:
  - id: slept-well
    says: The shell slept and answered.
    expect:
      - that: slept.status
        equals: 0
"""


def _as_user(user: pwd.struct_passwd, *argv: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": user.pw_dir,
        "XDG_RUNTIME_DIR": f"/run/user/{user.pw_uid}",
    }
    command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
    done = subprocess.run(
        [*command, "--", *argv], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout


def _labelled(user: pwd.struct_passwd) -> list[str]:
    """The user's containers and volumes with the suite's label, in both engines."""
    socket = f"unix:///run/user/{user.pw_uid}/docker.sock"
    found = []
    for engine in (["podman"], ["docker", "-H", socket]):
        for what in (["ps", "-a", "--format={{.Names}}"], ["volume", "ls", "-q"]):
            listed = _as_user(user, *engine, *what, "--filter", f"label={RUN_LABEL}")
            found += [f"{engine[0]} {name}" for name in listed.split()]
    return found


def _services(user: pwd.struct_passwd) -> str:
    """The user's Podman API services that run now (only the suite starts them)."""
    found = subprocess.run(
        ["pgrep", "-u", str(user.pw_uid), "-f", "podman system service"],
        capture_output=True,
        text=True,
    )
    return found.stdout


def test_a_killed_run_leaves_nothing_after_cleanup_of_these_runtimes(
    engine: None, user: pwd.struct_passwd, tmp_path: Path
) -> None:
    assert _labelled(user) == []
    (tmp_path / "long.yaml").write_text(LONG)
    only = tmp_path / "rootless.yaml"  # the sweep touches these two runtimes, nothing else
    entries = yaml.safe_load((REPO / "src/container_claims/runtimes.yaml").read_text())
    only.write_text(
        yaml.safe_dump({"runtimes": [e for e in entries["runtimes"] if e["name"] in ROOTLESS]})
    )
    with background_run(
        str(tmp_path / "long.yaml"), "--runtimes-file", str(only), "--runtime", "all"
    ) as process:
        both = "both mains and both siblings run"
        wait_for(both, lambda: len(_labelled(user)) >= 4, process, every=0.5)
        kill(process)
    # The run's API service, run as the user, dies with it (parent-death signal).
    deadline = time.monotonic() + 20
    while _services(user) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _services(user) == ""
    left = _labelled(user)  # what could not die with the run: the containers of run RUN
    assert left != []
    run_id = left[0].split()[1].split("-")[1]

    cleaned = run_cleanup(only)

    # Its exit status also tells of other dead runs' leftovers on this machine: only this
    # run's must all be gone.
    said = cleaned.stdout + cleaned.stderr
    assert f"removed run {run_id}: " in said, said
    assert not [line for line in said.splitlines() if run_id in line and "could not" in line]
    assert _labelled(user) == [], said
    assert not [p for p in Path("/tmp").glob("cc-podman-*") if p.owner() == user.pw_name]
