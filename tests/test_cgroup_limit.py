"""``host.cgroup_limit`` finds a process's cgroup where the cgroup filesystem is mounted: the
whole hierarchy on a machine, the container's own cgroup as the mount's root in a container
that is the host (a CI job's), cgroup v1 and v2."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from container_claims.probes import host as probes

JOB = "/docker/4f1e"
CONTAINER = f"{JOB}/docker/9ab2"


class StandIn:
    """A host of files and one mount table."""

    def __init__(self, files: dict[str, str], mounts: list[dict[str, Any]]) -> None:
        self.files, self.mounts = files, mounts

    def read_text(self, path: str) -> str:
        """Stripped, as HostHandle.read_text gives it."""
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path].strip()

    def exists(self, path: str) -> bool:
        return path in self.files

    def mountinfo(self, pid: int | str = "self") -> list[dict[str, Any]]:
        return self.mounts


def mount(point: str, root: str, fstype: str = "cgroup") -> dict[str, Any]:
    return {"point": point, "root": root, "fstype": fstype}


def limit(stand_in: StandIn) -> str:
    return probes.cgroup_limit(SimpleNamespace(host=stand_in), 42, "memory")  # type: ignore[arg-type]


@pytest.mark.parametrize("root", ["/", JOB], ids=["whole hierarchy", "a job container's"])
def test_v1_reads_the_limit_below_the_mounts_root(root: str) -> None:
    below = CONTAINER.removeprefix(root.rstrip("/"))
    stand_in = StandIn(
        {
            "/proc/42/cgroup": f"5:memory:{CONTAINER}\n4:pids:{CONTAINER}\n",
            f"/sys/fs/cgroup/memory{below}/memory.limit_in_bytes": "67108864\n",
        },
        [mount("/sys/fs/cgroup/pids", root), mount("/sys/fs/cgroup/memory", root)],
    )
    assert limit(stand_in) == "67108864"


@pytest.mark.parametrize("root", ["/", JOB], ids=["whole hierarchy", "a job container's"])
def test_v2_reads_the_limit_below_the_mounts_root(root: str) -> None:
    below = CONTAINER.removeprefix(root.rstrip("/"))
    stand_in = StandIn(
        {
            "/proc/42/cgroup": f"0::{CONTAINER}\n",
            "/sys/fs/cgroup/cgroup.controllers": "memory pids\n",
            f"/sys/fs/cgroup{below}/memory.max": "max\n",
        },
        [mount("/sys/fs/cgroup", root, "cgroup2")],
    )
    assert limit(stand_in) == "max"


def test_a_path_outside_the_mounts_root_is_read_as_given() -> None:
    """The control: a root the path does not begin with changes nothing (and a missing file
    is an error, never a limit)."""
    stand_in = StandIn(
        {"/proc/42/cgroup": "5:memory:/elsewhere/9ab2\n"},
        [mount("/sys/fs/cgroup/memory", JOB)],
    )
    with pytest.raises(FileNotFoundError, match="/sys/fs/cgroup/memory/elsewhere/9ab2/"):
        limit(stand_in)
