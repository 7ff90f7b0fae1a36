"""The command line's parsers: every command's arguments, and ``run``'s, which are its own
options (the run options of :mod:`container_claims.options`, declared once for both front
doors) and pytest's, wherever they are on the line."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from container_claims import packaged
from container_claims.draft.article import FORMATS
from container_claims.image import DEFAULT_IMAGE
from container_claims.options import HTML, MAP, MARKDOWN, RUN_OPTIONS

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
    HTML.add_to(report)
    MARKDOWN.add_to(report)
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
    MAP.add_to(diff)
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

    draft = commands.add_parser(
        "draft",
        help="draft scenarios from an article's terminal transcripts",
        description="Read an article (Markdown, HTML or plain text) for its shell sessions: "
        "prompts on the host ($) and in containers (#, root@3c5a8d:/#), the docker run or "
        "podman run that opened each, the commands typed and what they printed. Write one "
        "scenario a session (session-01.yaml...): its container from the run line (the run's "
        "test image, never the article's), a step a command, a draft claim an output, each "
        "marked draft: true. run refuses a draft claim until a person has reviewed it and "
        "removed that line. Prints where it wrote each file, the counts, and every line it "
        "could not place or option it did not know.",
        epilog="exit codes: 0 drafted; 1 a session's draft did not load (a defect of the "
        "drafter, named); 2 the article cannot be read (missing, over 8 MiB, binary, not "
        "UTF-8) or a draft exists already (see --force).",
    )
    draft.add_argument(
        "article", metavar="ARTICLE", help="the article's file ('-': read it from stdin)"
    )
    draft.add_argument(
        "-o",
        "--output",
        default="drafts",
        metavar="DIR",
        help="the folder to write session-NN.yaml into (default: ./drafts, made if missing)",
    )
    draft.add_argument(
        "--force", action="store_true", help="replace drafts already in DIR (else exit 2)"
    )
    draft.add_argument(
        "--format",
        choices=FORMATS,
        help="read the article as this format (default: from its extension, else its text)",
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
pytest's own options may follow as well, anywhere after run: --collect-only (--co), --lf,
--maxfail N, -p NAME, -r CHARS... (those of pytest and of the plugins it loads by their entry points; a
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
    for option in RUN_OPTIONS:
        option.add_to(run)
    # pytest's own options, which run names for its users: they go to pytest as they are.
    run.add_argument("--junitxml", metavar="FILE", help="write a JUnit XML report")
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
