"""The commands of ``container-claims`` but ``run``: compare results (``report``, ``diff``),
start an expectations file, list runtimes, clean up, print the schema, draft scenarios from
an article, build the image."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

from container_claims import packaged
from container_claims import results as verdicts
from container_claims.errors import InputError
from container_claims.image import DEFAULT_IMAGE


def shown(text: str, *, lines: bool = True) -> str:
    """Text from files, engines and containers with its control characters shown (the
    reports' own function, imported when something is printed)."""
    from container_claims.report.text import printable

    return printable(text, lines=lines)


def report(args: argparse.Namespace) -> int:
    from container_claims.report import load_comparison
    from container_claims.report.diff import diff
    from container_claims.report.markdown import Regressions
    from container_claims.report.terminal import summary_lines
    from container_claims.run_outputs import write_reports

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
            print(shown(f"regressed since {regressions.baseline}: {counts or 'no runtime'}"))
        for note in comparison.notes:
            print(shown(f"note: {note}", lines=False))
        return verdicts.EXIT_OK
    write_reports(comparison, regressions, html=args.html, markdown=args.markdown)
    return verdicts.EXIT_OK


def start_expectations(sources: list[str], output: str | None) -> int:
    """``expect --from``: every fail and error of the results, as entries to review."""
    from container_claims.expectations import starting_file
    from container_claims.report import load_comparison, write_report
    from container_claims.report.reasons import reason

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
    from container_claims.report.merge import load_sides

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
        print(f"{name.ljust(width)}{kind.ljust(8)}{state.ljust(10)}{shown(detail, lines=False)}")
        if description:
            print(f"{'':{width}}{shown(description, lines=False)}")
    return verdicts.EXIT_OK


def cleanup(runtimes_file: str | None, *, all_runs: bool) -> int:
    from container_claims import sweep
    from container_claims.runtimes import load_runtimes_file

    configs = load_runtimes_file(Path(runtimes_file) if runtimes_file else None)
    result = sweep.cleanup(configs, all_runs=all_runs)
    for line in result.removed:
        print(shown(f"removed {line}"))
    for line in result.skipped + result.given_up + result.problems:
        print(shown(f"cleanup: {line}"), file=sys.stderr)
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


def draft(args: argparse.Namespace) -> int:
    """``draft ARTICLE``: one draft scenario a session of the article's transcripts."""
    from container_claims.draft import draft_article, read_article, summary_lines, write_drafts

    article = read_article(args.article, stdin=sys.stdin.buffer, form=args.format)
    drafts = draft_article(article)
    written = write_drafts(drafts, Path(args.output), force=args.force)
    for line in summary_lines(drafts, written):
        print(shown(line, lines=False))
    return verdicts.EXIT_FAILED if any(f.defect for f in drafts.files) else verdicts.EXIT_OK


def build_image(args: argparse.Namespace) -> int:
    """Build the test image; its id on stdout, progress on stderr. Errors reach :func:`main`."""
    from container_claims import image

    print(image.build_image(args.tag or DEFAULT_IMAGE, force=args.force))
    return verdicts.EXIT_OK
