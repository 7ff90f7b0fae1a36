"""``container-claims``: a thin command line over the pytest plugin.

``run`` builds pytest arguments and calls :func:`pytest.main`; ``report`` compares results
files; the other commands list runtimes, build the test image, and clean up after a crashed run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from container_claims import packaged
from container_claims import results as verdicts
from container_claims.errors import ClaimsError, InputError
from container_claims.image import DEFAULT_IMAGE
from container_claims.paths import state_dir

if TYPE_CHECKING:
    from container_claims.report.markdown import Regressions
    from container_claims.runtimes.base import RuntimeConfig

DESCRIPTION = """\
Check claims about how containers behave against real container runtimes.

Scenarios (YAML files in scenarios/) say how to start a container, what to type into it and
observe, and which claims to check. Every claim gets a verdict per runtime: pass, fail,
not-applicable or error, with the evidence that was observed.
"""

EXIT_CODES = """\
exit codes: 0 every claim holds or is not applicable; 1 a claim failed; 2 bad input or usage;
3 something could not be observed (engine unreachable, timeout); 130 interrupted. With
--expect, a fail or error the file accepts counts as holding and a claim no longer as expected
as failed; with --baseline, 1 means something regressed since the baseline.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="container-claims",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run", help="check the claims of scenario files on runtimes", **_RUN_PARSER
    )
    _run_options(run)

    report = commands.add_parser(
        "report",
        help="compare results files: claims by runtimes, as HTML, Markdown or text",
        description="Compare results files (written by run --json): a matrix of claims by "
        "runtimes with the evidence of every verdict. Several files merge into one matrix; "
        "where two hold the same claim on the same runtime, the later file wins. Without "
        "--html or --markdown, the matrix is printed.",
        epilog="exit codes: 0 the report was made; 2 a results file is missing or not one, "
        "or a --host that matches no machine in it.",
    )
    report.add_argument(
        "results", nargs="+", metavar="RESULTS.json", help="results files, earliest first"
    )
    report.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="RESULTS.json",
        help="results of an earlier run (repeat to merge several): count, per runtime, the "
        "claims that regressed since (a pass that became a fail or an error), in the first "
        "table of the Markdown and after the matrix ('diff' lists them). A packaged baseline "
        f"goes by its name: {', '.join(packaged.names('baselines')) or 'none packaged'}.",
    )
    _report_options(report)
    _host_option(report)

    expect = commands.add_parser(
        "expect",
        help="start an expectations file from a run's results",
        description="Write a starting expectations file (for run --expect) that accepts every "
        "fail and error of the results given, each with what was observed as a comment and "
        "its reason left TODO: run --expect refuses the file until each reason is written.",
        epilog="exit codes: 0 written; 2 a results file is missing or not one.",
    )
    expect.add_argument(
        "--from",
        dest="sources",
        nargs="+",
        action="extend",
        required=True,
        metavar="RESULTS.json",
        help="results of a run; several merge, later files winning (results/*.json: a CI matrix's)",
    )
    expect.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write it to FILE instead of printing it ('-': stdout)",
    )

    diff = commands.add_parser(
        "diff",
        help="what moved between two runs: regressions, fixes, environment changes",
        description="Compare the results of two runs (e.g. before and after an engine "
        "upgrade), per runtime and claim: pass to fail or error is a regression, fail or error "
        "to pass a fix; claims new or gone, and not-applicable changes. A header says what "
        "changed around the verdicts: engine, containerd and OCI runtime versions, data root, "
        "storage driver, kernel, image id; the end names the machines where something "
        "regressed. Runtimes are matched by name (see --map). Each side may merge several "
        "results files (a CI matrix), later files winning.",
        epilog="exit codes: 0 nothing regressed; 1 something regressed; 2 a results file is "
        "missing or not one, a bad --map, or a --host that matches no machine in them.",
    )
    diff.add_argument("files", nargs="*", metavar="BEFORE.json AFTER.json")
    diff.add_argument(
        "--before",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="more 'before' files",
    )
    diff.add_argument(
        "--after", nargs="+", action="extend", default=[], metavar="FILE", help="more 'after' files"
    )
    _map_option(diff)
    _host_option(diff)
    diff.add_argument("--markdown", metavar="FILE", help="write the diff as Markdown ('-': stdout)")
    diff.add_argument(
        "--json",
        metavar="FILE",
        help="write the diff as JSON (format container-claims-diff/1; '-': stdout)",
    )

    runtimes = commands.add_parser(
        "runtimes",
        help="list the known runtimes, whether they run here, and why not",
        description="List the runtimes of a runtimes file and whether each can run here: "
        "each must answer and start a first container (true) within its start_timeout.",
    )
    runtimes.add_argument("--runtimes-file", metavar="FILE")
    runtimes.add_argument(
        "--image", metavar="REF", help="image to start (default: container-claims/test:bookworm)"
    )

    cleanup = commands.add_parser(
        "cleanup",
        help="remove what crashed or killed runs left behind (never a live run's)",
        description="Remove what runs that are no longer alive left behind: containers, "
        "volumes and images that carry container-claims' run label (on every runtime of the "
        "runtimes file), helper processes, root filesystem copies, temporary directories and "
        "marker files on the host, and on each machine a runtime of the file reaches over "
        "ssh. Objects without the label are never touched, and a run that is still going is "
        "left alone (unless --all).",
        epilog="exit codes: 0 done (runtimes that cannot run here are skipped and named); "
        "3 something could not be removed.",
    )
    cleanup.add_argument("--runtimes-file", metavar="FILE")
    cleanup.add_argument(
        "--all",
        action="store_true",
        dest="all_runs",
        help="also remove the objects of runs that are still going (they will fail)",
    )

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of scenario files, for editors",
        description="Print (or write) the JSON Schema that scenario files are checked against, "
        "so a scenario folder anywhere can point its editor at it: write it beside your "
        "scenarios and start each file with "
        "'# yaml-language-server: $schema=scenario.schema.json'.",
    )
    schema.add_argument(
        "--output", metavar="FILE", help="write it to FILE instead of printing it ('-': stdout)"
    )

    image = commands.add_parser(
        "image", help="the test image", description="Manage the test image."
    )
    image_commands = image.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    build = image_commands.add_parser(
        "build",
        help="build the test image offline (debootstrap + docker import)",
        description=(
            "Build the test image offline: debootstrap a minimal Debian bookworm root filesystem "
            "(kept between builds under $CONTAINER_CLAIMS_HOME, by default "
            "/var/lib/container-claims for root), add the image's markers, and `docker import` "
            'it with CMD ["/bin/bash"]. Does nothing when the tag already holds the current '
            "image. Prints the image id. Exit status: 0 built or current, 2 something the build "
            "needs is missing (debootstrap, root, an answering engine), 3 a step failed."
        ),
    )
    build.add_argument(
        "--tag",
        default=None,
        metavar="REF",
        help=f"image reference to build (default: {DEFAULT_IMAGE})",
    )
    build.add_argument(
        "--force",
        action="store_true",
        help="debootstrap again and re-import even when the image and root filesystem are current",
    )
    return parser


RUN_EPILOG = (
    EXIT_CODES
    + """
pytest's own options may follow as well, anywhere after run: -x, --lf, --co, --maxfail N,
-p NAME, -r CHARS... (those of pytest and of the plugins it loads by their entry points; a
plugin's option pytest learns of otherwise takes its value after '=': --opt=VALUE).
Arguments after -- go to pytest unchanged.

A scenario folder is data: run imports no code from it or from above it (no conftest.py,
test module, package __init__.py or doctest) and reads no pytest configuration there or
where it starts (pytest.ini, tox.ini, setup.cfg, pyproject.toml): container-claims' own
governs the run. PYTEST_ADDOPTS, the user's own, applies.
"""
)

#: How ``run`` is described, as a subcommand and as the parser of its arguments.
_RUN_PARSER: dict[str, Any] = {
    "description": "Check the claims of scenario files on one or more runtimes.",
    "epilog": RUN_EPILOG,
    "formatter_class": argparse.RawDescriptionHelpFormatter,
    # Options are spelled in full, as pytest wants its own: what is not exactly one of run's
    # goes to pytest as written, never taken for one of run's it happens to begin.
    "allow_abbrev": False,
}


def run_parser(
    pytest_options: Mapping[str, argparse.Action] | None = None, *, quick: bool = False
) -> argparse.ArgumentParser:
    """The arguments of ``run``: its own, and ``pytest_options`` (pytest's option strings
    and how many values each takes) collected as they are, in order, for pytest. A
    ``quick`` parser raises :class:`_NotRuns` where another would say what is wrong."""
    parser = (_Quick if quick else argparse.ArgumentParser)(
        prog="container-claims run", **_RUN_PARSER
    )
    _run_options(parser, pytest_options or {})
    return parser


class _NotRuns(Exception):
    """An argument that is not one of run's own (pytest's, or a mistake)."""


class _Quick(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotRuns(message)


def _run_options(
    run: argparse.ArgumentParser, pytest_options: Mapping[str, argparse.Action] | None = None
) -> None:
    run.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="scenario files or folders (default: ./scenarios, or where there is none the "
        "catalogue the package carries)",
    )
    run.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="NAME",
        help="runtime to use; repeat for several (default: the first of the runtimes file; all: every one)",
    )
    run.add_argument("--runtimes-file", metavar="FILE", help="YAML file of runtime configurations")
    run.add_argument(
        "--hosts",
        metavar="URL[,URL...]",
        help="check the chosen runtimes on these machines instead of this one, each reached "
        "over ssh (ssh://[user@]name[:port]), or the hosts of an Ansible inventory "
        "(ansible://PATTERN: a group or host, globs allowed, with --ansible-inventory): one "
        "runtime per machine, named RUNTIME@NAME, side by side. Docker and Podman runtimes",
    )
    run.add_argument("--ssh-config", metavar="FILE", help="an ssh config file for reaching --hosts")
    run.add_argument(
        "--ansible-inventory",
        metavar="FILE",
        help="the Ansible inventory --hosts ansible://PATTERN names hosts of (its hosts' "
        "ansible_host, ansible_port, ansible_user and private key file are used; needs the "
        "ansible extra)",
    )
    run.add_argument(
        "--image", metavar="REF", help="image to run (default: container-claims/test:bookworm)"
    )
    run.add_argument(
        "--allow-host-access",
        action="store_true",
        help="let scenarios open the host to their containers (host network...); without it "
        "such a scenario file is refused with exit 2. Only for files you trust.",
    )
    run.add_argument(
        "--run-deadline",
        metavar="SECONDS",
        type=_seconds,
        help="stop observing after SECONDS: the claims left become errors",
    )
    run.add_argument(
        "--runtime-deadline",
        metavar="SECONDS",
        type=_seconds,
        help="give each runtime at most SECONDS: its claims left become errors",
    )
    run.add_argument(
        "--repeat",
        metavar="N",
        type=_rounds,
        default=1,
        help="run everything N times and report, per claim and runtime, whether the verdict "
        "was the same each time (the exit code counts every round)",
    )
    run.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="FILE",
        help="expected verdicts: a reviewed YAML file of accepted fails and errors, each with "
        "its reason (start one with 'container-claims expect --from RESULTS.json'). A result "
        "as expected does not fail the run; a claim no longer as expected does, and entries "
        "that match nothing are listed. Repeat for several files. A packaged file goes by its "
        f"name: {', '.join(packaged.names('expectations')) or 'none packaged'}.",
    )
    run.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="RESULTS.json",
        help="results of an earlier run (repeat to merge several): print what moved since, "
        "and exit 1 on a regression (a pass that became a fail or an error) instead of on "
        "every fail; with --expect, either one fails the run. A packaged baseline goes by its "
        f"name: {', '.join(packaged.names('baselines')) or 'none packaged'}.",
    )
    _map_option(run)
    run.add_argument("--json", metavar="FILE", help="write verdicts and evidence as JSON")
    run.add_argument("--junitxml", metavar="FILE", help="write a JUnit XML report")
    _report_options(run)
    run.add_argument(
        "-n",
        metavar="N",
        dest="workers",
        help="spread the work over N processes (pytest-xdist; 'auto' = one per core)",
    )
    run.add_argument(
        "-k", metavar="EXPR", dest="keyword", help="only claims matching EXPR (pytest -k)"
    )
    run.add_argument(
        "-x", "--exitfirst", action="store_true", help="stop at the first failure or error"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="one character per claim")
    run.add_argument(
        "--one-runtime-at-a-time",
        action="store_true",
        help="observe the runtimes one after the other (by default, without -n, each runtime's "
        "scenarios run side by side with the others', and the claims report in order)",
    )
    run.set_defaults(pytest_args=[])
    ours = set(run._option_string_actions)
    passed: set[int] = set()
    for action in (pytest_options or {}).values():
        strings = [string for string in action.option_strings if string not in ours]
        if not strings or id(action) in passed:
            continue
        passed.add(id(action))
        run.add_argument(
            *strings,
            action=_ToPytest,
            dest="pytest_args",
            nargs=action.nargs,
            const=_BARE if action.nargs == argparse.OPTIONAL else None,
            default=argparse.SUPPRESS,
            metavar=action.metavar,
            help=argparse.SUPPRESS,
        )


#: The value of an option given without its optional value (``nargs="?"``).
_BARE = object()


class _ToPytest(argparse.Action):
    """One of pytest's options: kept as written, values attached, for pytest to read."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        option = option_string or self.option_strings[0]
        given = list(getattr(namespace, "pytest_args", None) or [])
        if self.nargs == 0 or values is _BARE:
            given.append(option)
        elif isinstance(values, str):  # attached, so a value beginning with - stays a value
            given.append(f"{option}={values}" if option.startswith("--") else option + values)
        else:
            given += [option, *values]
        namespace.pytest_args = given


def pytest_options() -> dict[str, argparse.Action]:
    """pytest's options, and those of the plugins it loads by their entry points, as its own
    parser has them: which take a value. Empty if this pytest keeps them elsewhere (then
    every option unknown to ``run`` goes to pytest as written)."""
    try:
        from _pytest.config import get_config

        config = get_config()
        config.pluginmanager.load_setuptools_entrypoints("pytest11")
        parser: Any = config._parser
        argparser = parser.optparser if hasattr(parser, "optparser") else parser._getparser()
        return dict(argparser._option_string_actions)
    except Exception:  # pytest's own parser is not an API: without it, run still works
        return {}


def parse_run(argv: list[str], after_dashes: list[str]) -> argparse.Namespace:
    """``run``'s arguments: its own options and paths, and pytest's options wherever they
    are, in their order, then ``after_dashes``. pytest's option table is read only when an
    argument is not one of run's (the usual run has none, and starts as fast as before).

    An option neither run nor that table knows (a plugin's that pytest learns of otherwise)
    goes to pytest as written; its value, if any, is attached to it (``--opt=VALUE``), since
    nothing here can tell a value from a path."""
    try:
        args = run_parser(quick=True).parse_intermixed_args(argv)
    except _NotRuns:
        parser = run_parser(pytest_options())
        known = set(parser._option_string_actions)
        foreign = [token for token in argv if _is_option(token) and not _known(token, known)]
        args = parser.parse_intermixed_args([token for token in argv if token not in foreign])
        args.pytest_args = [*args.pytest_args, *foreign]
    args.command = "run"
    args.pytest_args = [*args.pytest_args, *after_dashes]
    return args


def _is_option(token: str) -> bool:
    return token.startswith("-") and token != "-" and not _NUMBER.fullmatch(token)


def _known(token: str, known: set[str]) -> bool:
    """Whether ``token`` is an option of ``known``: ``--name[=value]``, or ``-x`` with
    anything attached (more single-letter flags, or its value)."""
    if token.startswith("--"):
        return token.split("=", 1)[0] in known
    return token[:2] in known


#: What argparse reads as a negative number, not an option.
_NUMBER = re.compile(r"-\d+(\.\d*)?|-\.\d+")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 7 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds above 0 (at most a week)")
    return value


def _rounds(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from 1 to 1000")
    return int(text)


def _map_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="pair a runtime of the earlier results with one of another name "
        "(e.g. docker=docker-26: the same engine before and after an upgrade); repeatable",
    )


def _host_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only the runtimes on machines PATTERN matches: a hostname, the name in an ssh "
        "address (edge-1 of ssh://root@edge-1:22) or the whole address; local is this "
        "machine. A glob (edge-*), case-sensitive; repeat for several",
    )


def _report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="write the comparison as one self-contained HTML page, evidence a click away",
    )
    parser.add_argument(
        "--markdown",
        metavar="FILE",
        help="write the comparison as Markdown for a GitHub job summary or comment ('-': stdout)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # what follows goes to pytest unchanged
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    if argv[:1] == ["run"]:  # its own options, and pytest's wherever they are
        args = parse_run(argv[1:], extra)
    else:
        args = parser.parse_args(argv)
        args.pytest_args = extra
    try:
        if args.command == "run":
            return run(args)
        if args.command == "report":
            return report(args)
        if args.command == "runtimes":
            return list_runtimes(args.runtimes_file, args.image)
        if args.command == "cleanup":
            return cleanup(args.runtimes_file, all_runs=args.all_runs)
        if args.command == "expect":
            return start_expectations(args.sources, args.output)
        if args.command == "diff":
            return diff_results(args)
        if args.command == "schema":
            return write_schema(args.output)
        return build_image(args)
    except InputError as exc:
        print(f"container-claims: {_shown(str(exc))}", file=sys.stderr)
        return verdicts.EXIT_INPUT
    except ClaimsError as exc:
        print(f"container-claims: {_shown(str(exc))}", file=sys.stderr)
        return verdicts.EXIT_UNOBSERVED
    except KeyboardInterrupt:
        return verdicts.EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return verdicts.EXIT_OK


def _shown(text: str, *, lines: bool = True) -> str:
    """Text from files, engines and containers with its control characters shown (the
    reports' own function, imported when something is printed)."""
    from container_claims.report.model import printable

    return printable(text, lines=lines)


class _Outcome:
    """Receives the plugin's results when pytest finishes, and whether it was interrupted."""

    results: Any = None
    interrupted = False

    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True

    def pytest_sessionfinish(self, session: Any) -> None:
        from container_claims.session import SESSION

        self.results = session.config.stash[SESSION].results


#: The pytest configuration of every run (see the file): the package's own.
RUN_CONFIG = Path(__file__).with_name("run.ini")


def as_data(paths: list[str]) -> list[str]:
    """pytest's options that make the scenario folders data: the run imports no code from
    them or from above them, and reads no pytest configuration there or where it starts.

    * ``-c``: the package's own configuration, so pytest looks for no pytest.ini, tox.ini,
      setup.cfg or pyproject.toml (their ``addopts``, ``-p``, ``pythonpath``...);
    * ``--rootdir``: where pytest's own rule puts it when no configuration is found (the
      directory common to the paths and the one the run starts in, or the paths' own when
      they share only ``/``), so the claims' ids stay as they were, without a search;
    * ``--noconftest``: no conftest.py, in the folders or above them (the run needs none:
      the plugin comes from its entry point, the rest from this command line);
    * ``-p no:python``, ``-p no:doctest``: no test module, no package's ``__init__.py``, no
      doctest file is collected, so none is imported or run;
    * the cache (what ``--lf`` reads) in the suite's state directory, one per rootdir, not in
      a folder of data.
    """
    root = _rootdir(paths)
    key = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return [
        "-c", str(RUN_CONFIG), "--rootdir", str(root), "--noconftest",
        "-p", "no:python", "-p", "no:doctest",
        "-o", f"cache_dir={state_dir() / 'pytest-cache' / key}",
    ]  # fmt: skip


def _rootdir(paths: list[str]) -> Path:
    # The packaged catalogue is its own root: its files are named scenarios/NAME.yaml, as in
    # a checkout and in the baselines, wherever the package is installed.
    if all(
        Path(os.path.abspath(path.split("::")[0])).is_relative_to(packaged.ROOT) for path in paths
    ):
        return packaged.ROOT
    folders = [
        target if target.is_dir() else target.parent
        for target in (Path(os.path.abspath(path.split("::")[0])) for path in paths)
    ]
    common = Path(os.path.commonpath(folders))
    root = Path(os.path.commonpath([Path.cwd(), common]))
    return common if root == Path(root.anchor) else root


def pytest_arguments(args: argparse.Namespace, runtimes: list[str]) -> list[str]:
    """The pytest command line of ``run``; ``runtimes`` are the names chosen (at least one,
    so pytest knows this is a claims run and collects scenario files wherever they are)."""
    paths = args.paths or [packaged.default_scenarios()]
    for path in paths:
        if not Path(path.split("::")[0]).exists():  # a file, or a claim in it (FILE::ID)
            raise InputError(f"{path}: no such file or folder (give scenario files or folders)")
    # The plugin's package is imported already (this module), so pytest cannot rewrite its
    # asserts; it has none to rewrite, so the warning would only be noise.
    argv = [*paths, "-W", "ignore::pytest.PytestAssertRewriteWarning", *as_data(paths)]
    for name in args.runtime or runtimes[:1]:
        argv += ["--runtime", name]
    for path in args.expect:
        argv += ["--expect", path]
    for flag, value in (
        ("--runtimes-file", args.runtimes_file),
        ("--image", args.image),
        ("--claims-json", args.json),
        ("--junitxml", args.junitxml),
        ("-n", args.workers),
        ("-k", args.keyword),
        ("--run-deadline", args.run_deadline),
        ("--runtime-deadline", args.runtime_deadline),
    ):
        if value:
            argv += [flag, str(value)]
    if args.junitxml:
        # Each claim's evidence as its system-out, where CI test reporters show it; the
        # terminal already shows it in the claim's report, so not twice.
        argv += ["-o", "junit_logging=system-out", "--show-capture=no"]
    if args.allow_host_access:
        argv.append("--allow-host-access")
    if args.one_runtime_at_a_time:
        argv.append("--one-runtime-at-a-time")
    if args.exitfirst:
        argv.append("-x")
    argv.append("-q" if args.quiet else "-v")
    return argv + list(args.pytest_args)


def run(args: argparse.Namespace) -> int:
    from container_claims.runtimes import load_runtimes_file, select

    # Unknown runtimes and bad runtimes files: one line and exit 2, before pytest starts; the
    # runtimes chosen go to the plugin as they are, not loaded again.
    runtimes_file = Path(args.runtimes_file) if args.runtimes_file else None
    chosen = select(load_runtimes_file(runtimes_file), args.runtime)
    with contextlib.ExitStack() as cleanup:
        if args.hosts:
            chosen = _on_hosts(args, chosen, cleanup)
        elif args.ssh_config or args.ansible_inventory:
            raise InputError("--ssh-config and --ansible-inventory are for --hosts: give them")
        return _run(args, chosen)


def _on_hosts(
    args: argparse.Namespace, chosen: list[RuntimeConfig], cleanup: contextlib.ExitStack
) -> list[RuntimeConfig]:
    """The chosen runtimes once per machine of ``--hosts``; an inventory's hosts through an
    ssh config written for the run, removed when it ends."""
    from container_claims.paths import make_temp_dir
    from container_claims.runtimes import on_hosts
    from container_claims.runtimes.inventory import expand

    hosts = [h for h in args.hosts.split(",") if h]
    ssh_config = args.ssh_config or ""
    if args.ansible_inventory or any(h.startswith("ansible://") for h in hosts):
        directory = make_temp_dir("inventory")
        cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
        hosts, ssh_config = expand(hosts, args.ansible_inventory or "", ssh_config, directory)
    return on_hosts(chosen, hosts, ssh_config)


def _run(args: argparse.Namespace, chosen: list[RuntimeConfig]) -> int:
    import pytest

    from container_claims.expectations import load_expectations
    from container_claims.report import load_comparison
    from container_claims.report.diff import parse_mapping
    from container_claims.session import Choice

    names = [config.name for config in chosen]
    load_expectations([Path(path) for path in args.expect])  # a bad file: exit 2 before any run
    baselines = [packaged.named("baselines", path) for path in args.baseline]
    baseline = load_comparison(baselines) if baselines else None
    mapping = parse_mapping(args.map)
    if mapping and baseline is None:
        raise InputError("--map pairs runtimes of a --baseline: give one")
    for old, new in mapping.items():
        if baseline is not None and old not in baseline.runtimes:
            raise InputError(f"--map {old}={new}: no runtime {old!r} in the baseline")
        if new not in names:
            raise InputError(f"--map {old}={new}: {new!r} is not a runtime of this run")
    rounds: list[Any] = []
    for number in range(1, args.repeat + 1):
        if args.repeat > 1:
            print(f"container-claims: round {number} of {args.repeat}", file=sys.stderr)
        outcome = _Outcome()
        code = pytest.main(pytest_arguments(args, names), plugins=[outcome, Choice(chosen)])
        if outcome.interrupted or outcome.results is None:
            break
        rounds.append(outcome.results)
    if args.html or args.markdown:
        _report_run(args, outcome.results)
    if outcome.interrupted:
        return verdicts.EXIT_INTERRUPTED
    if len(rounds) > 1:
        return _report_stability(args, rounds)
    if outcome.results is not None and (outcome.results.results or outcome.results.input_errors):
        code = int(outcome.results.exit_code())
        if baseline is not None:
            code = _against_baseline(args, baseline, mapping, outcome.results, code)
        return code
    if code == pytest.ExitCode.USAGE_ERROR:
        return verdicts.EXIT_INPUT
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("container-claims: no claims selected: check the paths and -k", file=sys.stderr)
        return verdicts.EXIT_INPUT
    if code == pytest.ExitCode.INTERRUPTED:
        return verdicts.EXIT_INTERRUPTED
    return verdicts.EXIT_UNOBSERVED if code != pytest.ExitCode.OK else verdicts.EXIT_OK


def _report_stability(args: argparse.Namespace, rounds: list[Any]) -> int:
    """``run --repeat``: per claim and runtime, the verdict of every round, and whether it held
    still. Written into the last round's JSON as ``stability``; the exit code counts all."""
    seen: dict[tuple[str, str], list[str]] = {}
    for results in rounds:
        for record in results.to_json()["results"]:
            seen.setdefault((record["claim"], record["runtime"]), []).append(record["verdict"])
    unstable = {
        key: found for key, found in seen.items() if len(set(found)) > 1 or len(found) < len(rounds)
    }
    print(
        f"container-claims: {len(rounds)} rounds: {len(seen) - len(unstable)} of {len(seen)} "
        "claim and runtime pairs gave the same verdict every time"
        + (f"; {len(unstable)} did not:" if unstable else "")
    )
    for (claim, runtime), found in unstable.items():
        print(_shown(f"  unstable: {claim} on {runtime}: {', '.join(found)}", lines=False))
    if args.json:
        last = rounds[-1]
        data = last.to_json()
        data["stability"] = [
            {
                "claim": claim,
                "runtime": runtime,
                "verdicts": found,
                "stable": (claim, runtime) not in unstable,
            }
            for (claim, runtime), found in seen.items()
        ]
        path = Path(args.json)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    return verdicts.worst(int(results.exit_code()) for results in rounds)


def _against_baseline(
    args: argparse.Namespace, baseline: Any, mapping: dict[str, str], results: Any, code: int
) -> int:
    """``run --baseline``: print what moved since the baseline. The gate is then "nothing
    regressed" (a known fail is no reason to fail), joined with --expect's when given."""
    from container_claims.report import compare
    from container_claims.report.diff import diff, diff_lines

    moved = diff(baseline, compare([(args.json or "this run", results.to_json())]), mapping)
    print("\ncontainer-claims: against the baseline")
    for line in diff_lines(moved):
        print(line)
    if results.input_errors:
        return verdicts.EXIT_INPUT
    return verdicts.worst([moved.exit_code(), *([code] if args.expect else [])])


def _report_run(args: argparse.Namespace, results: Any) -> None:
    """``run --html/--markdown``: the report of the run that just finished, from memory."""
    from container_claims.report import compare

    if results is None or not results.results:
        print("container-claims: no results, so no report was written", file=sys.stderr)
        return
    name = args.json or "this run"
    _write_reports(args, compare([(name, results.to_json())]))


def report(args: argparse.Namespace) -> int:
    from container_claims.report import load_comparison
    from container_claims.report.diff import diff
    from container_claims.report.markdown import Regressions
    from container_claims.report.terminal import summary_lines

    comparison = load_comparison([Path(path) for path in args.results], args.host)
    regressions = None
    if args.baseline:
        baseline = load_comparison([packaged.named("baselines", name) for name in args.baseline])
        regressions = Regressions(
            ", ".join(args.baseline), diff(baseline, comparison).regressions()
        )
    if not (args.html or args.markdown):
        for line in summary_lines(comparison.to_results()):
            print(line)
        if regressions is not None:
            counts = ", ".join(f"{name} {n}" for name, n in regressions.counts.items())
            print(_shown(f"regressed since {regressions.baseline}: {counts or 'no runtime'}"))
        for note in comparison.notes:
            print(_shown(f"note: {note}", lines=False))
        return verdicts.EXIT_OK
    _write_reports(args, comparison, regressions)
    return verdicts.EXIT_OK


def _write_reports(
    args: argparse.Namespace, comparison: Any, regressions: Regressions | None = None
) -> None:
    from container_claims.report import render_html, render_markdown, write_report

    size = f"{len(comparison.claims)} claims on {len(comparison.runtimes)} runtimes"
    markdown = functools.partial(render_markdown, regressions=regressions)
    for destination, render in ((args.html, render_html), (args.markdown, markdown)):
        if destination:
            write_report(render(comparison), destination)
            if destination != "-":
                print(f"container-claims: wrote {destination} ({size})", file=sys.stderr)


def start_expectations(sources: list[str], output: str | None) -> int:
    """``expect --from``: every fail and error of the results, as entries to review."""
    from container_claims.expectations import starting_file
    from container_claims.report import load_comparison, write_report
    from container_claims.report.model import reason

    comparison = load_comparison([Path(path) for path in sources])
    problems = [(cell.record, reason(cell)) for _, _, cell in comparison.in_order()]
    text = starting_file(problems, ", ".join(sources))
    write_report(text, output or "-")
    if output not in (None, "-"):
        print(f"container-claims: wrote {output}", file=sys.stderr)
    return verdicts.EXIT_OK


def diff_results(args: argparse.Namespace) -> int:
    """``diff``: what moved between two sets of results; exit 1 on a regression."""
    from container_claims.report import write_report
    from container_claims.report.diff import diff, diff_lines, parse_mapping, render_diff_markdown
    from container_claims.report.model import load_sides

    if len(args.files) not in (0, 2):
        raise InputError(
            f"diff takes BEFORE.json AFTER.json (or --before and --after), not {len(args.files)} "
            "file(s) alone"
        )
    before = args.files[:1] + args.before
    after = args.files[1:] + args.after
    if not before or not after:
        raise InputError("diff needs results on both sides: BEFORE.json AFTER.json")
    old, new = load_sides([[Path(p) for p in before], [Path(p) for p in after]], args.host)
    moved = diff(old, new, parse_mapping(args.map))
    if args.markdown:
        write_report(render_diff_markdown(moved), args.markdown)
    if args.json:
        write_report(json.dumps(moved.to_json(), indent=2) + "\n", args.json)
    if "-" not in (args.markdown, args.json):
        for line in diff_lines(moved):
            print(line)
    return moved.exit_code()


def list_runtimes(runtimes_file: str | None, image: str | None) -> int:
    from container_claims.errors import ObservationError
    from container_claims.runtimes import load_runtimes_file, open_runtime

    configs = load_runtimes_file(Path(runtimes_file) if runtimes_file else None)
    rows = []
    for config in configs:
        with open_runtime(
            config, image=image or DEFAULT_IMAGE, run_id=secrets.token_hex(3)
        ) as runtime:
            try:
                runtime.check()
                runtime.preflight(config.start_timeout)
                versions = runtime.version()
                state = "usable"
                detail = ", ".join(f"{k} {v}" for k, v in versions.items())
            except ObservationError as exc:
                state, detail = "unusable", str(exc)
        rows.append((config.name, config.kind, state, detail, config.description))
    width = max(len(r[0]) for r in rows) + 2
    print(f"{'NAME'.ljust(width)}{'KIND'.ljust(8)}{'STATE'.ljust(10)}VERSIONS, OR WHY NOT")
    for name, kind, state, detail, description in rows:
        print(f"{name.ljust(width)}{kind.ljust(8)}{state.ljust(10)}{_shown(detail, lines=False)}")
        if description:
            print(f"{'':{width}}{_shown(description, lines=False)}")
    return verdicts.EXIT_OK


def cleanup(runtimes_file: str | None, *, all_runs: bool) -> int:
    from container_claims import sweep
    from container_claims.runtimes import load_runtimes_file

    configs = load_runtimes_file(Path(runtimes_file) if runtimes_file else None)
    result = sweep.cleanup(configs, all_runs=all_runs)
    for line in result.removed:
        print(_shown(f"removed {line}"))
    for line in result.skipped + result.given_up + result.problems:
        print(_shown(f"cleanup: {line}"), file=sys.stderr)
    print(
        f"cleanup: {len(result.removed)} object(s) removed"
        + (f", {len(result.skipped)} runtime(s) skipped" if result.skipped else "")
        + (f", {len(result.problems)} could not be removed" if result.problems else "")
    )
    return verdicts.EXIT_UNOBSERVED if result.problems else verdicts.EXIT_OK


def write_schema(output: str | None) -> int:
    from container_claims.scenario.validate import schema

    text = json.dumps(schema(), indent=2) + "\n"
    if output in (None, "-"):
        sys.stdout.write(text)
    else:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write the schema to {output}: {exc.strerror}") from None
        print(f"wrote {output}", file=sys.stderr)
    return verdicts.EXIT_OK


def build_image(args: argparse.Namespace) -> int:
    """Build the test image; its id on stdout, progress on stderr. Errors reach :func:`main`."""
    from container_claims import image

    print(image.build_image(args.tag or DEFAULT_IMAGE, force=args.force))
    return verdicts.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
