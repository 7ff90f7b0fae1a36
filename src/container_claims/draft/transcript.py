"""An article's terminal transcripts: sessions, the commands typed in them, what each printed.

The parse result is plain data, each part with its article line, so that the drafter (and a
later replay of the article) reads it without the article:

- :class:`Transcript`: the article's sessions, the commands that fell in none (each with
  why), code it could not place, and the prose around (for the sentence a claim says);
- :class:`Session`: opened by a ``docker run`` (or ``podman run``); the commands after it
  until ``exit``, the next session, or the end: typed inside, or run on the host meanwhile;
- :class:`Command`: a prompt, what was typed (continuation lines joined, a here-document's
  body apart), its :class:`Output`.

A session's in-container prompts belong to it until ``exit`` or a host prompt; after a host
prompt only a prompt showing the container's own hostname (``root@3c5a8d``) goes back into
it: a bare ``#`` could as well be root's shell on the host. Host commands belong to the
session while its container runs (until ``exit`` or the next interactive ``docker run``).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from container_claims.draft.article import Article, Line
from container_claims.draft.prompts import (
    Prompt,
    Side,
    engine_action,
    here_document,
    is_hex_hostname,
    prompt_of,
)
from container_claims.draft.runline import (
    MAX_COMMAND_CHARS,
    EngineCommand,
    EngineLineError,
    parse_engine_line,
)

#: Most lines of one command's output kept (the rest are counted in ``Output.cut``).
MAX_OUTPUT_LINES = 2000
#: Most lines of a here-document's body looked for before it is taken as unterminated.
MAX_HEREDOC_LINES = 1000
#: Most sessions and commands read from one article: the rest are counted, not drafted.
MAX_SESSIONS = 100
MAX_COMMANDS = 10_000
#: Longest sentence a claim quotes as what it says.
MAX_SENTENCE = 400
#: How far (in lines) a sentence may be from the block it describes.
SENTENCE_REACH = 12


@dataclass(frozen=True)
class Output:
    """What a command printed: its lines as the article shows them, from ``line`` on."""

    line: int
    lines: tuple[str, ...]
    #: Lines beyond :data:`MAX_OUTPUT_LINES`, not kept.
    cut: int = 0

    @property
    def last_line(self) -> int:
        return self.line + len(self.lines) - 1


@dataclass(frozen=True)
class HereDoc:
    """The body of ``CMD <<EOF`` (without the ``EOF`` line), and how it was opened."""

    delimiter: str
    quoted: bool
    strip_tabs: bool
    body: tuple[str, ...]
    #: Where ``<<`` is in the command's text, and where its delimiter word ends.
    at: int
    end: int
    terminated: bool = True


@dataclass(frozen=True)
class Command:
    """A command of a transcript. ``text`` is empty for a prompt alone (``root@3c5a8d:/#``
    with nothing typed: it still shows the container's hostname)."""

    line: int
    text: str
    side: Side
    prompt: str
    output: Output | None = None
    heredoc: HereDoc | None = None
    section: str = ""
    #: The prompt's hostname (``3c5a8d`` of ``root@3c5a8d:/#``), if it shows one.
    host: str | None = None
    #: A bare ``#`` prompt (no user or hostname shown).
    bare: bool = False
    #: The last article line it and its output take.
    last_line: int = 0
    #: Read as ``docker run``/``exec`` (or why it could not be), for engine command lines.
    engine: EngineCommand | None = None
    engine_error: str = ""

    @property
    def typed(self) -> bool:
        return bool(self.text)


@dataclass(frozen=True)
class Session:
    """A container session: the ``run`` that opened it and the commands after it."""

    number: int
    opener: Command
    run: EngineCommand
    commands: tuple[Command, ...]
    #: The container's hostname as its prompts show it, if they do.
    hostname: str | None = None

    @property
    def line(self) -> int:
        return self.opener.line


@dataclass(frozen=True)
class Unplaced:
    """Article lines the parser could not place (a command in no session, code after no
    prompt), with the reason; ``command`` when it was one."""

    line: int
    last_line: int
    text: str
    reason: str
    command: Command | None = None


@dataclass(frozen=True)
class Paragraph:
    line: int
    last_line: int
    text: str


@dataclass(frozen=True)
class Transcript:
    article: Article
    sessions: tuple[Session, ...]
    unplaced: tuple[Unplaced, ...]
    paragraphs: tuple[Paragraph, ...]
    headings: tuple[tuple[int, str], ...]
    #: Sessions and commands past :data:`MAX_SESSIONS` and :data:`MAX_COMMANDS`.
    sessions_left_out: int = 0
    commands_left_out: int = 0

    @functools.cached_property
    def _heading_lines(self) -> list[int]:
        return [number for number, _ in self.headings]

    @functools.cached_property
    def _paragraph_ends(self) -> list[int]:
        return [paragraph.last_line for paragraph in self.paragraphs]

    def commands(self) -> list[Command]:
        """Every typed command, in the article's order: in sessions, then those in none."""
        inside = [c for s in self.sessions for c in (s.opener, *s.commands) if c.typed]
        loose = [u.command for u in self.unplaced if u.command is not None and u.command.typed]
        return sorted(inside + loose, key=lambda c: c.line)

    def section_at(self, line: int) -> str:
        """The heading the article's ``line`` falls under ("" before the first)."""
        index = bisect.bisect_right(self._heading_lines, line) - 1
        return self.headings[index][1] if index >= 0 else ""

    def sentence_near(self, first: int, last: int) -> tuple[int, str] | None:
        """The prose sentence closest to the lines ``first``..``last`` (the last sentence of
        the paragraph before, or the first of the one after, whichever is nearer; before on a
        tie), with its line; None when no prose lies within :data:`SENTENCE_REACH` lines."""
        if not self.paragraphs:
            return None
        index = bisect.bisect_left(self._paragraph_ends, first) - 1
        before = self.paragraphs[index] if index >= 0 else None
        after_index = index + 1
        while after_index < len(self.paragraphs) and self.paragraphs[after_index].line <= last:
            after_index += 1
        after = self.paragraphs[after_index] if after_index < len(self.paragraphs) else None
        gap_before = first - before.last_line if before else None
        gap_after = after.line - last if after else None
        nearer_before = gap_after is None or (gap_before is not None and gap_before <= gap_after)
        if (
            before is not None
            and gap_before is not None
            and gap_before <= SENTENCE_REACH
            and (nearer_before)
        ):
            return before.line, sentences(before.text)[-1]
        if after is not None and gap_after is not None and gap_after <= SENTENCE_REACH:
            return after.line, sentences(after.text)[0]
        return None


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences (after ``.``, ``?`` or ``!`` and a space), each clipped."""
    found, start = [], 0
    words = " ".join(text.split())
    for index, char in enumerate(words):
        if char in ".?!" and words[index + 1 : index + 2] == " ":
            found.append(words[start : index + 1])
            start = index + 2
    if start < len(words):
        found.append(words[start:])
    return [_clip(s) for s in found if s.strip()] or [_clip(words)]


def _clip(sentence: str) -> str:
    if len(sentence) <= MAX_SENTENCE:
        return sentence
    return sentence[: MAX_SENTENCE - 1].rsplit(" ", 1)[0] + "…"


# -- lines to commands ----------------------------------------------------------------------------


def parse_transcript(article: Article) -> Transcript:
    """The sessions of ``article``; see the module's documentation for the rules."""
    lines = article.lines
    plain = article.format == "text"
    headings = tuple((line.number, line.text) for line in lines if line.kind == "heading")
    section_of = _Sections(headings)
    commands: list[Command] = []
    unplaced: list[Unplaced] = []
    used = [False] * len(lines)
    left_out = 0
    index = 0
    while index < len(lines):
        line = lines[index]
        prompt = _command_start(lines, index, plain)
        if prompt is None:
            index += 1
            continue
        if len(commands) >= MAX_COMMANDS:
            left_out += 1
            index += 1
            continue
        command, index = _read_command(lines, index, prompt, plain, section_of(line.number))
        for at in range(_index_of(lines, command.line), index):
            used[at] = True
        commands.append(command)
    unplaced += _stray_code(lines, used)
    sessions, loose, sessions_left_out = _sessions(commands)
    unplaced += loose
    unplaced.sort(key=lambda u: u.line)
    return Transcript(
        article,
        tuple(sessions),
        tuple(unplaced),
        tuple(_paragraphs(lines, used)),
        headings,
        sessions_left_out,
        left_out,
    )


class _Sections:
    def __init__(self, headings: tuple[tuple[int, str], ...]) -> None:
        self.numbers = [number for number, _ in headings]
        self.texts = [text for _, text in headings]

    def __call__(self, line: int) -> str:
        index = bisect.bisect_right(self.numbers, line) - 1
        return self.texts[index] if index >= 0 else ""


def _index_of(lines: Sequence[Line], number: int) -> int:
    """The index of article line ``number`` in ``lines`` (sorted by number)."""
    low, high = 0, len(lines)
    while low < high:
        mid = (low + high) // 2
        if lines[mid].number < number:
            low = mid + 1
        else:
            high = mid
    return low


def _readable(line: Line) -> bool:
    return line.kind in ("code", "text")


def _command_start(lines: Sequence[Line], index: int, plain: bool) -> Prompt | None:
    """The prompt (or bare ``docker run``) line ``index`` begins a command with, else None."""
    line = lines[index]
    if not _readable(line):
        return None
    prompt = prompt_of(line.text)
    if prompt is not None:
        return prompt
    text = line.text.strip()
    if engine_action(text) is None:
        return None
    if plain:
        # In prose, "docker run" may begin a sentence: a bare command line stands alone,
        # after a blank line or a line that announces it ("run:"), and ends in no full stop.
        previous = lines[index - 1] if index else None
        alone = previous is None or previous.kind != "text" or previous.text.rstrip()[-1:] == ":"
        if not alone or text.endswith("."):
            return None
    return Prompt("host", "", text)


def _same_block(first: Line, other: Line, plain: bool) -> bool:
    if plain:
        return other.kind == "text"
    return other.kind == "code" and other.block == first.block


def _read_command(
    lines: Sequence[Line], index: int, prompt: Prompt, plain: bool, section: str
) -> tuple[Command, int]:
    """The command starting at ``index`` (with continuation lines, a here-document's body
    and its output), and the index after it."""
    first = lines[index]
    text = prompt.command
    index += 1
    while text.endswith("\\") and index < len(lines) and _same_block(first, lines[index], plain):
        more = lines[index].text.strip().removeprefix("> ").strip()
        text = (text[:-1].rstrip() + " " + more)[: MAX_COMMAND_CHARS + 1]
        index += 1
    heredoc = None
    start = here_document(text)
    if start is not None:
        body: list[str] = []
        terminated = False
        while index < len(lines) and len(body) < MAX_HEREDOC_LINES:
            line = lines[index]
            if not _same_block(first, line, plain) and not (plain and line.kind == "blank"):
                break
            shown = line.text.removeprefix("> ")
            index += 1
            if (shown.lstrip("\t") if start.strip_tabs else shown).strip() == start.delimiter:
                terminated = True
                break
            body.append(shown)
        heredoc = HereDoc(
            start.delimiter,
            start.quoted,
            start.strip_tabs,
            tuple(body),
            start.at,
            start.end,
            terminated,
        )
    output, index = _read_output(lines, index, first, plain)
    last = output.last_line if output else lines[index - 1].number
    engine, engine_error = None, ""
    if engine_action(text) is not None:
        try:
            engine = parse_engine_line(text)
        except EngineLineError as exc:
            engine_error = str(exc)
    command = Command(
        line=first.number,
        text=text,
        side=prompt.side,
        prompt=prompt.written,
        output=output,
        heredoc=heredoc,
        section=section,
        host=prompt.host,
        bare=prompt.bare,
        last_line=max(last, first.number),
        engine=engine,
        engine_error=engine_error,
    )
    return command, index


def _read_output(
    lines: Sequence[Line], index: int, first: Line, plain: bool
) -> tuple[Output | None, int]:
    """The lines a command printed: the rest of its code block up to the next command, or in
    plain text the lines after it up to a blank line (for an indented command, up to a line
    indented less), a heading, the next command or a line of prose."""
    indent = len(first.text) - len(first.text.lstrip(" \t"))
    taken: list[Line] = []
    cut = 0
    while index < len(lines):
        line = lines[index]
        if plain and line.kind == "blank" and indent >= 2:
            ahead = index + 1
            while ahead < len(lines) and lines[ahead].kind == "blank":
                ahead += 1
            if ahead < len(lines) and _indented(lines[ahead], indent):
                index = ahead
                continue
            break
        if not _same_block(first, line, plain) or _command_start(lines, index, plain):
            break
        if plain and (_prose_like(line.text) or (indent >= 2 and not _indented(line, indent))):
            break
        if len(taken) < MAX_OUTPUT_LINES:
            taken.append(line)
        else:
            cut += 1
        index += 1
    while taken and not taken[-1].text.strip():
        taken.pop()
    if not taken:
        return None, index
    # Lines of a code block are consecutive; blank lines of plain text were skipped above.
    texts = _with_gaps(taken)
    return Output(taken[0].number, tuple(texts), cut), index


def _with_gaps(taken: list[Line]) -> list[str]:
    """The output's lines, with an empty line for each article line it skipped (so that
    ``Output.line + i`` is the article's line of ``lines[i]``)."""
    texts: list[str] = []
    number = taken[0].number
    for line in taken:
        while number < line.number:
            texts.append("")
            number += 1
        texts.append(line.text)
        number += 1
    return texts


def _indented(line: Line, indent: int) -> bool:
    return line.kind == "text" and len(line.text) - len(line.text.lstrip(" \t")) >= indent


def _prose_like(text: str) -> bool:
    """A line of a plain-text article's prose, not of a command's output."""
    body = text.strip()
    return (
        text == text.lstrip()
        and len(body.split()) >= 8
        and body[:1].isupper()
        and body[-1:] in (".", "!", "?", ":")
    )


def _stray_code(lines: Sequence[Line], used: list[bool]) -> list[Unplaced]:
    """Runs of code no command took (a block without a prompt, lines before the first)."""
    found: list[Unplaced] = []
    run: list[Line] = []
    for line, taken in zip(lines, used, strict=True):
        stray = line.kind == "code" and not taken and line.text.strip()
        if stray and (not run or run[-1].block == line.block):
            run.append(line)
            continue
        if run:
            found.append(_stray(run))
        run = [line] if stray else []
    if run:
        found.append(_stray(run))
    return found


def _stray(run: list[Line]) -> Unplaced:
    return Unplaced(
        run[0].number,
        run[-1].number,
        run[0].text.strip(),
        "code after no prompt and no docker run: not placed in a session",
    )


def _paragraphs(lines: Sequence[Line], used: list[bool]) -> list[Paragraph]:
    """Prose (and plain text no command took), in paragraphs that blank lines, headings and
    code end."""
    found: list[Paragraph] = []
    run: list[Line] = []
    for line, taken in zip(lines, used, strict=True):
        if line.kind in ("prose", "text") and not taken:
            run.append(line)
            continue
        if run:
            found.append(_paragraph(run))
            run = []
    if run:
        found.append(_paragraph(run))
    return found


def _paragraph(run: list[Line]) -> Paragraph:
    return Paragraph(run[0].number, run[-1].number, " ".join(line.text.strip() for line in run))


# -- commands to sessions -------------------------------------------------------------------------


class _Open:
    def __init__(self, opener: Command, run: EngineCommand) -> None:
        self.opener = opener
        self.run = run
        self.commands: list[Command] = []
        self.typing = run.interactive or run.tty  # a shell whose prompts come next
        self.hostname: str | None = None


def _sessions(commands: list[Command]) -> tuple[list[Session], list[Unplaced], int]:
    sessions: list[Session] = []
    loose: list[Unplaced] = []
    left_out = 0
    current: _Open | None = None

    def close() -> None:
        nonlocal current, left_out
        if current is None:
            return
        if len(sessions) >= MAX_SESSIONS:
            left_out += 1
        else:
            sessions.append(
                Session(
                    len(sessions) + 1,
                    current.opener,
                    current.run,
                    tuple(current.commands),
                    current.hostname,
                )
            )
        current = None

    def drop(command: Command, reason: str) -> None:
        text = command.text or command.prompt
        loose.append(Unplaced(command.line, command.last_line, text, reason, command))

    for command in commands:
        if command.engine_error:
            drop(command, f"a {_engine_words(command.text)} line that cannot be read: "
                 f"{command.engine_error}")  # fmt: skip
            continue
        engine = command.engine
        if engine is not None and engine.action == "run":
            if current is not None and command.side == "container":
                current.commands.append(command)  # docker inside the container: typed there
                continue
            if (engine.interactive or engine.tty) and not engine.detach:
                close()
                current = _Open(command, engine)
            elif current is not None:
                current.commands.append(command)
                current.typing = False
            else:
                current = _Open(command, engine)
            continue
        if command.side == "container":
            if current is None:
                drop(command, "a container's prompt with no docker run before it")
                continue
            hex_host = command.host if command.host and is_hex_hostname(command.host) else None
            if hex_host and current.hostname is None and current.typing:
                current.hostname = hex_host
            same = hex_host is not None and hex_host == current.hostname
            if not current.typing and not same:
                drop(
                    command,
                    "a '#' prompt after a host command: the container's shell or root's on the "
                    "host? not placed"
                    if command.bare
                    else "a container's prompt that is not the session's container",
                )
                continue
            current.typing = True
            if not command.typed:
                continue
            current.commands.append(command)
            if command.text.split()[:1] in (["exit"], ["logout"]):
                close()
            continue
        if not command.typed:
            continue
        if current is None:
            drop(command, "a host command while no container session is open")
            continue
        current.commands.append(command)
        current.typing = False
    close()
    return sessions, loose, left_out


def _engine_words(text: str) -> str:
    found = engine_action(text)
    return " ".join(found) if found else "docker"
