"""The host's mount table, and removing a tree of ours without leaving it through a mount.

One module for what probes, the image builder, the ledger's sweeps and the tests' control
engine all need: :func:`mountinfo` reads ``/proc/PID/mountinfo``; :func:`remove_tree` deletes a
directory the suite made, and refuses to descend into a filesystem mounted inside it (a bind of
the host's ``/proc`` or ``/dev`` that a killed debootstrap or dockerd left behind), so a
removal can never delete files outside the tree.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
from typing import Any

PROC = pathlib.Path("/proc")


def mountinfo(pid: int | str = "self") -> list[dict[str, Any]]:
    """This machine's mount table of a process; ``OSError`` when it cannot be read."""
    return parse_mountinfo((PROC / str(pid) / "mountinfo").read_text(errors="replace"))


def parse_mountinfo(text: str) -> list[dict[str, Any]]:
    """Mounts from a ``mountinfo`` text: device, root, mount point, options, fs type, super
    options."""
    mounts: list[dict[str, Any]] = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        mounts.append(
            {
                "device": fields[2],
                "root": _unescape(fields[3]),
                "point": _unescape(fields[4]),
                "options": fields[5].split(","),
                "fstype": tail[0],
                "super": tail[2] if len(tail) > 2 else "",
            }
        )
    return mounts


def _unescape(text: str) -> str:
    """Mount points with spaces or newlines are written as octal escapes (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def mounts_under(path: pathlib.Path) -> list[str]:
    """Mount points at or below ``path`` in this mount namespace, deepest first."""
    base = path.resolve()  # the table holds absolute paths with no links in them
    inside = [m["point"] for m in mountinfo() if pathlib.Path(m["point"]).is_relative_to(base)]
    return sorted(inside, key=len, reverse=True)


def remove_tree(path: pathlib.Path, *, unmount: bool = False) -> None:
    """Delete a directory of ours; nothing happens when it is already gone.

    With ``unmount``, filesystems mounted inside it are detached first (``umount --lazy``, by
    their exact mount point). A mount that stays, or any mount without ``unmount``, raises
    ``OSError`` and the tree is kept: deleting through it would reach outside.
    """
    if not path.exists() and not path.is_symlink():
        return
    if unmount:
        for point in mounts_under(path):
            subprocess.run(["umount", "--lazy", "--", point], capture_output=True, check=False)
    # The mount table, not device numbers: a bind mount of the same filesystem has the same one.
    left = mounts_under(path)
    if left:
        raise OSError(f"could not remove {path}: {left[0]} is mounted inside; unmount it first")

    def reraise(function: Any, name: str, info: Any) -> None:
        raise info[1]

    try:
        shutil.rmtree(path, onerror=reraise)
    except RecursionError:
        # rmtree recurses once per level: a tree nested deeper (a container can make one in
        # a directory bound into it) goes with rm, which walks it without recursing, stays on
        # this filesystem and follows no link either.
        done = subprocess.run(
            ["rm", "-rf", "--one-file-system", "--", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise OSError(f"could not remove {path}: {done.stderr.strip()[-300:]}") from None
