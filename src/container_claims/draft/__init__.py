"""Draft scenarios from an article's terminal transcripts (``container-claims draft``).

Flow: :mod:`.article` reads the article (Markdown, HTML or plain text, within bounds) as
lines; :mod:`.transcript` finds its shell sessions, commands and outputs (the parse result,
plain data with article lines); :mod:`.drafting` turns each session into a draft scenario,
with :mod:`.shapes` choosing each claim's operator and :mod:`.yaml_text` spelling it.

An article is untrusted input: the drafter only writes data. No article text becomes a host
command, a runtime's option or a file name (drafts are ``session-01.yaml``... in the folder
the user names), and every claim is ``draft: true``, which ``run`` refuses until a person has
reviewed it.

Its names are imported on first use: the command line imports :mod:`.article` (for the
article formats) at every start, and drafting costs 50 ms that only ``draft`` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from container_claims.draft.article import read_article
    from container_claims.draft.drafting import DraftFile, Skipped
    from container_claims.draft.drafts import Drafts, draft_article, summary_lines, write_drafts

#: Where each of the package's names is defined.
_HOMES = {
    "DraftFile": "drafting",
    "Drafts": "drafts",
    "Skipped": "drafting",
    "draft_article": "drafts",
    "read_article": "article",
    "summary_lines": "drafts",
    "write_drafts": "drafts",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "DraftFile",
    "Drafts",
    "Skipped",
    "draft_article",
    "read_article",
    "summary_lines",
    "write_drafts",
]
