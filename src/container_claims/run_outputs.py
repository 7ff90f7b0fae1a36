"""What a claims run makes of its results beyond the verdicts: its report as HTML or Markdown
(``--html``, ``--markdown``) and what moved since a baseline (``--baseline``, ``--map``).

Either front door uses these: ``container-claims run`` once its rounds are over, the plugin at
the end of a ``pytest`` run that was given the options.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from container_claims import packaged
from container_claims import results as verdicts
from container_claims.errors import InputError

if TYPE_CHECKING:
    from container_claims.report.diff import Diff
    from container_claims.report.markdown import Regressions
    from container_claims.report.model import Comparison
    from container_claims.results import Results

#: What a report calls the results of the run that just finished, when no file holds them.
THIS_RUN = "this run"


@dataclasses.dataclass(frozen=True)
class Baseline:
    """The results of earlier runs a run is held against, and how its runtimes pair up."""

    comparison: Comparison
    mapping: dict[str, str]

    @classmethod
    def load(
        cls, names: Sequence[str], pairs: Sequence[str], runtimes: Sequence[str]
    ) -> Baseline | None:
        """The baseline of ``--baseline`` (files, or packaged ones by name) and ``--map``,
        checked against the names of this run's ``runtimes``; None without one.
        :class:`InputError` if a file or a pair is bad."""
        from container_claims.report import load_comparison
        from container_claims.report.diff import parse_mapping

        mapping = parse_mapping(pairs)
        if not names:
            if mapping:
                raise InputError("--map pairs runtimes of a --baseline: give one")
            return None
        comparison = load_comparison([packaged.named("baselines", name) for name in names])
        for old, new in mapping.items():
            if old not in comparison.runtimes:
                raise InputError(f"--map {old}={new}: no runtime {old!r} in the baseline")
            if new not in runtimes:
                raise InputError(f"--map {old}={new}: {new!r} is not a runtime of this run")
        return cls(comparison, mapping)

    def moved(self, results: Results, name: str | None) -> Diff:
        """What moved from the baseline to ``results`` (named as the reports name them)."""
        from container_claims.report import compare
        from container_claims.report.diff import diff

        return diff(self.comparison, compare([(name or THIS_RUN, results.to_json())]), self.mapping)

    def lines(self, moved: Diff) -> list[str]:
        """What moved, as the terminal shows it, under its heading."""
        from container_claims.report.diff import diff_lines

        return ["", "container-claims: against the baseline", *diff_lines(moved)]


def gate(moved: Diff, results: Results, code: int, *, expecting: bool) -> int:
    """The exit code of a run held against a baseline: "nothing regressed" (a known fail is
    no reason to fail), joined with the expectations' when ``expecting`` (``--expect``); bad
    input outranks both."""
    if results.input_errors:
        return verdicts.EXIT_INPUT
    return verdicts.worst([moved.exit_code(), *([code] if expecting else [])])


def write_run_reports(
    results: Results | None, name: str | None, *, html: str | None, markdown: str | None
) -> None:
    """``--html``/``--markdown``: the report of the run that just finished, from memory."""
    from container_claims.report import compare

    if not (html or markdown):
        return
    if results is None or not results.results:
        print("container-claims: no results, so no report was written", file=sys.stderr)
        return
    write_reports(compare([(name or THIS_RUN, results.to_json())]), html=html, markdown=markdown)


def write_reports(
    comparison: Comparison,
    regressions: Regressions | None = None,
    *,
    html: str | None,
    markdown: str | None,
) -> None:
    """A comparison as HTML and Markdown, to the files given (``-``: standard output)."""
    from container_claims.report import render_html, render_markdown, write_report

    size = f"{len(comparison.claims)} claims on {len(comparison.runtimes)} runtimes"
    as_markdown = functools.partial(render_markdown, regressions=regressions)
    render: Any
    for destination, render in ((html, render_html), (markdown, as_markdown)):
        if destination:
            write_report(render(comparison), destination)
            if destination != "-":
                print(f"container-claims: wrote {destination} ({size})", file=sys.stderr)
