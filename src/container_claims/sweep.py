"""Removing what runs left behind: after a dead run, and for ``container-claims cleanup``.

A run removes its own objects as it goes and sweeps its label at the end. What a killed run,
or one whose engine died, could not remove is named in its ledger
(:mod:`container_claims.ledger`): the next run sweeps it before it starts, and says so.
``cleanup`` does the same, and also removes labelled objects and host markers of any run that
is not alive (all of them with ``all_runs``), on every runtime of the runtimes file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from container_claims import ledger
from container_claims.errors import ClaimsError, RuntimeUnavailable
from container_claims.hostfs import remove_tree
from container_claims.paths import directories_dir, runs_dir
from container_claims.runtimes import open_runtime
from container_claims.runtimes.base import ENGINE_HOST, RuntimeConfig


@dataclass
class Sweep:
    """What a sweep removed, and what it could not (each one line)."""

    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # runtimes that cannot run here
    given_up: list[str] = field(default_factory=list)  # on machines that do not answer


def remove_run_objects(
    config: RuntimeConfig, run_id: str | None, keep: frozenset[str]
) -> list[str]:
    """Labelled objects of ``run_id`` (or of every run not in ``keep``) on one runtime."""
    with open_runtime(config, image="", run_id=run_id or "cleanup") as runtime:
        runtime.check()
        return runtime.remove_objects(run_id=run_id, keep=keep)


def _runtime_entry(data: dict[str, Any], run_id: str) -> list[str]:
    config = RuntimeConfig.from_json(data)
    try:
        return [
            f"{config.name}: {what}" for what in remove_run_objects(config, run_id, frozenset())
        ]
    except RuntimeUnavailable as exc:
        if config.over_ssh:  # another machine that does not answer: not every run's to retry
            raise ledger.GivenUp(
                f"{config.name}: {config.host} does not answer ({exc}); what the run left "
                "there carries its label: 'container-claims cleanup' removes it once the "
                "machine answers"
            ) from None
        if _private_engine_gone(config):
            raise ledger.GivenUp(
                f"{config.name}: its engine is gone with the directory of its socket "
                f"({dict(config.env)['DOCKER_HOST']}), and what it held with it"
            ) from None
        raise RuntimeError(f"{config.name}: {exc}") from None
    except (ClaimsError, KeyError) as exc:
        raise RuntimeError(f"{config.name}: {exc}") from None


def _remote_marker(entry: dict[str, Any], run_id: str) -> list[str]:
    """A dead run's marker file on another machine, removed over ssh, or on the host of an
    engine read through it, removed through that engine."""
    from container_claims.runtimes.remote import SshTarget

    path, host = str(entry.get("path", "")), str(entry["host"])
    if not ledger.is_marker(path):
        return []
    if host == ENGINE_HOST:
        from container_claims.probes.reader import remove_marker

        config = RuntimeConfig.from_json(entry["config"])
        remove_marker(config, str(entry.get("image", "")), path, run_id)
        return [f"file {path} on the host of {config.name}'s engine"]
    try:
        SshTarget.parse(host, str(entry.get("ssh_config", ""))).run(["rm", "-f", "--", path])
    except RuntimeUnavailable as exc:
        raise ledger.GivenUp(
            f"{host} does not answer ({exc}); the marker file {path} may be left there: "
            "'container-claims cleanup' removes it once the machine answers"
        ) from None
    return [f"file {path} on {host}"]


def _remote_markers(config: RuntimeConfig, keep: frozenset[str]) -> list[str]:
    """Marker files of runs not in ``keep`` in ``/`` of a runtime's other machine."""
    from container_claims.runtimes.remote import SshTarget

    target = SshTarget.parse(config.host, config.ssh_config)
    listing = target.run(["ls", "-1A", "/"]).stdout.splitlines()
    gone = [
        f"/{name}"
        for name in listing
        if name.startswith(ledger.MARKER_PREFIX)
        and name[len(ledger.MARKER_PREFIX) :].split("-", 1)[0] not in keep
    ]
    if gone:
        target.run(["rm", "-f", "--", *gone])
    return [f"{config.host}: file {path}" for path in gone]


def _private_engine_gone(config: RuntimeConfig) -> bool:
    """A runtime whose engine answered on a socket of its own (``DOCKER_HOST=unix://...`` in
    its env) whose directory no longer exists: an engine made for a while (a test's second
    engine), gone with its data. The machine's own engine, stopped, keeps its socket's
    directory, and is tried again by the next run."""
    address = dict(config.env).get("DOCKER_HOST", "")
    if not address.startswith("unix://"):
        return False
    return not Path(address.removeprefix("unix://")).parent.exists()


def sweep_dead_runs() -> Sweep:
    """Everything the ledgers of dead runs name; their ledgers go once it is all gone."""
    removed, problems, given_up = ledger.sweep_dead(_runtime_entry, _remote_marker)
    return Sweep(removed, problems, given_up=given_up)


def cleanup(configs: Iterable[RuntimeConfig], *, all_runs: bool) -> Sweep:
    """``container-claims cleanup``: dead runs' leftovers, then labelled objects of runs that
    are not alive (or of every run with ``all_runs``), root filesystem copies, scenarios' host
    directories and markers."""
    result = sweep_dead_runs()
    keep = frozenset() if all_runs else frozenset(ledger.live_run_ids())
    for config in configs:
        try:
            result.removed += [
                f"{config.name}: {what}" for what in remove_run_objects(config, None, keep)
            ]
            if config.over_ssh:
                result.removed += _remote_markers(config, keep)
        except ClaimsError as exc:
            result.skipped.append(f"{config.name}: skipped: {exc}")
    # Root filesystem copies, and scenarios' host directories: each named after its run first.
    copies = [
        found
        for folder in (runs_dir(), directories_dir())
        for found in (sorted(folder.iterdir()) if folder.is_dir() else [])
    ]
    for copy in copies:
        if copy.name.split("-", 1)[0] not in keep:
            try:
                remove_tree(copy)
                result.removed.append(f"host: directory {copy}")
            except OSError as exc:
                result.problems.append(f"host: directory {copy}: {exc}")
    for marker in Path("/").glob(f"{ledger.MARKER_PREFIX}*"):
        owner = marker.name[len(ledger.MARKER_PREFIX) :].split("-", 1)[0]
        if owner not in keep:
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()
                result.removed.append(f"host: file {marker}")
    return result


__all__ = ["Sweep", "cleanup", "sweep_dead_runs"]
