"""What the suite and its tests must leave as they found it: the host's network and mounts.

A snapshot holds the host's interfaces (names and addresses), routes, iptables rules (without
packet counters), the mount points of this mount namespace, and Docker's daemon.json. Two
snapshots compare equal when nothing was left changed.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from container_claims.hostfs import mountinfo

#: Podman's storage binds its overlay home onto itself while any Podman process of the machine
#: holds a layer, and unmounts it when the last one lets go: whether it is there depends on
#: every Podman user of the machine, not on what a run left. The layers' own mounts, below it,
#: are compared as every other mount.
PODMAN_STORAGE_HOME = "/var/lib/containers/storage/overlay"


def _lines(*argv: str) -> tuple[str, ...]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return (f"({' '.join(argv)} failed: {result.stderr.strip()})",)
    return tuple(sorted(line.strip() for line in result.stdout.splitlines() if line.strip()))


@dataclass(frozen=True)
class HostState:
    interfaces: tuple[str, ...]
    addresses: tuple[str, ...]
    routes: tuple[str, ...]
    iptables: tuple[str, ...]
    mounts: tuple[str, ...]
    daemon_json: str

    def differences(self, later: HostState) -> list[str]:
        """What changed from this snapshot to ``later``, one line per change."""
        changes = []
        for name in ("interfaces", "addresses", "routes", "iptables", "mounts"):
            before, after = set(getattr(self, name)), set(getattr(later, name))
            changes += [f"{name}: gone: {line}" for line in sorted(before - after)]
            changes += [f"{name}: new: {line}" for line in sorted(after - before)]
        if self.daemon_json != later.daemon_json:
            changes.append(f"daemon.json: {self.daemon_json!r} became {later.daemon_json!r}")
        return changes


def snapshot() -> HostState:
    links = _lines("ip", "-o", "link", "show")
    interfaces = tuple(sorted(re.sub(r"^\d+: ", "", line).split(":")[0] for line in links))
    addresses = tuple(
        sorted(" ".join(line.split()[1:4]) for line in _lines("ip", "-o", "address", "show"))
    )
    rules = tuple(
        line
        for line in _lines("iptables-save")
        if not line.startswith("#") and not line.startswith(":")  # comments, chain counters
    )
    daemon_json = Path("/etc/docker/daemon.json")
    try:
        daemon = json.dumps(json.loads(daemon_json.read_text()), sort_keys=True)
    except (OSError, ValueError):
        daemon = "(none)"
    return HostState(
        interfaces=interfaces,
        addresses=addresses,
        routes=_lines("ip", "route", "show"),
        iptables=rules,
        mounts=tuple(sorted({m["point"] for m in mountinfo()} - {PODMAN_STORAGE_HOME})),
        daemon_json=daemon,
    )
