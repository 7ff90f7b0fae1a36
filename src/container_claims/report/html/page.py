"""The page: its header, the matrix, the failures and notes, rendered by the templates.

The markup is in Jinja2 templates (``templates/``) with autoescape on, and the stylesheet is
the package's ``report.css``, inlined; this module lays the page out and hands the templates
plain data (:mod:`container_claims.report.html.views`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from container_claims.report.html.badges import badge, verdict_counts
from container_claims.report.html.ids import CellIds
from container_claims.report.html.matrix import matrix_of
from container_claims.report.html.runtimes import runtimes_table
from container_claims.report.html.views import (
    BadInput,
    Header,
    Notes,
    Problem,
    SetAsideView,
    SourceRow,
)
from container_claims.report.layout import as_shown
from container_claims.report.model import Comparison, run_period
from container_claims.report.reasons import reason
from container_claims.report.text import printable


def render_html(comparison: Comparison, *, title: str = "Container claims") -> str:
    """The whole page as a string; write it with ``Path.write_text(..., encoding="utf-8")``."""
    comparison = as_shown(comparison)
    ids = CellIds()
    claims, runtimes = comparison.claims, list(comparison.runtimes)
    heading = f"{len(claims)} claim{_s(claims)} on {len(runtimes)} runtime{_s(runtimes)}"
    if comparison.set_aside:
        heading += f" ({len(comparison.set_aside)} more could not run)"
    matrix = matrix_of(comparison, ids)  # first: it gives the cells their ids, in the page's order
    return (
        _environment()
        .get_template("report.html")
        .render(
            title=title,
            # The package's own file, not data: CSS in <style> is raw text, where escaping
            # its quotes would break it.
            stylesheet=Markup(stylesheet()),
            header=_header(comparison, heading),
            runtimes=runtimes_table(comparison),
            set_aside=[
                SetAsideView(r.name, r.family, r.where or "here", r.reason)
                for r in comparison.set_aside
            ],
            matrix=matrix,
            problems=_problems(comparison, ids),
            notes=_notes(comparison),
            sources=", ".join(source.name for source in comparison.sources) or "no results",
        )
    )


def stylesheet() -> str:
    return resources.files("container_claims.report").joinpath("report.css").read_text("utf-8")


@functools.cache
def _environment() -> Environment:
    """One environment for all renders, so each template is compiled once."""
    return Environment(
        loader=PackageLoader("container_claims.report", "templates"),
        autoescape=True,
        finalize=_shown,  # every text the templates print: control characters shown
        undefined=StrictUndefined,  # a misspelt field fails the render, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _shown(value: Any) -> Any:
    """What a template prints, before it is escaped: text with its control characters shown
    (HTML would carry them raw: a page saved as text, or copied, would bring them along); the
    page's own markup (the stylesheet) as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return printable(value)
    return value


# -- header, failures, notes, sources --------------------------------------------------------------


def _header(comparison: Comparison, heading: str) -> Header:
    kernels = sorted(
        {str(s.host.get("kernel")) for s in comparison.sources if s.host.get("kernel")}
    )
    machines = sorted({str(s.host["machine"]) for s in comparison.sources if s.host.get("machine")})
    one = len(kernels) == 1
    return Header(
        heading=heading,
        run=run_period(comparison),
        kernel=kernels[0] if one else "",
        machine=machines[0] if one and len(machines) == 1 else "",
        kernels=len(kernels),
        totals=verdict_counts(comparison.totals()),
    )


def _problems(comparison: Comparison, ids: CellIds) -> list[Problem]:
    return [
        Problem(
            badge(cell.verdict),
            ids.cell(claim.id, runtime),
            claim.id,
            runtime,
            reason(cell, limit=240),
        )
        for claim, runtime, cell in comparison.problems()
    ]


def _notes(comparison: Comparison) -> Notes:
    several = len(comparison.sources) > 1
    return Notes(
        notes=list(comparison.notes),
        input_errors=[
            BadInput(_where(error), str(error.get("message", "")), source.name if several else "")
            for source, error in comparison.input_errors
        ],
        sources=[
            SourceRow(
                s.name,
                s.started or "—",
                s.finished or "—",
                str(s.host.get("kernel", "—")),
                str(s.host.get("machine", "—")),
            )
            for s in comparison.sources
        ]
        if several
        else [],
    )


def _where(error: Mapping[str, Any]) -> str:
    file, line = error.get("file"), error.get("line")
    return f"{file}:{line}" if file and line is not None else str(file or "?")


def _s(items: Iterable[Any]) -> str:
    return "" if len(list(items)) == 1 else "s"
