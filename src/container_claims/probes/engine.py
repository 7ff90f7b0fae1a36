"""Readings of what the engine knows: containers, images, its root directory, a registry.

Each asks the runtime (whose engine client maps library errors to ours) and adds only what
the host can confirm about the answer (the layer directories really are directories there).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from container_claims.scenario.model import MAIN

if TYPE_CHECKING:
    from container_claims.probes.api import ProbeContext


def info(ctx: ProbeContext) -> dict[str, Any]:
    return dict(ctx.runtime.info())


def container(ctx: ProbeContext, name: str = MAIN) -> dict[str, Any]:
    return dict(ctx.runtime.inspect_container(ctx.names.container(name)))


def image(ctx: ProbeContext, ref: str | None = None) -> dict[str, Any]:
    data = dict(ctx.runtime.inspect_image(ref or ctx.runtime.image))
    if data.get("present"):
        root = ctx.runtime.info().get("root_dir") or ""
        dirs = data.get("layer_dirs", [])
        data["root_dir"] = root
        data["layer_dirs_are_directories"] = bool(dirs) and all(ctx.host.is_dir(d) for d in dirs)
        data["layer_dirs_under_root"] = (
            bool(dirs) and bool(root) and all(os.path.commonpath([root, d]) == root for d in dirs)
        )
    return data


def stage_in_registry(ctx: ProbeContext) -> dict[str, Any]:
    staged = dict(ctx.runtime.stage_in_registry(ctx.services.registry(), ctx.token))
    ctx.defer(lambda: ctx.runtime.remove_image(staged["ref"]))  # the copy a pull brings back
    return staged
