"""``host.find_process`` says whether a container process's parents reach the top of the host's
process tree: its PID 1 on a machine, a process entered from outside the host's PID namespace
in a CI job container (each step is ``docker exec``'d, so its parent is 0), and not when a parent
is gone mid-walk."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from container_claims.probes import host as probes

PIDNS = "pid:[4026532180]"


class StandIn:
    """A host with a process table: PID -> (name, parent PID); PID 30 is the container's shell."""

    def __init__(self, parents: dict[int, tuple[str, int]]) -> None:
        self.parents = parents

    def read_text(self, path: str) -> str:
        pid = int(path.split("/")[2])
        if pid not in self.parents:
            raise FileNotFoundError(path)
        name, ppid = self.parents[pid]
        nspid = "30\t7" if pid == 30 else str(pid)
        return f"Name:\t{name}\nPPid:\t{ppid}\nNSpid:\t{nspid}"

    def read_bytes(self, path: str) -> bytes:
        return b"/bin/bash\0"

    def processes(self) -> list[tuple[int, str, list[int]]]:
        return [(30, PIDNS, [30, 7])]

    def namespaces(self, pid: int | str, kinds: tuple[str, ...]) -> dict[str, str | None]:
        return {kind: f"{kind}:[{1 if pid == 'self' else 2}]" for kind in kinds}


def find(parents: dict[int, tuple[str, int]]) -> dict[str, Any]:
    return probes.find_process(SimpleNamespace(host=StandIn(parents)), PIDNS, "7")  # type: ignore[arg-type]


SHIM = {30: ("bash", 20), 20: ("containerd-shim", 1)}


def test_parents_that_reach_pid1_reach_the_top() -> None:
    found = find({**SHIM, 1: ("systemd", 0)})
    assert [link["pid"] for link in found["ancestry"]] == [30, 20, 1]
    assert (found["reaches_host_pid1"], found["reaches_tree_top"]) == (True, True)


def test_a_step_execd_into_a_job_container_is_a_top_but_not_pid1() -> None:
    found = find({30: ("bash", 20), 20: ("bwrap", 12), 12: ("bash", 0), 1: ("tail", 0)})
    assert [link["pid"] for link in found["ancestry"]] == [30, 20, 12]
    assert found["reaches_host_pid1"] is False
    assert found["reaches_tree_top"] is True


def test_a_parent_gone_mid_walk_is_no_top() -> None:
    found = find({30: ("bash", 20)})
    assert [link["pid"] for link in found["ancestry"]] == [30]
    assert (found["reaches_host_pid1"], found["reaches_tree_top"]) == (False, False)


def test_a_process_with_no_parent_on_the_host_is_no_ordinary_child() -> None:
    found = find({30: ("bash", 0)})
    assert (found["found"], found["reaches_tree_top"]) == (True, False)


def test_a_chain_longer_than_the_walk_is_no_top() -> None:
    parents = {30: ("bash", 100)} | {pid: ("sh", pid + 1) for pid in range(100, 200)}
    assert find(parents)["reaches_tree_top"] is False
