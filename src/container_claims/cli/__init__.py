"""``container-claims``: a thin command line over the pytest plugin.

``run`` (:mod:`.run`) resolves the runtimes, builds pytest arguments and calls
:func:`pytest.main`; ``report``, ``diff`` and ``expect`` compare results files; the other
commands list runtimes, build the test image, clean up after a crashed run, and draft
scenarios from an article (:mod:`.commands`). :mod:`.parser` holds every command's arguments.
"""

from __future__ import annotations

import os
import sys

from container_claims import results as verdicts
from container_claims.cli import commands
from container_claims.cli.commands import shown
from container_claims.cli.parser import build_parser, parse_run
from container_claims.cli.run import run
from container_claims.errors import ClaimsError, InputError


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
            return commands.report(args)
        if args.command == "runtimes":
            return commands.list_runtimes(args.runtimes_file, args.image)
        if args.command == "cleanup":
            return commands.cleanup(args.runtimes_file, all_runs=args.all_runs)
        if args.command == "expect":
            return commands.start_expectations(args.sources, args.output)
        if args.command == "diff":
            return commands.diff_results(args)
        if args.command == "schema":
            return commands.write_schema(args.output)
        if args.command == "draft":
            return commands.draft(args)
        return commands.build_image(args)
    except InputError as exc:
        print(f"container-claims: {shown(str(exc))}", file=sys.stderr)
        return verdicts.EXIT_INPUT
    except ClaimsError as exc:
        print(f"container-claims: {shown(str(exc))}", file=sys.stderr)
        return verdicts.EXIT_UNOBSERVED
    except KeyboardInterrupt:
        return verdicts.EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return verdicts.EXIT_OK


__all__ = ["build_parser", "main", "parse_run"]
