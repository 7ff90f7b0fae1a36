"""The comparison as GitHub-flavoured Markdown, for a job summary or a pull-request comment.

A table per article section (claims by runtimes, one verdict word per cell), then a short list
of failures and errors with the failing check's expected and observed values. Text from the
results is escaped so that a ``|`` or a newline in evidence cannot break a table, and the
whole stays under GitHub's 1 MiB limit for ``$GITHUB_STEP_SUMMARY``: evidence is cut short,
and when the list would still be too long, its tail is replaced by a count::

    echo "$(container-claims report results.json --markdown /dev/stdout)" >> "$GITHUB_STEP_SUMMARY"

When the results were checked against expectations (``run --expect``), or against a baseline
(``report --baseline``), a short table comes first: per runtime, how many claims are not as
expected and how many regressed, so that a first run on another platform reads at a glance.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from container_claims.report.layout import as_shown, by_family
from container_claims.report.machines import machine_words
from container_claims.report.model import Cell, Comparison, run_period
from container_claims.report.reasons import check_words, failing_checks, reason, step_stderr
from container_claims.report.text import printable, value_text
from container_claims.report.verdict_words import VERDICT_WORDS
from container_claims.results import EXPECTED, FAIL, VERDICTS

NOT_RUN = "–"

#: GitHub refuses a step summary over 1 MiB; leave room for what other steps add.
MAX_BYTES = 1_000_000
#: Most failures and errors listed; the rest are counted (the HTML report has them all).
MAX_PROBLEMS = 100
#: Longest "expected X, observed Y" (or error message) in the failures list.
MAX_REASON = 200

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~&])")
#: A link the list of accepted deviations makes: the web, of visible characters only.
_LINK = re.compile(r"https?://[^\s()<>\x00-\x1f\x7f-\x9f]+")
#: Longest expected or observed value quoted in the failures list.
MAX_VALUE = 90
#: Longest claim id, and runtime or section name, in the tables (the JSON has them whole).
ID_WIDTH, NAME_WIDTH = 100, 60
CUT_SHORT = "_… the tables are cut short here to fit._"


@dataclass(frozen=True)
class Regressions:
    """What a baseline says of the runtimes in the report: per runtime, how many claims
    regressed since (a pass that became a fail or an error); a runtime the baseline does not
    have is absent from ``counts``."""

    baseline: str  # the baseline's files, as the column's head names them
    counts: Mapping[str, int]


def render_markdown(
    comparison: Comparison,
    *,
    title: str = "Container claims",
    max_bytes: int = MAX_BYTES,
    regressions: Regressions | None = None,
) -> str:
    """The report as Markdown of at most ``max_bytes`` UTF-8 bytes; with ``regressions``, its
    first table counts them per runtime."""
    comparison = as_shown(comparison)
    runtimes = list(comparison.runtimes)
    claims = comparison.claims
    aside = comparison.set_aside
    head = [
        f"## {text(title)}: {len(claims)} claim{_s(len(claims))} on "
        f"{len(runtimes)} runtime{_s(len(runtimes))}"
        + (f" ({len(aside)} more could not run)" if aside else ""),
        "",
        *_at_a_glance(comparison, regressions),
        *_meta(comparison),
        "",
        *_by_family(comparison),
        "",
        *[f"- {text(runtime.line(), 400)}" for runtime in aside],
        *([""] if aside else []),
        *_runtimes_table(comparison),
        "",
    ]
    tables: list[str] = []
    size, cut_short = 0, False  # tables past max_bytes would be cut anyway: never made
    head_row = "| claim | " + " | ".join(text(name, NAME_WIDTH) for name in runtimes) + " |"
    for section, section_claims in comparison.sections.items():
        if cut_short:
            break
        tables += [
            f"### {text(section, NAME_WIDTH)}",
            "",
            head_row,
            "|---|" + "---|" * len(runtimes),
        ]
        size += len(head_row) * 2
        for claim in section_claims:
            if size > max_bytes:
                cut_short = True
                break
            cells = []
            for runtime in runtimes:
                cell = comparison.cell(claim.id, runtime)
                cells.append(NOT_RUN if cell is None else word(cell))
            says = f" {text(claim.says, 160)}" if claim.says else ""
            row = f"| {code(claim.id, limit=ID_WIDTH)}{says} | " + " | ".join(cells) + " |"
            tables.append(row)
            size += len(row)
        tables.append("")
    problems = _problems(comparison)
    expected = _expected(comparison)
    notes = [f"- {text(note, 400)}" for note in comparison.notes]
    notes += [
        f"- scenario {code(str(error.get('file', '?')), table=False)}: "
        f"{text(str(error.get('message', '')), 300)}"
        for _, error in comparison.input_errors
    ]
    tail = (
        (
            [
                "<details><summary>Expected (accepted deviations)</summary>",
                "",
                *expected,
                "",
                "</details>",
                "",
            ]
            if expected
            else []
        )
        + (["### Notes", "", *notes, ""] if notes else [])
    ) + [
        "_Legend: pass = observed and holds; FAIL = observed and does not hold; "
        "n/a = not applicable to this runtime; ERROR = could not be observed; "
        "(expected) = accepted by the expectations file; "
        f"{NOT_RUN} = not run._",
        "",
    ]
    return _fit(head, tables, problems, tail, max_bytes, cut_short=cut_short)


def word(cell: Cell) -> str:
    """A cell's verdict in a table: bold when it fails the run, marked when it is expected."""
    words = VERDICT_WORDS.get(cell.verdict)
    if cell.expected:
        return (words and words.markdown_expected) or text(cell.verdict)
    if cell.unexpected:
        return f"**{cell.verdict.upper()} (no longer as expected)**"
    return words.markdown if words else text(cell.verdict)


def _meta(comparison: Comparison) -> list[str]:
    facts = []
    when = run_period(comparison)
    if when:
        facts.append(f"run {text(when)}")
    kernels = sorted({str(s.host["kernel"]) for s in comparison.sources if s.host.get("kernel")})
    if kernels:
        facts.append("host kernel " + ", ".join(code(k, table=False) for k in kernels))
    if len(comparison.sources) > 1:
        facts.append("from " + ", ".join(code(s.name, table=False) for s in comparison.sources))
    return [" · ".join(facts)] if facts else []


def _at_a_glance(comparison: Comparison, regressions: Regressions | None) -> list[str]:
    """Per runtime, the claims not as expected (those that fail the run) and, against a
    baseline, those that regressed; only when expectations or a baseline say something."""
    checked = any(cell.expectation for cell in comparison.cells.values())
    if not (checked or regressions):
        return []
    problems = Counter(runtime for _, runtime, _ in comparison.problems())
    claims = Counter(runtime for _, runtime in comparison.cells)
    columns = ["runtime", "claims", "not as expected"]
    if regressions:
        columns.append(f"regressed since {code(regressions.baseline)}")
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for name in comparison.runtimes:
        row = f"| {text(name, NAME_WIDTH)} | {claims[name]} | {_stands_out(problems[name])} |"
        if regressions:
            count = regressions.counts.get(name)
            row += f" {'not in the baseline' if count is None else _stands_out(count)} |"
        lines.append(row)
    return [*lines, ""]


def _stands_out(count: int) -> str:
    return f"**{count}**" if count else "0"


def _by_family(comparison: Comparison) -> list[str]:
    """Verdict counts per runtime, runtimes grouped by family (the family named once)."""
    lines = [
        "| family | runtime | pass | fail | n/a | error | expected |",
        "|---" * 7 + "|",
    ]
    totals = comparison.totals_by_runtime()
    for family, names in by_family(comparison.runtimes, comparison.runtimes):
        for number, name in enumerate(names):
            counts = totals[name]
            lines.append(
                f"| {f'**{text(family, NAME_WIDTH)}**' if number == 0 else ''} "
                f"| {text(name, NAME_WIDTH)} | "
                + " | ".join(str(counts.get(verdict, 0)) for verdict in (*VERDICTS, EXPECTED))
                + " |"
            )
    return lines


def _runtimes_table(comparison: Comparison) -> list[str]:
    lines = ["| runtime | kind | run args | versions |", "|---" * 4 + "|"]
    for name, info in comparison.runtimes.items():
        run_args = info.get("run_args")
        args = (
            code(shlex.join(str(a) for a in run_args))
            if isinstance(run_args, list) and run_args
            else ""
        )
        versions = ", ".join(
            f"{text(str(key))} {code(_short_id(str(value)))}"
            for key, value in _versions(info).items()
        )
        where = machine_words(info)
        lines.append(
            f"| {text(name, NAME_WIDTH)} | {text(str(info.get('kind', '')))}"
            + (f" {text(where)}" if where else "")
            + f" | {args} | {versions} |"
        )
    return lines


def _versions(info: Mapping[str, Any]) -> dict[str, Any]:
    """Versions, and the image when the results carry one (``image.id`` and the like)."""
    found: dict[str, Any] = {}
    for key in ("version", "image"):
        value = info.get(key)
        if isinstance(value, Mapping):
            prefix = "" if key == "version" else "image "
            found.update({f"{prefix}{k}": v for k, v in value.items()})
        elif value:
            found[key] = value
    return found


def _short_id(value: str) -> str:
    """``sha256:e5715a069e0d…``, as docker shows image ids."""
    return value[:19] + "…" if re.fullmatch(r"sha256:[0-9a-f]{20,}", value) else value


def _problems(comparison: Comparison) -> list[str]:
    lines = []
    for claim, runtime, cell in comparison.problems():
        where = f"{claim.file}:{claim.line}" if claim.line is not None else claim.file
        why = _why(cell)
        if cell.unexpected:
            entry = cell.expectation
            why = (
                f"{text(str(entry.get('where', '')))} expects "
                f"{text(str(entry.get('verdict', '')))}: update the file"
                + (f"; {why}" if why else "")
            )
        if len(comparison.sources) > 1:  # merged results: say which file this verdict is from
            where = f"{where}, from {cell.source.name}" if where else f"from {cell.source.name}"
        lines.append(
            f"- {word(cell)} {code(claim.id, table=False, limit=ID_WIDTH)} on "
            f"**{text(runtime, NAME_WIDTH)}**"
            + (f": {why}" if why else "")
            + (f" ({code(where, table=False)})" if where else "")
        )
    return lines


def _expected(comparison: Comparison) -> list[str]:
    """The accepted deviations, each with the reason the expectations file gives."""
    lines = []
    for claim, runtime, cell in comparison.expected():
        entry = cell.expectation
        link = str(entry.get("link") or "")
        lines.append(
            f"- {word(cell)} {code(claim.id, table=False, limit=ID_WIDTH)} on "
            f"**{text(runtime, NAME_WIDTH)}**: {text(str(entry.get('reason', '')), 300)}"
            + (f" ([why]({link}))" if _LINK.fullmatch(link) else "")
            + f" ({code(str(entry.get('where', '')), table=False)})"
        )
    return lines


def _why(cell: Cell) -> str:
    """The first failing check as "X equals: expected A, observed B", or the message; then
    the end of the first stderr a step the verdict rests on printed."""
    stderr = step_stderr(cell.evidence, limit=MAX_VALUE)
    said = f"; stderr: {code(stderr[0][1], table=False, limit=MAX_VALUE + 30)}" if stderr else ""
    failing = failing_checks(cell)
    if cell.verdict == FAIL and failing:
        check = failing[0]
        that, _, words = check_words(check).partition(" ")
        expected = code(value_text(check.get("expected")), table=False, limit=MAX_VALUE)
        observed = code(value_text(check.get("observed")), table=False, limit=MAX_VALUE)
        more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
        return (
            f"{code(that, table=False)} {text(words)}: expected {expected}, observed {observed}"
            f"{more}{said}"
        )
    return text(reason(cell, limit=MAX_REASON)) + said


def _fit(
    head: list[str],
    tables: list[str],
    problems: list[str],
    tail: list[str],
    max_bytes: int,
    *,
    cut_short: bool = False,
) -> str:
    """Join the parts, listing fewer failures (then cutting the tables short) until they fit;
    ``cut_short``: the tables were made only as far as they could fit."""
    if cut_short:
        while tables and not _is_body_row(tables[-1]):
            tables = tables[:-1]
        tables = [*tables, "", CUT_SHORT, ""]

    def join(count: int, table_lines: list[str]) -> str:
        listed = problems[:count]
        if count < len(problems):
            listed.append(f"- … and {len(problems) - count} more (see the HTML report or the JSON)")
        section = ["### Failures and errors", "", *listed, ""] if problems else []
        return "\n".join([*head, *table_lines, *section, *tail])

    def size(markdown: str) -> int:
        return len(markdown.encode("utf-8"))

    count = min(len(problems), MAX_PROBLEMS)
    result = join(count, tables)
    while size(result) > max_bytes and count:
        count = count * 3 // 4  # a few passes, not one per line
        result = join(count, tables)
    rows = list(tables)
    while size(result) > max_bytes and rows:
        rows = rows[: len(rows) * 3 // 4]
        while rows and not _is_body_row(rows[-1]):  # never end on a heading or a table's head
            rows.pop()
        result = join(count, [*rows, "", CUT_SHORT, ""])
    if size(result) > max_bytes:  # a tiny limit: whole characters only, never half of one
        result = result.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    return result


def _is_body_row(line: str) -> bool:
    return line.startswith("| ") and not line.startswith("| claim |")


def text(value: str, limit: int | None = None) -> str:
    """Plain text safe in a table cell: one line, control characters shown, Markdown and HTML
    characters escaped."""
    flat = " ".join(printable(value).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return _SPECIAL.sub(r"\\\1", flat)


def code(value: str, *, table: bool = True, limit: int | None = None) -> str:
    """Inline code on one line (newlines shown as ⏎), its fence longer than any backtick run.

    In a table cell a ``|`` is escaped (GitHub unescapes it inside code); elsewhere it is not,
    since there the backslash would show.
    """
    flat = " ".join(printable(value).replace("\n", " ⏎ ").split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    if table:
        flat = flat.replace("|", "\\|")
    if not flat:
        return '`""`'
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _s(number: int) -> str:
    return "" if number == 1 else "s"
