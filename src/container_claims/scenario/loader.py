"""YAML loading that remembers where every mapping key and list item came from.

Error messages must point at ``file:line``; PyYAML's plain loader forgets the marks once it
has built Python objects, so this module builds the objects from the node tree itself and keeps
each node's line on the containers it returns (the idea of tavern's loader).

Scenario files are shared like code and run as root, so a file is hostile input: its size is
bounded (:mod:`.source`), and so is every way to make a YAML loader recurse, expand or grow
without end (:mod:`.yaml_limits`); every failure is one ``file:line: message``, never a
traceback.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import yaml

from container_claims.errors import ScenarioError
from container_claims.scenario.source import check_size, line_at
from container_claims.scenario.wording import clip, one_line
from container_claims.scenario.yaml_limits import (
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    BoundedLoader,
    Events,
)

# Every text goes through libyaml's parser when it is there: 100 times faster than PyYAML's
# pure-Python one, so that even a hostile 1 MiB file parses in well under a second, and a
# thousand real files in a fraction of one. A syntax error in a text up to this size is parsed
# again by the pure-Python parser, whose messages are the familiar ones.
_PURE_PYTHON_CHARS = 1 << 14

_YAML = "tag:yaml.org,2002:"
_TEXT = _YAML + "str"
_MERGE = _YAML + "merge"  # "<<"
_VALUE = _YAML + "value"  # "="; PyYAML's merge handling made it a text key, keep that
_KINDS = {  # the scalar tags SafeLoader constructs, with what a message calls them
    _YAML + "null": "a valid null",
    _YAML + "bool": "a valid boolean",
    _YAML + "int": "a valid integer",
    _YAML + "float": "a valid number",
    _YAML + "timestamp": "a valid date",
    _YAML + "binary": "valid base64 data",
    _TEXT: "valid text",
}
_NUMBERS = (_YAML + "int", _YAML + "float")


class MarkedDict(dict[str, Any]):
    """A mapping that knows the 1-based line of itself and of each of its keys."""

    line: int
    key_lines: dict[str, int]


class MarkedList(list[Any]):
    """A list that knows the 1-based line of itself and of each item."""

    line: int
    item_lines: list[int]


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
        loader = BoundedLoader(events, path)
        node = loader.get_single_node()
        if node is None:
            return None
        return _convert(loader, node, path)
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


def line_of(document: Any, path: Sequence[str | int]) -> int | None:
    """The line of the deepest element of ``path`` (keys and indexes) found in ``document``."""
    line = getattr(document, "line", None)
    current = document
    for part in path:
        if isinstance(current, MarkedDict) and isinstance(part, str) and part in current:
            line = current.key_lines[part]
            current = current[part]
        elif isinstance(current, MarkedList) and isinstance(part, int) and part < len(current):
            line = current.item_lines[part]
            current = current[part]
        else:
            break
    return line


# -- nodes to marked values ----------------------------------------------------------------------


def _convert(loader: BoundedLoader, node: yaml.Node, path: str) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        _check_tag(node, _YAML + "map", "mapping", path)
        return _mapping(loader, node, path)
    if isinstance(node, yaml.SequenceNode):
        _check_tag(node, _YAML + "seq", "list", path)
        items = MarkedList(_convert(loader, item, path) for item in node.value)
        items.line = line
        items.item_lines = [item.start_mark.line + 1 for item in node.value]
        return items
    assert isinstance(node, yaml.ScalarNode)
    return _scalar(loader, node, path)


def _mapping(loader: BoundedLoader, node: yaml.MappingNode, path: str) -> MarkedDict:
    """The mapping's own keys, checked for duplicates, then the keys ``<<`` merges in.

    A key written in the mapping overrides a merged one, and among ``<<: [*a, *b]`` the first
    mapping listed wins (YAML's merge rule); merged keys keep the line of their anchor.
    """
    keys: list[str | None] = []  # None for "<<"
    key_lines: dict[str, int] = {}
    merge_line = 0
    for key_node, _ in node.value:
        line = key_node.start_mark.line + 1
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _MERGE:
            if merge_line:
                raise ScenarioError(
                    path,
                    line,
                    f"duplicate key '<<' (first at line {merge_line}); "
                    "merge several mappings with '<<: [*a, *b]'",
                )
            merge_line = line
            keys.append(None)
            continue
        key = _key(key_node, path)
        if key in key_lines:
            raise ScenarioError(
                path, line, f"duplicate key {_quote(key)} (first at line {key_lines[key]})"
            )
        key_lines[key] = line
        keys.append(key)
    result = MarkedDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for written, (_, value_node) in zip(keys, node.value, strict=True):
        if written is not None:
            result[written] = _convert(loader, value_node, path)
            result.key_lines[written] = key_lines[written]
            continue
        for source in _merged(value_node, path):
            merged = _mapping(loader, source, path)
            for merged_key, value in merged.items():
                if merged_key not in key_lines and merged_key not in result:
                    result[merged_key] = value
                    result.key_lines[merged_key] = merged.key_lines[merged_key]
    return result


def _merged(node: yaml.Node, path: str) -> list[yaml.MappingNode]:
    """The mappings a ``<<`` value names: one mapping, or a list of them."""
    sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
    for source in sources:
        if not isinstance(source, yaml.MappingNode):
            raise ScenarioError(
                path,
                source.start_mark.line + 1,
                f"'<<' merges a mapping or a list of mappings (such as *base), "
                f"not {_kind_of(source)}",
            )
        _check_tag(source, _YAML + "map", "mapping", path)
    if isinstance(node, yaml.SequenceNode):
        _check_tag(node, _YAML + "seq", "list", path)
    return list(sources)


def _key(node: yaml.Node, path: str) -> str:
    """A key's text, checked on the node: a key that is not text is never constructed."""
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.ScalarNode):
        raise ScenarioError(path, line, f"keys must be text, not {_kind_of(node)}")
    if node.tag not in (_TEXT, _VALUE):
        raise ScenarioError(path, line, f"keys must be text, not {_written(node)}")
    return str(node.value)


def _scalar(loader: BoundedLoader, node: yaml.ScalarNode, path: str) -> Any:
    line = node.start_mark.line + 1
    kind = _KINDS.get(node.tag)
    if kind is None:
        if hint := _quote_hint(loader, node):  # "=" or "<<" as a value
            raise ScenarioError(path, line, f"{_written(node)} has a special meaning in YAML{hint}")
        raise ScenarioError(
            path, line, f"the tag {_tag(node.tag)} is not supported; write a plain value"
        )
    if node.tag in _NUMBERS and len(node.value) > MAX_NUMBER_CHARS:
        raise ScenarioError(
            path,
            line,
            f"the number {_quote(node.value)} is {len(node.value):,} characters long "
            f"(at most {MAX_NUMBER_CHARS}){_quote_hint(loader, node)}",
        )
    try:
        return loader.construct_object(node)
    except Exception as exc:  # the constructors of !!int, !!timestamp... fail in many ways
        reason = ""
        if isinstance(exc, ValueError | OverflowError):
            reason = f" ({one_line(str(exc))})"
        elif isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
            reason = f" ({one_line(exc.problem)})"
        hint = _quote_hint(loader, node)
        raise ScenarioError(
            path, line, f"{_quote(node.value)} is not {kind}{reason}{hint}"
        ) from None


def _quote_hint(loader: BoundedLoader, node: yaml.ScalarNode) -> str:
    """The fix for a plain scalar that YAML reads as a number, a date...: quotes make it text."""
    resolved = loader.resolve(yaml.ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]
    return "; quote it to keep it as text" if not node.style and resolved == node.tag else ""


def _check_tag(node: yaml.Node, plain: str, kind: str, path: str) -> None:
    if node.tag != plain:  # !!set, !!omap, !!python/...: never constructed
        raise ScenarioError(
            path,
            node.start_mark.line + 1,
            f"the tag {_tag(node.tag)} is not supported; write a plain {kind}",
        )


# -- message helpers -----------------------------------------------------------------------------


def _kind_of(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    assert isinstance(node, yaml.ScalarNode)
    return f"the value {_written(node)}"


def _written(node: yaml.ScalarNode) -> str:
    """A scalar as a message shows it: as written when plain and short, else quoted and cut."""
    value = str(node.value)
    if not node.style and value.isprintable() and len(value) <= 40:  # plain: None, or ""
        return value or "null"
    return _quote(value)


def _quote(value: str) -> str:
    return clip(repr(value), 60)


def _tag(tag: str) -> str:
    short = "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag
    return clip(short if short.isprintable() else repr(short), 60)


def _bad_character(character: str) -> str:
    code = ord(character)
    what = f"control character 0x{code:02x}" if code < 0xA0 else f"character U+{code:04X}"
    return f"invalid YAML: {what} is not allowed (write it as an escape in a double-quoted string)"
