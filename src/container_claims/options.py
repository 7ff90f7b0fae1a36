"""The options of a claims run, declared once for both front doors.

``container-claims run`` (:mod:`container_claims.cli.parser`) and ``pytest`` with the plugin
(:func:`container_claims.plugin.pytest_addoption`) both read :data:`RUN_OPTIONS`: the same
spelling, value, check and help, so ``--run-deadline -5`` is the same usage error naming the
option through either door. The plugin spells a few with ``--claims-`` where another pytest
plugin has the word already (pytest-testinfra's ``--hosts``, pytest-html's ``--html``):
:attr:`RunOption.pytest_flag`. One option is the CLI's only (:attr:`RunOption.cli_only`, with
why); the CLI's ``-n``, ``-k``, ``-x``, ``-q`` and ``--junitxml`` are pytest's own.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

from container_claims import packaged
from container_claims.image import DEFAULT_IMAGE

#: The longest deadline: a week.
MAX_SECONDS = 7 * 24 * 3600
#: The most rounds of ``--repeat``.
MAX_ROUNDS = 1000


def seconds(text: str) -> float:
    """A deadline: seconds above 0, at most a week."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds above 0 (at most a week)")
    return value


def rounds(text: str) -> int:
    """How many times to run: a whole number from 1 to :data:`MAX_ROUNDS`."""
    if not text.isdigit() or not 1 <= int(text) <= MAX_ROUNDS:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from 1 to {MAX_ROUNDS}")
    return int(text)


#: The most scenarios of one runtime observed at once in one process (``--jobs``).
MAX_JOBS = 16
#: ``--jobs`` when not given: two per core, within what the runtime's kind allows.
DEFAULT_JOBS = "auto"


def jobs(text: str) -> int | str:
    """How many scenarios of a runtime at once: ``auto``, or a whole number from 1 to
    :data:`MAX_JOBS`."""
    if text == "auto":
        return text
    if not text.isdigit() or not 1 <= int(text) <= MAX_JOBS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give auto or a whole number from 1 to {MAX_JOBS}"
        )
    return int(text)


@dataclasses.dataclass(frozen=True)
class RunOption:
    """One option of a claims run: how it is spelled, what it takes, how it is checked."""

    #: As ``container-claims run`` spells it (its value is ``args.<flag without -->``).
    flag: str
    #: Where pytest keeps it (``config.getoption(dest)``), named apart from other plugins'.
    dest: str
    help: str
    metavar: str | None = None
    #: Turns the text given into the value, or raises :class:`argparse.ArgumentTypeError`.
    check: Callable[[str], Any] | None = None
    #: Given once per value, kept as a list (``--runtime a --runtime b``).
    repeated: bool = False
    #: A switch: given or not.
    switch: bool = False
    default: Any = None
    #: As pytest spells it, where another plugin has run's spelling already.
    pytest_spelling: str | None = None
    #: Why pytest cannot take it, for an option of the CLI's only.
    cli_only: str = ""

    @property
    def pytest_flag(self) -> str:
        return self.pytest_spelling or self.flag

    @property
    def cli_dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def argparse_keywords(self) -> dict[str, Any]:
        """What ``add_argument`` (argparse's, or pytest's ``addoption``) needs, but the flag."""
        if self.switch:
            return {"action": "store_true", "default": False, "help": self.help}
        keywords: dict[str, Any] = {"metavar": self.metavar, "help": self.help}
        if self.check is not None:
            keywords["type"] = self.check
        if self.repeated:
            keywords.update(action="append", default=[])
        else:
            keywords["default"] = self.default
        return keywords

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Declare it on one of the CLI's parsers (``run``, or another command that takes it)."""
        parser.add_argument(self.flag, **self.argparse_keywords())

    def as_pytest_arguments(self, value: Any) -> list[str]:
        """``value`` (as the CLI parsed it) as pytest's command line takes it back."""
        if self.switch:
            return [self.pytest_flag] if value else []
        if self.repeated:
            return [part for each in value for part in (self.pytest_flag, str(each))]
        return [] if value is None else [self.pytest_flag, str(value)]


def _named(kind: str) -> str:
    return ", ".join(packaged.names(kind)) or "none packaged"


RUNTIME = RunOption(
    "--runtime",
    "claims_runtimes",
    "runtime to check the claims on; repeat for several ('all': every one); default: the "
    "first of the runtimes file ('container-claims runtimes' lists them)",
    metavar="NAME",
    repeated=True,
)
RUNTIMES_FILE = RunOption(
    "--runtimes-file",
    "claims_runtimes_file",
    "YAML file of runtime configurations (default: the packaged runtimes.yaml)",
    metavar="FILE",
)
HOSTS = RunOption(
    "--hosts",
    "claims_hosts",
    "check the chosen runtimes on these machines instead of this one, each reached over ssh "
    "(ssh://[user@]name[:port]), or the hosts of an Ansible inventory (ansible://PATTERN: a "
    "group or host, globs allowed, with --ansible-inventory): one runtime per machine, named "
    "RUNTIME@NAME, side by side. Docker and Podman runtimes",
    metavar="URL[,URL...]",
    pytest_spelling="--claims-hosts",
)
SSH_CONFIG = RunOption(
    "--ssh-config",
    "claims_ssh_config",
    "an ssh config file for reaching --hosts",
    metavar="FILE",
    pytest_spelling="--claims-ssh-config",
)
ANSIBLE_INVENTORY = RunOption(
    "--ansible-inventory",
    "claims_ansible_inventory",
    "the Ansible inventory --hosts ansible://PATTERN names hosts of (its hosts' ansible_host, "
    "ansible_port, ansible_user and private key file are used; needs the ansible extra)",
    metavar="FILE",
    pytest_spelling="--claims-ansible-inventory",
)
IMAGE = RunOption(
    "--image",
    "claims_image",
    f"image the scenarios run (default: {DEFAULT_IMAGE}, built by 'container-claims image build')",
    metavar="REF",
)
ALLOW_HOST_ACCESS = RunOption(
    "--allow-host-access",
    "claims_allow_host_access",
    "let scenarios open the host to their containers (host network...); without it such a "
    "scenario file is refused with exit 2. Only for files you trust.",
    switch=True,
)
RUN_DEADLINE = RunOption(
    "--run-deadline",
    "claims_run_deadline",
    "stop observing after SECONDS: the claims left become errors",
    metavar="SECONDS",
    check=seconds,
)
RUNTIME_DEADLINE = RunOption(
    "--runtime-deadline",
    "claims_runtime_deadline",
    "give each runtime at most SECONDS from its first container: its claims left become errors",
    metavar="SECONDS",
    check=seconds,
)
REPEAT = RunOption(
    "--repeat",
    "claims_repeat",
    "run everything N times and report, per claim and runtime, whether the verdict was the "
    "same each time (the exit code counts every round)",
    metavar="N",
    check=rounds,
    default=1,
    cli_only="a pytest run is one session of items; rounds are sessions, which "
    "'container-claims run' starts one after the other",
)
AGAINST = RunOption(
    "--against",
    "claims_against",
    "replay an article (Markdown, HTML or plain text; '-': stdin): draft its shell sessions "
    "into a folder of the run (removed after), run those drafts as they are, and make --html "
    "and --markdown the article's report: per transcript block, per runtime, whether its "
    "output still has its shape. Its claims are unreviewed drafts, and the reports say so. "
    "No scenario paths, --repeat or --baseline with it",
    metavar="ARTICLE",
    cli_only="the article is drafted before pytest starts, and only the run that drafted it "
    "may run its draft claims",
)
EXPECT = RunOption(
    "--expect",
    "claims_expect",
    "expected verdicts: a reviewed YAML file of accepted fails and errors, each with its "
    "reason (start one with 'container-claims expect --from RESULTS.json'). A result as "
    "expected does not fail the run (xfail); a claim no longer as expected does (strict), and "
    "entries that match nothing are listed. Repeat for several files; the first matching entry "
    f"wins. A packaged file goes by its name: {_named('expectations')}.",
    metavar="FILE",
    repeated=True,
)
BASELINE = RunOption(
    "--baseline",
    "claims_baseline",
    "results of an earlier run (repeat to merge several): print what moved since, and exit 1 "
    "on a regression (a pass that became a fail or an error) instead of on every fail; with "
    f"--expect, either one fails the run. A packaged baseline goes by its name: "
    f"{_named('baselines')}.",
    metavar="RESULTS.json",
    repeated=True,
    pytest_spelling="--claims-baseline",
)
MAP = RunOption(
    "--map",
    "claims_map",
    "pair a runtime of the earlier results with one of another name (e.g. docker=docker-26: "
    "the same engine before and after an upgrade); repeatable",
    metavar="OLD=NEW",
    repeated=True,
    pytest_spelling="--claims-map",
)
JSON = RunOption(
    "--json",
    "claims_json",
    "write every verdict with its evidence to FILE as JSON",
    metavar="FILE",
    pytest_spelling="--claims-json",
)
HTML = RunOption(
    "--html",
    "claims_html",
    "write the comparison as one self-contained HTML page, evidence a click away",
    metavar="FILE",
    pytest_spelling="--claims-html",
)
MARKDOWN = RunOption(
    "--markdown",
    "claims_markdown",
    "write the comparison as Markdown for a GitHub job summary or comment ('-': stdout)",
    metavar="FILE",
    pytest_spelling="--claims-markdown",
)
ONE_RUNTIME_AT_A_TIME = RunOption(
    "--one-runtime-at-a-time",
    "claims_one_runtime_at_a_time",
    "observe the runtimes one after the other (by default, without -n, each runtime's "
    "scenarios run side by side with the others', and the claims report in order)",
    switch=True,
)
JOBS = RunOption(
    "--jobs",
    "claims_jobs",
    "observe up to N scenarios of each runtime at once (without -n), each still starting its "
    "containers once, the claims reported in order with the verdicts of one at a time; auto: "
    "two per core. Never more than the kind allows: the engine-less kinds share one root "
    "filesystem copy per process and take one at a time (default auto; 1: one at a time)",
    metavar="N",
    check=jobs,  # no default here: an option left as it was does not ask for claims
    pytest_spelling="--claims-jobs",
)

#: Every option of a claims run, in the order ``run --help`` lists them.
RUN_OPTIONS: tuple[RunOption, ...] = (
    RUNTIME,
    RUNTIMES_FILE,
    HOSTS,
    SSH_CONFIG,
    ANSIBLE_INVENTORY,
    IMAGE,
    ALLOW_HOST_ACCESS,
    RUN_DEADLINE,
    RUNTIME_DEADLINE,
    REPEAT,
    AGAINST,
    EXPECT,
    BASELINE,
    MAP,
    JSON,
    HTML,
    MARKDOWN,
    ONE_RUNTIME_AT_A_TIME,
    JOBS,
)
#: The options pytest takes too.
PYTEST_OPTIONS = tuple(option for option in RUN_OPTIONS if not option.cli_only)
#: The options that choose the runtimes, by the keyword
#: :func:`~container_claims.runtimes.choose_runtimes` takes each as.
CHOOSING: dict[str, RunOption] = {
    "runtimes_file": RUNTIMES_FILE,
    "names": RUNTIME,
    "hosts": HOSTS,
    "ssh_config": SSH_CONFIG,
    "ansible_inventory": ANSIBLE_INVENTORY,
}
#: The options about what the results make once the run is over, which the CLI applies after
#: all its rounds (``--repeat``), and the plugin at the end of its one.
AFTER_THE_RUN: tuple[RunOption, ...] = (BASELINE, MAP, HTML, MARKDOWN)
