"""Regular expressions of scenarios (``matches``, ``not_matches``), on RE2.

Scenario files are untrusted input, and a backtracking engine (Python's ``re``) can take
exponential time on a pattern like ``(a+)+$``: one line of YAML could hang a run. RE2
(``google-re2``, Google's library with its official Python binding) matches in time linear in
the text whatever the pattern, and refuses what it cannot do so (look-around,
back-references) when the file is loaded.
"""

from __future__ import annotations

import functools
from typing import Any

import re2


class PatternError(ValueError):
    """A ``matches`` pattern RE2 cannot compile; the message says why."""


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """The RE2 program of ``pattern`` (``^`` and ``$`` match at every line, as in grep)."""
    options = re2.Options()
    options.log_errors = False  # the message is ours to give, once
    options.max_mem = 64 << 20
    try:
        return re2.compile(f"(?m){pattern}", options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args else "invalid"
        reason = reason.replace("(?m)", "", 1)  # the flag is ours, not the scenario's
        if isinstance(exc.args[0], bytes) and b"perl operator" in exc.args[0]:
            reason += " (RE2 has no look-around or back-references)"
        raise PatternError(reason) from None
