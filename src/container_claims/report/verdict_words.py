"""How every report says each verdict: one table, a column per renderer.

The terminal matrix is plain text in pytest's words, the Markdown summary bolds what fails
the run, the HTML page gives a glyph, a label (what a screen reader says) and a meaning for
its legend. A verdict that is not in the table (from a newer results file) is shown as it is
written, in each renderer's way.
"""

from __future__ import annotations

from dataclasses import dataclass

from container_claims.results import ERROR, FAIL, NOT_APPLICABLE, PASS


@dataclass(frozen=True)
class VerdictWords:
    terminal: str
    markdown: str
    glyph: str  # HTML: repeats the label, as the colour does
    label: str  # HTML: what a reader (and a screen reader) gets
    meaning: str  # HTML: the legend
    #: Terminal, when the expectations file accepts it (pytest's xfail, lower case: known),
    #: and when it is no longer the verdict the file accepts; None: the verdict as written.
    terminal_expected: str | None = None
    terminal_unexpected: str | None = None
    #: Markdown, when the expectations file accepts it; None: the verdict as written.
    markdown_expected: str | None = None


#: In the order reports list verdicts (the results' VERDICTS).
VERDICT_WORDS = {
    PASS: VerdictWords(
        terminal="pass",
        markdown="pass",
        glyph="✓",
        label="pass",
        meaning="observed, and it holds",
        terminal_unexpected="XPASS",
    ),
    FAIL: VerdictWords(
        terminal="FAIL",
        markdown="**FAIL**",
        glyph="✗",
        label="fail",
        meaning="observed, and it does not hold",
        terminal_expected="xfail",
        terminal_unexpected="FAIL!",
        markdown_expected="fail (expected)",
    ),
    NOT_APPLICABLE: VerdictWords(
        terminal="n/a",
        markdown="n/a",
        glyph="–",
        label="not applicable",
        meaning="the runtime has no such concept",
        terminal_unexpected="n/a!",
    ),
    ERROR: VerdictWords(
        terminal="ERROR",
        markdown="**ERROR**",
        glyph="!",
        label="error",
        meaning="could not be observed",
        terminal_expected="xerror",
        terminal_unexpected="ERROR!",
        markdown_expected="error (expected)",
    ),
}
