"""Where a runtime ran: the machine named in its record of a results file, and ``--host``."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any

#: A runtime's machine address when it ran on the machine the suite ran on.
LOCAL = "local"
#: The name in a machine's address: ``edge-1`` of ``ssh://root@edge-1:2222``.
_ADDRESS_NAME = re.compile(r"[a-z][a-z0-9+.-]*://(?:[^@/]*@)?(?P<name>[^@/:]+)(?::[0-9]*)?/?")


def _machine(info: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """A runtime's machine: its address (``local`` when the record has none, as in older
    files), the name in that address, and its hostname (None when not read: ``unknown (why)``)."""
    machine = info.get("machine")
    if not isinstance(machine, Mapping):
        return LOCAL, None, None
    address, hostname = machine.get("address"), machine.get("hostname")
    address = address if isinstance(address, str) and address else LOCAL
    match = _ADDRESS_NAME.fullmatch(address)
    hostname = hostname.strip() if isinstance(hostname, str) else ""
    known = hostname and not hostname.startswith("unknown (")
    return address, match["name"] if match else None, hostname if known else None


def machine_of(info: Mapping[str, Any]) -> tuple[str, str]:
    """``("edge-1", "ssh://root@edge-1")``: the machine a runtime ran on, named by its
    hostname (else the name in its address), and its address; the suite's own machine is
    ``local`` (named by its hostname when known)."""
    address, name, hostname = _machine(info)
    return hostname or name or address, address


def runtime_on_hosts(info: Mapping[str, Any], patterns: Sequence[str]) -> bool:
    """Whether a runtime ran on a machine that one of ``patterns`` (``--host``: globs,
    case-sensitive) matches by its hostname, the name in its address (``edge-1`` of
    ``ssh://root@edge-1:22``) or the whole address; ``local`` is the suite's own machine."""
    names = [name for name in _machine(info) if name]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)


def machine_words(info: Mapping[str, Any]) -> str:
    """``on edge-1 (ssh://root@edge-1)`` for a runtime on another machine, else ""."""
    name, address = machine_of(info)
    return "" if address == LOCAL else f"on {name} ({address})"
