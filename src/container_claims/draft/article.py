"""An article read as lines: its text within bounds, its format, and what each line is.

An article is untrusted input like a scenario: it is read within :data:`MAX_ARTICLE_BYTES`,
refused when it is binary (a NUL byte, invalid UTF-8) with one line naming it, and turned
into :class:`Line` s by code that is linear in its size (no regular expression reads it).
Markdown and HTML say which lines are code (fenced or indented blocks, ``<pre>``); plain text
does not, so its lines stay ``text`` and the transcript parser decides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from container_claims.errors import InputError

#: The largest article read; real ones are well under a megabyte.
MAX_ARTICLE_BYTES = 8 << 20
#: Longest line read as a line; what lies beyond is cut off (and reported), never parsed.
MAX_LINE_CHARS = 8192
#: Longest paragraph of prose kept (HTML can put a whole page on one line).
MAX_PARAGRAPH_CHARS = 16384

Format = Literal["markdown", "html", "text"]
FORMATS: tuple[Format, ...] = ("markdown", "html", "text")
#: What a line is: code (in a fenced block or ``<pre>``), prose, a heading, blank, or, in
#: plain text, ``text`` (a command, its output or prose: the transcript parser tells).
LineKind = Literal["code", "prose", "heading", "blank", "text"]

_EXTENSIONS: dict[str, Format] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".mkd": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".txt": "text",
    ".text": "text",
}


class ArticleError(InputError):
    """An article that cannot be read as one: ``str()`` is one line naming it."""


@dataclass(frozen=True)
class Line:
    """One line of the article as the parser sees it. ``number`` is the article's own line
    (1-based); ``block`` tells code blocks apart (0 outside code)."""

    number: int
    text: str
    kind: LineKind
    block: int = 0


@dataclass(frozen=True)
class Article:
    """An article read: ``name`` as the user gave it (for messages and ``source:``)."""

    name: str
    format: Format
    title: str
    lines: tuple[Line, ...]
    #: Lines longer than :data:`MAX_LINE_CHARS`, cut there.
    cut_lines: tuple[int, ...] = ()


def read_article(path: str, *, stdin: BinaryIO | None = None, form: str | None = None) -> Article:
    """The article at ``path`` (``-``: ``stdin``), as lines of its format (``form`` forces
    one of :data:`FORMATS`, else the file's extension or its first bytes say)."""
    name = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            if stdin is None:
                raise ArticleError("no standard input to read the article from")
            data = stdin.read(MAX_ARTICLE_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                data = b"" if size > MAX_ARTICLE_BYTES else handle.read(MAX_ARTICLE_BYTES + 1)
                if size > MAX_ARTICLE_BYTES:
                    raise ArticleError(_too_big(name))
    except OSError as exc:
        raise ArticleError(f"{name}: cannot read the article: {exc.strerror or exc}") from None
    return parse_article(data, name, form=form, suffix=Path(path).suffix if path != "-" else "")


def parse_article(data: bytes, name: str, *, form: str | None = None, suffix: str = "") -> Article:
    """``data`` as an article named ``name``; :class:`ArticleError` when it is not text."""
    if len(data) > MAX_ARTICLE_BYTES:
        raise ArticleError(_too_big(name))
    nul = data.find(b"\0")
    if nul >= 0:
        raise ArticleError(
            f"{name}:{_line_of_byte(data, nul)}: binary input (a NUL byte): an article is "
            "Markdown, HTML or plain text"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(
            f"{name}:{_line_of_byte(data, exc.start)}: not UTF-8 text (byte "
            f"0x{data[exc.start]:02x}); save the article as UTF-8"
        ) from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    chosen = _format_of(text, form, suffix)
    if chosen == "html":
        from container_claims.draft.html import html_lines

        lines, title, cut = html_lines(text)
    else:
        raw, cut = _split(text)
        lines = markdown_lines(raw) if chosen == "markdown" else text_lines(raw)
        title = _first_heading(lines)
    return Article(name, chosen, title, tuple(lines), cut)


def _line_of_byte(data: bytes, index: int) -> int:
    return data.count(b"\n", 0, index) + 1


def _too_big(name: str) -> str:
    return (
        f"{name}: the article is more than {MAX_ARTICLE_BYTES:,} bytes "
        f"({MAX_ARTICLE_BYTES >> 20} MiB), the most an article may be"
    )


def _format_of(text: str, form: str | None, suffix: str) -> Format:
    if form is not None:
        if form not in FORMATS:
            raise ArticleError(f"format {form!r} is not one of {', '.join(FORMATS)}")
        return form
    by_name = _EXTENSIONS.get(suffix.lower())
    if by_name is not None:
        return by_name
    head = text[:4096].lstrip().lower()
    if head.startswith(("<!doctype html", "<html", "<?xml")) or any(
        tag in head for tag in ("<body", "<pre", "<p>", "<div")
    ):
        return "html"
    for line in text[: 1 << 16].split("\n"):
        if line.lstrip(" ").startswith(("```", "~~~")):
            return "markdown"
    return "text"


def _split(text: str) -> tuple[list[tuple[int, str]], tuple[int, ...]]:
    """Numbered lines, each cut at :data:`MAX_LINE_CHARS`; the numbers of those cut."""
    lines, cut = [], []
    for number, line in enumerate(text.split("\n"), 1):
        if len(line) > MAX_LINE_CHARS:
            cut.append(number)
            line = line[:MAX_LINE_CHARS]
        lines.append((number, line))
    return lines, tuple(cut)


# -- Markdown -------------------------------------------------------------------------------------


def markdown_lines(raw: list[tuple[int, str]]) -> list[Line]:
    """Fenced blocks (``` or ~~~) and indented blocks are code; ``#`` lines and setext
    underlines make headings; the rest is prose or blank. An unclosed fence runs to the end,
    as CommonMark has it."""
    lines: list[Line] = []
    fence = ""  # the open fence's characters, "" outside one
    indented = False  # inside an indented code block (blank lines do not end it)
    block = 0
    for number, text in raw:
        stripped = text.lstrip(" ")
        indent = len(text) - len(stripped)
        if fence:
            if indent <= 3 and _fence_of(stripped).startswith(fence) and not _after_fence(stripped):
                fence = ""
                lines.append(Line(number, "", "blank"))
            else:
                lines.append(Line(number, text, "code", block))
            continue
        if not stripped.strip():
            lines.append(Line(number, "", "blank"))
            continue
        is_indented = indent >= 4 or text.startswith("\t")
        if is_indented and (indented or not lines or lines[-1].kind == "blank"):
            if not indented:
                block, indented = block + 1, True
            lines.append(Line(number, text, "code", block))
            continue
        indented = False
        opened = _fence_of(stripped) if indent <= 3 else ""
        if opened and not (opened[0] == "`" and "`" in _after_fence(stripped)):
            fence, block = opened, block + 1
            lines.append(Line(number, "", "blank"))
        elif _atx(stripped):
            lines.append(Line(number, _atx(stripped), "heading"))
        elif _setext(stripped) and lines and lines[-1].kind == "prose":
            previous = lines.pop()
            lines.append(Line(previous.number, previous.text.strip(), "heading"))
            lines.append(Line(number, "", "blank"))
        else:
            lines.append(Line(number, text, "prose"))
    return lines


def _fence_of(stripped: str) -> str:
    """The run of ` or ~ (three or more) a line begins with, else ""."""
    if not stripped or stripped[0] not in "`~":
        return ""
    run = len(stripped) - len(stripped.lstrip(stripped[0]))
    return stripped[:run] if run >= 3 else ""


def _after_fence(stripped: str) -> str:
    return stripped.lstrip(stripped[0]).strip() if stripped else ""


def _atx(stripped: str) -> str:
    """The text of an ATX heading (``## Title ##``), else ""."""
    level = len(stripped) - len(stripped.lstrip("#"))
    if not 1 <= level <= 6 or (len(stripped) > level and stripped[level] not in " \t"):
        return ""
    return stripped[level:].strip().rstrip("#").strip() or ""


def _setext(stripped: str) -> bool:
    body = stripped.strip()
    return len(body) >= 3 and body[0] in "=-" and body == body[0] * len(body)


# -- plain text -----------------------------------------------------------------------------------


def text_lines(raw: list[tuple[int, str]]) -> list[Line]:
    """Blank lines, headings (a short capitalised line alone between blank lines, with no
    closing punctuation) and text, which the transcript parser reads."""
    lines: list[Line] = []
    for index, (number, text) in enumerate(raw):
        if not text.strip():
            lines.append(Line(number, "", "blank"))
            continue
        before = raw[index - 1][1] if index else ""
        after = raw[index + 1][1] if index + 1 < len(raw) else ""
        if not before.strip() and not after.strip() and looks_like_heading(text):
            lines.append(Line(number, text.strip(), "heading"))
        else:
            lines.append(Line(number, text, "text"))
    return lines


def looks_like_heading(text: str) -> bool:
    """A line a plain-text article uses as a heading: short, capitalised, no sentence."""
    body = text.strip()
    return (
        0 < len(body) <= 60
        and len(body.split()) <= 8
        and body[0].isalpha()
        and body[0].isupper()
        and body[-1] not in ".,:;!?"
        and ":" not in body
        and text == text.lstrip()
    )


def _first_heading(lines: list[Line]) -> str:
    return next((line.text for line in lines if line.kind == "heading"), "")
