"""Results of twelve runtimes in six families, and one that could not run: made from the
sample's real records (``tests/data/sample-results.json``), for the reports' layout tests.

The runtimes come in an order that mixes the families (as a runtimes file may list them),
so that grouping them is something a report does, not something the data already shows.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample-results.json"

#: name: (kind, family), in the order the results list them.
WIDE = {
    "docker": ("docker", "Docker engine"),
    "podman": ("podman", "Podman"),
    "gvisor": ("docker", "Docker engine"),
    "unshare": ("unshare", "plain namespaces"),
    "containerd": ("containerd", "containerd"),
    "docker-crun": ("docker", "Docker engine"),
    "podman-crun": ("podman", "Podman"),
    "lxc": ("lxc", "lxc"),
    "bwrap": ("bwrap", "plain namespaces"),
    "nspawn": ("nspawn", "nspawn"),
    "docker-rootless": ("docker", "Docker engine"),
    "podman-rootless": ("podman", "Podman"),
}
#: The runtime that could not run, and why.
DOWN, DOWN_REASON = "podman-remote", "cannot reach the Podman service: connection refused"


def wide_results() -> dict[str, Any]:
    """Every record of the sample's three runtimes, again on each of the twelve in turn (so
    each has real evidence and a mix of verdicts), and an error for every claim on
    :data:`DOWN`, whose record says why it could not run."""
    sample = json.loads(SAMPLE.read_text())
    originals = [info["name"] for info in sample["runtimes"]]
    infos = {info["name"]: info for info in sample["runtimes"]}
    runtimes, records = [], []
    for number, (name, (kind, family)) in enumerate(WIDE.items()):
        original = originals[number % len(originals)]
        runtimes.append(
            {**copy.deepcopy(infos[original]), "name": name, "kind": kind, "family": family}
        )
        records += [
            {**copy.deepcopy(r), "runtime": name}
            for r in sample["results"]
            if r["runtime"] == original
        ]
    runtimes.append(
        {
            "name": DOWN,
            "kind": "podman",
            "family": "Podman",
            "binary": "podman",
            "unavailable": DOWN_REASON,
        }
    )
    claims = dict.fromkeys(r["claim"] for r in records)
    example = {r["claim"]: r for r in records}
    records += [
        {
            **example[claim],
            "runtime": DOWN,
            "verdict": "error",
            "message": f"runtime {DOWN!r} cannot run here: {DOWN_REASON}",
            "evidence": {},
        }
        for claim in claims
    ]
    return {**sample, "runtimes": runtimes, "results": records}
