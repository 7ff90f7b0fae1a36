"""Machines from an Ansible inventory: ``run --hosts ansible://PATTERN --ansible-inventory FILE``.

An operator who has an inventory names machines by it, as testinfra's ``ansible://`` hosts
do. ``ansible-inventory --list`` (ansible-core, the ``ansible`` extra) reads the file, with
everything Ansible allows in it (groups, children, ``group_vars``, plugins), and testinfra's
:class:`~testinfra.utils.ansible_runner.AnsibleRunner` picks the hosts a pattern names (a
group or a host, ``fnmatch`` globs) and their variables, so a pattern means here what it
means to testinfra.

Each host becomes an ssh target as any other (:class:`~container_claims.runtimes.remote.
SshTarget`), reached through an ssh config written for the run: its inventory name as
``Host``, with ``HostName``, ``Port``, ``User`` and ``IdentityFile`` from its
``ansible_host``, ``ansible_port``, ``ansible_user`` and ``ansible_ssh_private_key_file``
(or ``ansible_private_key_file``). Those values are checked as what they are (a name, a port,
a user, a path) before they are written, so no value can add a line to the config. What the
suite cannot honour is refused, naming the host and the variable: another connection than
ssh, a password (keys only), ``become`` (the suite reads the host as the user it logs in
as), and free ssh arguments (``ansible_ssh_common_args``/``extra_args``: give ssh options in
an ssh config, ``--ssh-config``, which the written config includes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from container_claims.errors import InputError
from container_claims.processes import environment

#: ``--hosts`` entries of this form name inventory hosts: a group or host pattern.
SCHEME = "ansible://"
#: Names and users as :class:`SshTarget` takes them.
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
#: A port: ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses).
_PORT = re.compile(r"[0-9]{1,5}")
#: A key file's path as written into the ssh config: no blank, quote, comment or % token.
_PATH = re.compile(r"[A-Za-z0-9_./~@+,:=-]{1,4096}")
#: Variables that ask for what the suite does not do, and what to do instead.
_REFUSED = {
    "ansible_password": "a password: reach it with a key",
    "ansible_ssh_pass": "a password: reach it with a key",
    "ansible_become": "become: log in as a user that can read the host (root)",
    "ansible_ssh_common_args": "free ssh arguments: put ssh options in --ssh-config",
    "ansible_ssh_extra_args": "free ssh arguments: put ssh options in --ssh-config",
}


@dataclass(frozen=True)
class InventoryHost:
    """One inventory host, as the ssh config written for the run names it."""

    alias: str  # its inventory name: the config's Host, and the target's name
    hostname: str
    port: int | None
    user: str
    identity: str  # an absolute path, or ""

    def config_entry(self) -> str:
        lines = [f"Host {self.alias}", f"  HostName {self.hostname}"]
        if self.port:
            lines.append(f"  Port {self.port}")
        if self.user:
            lines.append(f"  User {self.user}")
        if self.identity:
            lines += [f"  IdentityFile {self.identity}", "  IdentitiesOnly yes"]
        return "\n".join(lines) + "\n"


def read_inventory(path: str) -> dict[str, Any]:
    """``ansible-inventory --list -i PATH``, as data; :class:`InputError` saying why not."""
    program = _ansible_inventory()
    if not Path(path).exists():
        raise InputError(f"--ansible-inventory {path}: no such file")
    try:
        done = subprocess.run(
            [program, "--list", "-i", path],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=120,
            env=environment({"ANSIBLE_VERBOSITY": "0"}),  # its noise would break the JSON
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"--ansible-inventory {path}: ansible-inventory failed: {exc}") from None
    said = done.stderr.strip().splitlines()
    if done.returncode != 0:
        raise InputError(
            f"--ansible-inventory {path}: {said[-1] if said else f'exit {done.returncode}'}"
        )
    if any("Unable to parse" in line or "No inventory was parsed" in line for line in said):
        raise InputError(f"--ansible-inventory {path}: ansible could not parse it ({said[-1]})")
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise InputError(f"--ansible-inventory {path}: ansible-inventory gave no JSON") from None
    if not isinstance(data, dict):
        raise InputError(f"--ansible-inventory {path}: ansible-inventory gave no inventory")
    return data


def _ansible_inventory() -> str:
    """The ``ansible-inventory`` beside this Python (a virtualenv's), else on ``PATH``."""
    beside = Path(sys.executable).parent / "ansible-inventory"
    found = str(beside) if os.access(beside, os.X_OK) else shutil.which("ansible-inventory")
    if not found:
        raise InputError(
            "--hosts ansible://... needs ansible-inventory: install the ansible extra "
            "(pip install 'container-claims[ansible]') or ansible-core"
        )
    return found


def select_hosts(inventory: dict[str, Any], pattern: str, source: str) -> list[InventoryHost]:
    """The hosts ``pattern`` names (testinfra's matching), checked; :class:`InputError` for
    a pattern that names none, or a host whose variables cannot be honoured."""
    from testinfra.utils.ansible_runner import AnsibleRunner

    runner = AnsibleRunner(source)
    runner.inventory = inventory  # read already, by our own call (see read_inventory)
    try:
        names = runner.get_hosts(pattern)
    except RuntimeError as exc:  # an empty inventory
        raise InputError(f"--ansible-inventory {source}: {exc}") from None
    if not names:
        groups = sorted(group for group in inventory if group != "_meta")
        raise InputError(
            f"{SCHEME}{pattern}: no host or group of {source} matches it "
            f"(groups: {', '.join(groups) or 'none'})"
        )
    return [_host(name, runner.get_variables(name), source) for name in names]


def _host(name: str, variables: dict[str, Any], source: str) -> InventoryHost:
    def refuse(why: str) -> InputError:
        return InputError(f"--ansible-inventory {source}: host {name!r}: {why}")

    for variable, why in _REFUSED.items():
        if variable in variables and variables[variable] not in (False, "false", "no", ""):
            raise refuse(f"{variable} asks for {why}")
    connection = str(variables.get("ansible_connection", "ssh"))
    if connection not in ("ssh", "smart"):
        raise refuse(f"ansible_connection {connection!r}: only ssh reaches an engine")
    if not _NAME.fullmatch(name):
        raise refuse("its name is not a host name (letters, digits, . and -)")
    hostname = str(variables.get("ansible_host", name))
    if not _NAME.fullmatch(hostname):
        raise refuse(f"ansible_host {hostname!r} is not a host name or address")
    port = variables.get("ansible_port")
    if port is not None and (not _PORT.fullmatch(str(port)) or not 0 < int(port) < 65536):
        raise refuse(f"ansible_port {port!r} is not a TCP port")
    user = str(variables.get("ansible_user", ""))
    if user and not _USER.fullmatch(user):
        raise refuse(f"ansible_user {user!r} is not a user name")
    key = str(
        variables.get("ansible_ssh_private_key_file", variables.get("ansible_private_key_file", ""))
    )
    if key:
        # Checked as written and as resolved: a link may point at a path the config cannot hold.
        if not _PATH.fullmatch(key):
            raise refuse("its private key file's path has characters an ssh config cannot hold")
        try:
            key = str(Path(key).expanduser().resolve())  # relative to where ansible runs: here
        except (OSError, RuntimeError) as exc:
            raise refuse(f"its private key file cannot be found: {exc}") from None
        if not _PATH.fullmatch(key):
            raise refuse(
                f"its private key file resolves to {key[:200]!r}, a path an ssh config cannot hold"
            )
    return InventoryHost(name, hostname, int(port) if port is not None else None, user, key)


def write_ssh_config(hosts: list[InventoryHost], path: Path, include: str = "") -> None:
    """The ssh config for ``hosts``; with ``include`` (``--ssh-config``), that file's options
    apply to them too, after theirs (ssh takes the first value it finds), and to any other
    machine of the run."""
    text = "# Written by container-claims from an Ansible inventory, for one run.\n"
    text += "".join(host.config_entry() for host in hosts)
    if include:
        included = str(Path(include).resolve())
        if not _PATH.fullmatch(included):
            raise InputError(f"--ssh-config {include}: a path an ssh config cannot include")
        text += f"Host *\n  Include {included}\n"
    path.write_text(text, encoding="utf-8")


def expand(
    hosts: list[str], inventory: str, ssh_config: str, directory: Path
) -> tuple[list[str], str]:
    """``--hosts`` with its ``ansible://PATTERN`` entries replaced by the hosts they name
    (``ssh://NAME``, in the order given, each once), and the ssh config to reach them all:
    one written into ``directory`` when the inventory named any, else ``ssh_config``."""
    patterns = [entry.removeprefix(SCHEME) for entry in hosts if entry.startswith(SCHEME)]
    if not patterns:
        if inventory:
            raise InputError("--ansible-inventory is for --hosts ansible://PATTERN: give one")
        return hosts, ssh_config
    if not inventory:
        raise InputError(f"--hosts {SCHEME}{patterns[0]}: give the inventory (--ansible-inventory)")
    data = read_inventory(inventory)
    chosen: dict[str, InventoryHost] = {}
    addresses: list[str] = []
    for entry in hosts:
        if not entry.startswith(SCHEME):
            addresses.append(entry)
            continue
        for host in select_hosts(data, entry.removeprefix(SCHEME), inventory):
            if host.alias not in chosen:
                chosen[host.alias] = host
                addresses.append(f"ssh://{host.alias}")
    written = directory / "ssh_config"
    write_ssh_config(list(chosen.values()), written, ssh_config)
    return addresses, str(written)


__all__ = ["SCHEME", "InventoryHost", "expand", "read_inventory", "select_hosts"]
