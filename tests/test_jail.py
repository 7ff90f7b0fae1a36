"""The jail of the engine-less runtimes, as far as it runs without namespaces: its options,
and users resolved from a container's account files as runc resolves them. Its confinement
is tested on the real runtimes (tests/integration/test_hostile_on_runtimes.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from container_claims.runtimes import jail
from container_claims.runtimes.confinement import CAPABILITIES, JAIL
from container_claims.scenario.schemas import schema

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
# a comment
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
broken
"""
GROUP = """\
root:x:0:
nogroup:x:65534:
app:x:1000:
audio:x:29:app,other
video:x:44:other
"""


@pytest.fixture
def accounts(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "passwd").write_text(PASSWD)
    (tmp_path / "group").write_text(GROUP)
    return str(tmp_path / "passwd"), str(tmp_path / "group")


@pytest.mark.parametrize(
    ("spec", "resolved"),
    [
        ("app", (1000, 1000, [1000, 29])),  # supplementary groups that list it by name
        ("1000", (1000, 1000, [1000, 29])),
        ("nobody", (65534, 65534, [65534])),
        ("4242", (4242, 0, [0])),  # a number not in /etc/passwd: group 0, as runc
        ("app:video", (1000, 44, [44])),  # a group given: that group alone
        ("app:4242", (1000, 4242, [4242])),
    ],
)
def test_users_resolve_as_runc_resolves_them(
    accounts: tuple[str, str], spec: str, resolved: tuple[int, int, list[int]]
) -> None:
    assert jail.resolve_user(spec, *accounts) == resolved


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ghost", "no user 'ghost' in the container's /etc/passwd"),
        ("²", "no user '²' in the container's /etc/passwd"),  # a digit, but not an ASCII one
        ("app:ghosts", "no group 'ghosts' in the container's /etc/group"),
    ],
)
def test_unknown_users_and_groups_are_refused(
    accounts: tuple[str, str], spec: str, message: str
) -> None:
    with pytest.raises(jail.Refused, match=message):
        jail.resolve_user(spec, *accounts)


def test_account_files_that_are_not_files_are_read_as_empty(tmp_path: Path) -> None:
    (tmp_path / "passwd").mkdir()
    assert jail.resolve_user("7", str(tmp_path / "passwd"), str(tmp_path / "nothing")) == (
        7,
        0,
        [0],
    )


def test_the_jail_knows_every_capability_a_scenario_may_name() -> None:
    container = schema()["$defs"]["container_fields"]
    named = set(container["cap_add"]["items"]["enum"]) | set(container["cap_drop"]["items"]["enum"])
    assert {cap.lower() for cap in named - {"ALL"}} | set(CAPABILITIES) <= set(jail.CAPABILITIES)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "/r", "--keep", "chown"], "no command after --"),
        (["run", "/r", "--env", "NOVALUE", "--", "sh"], "--env wants NAME=VALUE, not 'NOVALUE'"),
        (["run", "/r", "--keep", "sys_everything", "--", "sh"], "unknown capability"),
        (["run", "/r", "--privileged", "--", "sh"], "unknown option '--privileged'"),
        (["run", "relative", "--", "sh"], "the root filesystem 'relative' is not an absolute path"),
        (["enter", "1; rm", "--", "sh"], "'1; rm' is not a process id"),
        (["escape", "/", "--", "sh"], "usage: jail.py run ROOT|enter PID"),
    ],
)
def test_bad_invocations_are_one_line_and_exit_125_before_anything_runs(
    args: list[str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", str(JAIL), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 125
    assert done.stdout == ""
    assert done.stderr.startswith(f"cc-jail: {message}") and done.stderr.count("\n") == 1
