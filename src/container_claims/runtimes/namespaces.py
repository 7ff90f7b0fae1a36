"""Plain Linux namespaces around a root filesystem directory: no engine, no images.

``unshare`` (util-linux) with ``chroot``, and bubblewrap, run the test image's root
filesystem directly. There is no engine to ask, no image store, no volumes and no resource
limits: claims that need those are not applicable here. Each process of a run gets its own
copy of the root filesystem (:mod:`.rootfs_copies`). This module is what the kinds share; each
kind builds its command line in its own module (:mod:`.unshare`, :mod:`.bwrap`), and what a
container gets here is in :mod:`.confinement`.

The container's processes run as root on the host, in namespaces of their own but with no
user namespace, seccomp or device cgroup: so they keep only the capabilities Docker grants by
default, less ``CAP_MKNOD`` (no device cgroup here to make it harmless), and die with the
suite (``--kill-child``, ``--die-with-parent``).

Nothing of the container runs before it is confined, and nothing a scenario says reaches a
host program: the programs that confine (``unshare``, ``bwrap``, and :mod:`jail` for the
chroot, the capabilities, the user and every exec) come from the host, and run with the
host's environment; the container's environment is handed to them as arguments, to be set
only for its command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from container_claims import processes
from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.hostfs import remove_tree
from container_claims.observations import OUTPUT_LIMIT, CommandOutcome
from container_claims.paths import rootfs_dir
from container_claims.processes import Finished, run_bounded
from container_claims.runtimes.base import Runtime, Shell, completed_outcome
from container_claims.runtimes.confinement import CLEAN_ENV, jail
from container_claims.runtimes.rootfs_copies import copies_of, copy_path, make_copy
from container_claims.runtimes.terminal import TerminalShell
from container_claims.scenario.model import ContainerSpec


def _exit_status(returncode: int) -> int:
    """As a shell reports it: 128 + the signal for a process a signal ended."""
    return returncode if returncode >= 0 else 128 - returncode


#: The programs that set a container up here, before its command runs: the jail names
#: itself at once, and the interpreter it runs on is its name until then.
#: systemd-nspawn's processes keep its name until they run the command, or its stub init.
_WRAPPERS = frozenset(
    {
        "unshare",
        "bwrap",
        "cc-jail",
        "systemd-nspawn",
        "(sd-stubinit)",
        Path(sys.executable).name[:15],
    }
)


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children first), as far as they can be read."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found += map(int, children)
        todo += map(int, children)
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "unshare"  # gone: not the container's command


def _leads_session(pid: int) -> bool:
    """Whether ``pid`` still leads a session (it has not been reaped)."""
    try:
        return os.getsid(pid) == pid
    except OSError:
        return False


def _identity(pid: int) -> tuple[int, int] | None:
    """``(pid, start time)`` of a live process (not a zombie): the pair no later process
    shares; None once it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else (pid, int(fields[19]))


def _command_identity(outer: int) -> tuple[int, int] | None:
    """The container's command below the wrapper process ``outer``: the first process, going
    down, that is no wrapper (bwrap puts a process of its own between)."""
    level = [outer]
    while level:
        below: list[int] = []
        for pid in level:
            with contextlib.suppress(OSError):
                below += map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
        for pid in below:
            if _comm(pid) not in _WRAPPERS:
                return _identity(pid)
        level = below
    return None


class _HostPidShell(Shell):
    """A typed session of a container in the host's PID namespace. Its shell's end is the
    container's, as runc makes it: the rest of its session is ended then, where a PID
    namespace's end would have taken it along. Else a job the shell left in the background
    holds the terminal open, and the session's end waits for it."""

    def __init__(self, shell: TerminalShell) -> None:
        self._shell = shell
        self.prompt = shell.prompt
        self._command = _command_identity(shell.pid)

    @property
    def transcript(self) -> str:  # type: ignore[override]
        return self._shell.transcript

    def type(self, line: str, timeout: float) -> CommandOutcome:
        return self._shell.type(line, timeout)

    def exit(self, line: str, timeout: float) -> int | None:
        done = threading.Event()
        watcher = threading.Thread(target=self._end_with_the_shell, args=(done,), daemon=True)
        watcher.start()
        try:
            return self._shell.exit(line, timeout)
        finally:
            done.set()
            watcher.join()

    def _end_with_the_shell(self, done: threading.Event) -> None:
        while not done.wait(0.02):
            if self._command is None or _identity(self._command[0]) != self._command:
                processes.end_session(self._shell.pid)
                return

    def close(self) -> None:
        self._shell.close()


#: What the wrappers print when they, not the container's command, failed: their names, or
#: systemd's source location (``SYSTEMD_LOG_LOCATION=1``, which nspawn gets for that), but
#: for nspawn's word on a container a signal ended, which is the command's end.
_WRAPPER_ERRORS = re.compile(
    r"(unshare: |bwrap: |cc-jail: |src/[\w-]+/[\w.-]+\.c:\d+: (?!Container \S+ terminated by))"
)


class NamespaceRuntime(Runtime):
    """Shared by the engine-less kinds; subclasses build the command line."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"exec", "host-processes"})
    family: ClassVar[str] = "plain namespaces"
    #: Names of the processes that set a container up before its command runs.
    wrappers: ClassVar[frozenset[str]] = _WRAPPERS
    #: What a failing wrapper's lines begin with (its failure is no verdict).
    wrapper_errors: ClassVar[re.Pattern[str]] = _WRAPPER_ERRORS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._root: Path | None = None
        self._processes: dict[str, subprocess.Popen[bytes] | int] = {}
        self._specs: dict[str, ContainerSpec] = {}  # what each container was started with

    # -- what subclasses say ----------------------------------------------------------------
    def wrap(self, spec: ContainerSpec, root: Path) -> list[str]:
        """The command line that runs ``spec`` confined to ``root``."""
        raise NotImplementedError

    # -- plumbing ---------------------------------------------------------------------------
    def source_rootfs(self) -> Path:
        if self.config.rootfs:
            return Path(self.config.rootfs)
        return rootfs_dir()

    def root(self) -> Path:
        """This process's copy of the root filesystem, made on first use."""
        if self._root is None:
            target = copy_path(self.run_id, self.name)
            make_copy(self.source_rootfs(), target)
            self._root = target
        return self._root

    def container_env(self, spec: ContainerSpec) -> dict[str, str]:
        """The environment of the container's command: set by the confining program, never
        given to a host program (``LD_PRELOAD`` would load a file of the container's)."""
        return {**CLEAN_ENV, **dict(self.config.env), **dict(spec.env)}

    def host_env(self) -> dict[str, str]:
        """The environment of the host programs that confine: the host's ``PATH`` and the
        runtimes file's ``env`` (the operator's), nothing of the scenario's."""
        return {"PATH": os.environ.get("PATH", os.defpath), **dict(self.config.env)}

    def refuse_unsupported(self, spec: ContainerSpec) -> None:
        """Capabilities keep claims that need what the kind lacks from running here; this is
        the last guard."""
        needed = set(spec.capabilities())
        if spec.image in (None, self.image):
            needed.discard("images")  # the one root filesystem there is
        unsupported = sorted(needed - self.capabilities)
        if unsupported:
            raise ObservationError(f"{self.kind} cannot give a container {', '.join(unsupported)}")

    def argv(self, spec: ContainerSpec, name: str = "") -> list[str]:
        """The host's command line that starts ``spec`` as the container ``name`` (a kind that
        names its containers to the program that runs them, or makes things per container,
        needs the name)."""
        self.refuse_unsupported(spec)
        binary = shutil.which(self.config.binary)
        if binary is None:
            raise RuntimeUnavailable(f"{self.config.binary!r} is not an executable on PATH")
        return [binary, *self.wrap(spec, self.root())]

    @staticmethod
    def init_pid(outer: int, timeout: float = 5.0) -> int:
        """The container's first process: the child of the process we started."""
        deadline = time.monotonic() + timeout
        children_file = Path(f"/proc/{outer}/task/{outer}/children")
        while time.monotonic() < deadline:
            try:
                children = children_file.read_text().split()
            except OSError:
                break
            if children:
                return int(children[0])
            time.sleep(0.01)
        raise ObservationError(f"the container started by process {outer} has no process")

    def _outer_pid(self, name: str) -> int | None:
        process = self._processes.get(name)
        if process is None:
            return None
        return process if isinstance(process, int) else process.pid

    # -- Runtime ----------------------------------------------------------------------------
    def check(self) -> None:
        super().check()
        if os.geteuid() != 0:
            raise RuntimeUnavailable(f"{self.kind} needs root to create namespaces here")
        if not (self.source_rootfs() / "bin" / "bash").exists():
            raise RuntimeUnavailable(
                f"no root filesystem at {self.source_rootfs()}: run 'container-claims image build'"
            )

    def describe_image(self) -> dict[str, Any]:
        return {"rootfs": str(self.source_rootfs()), "copied_per_run": True}

    def version(self) -> dict[str, str]:
        import platform

        out = (
            subprocess.run(
                [self.config.binary, "--version"], capture_output=True, text=True, check=False
            )
            .stdout.strip()
            .splitlines()
        )
        return {self.kind: out[0] if out else "?", "kernel": platform.release()}

    def open_shell(self, spec: ContainerSpec, name: str, timeout: float) -> Shell:
        if not spec.tty:
            raise ObservationError(
                f"{self.kind} sessions here always have a terminal; tty: false is not supported"
            )
        shell = TerminalShell(self.argv(spec, name), self.host_env(), prompt_timeout=timeout)
        self._processes[name] = shell.pid
        self._specs[name] = spec
        return _HostPidShell(shell) if spec.pid == "host" else shell

    def start(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        process: subprocess.Popen[bytes] = processes.start(
            self.argv(spec, name),
            stdin=subprocess.PIPE if spec.interactive else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.host_env(),
            start_new_session=True,
        )
        self._processes[name] = process
        self._specs[name] = spec
        self._wait_for_command(process, name, timeout)
        return CommandOutcome(output=name, status=0)

    def _wait_for_command(
        self, process: subprocess.Popen[bytes], name: str, timeout: float
    ) -> None:
        """Return once the container's command runs, not only its first process: until then
        the wrappers are still setting up its namespaces and root, and an exec entering them
        would not find the container's root yet. A command that ended counts as started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None or any(
                _comm(pid) not in self.wrappers for pid in _descendants(process.pid)
            ):
                return
            time.sleep(0.01)
        raise ObservationError(f"{name}'s command did not start within {timeout:g} s")

    def run(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        # In the host's PID namespace, no namespace's end takes the command's other processes
        # with it: its session does, when the command ends (as runc's stop does its cgroup's).
        done = run_bounded(
            self.argv(spec, name),
            timeout=timeout,
            limit=OUTPUT_LIMIT,
            stdin=spec.stdin or "",
            env=self.host_env(),
            group=spec.pid == "host",
        )
        return self._outcome(done, timeout, f"to run {name}")

    def _outcome(self, done: Finished, timeout: float, what: str) -> CommandOutcome:
        """The command's outcome; raises when the wrapper, not the command, failed."""
        if done.timed_out:
            return CommandOutcome(
                done.stdout.rstrip("\n"),
                None,
                completed=False,
                detail=f"no result within {timeout:g} s",
                stderr=done.stderr.rstrip("\n"),
            )
        failed_wrapper = done.returncode != 0 and any(
            self.wrapper_errors.match(line) for line in done.stderr.splitlines()
        )
        if done.returncode in (125, 126, 127) or failed_wrapper:
            said = (done.stderr or done.stdout).strip()[-500:] or "nothing"
            raise ObservationError(f"{self.kind} refused {what} (exit {done.returncode}): {said}")
        return completed_outcome(done)

    def storage_roots(self) -> list[str]:
        return [str(self.root())]

    def exec(self, name: str, command: tuple[str, ...], timeout: float) -> CommandOutcome:
        outer = self._outer_pid(name)
        if outer is None:
            raise ObservationError(f"no running container {name!r}")
        init = self.init_pid(outer)
        spec = dataclasses.replace(self._specs.get(name, ContainerSpec()), command=command)
        argv = jail("enter", str(init), spec, CLEAN_ENV, user=False)
        done = run_bounded(argv, timeout=timeout, limit=OUTPUT_LIMIT, env=self.host_env())
        return self._outcome(done, timeout, f"the exec in {name}")

    def stop(self, name: str, grace: int, timeout: float) -> dict[str, Any]:
        """SIGTERM to the container's first process (PID 1 of its namespace: the kernel drops
        it unless that process handles it, as under any engine), SIGKILL after ``grace``."""
        process = self._detached(name)
        began = time.monotonic()
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, max(timeout - grace, 1))):
            if self._ended(name, process):
                break
            with contextlib.suppress(ObservationError, ProcessLookupError):
                os.kill(self.init_pid(process.pid, timeout=1), sig)
            self._ended(name, process, wait=wait)
        if not self._ended(name, process):
            raise ObservationError(f"{name} did not end after SIGKILL")
        took = round(time.monotonic() - began, 3)
        return {"status": _exit_status(process.returncode), "took_s": took}

    def wait(self, name: str, until: str, timeout: float, *, contains: str = "") -> dict[str, Any]:
        process = self._detached(name)
        began = time.monotonic()
        if until == "exited" or self._ended(name, process):
            self._ended(name, process, wait=timeout)
        exited = self._ended(name, process)
        return {
            "reached": exited == (until == "exited"),
            "state": "exited" if exited else "running",
            "status": _exit_status(process.returncode) if exited else None,
            "waited_s": round(time.monotonic() - began, 3),
        }

    def signal(self, name: str, sig: str) -> dict[str, Any]:
        process = self._detached(name)
        with contextlib.suppress(ProcessLookupError):  # ended already: as docker kill on exited
            os.kill(self.init_pid(process.pid, timeout=1), getattr(signal, sig))
        return {"signal": sig, "state": "exited" if self._ended(name, process) else "running"}

    def _detached(self, name: str) -> subprocess.Popen[bytes]:
        process = self._processes.get(name)
        if not isinstance(process, subprocess.Popen):
            raise ObservationError(f"no detached container {name!r} runs here")
        return process

    def _ended(self, name: str, process: subprocess.Popen[bytes], wait: float = 0) -> bool:
        """Whether a detached container's process has ended, waiting up to ``wait`` seconds.
        Once it has, and before it is reaped (its PID is its session's until then), what is
        left of a container in the host's PID namespace is ended with it (:meth:`_end_rest`)."""
        deadline = time.monotonic() + wait
        while process.returncode is None and not processes.ended(process.pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        if process.returncode is None:
            self._end_rest(name, process.pid)
            process.wait()
        return True

    def _end_rest(self, name: str, outer: int) -> None:
        """In a PID namespace of its own, a container's processes end with its first one; in
        the host's (``pid: host``), those of its session (the one the process we started
        leads) are ended: one that left it (``setsid``) is the limit."""
        if self._specs.get(name, ContainerSpec()).pid == "host":
            processes.end_session(outer)

    def create_volume(self, name: str) -> None:
        raise ObservationError(f"{self.kind} has no volumes")

    def remove_container(self, name: str) -> None:
        """End a container we started: its first process (ending its PID namespace), then ours."""

        process = self._processes.pop(name, None)
        if process is None:
            return
        outer = process if isinstance(process, int) else process.pid
        try:
            init = self.init_pid(outer, timeout=0.2)
            os.kill(init, signal.SIGKILL)
        except (ObservationError, ProcessLookupError):
            pass  # already gone
        if isinstance(process, subprocess.Popen):
            if process.returncode is None:  # not reaped: the session is still its own
                self._end_rest(name, outer)
                process.kill()
            process.wait(timeout=10)
        elif _leads_session(outer):  # a terminal's, which its shell object reaps
            self._end_rest(name, outer)

    def remove_image(self, ref: str) -> None:
        pass  # there are no images

    def remove_volume(self, name: str) -> None:
        pass  # there are no volumes

    def remove_objects(
        self, *, run_id: str | None, keep: frozenset[str] = frozenset()
    ) -> list[str]:
        """This process's containers; root filesystem copies of ``run_id`` (of any run not
        in ``keep`` if None)."""
        removed = []
        for name in list(self._processes):
            self.remove_container(name)
            removed.append(f"process of {name}")
        for copy in copies_of(run_id, keep):
            if copy == self._root:
                self._root = None
            remove_tree(copy)
            removed.append(f"root filesystem copy {copy}")
        return removed

    def info(self) -> Mapping[str, Any]:
        raise ObservationError(f"{self.kind} has no engine")

    def close(self) -> None:
        for name in list(self._processes):
            self.remove_container(name)
        if self._root is not None:
            if self._root.exists():
                remove_tree(self._root)
            self._root = None


def make_mount_point(root: Path, target: str) -> None:
    """The directories of ``target`` missing in ``root`` (as runc makes them before the root
    becomes read-only), made one at a time below descriptors that follow no link: a link on
    the way stops it, and the kind resolves that one inside the root itself."""
    parts = Path(target).parts[1:]
    if not target.startswith("/") or any(part in (".", "..") for part in parts):
        raise ObservationError(f"no mount point can be made at {target[:80]!r}")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            try:
                below = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:  # a link, or not a directory: not ours to follow
                return
            os.close(fd)
            fd = below
    finally:
        os.close(fd)
