"""A YAML event stream with every way to make a loader recurse, expand or grow bounded.

Scenario files are shared like code and run as root, so a file is hostile input: the depth,
the aliases that contain themselves and the values aliases expand to are counted on the event
stream, event by event, and refused at their line before anything is built from them. The
composer's own checks (an alias names an anchor defined before it, an anchor is defined once)
are made here too, in the order PyYAML's composer made them.
"""

from __future__ import annotations

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
    """A parser's event stream: libyaml's (``yaml.CBaseLoader``) or PyYAML's."""

    def get_event(self) -> Any: ...
    def dispose(self) -> None: ...


_SCALAR = yaml.ScalarEvent
_STARTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class BoundedEvents:
    """The events of ``events``, each checked as it is taken: :class:`ScenarioError` at the
    line of the event that goes past a limit, ``yaml.composer.ComposerError`` as PyYAML's
    composer says an undefined alias or a duplicate anchor."""

    def __init__(self, events: Events, path: str) -> None:
        self._next_event = events.get_event
        self._path = path
        # Per open mapping or list: its anchor, the values counted before it, and the height
        # of its deepest item so far (aliases expanded).
        self._open: list[list[Any]] = []
        self._anchors: dict[str, tuple[int, int]] = {}  # values and height of each anchor
        self._marks: dict[str, Any] = {}  # where each anchor is, once its node begins
        self._values = 0
        self._documents = 0

    def get_event(self) -> Any:
        event = self._next_event()
        kind = type(event)
        if kind is _SCALAR:
            anchor = event.anchor
            if anchor is not None:
                self._anchor(anchor, event)
            self._values += 1
            if self._values > MAX_VALUES:
                raise self._too_many(event)
            if anchor is not None:
                self._anchors[anchor] = (1, 0)
                self._marks[anchor] = event.start_mark
        elif kind in _STARTS:
            anchor = event.anchor
            if anchor is not None:
                self._anchor(anchor, event)
            if len(self._open) >= MAX_DEPTH:
                raise self._error(event, f"nesting deeper than {MAX_DEPTH} levels")
            self._values += 1
            if self._values > MAX_VALUES:
                raise self._too_many(event)
            self._open.append([anchor, self._values - 1, 0])
            if anchor is not None:
                self._marks[anchor] = event.start_mark
        elif kind in _ENDS:
            anchor, values_before, height = self._open.pop()
            if anchor is not None:
                self._anchors[anchor] = (self._values - values_before, height + 1)
            if self._open and self._open[-1][2] <= height:
                self._open[-1][2] = height + 1
        elif kind is yaml.AliasEvent:
            self._alias(event)
        elif kind is yaml.DocumentStartEvent:
            if self._documents:
                raise self._error(event, "only one YAML document per file")
            self._documents += 1
        return event

    def _anchor(self, anchor: str, event: Any) -> None:
        """PyYAML's composer refuses a second anchor of the same name before it takes the
        event: before the limits are counted."""
        first = self._marks.get(anchor)
        if first is not None:
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {anchor!r}; first occurrence",
                first,
                "second occurrence",
                event.start_mark,
            )

    def _alias(self, event: Any) -> None:
        anchor = event.anchor or ""
        name = clip(anchor, 40)
        if any(open_[0] == anchor for open_ in self._open):
            raise self._error(
                event, f"recursive alias *{name}: it is inside the &{name} it repeats"
            )
        values, height = self._anchors.get(anchor, (1, 0))  # undefined: said below
        if len(self._open) + height > MAX_DEPTH:
            raise self._error(
                event, f"nesting deeper than {MAX_DEPTH} levels once *{name} is expanded"
            )
        self._values += values
        if self._values > MAX_VALUES:
            raise self._too_many(event)
        if self._open and self._open[-1][2] < height:
            self._open[-1][2] = height
        if event.anchor not in self._marks:
            raise yaml.composer.ComposerError(
                None, None, f"found undefined alias {event.anchor!r}", event.start_mark
            )

    def _too_many(self, event: yaml.Event) -> ScenarioError:
        if isinstance(event, yaml.AliasEvent):
            what = f"expands to more than {MAX_VALUES:,} values (aliases repeat too much)"
        else:
            what = f"has more than {MAX_VALUES:,} values"
        return self._error(event, f"the document {what}")

    def _error(self, event: yaml.Event, message: str) -> ScenarioError:
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        return ScenarioError(self._path, line, message)
