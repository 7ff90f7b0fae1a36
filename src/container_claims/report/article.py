"""An article replayed (``run --against ARTICLE``): per transcript block, per runtime, whether
the output the article printed still has its shape.

A block is a command of the article's transcripts with what it printed (the drafter's parse
model, :mod:`container_claims.draft.transcript`): its article lines, prompt, command, output
and the sentence near it. Its claims are the draft claims resting on it: each draft's
``claim_lines`` (the line its ``source:`` names) maps a verdict back to its block, so nothing
is read again. A block's verdict on a runtime is the worst of its claims': fail (with what
was observed), error, pass, not applicable. A command that became no step is a skipped
block, with why.

The report is about the article's own transcripts run as drafted: every claim is an
unreviewed draft, and every rendering says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from container_claims.draft import Drafts
from container_claims.draft.transcript import Command
from container_claims.report.markdown import code, text
from container_claims.report.model import Cell, Comparison
from container_claims.report.reasons import reason
from container_claims.report.text import printable
from container_claims.report.verdict_words import VERDICT_WORDS
from container_claims.results import ERROR, FAIL, NOT_APPLICABLE, PASS

#: What every rendering says first.
UNREVIEWED = (
    "Every claim here is an unreviewed draft: it repeats what the article printed, as "
    "container-claims draft read it, not what a person checked the article claims."
)
#: A block's state: its claims gave verdicts, it became a step without a claim, or no step.
REPLAYED, NO_CLAIM, SKIPPED = "replayed", "no claim", "skipped"
#: No verdict of the block's claims on a runtime (deselected, or the run stopped).
NOT_RUN = "not run"
#: The order a block's verdict takes from its claims': the first found wins.
_WORST_FIRST = (FAIL, ERROR, PASS, NOT_APPLICABLE)
#: Longest reason a block's verdict gives per claim.
REASON_CHARS = 240


@dataclass(frozen=True)
class BlockVerdict:
    """A block on one runtime: its verdict, and why (each claim's reason, where not a pass)."""

    verdict: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Block:
    """A command of the article's transcripts, what it printed, and what became of it."""

    line: int
    last_line: int
    prompt: str
    command: str
    output: tuple[str, ...]
    section: str
    sentence: str
    sentence_line: int | None
    state: str
    #: Why it was skipped or gave no claim (the drafter's words), else "".
    why: str = ""
    claims: tuple[str, ...] = ()
    verdicts: Mapping[str, BlockVerdict] = field(default_factory=dict)


@dataclass(frozen=True)
class ArticleReport:
    name: str
    title: str
    runtimes: tuple[str, ...]
    blocks: tuple[Block, ...]
    #: Claims whose line names no block (a defect of the mapping, shown rather than lost).
    loose_claims: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def counts(self, runtime: str) -> dict[str, int]:
        """How many replayed blocks got each verdict on ``runtime``."""
        found: dict[str, int] = {}
        for block in self.blocks:
            if runtime in block.verdicts:
                verdict = block.verdicts[runtime].verdict
                found[verdict] = found.get(verdict, 0) + 1
        return found

    @property
    def skipped(self) -> int:
        return sum(block.state == SKIPPED for block in self.blocks)


def article_report(drafts: Drafts, comparison: Comparison) -> ArticleReport:
    """The report of ``drafts`` replayed, from the run's verdicts in ``comparison``."""
    transcript = drafts.transcript
    runtimes = tuple(comparison.runtimes)
    placed = {line for f in drafts.files if f.text for line in f.placed_lines}
    claims_at: dict[int, list[str]] = {}
    for f in drafts.files:
        if f.text:
            for claim_id, line in f.claim_lines:
                claims_at.setdefault(line, []).append(claim_id)
    why_at = _reasons(drafts)
    openers = {session.opener.line for session in transcript.sessions}
    blocks = []
    for command in transcript.commands():
        near = transcript.sentence_near(command.line, max(command.last_line, command.line))
        claims = tuple(claims_at.pop(command.line, ()))
        if claims:
            state, why = REPLAYED, ""
        elif command.line in placed:
            state, why = NO_CLAIM, why_at.get(command.line, "its output gave no claim")
            if command.line in openers:
                why = "it started the session's container"
            elif command.output is None:
                why = "it printed nothing to compare"
        else:
            state, why = SKIPPED, why_at.get(command.line, "it became no step")
        blocks.append(
            Block(
                line=command.line,
                last_line=max(command.last_line, command.line),
                prompt=command.prompt,
                command=command.text,
                output=_output(command),
                section=command.section,
                sentence=near[1] if near else "",
                sentence_line=near[0] if near else None,
                state=state,
                why=why,
                claims=claims,
                verdicts={name: _verdict(comparison, claims, name) for name in runtimes}
                if claims
                else {},
            )
        )
    notes = [
        f"{error.get('file', '?')}:{error.get('line', '?')}: {error.get('message', '')}"
        for _, error in comparison.input_errors
    ]
    return ArticleReport(
        name=transcript.article.name,
        title=transcript.article.title,
        runtimes=runtimes,
        blocks=tuple(blocks),
        loose_claims=tuple(claim for ids in claims_at.values() for claim in ids),
        notes=tuple(notes),
    )


def _reasons(drafts: Drafts) -> dict[int, str]:
    """Why the drafter left each article line out: the first reason given for it."""
    found: dict[int, str] = {}
    sessions = {session.number: session for session in drafts.transcript.sessions}
    for f in drafts.files:
        session = sessions.get(f.number)
        if not f.text and session is not None:
            why = f"its session's draft was not written: {f.not_written or 'no claim'}"
            for command in (session.opener, *session.commands):
                found.setdefault(command.line, why)
        for item in f.skipped:
            found.setdefault(item.line, item.why)
    for item in drafts.skipped:
        found.setdefault(item.line, item.why)
    for unplaced in drafts.transcript.unplaced:
        found.setdefault(unplaced.line, unplaced.reason)
    return found


def _output(command: Command) -> tuple[str, ...]:
    if command.output is None:
        return ()
    lines = command.output.lines
    return (*lines, f"… ({command.output.cut} more lines)") if command.output.cut else lines


def _verdict(comparison: Comparison, claims: Iterable[str], runtime: str) -> BlockVerdict:
    cells = [(claim, comparison.cell(claim, runtime)) for claim in claims]
    found = {cell.verdict for _, cell in cells if cell is not None}
    verdict = next((v for v in _WORST_FIRST if v in found), None)
    if verdict is None:
        return BlockVerdict(next(iter(sorted(found)), NOT_RUN))
    return BlockVerdict(verdict, tuple(_why(claim, cell) for claim, cell in cells if _told(cell)))


def _told(cell: Cell | None) -> bool:
    return cell is not None and cell.verdict != PASS


def _why(claim: str, cell: Cell | None) -> str:
    assert cell is not None
    said = reason(cell, limit=REASON_CHARS)
    return f"{claim}: {cell.verdict}" + (f": {said}" if said else "")


# -- Markdown ------------------------------------------------------------------------------------

#: Most lines of a block's output a rendering shows (the rest are counted).
SHOWN_OUTPUT = 40
#: GitHub refuses a step summary over 1 MiB: blocks past this size are counted, not shown.
MAX_MARKDOWN_BYTES = 1_000_000


def render_article_markdown(report: ArticleReport, *, max_bytes: int = MAX_MARKDOWN_BYTES) -> str:
    """The report as GitHub-flavoured Markdown: a table of verdict counts per runtime, then
    each block with its lines, sentence, command and output, and its verdict per runtime.
    Every text from the article is escaped, its code fenced past any backtick run in it."""
    head = [
        f"## Article replayed: {text(report.title or report.name, 200)}",
        "",
        f"_{text(UNREVIEWED)}_",
        "",
        f"{text(report.name, 200)}: {len(report.blocks)} transcript block"
        f"{_s(len(report.blocks))} ({report.skipped} skipped) on {len(report.runtimes)} "
        f"runtime{_s(len(report.runtimes))}.",
        "",
        "| runtime | " + " | ".join(VERDICT_WORDS[v].markdown for v in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
        *(
            f"| {text(name, 60)} | "
            + " | ".join(str(report.counts(name).get(v, 0)) for v in COLUMNS)
            + " |"
            for name in report.runtimes
        ),
        "",
    ]
    tail = [f"- {text(note, 400)}" for note in report.notes]
    if report.loose_claims:
        tail.append(f"- claims on no block: {text(', '.join(report.loose_claims), 400)}")
    if tail:
        tail = ["### Notes", "", *tail, ""]
    out = "\n".join(head) + "\n"
    budget = max_bytes - len(out.encode()) - len("\n".join(tail).encode()) - 200
    for shown, block in enumerate(report.blocks):
        part = "\n".join(_block_markdown(block, report.runtimes)) + "\n"
        size = len(part.encode())
        if size > budget:
            out += f"_… {len(report.blocks) - shown} more blocks, cut short here to fit._\n\n"
            break
        out += part
        budget -= size
    return out + ("\n".join(tail) + "\n" if tail else "")


COLUMNS = (PASS, FAIL, ERROR, NOT_APPLICABLE)


def _block_markdown(block: Block, runtimes: tuple[str, ...]) -> list[str]:
    where = (
        f"line {block.line}"
        if block.last_line == block.line
        else (f"lines {block.line}–{block.last_line}")
    )
    lines = [f"### {where}: {code(block.command, table=False, limit=120)}", ""]
    if block.section:
        lines += [f"Section: {text(block.section, 200)}", ""]
    if block.sentence:
        lines += [f"> {text(block.sentence)} (line {block.sentence_line})", ""]
    lines += [
        *_fenced([f"{block.prompt} {block.command}".strip(), *shown_output(block.output)]),
        "",
    ]
    if block.state != REPLAYED:
        lines += [f"**{block.state}** (line {block.line}): {text(block.why, 400)}", ""]
        return lines
    lines += ["| runtime | verdict | what differs |", "|---|---|---|"]
    for name in runtimes:
        verdict = block.verdicts.get(name, BlockVerdict(NOT_RUN))
        words = VERDICT_WORDS.get(verdict.verdict)
        said = "<br>".join(text(r, REASON_CHARS + 40) for r in verdict.reasons)
        shown = words.markdown if words else text(verdict.verdict)
        lines.append(f"| {text(name, 60)} | {shown} | {said} |")
    return [*lines, ""]


def shown_output(output: tuple[str, ...]) -> list[str]:
    if len(output) <= SHOWN_OUTPUT:
        return list(output)
    return [*output[:SHOWN_OUTPUT], f"… ({len(output) - SHOWN_OUTPUT} more lines)"]


def _fenced(lines: list[str]) -> list[str]:
    """Lines as a fenced code block no line of them can close (its fence is longer than any
    run of backticks in them), control characters shown."""
    body = [printable(line) for line in lines]
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", *body, fence]


def _s(number: int) -> str:
    return "" if number == 1 else "s"
