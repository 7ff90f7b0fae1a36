"""YAML events to line-marked values, in one pass.

Each event from the parser (libyaml's, or PyYAML's for its messages) becomes part of a value
as it comes, each mapping and list with its lines, and with the checks that SafeLoader's values
need here: the tags it constructs and no other, keys that are text and unique, ``<<`` merges of
mappings (composing PyYAML's node tree first and building the values from it cost twice the
parse). Each event is counted against the limits (:mod:`.yaml_limits`) before it is built.

Errors come out as if the whole document had been composed first and built after: a syntax
error or a limit anywhere wins over a value that cannot be built, and of those the first in
the order of building (a mapping's keys before its values) wins. So a value's error is kept
with its place in that order (a tuple: see :meth:`_Builder.begin`), the building goes on, and
the first such error is raised once the stream has ended.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

import yaml

from container_claims.errors import ScenarioError
from container_claims.scenario.marked import MarkedDict, MarkedList
from container_claims.scenario.wording import clip, one_line
from container_claims.scenario.yaml_limits import (
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    MAX_VALUES,
    defined_twice,
    recursive,
    second_document,
    too_deep,
    too_many,
    undefined,
)

_YAML = "tag:yaml.org,2002:"
_TEXT = _YAML + "str"
_MAP = _YAML + "map"
_SEQ = _YAML + "seq"
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
_NOT_MERGED = "'<<' merges a mapping or a list of mappings (such as *base), not "

_RESOLVER = yaml.resolver.Resolver()
#: The implicit tags (int, bool, null...) by the first character of a plain scalar: a scalar
#: that starts with none of these characters is text, without trying the patterns.
_IMPLICIT: Final = yaml.resolver.Resolver.yaml_implicit_resolvers
assert None not in _IMPLICIT, "a pattern for any first character: every scalar must be tried"
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_CONSTRUCT: Final = yaml.constructor.SafeConstructor.yaml_constructors

_SCALAR_EVENT = yaml.ScalarEvent
_MAPPING_START = yaml.MappingStartEvent
_SEQUENCE_START = yaml.SequenceStartEvent
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_STREAM_END = yaml.StreamEndEvent
_DOCUMENT_START = yaml.DocumentStartEvent

# The kinds of node.
_SCALAR, _MAPPING, _LIST = 0, 1, 2
#: A node as its parent takes it: kind, tag, value (a scalar's text, or the mapping or list
#: built), style (a scalar's: None or "" when plain), line, and for an alias the anchor it
#: repeats (None otherwise): its value is the anchor's, copied where it is used.
_Node = tuple[int, str, Any, "str | None", int, "str | None"]

# What a mapping expects next (besides a key's text, once it has one).
_NO_KEY: Final = object()  # a key
_MERGE_KEY: Final = object()  # the value of "<<"
_BAD_KEY: Final = object()  # the value of a key that was refused: built, then dropped


class Events(Protocol):
    """A parser's event stream: libyaml's (``yaml.CBaseLoader``) or PyYAML's."""

    def get_event(self) -> Any: ...
    def dispose(self) -> None: ...


def build(events: Events, path: str) -> Any:
    """The document of ``events`` as marked values; None for a stream without one.

    Raises :class:`ScenarioError` for what the limits or the values refuse, and lets through
    what the parser raises (``yaml.YAMLError``, as PyYAML's composer raised its own) for its
    caller to word.
    """
    return _Builder(path).document(events)


class _Open:
    """A mapping or a list whose end event has not come yet."""

    __slots__ = (
        "anchor",
        "count",
        "data",
        "entries",
        "height",
        "items",
        "key",
        "key_line",
        "line",
        "lines",
        "mapping",
        "merge_line",
        "merges",
        "tag",
        "values_before",
        "where",
    )

    def __init__(
        self,
        mapping: bool,
        tag: str,
        line: int,
        where: tuple[int, ...],
        anchor: str | None,
        values_before: int,
    ) -> None:
        self.mapping = mapping
        self.tag = tag
        self.line = line
        self.where = where  # its place in the order of building (see _Builder.begin)
        self.anchor = anchor
        self.values_before = values_before  # the values counted before it (for its anchor)
        self.height = 0  # the nesting of its deepest item so far, aliases expanded
        self.count = 0  # the keys or items so far
        self.data: Any
        self.lines: Any  # a mapping's written keys and their lines; a list's item lines
        if mapping:
            self.data = MarkedDict()
            self.data.key_lines = self.lines = {}
        else:
            self.data = MarkedList()
            self.data.item_lines = self.lines = []
        self.data.line = line
        self.key: Any = _NO_KEY  # a mapping's key, once taken (or _MERGE_KEY, _BAD_KEY)
        self.key_line = 0
        self.merge_line = 0  # the line of a mapping's "<<"
        # Once a mapping has "<<": its entries in order, (key, value, line), a merge's key
        # None and its value the mappings it merges; the mapping is made of them at its end.
        self.entries: list[tuple[str | None, Any, int]] | None = None
        self.merges = False  # a list that is the value of "<<": its items are merged
        self.items: list[_Node] | None = None  # an anchored list's items, for "<<: *it"


class _Builder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.open: list[_Open] = []
        self.anchors: dict[str, _Node] = {}
        self.anchored_items: dict[str, list[_Node]] = {}
        # For the limits: where each anchor begins, and the values and height it repeats.
        self.marks: dict[str, Any] = {}
        self.sizes: dict[str, tuple[int, int]] = {}
        self.first: tuple[tuple[int, ...], ScenarioError] | None = None  # see defer
        # Where a mapping or list repeats another (an alias, a merge): copied once the whole
        # document is read, so that a document over the limits is refused before anything
        # is repeated (as the composer refused it before anything was built).
        self.repeats: list[tuple[Any, Any]] = []  # (mapping or list, key or index)

    def document(self, events: Events) -> Any:
        get = events.get_event
        get()  # the stream's start
        if type(get()) is _STREAM_END:  # else the document's start
            return None
        root = self.root(get)
        get()  # the document's end
        event = get()  # the stream's end
        if type(event) is _DOCUMENT_START:
            raise second_document(self.path, event)
        value = self.value(root, None, 0)
        if self.first is not None:
            raise self.first[1]
        for container, key in self.repeats:
            container[key] = _copy(container[key])
        return value

    def root(self, get: Any) -> _Node:
        """Every event of the document, each counted against the limits, then built into its
        parent (in the order PyYAML's composer counted and refused them); the root node."""
        open_ = self.open
        anchors = self.anchors
        marks = self.marks
        path = self.path
        values = 0  # the values so far, aliases expanded
        while True:
            event = get()
            kind = type(event)
            node: _Node
            if kind is _SCALAR_EVENT:
                anchor = event.anchor
                if anchor is not None and anchor in marks:
                    raise defined_twice(marks[anchor], event)
                values += 1
                if values > MAX_VALUES:
                    raise too_many(path, event)
                tag = event.tag
                value = event.value
                if tag is None:
                    if event.implicit[0] and value[:1] in _IMPLICIT:
                        tag = _RESOLVED.get(value) or _resolve_plain(value)
                    else:
                        tag = _TEXT
                elif tag == "!":
                    tag = _resolve(value, event.implicit)
                line = event.start_mark.line + 1
                if tag == _TEXT and anchor is None and open_:
                    # Text, as most scalars are: what take would do, without a node.
                    parent = open_[-1]
                    if parent.mapping:
                        key = parent.key
                        if key is _NO_KEY:
                            if value not in parent.lines:
                                parent.lines[value] = parent.key_line = line
                                parent.key = value
                                continue
                        elif type(key) is str and parent.entries is None:
                            parent.data[key] = value
                            parent.key = _NO_KEY
                            parent.count += 1
                            continue
                    elif not parent.merges and parent.items is None:
                        parent.data.append(value)
                        parent.lines.append(line)
                        parent.count += 1
                        continue
                node = (_SCALAR, tag, value, event.style, line, None)
                if anchor is not None:
                    anchors[anchor] = node
                    marks[anchor] = event.start_mark
                    self.sizes[anchor] = (1, 0)
            elif kind is _MAPPING_START or kind is _SEQUENCE_START:
                anchor = event.anchor
                if anchor is not None and anchor in marks:
                    raise defined_twice(marks[anchor], event)
                if len(open_) >= MAX_DEPTH:
                    raise too_deep(path, event)
                values += 1
                if values > MAX_VALUES:
                    raise too_many(path, event)
                self.begin(event, kind is _MAPPING_START, values - 1)
                if anchor is not None:
                    marks[anchor] = event.start_mark
                continue
            elif kind in _ENDS:
                frame = open_.pop()
                height = frame.height + 1
                if open_ and open_[-1].height < height:
                    open_[-1].height = height
                node = self.end(frame, values)
            else:  # an alias, counted as all it repeats
                values = self.alias(event, values)
                name = event.anchor
                what, tag, value, style, _, _ = anchors[name]
                node = (what, tag, value, style, event.start_mark.line + 1, name)
            if not open_:
                return node
            self.take(open_[-1], node)

    def begin(self, event: Any, mapping: bool, values_before: int) -> None:
        """A mapping or a list opens: its place in the order of building, its tag checked.

        The order is that of a walk of the document where a mapping's keys all come before
        its values (that is how they were built): a node at ``where`` checks itself there,
        its ``k``-th key is at ``where + (1, k)`` and its ``k``-th value or item at
        ``where + (2, k)``. A key that is a mapping or a list is refused at its own place,
        before anything in it (``+ (0,)``). The value of ``<<`` at ``q`` checks the mappings
        it merges at ``q + (0, j)``, the list that holds them at ``q + (1,)``, and what is
        in the ``j``-th of them at ``q + (2, j)``; building the other items of such a list
        (``q + (3, j)``) comes after what refuses them.
        """
        tag = event.tag
        if tag is None or tag == "!":
            tag = _MAP if mapping else _SEQ
        line = event.start_mark.line + 1
        parent = self.open[-1] if self.open else None
        merges = False
        where: tuple[int, ...]
        own: tuple[int, ...]
        if parent is None:
            where = own = ()
        elif parent.mapping:
            if parent.key is _NO_KEY:
                where = own = (*parent.where, 1, parent.count, 0)
            elif parent.key is _MERGE_KEY:
                merged = (*parent.where, 2, parent.count)
                if mapping:
                    own, where = (*merged, 0, 0), (*merged, 2, 0)
                else:
                    own, where, merges = (*merged, 1), merged, True
            else:
                where = own = (*parent.where, 2, parent.count)
        elif parent.merges:
            merged, index = parent.where, parent.count
            if mapping:
                own, where = (*merged, 0, index), (*merged, 2, index)
            else:
                self.defer((*merged, 0, index), line, _NOT_MERGED + "a list")
                where = own = (*merged, 3, index)
        else:
            where = own = (*parent.where, 2, parent.count)
        if tag != (_MAP if mapping else _SEQ):  # !!set, !!omap, !!python/...: never built
            what = "mapping" if mapping else "list"
            self.defer(own, line, f"the tag {_tag(tag)} is not supported; write a plain {what}")
        frame = _Open(mapping, tag, line, where, event.anchor, values_before)
        frame.merges = merges
        if event.anchor is not None and not mapping:
            frame.items = []
        self.open.append(frame)

    def end(self, frame: _Open, values: int) -> _Node:
        data = self.merged(frame) if frame.entries is not None else frame.data
        node = (_MAPPING if frame.mapping else _LIST, frame.tag, data, None, frame.line, None)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = node
            self.sizes[frame.anchor] = (values - frame.values_before, frame.height + 1)
            if frame.items is not None:
                self.anchored_items[frame.anchor] = frame.items
        return node

    def alias(self, event: Any, values: int) -> int:
        """The values so far with those an alias repeats; refused if it repeats what contains
        it, nests too deep once expanded, or passes the limit, and (after these, as PyYAML's
        composer) if its anchor is not defined before it."""
        name = event.anchor
        if any(frame.anchor == name for frame in self.open):
            raise recursive(self.path, event)
        size, height = self.sizes.get(name, (1, 0))
        if len(self.open) + height > MAX_DEPTH:
            raise too_deep(self.path, event, name)
        values += size
        if values > MAX_VALUES:
            raise too_many(self.path, event)
        if self.open and self.open[-1].height < height:
            self.open[-1].height = height
        if name not in self.marks:
            raise undefined(event)
        return values

    def take(self, parent: _Open, node: _Node) -> None:
        """``node`` as the next key, value or item of ``parent``."""
        if parent.mapping:
            key = parent.key
            if key is _NO_KEY:
                self.key(parent, node)
                return
            if key is _MERGE_KEY:
                self.merge(parent, node)
            else:
                value = self.value(node, parent, 2)
                if key is not _BAD_KEY:
                    if parent.entries is None:
                        parent.data[key] = value
                        if type(value) is _Repeat:
                            self.repeats.append((parent.data, key))
                    else:
                        parent.entries.append((key, value, parent.key_line))
            parent.key = _NO_KEY
        else:
            if parent.merges:
                self.source(node, (*parent.where, 0, parent.count), written_here=True)
                value = self.value(node, parent, 3)
            else:
                value = self.value(node, parent, 2)
            if type(value) is _Repeat:
                self.repeats.append((parent.data, len(parent.data)))
            parent.data.append(value)
            parent.lines.append(node[4])
            if parent.items is not None:
                parent.items.append(node)
        parent.count += 1

    def value(self, node: _Node, parent: _Open | None, slot: int) -> Any:
        """What ``node`` is as a value, the ``slot`` of ``parent`` (see :meth:`begin`)."""
        kind, tag, value, style, line, alias = node
        if kind == _SCALAR:
            if tag == _TEXT:
                return value
            return self.scalar(tag, value, style, line, parent, slot)
        if alias is None:
            return value
        # An alias: built again where it is, as the anchor was (whose own errors come first).
        plain, what = (_MAP, "mapping") if kind == _MAPPING else (_SEQ, "list")
        if tag != plain:
            self.defer(
                _place(parent, slot),
                line,
                f"the tag {_tag(tag)} is not supported; write a plain {what}",
            )
        return _Repeat(value, line)

    def scalar(
        self, tag: str, value: str, style: str | None, line: int, parent: _Open | None, slot: int
    ) -> Any:
        kind = _KINDS.get(tag)
        if kind is None:
            if hint := _quote_hint(tag, value, style):  # "=" or "<<" as a value
                message = f"{_written(value, style)} has a special meaning in YAML{hint}"
            else:
                message = f"the tag {_tag(tag)} is not supported; write a plain value"
            self.defer(_place(parent, slot), line, message)
            return None
        if tag in _NUMBERS and len(value) > MAX_NUMBER_CHARS:
            self.defer(
                _place(parent, slot),
                line,
                f"the number {_quote(value)} is {len(value):,} characters long "
                f"(at most {MAX_NUMBER_CHARS}){_quote_hint(tag, value, style)}",
            )
            return None
        try:
            return _CONSTRUCT[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, value, style=style))
        except Exception as exc:  # the constructors of !!int, !!timestamp... fail in many ways
            reason = ""
            if isinstance(exc, ValueError | OverflowError):
                reason = f" ({one_line(str(exc))})"
            elif isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
                reason = f" ({one_line(exc.problem)})"
            hint = _quote_hint(tag, value, style)
            self.defer(_place(parent, slot), line, f"{_quote(value)} is not {kind}{reason}{hint}")
            return None

    def key(self, parent: _Open, node: _Node) -> None:
        """A mapping's next key: text, written once; or ``<<``, once."""
        kind, tag, value, style, line, _ = node
        where = (*parent.where, 1, parent.count)
        parent.key = _BAD_KEY
        if kind == _SCALAR and tag == _MERGE:
            if parent.merge_line:
                self.defer(
                    where,
                    line,
                    f"duplicate key '<<' (first at line {parent.merge_line}); "
                    "merge several mappings with '<<: [*a, *b]'",
                )
                return
            parent.merge_line = line
            parent.key = _MERGE_KEY
            if parent.entries is None:
                parent.entries = [(k, v, parent.lines[k]) for k, v in parent.data.items()]
        elif kind != _SCALAR:
            self.defer(where, line, f"keys must be text, not {_kind_of(node)}")
        elif tag != _TEXT and tag != _VALUE:  # a key that is not text is never constructed
            self.defer(where, line, f"keys must be text, not {_written(value, style)}")
        elif value in parent.lines:
            first = parent.lines[value]
            self.defer(where, line, f"duplicate key {_quote(value)} (first at line {first})")
        else:
            parent.lines[value] = parent.key_line = line
            parent.key = value

    def merge(self, parent: _Open, node: _Node) -> None:
        """The value of ``<<``: a mapping, or a list of them, whose keys the mapping takes
        where it does not write them itself."""
        kind, tag, value, _, line, alias = node
        merged = (*parent.where, 2, parent.count)
        sources: list[MarkedDict] = []
        if kind == _LIST and alias is not None:  # the items of the anchor, checked again
            for index, item in enumerate(self.anchored_items[alias]):
                if self.source(item, (*merged, 0, index), written_here=False):
                    sources.append(item[2])
            if tag != _SEQ:
                self.defer(
                    (*merged, 1), line, f"the tag {_tag(tag)} is not supported; write a plain list"
                )
        elif kind == _LIST:  # its items were checked as they came
            for item in value:
                mapping = item.value if type(item) is _Repeat else item
                if isinstance(mapping, MarkedDict):
                    sources.append(mapping)
        elif self.source(node, (*merged, 0, 0), written_here=True):
            sources = [value]
        assert parent.entries is not None
        parent.entries.append((None, sources, 0))

    def source(self, node: _Node, where: tuple[int, ...], *, written_here: bool) -> bool:
        """Whether ``node`` is a mapping that ``<<`` can merge; an error at ``where`` if not.

        ``written_here``: a mapping or list written in the merge itself (not repeated by an
        alias) was checked when it began.
        """
        kind, tag, _, _, line, alias = node
        checked = written_here and alias is None
        if kind == _MAPPING:
            if not checked and tag != _MAP:
                self.defer(
                    where, line, f"the tag {_tag(tag)} is not supported; write a plain mapping"
                )
            return True
        if not checked or kind == _SCALAR:
            self.defer(where, line, _NOT_MERGED + _kind_of(node))
        return False

    def merged(self, frame: _Open) -> MarkedDict:
        """A mapping with ``<<``: its own keys, then those it merges that it does not write.

        A key written in the mapping overrides a merged one, and among ``<<: [*a, *b]`` the
        first mapping listed wins (YAML's merge rule); merged keys keep the line of their
        anchor, and their values are copies (made with the aliases', at the end).
        """
        assert frame.entries is not None
        written = frame.lines
        result = MarkedDict()
        result.line = frame.line
        result.key_lines = lines = {}
        for key, value, line in frame.entries:
            if key is not None:
                result[key] = value
                lines[key] = line
                if type(value) is _Repeat:
                    self.repeats.append((result, key))
                continue
            for source in value:
                for merged_key, merged_value in source.items():
                    if merged_key not in written and merged_key not in result:
                        if isinstance(merged_value, MarkedDict | MarkedList):
                            merged_value = _Repeat(merged_value, None)
                        if type(merged_value) is _Repeat:
                            self.repeats.append((result, merged_key))
                        result[merged_key] = merged_value
                        lines[merged_key] = source.key_lines[merged_key]
        return result

    def defer(self, where: tuple[int, ...], line: int, message: str) -> None:
        """An error of a value at ``where`` in the order of building: kept if it comes first."""
        if self.first is None or where < self.first[0]:
            self.first = (where, ScenarioError(self.path, line, message))


def _place(parent: _Open | None, slot: int) -> tuple[int, ...]:
    """Where the next value or item of ``parent`` is in the order of building."""
    return () if parent is None else (*parent.where, slot, parent.count)


#: The tags of short plain scalars resolved so far (the same keys and words come back in
#: file after file: "type", "true", "10"...), up to a bound.
_RESOLVED: dict[str, str] = {}


def _resolve_plain(value: str) -> str:
    """The implicit tag of a plain scalar, remembered in :data:`_RESOLVED` when short."""
    tag = _resolve(value, (True, False))
    if len(value) <= 64 and len(_RESOLVED) < 4096:
        _RESOLVED[value] = tag
    return tag


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    return _RESOLVER.resolve(yaml.ScalarNode, value, implicit)  # type: ignore[no-any-return,no-untyped-call]


class _Repeat:
    """In place of a mapping or list that repeats ``value`` (at ``line``, if given: where an
    alias is) until the document is read: then a copy (see ``_Builder.repeats``)."""

    __slots__ = ("line", "value")

    def __init__(self, value: Any, line: int | None) -> None:
        self.value = value
        self.line = line


def _copy(value: Any, line: int | None = None) -> Any:
    """A fresh copy of a built value, at ``line`` if given; what it repeats, copied too."""
    if type(value) is _Repeat:
        return _copy(value.value, value.line)
    if isinstance(value, MarkedDict):
        mapping = MarkedDict({key: _copy(item) for key, item in value.items()})
        mapping.line = value.line if line is None else line
        mapping.key_lines = dict(value.key_lines)
        return mapping
    if isinstance(value, MarkedList):
        items = MarkedList(_copy(item) for item in value)
        items.line = value.line if line is None else line
        items.item_lines = list(value.item_lines)
        return items
    return value


def _quote_hint(tag: str, value: str, style: str | None) -> str:
    """The fix for a plain scalar that YAML reads as a number, a date...: quotes make it text."""
    resolved = _resolve(value, (True, False))
    return "; quote it to keep it as text" if not style and resolved == tag else ""


# -- message helpers -----------------------------------------------------------------------------


def _kind_of(node: _Node) -> str:
    kind, _, value, style, _, _ = node
    if kind == _MAPPING:
        return "a mapping"
    if kind == _LIST:
        return "a list"
    return f"the value {_written(value, style)}"


def _written(value: str, style: str | None) -> str:
    """A scalar as a message shows it: as written when plain and short, else quoted and cut."""
    if not style and value.isprintable() and len(value) <= 40:  # plain: None, or ""
        return value or "null"
    return _quote(value)


def _quote(value: str) -> str:
    return clip(repr(value), 60)


def _tag(tag: str) -> str:
    short = "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag
    return clip(short if short.isprintable() else repr(short), 60)
