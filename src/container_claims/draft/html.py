"""An HTML page as the article's lines: ``<pre>`` blocks (and ``<code>`` spanning lines) are
code, ``<h1>``..``<h6>`` headings, the other text prose paragraphs.

A hostile page may nest ten thousand elements, leave a quote or a comment open, or hold
megabytes on one line. So there is no tree and no stack: one pass over the text that keeps
counters (how deep in ``<pre>``), each tag found with ``str.find`` from where the last one
ended, so the whole pass is linear in the page. Attributes are not read; ``<script>``,
``<style>`` and comments are skipped whole.
"""

from __future__ import annotations

import html

from container_claims.draft.article import MAX_LINE_CHARS, MAX_PARAGRAPH_CHARS, Line

#: Tags that end a paragraph of prose (and the text of a heading).
_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "title",
        "tr",
        "ul",
    ]
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
#: Elements whose content is not text of the article.
_SKIPPED = ("script", "style", "template", "noscript")


class _Page:
    """What the pass has found so far, and the line it is on."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.cut: list[int] = []  # code lines cut at MAX_LINE_CHARS
        self.title = ""
        self.first_h1 = ""
        self.block = 0
        self.prose: list[str] = []
        self.prose_chars = 0  # kept as it grows: summing the list each time would be quadratic
        self.prose_line = 0
        self.heading: list[str] | None = None  # inside h1..h6
        self.heading_tag = ""
        self.in_title = False
        self.title_text: list[str] = []
        self.pre = 0  # depth of <pre>
        self.code = 0  # depth of <code> outside <pre>
        self.code_text: list[tuple[int, str]] = []  # (line, text) inside <pre> or <code>

    # -- text ---------------------------------------------------------------------------------

    def text(self, chunk: str, line: int) -> None:
        if self.in_title:
            self.title_text.append(chunk)
        elif self.pre or self.code:
            self.code_text.append((line, chunk))
        elif self.heading is not None:
            self.heading.append(chunk)
        elif chunk.strip():
            if not self.prose:
                self.prose_line = line + _leading_newlines(chunk)
            if self.prose_chars < MAX_PARAGRAPH_CHARS:
                self.prose.append(chunk)
                self.prose_chars += len(chunk)

    def end_paragraph(self) -> None:
        if self.prose:
            words = " ".join(" ".join(self.prose).split())[:MAX_PARAGRAPH_CHARS]
            self.lines.append(Line(self.prose_line, words, "prose"))
            self.prose, self.prose_chars = [], 0

    def end_code(self, *, always: bool) -> None:
        """The text of a ``<pre>`` (or of a ``<code>`` with a line break: else ``always`` is
        false and it is prose) as numbered code lines."""
        chunks, self.code_text = self.code_text, []
        joined = "".join(chunk for _, chunk in chunks)
        if not always and "\n" not in joined.strip("\n"):
            if joined.strip():
                self.text(joined, chunks[0][0])
            return
        self.end_paragraph()
        self.block += 1
        numbered: list[tuple[int, str]] = []
        parts: list[str] = []
        start = chunks[0][0] if chunks else 0
        for chunk_line, chunk in chunks:
            line = chunk_line  # a chunk knows its own line: a <br> added a break, not a line
            for index, piece in enumerate(chunk.split("\n")):
                if index:
                    numbered.append((start, "".join(parts)))
                    parts, line = [], line + 1
                    start = line
                parts.append(piece)
        numbered.append((start, "".join(parts)))
        if numbered and not numbered[0][1]:
            numbered.pop(0)  # a line break right after <pre> is not content (HTML's rule)
        while numbered and not numbered[-1][1].strip():
            numbered.pop()
        for number, text in numbered:
            if len(text) > MAX_LINE_CHARS:
                self.cut.append(number)
            self.lines.append(Line(number, text[:MAX_LINE_CHARS], "code", self.block))

    # -- tags ---------------------------------------------------------------------------------

    def tag(self, name: str, closing: bool, line: int) -> None:
        if name == "title":
            if closing and self.in_title:
                self.title = " ".join("".join(self.title_text).split())[:MAX_LINE_CHARS]
            self.in_title = not closing
            return
        if name == "pre":
            if not closing:
                if not self.pre:
                    self.end_paragraph()
                    self.code_text = []
                self.pre += 1
            elif self.pre:
                self.pre -= 1
                if not self.pre:
                    self.end_code(always=True)
            return
        if name == "code" and not self.pre:
            if not closing:
                if not self.code:
                    self.code_text = []
                self.code += 1
            elif self.code:
                self.code -= 1
                if not self.code:
                    self.end_code(always=False)
            return
        if name == "br" and (self.pre or self.code):
            self.code_text.append((line, "\n"))
            return
        if self.pre or self.code:
            return  # markup inside code (highlighting spans): only its text counts
        if name in _HEADINGS:
            if not closing:
                self.end_paragraph()
                self.heading, self.heading_tag = [], name
                self.prose_line = line
            elif self.heading is not None:
                text = " ".join("".join(self.heading).split())[:MAX_LINE_CHARS]
                if text:
                    self.lines.append(Line(self.prose_line, text, "heading"))
                    if self.heading_tag == "h1" and not self.first_h1:
                        self.first_h1 = text
                self.heading = None
            return
        if name in _BLOCKS:
            self.end_paragraph()


def _leading_newlines(chunk: str) -> int:
    return chunk[: len(chunk) - len(chunk.lstrip())].count("\n")


def html_lines(text: str) -> tuple[list[Line], str, tuple[int, ...]]:
    """The page's lines, its title (``<title>``, else the first ``<h1>``) and the lines cut
    at :data:`MAX_LINE_CHARS`."""
    page = _Page()
    lower = text.lower()  # for finding tag names and the ends of skipped elements
    last_close = text.rfind(">")  # no tag begins after it: no search for one past it either
    position, line, size = 0, 1, len(text)
    while position < size:
        start = text.find("<", position)
        if start < 0:
            start = size
        if start > position:
            page.text(html.unescape(text[position:start]), line)
            line += text.count("\n", position, start)
        if start >= size:
            break
        end, name, closing = _tag_at(text, lower, start, last_close)
        if end < 0:  # a lone "<", or one that never closes: it is text
            page.text("<", line)
            position = start + 1
            continue
        if name and not closing and name in _SKIPPED:
            close = lower.find(f"</{name}", end)
            end = size if close < 0 else close
        elif name:
            page.tag(name, closing, line)
        line += text.count("\n", start, end)
        position = end
    if page.pre or page.code:
        page.end_code(always=bool(page.pre))
    page.end_paragraph()
    return page.lines, page.title or page.first_h1, tuple(page.cut)


def _tag_at(text: str, lower: str, start: int, last_close: int) -> tuple[int, str, bool]:
    """Where the markup at ``start`` ends (-1: it is no markup), its element's name ("" for
    a comment, a doctype, a processing instruction) and whether it closes the element.
    ``last_close`` is the last ``>`` of the page: a ``<`` after it opens no tag, found at
    once (a search from each of a million ``<`` would go to the end every time)."""
    if start > last_close:
        return -1, "", False
    if lower.startswith("<!--", start):
        close = text.find("-->", start + 4)
        return (len(text) if close < 0 else close + 3), "", False
    follow = lower[start + 1 : start + 2]
    if follow in ("!", "?"):
        close = text.find(">", start)
        return (len(text) if close < 0 else close + 1), "", False
    closing = follow == "/"
    at = start + 2 if closing else start + 1
    if not lower[at : at + 1].isalpha():
        return -1, "", False
    close = text.find(">", at)
    if close < 0:
        return -1, "", False
    name_end = at
    limit = min(close, at + 16)
    while name_end < limit and (lower[name_end].isalnum() or lower[name_end] == "-"):
        name_end += 1
    return close + 1, lower[at:name_end], closing
