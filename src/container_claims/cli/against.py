"""``run --against ARTICLE``: the article drafted into a folder of the run, those drafts run
as they are (the one place a draft claim runs), and the article's report instead of the
comparison (:mod:`container_claims.report.article`)."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from container_claims.draft import Drafts, draft_article, read_article, write_drafts
from container_claims.errors import InputError
from container_claims.paths import make_temp_dir


@dataclass(frozen=True)
class Replay:
    """An article's drafts, written into ``folder`` for one run."""

    drafts: Drafts
    folder: Path

    def plugins(self) -> list[Any]:
        from container_claims.session import ReplayedDrafts

        return [ReplayedDrafts(self.folder)]

    def write_reports(self, results: Any, name: str | None, *, html: str | None,
                      markdown: str | None) -> None:  # fmt: skip
        """The article's report of the run that just finished, and a line per runtime."""
        from container_claims.report import compare, write_report
        from container_claims.report.article import article_report, render_article_markdown
        from container_claims.report.html.article import render_article_html
        from container_claims.report.text import printable

        if results is None or not (results.results or results.input_errors):
            print("container-claims: no results, so no article report was written", file=sys.stderr)
            return
        report = article_report(self.drafts, compare([(name or "this run", results.to_json())]))
        for runtime in report.runtimes:
            counts = ", ".join(f"{n} {v}" for v, n in report.counts(runtime).items())
            line = f"container-claims: {report.name} on {runtime}: blocks {counts or 'none run'}"
            print(printable(line, lines=False), file=sys.stderr)
        for destination, render in ((html, render_article_html),
                                    (markdown, render_article_markdown)):  # fmt: skip
            if destination:
                write_report(render(report), destination)
                if destination != "-":
                    print(f"container-claims: wrote {destination} ({len(report.blocks)} "
                          "transcript blocks, unreviewed drafts)", file=sys.stderr)  # fmt: skip


@contextmanager
def replayed(args: argparse.Namespace) -> Iterator[Replay]:
    """The article of ``--against`` drafted into a temporary folder, removed when the run is
    over, also on a failure or Ctrl-C. Bad input (the article, other options) is one line."""
    if args.paths:
        raise InputError("--against replays the article's own drafts: give no scenario paths")
    if args.repeat > 1 or args.baseline:
        raise InputError("--against takes neither --repeat nor --baseline")
    from container_claims.report.text import printable

    article = read_article(args.against, stdin=sys.stdin.buffer)
    drafts = draft_article(article)
    folder = make_temp_dir("against")
    try:
        if not write_drafts(drafts, folder, force=False):
            raise InputError(
                f"{article.name}: no session of its transcripts gave a claim to replay"
            )
        shown = sum(f.claims for f in drafts.files if f.text)
        print(printable(f"container-claims: replaying {article.name}: {shown} draft claims, "
                        "unreviewed, as drafted", lines=False), file=sys.stderr)  # fmt: skip
        yield Replay(drafts, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
