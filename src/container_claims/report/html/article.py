"""An article replayed (:mod:`container_claims.report.article`) as one self-contained HTML
page: each transcript block as the article shows it, beside its verdict on each runtime.

The page's stylesheet and template environment are the comparison page's (autoescape on,
control characters shown): every text of the article is escaped, none is compiled as a
template, and nothing is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from container_claims.report.article import (
    COLUMNS,
    NOT_RUN,
    REPLAYED,
    UNREVIEWED,
    ArticleReport,
    Block,
    BlockVerdict,
    shown_output,
)
from container_claims.report.html.badges import badge
from container_claims.report.html.page import _environment, stylesheet
from container_claims.report.html.views import Badge


@dataclass(frozen=True)
class _Row:
    runtime: str
    badge: Badge
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class _Block:
    anchor: str
    where: str
    section: str
    sentence: str
    sentence_line: int | None
    text: str
    state: str
    state_css: str
    line: int
    why: str
    claims: tuple[str, ...]
    rows: tuple[_Row, ...]


@dataclass(frozen=True)
class _Counts:
    name: str
    counts: tuple[int, ...]


@dataclass(frozen=True)
class _Page:
    heading: str
    name: str
    unreviewed: str
    columns: tuple[Badge, ...]
    counts: tuple[_Counts, ...]
    blocks: tuple[_Block, ...]
    skipped: int
    runtimes: tuple[str, ...]
    notes: tuple[str, ...]


def render_article_html(report: ArticleReport) -> str:
    """The whole page as a string."""
    notes = list(report.notes)
    if report.loose_claims:
        notes.append(f"claims on no block: {', '.join(report.loose_claims)}")
    page = _Page(
        heading=report.title or report.name,
        name=report.name,
        unreviewed=UNREVIEWED,
        columns=tuple(badge(verdict) for verdict in COLUMNS),
        counts=tuple(
            _Counts(name, tuple(report.counts(name).get(v, 0) for v in COLUMNS))
            for name in report.runtimes
        ),
        blocks=tuple(_block(block, report.runtimes) for block in report.blocks),
        skipped=report.skipped,
        runtimes=report.runtimes,
        notes=tuple(notes),
    )
    return (
        _environment()
        .get_template("article.html")
        .render(page=page, stylesheet=Markup(stylesheet()))  # the package's own file
    )


def _block(block: Block, runtimes: tuple[str, ...]) -> _Block:
    where = (
        f"line {block.line}"
        if block.last_line == block.line
        else f"lines {block.line}–{block.last_line}"
    )
    rows: tuple[_Row, ...] = ()
    if block.state == REPLAYED:
        rows = tuple(
            _Row(name, _badge(verdict), verdict.reasons)
            for name in runtimes
            for verdict in [block.verdicts.get(name, BlockVerdict(NOT_RUN))]
        )
    return _Block(
        anchor=f"line-{block.line}",
        where=where,
        section=block.section,
        sentence=block.sentence,
        sentence_line=block.sentence_line,
        text="\n".join([f"{block.prompt} {block.command}".strip(), *shown_output(block.output)]),
        state=block.state,
        state_css=block.state.replace(" ", "-"),
        line=block.line,
        why=block.why,
        claims=block.claims,
        rows=rows,
    )


def _badge(verdict: BlockVerdict) -> Badge:
    return badge(None if verdict.verdict == NOT_RUN else verdict.verdict)
