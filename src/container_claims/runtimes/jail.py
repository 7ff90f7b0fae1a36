"""Confine a process for the engine-less runtimes, with nothing taken from the container.

Run by the host's Python as a script (``python -I -S jail.py``), never imported: everything it
needs is loaded from the host before it enters the container, so no program, library or
configuration file of the container runs or is read while the process still has every
capability. The container's own files are read only as text (``/etc/passwd``, ``/etc/group``)
and only its command is executed, once the process is confined.

``run ROOT`` (the first process of an ``unshare`` container, PID 1 of its new PID namespace,
in a mount namespace copied from the host's): the mount namespace's root becomes an empty
tmpfs holding only the root filesystem, the host's tree is detached, a ``/proc`` of the new
PID namespace is mounted, and the process chroots into the root filesystem. A chroot escape
(``chroot("x")`` and ``..`` climbed from outside it) then lands in that empty tmpfs, never on
the host's ``/``, while the process is still confined by ``chroot`` as far as the host sees.

``enter PID`` (an exec into a running container of either engine-less kind): the namespaces
and root of process ``PID`` are entered from open descriptors, as ``nsenter`` does, in a child
that is confined before it runs the command; the parent stays on the host and reports the
child's end as its own.

``stage CGROUP... -- PROGRAM...`` (before a host program that confines by itself, such as
``systemd-nspawn``): the process moves into the cgroups the suite made for it, takes a mount
namespace of its own with fresh tmpfs mounts on ``/tmp`` and ``/run``, and executes the host
program: what that program makes there for itself (nspawn's volatile overlay directories, its
lock and propagation directories) goes with the namespace, however the program ends, and its
own cgroups lie below the suite's.

``run`` and ``enter`` then keep only the capabilities named by ``--keep`` in the bounding set, set
no_new_privs with ``--nnp``, switch to ``--user`` (resolved from the container's
``/etc/passwd`` and ``/etc/group`` as runc resolves it, with no NSS module loaded), set the
environment given by ``--env`` and nothing else, and execute the command.

Failures print one line starting with ``cc-jail: `` and exit 125.
"""

from __future__ import annotations

import ctypes
import os
import signal
import stat
import sys

PREFIX = "cc-jail: "
#: The process name while it sets up, so that nobody takes it for the container's command.
NAME = b"cc-jail"

#: <linux/capability.h>
CAPABILITIES = {
    name: number
    for number, name in enumerate(
        [
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
        ]
    )
}
_PR_SET_PDEATHSIG, _PR_SET_NAME, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 15, 24, 38
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
_MNT_DETACH = 2
_CLONE_NEWNS = 0x00020000
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
#: Namespaces an exec enters, in nsenter's order; ``pid`` applies to the child only.
_NAMESPACES = ("ipc", "uts", "net", "pid", "mnt")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The most of ``/etc/passwd`` or ``/etc/group`` read (they are the container's).
_ACCOUNTS_LIMIT = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)


class Refused(Exception):
    """The process cannot be confined as asked: nothing of the container ran."""


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise Refused(f"{what}: {os.strerror(number)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() or None,
        ),
        f"mount {target}",
    )


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, value, 0, 0, 0), f"prctl {option}")


# -- options ----------------------------------------------------------------------------------
class Options:
    def __init__(self, argv: list[str]) -> None:
        self.keep: set[int] = set()
        self.nnp = False
        self.user = ""
        self.env: dict[str, str] = {}
        self.command: list[str] = []
        args = iter(argv)
        for arg in args:
            if arg == "--":
                self.command = list(args)
            elif arg == "--nnp":
                self.nnp = True
            elif arg in ("--keep", "--user", "--env"):
                value = next(args, None)
                if value is None:
                    raise Refused(f"{arg} needs a value")
                if arg == "--keep":
                    self.keep = {_capability(name) for name in value.split(",") if name}
                elif arg == "--user":
                    self.user = value
                else:
                    key, equals, text = value.partition("=")
                    if not equals or not key:
                        raise Refused(f"--env wants NAME=VALUE, not {value[:80]!r}")
                    self.env[key] = text
            else:
                raise Refused(f"unknown option {arg[:80]!r}")
        if not self.command:
            raise Refused("no command after --")


def _capability(name: str) -> int:
    number = CAPABILITIES.get(name.lower().removeprefix("cap_"))
    if number is None:
        raise Refused(f"unknown capability {name[:40]!r}")
    return number


# -- the container's accounts, read as text -------------------------------------------------
def _entries(path: str) -> list[list[str]]:
    try:
        with open(path, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return []
            text = file.read(_ACCOUNTS_LIMIT).decode("utf-8", "replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_user(
    spec: str, passwd_file: str = "/etc/passwd", group_file: str = "/etc/group"
) -> tuple[int, int, list[int]]:
    """``USER[:GROUP]`` as runc resolves it: names from ``/etc/passwd`` and ``/etc/group``,
    numbers as they are; a number not in ``/etc/passwd`` gets group 0; supplementary groups
    are those that list the user by name. Returns ``(uid, gid, groups)``."""
    user, _, group = spec.partition(":")
    passwd = [entry for entry in _entries(passwd_file) if len(entry) >= 4]
    found = next((entry for entry in passwd if user in (entry[0], entry[2])), None)
    if found is not None:
        name, uid, gid = found[0], _number(found[2], "uid"), _number(found[3], "gid")
    elif user.isascii() and user.isdigit():
        name, uid, gid = "", _number(user, "uid"), 0
    else:
        raise Refused(f"no user {user[:40]!r} in the container's /etc/passwd")
    groups = [entry for entry in _entries(group_file) if len(entry) >= 4]
    if group:
        match = next((entry for entry in groups if group in (entry[0], entry[2])), None)
        if match is not None:
            gid = _number(match[2], "gid")
        elif group.isascii() and group.isdigit():
            gid = _number(group, "gid")
        else:
            raise Refused(f"no group {group[:40]!r} in the container's /etc/group")
        return uid, gid, [gid]
    extra = [_number(entry[2], "gid") for entry in groups if name and name in entry[3].split(",")]
    return uid, gid, [gid, *(g for g in extra if g != gid)]


def _number(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise Refused(f"{what} {text[:20]!r} is not a number")
    return int(text)


# -- confining --------------------------------------------------------------------------------
def _last_capability() -> int:
    with open("/proc/sys/kernel/cap_last_cap") as file:
        return int(file.read())


def _confine_and_exec(options: Options, last_cap: int) -> None:
    """In the container's root: bounding set, no_new_privs, user, environment, command."""
    for number in range(last_cap + 1):
        if number not in options.keep:
            _prctl(_PR_CAPBSET_DROP, number)
    if options.nnp:
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    if options.user:
        uid, gid, groups = resolve_user(options.user)
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
    _execute(options.command, options.env)


def _execute(command: list[str], env: dict[str, str]) -> None:
    """``execvpe``, searched in the container's ``PATH``: written out because the library's
    imports a module on first use, which would come from the container's tree now."""
    name = command[0]
    paths = (
        [name]
        if "/" in name
        else [
            f"{directory or '.'}/{name}" for directory in env.get("PATH", _DEFAULT_PATH).split(":")
        ]
    )
    error: OSError | None = None
    for path in paths:
        try:
            os.execve(path, command, env)
        except (FileNotFoundError, NotADirectoryError) as exc:
            error = error or exc
        except OSError as exc:
            error = exc  # found but not runnable: that is what to report
    assert error is not None
    sys.stderr.write(f"{PREFIX}cannot run {name[:80]!r}: {error.strerror}\n")
    sys.stderr.flush()
    os._exit(127 if isinstance(error, FileNotFoundError) else 126)


def run(root: str, options: Options) -> None:
    """PID 1 of an unshare container: an empty tmpfs for the namespace's root, the root
    filesystem inside it, a /proc of its own, chroot, then the command."""
    if not os.path.isabs(root):
        raise Refused(f"the root filesystem {root!r} is not an absolute path")
    last_cap = _last_capability()
    where = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE)
    # The tmpfs goes over the root filesystem's own path (any directory would do: this mount
    # namespace is ours); the root filesystem is reached through the descriptor opened first.
    _mount("cc-jail", root, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "mode=0755,size=64k")
    os.mkdir(f"{root}/rootfs", 0o755)
    _mount(f"/proc/self/fd/{where}", f"{root}/rootfs", None, _MS_BIND)
    os.close(where)
    number = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise Refused(f"pivot_root is not known on {os.uname().machine}")
    os.chdir(root)
    _check(_libc.syscall(number, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", _MNT_DETACH), "detach the host's tree")
    os.chdir("/")
    # /proc is the container's path: whatever it is (a link, a file), it is resolved in
    # this tree, where nothing of the host is left.
    proc = os.lstat("/rootfs/proc")
    if not stat.S_ISDIR(proc.st_mode):
        raise Refused("the root filesystem's /proc is not a directory")
    _mount("proc", "/rootfs/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    os.chroot("/rootfs")
    os.chdir("/")
    _confine_and_exec(options, last_cap)


def enter(pid: str, options: Options) -> None:
    """An exec into the container whose first process is ``pid``: its namespaces and root
    entered by a child, which is confined before it runs the command."""
    if not (pid.isascii() and pid.isdigit()):
        raise Refused(f"{pid[:20]!r} is not a process id")
    last_cap = _last_capability()
    namespaces = {kind: os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY) for kind in _NAMESPACES}
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
    cwd = os.open(f"/proc/{pid}/cwd", os.O_RDONLY | os.O_DIRECTORY)
    ours, theirs = os.stat("/"), os.fstat(root)
    if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino):
        raise Refused(f"process {pid} is not confined to a root of its own (yet)")
    _check(_libc.setns(namespaces["pid"], 0), "enter the PID namespace")  # children only
    child = os.fork()
    if child == 0:
        try:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            for kind in ("ipc", "uts", "net", "mnt"):
                _check(_libc.setns(namespaces[kind], 0), f"enter the {kind} namespace")
            os.fchdir(root)
            os.chroot(".")
            os.fchdir(cwd)
            for fd in (*namespaces.values(), root, cwd):
                os.close(fd)
            _confine_and_exec(options, last_cap)
        except (Refused, OSError) as exc:
            sys.stderr.write(f"{PREFIX}{exc}\n")
        os._exit(125)
    # The parent stays on the host: it reports the child's end as its own.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: os.kill(child, number))
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 125)


#: Where a staged program keeps what is its own, fresh in the staged mount namespace: modes.
_STAGED_TMPFS = {"/tmp": "1777", "/run": "0755"}


def stage(argv: list[str]) -> None:
    """``stage CGROUP... -- PROGRAM...``: into the cgroups, a mount namespace of its own with
    fresh ``/tmp`` and ``/run``, then the host program (an absolute path)."""
    if "--" not in argv:
        raise Refused("usage: jail.py stage CGROUP... -- PROGRAM...")
    split = argv.index("--")
    cgroups, command = argv[:split], argv[split + 1 :]
    if not command or not os.path.isabs(command[0]):
        raise Refused("stage runs a host program named by its absolute path")
    for cgroup in cgroups:
        if not (cgroup.startswith("/sys/fs/cgroup/") and os.path.isdir(cgroup)):
            raise Refused(f"{cgroup[:120]!r} is not a cgroup directory")
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
    _check(_libc.unshare(_CLONE_NEWNS), "unshare the mount namespace")
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE)
    for path, mode in _STAGED_TMPFS.items():
        _mount("cc-stage", path, "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode={mode},size=64m")
    os.execv(command[0], command)


def main(argv: list[str]) -> None:
    _libc.prctl(_PR_SET_NAME, NAME, 0, 0, 0)
    # Everything is imported: a module asked for later would be looked for in the container's
    # tree. With no path to look in, such a defect is an error, never the container's code.
    sys.path.clear()
    try:
        if argv[:1] == ["stage"]:
            stage(argv[1:])
        if len(argv) < 2 or argv[0] not in ("run", "enter"):
            raise Refused("usage: jail.py run ROOT|enter PID [options] -- COMMAND...")
        options = Options(argv[2:])
        (run if argv[0] == "run" else enter)(argv[1], options)
    except (Refused, OSError) as exc:
        sys.stderr.write(f"{PREFIX}{exc}\n")
        sys.stderr.flush()
        os._exit(125)


if __name__ == "__main__":
    main(sys.argv[1:])
