"""The image the registry pull stages: a root filesystem of a static busybox and a token.

Built here, as a tar stream for ``docker import``, from the machine's own busybox: whether that
program is static is read from its ELF header, since an image holding busybox alone has no
loader or libraries for a dynamic one.
"""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path

from container_claims.errors import ObservationError

#: The one program in the image the registry pull stages (Debian's ``busybox-static``): being
#: static, it runs in an image that holds nothing else.
BUSYBOX = Path("/bin/busybox")
#: Where that image keeps the run's token; ``scenarios/registry-pull.yaml`` cats it.
PULL_TOKEN_FILE = "etc/container-claims-pull-token"


def pull_image_tar(token: str, busybox: Path = BUSYBOX) -> bytes:
    """The root filesystem of the image the registry pull stages, as a tar stream for
    ``docker import``: ``/bin/busybox`` with ``cat`` and ``sh`` linked to it, and the token.

    About 2 MB, where the test image is 200: the pull then costs what a pull costs, and the
    token (new each run) still makes the image's only layer one no engine has seen. Fixed
    owners and times, so the same token gives the same bytes.
    Raises :class:`ObservationError` naming the package when busybox is missing or dynamic.
    """
    try:
        program = busybox.read_bytes()
    except OSError as exc:
        raise ObservationError(
            f"cannot build the image to pull: {busybox} is missing ({exc.strerror}); "
            "install Debian's busybox-static (scripts/setup does)"
        ) from exc
    if not is_static_elf(program):
        raise ObservationError(
            f"cannot build the image to pull: {busybox} is not a statically linked program "
            "(Debian's busybox?); install busybox-static, which replaces it"
        )
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.size, info.linkname = kind, mode, len(data), link
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("bin", tarfile.DIRTYPE, 0o755)
        add("bin/busybox", tarfile.REGTYPE, 0o755, program)
        add("bin/cat", tarfile.SYMTYPE, 0o777, link="busybox")
        add("bin/sh", tarfile.SYMTYPE, 0o777, link="busybox")
        add("etc", tarfile.DIRTYPE, 0o755)
        add(PULL_TOKEN_FILE, tarfile.REGTYPE, 0o644, f"{token}\n".encode())
    return out.getvalue()


def is_static_elf(program: bytes) -> bool:
    """An ELF executable with no program interpreter (``PT_INTERP``): it needs no loader or
    libraries, which an image of busybox alone does not have."""
    if program[:4] != b"\x7fELF" or program[4] not in (1, 2) or program[5] not in (1, 2):
        return False
    order = "<" if program[5] == 1 else ">"
    try:
        if program[4] == 2:  # 64-bit
            (phoff,) = struct.unpack_from(order + "Q", program, 0x20)
            size, count = struct.unpack_from(order + "HH", program, 0x36)
        else:
            (phoff,) = struct.unpack_from(order + "I", program, 0x1C)
            size, count = struct.unpack_from(order + "HH", program, 0x2A)
        kinds = [
            struct.unpack_from(order + "I", program, phoff + i * size)[0] for i in range(count)
        ]
    except struct.error:  # cut short
        return False
    return 3 not in kinds  # PT_INTERP
