"""The comparison as one self-contained HTML page: claims by runtimes, evidence a click away.

Everything the page needs is inside it (the stylesheet ``report.css`` and a few lines of
script are inlined; no fonts, images or scripts are fetched), so it can be attached to a CI
run or mailed. Each cell is a button that opens the cell's evidence as a popover panel (the
HTML ``popover`` attribute: keyboard-operable, closed with Escape, no script needed); a
browser without popovers shows the evidence inside the cell instead. The script only opens
the panel named in the URL's fragment: ``report.html#c-shell-is-pid-1--docker`` opens the
evidence of ``shell-is-pid-1`` on ``docker``.

Every text from a results file goes through :func:`html.escape`: evidence is arbitrary
output of programs run in containers.
"""

from __future__ import annotations

import html
import re
import shlex
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from container_claims.report.model import (
    Cell,
    Claim,
    Comparison,
    check_words,
    plain_text,
    printable,
    reason,
    run_period,
    truncate,
    value_text,
)

#: Verdict -> (glyph, label). The label is what a reader (and a screen reader) gets; the glyph
#: and the colour only repeat it.
LABELS = {
    "pass": ("✓", "pass"),
    "fail": ("✗", "fail"),
    "not-applicable": ("–", "not applicable"),
    "error": ("!", "error"),
}
NOT_RUN = ("·", "not run")
MEANINGS = {
    "pass": "observed, and it holds",
    "fail": "observed, and it does not hold",
    "not-applicable": "the runtime has no such concept",
    "error": "could not be observed",
}

#: Longest text shown for one value, step or transcript; the rest is counted, not shown.
MAX_TEXT = 20_000

SCRIPT = """\
(function () {
  "use strict";
  function openFromHash() {
    var id = location.hash.slice(1);
    try {
      id = decodeURIComponent(id);
    } catch (malformed) {
      return;
    }
    var panel = id ? document.getElementById(id) : null;
    if (panel && panel.hasAttribute("popover") && panel.showPopover) {
      var button = document.querySelector('button.cell[popovertarget="' + CSS.escape(id) + '"]');
      if (button) {
        button.scrollIntoView({block: "center"});
        button.focus({preventScroll: true});
      }
      if (!panel.matches(":popover-open")) {
        panel.showPopover();
      }
      panel.focus({preventScroll: true});
    }
  }
  window.addEventListener("hashchange", openFromHash);
  openFromHash();
  document.documentElement.setAttribute("data-ready", "yes");
})();
"""


def render_html(comparison: Comparison, *, title: str = "Container claims") -> str:
    """The whole page as a string; write it with ``Path.write_text(..., encoding="utf-8")``."""
    ids = _CellIds()
    claims, runtimes = comparison.claims, list(comparison.runtimes)
    heading = f"{len(claims)} claim{_s(claims)} on {len(runtimes)} runtime{_s(runtimes)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="container-claims">',
        f"<title>{_e(title)}: {_e(heading)}</title>",
        f"<style>\n{stylesheet()}</style>",
        "</head>",
        "<body>",
        '<a class="skip" href="#matrix">Skip to the claims</a>',
        '<div class="page">',
        _header(comparison, title, heading),
        "<main>",
        _runtimes_table(comparison),
        _matrix(comparison, ids),
        _problems(comparison, ids),
        _notes(comparison),
        "</main>",
        "<footer>Made by container-claims from "
        + _e(", ".join(source.name for source in comparison.sources) or "no results")
        + ". This page is self-contained: it fetches nothing.</footer>",
        "</div>",
        f"<script>\n{SCRIPT}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def stylesheet() -> str:
    return resources.files("container_claims.report").joinpath("report.css").read_text("utf-8")


def cell_id(claim: str, runtime: str) -> str:
    """The ``id`` of a cell's evidence panel, also its URL fragment: ``c-CLAIM--RUNTIME``."""
    return f"c-{_slug(claim)}--{_slug(runtime)}"


# -- header -------------------------------------------------------------------------------------


def _header(comparison: Comparison, title: str, heading: str) -> str:
    meta = [f"<strong>{_e(heading)}</strong>"]
    when = run_period(comparison)
    if when:
        meta.append(f"run {_e(when)}")
    kernels = sorted(
        {str(s.host.get("kernel")) for s in comparison.sources if s.host.get("kernel")}
    )
    machines = sorted({str(s.host["machine"]) for s in comparison.sources if s.host.get("machine")})
    if len(kernels) == 1:
        machine = f" ({machines[0]})" if len(machines) == 1 else ""
        meta.append(f"host kernel <span class=mono>{_e(kernels[0])}</span>{_e(machine)}")
    elif kernels:
        meta.append(f"{len(kernels)} host kernels (see Sources)")
    return (
        "<header>"
        f"<h1>{_e(title)}: runtime comparison</h1>"
        f'<p class="meta">{" · ".join(meta)}</p>'
        f'<p class="meta">All runtimes together: {_totals(comparison.totals())}</p>'
        "</header>"
    )


def _totals(counts: Mapping[str, int]) -> str:
    shown = [
        f'<span class="badge {verdict}">{counts[verdict]} {_e(LABELS[verdict][1])}</span>'
        for verdict in LABELS
        if counts.get(verdict)
    ]
    shown += [
        f'<span class="badge none">{count} {_e(verdict)}</span>'
        for verdict, count in counts.items()
        if verdict not in LABELS and count
    ]
    return f'<span class="totals">{"".join(shown) or "no results"}</span>'


def _runtimes_table(comparison: Comparison) -> str:
    """A row per runtime with every key the results give for it, generically: kind, binary,
    run_args, env, then mappings (``version``, ``image``...) as groups of columns."""
    runtimes = comparison.runtimes
    if not runtimes:
        return ""
    columns: dict[str, list[str]] = {}  # key -> sub-keys ([] for a plain value)
    for info in runtimes.values():
        for key, value in info.items():
            if key == "name":
                continue
            subs = columns.setdefault(key, [])
            if isinstance(value, Mapping) and key != "env":
                subs += [str(sub) for sub in value if str(sub) not in subs]
    plain = [key for key, subs in columns.items() if not subs]
    groups = [(key, subs) for key, subs in columns.items() if subs]
    several = len(comparison.sources) > 1
    first = (
        '<th scope="col" rowspan="2">runtime</th>'
        '<th scope="col" rowspan="2">verdicts</th>'
        + "".join(f'<th scope="col" rowspan="2">{_e(key)}</th>' for key in plain)
        + "".join(
            f'<th scope="colgroup" colspan="{len(subs)}" class="group">{_e(key)}</th>'
            for key, subs in groups
        )
        + ('<th scope="col" rowspan="2">results from</th>' if several else "")
    )
    second = "".join(f'<th scope="col">{_e(sub)}</th>' for _, subs in groups for sub in subs)
    body = []
    for name, info in runtimes.items():
        cells = [f'<td class="verdicts">{_totals(comparison.totals(name))}</td>']
        cells += [f"<td>{_field(info[key]) if key in info else _MISSING}</td>" for key in plain]
        for key, subs in groups:
            value = info.get(key)
            mapping: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
            for sub in subs:
                cells.append(f"<td>{_field(mapping[sub]) if sub in mapping else _MISSING}</td>")
        if several:
            cells.append(f"<td>{_e(', '.join(_sources_of(comparison, name)) or '—')}</td>")
        body.append(f'<tr><th scope="row">{_e(name)}</th>{"".join(cells)}</tr>')
    return (
        '<section aria-labelledby="runtimes-heading">'
        '<h2 id="runtimes-heading">Runtimes</h2>'
        f'<div class="scroll"><table class="runtimes-table"><thead><tr>{first}</tr>'
        + (f"<tr>{second}</tr>" if second else "")
        + f"</thead><tbody>{''.join(body)}</tbody></table></div>"
        "</section>"
    )


_MISSING = '<span class="none-value">—</span>'


def _field(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return '<span class="none-value">none</span>'
    if isinstance(value, str) and re.fullmatch(r"sha256:[0-9a-f]{20,}", value):
        return f'<code title="{_e(value)}">{_e(value[:19])}…</code>'  # as docker shows ids
    if isinstance(value, Mapping) and all(isinstance(v, str | int | float) for v in value.values()):
        return "<br>".join(_code(f"{k}={v}") for k, v in value.items())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _code(shlex.join(value))
    return _code(printable(value) if isinstance(value, str) else value_text(value))


def _code(text: str) -> str:
    """Short values stay on one line; long ones (paths, ids) may wrap anywhere."""
    return f'<code class="long">{_e(text)}</code>' if len(text) > 32 else f"<code>{_e(text)}</code>"


def _sources_of(comparison: Comparison, runtime: str) -> list[str]:
    names = {cell.source.name for (_, name), cell in comparison.cells.items() if name == runtime}
    return [source.name for source in comparison.sources if source.name in names]


# -- the matrix ---------------------------------------------------------------------------------


def _legend() -> str:
    items = [f"<li>{_badge(verdict)} {_e(MEANINGS[verdict])}</li>" for verdict in LABELS] + [
        f"<li>{_badge(None)} no result for this claim on this runtime</li>"
    ]
    return f'<ul class="legend" aria-label="Legend">{"".join(items)}</ul>'


def _badge(verdict: str | None) -> str:
    glyph, label = LABELS.get(verdict or "", NOT_RUN if verdict is None else ("?", verdict or ""))
    css = verdict if verdict in LABELS else "none"
    return (
        f'<span class="badge {css}"><span class="glyph" aria-hidden="true">{_e(glyph)}</span>'
        f"{_e(label)}</span>"
    )


def _matrix(comparison: Comparison, ids: _CellIds) -> str:
    runtimes = comparison.runtimes
    head = "".join(_column_head(name, info) for name, info in runtimes.items())
    body = []
    for section, claims in comparison.sections.items():
        rows = [
            f'<tr><th class="section" colspan="{len(runtimes) + 1}" scope="colgroup">'
            f"{_e(section)}</th></tr>"
        ]
        rows += [_row(comparison, claim, ids) for claim in claims]
        body.append(f"<tbody>{''.join(rows)}</tbody>")
    width = 22 + 14 * len(runtimes)
    return (
        '<section aria-labelledby="matrix-heading">'
        '<h2 id="matrix-heading">Claims</h2>'
        f"{_legend()}"
        '<p class="hint-line">Select a verdict (click, or Tab then Enter) to see its evidence; '
        "Escape closes it.</p>"
        f'<table class="matrix" id="matrix" style="min-width: {width}rem">'
        '<colgroup><col class="claim-col">'
        f'<col span="{max(len(runtimes), 1)}" class="runtime-col"></colgroup>'
        f'<thead><tr><th scope="col">Claim</th>{head}</tr></thead>'
        f"{''.join(body)}</table>"
        "</section>"
    )


def _column_head(name: str, info: Mapping[str, Any]) -> str:
    details = [str(info["kind"])] if info.get("kind") else []
    run_args = info.get("run_args")
    if isinstance(run_args, list) and run_args:
        details.append(shlex.join(str(arg) for arg in run_args))
    version = info.get("version")
    versions = (
        " · ".join(f"{key} {value}" for key, value in version.items())
        if isinstance(version, Mapping)
        else ""
    )
    return (
        f'<th scope="col"><span class="rt-name">{_e(name)}</span>'
        + (f'<span class="rt-detail">{_e(" ".join(details))}</span>' if details else "")
        + (f'<span class="rt-detail">{_e(versions)}</span>' if versions else "")
        + "</th>"
    )


def _row(comparison: Comparison, claim: Claim, ids: _CellIds) -> str:
    head = (
        f'<th class="claim" scope="row" id="{_e(ids.row(claim.id))}">'
        f'<span class="id">{_e(claim.id)}</span>'
        + (f'<span class="says">{_e(claim.says)}</span>' if claim.says else "")
        + (f'<span class="where">{_e(_claim_where(claim))}</span>' if claim.file else "")
        + "</th>"
    )
    cells = []
    for runtime in comparison.runtimes:
        cell = comparison.cell(claim.id, runtime)
        if cell is None:
            cells.append(
                f'<td class="none" data-claim="{_e(claim.id)}" data-runtime="{_e(runtime)}" '
                f'data-verdict="">{_badge(None)}</td>'
            )
        else:
            cells.append(_cell(comparison, claim, runtime, cell, ids))
    return f"<tr>{head}{''.join(cells)}</tr>"


def _claim_where(claim: Claim) -> str:
    return f"{claim.file}:{claim.line}" if claim.line is not None else claim.file


def _cell(comparison: Comparison, claim: Claim, runtime: str, cell: Cell, ids: _CellIds) -> str:
    verdict = cell.verdict
    css = verdict if verdict in LABELS else "none"
    hint = reason(cell, limit=110) if verdict != "pass" else ""
    panel = ids.cell(claim.id, runtime)
    return (
        f'<td class="{css}">'
        f'<button type="button" class="cell {css}" popovertarget="{_e(panel)}" '
        f'data-claim="{_e(claim.id)}" data-runtime="{_e(runtime)}" data-verdict="{_e(verdict)}">'
        f'{_badge(verdict)}<span class="more" aria-hidden="true">evidence</span>'
        f'<span class="sr"> {_e(claim.id)} on {_e(runtime)}</span>'
        + (f'<span class="hint">{_e(hint)}</span>' if hint else "")
        + "</button>"
        f"{_evidence(comparison, claim, runtime, cell, panel, ids)}"
        "</td>"
    )


def _evidence(
    comparison: Comparison, claim: Claim, runtime: str, cell: Cell, panel: str, ids: _CellIds
) -> str:
    """The panel of one cell: why, the checks, the observations, the terminal transcript."""
    evidence = cell.evidence
    title = f"{panel}-title"
    parts = [
        f'<div class="ev-head"><h3 id="{_e(title)}"><code>{_e(claim.id)}</code> on '
        f"<strong>{_e(runtime)}</strong> {_badge(cell.verdict)}</h3>"
        f'<button type="button" class="close" popovertarget="{_e(panel)}" '
        'popovertargetaction="hide">Close <span aria-hidden="true">(Esc)</span></button></div>'
    ]
    if claim.says:
        parts.append(f'<p class="says">{_e(claim.says)}</p>')
    facts = [_claim_where(claim)] if claim.file else []
    duration = cell.record.get("scenario_duration_s")
    if isinstance(duration, int | float):
        facts.append(f"scenario took {duration:.2f} s")
    if len(comparison.sources) > 1:
        facts.append(f"from {cell.source.name}")
    if facts:
        parts.append(f'<p class="where">{_e(" · ".join(facts))}</p>')
    others = [
        (name, other, ids.cell(claim.id, name))
        for name in comparison.runtimes
        if name != runtime and (other := comparison.cell(claim.id, name)) is not None
    ]
    if others:
        buttons = "".join(
            f'<button type="button" class="other" popovertarget="{_e(target)}">'
            f"{_e(name)} {_badge(other.verdict)}</button>"
            for name, other, target in others
        )
        parts.append(f'<p class="others"><span class="where">Same claim on</span> {buttons}</p>')
    if cell.message:
        label = {"not-applicable": "Why not applicable", "error": "Why no verdict"}.get(
            cell.verdict, "Message"
        )
        parts.append(
            f'<span class="label">{_e(label)}</span><p class="message">{_e(_t(cell.message))}</p>'
        )
    if evidence.get("stopped"):
        parts.append(
            '<span class="label">The scenario stopped</span>'
            f'<p class="message">{_e(_t(str(evidence["stopped"])))}</p>'
        )
    checks = [c for c in evidence.get("checks") or [] if isinstance(c, Mapping)]
    if checks:
        parts.append('<span class="label">Checks</span>')
        parts.append(f'<ol class="checks">{"".join(_check(c) for c in checks)}</ol>')
    steps = [s for s in evidence.get("steps") or [] if isinstance(s, Mapping)]
    if steps:
        parts.append('<span class="label">Observations</span>')
        parts.append(f'<ol class="steps">{"".join(_step(s) for s in steps)}</ol>')
    transcript = cell.transcript
    if transcript:
        parts.append('<span class="label">Terminal transcript</span>')
        parts.append(f'<pre class="transcript" tabindex="0">{_e(_t(printable(transcript)))}</pre>')
    if not (cell.message or checks or steps or transcript):
        parts.append("<p>No evidence was recorded.</p>")
    return (
        f'<div class="evidence {_e(cell.verdict)}" id="{_e(panel)}" popover role="dialog" tabindex="-1" '
        f'aria-labelledby="{_e(title)}">{"".join(parts)}</div>'
    )


def _check(check: Mapping[str, Any]) -> str:
    ok = bool(check.get("ok"))
    mark = "✓ holds" if ok else "✗ does not hold"
    line = f' <span class="where">line {_e(check["line"])}</span>' if check.get("line") else ""
    return (
        f'<li class="check {"ok" if ok else "bad"}">'
        f'<span class="head"><span class="mark">{mark}</span>'
        f"<code>{_e(check_words(check))}</code>{line}</span>"
        "<dl>"
        f'<dt>expected</dt><dd class="expected">{_value(check.get("expected"))}</dd>'
        f'<dt>observed</dt><dd class="observed">{_value(check.get("observed"))}</dd>'
        "</dl></li>"
    )


def _value(value: Any) -> str:
    if value == "":
        return '<span class="value empty">(empty)</span>'
    return f'<span class="value">{_e(_t(value_text(value)))}</span>'


def _step(step: Mapping[str, Any]) -> str:
    line = f"line {step['line']}" if step.get("line") is not None else ""
    saved = f" → {step['save']}" if step.get("save") else ""
    took = step.get("duration_s")
    took_text = f" ({took:.2f} s)" if isinstance(took, int | float) else ""
    header = (
        f'<span class="head"><span class="where">{_e(line)}</span> '
        f"<code>{_e(_t(printable(str(step.get('step', ''))), 400))}</code>{_e(saved)}"
        f'<span class="where">{_e(took_text)}</span></span>'
    )
    if "error" in step:
        body = f'<p class="err">could not be made: {_e(_t(str(step["error"])))}</p>'
    elif "value" in step:
        body = f"<pre>{_e(_t(plain_text(step['value'])))}</pre>"
    else:
        body = ""
    return f'<li class="step">{header}{body}</li>'


# -- failures, notes, sources --------------------------------------------------------------------


def _problems(comparison: Comparison, ids: _CellIds) -> str:
    items = []
    for claim, runtime, cell in comparison.problems():
        why = reason(cell, limit=240)
        items.append(
            f"<li>{_badge(cell.verdict)} "
            f'<button type="button" class="link" '
            f'popovertarget="{_e(ids.cell(claim.id, runtime))}">'
            f"<code>{_e(claim.id)}</code> on {_e(runtime)}</button>"
            + (f' <span class="why">— {_e(why)}</span>' if why else "")
            + "</li>"
        )
    if not items:
        return ""
    return (
        '<section aria-labelledby="problems-heading">'
        f'<h2 id="problems-heading">Failures and errors ({len(items)})</h2>'
        f'<ul class="problems">{"".join(items)}</ul></section>'
    )


def _notes(comparison: Comparison) -> str:
    parts = []
    if comparison.notes:
        notes = "".join(f"<li>{_e(note)}</li>" for note in comparison.notes)
        parts.append(f'<h2 id="notes-heading">Notes</h2><ul class="notes">{notes}</ul>')
    if comparison.input_errors:
        errors = "".join(
            f"<li><code>{_e(_where(error))}</code> {_e(str(error.get('message', '')))}"
            + (f" ({_e(source.name)})" if len(comparison.sources) > 1 else "")
            + "</li>"
            for source, error in comparison.input_errors
        )
        parts.append(
            '<h2 id="input-errors-heading">Scenarios that could not be read</h2>'
            f'<ul class="notes">{errors}</ul>'
        )
    if len(comparison.sources) > 1:
        rows = "".join(
            f"<tr><td><code>{_e(s.name)}</code></td><td>{_e(s.started or '—')}</td>"
            f"<td>{_e(s.finished or '—')}</td><td>{_e(s.host.get('kernel', '—'))}</td>"
            f"<td>{_e(s.host.get('machine', '—'))}</td></tr>"
            for s in comparison.sources
        )
        parts.append(
            '<h2 id="sources-heading">Sources</h2>'
            '<p class="meta">Later files win where two hold the same claim on the same runtime.</p>'
            '<table class="runtimes-table"><thead><tr><th scope="col">file</th>'
            '<th scope="col">started</th><th scope="col">finished</th>'
            '<th scope="col">kernel</th><th scope="col">machine</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return f"<section>{''.join(parts)}</section>" if parts else ""


def _where(error: Mapping[str, Any]) -> str:
    file, line = error.get("file"), error.get("line")
    return f"{file}:{line}" if file and line is not None else str(file or "?")


# -- helpers ------------------------------------------------------------------------------------


class _CellIds:
    """Unique element ids for cells and rows, stable for the same claim and runtime names."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, str], str] = {}
        self._taken: set[str] = set()

    def cell(self, claim: str, runtime: str) -> str:
        return self._id(("cell", claim + "\0" + runtime), cell_id(claim, runtime))

    def row(self, claim: str) -> str:
        return self._id(("row", claim), f"r-{_slug(claim)}")

    def _id(self, key: tuple[str, str], wanted: str) -> str:
        if key not in self._given:
            given, number = wanted, 1
            while given in self._taken:
                number += 1
                given = f"{wanted}-{number}"
            self._given[key] = given
            self._taken.add(given)
        return self._given[key]


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _slug(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"_{ord(m.group()):x}_", text)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _t(text: str, limit: int = MAX_TEXT) -> str:
    return truncate(text, limit)


def _s(items: Iterable[Any]) -> str:
    return "" if len(list(items)) == 1 else "s"
