"""Every claim has a runtime configuration under which it must NOT hold: there the suite
must report FAIL (observed, does not hold), never pass and never error.

The configurations are data: tests/controls/runtimes.yaml, plus three made here because they
need a path or an engine of their own (a host directory over /srv, an image to commit into,
a second engine with vfs storage).
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from container_claims.image import DEFAULT_IMAGE
from tests.support.control_engine import ControlEngine

from .conftest import CONTROLS, Run, docker, run_suite

#: claim -> (control runtime, scenario file). One run per control serves all its claims.
NEGATIVE_CONTROLS: dict[str, tuple[str, str]] = {
    "image-pulled-when-missing": ("docker-no-pull", "registry-pull"),
    "tty-allocated-with-t": ("docker-no-tty", "interactive-shell"),
    "stdin-open-with-i": ("docker-no-stdin", "interactive-shell"),
    "command-overrides-default": ("docker-entrypoint", "default-command"),
    "prompt-shows-root-at-hostname": ("docker-user", "interactive-shell"),
    "runs-as-root": ("docker-user", "interactive-shell"),
    "hostname-differs-from-host": ("docker-uts-host", "interactive-shell"),
    "shares-host-kernel": ("docker-gvisor", "interactive-shell"),
    "simultaneous-containers-share-kernel": ("docker-pid-host", "interactive-shell"),
    "root-listing-is-image-fs": ("docker-host-root-cwd", "filesystem"),
    "changes-vanish-after-exit": ("docker-host-srv", "filesystem"),
    "image-unchanged-by-container": ("docker-commit", "filesystem"),
    "copy-on-write-no-full-copy": ("docker-usr-volume", "filesystem"),
    "changes-stored-separately": ("docker-host-srv", "filesystem"),
    "volumes-persist-data": ("docker-no-volumes", "volumes"),
    "images-stored-under-engine-root": ("docker-vfs", "filesystem"),
    "layered-root-filesystem": ("docker-vfs", "filesystem"),
    # The article's own system: runc confines with pivot_root, so this fails on plain Docker.
    "confined-by-chroot": ("docker", "filesystem"),
    "ps-shows-only-shell-and-ps": ("docker-init", "process-namespace"),
    "shell-is-pid-1": ("docker-init", "process-namespace"),
    "host-pid-1-is-init": ("docker-pid-host", "process-namespace"),
    "host-sees-container-process": ("docker-gvisor", "process-namespace"),
    "host-sees-shell-as-root": ("podman-rootless", "docker-run/root-on-the-host"),
    "host-pid-differs": ("docker-pid-host", "process-namespace"),
    "pid-in-both-namespaces": ("docker-pid-host", "process-namespace"),
    "container-cannot-see-host-processes": ("docker-pid-host", "process-namespace"),
    "containers-are-ordinary-processes": ("docker-gvisor", "process-namespace"),
    "per-container-resources": ("docker-limits-everywhere", "resources"),
    "own-userland": ("docker-host-usr", "process-namespace"),
    "exit-stops-and-removes": ("docker-no-rm", "process-namespace"),
    # The docker-run pack: one control leaves out every option it checks.
    **{
        claim: ("docker-options-ignored", "docker-run/options")
        for claim in (
            "hostname-option-sets-hostname",
            "read-only-root-refuses-writes",
            "tmpfs-mounts-a-tmpfs",
            "tmpfs-writable-on-read-only-root",
            "cap-drop-removes-a-capability",
            "cap-drop-all-leaves-none",
            "init-becomes-pid-1",
            "shm-size-sets-dev-shm",
            "no-new-privileges-is-set",
            "env-sets-a-variable",
            "workdir-sets-the-working-directory",
            "user-sets-the-user",
            "network-none-has-only-loopback",
        )
    },
    # The volumes pack: one control leaves out every mount; a commit, a writer that writes.
    **{
        claim: ("docker-mounts-ignored", f"volumes/{scenario}")
        for scenario, claims in (
            (
                "named-volumes",
                (
                    "volume-outlives-its-container",
                    "read-only-volume-refuses-writes",
                    "read-only-volume-can-be-read",
                    "new-volume-is-filled-from-the-image",
                    "volumes-from-shares-the-volumes",
                    "anonymous-volume-is-a-mount-of-its-own",
                ),
            ),
            ("commit", ("commit-leaves-out-the-volume",)),
            (
                "bind-mounts",
                (
                    "bind-mount-shows-the-host-files",
                    "container-writes-reach-the-host",
                    "host-writes-reach-a-running-container",
                    "read-only-bind-refuses-writes",
                    "bind-mount-hides-the-images-files",
                ),
            ),
            (
                "tmpfs",
                (
                    "tmpfs-size-limits-what-it-holds",
                    "tmpfs-size-is-its-capacity",
                    "tmpfs-mode-sets-its-permissions",
                ),
            ),
        )
        for claim in claims
    },
    "commit-keeps-the-containers-changes": ("docker-entrypoint", "volumes/commit"),
    "stop-signal-is-sent-first": ("docker-options-ignored", "docker-run/background"),
    "detached-container-keeps-running": ("docker-entrypoint", "docker-run/lifecycle"),
    "exec-runs-beside-the-main-process": ("docker-pid-host", "docker-run/lifecycle"),
    "stop-kills-after-the-grace-period": ("docker-init", "docker-run/lifecycle"),
    "exit-status-is-kept": ("docker-entrypoint", "docker-run/background"),
    "pid-1-ignores-sigterm-without-a-handler": ("docker-init", "docker-run/background"),
    "detached-output-is-kept": ("docker-entrypoint", "docker-run/background"),
    "labels-are-kept-by-the-engine": ("docker-options-ignored", "docker-run/background"),
    "published-port-reaches-the-container": ("docker-options-ignored", "docker-run/background"),
}
#: Further controls that must also fail a claim (the vfs engine copies the whole image).
ALSO: list[tuple[str, str, str]] = [
    ("copy-on-write-no-full-copy", "docker-vfs", "filesystem"),
    ("changes-stored-separately", "docker-vfs", "filesystem"),
]


class Controls:
    """Runs each control runtime once, over the scenarios its claims need."""

    def __init__(self, tmp: Path, runtimes_file: Path, images: dict[str, str]) -> None:
        self.tmp = tmp
        self.runtimes_file = runtimes_file
        self.images = images  # runtime -> image, where it is not the test image
        self.runs: dict[str, Run] = {}

    def scenarios(self, runtime: str) -> list[str]:
        pairs = [*NEGATIVE_CONTROLS.values(), *((r, s) for _, r, s in ALSO)]
        return sorted({f"scenarios/{s}.yaml" for r, s in pairs if r == runtime})

    def run(self, runtime: str) -> Run:
        if runtime not in self.runs:
            self.runs[runtime] = run_suite(
                *self.scenarios(runtime),
                "--runtimes-file",
                str(self.runtimes_file),
                "--runtime",
                runtime,
                "--image",
                self.images.get(runtime, DEFAULT_IMAGE),
                tmp=self.tmp,
            )
        return self.runs[runtime]


@pytest.fixture(scope="module")
def commit_image(engine: None) -> Iterator[str]:
    """A throwaway tag of the test image that the commit control may overwrite."""
    tag = f"container-claims/control-commit:{secrets.token_hex(4)}"
    docker("tag", DEFAULT_IMAGE, tag)
    yield tag
    for image in docker(
        "images", "-q", "--filter", "label=org.container-claims.control=commit"
    ).split():
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)
    subprocess.run(["docker", "rmi", tag], capture_output=True, check=False)


@pytest.fixture(scope="module")
def vfs_engine(engine: None) -> Iterator[ControlEngine]:
    with ControlEngine() as control:
        yield control


@pytest.fixture(scope="module")
def controls(
    engine: None,
    tmp_path_factory: pytest.TempPathFactory,
    commit_image: str,
    vfs_engine: ControlEngine,
) -> Controls:
    tmp = tmp_path_factory.mktemp("controls")
    srv = tmp / "host-srv"
    srv.mkdir()
    entries = yaml.safe_load((CONTROLS / "runtimes.yaml").read_text())["runtimes"]
    for entry in entries:  # the file's relative binaries, made absolute for its copy
        if "/" in entry.get("binary", "") and not entry["binary"].startswith("/"):
            entry["binary"] = str((CONTROLS / entry["binary"]).resolve())
    entries += [
        {"name": "docker", "kind": "docker"},
        {"name": "docker-host-srv", "kind": "docker", "run_args": ["--volume", f"{srv}:/srv"]},
        {
            "name": "docker-commit",
            "kind": "docker",
            "binary": str(CONTROLS / "docker-filtered"),
            "env": {"CONTROL_COMMIT_TO": commit_image},
        },
        {"name": "docker-vfs", "kind": "docker", "env": vfs_engine.env},
    ]
    runtimes_file = tmp / "runtimes.yaml"
    runtimes_file.write_text(yaml.safe_dump({"runtimes": entries}))
    # The commit control writes into its image: it gets a disposable one.
    return Controls(tmp, runtimes_file, {"docker-commit": commit_image})


CASES = [(claim, runtime, scenario) for claim, (runtime, scenario) in NEGATIVE_CONTROLS.items()]


@pytest.mark.parametrize(
    ("claim", "runtime", "scenario"), CASES + ALSO, ids=[f"{c}[{r}]" for c, r, _ in CASES + ALSO]
)
def test_claim_fails_under_its_negative_control(
    controls: Controls, claim: str, runtime: str, scenario: str
) -> None:
    run = controls.run(runtime)
    record = run.record(claim, runtime)
    assert record["verdict"] == "fail", (record["message"], record["evidence"])
    assert any(not c["ok"] and "error" not in c for c in record["evidence"]["checks"])
    assert run.returncode in (1, 3), run.output[-2000:]


def test_every_claim_has_a_negative_control() -> None:
    from .test_article_on_docker import catalogue

    assert sorted(NEGATIVE_CONTROLS) == sorted(catalogue())
