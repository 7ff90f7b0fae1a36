"""An article's drafts: made from its transcripts (:func:`draft_article`), written
(:func:`write_drafts`) and summed up for ``container-claims draft`` (:func:`summary_lines`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from container_claims.draft.article import MAX_LINE_CHARS, Article
from container_claims.draft.drafting import DraftFile, SessionDraft, Skipped
from container_claims.draft.transcript import (
    MAX_COMMANDS,
    MAX_SESSIONS,
    Transcript,
    parse_transcript,
)
from container_claims.errors import InputError

#: Most skipped entries the summary lists (the others are counted).
SHOWN_SKIPPED = 200

_FORMAT_WORDS = {"markdown": "Markdown", "html": "HTML", "text": "plain text"}


@dataclass(frozen=True)
class Drafts:
    """An article's drafts: one per session, and what of the article went into none."""

    transcript: Transcript
    files: tuple[DraftFile, ...]
    skipped: tuple[Skipped, ...]

    @property
    def commands(self) -> int:
        """Typed commands of the article's transcripts (in sessions or not)."""
        loose = sum(1 for u in self.transcript.unplaced if u.command and u.command.typed)
        return sum(f.commands for f in self.files) + loose

    @property
    def placed(self) -> int:
        """Those that became steps of a written draft (a ``docker run`` its container)."""
        return sum(f.placed for f in self.files if f.text)


def draft_article(article: Article) -> Drafts:
    """The drafts of ``article``: nothing is written (see :func:`write_drafts`)."""
    transcript = parse_transcript(article)
    width = max(2, len(str(len(transcript.sessions))))
    files = []
    for session in transcript.sessions:
        draft = SessionDraft(transcript, session, width)
        draft.build()
        files.append(draft.file())
    skipped = [Skipped(u.line, u.text, u.reason) for u in transcript.unplaced]
    skipped += [
        Skipped(line, f"line {line}", f"longer than {MAX_LINE_CHARS:,} characters: cut there")
        for line in article.cut_lines
    ]
    if transcript.sessions_left_out:
        skipped.append(
            Skipped(
                0,
                f"{transcript.sessions_left_out:,} more sessions",
                f"a draft is made of the first {MAX_SESSIONS} sessions only",
            )  # fmt: skip
        )
    if transcript.commands_left_out:
        skipped.append(
            Skipped(
                0,
                f"{transcript.commands_left_out:,} more commands",
                f"the first {MAX_COMMANDS:,} commands are read only",
            )  # fmt: skip
        )
    return Drafts(transcript, tuple(files), tuple(sorted(skipped, key=lambda s: s.line)))


def write_drafts(drafts: Drafts, directory: Path, *, force: bool) -> list[Path]:
    """Write each draft that has a text as ``DIRECTORY/session-NN.yaml``; none is written when
    one exists and not ``force`` (:class:`InputError` names it). Returns the paths written."""
    targets = [(directory / draft.file_name, draft) for draft in drafts.files if draft.text]
    if not force:
        existing = [path for path, _ in targets if path.exists() or path.is_symlink()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise InputError(
                f"{existing[0]} exists{more}: give --force to replace drafts, or -o another folder"
            )
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path, draft in targets:
            # Never through a link planted where a draft goes; without --force, never over a file.
            flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            flags |= os.O_TRUNC if force else os.O_EXCL
            descriptor = os.open(path, flags, 0o644)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(draft.text)
            written.append(path)
    except OSError as exc:
        where = exc.filename or directory
        raise InputError(f"cannot write the drafts: {where}: {exc.strerror or exc}") from None
    return written


def summary_lines(drafts: Drafts, written: list[Path]) -> list[str]:
    """What ``container-claims draft`` prints: each file written, the counts, and every line
    it could not place or option it did not know (the first :data:`SHOWN_SKIPPED`)."""
    article = drafts.transcript.article
    title = f", {article.title!r}" if article.title else ""
    lines = [f"draft: {article.name} ({_FORMAT_WORDS[article.format]}{title})"]
    paths = {path.name: path for path in written}
    for draft in drafts.files:
        where = f"session {draft.number} (lines from {draft.line})"
        if draft.file_name in paths:
            lines.append(
                f"wrote {paths[draft.file_name]}: {where}: {draft.commands} commands -> "
                f"{draft.steps} steps, {draft.outputs} outputs -> {draft.claims} draft claims"
            )
        else:
            lines.append(f"not written: {where}: {draft.not_written or 'not asked to'}")
    sessions = drafts.transcript.sessions
    outputs = sum(f.outputs for f in drafts.files)
    drafted = sum(f.drafted for f in drafts.files if f.text)
    claims = sum(f.claims for f in drafts.files if f.text)
    lines += [
        f"sessions: {len(sessions)} found, {len(written)} written",
        f"commands: {drafts.commands} found, {drafts.placed} became steps or containers"
        f"{_share(drafts.placed, drafts.commands)}",
        f"outputs: {outputs} found, {drafted} drafted as {claims} claims",
    ]
    skipped = [s for f in drafts.files for s in f.skipped] + list(drafts.skipped)
    skipped.sort(key=lambda s: s.line)
    if skipped:
        lines.append(f"skipped ({len(skipped)}):")
        for item in skipped[:SHOWN_SKIPPED]:
            at = f"line {item.line}: " if item.line else ""
            lines.append(f"  {at}{_clip(item.what)}: {item.why}")
        if len(skipped) > SHOWN_SKIPPED:
            lines.append(f"  ... and {len(skipped) - SHOWN_SKIPPED:,} more")
    return lines


def _share(part: int, whole: int) -> str:
    return f" ({100 * part // whole}%)" if whole else ""


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 100 else flat[:99] + "…"
