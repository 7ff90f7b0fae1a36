"""What a container of the engine-less runtimes gets, and the host's program that gives it.

Its environment (:data:`CLEAN_ENV`, never the host's), the capabilities its root keeps
(Docker's default set less ``CAP_MKNOD``: no device cgroup here to make it harmless), its
default command, and the command line of :mod:`jail`, the host's program that confines an
unshare container's first process and every exec.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from container_claims.scenario.model import ContainerSpec

DEFAULT_COMMAND = ("/bin/bash",)
#: The environment inside: the host's is not the container's business.
CLEAN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM": "xterm",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}
#: Docker's default capabilities, less MKNOD: what a container's root keeps here.
CAPABILITIES = (
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "net_bind_service",
    "net_raw",
    "sys_chroot",
    "audit_write",
    "setfcap",
)

#: Every capability of <linux/capability.h> by name, in its order (:mod:`jail` has its own
#: copy: it imports nothing of the suite); what a kind that drops by name drops from.
ALL_CAPABILITIES = (
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
)


def kept_capabilities(spec: ContainerSpec) -> list[str]:
    """The capabilities a container's root keeps: the default set, as ``cap_drop`` and
    ``cap_add`` change it (``ALL`` drops every one), lowercase without ``cap_``."""
    drop = {cap.lower() for cap in spec.cap_drop}
    kept = [] if "all" in drop else [cap for cap in CAPABILITIES if cap not in drop]
    return kept + [cap.lower() for cap in spec.cap_add if cap.lower() not in kept]


#: The host's program that confines a container's processes (see its docstring).
JAIL = Path(__file__).with_name("jail.py")


def jail(
    mode: str, target: str, spec: ContainerSpec, env: Mapping[str, str], *, user: bool = True
) -> list[str]:
    """The host's Python running :mod:`jail`: ``run ROOT`` for an unshare container's first
    process, ``enter PID`` for an exec. Isolated (``-I -S``): no environment variable, user
    site or ``.pth`` file of the host changes what it loads."""
    options = ["--keep", ",".join(kept_capabilities(spec))]
    if "no-new-privileges" in spec.security_opt:
        options.append("--nnp")
    if user and spec.user:
        options += ["--user", spec.user]
    for key, value in env.items():
        options += ["--env", f"{key}={value}"]
    command = list(spec.command or DEFAULT_COMMAND)
    return [sys.executable, "-I", "-S", "-B", str(JAIL), mode, target, *options, "--", *command]
