"""What a scenario may ask of a runtime: values that stay values, and host access by consent.

Scenario files are untrusted input: shared like code, run as root. Every string a scenario
gives a container (and every observation a template feeds into one) must reach the runtime
as a value, never as one of its options, and nothing may open the host unless the person
running the suite says so on the command line (``--allow-host-access``).

The same rules are applied twice: when a file is loaded, to the values it writes out (a
violation is bad input, ``file:line``), and when a step runs, to the values after templates
were filled in (a violation is an error of that step: an observation fed it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

#: Longest string a scenario may put into one argument, one typed line or one env value.
MAX_ARGUMENT = 64 * 1024
#: Longest text fed to a container's stdin.
MAX_STDIN = 1 << 20

# An image reference as Docker's distribution/reference grammar has it: [domain[:port]/]path
# [:tag][@digest]. It cannot begin with "-", so it can never be read as an option.
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]{1,5})?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@sha256:[0-9a-f]{64})?"
)
USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")
MEMORY = re.compile(r"[0-9]{1,15}[bkmg]?")
TMPFS_SIZE = re.compile(r"[0-9]{1,15}[kmg]?")
TMPFS_MODE = re.compile(r"[0-7]{3,4}")
#: A container of the scenario, by its scenario name.
NAME = re.compile(r"[a-z][a-z0-9_]{0,127}")
CPUS = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,3})?")
HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
LABEL_KEY = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,126}[a-z0-9])?")
CAPABILITY = re.compile(r"[A-Z][A-Z_]{1,30}")
SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGWINCH")
SECURITY_OPTIONS = ("no-new-privileges",)
#: Labels under this prefix are the suite's own (its run label): a scenario may not set them.
OWN_LABELS = "org.container-claims."
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

#: Network modes: none unless a claim needs one; ``host`` opens the host.
NETWORKS = ("none", "bridge", "host")
#: PID namespace modes: a container's own unless a claim needs the host's.
PID_MODES = ("host",)
#: What opens the host on purpose, by field and value: allowed only with --allow-host-access.
HOST_ACCESS = {
    ("network", "host"): "the host's network",
    ("pid", "host"): "the host's processes (its PID namespace)",
}
#: Fields whose every use opens the host: allowed only with --allow-host-access.
HOST_ACCESS_FIELDS = {"cap_add": "the host, through added Linux capabilities,"}


def control_character(text: str, *, allow_newline: bool = False) -> str | None:
    """The first control character in ``text`` (tab allowed), as ``0x..``; None if none."""
    for match in _CONTROL.finditer(text):
        if allow_newline and match.group() == "\n":
            continue
        return f"0x{ord(match.group()):02x}"
    return None


def text_problem(what: str, value: str, *, allow_newline: bool = False) -> str | None:
    """Why ``value`` cannot be one argument of a command line (None when it can)."""
    if len(value) > MAX_ARGUMENT:
        return f"{what} is {len(value):,} characters long; at most {MAX_ARGUMENT:,} are allowed"
    bad = control_character(value, allow_newline=allow_newline)
    if bad is not None:
        return f"{what} holds the control character {bad}; write printable text"
    return None


def _absolute_path_problem(what: str, value: str) -> str | None:
    problem = text_problem(what, value)
    if problem:
        return problem
    if not value.startswith("/"):
        return f"{what} {value!r} is not an absolute path (it must begin with '/')"
    if ".." in value.split("/"):
        return f"{what} {value!r} climbs out with '..'; give the path without it"
    if ":" in value or "," in value:
        return f"{what} {value!r} holds ':' or ','; a runtime would read them as mount options"
    return None


def image_problem(value: str) -> str | None:
    """Why ``value`` is not an image reference (or None when it is one)."""
    if len(value) > 512 or not IMAGE_REFERENCE.fullmatch(value):
        shown = value if len(value) <= 80 else value[:80] + "..."
        return (
            f"image {shown!r} is not an image reference "
            "(like debian:bookworm or 127.0.0.1:5000/name:tag); options are not allowed here"
        )
    return None


def spec_problems(
    fields: Mapping[str, Any], *, allow_host_access: bool, skip: frozenset[str] = frozenset()
) -> Iterator[tuple[str, str]]:
    """``(field, why)`` for each value of a container spec that is refused.

    ``fields`` are a spec's values by their scenario names (``image``, ``command``, ``env``...),
    after or before templates are filled in; fields named in ``skip`` (those still holding a
    template at load time) are left for the second check, when the step runs.
    """

    def given(name: str) -> bool:
        return name in fields and fields[name] is not None and name not in skip

    if given("image"):
        problem = image_problem(str(fields["image"]))
        if problem:
            yield "image", problem
    if given("command"):
        for index, part in enumerate(fields["command"]):
            problem = text_problem(f"command argument {index + 1}", str(part))
            if problem:
                yield "command", problem
                break
    if given("user") and not USER.fullmatch(str(fields["user"])):
        yield (
            "user",
            f"user {str(fields['user'])[:80]!r} is not a user name or id (like 1000 or nobody:nogroup)",
        )
    if given("workdir"):
        problem = _absolute_path_problem("workdir", str(fields["workdir"]))
        if problem:
            yield "workdir", problem
    if given("memory") and not MEMORY.fullmatch(str(fields["memory"])):
        yield "memory", f"memory {str(fields['memory'])[:40]!r} is not a size like 256m"
    if given("cpus") and not CPUS.fullmatch(str(fields["cpus"])):
        yield "cpus", f"cpus {str(fields['cpus'])[:40]!r} is not a number like 0.5"
    if given("pids_limit"):
        value = fields["pids_limit"]
        if isinstance(value, bool) or not str(value).isdigit() or not 0 < int(value) < 2**31:
            yield "pids_limit", f"pids_limit {str(value)[:40]!r} is not a whole number from 1"
    if given("network"):
        network = str(fields["network"])
        if network not in NETWORKS:
            yield "network", f"network {network[:80]!r} is not one of {', '.join(NETWORKS)}"
        elif ("network", network) in HOST_ACCESS and not allow_host_access:
            yield "network", host_access_refusal(HOST_ACCESS[("network", network)])
    if given("pid"):
        pid = str(fields["pid"])
        if pid not in PID_MODES:
            yield "pid", f"pid {pid[:80]!r} is not one of {', '.join(PID_MODES)}"
        elif ("pid", pid) in HOST_ACCESS and not allow_host_access:
            yield "pid", host_access_refusal(HOST_ACCESS[("pid", pid)])
    if given("volumes"):
        for path, read_only in _mounts(fields["volumes"]):
            problem = _absolute_path_problem("volume mount path", str(path))
            if problem:
                yield "volumes", problem
                break
            if not isinstance(read_only, bool):
                yield "volumes", f"read_only of {str(path)[:80]!r} is not true or false"
                break
    if given("anonymous_volumes"):
        for path in fields["anonymous_volumes"]:
            problem = _absolute_path_problem("anonymous volume path", str(path))
            if problem:
                yield "anonymous_volumes", problem
                break
    if given("volumes_from"):
        bad = [str(n) for n in fields["volumes_from"] if not NAME.fullmatch(str(n))]
        if bad:
            yield "volumes_from", f"volumes_from: {bad[0][:80]!r} is not a container's name"
    if given("env"):
        for key, value in _pairs(fields["env"]):
            if not ENV_NAME.fullmatch(str(key)):
                yield (
                    "env",
                    f"environment variable name {str(key)[:80]!r} is not a name (letters, digits, _)",
                )
                break
            problem = text_problem(f"the value of {key}", str(value))
            if problem:
                yield "env", problem
                break
    if given("hostname") and not HOSTNAME.fullmatch(str(fields["hostname"])):
        yield "hostname", f"hostname {str(fields['hostname'])[:80]!r} is not a hostname label"
    if given("tmpfs"):
        for problem in _tmpfs_problems(fields["tmpfs"]):
            yield "tmpfs", problem
            break
    for key in ("cap_add", "cap_drop"):
        if given(key):
            bad = [str(c) for c in fields[key] if not CAPABILITY.fullmatch(str(c))]
            if bad:
                yield key, f"{key}: {bad[0][:40]!r} is not a capability name like NET_ADMIN"
            elif fields[key] and key in HOST_ACCESS_FIELDS and not allow_host_access:
                yield key, host_access_refusal(HOST_ACCESS_FIELDS[key])
    if given("labels"):
        for key, value in _pairs(fields["labels"]):
            if not LABEL_KEY.fullmatch(str(key)):
                yield "labels", f"label key {str(key)[:80]!r} is not a key like com.example.role"
                break
            if str(key).startswith(OWN_LABELS):
                yield "labels", f"label {key!r} is container-claims' own: a scenario cannot set it"
                break
            problem = text_problem(f"the value of label {key}", str(value))
            if problem:
                yield "labels", problem
                break
    if given("stop_signal") and str(fields["stop_signal"]) not in SIGNALS:
        yield (
            "stop_signal",
            f"stop_signal {str(fields['stop_signal'])[:40]!r} is not one of {', '.join(SIGNALS)}",
        )
    if given("shm_size") and not MEMORY.fullmatch(str(fields["shm_size"])):
        yield "shm_size", f"shm_size {str(fields['shm_size'])[:40]!r} is not a size like 64m"
    if given("security_opt"):
        bad = [str(o) for o in fields["security_opt"] if str(o) not in SECURITY_OPTIONS]
        if bad:
            yield (
                "security_opt",
                f"security_opt {bad[0][:60]!r}: only {', '.join(SECURITY_OPTIONS)} is allowed",
            )
    if given("stdin"):
        stdin = str(fields["stdin"])
        if len(stdin) > MAX_STDIN:
            yield (
                "stdin",
                f"stdin is {len(stdin):,} characters long; at most {MAX_STDIN:,} are allowed",
            )
        elif "\0" in stdin:
            yield "stdin", "stdin holds the control character 0x00; write printable text"


def _mounts(value: Any) -> Iterator[tuple[Any, Any]]:
    """``(path, read_only)`` of each item of ``volumes``: a file's mapping (name to a path or
    to ``{path, read_only}``), or the items of a spec whose templates were filled in."""
    for item in value.values() if isinstance(value, Mapping) else value:
        if isinstance(item, Mapping):  # {path, read_only} written, or a Mount's data
            yield item.get("target", item.get("path")), item.get("read_only", False)
        else:
            yield item, False


def _tmpfs_problems(items: Any) -> Iterator[str]:
    for item in items:
        values = item if isinstance(item, Mapping) else {"path": item}
        problem = _absolute_path_problem("tmpfs path", str(values.get("path")))
        if problem:
            yield problem
        size, mode = values.get("size"), values.get("mode")
        if size is not None and not TMPFS_SIZE.fullmatch(str(size)):
            yield f"tmpfs size {str(size)[:40]!r} is not a size like 16m"
        if mode is not None and not TMPFS_MODE.fullmatch(str(mode)):
            yield f"tmpfs mode {str(mode)[:40]!r} is not an octal mode like 1777"


#: A file's name in a declared directory: one name, never '.', '..' or an option.
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}")
FILE_MODE = re.compile(r"0?[0-7]{3}")


def directory_file_problem(name: str, text: str, mode: str | None) -> str | None:
    """Why a declared directory cannot hold the file ``name`` with ``text`` (None if it can)."""
    if not FILE_NAME.fullmatch(name):
        return (
            f"file name {name[:80]!r} is not a plain name "
            "(letters, digits, . _ -; no '/', not beginning with '.' or '-')"
        )
    problem = text_problem(f"the text of {name}", text, allow_newline=True)
    if problem:
        return problem
    if mode is not None and not FILE_MODE.fullmatch(mode):
        return f"mode {mode[:20]!r} of {name} is not an octal mode like 0644"
    return None


def typed_line_problem(text: str) -> str | None:
    """Why ``text`` cannot be typed as one line into a shell (None when it can)."""
    if "\n" in text.rstrip("\n") or "\r" in text:
        return "a typed line is one line: split it into several 'type' steps"
    return text_problem("the typed line", text.rstrip("\n"))


def host_access_refusal(what: str) -> str:
    return (
        f"{what} would be opened to the scenario; the scenario alone cannot ask for that: "
        "run with --allow-host-access if you trust this file"
    )


def _pairs(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, Mapping):
        yield from value.items()
    else:
        for pair in value:
            yield pair[0], pair[1]


#: The Dockerfile instructions a ``build`` step may write: none reads a context or the
#: network (no FROM: the suite writes it; no COPY or ADD; no ARG, ONBUILD or SHELL).
BUILD_INSTRUCTIONS = ("RUN", "ENV", "WORKDIR", "USER", "LABEL", "CMD", "ENTRYPOINT")
#: Longest Dockerfile line a ``build`` step may write.
MAX_BUILD_LINE = 4096
# LABEL as plain key=value pairs: a quote, "$" or "\" could spell the suite's own label key
# in pieces ("org."container-claims".run), which a check of the written text would miss.
_LABEL_LINE = re.compile(r"LABEL(?: [A-Za-z0-9][A-Za-z0-9._-]*=[^\s\"'\\$]*)+")


def build_line_problem(what: str, line: str) -> str | None:
    """Why ``line`` cannot be one instruction of a ``build`` step's Dockerfile (None when it
    can): one instruction of :data:`BUILD_INSTRUCTIONS`, printable, with no flag, no line
    continuation and no here-document, which would read lines the check did not see."""
    if len(line) > MAX_BUILD_LINE:
        return f"{what} is {len(line):,} characters long; at most {MAX_BUILD_LINE:,} are allowed"
    if not line.isprintable():
        bad = next(c for c in line if not c.isprintable())
        return (
            f"{what} holds the character 0x{ord(bad):02x}; write one instruction a line, printable"
        )
    keyword, _, rest = line.partition(" ")
    if keyword not in BUILD_INSTRUCTIONS:
        return (
            f"{what}: {keyword[:20]!r} is not one of {', '.join(BUILD_INSTRUCTIONS)} "
            "(in capitals; the suite writes FROM, and nothing may read a context)"
        )
    if not rest.strip():
        return f"{what}: {keyword} needs its arguments"
    if rest.lstrip().startswith("-"):
        return f"{what}: {keyword} takes no flags here (--mount, --network, --security...)"
    if line.rstrip().endswith("\\"):
        return f"{what} ends in '\\', a line continuation: write one whole instruction a line"
    if "<<" in rest:
        return f"{what} holds '<<', a here-document: write one whole instruction a line"
    if keyword == "LABEL":
        if not _LABEL_LINE.fullmatch(line):
            return f"{what}: LABEL takes key=value pairs without quotes, '$' or '\\'"
        if OWN_LABELS.rstrip(".") in line.lower():
            return f"{what}: labels under {OWN_LABELS} are container-claims' own"
    return None
