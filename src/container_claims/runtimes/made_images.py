"""Images a scenario makes on an engine (``commit`` and ``build`` steps), and their removal.

Both go through the runtime's CLI, as a user's would, under a reference the runner derives
from its own names (never from scenario text). Each image, and each intermediate image of a
build, carries the run label and :data:`MADE_FOR` naming the reference it was made for: the
scenario's cleanup removes by that label what a failed or cut-off build left untagged, and
the sweeps find all of it by the run label.

A build never reaches the network: its FROM is the base image's id, checked present first
(the classic builder pulls only what is missing; Podman is told ``--pull=never``), its RUN
lines run with ``--network=none``, and it has no context (the Dockerfile comes on stdin,
``build -``). Docker's CLI is held to its classic builder (``DOCKER_BUILDKIT=0``): the builder
Debian's docker.io 20.10 uses by default, and the one whose offline behaviour is known here;
Podman builds with its own (Buildah). Docker's RUN lines run under the engine's default OCI
runtime: a runtime entry's ``run_args`` (``--runtime runsc``) are ``run``'s, and Docker's
``build`` has no such option; Podman's RUN lines run under the one the entry names, as its
``build --runtime`` (Podman's default changes with the packages installed).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from container_claims.errors import ObservationError
from container_claims.observations import CommandOutcome
from container_claims.runtimes.base import RUN_LABEL

if TYPE_CHECKING:
    from container_claims.runtimes.docker import DockerRuntime

#: Label naming the reference an image (or a build's intermediate image) was made for.
MADE_FOR = "org.container-claims.image"
#: The Docker CLI's classic builder, whatever the environment prefers.
BUILD_ENV = {"DOCKER_BUILDKIT": "0"}


def _said(outcome: Any) -> str:
    return (outcome.stderr or outcome.output or outcome.detail).strip()[-500:] or "nothing"


def commit(runtime: DockerRuntime, name: str, ref: str, timeout: float) -> Mapping[str, Any]:
    """Container ``name`` committed as ``ref``: ``{"ref", "id"}``."""
    labels = f"LABEL {RUN_LABEL}={runtime.run_id} {MADE_FOR}={ref}"
    outcome = runtime._cli(
        ["commit", f"--change={labels}", "--", name, ref],
        timeout=timeout,
        what=f"committing {name}",
    )
    runtime._refusal(outcome, f"to commit {name}")
    if not outcome.completed or outcome.status != 0:
        raise ObservationError(f"{name} was not committed: {_said(outcome)}")
    return {"ref": ref, "id": image_id(runtime, ref)}


def build(
    runtime: DockerRuntime, base: str, lines: Iterable[str], ref: str, timeout: float
) -> Mapping[str, Any]:
    """``lines`` built on image ``base`` as ``ref``: ``{"ref", "id", "output"}``. A build that
    fails (a RUN line exits non-zero) is an error, not an image."""
    # First the base, labelled: every container the build then makes (Buildah's working
    # containers, left behind when a build is cut off) is of an image labelled as ours, and
    # goes with it; then the lines on it.
    deadline = time.monotonic() + timeout
    outcome = None
    for on, written in ((base, ()), (ref, tuple(lines))):
        left = max(deadline - time.monotonic(), 0.001)
        outcome = _build(runtime, image_id(runtime, on), written, ref, left)
        if not outcome.completed:
            raise ObservationError(f"the build gave no result within {timeout:g} s")
        if outcome.status != 0:
            said = [
                line
                for line in outcome.stderr.splitlines()
                if line.strip() and not line.startswith(("DEPRECATED:", " "))  # the CLI's notice
            ]
            raise ObservationError(
                f"the build failed (exit {outcome.status}): {' '.join(said)[-500:] or 'nothing'}"
            )
    assert outcome is not None
    if outcome.truncated:
        raise ObservationError(f"the build's output was cut off ({outcome.detail})")
    return {"ref": ref, "id": image_id(runtime, ref), "output": outcome.output}


def _build(
    runtime: DockerRuntime, base_id: str, lines: tuple[str, ...], ref: str, timeout: float
) -> CommandOutcome:
    """One ``build`` of ``lines`` on image ``base_id``, labelled, tagged ``ref``."""
    labels = f"LABEL {RUN_LABEL}={runtime.run_id} {MADE_FOR}={ref}"
    return runtime._cli(
        [
            "build",
            "--network=none",
            "--no-cache",  # the RUN lines run in this scenario, not in an earlier one
            "--force-rm",  # a failed RUN's container too
            *runtime.build_options(),
            f"--label={RUN_LABEL}={runtime.run_id}",
            f"--tag={ref}",
            "-",  # the Dockerfile on stdin, and no context
        ],
        timeout=timeout,
        stdin="\n".join([f"FROM {base_id}", labels, *lines, ""]),
        env=BUILD_ENV,
        what="the build",
    )


def image_id(runtime: DockerRuntime, ref: str) -> str:
    """The id of image ``ref``; an error if the engine has no such image."""
    data = runtime.inspect_image(ref)
    if not data.get("present"):
        raise ObservationError(f"the engine has no image {ref}")
    return str(data["id"])


def remove_made(runtime: DockerRuntime, ref: str) -> None:
    """Image ``ref`` and whatever was made for it: a failed build's intermediate images, and
    the container of a RUN line still running in the engine after its build was cut off."""
    client = runtime.client()
    for container in runtime._engine(
        f"the containers made for {ref}",
        client.containers.list,
        all=True,
        filters={"label": f"{MADE_FOR}={ref}"},
    ):
        runtime._kill_and_remove(container)
    images = runtime._engine(
        f"the images made for {ref}", client.images.list, filters={"label": f"{MADE_FOR}={ref}"}
    )
    remove_in_order(runtime, images)
    runtime.remove_image(ref)


def remove_in_order(runtime: DockerRuntime, images: list[Any]) -> list[str]:
    """Remove ``images`` (the SDK's), children before the images they were built on: an
    engine refuses to remove an image that others are built on, so those refused are tried
    again once the others are gone, until a round removes none."""
    removed: list[str] = []
    pending = list(images)
    while pending:
        refused: list[tuple[Any, ObservationError]] = []
        for image in pending:
            try:
                runtime._gone_is_done(
                    f"image {image.short_id}", runtime.client().images.remove, image.id, force=True
                )
                removed.append(f"image {', '.join(image.tags) or image.short_id}")
            except ObservationError as exc:
                refused.append((image, exc))
        if len(refused) == len(pending):
            raise refused[0][1]
        pending = [image for image, _ in refused]
    return removed
