"""Build the suite's test image offline, from a Debian root filesystem.

No public registry is reachable from the machines this suite runs on, so the image that every
scenario starts is made here: ``debootstrap`` writes a minimal Debian bookworm root filesystem
(fetched from Debian's mirror, which *is* reachable), two markers are added to it, and the tree is
fed to ``docker import``. The root filesystem is kept in :func:`rootfs_dir` between builds because
runtimes that need no image store (``unshare`` + ``chroot``, bubblewrap) use it directly.

The markers are what claims such as ``root-listing-is-image-fs`` and ``own-userland`` look for:

* ``/.container-claims-image``: a file that exists in the image and not on the host;
* ``/usr/local/bin/container-claims-image-tool``: a program that exists in the image only.

A build is skipped when the tag already carries the label ``org.container-claims.content`` with
the hash of everything that defines the image (see :func:`content_hash`), so calling
:func:`build_image` before every test session costs one ``docker image inspect``.

Example::

    from container_claims.image import build_image
    image_id = build_image()            # "sha256:..."; a no-op when the image is current

or from a shell: ``container-claims image build [--tag TAG] [--force]``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping

from container_claims import hostfs
from container_claims.errors import ClaimsError, InputError
from container_claims.paths import ROOTFS_SUITE, rootfs_dir
from container_claims.processes import environment, last_line, pipe

__all__ = [
    "CONTENT_LABEL",
    "DEFAULT_IMAGE",
    "IMAGE_LABEL",
    "IMAGE_MARKER_PATH",
    "IMAGE_MARKER_TEXT",
    "IMAGE_TOOL_OUTPUT",
    "IMAGE_TOOL_PATH",
    "BuildError",
    "ImageError",
    "PrerequisiteError",
    "build_image",
    "check_engine",
    "content_hash",
    "image_info",
    "rootfs_dir",
]

DEFAULT_IMAGE = "container-claims/test:bookworm"
"""The tag scenarios run unless told otherwise."""

IMAGE_LABEL = "org.container-claims.test-image"
"""Label set to ``1`` on every image this module builds."""

CONTENT_LABEL = "org.container-claims.content"
"""Label holding :func:`content_hash`; a tag whose label matches is current and not rebuilt."""

IMAGE_MARKER_PATH = "/.container-claims-image"
IMAGE_MARKER_TEXT = "container-claims test image\n"
IMAGE_TOOL_PATH = "/usr/local/bin/container-claims-image-tool"
IMAGE_TOOL_OUTPUT = "container-claims-image-tool 1"

# Everything below feeds content_hash(): change any of it and existing images are rebuilt.
_FORMAT_VERSION = 1
_SUITE = ROOTFS_SUITE
_VARIANT = "minbase"
_INCLUDE = ("procps", "libcap2-bin")  # ps; setcap, getcap and capsh for capability claims
_MIRROR = "http://deb.debian.org/debian"
_DEFAULT_CMD = '["/bin/bash"]'  # the same default command as the `ubuntu` image the article runs
_MARKERS: tuple[tuple[str, str, int], ...] = (
    (IMAGE_MARKER_PATH, IMAGE_MARKER_TEXT, 0o644),
    (IMAGE_TOOL_PATH, f"#!/bin/sh\necho '{IMAGE_TOOL_OUTPUT}'\n", 0o755),
)
# Records inside the rootfs how it was made, so a rootfs from other parameters is not reused.
_ROOTFS_STAMP = "/.container-claims-rootfs.json"

_ENGINE_TIMEOUT = 15.0


class ImageError(ClaimsError):
    """Building or copying the test image failed. The message is one line."""


class PrerequisiteError(ImageError, InputError):
    """Something the build needs is missing: a program, root, or an answering engine (exit 2)."""


class BuildError(ImageError):
    """A build step ran and failed: debootstrap, tar, ``docker import`` (exit 3)."""


def _log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _debootstrap_params() -> dict[str, object]:
    return {
        "suite": _SUITE,
        "variant": _VARIANT,
        "include": list(_INCLUDE),
        "mirror": _MIRROR,
    }


def content_hash() -> str:
    """Hash of everything that defines the image: debootstrap parameters, markers, config.

    Stored as the label :data:`CONTENT_LABEL`; a tag whose label differs is rebuilt.
    """
    spec = {
        "format": _FORMAT_VERSION,
        "debootstrap": _debootstrap_params(),
        "markers": [list(marker) for marker in _MARKERS],
        "cmd": _DEFAULT_CMD,
        "stamp": _ROOTFS_STAMP,
    }
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def check_engine(docker_binary: str, env: Mapping[str, str] | None = None) -> str:
    """Return the server version, or raise PrerequisiteError saying what does not answer."""
    where = (env or {}).get("DOCKER_HOST") or os.environ.get("DOCKER_HOST") or "the default engine"
    if shutil.which(docker_binary) is None:
        raise PrerequisiteError(
            f"The Docker client {docker_binary!r} is not installed: run scripts/setup "
            "(or apt-get install docker.io)."
        )
    try:
        result = subprocess.run(
            [docker_binary, "info", "--format", "{{.ServerVersion}}"],
            env=environment(env),
            capture_output=True,
            text=True,
            timeout=_ENGINE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PrerequisiteError(
            f"Docker ({where}) did not answer within {_ENGINE_TIMEOUT:.0f} s: "
            "start dockerd or run scripts/setup."
        ) from None
    version = result.stdout.strip()
    if result.returncode != 0 or not version:
        detail = last_line(result.stderr) or "no answer"
        raise PrerequisiteError(
            f"Docker ({where}) is not answering ({detail}): start dockerd or run scripts/setup."
        )
    return version


def image_info(
    tag: str, docker_binary: str, env: Mapping[str, str] | None = None
) -> tuple[str, dict[str, str]] | None:
    """``(id, labels)`` of ``tag`` in the engine, or None when the engine does not have it."""
    result = subprocess.run(
        [docker_binary, "image", "inspect", "--format", "{{json .}}", tag],
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        return None
    data = json.loads(result.stdout)
    labels = (data.get("Config") or {}).get("Labels") or {}
    return str(data["Id"]), {str(k): str(v) for k, v in labels.items()}


def _remove_tree(path: pathlib.Path) -> None:
    """Delete a tree of ours, after unmounting what a killed debootstrap left mounted in it."""
    try:
        hostfs.remove_tree(path, unmount=True)
    except OSError as error:
        raise BuildError(str(error)) from None


def _kill_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """End a child started with ``start_new_session=True`` and everything it started."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _rootfs_is_current(rootfs: pathlib.Path) -> bool:
    stamp = rootfs / _ROOTFS_STAMP.lstrip("/")
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(recorded == _debootstrap_params()) and (rootfs / "bin" / "sh").exists()


@contextlib.contextmanager
def _build_lock(directory: pathlib.Path) -> Iterator[None]:
    """Serialise builds (pytest-xdist workers may all ask for the image at once)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".build.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _debootstrap(target: pathlib.Path, log: Callable[[str], None]) -> None:
    """Create ``target`` with debootstrap, atomically: it exists afterwards only if complete."""
    if shutil.which("debootstrap") is None:
        raise PrerequisiteError(
            "debootstrap is not installed: apt-get install debootstrap, or run scripts/setup."
        )
    if os.geteuid() != 0:
        raise PrerequisiteError(
            f"debootstrap needs root to create {target}: run this as root, or run scripts/setup."
        )
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    # Half-made trees of builds that were killed outright; we hold the build lock, so no other
    # build is writing into them.
    for stale in parent.glob(f".{target.name}.tmp-*"):
        log(f"removing {stale} left by an interrupted build")
        _remove_tree(stale)
    log_path = parent / f"{target.name}.debootstrap.log"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it 0700; it becomes the image's /
        command = [
            "debootstrap",
            f"--variant={_VARIANT}",
            f"--include={','.join(_INCLUDE)}",
            _SUITE,
            str(tmp),
            _MIRROR,
        ]
        log(f"debootstrap {_SUITE} ({_VARIANT}) into {target} (about 30 s; log: {log_path})")
        started = time.monotonic()
        with open(log_path, "wb") as log_file:
            # Own session, so that on Ctrl-C or an error we can stop debootstrap and every
            # dpkg it started before deleting the tree they write into.
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                returncode = process.wait()
            finally:
                _kill_group(process)
        if returncode != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            for line in tail[-15:]:
                log(f"  debootstrap: {line}")
            raise BuildError(f"debootstrap failed with exit status {returncode}; see {log_path}.")
        stamp = tmp / _ROOTFS_STAMP.lstrip("/")
        stamp.write_text(json.dumps(_debootstrap_params(), sort_keys=True) + "\n")
        old: pathlib.Path | None = None
        if target.exists():
            old = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-old-", dir=parent))
            target.rename(old / "rootfs")
        tmp.rename(target)
        if old is not None:
            try:
                _remove_tree(old)
            except ImageError as error:
                log(f"warning: the previous root filesystem was kept: {error}")
        log(f"debootstrap done in {time.monotonic() - started:.0f} s")
    except BaseException:
        _remove_tree(tmp)
        raise


def _write_markers(rootfs: pathlib.Path) -> None:
    for path, text, mode in _MARKERS:
        dest = rootfs / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or dest.read_text(encoding="utf-8") != text:
            dest.write_text(text, encoding="utf-8")
        dest.chmod(mode)


def _import(rootfs: pathlib.Path, tag: str, digest: str, docker_binary: str) -> str:
    """``tar -C ROOTFS -c . | docker import -c ... - TAG``; returns the new image id."""
    tar_cmd = ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."]
    import_cmd = [
        docker_binary,
        "import",
        "-c",
        f"CMD {_DEFAULT_CMD}",
        "-c",
        f"LABEL {IMAGE_LABEL}=1",
        "-c",
        f"LABEL {CONTENT_LABEL}={digest}",
        "-",
        tag,
    ]
    out, errors = pipe(tar_cmd, import_cmd)
    if errors:
        raise BuildError(f"Importing {rootfs} as {tag} failed: {errors}")
    image_id = last_line(out)
    if not image_id.startswith("sha256:"):
        raise BuildError(f"docker import printed no image id for {tag} (got {out.strip()!r}).")
    return image_id


def build_image(
    tag: str = DEFAULT_IMAGE,
    *,
    force: bool = False,
    docker_binary: str = "docker",
    log: Callable[[str], None] = _log_stderr,
) -> str:
    """Make sure ``tag`` holds the current test image in the default engine; return its id.

    Skips everything when the tag exists with the current :data:`CONTENT_LABEL`. Otherwise
    debootstraps :func:`rootfs_dir` if it is missing or was made with other parameters, writes
    the markers into it, and imports it with ``CMD ["/bin/bash"]``. ``force`` redoes both the
    root filesystem and the import.

    Raises :class:`PrerequisiteError` when Docker does not answer or debootstrap/root is
    missing, :class:`BuildError` when a step fails.
    """
    check_engine(docker_binary)
    digest = content_hash()
    if not force:
        existing = image_info(tag, docker_binary)
        if existing is not None and existing[1].get(CONTENT_LABEL) == digest:
            log(f"image {tag} is current ({existing[0][:19]})")
            return existing[0]
    rootfs = rootfs_dir()
    with _build_lock(rootfs.parent):
        if not force:  # another process may have built it while we waited for the lock
            existing = image_info(tag, docker_binary)
            if existing is not None and existing[1].get(CONTENT_LABEL) == digest:
                log(f"image {tag} is current ({existing[0][:19]})")
                return existing[0]
        if force or not _rootfs_is_current(rootfs):
            _debootstrap(rootfs, log)
        else:
            log(f"reusing root filesystem {rootfs}")
        _write_markers(rootfs)
        previous = image_info(tag, docker_binary)
        log(f"importing {rootfs} as {tag}")
        image_id = _import(rootfs, tag, digest, docker_binary)
        log(f"built {tag} ({image_id[:19]})")
        if previous is not None and previous[0] != image_id:
            _remove_if_dangling(previous[0], docker_binary)
        return image_id


def _remove_if_dangling(image_id: str, docker_binary: str) -> None:
    """Remove an image the rebuild left without a tag; one that is still tagged elsewhere or
    used by a container stays (``docker image rm`` without ``--force`` refuses the latter)."""
    result = subprocess.run(
        [docker_binary, "image", "inspect", "--format", "{{len .RepoTags}}", image_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode == 0 and result.stdout.strip() == "0":
        subprocess.run(
            [docker_binary, "image", "rm", image_id],
            capture_output=True,
            timeout=60,
            check=False,
        )
