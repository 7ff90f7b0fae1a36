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

or from a shell: ``python -m container_claims.image [--tag TAG] [--force]``.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO

from container_claims.paths import state_dir

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
    "content_hash",
    "export_image",
    "main",
    "rootfs_dir",
    "state_dir",
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
_SUITE = "bookworm"
_VARIANT = "minbase"
_INCLUDE = ("procps",)
_MIRROR = "http://deb.debian.org/debian"
_DEFAULT_CMD = '["/bin/bash"]'  # the same default command as the `ubuntu` image the article runs
_MARKERS: tuple[tuple[str, str, int], ...] = (
    (IMAGE_MARKER_PATH, IMAGE_MARKER_TEXT, 0o644),
    (IMAGE_TOOL_PATH, f"#!/bin/sh\necho '{IMAGE_TOOL_OUTPUT}'\n", 0o755),
)
# Records inside the rootfs how it was made, so a rootfs from other parameters is not reused.
_ROOTFS_STAMP = "/.container-claims-rootfs.json"

_ENGINE_TIMEOUT = 15.0


class ImageError(Exception):
    """Base class: building or copying the test image failed. The message is one line."""

    exit_code = 3


class PrerequisiteError(ImageError):
    """Something the build needs is missing: a program, root, or an answering engine."""

    exit_code = 2


class BuildError(ImageError):
    """A build step ran and failed (debootstrap, tar, ``docker import``, ``save``/``load``)."""

    exit_code = 3


def _log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rootfs_dir() -> pathlib.Path:
    """The Debian bookworm root filesystem the test image is made from, kept between builds.

    It exists only when complete: debootstrap writes into a temporary sibling that is renamed
    into place at the end.
    """
    return state_dir() / "rootfs" / _SUITE


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


def _docker_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if extra:
        env.update(extra)
    return env


def _check_engine(docker_binary: str, env: Mapping[str, str] | None = None) -> str:
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
            env=_docker_env(env),
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
        detail = _last_line(result.stderr) or "no answer"
        raise PrerequisiteError(
            f"Docker ({where}) is not answering ({detail}): start dockerd or run scripts/setup."
        )
    return version


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _image_info(
    tag: str, docker_binary: str, env: Mapping[str, str] | None = None
) -> tuple[str, dict[str, str]] | None:
    """``(id, labels)`` of ``tag`` in the engine, or None when the engine does not have it."""
    result = subprocess.run(
        [docker_binary, "image", "inspect", "--format", "{{json .}}", tag],
        env=_docker_env(env),
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


def _mounts_under(path: pathlib.Path) -> list[str]:
    """Mount points at or below ``path`` in this mount namespace, deepest first."""
    from container_claims.probes.host import mountinfo

    inside = [m["point"] for m in mountinfo() if pathlib.Path(m["point"]).is_relative_to(path)]
    return sorted(inside, key=len, reverse=True)


def _remove_tree(path: pathlib.Path) -> None:
    """Delete a tree we created, after unmounting what a killed debootstrap left mounted in it.

    Removing a tree with a live mount inside would descend into the mounted filesystem (a bind
    of the host's /proc or /dev, say), so mounts are detached first and, if one cannot be,
    the tree is left in place rather than risk deleting files outside it.
    """
    if not path.exists() and not path.is_symlink():
        return
    for point in _mounts_under(path):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
    left = _mounts_under(path)
    if left:
        raise BuildError(f"Could not remove {path}: {left[0]} is still mounted; unmount it.")
    shutil.rmtree(path)


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
    out, errors = _pipe(tar_cmd, import_cmd, env=None)
    if errors:
        raise BuildError(f"Importing {rootfs} as {tag} failed: {errors}")
    image_id = _last_line(out)
    if not image_id.startswith("sha256:"):
        raise BuildError(f"docker import printed no image id for {tag} (got {out.strip()!r}).")
    return image_id


def _pipe(
    producer: Sequence[str], consumer: Sequence[str], env: Mapping[str, str] | None
) -> tuple[str, str]:
    """Run ``producer | consumer``; return (consumer's stdout, '' or a one-line error)."""
    with tempfile.TemporaryFile() as producer_err, tempfile.TemporaryFile() as consumer_err:
        first = subprocess.Popen(
            list(producer),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=producer_err,
            env=_docker_env(env),
        )
        try:
            second = subprocess.Popen(
                list(consumer),
                stdin=first.stdout,
                stdout=subprocess.PIPE,
                stderr=consumer_err,
                env=_docker_env(env),
            )
        except BaseException:
            first.kill()
            first.wait()
            raise
        assert first.stdout is not None
        first.stdout.close()  # the consumer holds the pipe now; lets the producer see EPIPE
        try:
            out, _ = second.communicate()
            first.wait()
        except BaseException:
            for process in (first, second):
                process.kill()
                process.wait()
            raise
        problems = [
            f"{command[0]} {command[1]} exited {process.returncode}: "
            f"{_read_last_line(err) or 'no message'}"
            for command, process, err in (
                (producer, first, producer_err),
                (consumer, second, consumer_err),
            )
            if process.returncode != 0
        ]
        return out.decode(errors="replace"), "; ".join(problems)


def _read_last_line(stream: IO[bytes]) -> str:
    stream.seek(0)
    return _last_line(stream.read().decode(errors="replace"))


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
    _check_engine(docker_binary)
    digest = content_hash()
    if not force:
        existing = _image_info(tag, docker_binary)
        if existing is not None and existing[1].get(CONTENT_LABEL) == digest:
            log(f"image {tag} is current ({existing[0][:19]})")
            return existing[0]
    rootfs = rootfs_dir()
    with _build_lock(rootfs.parent):
        if not force:  # another process may have built it while we waited for the lock
            existing = _image_info(tag, docker_binary)
            if existing is not None and existing[1].get(CONTENT_LABEL) == digest:
                log(f"image {tag} is current ({existing[0][:19]})")
                return existing[0]
        if force or not _rootfs_is_current(rootfs):
            _debootstrap(rootfs, log)
        else:
            log(f"reusing root filesystem {rootfs}")
        _write_markers(rootfs)
        previous = _image_info(tag, docker_binary)
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


def export_image(
    tag: str,
    dest_docker_env: Mapping[str, str],
    *,
    docker_binary: str = "docker",
    log: Callable[[str], None] = _log_stderr,
) -> None:
    """Copy ``tag`` from the default engine into another one: ``docker save | docker load``.

    ``dest_docker_env`` is added to the environment of the ``docker load`` side, for example
    ``{"DOCKER_HOST": "unix:///tmp/x/docker.sock"}``. The image keeps its id; nothing is done
    when the destination already has the same id under that tag.

    Example::

        export_image(DEFAULT_IMAGE, {"DOCKER_HOST": "unix:///run/other/docker.sock"})
    """
    source = _image_info(tag, docker_binary)
    if source is None:
        _check_engine(docker_binary)
        raise PrerequisiteError(
            f"Image {tag!r} is not in the default engine: build it first "
            "(python -m container_claims.image, or scripts/setup)."
        )
    _check_engine(docker_binary, dest_docker_env)
    present = _image_info(tag, docker_binary, dest_docker_env)
    if present is not None and present[0] == source[0]:
        return
    where = dest_docker_env.get("DOCKER_HOST", "the other engine")
    log(f"copying {tag} into {where}")
    # The destination env only goes to `docker load`; `docker save` reads the default engine.
    with tempfile.TemporaryFile() as save_err, tempfile.TemporaryFile() as load_err:
        save = subprocess.Popen(
            [docker_binary, "save", tag],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=save_err,
        )
        try:
            load = subprocess.Popen(
                [docker_binary, "load", "--quiet"],
                stdin=save.stdout,
                stdout=subprocess.DEVNULL,
                stderr=load_err,
                env=_docker_env(dest_docker_env),
            )
        finally:
            assert save.stdout is not None
            save.stdout.close()
        try:
            load.wait()
            save.wait()
        except BaseException:
            for process in (save, load):
                process.kill()
                process.wait()
            raise
        if save.returncode != 0 or load.returncode != 0:
            raise BuildError(
                f"Copying {tag} into {where} failed: docker save exited {save.returncode} "
                f"({_read_last_line(save_err) or 'no message'}), docker load exited "
                f"{load.returncode} ({_read_last_line(load_err) or 'no message'})."
            )
    copied = _image_info(tag, docker_binary, dest_docker_env)
    if copied is None or copied[0] != source[0]:
        raise BuildError(f"After docker load, {where} does not have {tag} with id {source[0]}.")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m container_claims.image [--tag TAG] [--force]``.

    Exit status: 0 built or already current; 2 a prerequisite is missing (debootstrap, root,
    an answering engine); 3 a build step failed; 130 interrupted.
    """
    parser = argparse.ArgumentParser(
        prog="python -m container_claims.image",
        description=(
            "Build the container-claims test image offline: debootstrap a minimal Debian "
            f"bookworm into {rootfs_dir()} (kept between builds; set CONTAINER_CLAIMS_HOME to "
            'move it), add the image markers, and `docker import` it with CMD ["/bin/bash"]. '
            "Does nothing when the tag already holds the current image."
        ),
    )
    parser.add_argument(
        "--tag", default=DEFAULT_IMAGE, help=f"image name to build (default: {DEFAULT_IMAGE})"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="debootstrap again and re-import even if the image and root filesystem are current",
    )
    args = parser.parse_args(argv)
    try:
        image_id = build_image(args.tag, force=args.force)
    except ImageError as error:
        print(f"container_claims.image: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("container_claims.image: interrupted; nothing half-built was kept.", file=sys.stderr)
        return 130
    print(image_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
