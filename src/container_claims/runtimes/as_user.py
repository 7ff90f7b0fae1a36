"""An engine's binary run as another user of this machine (a runtimes entry's ``user``): the
rootless modes of Podman and Docker.

The user comes from the runtimes file, never from a scenario, and is checked there: a plain
user name. Its binary runs under ``setpriv`` with that user's ids and groups, in the
environment that mode reads (``HOME``, ``XDG_RUNTIME_DIR``...), not through a shell and not
through ``runuser``, whose own process would stay between a timeout's SIGKILL and the binary.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from container_claims.errors import RuntimeUnavailable

#: A plain user name, as Debian's adduser takes one by default: no option, no path, no shell
#: word. The runtimes file's schema holds the same pattern.
USER_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
#: Where a user's runtime directory is (``$XDG_RUNTIME_DIR``), by uid, as pam_systemd makes it.
RUNTIME_DIRS = "/run/user"
#: The files that give a user subordinate ids, which a rootless engine maps into its containers.
SUBORDINATE_FILES = ("/etc/subuid", "/etc/subgid")


def plain_user_name(name: str) -> bool:
    """Whether ``name`` is a plain user name (:data:`USER_PATTERN`), and not root's."""
    return bool(re.fullmatch(USER_PATTERN, name)) and name != "root"


@dataclass(frozen=True)
class RunAs:
    """A user of this machine, as an engine's binary runs as it."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def find(cls, name: str) -> RunAs:
        """The user ``name`` of this machine; :class:`RuntimeUnavailable` saying why not."""
        if not plain_user_name(name):
            raise RuntimeUnavailable(f"user {name!r} is not a plain user name")
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise RuntimeUnavailable(
                f"there is no user {name!r} on this machine (scripts/setup --only RUNTIME "
                "creates it)"
            ) from None
        if entry.pw_uid == 0:
            raise RuntimeUnavailable(f"user {name!r} is root: a rootless mode needs another")
        return cls(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir)

    @property
    def runtime_dir(self) -> str:
        return f"{RUNTIME_DIRS}/{self.uid}"

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` as the user's processes get it: its own home, names and runtime directory."""
        return {
            **env,
            "HOME": self.home,
            "USER": self.name,
            "LOGNAME": self.name,
            "XDG_RUNTIME_DIR": self.runtime_dir,
        }

    def argv(self, argv: list[str], path: str | None) -> list[str]:
        """``argv`` run as the user: its binary found on ``path`` (as this process would find
        it), behind ``setpriv`` with the user's uid, gid and groups."""
        binary = shutil.which(argv[0], path=path) or argv[0]
        setpriv = shutil.which("setpriv") or "setpriv"
        return [
            setpriv,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--init-groups",
            "--",
            binary,
            *argv[1:],
        ]

    def service_argv(self, argv: list[str], path: str | None) -> list[str]:
        """:meth:`argv` for a process that must end with the suite (a parent-death signal):
        behind coreutils' ``timeout 0`` (no time limit), which stays this process's child and
        passes the signal on. Rootless Podman joins its user namespace with more capabilities
        than it started with, and the kernel then clears the signal it was given."""
        return [shutil.which("timeout") or "timeout", "0", *self.argv(argv, path)]

    def check(self) -> None:
        """:class:`RuntimeUnavailable` when this machine lacks what the mode needs: the
        user's subordinate ids and its runtime directory."""
        for path in SUBORDINATE_FILES:
            try:
                lines = Path(path).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise RuntimeUnavailable(f"{path} cannot be read: {exc.strerror}") from None
            if not any(line.split(":")[0] in (self.name, str(self.uid)) for line in lines):
                raise RuntimeUnavailable(
                    f"user {self.name!r} has no subordinate ids in {path} (scripts/setup gives "
                    "them)"
                )
        try:
            owner = os.stat(self.runtime_dir).st_uid
        except OSError:
            raise RuntimeUnavailable(
                f"user {self.name!r} has no runtime directory {self.runtime_dir} (scripts/setup "
                "makes it)"
            ) from None
        if owner != self.uid:
            raise RuntimeUnavailable(
                f"{self.runtime_dir} is not user {self.name!r}'s (owner uid {owner})"
            )
        if shutil.which("setpriv") is None:
            raise RuntimeUnavailable("setpriv (util-linux) is needed to run as another user")

    def give(self, path: Path) -> None:
        """Make a directory of the suite's the user's, for the binary to write in."""
        os.chown(path, self.uid, self.gid)


__all__ = ["USER_PATTERN", "RunAs", "plain_user_name"]
