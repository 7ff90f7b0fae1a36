"""PyYAML's composer with every way to make it recurse, expand or grow bounded.

Scenario files are shared like code and run as root, so a file is hostile input: the depth,
the aliases that contain themselves and the values aliases expand to are counted on the event
stream, event by event, and refused at their line before they can recurse or expand anywhere.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import yaml

from container_claims.errors import ScenarioError
from container_claims.scenario.wording import clip

#: The deepest nesting of mappings and lists, aliases expanded; real scenarios nest about 8.
MAX_DEPTH = 64
#: The most values (keys, items, scalars, containers) a document may expand to, aliases
#: expanded; real scenarios have a few hundred. Bounds the billion-laughs attack.
MAX_VALUES = 100_000
#: The longest number; longer digit strings are refused rather than converted (a sexagesimal
#: ``1:2:3:...`` int costs quadratic time, and a huge int cannot even be printed).
MAX_NUMBER_CHARS = 100


class Events(Protocol):
    def check_event(self, *choices: Any) -> bool: ...
    def peek_event(self) -> Any: ...
    def get_event(self) -> Any: ...
    def dispose(self) -> None: ...


@dataclass
class _Open:
    """A mapping or list whose end event has not come yet."""

    anchor: str | None
    values_before: int
    height: int = 0  # nesting of its deepest item so far, aliases expanded


class BoundedLoader(
    yaml.composer.Composer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
):
    """PyYAML's composer over an event stream that is checked as the composer takes each event.

    The composer recurses once per level, and an alias becomes the very node it names: so the
    depth, the aliases that contain themselves and the values aliases expand to are counted
    here, event by event, and refused before they can recurse or expand anywhere.
    """

    def __init__(self, events: Events, path: str) -> None:
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.check_event: Callable[..., bool] = events.check_event  # the composer calls these
        self.peek_event: Callable[[], Any] = events.peek_event
        self._next_event = events.get_event
        self._path = path
        self._open: list[_Open] = []
        self._anchors: dict[str, tuple[int, int]] = {}  # values and height of each anchor
        self._values = 0
        self._documents = 0

    def get_event(self) -> Any:
        event = self._next_event()
        if isinstance(event, yaml.ScalarEvent):
            self._count(1, event)
            if event.anchor is not None:
                self._anchors[event.anchor] = (1, 0)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(self._open) >= MAX_DEPTH:
                raise self._error(event, f"nesting deeper than {MAX_DEPTH} levels")
            self._count(1, event)
            self._open.append(_Open(event.anchor, self._values - 1))
        elif isinstance(event, yaml.CollectionEndEvent):
            done = self._open.pop()
            if done.anchor is not None:
                self._anchors[done.anchor] = (self._values - done.values_before, done.height + 1)
            self._nest(done.height + 1)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, yaml.DocumentStartEvent):
            if self._documents:
                raise self._error(event, "only one YAML document per file")
            self._documents += 1
        return event

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if not self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        alias = self.peek_event()
        node = super().compose_node(parent, index)
        if node is None:
            return None
        node = copy.copy(node)  # shallow: shares the items; the line is where the alias is
        node.start_mark, node.end_mark = alias.start_mark, alias.end_mark
        return node

    def _alias(self, event: yaml.AliasEvent) -> None:
        anchor = event.anchor or ""
        name = clip(anchor, 40)
        if any(open_.anchor == anchor for open_ in self._open):
            raise self._error(
                event, f"recursive alias *{name}: it is inside the &{name} it repeats"
            )
        values, height = self._anchors.get(anchor, (1, 0))  # undefined: the composer says so
        if len(self._open) + height > MAX_DEPTH:
            raise self._error(
                event, f"nesting deeper than {MAX_DEPTH} levels once *{name} is expanded"
            )
        self._count(values, event)
        self._nest(height)

    def _count(self, values: int, event: yaml.Event) -> None:
        self._values += values
        if self._values <= MAX_VALUES:
            return
        if isinstance(event, yaml.AliasEvent):
            what = f"expands to more than {MAX_VALUES:,} values (aliases repeat too much)"
        else:
            what = f"has more than {MAX_VALUES:,} values"
        raise self._error(event, f"the document {what}")

    def _nest(self, height: int) -> None:
        if self._open and self._open[-1].height < height:
            self._open[-1].height = height

    def _error(self, event: yaml.Event, message: str) -> ScenarioError:
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        return ScenarioError(self._path, line, message)
