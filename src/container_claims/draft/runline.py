"""A ``docker run`` / ``docker exec`` (or Podman's) command line as the article wrote it:
its options, the image or container it names, and the command after it.

Options are read as Docker's CLI reads them (``docker run --help``, 28.2): long options with
``=`` or a separate value, short ones clustered (``-ti``, ``-itd``, ``-p8080:80``), ``--``
ending them. An option this table does not know is kept, marked unknown: whether it takes
a value is a guess (it takes one only when written ``--opt=value``), and the drafter says so.
Nothing here runs anything: the words are data for the drafter.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from container_claims.draft.prompts import engine_action, operator_word, without_sudo

#: Options that take a value (``docker run --help``; a few of Podman's own at the end).
_VALUED = frozenset(
    [
        "--add-host",
        "--attach",
        "--blkio-weight",
        "--blkio-weight-device",
        "--cap-add",
        "--cap-drop",
        "--cgroup-parent",
        "--cgroupns",
        "--cidfile",
        "--cpu-period",
        "--cpu-quota",
        "--cpu-rt-period",
        "--cpu-rt-runtime",
        "--cpu-shares",
        "--cpus",
        "--cpuset-cpus",
        "--cpuset-mems",
        "--detach-keys",
        "--device",
        "--device-cgroup-rule",
        "--device-read-bps",
        "--device-read-iops",
        "--device-write-bps",
        "--device-write-iops",
        "--dns",
        "--dns-option",
        "--dns-search",
        "--domainname",
        "--entrypoint",
        "--env",
        "--env-file",
        "--expose",
        "--gpus",
        "--group-add",
        "--health-cmd",
        "--health-interval",
        "--health-retries",
        "--health-start-period",
        "--health-timeout",
        "--hostname",
        "--ip",
        "--ip6",
        "--ipc",
        "--isolation",
        "--kernel-memory",
        "--label",
        "--label-file",
        "--link",
        "--link-local-ip",
        "--log-driver",
        "--log-opt",
        "--mac-address",
        "--memory",
        "--memory-reservation",
        "--memory-swap",
        "--memory-swappiness",
        "--mount",
        "--name",
        "--network",
        "--net",
        "--network-alias",
        "--net-alias",
        "--oom-score-adj",
        "--pid",
        "--pids-limit",
        "--platform",
        "--publish",
        "--pull",
        "--restart",
        "--runtime",
        "--security-opt",
        "--shm-size",
        "--stop-signal",
        "--stop-timeout",
        "--storage-opt",
        "--sysctl",
        "--tmpfs",
        "--ulimit",
        "--user",
        "--userns",
        "--uts",
        "--volume",
        "--volume-driver",
        "--volumes-from",
        "--workdir",
        "--pod",
        "--arch",
        "--os",
        "--variant",
        "--uidmap",
        "--gidmap",
        "--cgroups",
        "--systemd",
        "--log-level",
        "--timeout",
        "--secret",
        "--tz",
        "--umask",
        "--requires",
        "--hostuser",
        "--annotation",
        "--personality",
    ]
)
#: Options that take none (``--rm=false`` still gives them one).
_FLAGS = frozenset(
    [
        "--disable-content-trust",
        "--detach",
        "--help",
        "--init",
        "--interactive",
        "--no-healthcheck",
        "--oom-kill-disable",
        "--privileged",
        "--publish-all",
        "--quiet",
        "--read-only",
        "--rm",
        "--sig-proxy",
        "--tty",
        "--use-api-socket",
        "--replace",
        "--rmi",
        "--read-only-tmpfs",
        "--no-hosts",
    ]
)
_SHORT = {
    "a": "--attach",
    "c": "--cpu-shares",
    "d": "--detach",
    "e": "--env",
    "h": "--hostname",
    "i": "--interactive",
    "l": "--label",
    "m": "--memory",
    "p": "--publish",
    "P": "--publish-all",
    "q": "--quiet",
    "t": "--tty",
    "u": "--user",
    "v": "--volume",
    "w": "--workdir",
}
#: Longest engine command line read (continuation lines joined).
MAX_COMMAND_CHARS = 8192


class EngineLineError(ValueError):
    """An engine command line that cannot be read; the message says why, in a few words."""


@dataclass(frozen=True)
class Option:
    """One option as written (``-m``), by its long name (``--memory``), with its value."""

    written: str
    name: str
    value: str | None
    known: bool = True


@dataclass(frozen=True)
class EngineCommand:
    """``docker run [OPTIONS] IMAGE [COMMAND...]`` or ``docker exec [OPTIONS] CONTAINER
    COMMAND...``: ``target`` is the image or the container. ``after`` is what followed a shell
    operator (``| tee log``): the host shell's, not the engine's."""

    engine: str
    action: str
    options: tuple[Option, ...]
    target: str
    command: tuple[str, ...]
    after: str = ""

    def values(self, name: str) -> list[str]:
        return [o.value for o in self.options if o.name == name and o.value is not None]

    def flag(self, name: str) -> bool:
        """Whether a flag is on (the last of ``--rm``, ``--rm=false``... wins)."""
        on = False
        for option in self.options:
            if option.name == name:
                on = option.value is None or option.value.lower() not in ("false", "0")
        return on

    @property
    def interactive(self) -> bool:
        return self.flag("--interactive")

    @property
    def tty(self) -> bool:
        return self.flag("--tty")

    @property
    def detach(self) -> bool:
        return self.flag("--detach")


def parse_engine_line(line: str) -> EngineCommand:
    """The engine command of ``line``; :class:`EngineLineError` when it cannot be read."""
    if len(line) > MAX_COMMAND_CHARS:
        raise EngineLineError(f"longer than {MAX_COMMAND_CHARS:,} characters")
    found = engine_action(line)
    if found is None:
        raise EngineLineError("not a docker or podman run or exec")
    engine, action = found
    try:
        lexer = shlex.shlex(without_sudo(line), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise EngineLineError(str(exc).lower()) from None
    words = words[words.index(action) + 1 :]
    options, rest = _options(words)
    ends = next((i for i, word in enumerate(rest) if operator_word(word)), len(rest))
    rest, after = rest[:ends], " ".join(rest[ends:])
    if not rest:
        raise EngineLineError("no image" if action == "run" else "no container")
    if action == "exec" and len(rest) < 2:
        raise EngineLineError("no command to run in the container")
    return EngineCommand(engine, action, tuple(options), rest[0], tuple(rest[1:]), after)


def _options(words: list[str]) -> tuple[list[Option], list[str]]:
    """The options before the image (or container), and the words from it on."""
    options: list[Option] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            return options, words[index + 1 :]
        if not word.startswith("-") or word == "-" or operator_word(word):
            return options, words[index:]
        if word.startswith("--"):
            name, equals, value = word.partition("=")
            if equals:
                options.append(Option(word, name, value, name in _VALUED or name in _FLAGS))
            elif name in _VALUED:
                if index + 1 >= len(words):
                    raise EngineLineError(f"option {name} has no value")
                index += 1
                options.append(Option(name, name, words[index]))
            else:
                options.append(Option(name, name, None, name in _FLAGS))
        else:
            index = _cluster(words, index, options)
        index += 1
    return options, []


def _cluster(words: list[str], index: int, options: list[Option]) -> int:
    """Short options clustered in ``words[index]`` (``-ti``, ``-p8080:80``); the index of the
    last word they took."""
    word = words[index]
    for at, letter in enumerate(word[1:], 1):
        name = _SHORT.get(letter)
        if name is None:
            options.append(Option(f"-{letter}", f"-{letter}", None, known=False))
            continue
        if name not in _VALUED:
            options.append(Option(f"-{letter}", name, None))
            continue
        attached = word[at + 1 :].removeprefix("=")
        if attached:
            options.append(Option(f"-{letter}", name, attached))
            return index
        if index + 1 >= len(words):
            raise EngineLineError(f"option -{letter} has no value")
        options.append(Option(f"-{letter}", name, words[index + 1]))
        return index + 1
    return index
