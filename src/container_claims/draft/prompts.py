"""What a line of a transcript is: a prompt and the command typed after it, a ``docker run``
written without a prompt, the start of a here-document.

Prompts, as articles print them:

- on the host: ``$ cmd``, ``% cmd``, ``user@host:~$ cmd``, ``[user@host dir]$ cmd``;
- inside a container: ``# cmd``, ``root@3c5a8d:/# cmd`` (a hostname of hex digits, as Docker
  gives a container), ``/ # cmd`` (busybox);
- ``root@myhost:~# cmd`` (a hostname that is a name) is root on a host.

Read with string methods, each line once: no regular expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["host", "container"]

#: Programs whose command lines start or enter containers (after an optional ``sudo``).
ENGINES = ("docker", "podman")
_RUN_WORDS = (("run",), ("container", "run"), ("exec",), ("container", "exec"))
_HEX = frozenset("0123456789abcdef")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
_PATH_CHARS_EXCLUDED = frozenset(" \t$#")
#: Shell words that end a command's words (the rest is the shell's, not the command's).
_OPERATOR_CHARS = frozenset(";&|<>()")


@dataclass(frozen=True)
class Prompt:
    """A prompt and what was typed after it. ``written`` is the prompt as printed
    (``root@3c5a8d:/#``); ``host`` the hostname it shows, if any."""

    side: Side
    written: str
    command: str
    host: str | None = None
    #: A bare ``#``: the container's, unless the container's session is over (then: whose?).
    bare: bool = False


def is_hex_hostname(name: str) -> bool:
    """A hostname as Docker gives containers: hex digits (12 of them, often cut to 6+)."""
    return 6 <= len(name) <= 64 and all(c in _HEX for c in name)


def prompt_of(text: str) -> Prompt | None:
    """The prompt ``text`` begins with (after indentation), or None."""
    line = text.lstrip(" \t")
    for mark, side in (("$", "host"), ("%", "host"), ("#", "container")):
        if line == mark or line.startswith(mark + " "):
            command = line[2:].strip()
            if mark == "#" and command[:1].isupper():
                return None  # "# Start the container": a shell comment, not root's prompt
            return Prompt(side, mark, command, bare=mark == "#")  # type: ignore[arg-type]
    if line.startswith("["):
        return _bracketed(line)
    if line.startswith("/ # ") or line == "/ #":
        return Prompt("container", "/ #", line[4:].strip())
    return _user_at_host(line)


def _bracketed(line: str) -> Prompt | None:
    """``[user@host dir]$ cmd`` (Red Hat's prompt): always a host's."""
    close = line.find("]", 0, 128)
    if close < 0 or "@" not in line[1:close]:
        return None
    mark, rest = line[close + 1 : close + 2], line[close + 2 :]
    if mark not in ("$", "#") or (rest and not rest.startswith(" ")):
        return None
    host = line[1:close].split("@", 1)[1].split(" ", 1)[0]
    return Prompt("host", line[: close + 2], rest.strip(), host=host)


def _user_at_host(line: str) -> Prompt | None:
    """``user@host:path$ cmd`` or ``user@host:path# cmd``: a container's when the hostname is
    hex digits (Docker's), else a host's."""
    space = line.find(" ")
    token = line if space < 0 else line[:space]
    if len(token) < 5 or token[-1] not in "$#" or len(token) > 256:
        return None
    user, at, rest = token[:-1].partition("@")
    host, colon, path = rest.partition(":")
    if not (at and colon and user and host) or not set(user + host) <= _NAME_CHARS:
        return None
    if any(c in _PATH_CHARS_EXCLUDED for c in path):
        return None
    side: Side = "container" if is_hex_hostname(host) else "host"
    command = "" if space < 0 else line[space + 1 :].strip()
    return Prompt(side, token, command, host=host)


def without_sudo(command: str) -> str:
    """``sudo docker run ...`` is ``docker run ...`` for the drafter."""
    words = command.split(None, 1)
    if words and words[0] == "sudo" and len(words) == 2 and not words[1].startswith("-"):
        return words[1]
    return command


def engine_action(command: str) -> tuple[str, str] | None:
    """``("docker", "run")`` for a ``docker run`` (or ``docker container run``, ``podman
    exec``...) command line, else None."""
    words = without_sudo(command).split(None, 3)
    if len(words) < 2 or words[0] not in ENGINES:
        return None
    for action in _RUN_WORDS:
        if tuple(words[1 : 1 + len(action)]) == action:
            return words[0], action[-1]
    return None


def operator_word(word: str) -> bool:
    """A word the shell reads as an operator (``|``, ``&&``, ``>``...), not an argument."""
    return bool(word) and all(c in _OPERATOR_CHARS for c in word)


@dataclass(frozen=True)
class HereDocStart:
    """``CMD <<EOF``: where ``<<`` is in the command, the delimiter, whether it was quoted
    (the body is then literal) and whether ``<<-`` strips leading tabs."""

    at: int
    delimiter: str
    quoted: bool
    strip_tabs: bool
    #: Where the delimiter word ends in the command.
    end: int


def here_document(command: str) -> HereDocStart | None:
    """The first here-document a command line opens (``<<`` outside quotes, not ``<<<``)."""
    quote = ""
    index = 0
    size = len(command)
    while index < size:
        char = command[index]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                index += 1
        elif char in "'\"":
            quote = char
        elif char == "\\":
            index += 1
        elif command.startswith("<<<", index):
            index += 2  # a here-string: one word, no body
        elif command.startswith("<<", index):
            return _delimiter(command, index)
        index += 1
    return None


def _delimiter(command: str, at: int) -> HereDocStart | None:
    index = at + 2
    strip_tabs = command.startswith("-", index)
    if strip_tabs:
        index += 1
    while index < len(command) and command[index] in " \t":
        index += 1
    quoted = False
    word: list[str] = []
    while index < len(command):
        char = command[index]
        if char in "'\"":
            close = command.find(char, index + 1)
            if close < 0:
                return None
            word.append(command[index + 1 : close])
            quoted = True
            index = close + 1
            continue
        if char == "\\":
            quoted = True
            index += 1
            continue
        if char in " \t" or char in _OPERATOR_CHARS:
            break
        word.append(char)
        index += 1
    delimiter = "".join(word)
    if not delimiter or len(delimiter) > 64:
        return None
    return HereDocStart(at, delimiter, quoted, strip_tabs, index)
