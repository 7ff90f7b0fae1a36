"""The limits on a YAML document: every way to make a loader recurse, expand or grow, bounded.

Scenario files are shared like code and run as root, so a file is hostile input: the depth,
the aliases that contain themselves and the values aliases expand to are counted on the event
stream, event by event, and refused at their line before anything is built from them. The
counting is done where the events are read, in the loop of :mod:`.yaml_values` (one pass over
the events, as few steps as can be per event); here are the limits and their words, and the
refusals of what PyYAML's composer refused (an alias before its anchor, an anchor defined
twice), in its words.
"""

from __future__ import annotations

from typing import Any

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


def too_deep(path: str, event: Any, alias: str | None = None) -> ScenarioError:
    """A mapping or list at level MAX_DEPTH + 1, or an alias whose anchor would nest there."""
    expanded = f" once *{clip(alias, 40)} is expanded" if alias is not None else ""
    return _error(path, event, f"nesting deeper than {MAX_DEPTH} levels{expanded}")


def too_many(path: str, event: Any) -> ScenarioError:
    """The value past MAX_VALUES (an alias counts every value it repeats)."""
    if isinstance(event, yaml.AliasEvent):
        what = f"expands to more than {MAX_VALUES:,} values (aliases repeat too much)"
    else:
        what = f"has more than {MAX_VALUES:,} values"
    return _error(path, event, f"the document {what}")


def recursive(path: str, event: Any) -> ScenarioError:
    """An alias inside the mapping or list its anchor names: it would repeat without end."""
    name = clip(event.anchor or "", 40)
    return _error(path, event, f"recursive alias *{name}: it is inside the &{name} it repeats")


def second_document(path: str, event: Any) -> ScenarioError:
    return _error(path, event, "only one YAML document per file")


def undefined(event: Any) -> yaml.MarkedYAMLError:
    """An alias of an anchor not defined before it, as PyYAML's composer says it."""
    return yaml.composer.ComposerError(
        None, None, f"found undefined alias {event.anchor!r}", event.start_mark
    )


def defined_twice(first: Any, event: Any) -> yaml.MarkedYAMLError:
    """An anchor defined again (``first``: where it was), as PyYAML's composer says it: before
    the event is counted against the limits."""
    return yaml.composer.ComposerError(
        f"found duplicate anchor {event.anchor!r}; first occurrence",
        first,
        "second occurrence",
        event.start_mark,
    )


def _error(path: str, event: Any, message: str) -> ScenarioError:
    line = event.start_mark.line + 1 if event.start_mark is not None else None
    return ScenarioError(path, line, message)
