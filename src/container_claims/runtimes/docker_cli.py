"""The Docker CLI's words: the ``run`` command line a container spec becomes, and how the
CLI (or the engine behind it), not the container's command, says that it failed. Podman's
CLI speaks the same."""

from __future__ import annotations

from collections.abc import Sequence

from container_claims.scenario.model import ContainerSpec, Tmpfs

#: Exit statuses of ``docker run``/``exec`` (and Podman's) that mean the engine or the CLI
#: failed, not the container's command: 125 the engine refused, 126 the command could not be
#: invoked, 127 it was not found.
REFUSED_STATUSES = (125, 126, 127)
#: What the CLIs print when they, not the container, failed (``docker exec`` exits 1 then).
_CLI_ERRORS = (
    "Error response from daemon:",
    "Cannot connect to the Docker daemon",
    "error during connect:",
    "Error: ",  # podman
)


def is_cli_error(stderr: str) -> bool:
    """Whether a CLI's stderr says that it, or the engine, failed (not the container's command)."""
    return any(line.startswith(_CLI_ERRORS) for line in stderr.splitlines())


def run_argv(
    command: Sequence[str],
    spec: ContainerSpec,
    *,
    name: str,
    image: str,
    label: str,
    registry_flags: Sequence[str] = (),
) -> list[str]:
    """``command`` (``BINARY run`` and the runtime's run arguments) with ``spec``'s options,
    the container's ``name`` and ``label``, ``registry_flags`` (an image in the loopback
    registry), then ``image`` and the spec's command."""
    # Scenario values only ever follow "=" of an option or come after "--", so none can be
    # read as an option of the CLI, whatever it begins with.
    argv = [*command, f"--name={name}", f"--label={label}"]
    argv.append(f"--network={spec.network}")
    if spec.pid is not None:
        argv.append(f"--pid={spec.pid}")
    if spec.detach:
        argv.append("-d")
    if spec.interactive:
        argv.append("-i")
    if spec.tty:
        argv.append("-t")
    if spec.remove and not spec.detach:
        argv.append("--rm")
    for flag, value in (
        ("--user", spec.user),
        ("--workdir", spec.workdir),
        ("--memory", spec.memory),
        ("--pids-limit", spec.pids_limit),
        ("--cpus", spec.cpus),
        ("--hostname", spec.hostname),
        ("--stop-signal", spec.stop_signal),
        ("--shm-size", spec.shm_size),
    ):
        if value is not None:
            argv.append(f"{flag}={value}")
    if spec.read_only:
        argv.append("--read-only")
    if spec.init:
        argv.append("--init")
    argv += [f"--tmpfs={_tmpfs(tmpfs)}" for tmpfs in spec.tmpfs]
    argv += [f"--cap-add={cap}" for cap in spec.cap_add]
    argv += [f"--cap-drop={cap}" for cap in spec.cap_drop]
    argv += [f"--security-opt={option}" for option in spec.security_opt]
    argv += [f"--label={key}={value}" for key, value in spec.labels]
    # Loopback only, at a host port the engine picks: nothing listens beyond this machine.
    argv += [f"--publish=127.0.0.1::{port}" for port in spec.ports]
    for key, value in spec.env:
        argv.append(f"--env={key}={value}")
    # A volume's engine name or a directory's host path (the suite's own), then the path.
    for mount in spec.volumes:
        argv.append(f"--volume={mount.source}:{mount.target}{':ro' if mount.read_only else ''}")
    argv += [f"--volume={path}" for path in spec.anonymous_volumes]
    argv += [f"--volumes-from={name}" for name in spec.volumes_from]
    argv += registry_flags
    argv += ["--", image]
    if spec.command:
        argv += list(spec.command)
    return argv


def _tmpfs(tmpfs: Tmpfs) -> str:
    """``PATH[:size=SIZE,mode=MODE]``, as ``--tmpfs`` takes it."""
    options = [
        f"{key}={value}" for key, value in (("size", tmpfs.size), ("mode", tmpfs.mode)) if value
    ]
    return tmpfs.path + (":" + ",".join(options) if options else "")
