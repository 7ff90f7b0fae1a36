"""YAML loading that remembers where every mapping key and list item came from.

Error messages must point at ``file:line``; PyYAML's plain loader forgets the marks once it
has built Python objects, so the values are built here from the parser's events (the idea of
tavern's loader, without its node tree: :mod:`.yaml_values`), each mapping and list keeping
its lines (:mod:`.marked`).

Scenario files are shared like code and run as root, so a file is hostile input: its size is
bounded (:mod:`.source`), and so is every way to make a YAML loader recurse, expand or grow
without end (:mod:`.yaml_limits`); every failure is one ``file:line: message``, never a
traceback.
"""

from __future__ import annotations

import gc
from typing import Any

import yaml

from container_claims.errors import ScenarioError
from container_claims.scenario.marked import MarkedDict, MarkedList, line_of
from container_claims.scenario.source import check_size, line_at
from container_claims.scenario.wording import one_line
from container_claims.scenario.yaml_limits import MAX_DEPTH
from container_claims.scenario.yaml_values import Events, build

__all__ = ["MarkedDict", "MarkedList", "line_of", "load_yaml"]

# Every text goes through libyaml's parser when it is there: 100 times faster than PyYAML's
# pure-Python one, so that even a hostile 1 MiB file parses in well under a second, and a
# thousand real files in a fraction of one. A syntax error in a text up to this size is parsed
# again by the pure-Python parser, whose messages are the familiar ones.
_PURE_PYTHON_CHARS = 1 << 14


def load_yaml(text: str, path: str) -> Any:
    """Parse one YAML document into dicts/lists that carry line numbers.

    Raises :class:`ScenarioError` (one line, with the position) for syntax errors, for
    duplicate keys, which plain YAML loaders silently accept, and for documents over the limits.
    """
    check_size(text, path)
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if bad is not None:  # here for either parser; PyYAML's ReaderError has no line
        raise ScenarioError(path, line_at(text, bad.start()), _bad_character(bad.group()))
    fast = bool(yaml.__with_libyaml__)
    try:
        return _load(text, path, fast=fast)
    except _InvalidYaml as invalid:
        if not fast or len(text) > _PURE_PYTHON_CHARS:
            raise invalid.error from None
    # libyaml found a syntax error in a file of a usual size: PyYAML's parser says it in the
    # words people know (and, in the rare case they disagree, its verdict stands).
    try:
        return _load(text, path, fast=False)
    except _InvalidYaml as invalid:
        raise invalid.error from None


class _InvalidYaml(Exception):
    """A syntax error as the parser saw it: ``error`` is the one line to show."""

    def __init__(self, error: ScenarioError) -> None:
        super().__init__(str(error))
        self.error = error


def _load(text: str, path: str, *, fast: bool) -> Any:
    """The document of ``text`` as marked values: :class:`ScenarioError` for what the loader
    refuses, :class:`_InvalidYaml` for what the parser does.

    ``fast``: libyaml's parser, else PyYAML's.
    """
    try:
        try:
            return _load_events(text, path, fast=fast)
        except _TooDeepForLibyaml as too_deep:
            # libyaml (0.2.6, in PyYAML 6.0.4) stops at 1,000 levels, and it can get there
            # before the events reach the loader: it reads a flow collection ahead to learn
            # whether it is a key. The text before that point parses as it did; loaded alone,
            # it meets the level past MAX_DEPTH (which lies before it) and refuses it at its
            # own line, as when libyaml had no limit.
            line = too_deep.line
            _load_events(text[: too_deep.index], path, fast=fast)
    except _TooDeepForLibyaml:
        pass  # the same limit again, before the cut: cannot be, but still one line
    except RecursionError:  # the limits should make this impossible: still one line
        raise ScenarioError(path, None, "the document nests too deeply to load") from None
    except MemoryError:
        raise ScenarioError(path, None, "the document is too large to load") from None
    # Only if the text before the cut loaded: its more than 1,000 levels hold the 65th.
    raise ScenarioError(path, line, f"nesting deeper than {MAX_DEPTH} levels")


#: How libyaml's own nesting limit says it (the context names the flow or block level).
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"


class _TooDeepForLibyaml(Exception):
    """libyaml's own nesting limit, met at character ``index`` (at most where it was met)."""

    def __init__(self, index: int, line: int) -> None:
        super().__init__(index, line)
        self.index = index
        self.line = line


def _load_events(text: str, path: str, *, fast: bool) -> Any:
    events: Events = yaml.CBaseLoader(text) if fast else yaml.SafeLoader(text)
    collecting = gc.isenabled()
    gc.disable()  # the up to MAX_VALUES new containers would run the cycle collector over and over
    try:
        return build(events, path)
    except yaml.MarkedYAMLError as exc:
        if exc.problem == _LIBYAML_TOO_DEEP and exc.problem_mark is not None:
            # libyaml's index counts characters, but not a byte order mark: never past the spot
            at = exc.problem_mark
            raise _TooDeepForLibyaml(min(at.index, len(text)), at.line + 1) from None
        # "while scanning a quoted scalar" (context) points where the trouble starts; the
        # problem mark may lie past the end of the file.
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = "; ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise _InvalidYaml(
            ScenarioError(path, line, f"invalid YAML: {one_line(problem)}")
        ) from None
    except yaml.YAMLError as exc:  # no mark; a ReaderError has a position instead
        position = getattr(exc, "position", None)
        line = line_at(text, position) if isinstance(position, int) else None
        raise _InvalidYaml(
            ScenarioError(path, line, f"invalid YAML: {one_line(str(exc))}")
        ) from None
    finally:
        events.dispose()
        if collecting:
            gc.enable()


def _bad_character(character: str) -> str:
    code = ord(character)
    what = f"control character 0x{code:02x}" if code < 0xA0 else f"character U+{code:04X}"
    return f"invalid YAML: {what} is not allowed (write it as an escape in a double-quoted string)"
