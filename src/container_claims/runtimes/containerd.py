"""The ``containerd`` runtime kind: containerd's own client ``ctr``, with no engine above it.

``ctr`` talks to a containerd socket (the entry's ``env`` may name one as
``CONTAINERD_ADDRESS``; the default is the one the machine's dockerd runs). Everything of a
run lives in a containerd namespace of the run's own, ``cc-RUNID``, labelled with the run
id: the test image, imported from the Docker engine (``docker save | ctr images import``),
and the containers, labelled too. The run's end, and the sweep after a run killed outright
(the ledger names the runtime before the namespace exists), remove the namespace with all it
holds, and the empty cgroup directories containerd leaves named after it. Never a namespace
the suite did not make: only ``cc-`` namespaces carrying the run label are touched.

What ``ctr`` 1.6 cannot give a container, the kind does not claim: no hostname, user, init,
resource limits, a stop signal, /dev/shm size, published ports, networks, volumes, host PID
namespace, images by other references, nor an engine's records (inspect). Its own defaults
stay its own: it sets no_new_privs on every container.

A detached container's output goes to a file (``--log-uri``), read for ``wait ... output``.

A one-shot container's output does not go through ``ctr``'s own FIFOs: ``ctr`` opens its
side of them in a goroutine, and on the task's end its ``Task.Delete`` cancels an open that
has not returned yet (``io.Cancel``), dropping the whole output without a word. Under load a
short command ends first now and then: empty output, status 0. Instead the shim starts a
logger of ours (``--log-uri=binary://``, :func:`logger_uri`) that gets the container's stdout
and stderr as pipes of their own and copies each to a file; the shim closes the pipes and
waits for it when ``ctr`` deletes the task, and the logger marks the end of both copies in a
third file. ``ctr`` returning without that mark is an error, never an empty output. An exec
(``ctr task exec``, whose process is deleted the same way) logs its output so too. A run
that feeds stdin still needs the FIFOs (the shim gives a logged container none).
``ctr`` closes a container's stdin at the end of its own only once the task exists (an end
seen earlier is lost and the command waits forever): so stdin is held open until the task
runs (:func:`~container_claims.processes.run_bounded`'s ``eof_when``).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import shutil
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from container_claims import ledger, processes
from container_claims.errors import ObservationError, RuntimeUnavailable
from container_claims.observations import OUTPUT_LIMIT, CommandOutcome
from container_claims.paths import make_temp_dir
from container_claims.processes import run_bounded
from container_claims.runtimes.base import RUN_LABEL, Runtime, Shell, completed_outcome
from container_claims.runtimes.confinement import CAPABILITIES as DOCKER_CAPABILITIES
from container_claims.runtimes.terminal import TerminalShell
from container_claims.scenario.model import ContainerSpec

#: The socket of the containerd that Debian's dockerd starts, when the entry names none.
DEFAULT_ADDRESS = "/run/docker/containerd/containerd.sock"
#: The variable ``ctr`` reads its socket from (an entry's ``env`` may set it).
ADDRESS_VARIABLE = "CONTAINERD_ADDRESS"
#: Namespaces of the suite: this prefix and the run id.
NAMESPACE_PREFIX = "cc-"
#: containerd's identifiers (namespaces, containers): what it accepts, and no more.
_IDENTIFIER = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
_ID_LIMIT = 76
#: The label containerd records an image's stop signal in, on each container of it.
STOP_SIGNAL_LABEL = "io.containerd.image.config.stop-signal"
#: The capabilities ``ctr run`` grants by default: Docker's set (MKNOD included).
_DEFAULT_CAPS = (*DOCKER_CAPABILITIES, "mknod")
_TMPFS_SIZE = re.compile(r"[0-9]{1,12}[kmg]?")
_TMPFS_MODE = re.compile(r"[0-7]{3,4}")
#: What ``ctr task delete`` says of a task that ended with another status than 0.
_EXIT_CODE = re.compile(r"exit with non-zero exit code (\d+)")
#: Seconds between two looks at a task's status, while stdin waits for it to run.
_POLL = 0.05
#: The shell the shim runs as a one-shot container's logger.
_LOGGER_SHELL = "/bin/sh"
#: The logger: the shim gives it the container's stdout on fd 3, its stderr on fd 4, and
#: waits for it to close fd 5. Each stream is kept to ``LIMIT`` bytes (the rest is read and
#: dropped, so the container never blocks) until its end, then the end of both is marked.
#: SIGTERM, which the shim sends as soon as it closes the pipes, is ignored (by the copies
#: too): what is still in the pipes is read first; the shim kills it after 12 s.
_LOGGER_SCRIPT = (
    "trap '' TERM; exec 5>&-; "
    "{ HEAD -c LIMIT >OUT; CAT >/dev/null; } <&3 & "
    "{ HEAD -c LIMIT >ERR; CAT >/dev/null; } <&4 & "
    "exec 3<&- 4<&-; wait; : >DONE"
)


def namespace_of(run_id: str) -> str:
    """The containerd namespace of a run."""
    return checked_id(f"{NAMESPACE_PREFIX}{run_id}", "namespace")


def checked_id(value: str, what: str) -> str:
    """``value`` if containerd takes it as an identifier; else :class:`ObservationError`."""
    if len(value) > _ID_LIMIT or not _IDENTIFIER.fullmatch(value):
        raise ObservationError(
            f"{what} {value[:80]!r} is no containerd identifier (letters, digits, '.', '_', "
            f"'-' between them, at most {_ID_LIMIT})"
        )
    return value


def _mount_value(value: str, what: str) -> str:
    """A path that goes into ``--mount``'s comma-separated fields: no comma (it would start
    a field of its own, an option the scenario does not give)."""
    if "," in value or "\n" in value:
        raise ObservationError(f"containerd cannot mount {what} {value[:80]!r}: it holds a ','")
    return value


def capability_args(spec: ContainerSpec) -> list[str]:
    """``--cap-add``/``--cap-drop`` that make ctr's default set what Docker's options make
    of Docker's (the same default set). ``ctr`` takes no ``ALL`` and drops after it adds, so
    the set wanted is computed here and only the differences are given."""
    if not (spec.cap_add or spec.cap_drop):
        return []
    drop = {cap.lower() for cap in spec.cap_drop}
    kept = set() if "all" in drop else set(_DEFAULT_CAPS) - drop
    kept |= {cap.lower() for cap in spec.cap_add if cap.lower() != "all"}
    if "all" in {cap.lower() for cap in spec.cap_add}:
        raise ObservationError("containerd here cannot add ALL capabilities (no --privileged)")
    adds = sorted(kept - set(_DEFAULT_CAPS))
    drops = sorted(set(_DEFAULT_CAPS) - kept)
    return [f"--cap-add=CAP_{cap.upper()}" for cap in adds] + [
        f"--cap-drop=CAP_{cap.upper()}" for cap in drops
    ]


@dataclass(frozen=True)
class LoggedOutput:
    """Where the logger of one container keeps its stdout and stderr, and marks their end."""

    stdout: Path
    stderr: Path
    done: Path

    @classmethod
    def of(cls, directory: Path, name: str) -> LoggedOutput:
        return cls(*(directory / f"{name}.{part}" for part in ("out", "err", "done")))

    def read(self, name: str) -> tuple[bytes, bytes]:
        """Both outputs, once the logger marked their end; else :class:`ObservationError`."""
        if not self.done.exists():
            raise ObservationError(
                f"the output of {name} is not complete: its logger did not finish copying it"
            )
        return _read_capped(self.stdout), _read_capped(self.stderr)

    def remove(self) -> None:
        for path in (self.stdout, self.stderr, self.done):
            path.unlink(missing_ok=True)


def _read_capped(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(OUTPUT_LIMIT + 1)
    except FileNotFoundError:
        return b""


def logger_uri(files: LoggedOutput) -> str:
    """``--log-uri`` of a logger that copies a container's stdout and stderr to ``files``
    (:data:`_LOGGER_SCRIPT`). Only the suite's own paths go into it, quoted."""
    tools = {}
    for tool in ("head", "cat"):
        found = shutil.which(tool)
        if found is None:
            raise RuntimeUnavailable(f"no {tool!r} for the containers' logger")
        tools[tool.upper()] = found
    words = {
        **tools,
        "LIMIT": str(OUTPUT_LIMIT + 1),  # one more: a longer output is seen as such
        "OUT": str(files.stdout),
        "ERR": str(files.stderr),
        "DONE": str(files.done),
    }
    script = re.sub(
        r"\b(HEAD|CAT|LIMIT|OUT|ERR|DONE)\b",
        lambda found: shlex.quote(words[found.group(1)]),
        _LOGGER_SCRIPT,
    )
    # containerd passes each query key and its value as two arguments: ``sh -c SCRIPT``.
    return f"binary://{_LOGGER_SHELL}?{urllib.parse.urlencode({'-c': script})}"


def normalized_ref(image: str) -> str:
    """The reference containerd gives an image Docker calls ``image``
    (``docker.io/library/debian:latest`` for ``debian``)."""
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    return f"{name}:{tag or 'latest'}"


class ContainerdRuntime(Runtime):
    """containerd through ``ctr``, in a namespace of the run's own."""

    kind: ClassVar[str] = "containerd"
    #: What ``ctr run`` 1.6 honours: a working directory (``--cwd``), a read-only root,
    #: tmpfs mounts with size and mode and binds of directories (``--mount``), capabilities,
    #: labels (kept on the container), no_new_privs (its default), exec, and detached
    #: output kept in a file. Not a stop signal: containerd records the image's on the
    #: container, over a ``--label`` of the same name.
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {
            "exec",
            "host-processes",
            "workdir",
            "read-only",
            "tmpfs",
            "tmpfs-options",
            "directories",
            "read-only-mounts",
            "capabilities",
            "labels",
            "no-new-privileges",
            "logs",
        }
    )
    #: Each scenario's containers have ids of their own in the namespace.
    scenarios_at_once: ClassVar[int] = 4

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.RLock()
        self._ref: str | None = None  # the test image in the namespace, once imported
        self._logs: Path | None = None  # detached containers' output files
        self._codes: dict[str, int | None] = {}  # exit statuses of tasks deleted
        self._made: set[str] = set()  # containers this process started

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        return namespace_of(self.run_id)

    def address(self) -> str:
        return dict(self.config.env).get(ADDRESS_VARIABLE) or DEFAULT_ADDRESS

    def env(self) -> dict[str, str]:
        env = super().env()
        env[ADDRESS_VARIABLE] = self.address()
        env.pop("CONTAINERD_NAMESPACE", None)  # always given as -n
        return env

    def ctr_argv(self, *args: str, namespace: str | None = None) -> list[str]:
        return [self.config.binary, "--namespace", namespace or self.namespace, *args]

    def _ctr(
        self, *args: str, timeout: float = 60, namespace: str | None = None
    ) -> processes.Finished:
        try:
            done = run_bounded(
                self.ctr_argv(*args, namespace=namespace),
                timeout=timeout,
                limit=OUTPUT_LIMIT,
                env=self.env(),
            )
        except OSError as exc:
            raise RuntimeUnavailable(f"{self.config.binary!r} cannot be run: {exc}") from exc
        if done.timed_out:
            raise ObservationError(f"ctr {args[0]} {args[1:2]} gave no result within {timeout:g} s")
        return done

    def _ok(self, *args: str, timeout: float = 60, namespace: str | None = None) -> str:
        """Run ``ctr ARGS``; its output, or :class:`ObservationError` with what it said."""
        done = self._ctr(*args, timeout=timeout, namespace=namespace)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-400:] or "nothing"
            raise ObservationError(f"ctr {' '.join(args[:2])} failed: {said}")
        return done.stdout

    def ensure_namespace(self) -> str:
        """The run's namespace with the test image in it (made and imported once)."""
        with self._lock:
            if self._ref is None:
                made = self._ctr(
                    "namespaces", "create", self.namespace, f"{RUN_LABEL}={self.run_id}"
                )
                if made.returncode != 0 and "already exists" not in made.stderr:
                    raise ObservationError(f"ctr could not make namespace: {made.stderr.strip()}")
                self._ref = self._import_image()
            return self._ref

    def _import_image(self) -> str:
        ref = normalized_ref(self.image)
        if ref in self._ok("images", "ls", "-q").split():
            return ref  # another process of the run imported it
        docker = shutil.which("docker", path=self.env().get("PATH"))
        if docker is None:
            raise RuntimeUnavailable("the test image comes from Docker: no 'docker' on PATH")
        for attempt in range(3):  # processes of one run may import side by side
            save = processes.start(
                [docker, "save", "--", self.image],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=self.env(),
            )
            try:
                load = processes.run(
                    self.ctr_argv("images", "import", "-"),
                    stdin=save.stdout,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    env=self.env(),
                )
            finally:
                if save.stdout is not None:
                    save.stdout.close()
                save.wait(timeout=60)
            if load.returncode == 0 and save.returncode == 0:
                break
            if attempt == 2:
                said = (load.stderr or "").strip()[-300:]
                raise ObservationError(f"the test image could not be imported: {said}")
            time.sleep(1)
        if ref not in self._ok("images", "ls", "-q").split():
            raise ObservationError(f"the imported image is not {ref} in containerd")
        return ref

    def logs_dir(self) -> Path:
        with self._lock:
            if self._logs is None:
                self._logs = make_temp_dir("containerd")
                ledger.record("dir", path=str(self._logs))
            return self._logs

    def run_args(self, spec: ContainerSpec, name: str) -> list[str]:
        """``run`` and its options for ``spec`` (without the image, id and command). Scenario
        values only follow an option's ``=`` (checked where they go into ``--mount``)."""
        needed = set(spec.capabilities())
        if spec.image in (None, self.image):
            needed.discard("images")  # the test image, the one there is
        missing = sorted(needed - self.capabilities)
        if missing:
            raise ObservationError(f"containerd cannot give a container {', '.join(missing)}")
        args = ["run", f"--label={RUN_LABEL}={self.run_id}", *self.config.run_args]
        if spec.tty:
            args.append("--tty")
        if spec.workdir:
            args.append(f"--cwd={spec.workdir}")
        if spec.read_only:
            args.append("--read-only")
        for tmpfs in spec.tmpfs:
            options = []  # ctr's own: none but what the scenario gives
            if tmpfs.size:
                if not _TMPFS_SIZE.fullmatch(tmpfs.size):
                    raise ObservationError(f"tmpfs size {tmpfs.size[:40]!r} is not like 16m")
                options.append(f"size={tmpfs.size}")
            if tmpfs.mode:
                if not _TMPFS_MODE.fullmatch(tmpfs.mode):
                    raise ObservationError(f"tmpfs mode {tmpfs.mode[:40]!r} is not like 1777")
                options.append(f"mode={tmpfs.mode}")
            path = _mount_value(tmpfs.path, "the tmpfs at")
            given = f",options={':'.join(options)}" if options else ""
            args.append(f"--mount=type=tmpfs,src=tmpfs,dst={path}{given}")
        for mount in spec.volumes:  # directories only: the capabilities keep volumes out
            source = _mount_value(mount.source, "directory")
            target = _mount_value(mount.target, "at")
            access = "ro" if mount.read_only else "rw"
            args.append(f"--mount=type=bind,src={source},dst={target},options=rbind:{access}")
        args += capability_args(spec)
        args += [f"--label={key}={value}" for key, value in spec.labels]
        args += [f"--env={key}={value}" for key, value in spec.env]
        return args

    def argv(
        self,
        spec: ContainerSpec,
        name: str,
        *,
        detach: bool = False,
        logged: LoggedOutput | None = None,
    ) -> list[str]:
        """The whole ``ctr run`` command line of ``spec`` as container ``name``; with
        ``logged``, its output goes to those files (:func:`logger_uri`), not to ``ctr``'s."""
        checked_id(name, "container name")
        ref = self.ensure_namespace()
        args = self.run_args(spec, name)
        if detach:
            log = self.logs_dir() / f"{name}.log"
            args += ["--detach", f"--log-uri=file://{log}"]
        else:
            args.append("--rm")
            if logged is not None:
                args.append(f"--log-uri={logger_uri(logged)}")
        return self.ctr_argv(*args, "--", ref, name, *(spec.command or ()))

    def logged(self, spec: ContainerSpec, name: str) -> LoggedOutput | None:
        """The files a one-shot run of ``spec`` logs to; None for a run that needs ``ctr``'s
        own FIFOs (stdin) or terminal."""
        if spec.stdin is not None or spec.tty:
            return None
        return LoggedOutput.of(self.logs_dir(), checked_id(name, "container name"))

    def _status(self, name: str) -> str | None:
        """The task's status (``RUNNING``, ``STOPPED``, ``CREATED``...), None without one."""
        for line in self._ok("tasks", "ls").splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3 and fields[0] == name:
                return fields[2]
        return None

    def _started(self, name: str) -> Any:
        """A test for ``eof_when``: whether the task of ``name`` runs or ran, asked at most
        every :data:`_POLL` seconds (output may wake the reader more often)."""
        last = [0.0]

        def started() -> bool:
            if time.monotonic() - last[0] < _POLL:
                return False
            last[0] = time.monotonic()
            with contextlib.suppress(ObservationError):
                return self._status(name) in ("RUNNING", "STOPPED", "PAUSED")
            return False

        return started

    def _outcome(self, done: processes.Finished, timeout: float, what: str) -> CommandOutcome:
        """The command's outcome; raises when ctr, not the command, failed."""
        if done.timed_out:
            return CommandOutcome(
                done.stdout.rstrip("\n"),
                None,
                completed=False,
                detail=f"{what} gave no result within {timeout:g} s",
                stderr=done.stderr.rstrip("\n"),
            )
        if done.returncode != 0 and any(
            line.startswith("ctr: ") for line in done.stderr.splitlines()
        ):
            said = done.stderr.strip()[-500:]
            raise ObservationError(f"ctr refused {what} (exit {done.returncode}): {said}")
        return completed_outcome(done)

    # -- Runtime ----------------------------------------------------------------------------
    def check(self) -> None:
        super().check()
        if os.geteuid() != 0:
            raise RuntimeUnavailable("ctr needs root to reach containerd's socket")
        if not Path(self.address()).is_socket():
            raise RuntimeUnavailable(
                f"no containerd socket at {self.address()} (set {ADDRESS_VARIABLE} in the "
                "entry's env, or start the Docker engine, whose containerd it is by default)"
            )
        done = self._ctr("version", timeout=20)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-300:]
            raise RuntimeUnavailable(f"containerd at {self.address()} does not answer: {said}")
        checked_id(self.namespace, "namespace")

    def version(self) -> dict[str, str]:
        out = self._ok("version", timeout=20)
        found = re.findall(r"Version:\s*(\S+)", out)
        versions = {
            "ctr": found[0] if found else "?",
            "containerd": found[1] if len(found) > 1 else "?",
        }
        runc = shutil.which("runc")
        if runc:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                first = processes.run(
                    [runc, "--version"], capture_output=True, text=True, timeout=10
                )
                versions["oci_runtime"] = "runc: " + (first.stdout.splitlines() or ["?"])[0]
        return versions

    def environment(self) -> dict[str, str]:
        import platform

        return {"kernel": platform.release(), "containerd_address": self.address()}

    def describe_image(self) -> dict[str, Any]:
        return {"ref": self.image, "containerd_ref": self._ref, "namespace": self.namespace}

    def open_shell(self, spec: ContainerSpec, name: str, timeout: float) -> Shell:
        argv = self.argv(spec, name)
        with self._lock:
            self._made.add(name)
        return TerminalShell(argv, self.env(), prompt_timeout=timeout if spec.tty else 0)

    def start(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        if spec.interactive:
            raise ObservationError("containerd: a detached container gets no stdin here")
        argv = self.argv(spec, name, detach=True)
        with self._lock:
            self._made.add(name)
        done = run_bounded(argv, timeout=timeout, limit=OUTPUT_LIMIT, env=self.env())
        outcome = self._outcome(done, timeout, f"starting {name}")
        if outcome.completed and outcome.status != 0:
            said = (outcome.stderr or outcome.output).strip()[-500:] or "nothing"
            raise ObservationError(f"{name} did not start (exit {outcome.status}): {said}")
        return CommandOutcome(output=name, status=0)

    def run(self, spec: ContainerSpec, name: str, timeout: float) -> CommandOutcome:
        logged = self.logged(spec, name)
        argv = self.argv(spec, name, logged=logged)
        with self._lock:
            self._made.add(name)
        if logged is None:
            done = run_bounded(
                argv,
                timeout=timeout,
                limit=OUTPUT_LIMIT,
                stdin=spec.stdin or "",
                env=self.env(),
                eof_when=self._started(name),
            )
            return self._outcome(done, timeout, f"running {name}")
        return self._run_logged(argv, logged, timeout, output_of=name, what=f"running {name}")

    def exec(self, name: str, command: tuple[str, ...], timeout: float) -> CommandOutcome:
        """``command`` beside the task of ``name``, its output through a logger as a one-shot
        run's (``ctr task exec`` deletes the process as ``ctr run --rm`` deletes the task, and
        lost an exec's whole output the same way under load)."""
        checked_id(name, "container name")
        exec_id = f"cc-exec-{secrets.token_hex(4)}"
        logged = LoggedOutput.of(self.logs_dir(), exec_id)
        argv = self.ctr_argv(
            "tasks", "exec", f"--exec-id={exec_id}", f"--log-uri={logger_uri(logged)}",
            "--", name, *command,
        )  # fmt: skip
        what = f"the exec in {name}"
        return self._run_logged(argv, logged, timeout, output_of=what, what=what)

    def _run_logged(
        self, argv: list[str], logged: LoggedOutput, timeout: float, *, output_of: str, what: str
    ) -> CommandOutcome:
        """``argv`` (a ``ctr`` run or exec whose output goes to ``logged``) to its end, with
        the output from the logger's files (:func:`with_logged`), which go with it."""
        try:
            done = run_bounded(argv, timeout=timeout, limit=OUTPUT_LIMIT, env=self.env())
            return self._outcome(with_logged(done, logged, output_of), timeout, what)
        finally:
            logged.remove()

    def _reap(self, name: str) -> int | None:
        """Delete a stopped task, keeping its exit status (``ctr task delete`` says it)."""
        with self._lock:
            if name in self._codes:
                return self._codes[name]
            done = self._ctr("tasks", "delete", "--", name)
            if done.returncode != 0 and "not found" not in done.stderr:
                raise ObservationError(f"ctr could not delete {name}'s task: {done.stderr.strip()}")
            found = _EXIT_CODE.search(done.stderr)
            code = int(found.group(1)) if found else (0 if done.returncode == 0 else None)
            self._codes[name] = code
            return code

    def _state(self, name: str) -> tuple[str, int | None]:
        status = self._status(name)
        if status is None:
            with self._lock:
                if name in self._codes:
                    return "exited", self._codes[name]
            raise ObservationError(f"{name} has no task: there is nothing to watch")
        if status == "STOPPED":
            return "exited", self._reap(name)
        return status.lower(), None

    def _until_stopped(self, name: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            if self._state(name)[0] == "exited":
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)

    def stop(self, name: str, grace: int, timeout: float) -> dict[str, Any]:
        """The container's stop signal (:meth:`_stop_signal`), then SIGKILL after ``grace``
        seconds, as ``docker stop``."""
        checked_id(name, "container name")
        began = time.monotonic()
        if self._state(name)[0] != "exited":
            self._ctr("tasks", "kill", f"--signal={self._stop_signal(name)}", "--", name)
            if not self._until_stopped(name, grace):
                self._ctr("tasks", "kill", "--signal=SIGKILL", "--", name)
                if not self._until_stopped(name, max(timeout - grace, 1)):
                    raise ObservationError(f"{name} did not end after SIGKILL")
        took = round(time.monotonic() - began, 3)
        return {"status": self._state(name)[1], "took_s": took}

    def _stop_signal(self, name: str) -> str:
        """The stop signal containerd recorded on the container (its image's), else SIGTERM:
        ``ctr task kill`` sends SIGTERM unless told."""
        import json

        try:
            labels = json.loads(self._ok("containers", "info", "--", name)).get("Labels") or {}
        except ValueError:
            labels = {}
        signal = str(labels.get(STOP_SIGNAL_LABEL) or "SIGTERM")
        return signal if re.fullmatch(r"SIG[A-Z0-9+-]{1,10}|[0-9]{1,2}", signal) else "SIGTERM"

    def wait(self, name: str, until: str, timeout: float, *, contains: str = "") -> dict[str, Any]:
        checked_id(name, "container name")
        began = time.monotonic()
        while True:
            state, code = self._state(name)
            reached = contains in self._output(name) if until == "output" else state == until
            waited = round(time.monotonic() - began, 3)
            if reached or state == "exited" or waited >= timeout:
                return {"reached": reached, "state": state, "status": code, "waited_s": waited}
            time.sleep(_POLL)

    def _output(self, name: str) -> str:
        log = self.logs_dir() / f"{name}.log"
        try:
            with log.open("rb") as handle:
                data = handle.read(OUTPUT_LIMIT + 1)
        except FileNotFoundError:
            return ""
        if len(data) > OUTPUT_LIMIT:
            raise ObservationError(f"the output of {name} was not read whole")
        return data.decode(errors="replace")

    def signal(self, name: str, sig: str) -> dict[str, Any]:
        checked_id(name, "container name")
        if self._state(name)[0] != "exited":
            done = self._ctr("tasks", "kill", f"--signal={sig}", "--", name)
            if done.returncode != 0 and "not found" not in done.stderr:
                raise ObservationError(f"{sig} was not sent to {name}: {done.stderr.strip()}")
        return {"signal": sig, "state": self._state(name)[0]}

    def create_volume(self, name: str) -> None:
        raise ObservationError("containerd has no volumes through ctr")

    def remove_container(self, name: str) -> None:
        """Kill its task, delete it and the container (with its snapshot), if they exist."""
        if not _IDENTIFIER.fullmatch(name):
            return  # never made: ctr would not have taken it
        self._remove(self.namespace, name)
        with self._lock:
            self._made.discard(name)

    def _remove(self, namespace: str, name: str) -> None:
        self._ctr("tasks", "delete", "--force", "--", name, namespace=namespace)
        done = self._ctr("containers", "delete", "--", name, namespace=namespace)
        if done.returncode != 0 and "not found" not in done.stderr:
            raise ObservationError(f"ctr could not remove {name}: {done.stderr.strip()}")

    def remove_image(self, ref: str) -> None:
        pass  # the kind makes no image but the test image, which goes with the namespace

    def remove_volume(self, name: str) -> None:
        pass  # there are no volumes

    def own_namespaces(self, run_id: str | None, keep: frozenset[str]) -> list[str]:
        """The suite's namespaces of ``run_id`` (of every run not in ``keep`` if None): a
        ``cc-`` name and the run label saying the same run; any other is left alone."""
        found = []
        for line in self._ok("namespaces", "ls", namespace="default").splitlines()[1:]:
            fields = line.split(None, 1)
            if not fields or not fields[0].startswith(NAMESPACE_PREFIX):
                continue
            labels = dict(
                label.split("=", 1) for label in (fields[1:] or [""])[0].split(",") if "=" in label
            )
            owner = labels.get(RUN_LABEL, "").strip()
            if not owner or fields[0] != f"{NAMESPACE_PREFIX}{owner}":
                continue
            if (owner == run_id) if run_id is not None else (owner not in keep):
                found.append(fields[0])
        return found

    def remove_objects(
        self, *, run_id: str | None, keep: frozenset[str] = frozenset()
    ) -> list[str]:
        """The run's namespace (every dead run's, with None) and all in it: tasks, containers,
        images; then the namespace, and the empty cgroup directories named after it."""
        removed: list[str] = []
        for namespace in self.own_namespaces(run_id, keep):
            removed += self._clear(namespace)
        return removed

    def _clear(self, namespace: str) -> list[str]:
        removed = []
        for name in self._ok("containers", "ls", "-q", namespace=namespace).split():
            self._remove(namespace, name)
            removed.append(f"container {name}")
        for ref in self._ok("images", "ls", "-q", namespace=namespace).split():
            self._ok("images", "delete", "--sync", "--", ref, timeout=120, namespace=namespace)
            removed.append(f"image {ref} in {namespace}")
        self._ok("namespaces", "remove", "--", namespace, namespace="default")
        removed.append(f"namespace {namespace}")
        removed += remove_cgroups(namespace)
        if namespace == self.namespace:
            with self._lock:
                self._ref = None
        return removed

    def close(self) -> None:
        with self._lock:
            made, self._made = set(self._made), set()
        for name in made:
            with contextlib.suppress(ObservationError, RuntimeUnavailable):
                self._remove(self.namespace, name)
        if self._logs is not None:
            shutil.rmtree(self._logs, ignore_errors=True)
            self._logs = None


def with_logged(done: processes.Finished, logged: LoggedOutput, name: str) -> processes.Finished:
    """What ``ctr`` gave (its own messages, and the status) with the container's output from
    the logger's files. A timed-out run has what was copied so far; ``ctr`` refusing the run
    keeps what it said; otherwise an output whose end is not marked is an error."""
    if done.timed_out or any(line.startswith("ctr: ") for line in done.stderr.splitlines()):
        return done
    stdout, stderr = logged.read(name)
    return processes.Finished(
        done.returncode,
        done.stdout + stdout[:OUTPUT_LIMIT].decode(errors="replace"),
        done.stderr + stderr[:OUTPUT_LIMIT].decode(errors="replace"),
        stdout_truncated=len(stdout) > OUTPUT_LIMIT,
        stderr_truncated=len(stderr) > OUTPUT_LIMIT,
    )


def remove_cgroups(namespace: str, root: Path = Path("/sys/fs/cgroup")) -> list[str]:
    """The cgroup directories containerd made for ``namespace`` (``/sys/fs/cgroup/*/NS``,
    and below), removed once empty; one with a process left stays."""
    checked_id(namespace, "namespace")
    removed = []
    for directory in sorted(root.glob(f"*/{namespace}")):
        if directory.parent.is_symlink() or directory.is_symlink() or not directory.is_dir():
            continue
        below = sorted((p for p in directory.rglob("*") if p.is_dir()), reverse=True)
        for path in [*below, directory]:
            with contextlib.suppress(OSError):
                path.rmdir()
        if not directory.exists():
            removed.append(f"cgroup {directory}")
    return removed


__all__ = ["ContainerdRuntime", "capability_args", "namespace_of", "normalized_ref"]
