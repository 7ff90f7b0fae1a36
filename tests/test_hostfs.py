"""Removing a tree of ours never reaches through a mount inside it, and the mount table is
read with its escapes undone. The mount tests mount a small tmpfs under pytest's tmp_path
(root only) and unmount it whatever happens."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from container_claims.hostfs import mountinfo, mounts_under, remove_tree


def test_a_plain_tree_is_removed_and_a_missing_one_is_no_error(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "file").write_text("x")
    os.symlink("/etc", tree / "link")  # a link is removed, never followed

    remove_tree(tree)
    remove_tree(tree)

    assert not tree.exists()
    assert Path("/etc/hostname").exists() or Path("/etc").is_dir()


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    tree = tmp_path / "tree"
    point = tree / "with space"
    point.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "cc-test", str(point)], check=True)
    try:
        (point / "outside").write_text("not ours to delete")
        yield tree, point
    finally:
        if str(point) in {m["point"] for m in mountinfo()}:
            subprocess.run(["umount", str(point)], check=True)


def test_the_mount_table_gives_points_with_spaces_as_they_are(
    mounted: tuple[Path, Path],
) -> None:
    tree, point = mounted
    assert mounts_under(tree) == [str(point)]


def test_a_mount_inside_stops_the_removal_and_keeps_what_it_holds(
    mounted: tuple[Path, Path],
) -> None:
    tree, point = mounted

    with pytest.raises(OSError, match="mounted inside"):
        remove_tree(tree)

    assert (point / "outside").read_text() == "not ours to delete"


def test_unmount_detaches_first_then_removes(mounted: tuple[Path, Path]) -> None:
    tree, point = mounted

    remove_tree(tree, unmount=True)

    assert not tree.exists()
    assert mounts_under(tree) == []


def test_a_bind_mount_of_the_same_filesystem_is_seen_too(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("not ours to delete")
    point = tmp_path / "tree" / "bind"
    point.mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(outside), str(point)], check=True)
    try:
        with pytest.raises(OSError, match="mounted inside"):
            remove_tree(tmp_path / "tree")
    finally:
        subprocess.run(["umount", str(point)], check=True)

    assert (outside / "file").read_text() == "not ours to delete"
