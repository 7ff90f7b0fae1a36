"""Why the schema refuses a document, part by part, in time linear in the document: asked
only of a document the quick check (:mod:`.schema_check`) refused, so that a run of valid files
never imports jsonschema (60 ms and 10 MB).

The items of the top-level lists (steps, claims...) are checked one by one, so that a file of
many bad items costs no more than their count, and only the first of them are explained.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema

from container_claims.errors import SHOWN_ERRORS
from container_claims.scenario.loader import MarkedDict, MarkedList, line_of
from container_claims.scenario.schema_check import SchemaErrors
from container_claims.scenario.schema_wording import schema_error
from container_claims.scenario.wording import clip


def explain(document: MarkedDict, against: dict[str, Any], where: str) -> SchemaErrors:
    """What the schema refuses in ``document``: each refused item of its top-level lists is
    one part, counted, and only the first :data:`SHOWN_ERRORS` of all parts, by line, are
    explained (jsonschema's errors are what costs: a file of 100,000 bad items must not make
    each one)."""
    split = _split(against)
    # The most relevant error of each part, as best_match would pick it among them all:
    # only one is kept (a list of 100,000 bad items has as many).
    refused: dict[tuple[Any, ...], jsonschema.ValidationError] = {}
    relevance: Callable[[jsonschema.ValidationError], Any] = jsonschema.exceptions.relevance
    for error in split.frame.iter_errors(document):
        part: tuple[Any, ...] = tuple(error.absolute_path)[:2]
        kept = refused.get(part)
        if kept is None or relevance(error) > relevance(kept):
            refused[part] = error
    lines: dict[tuple[Any, ...], int] = {part: line_of(document, part) or 0 for part in refused}
    for key, (items, kind) in split.items.items():
        values = document.get(key)
        if not isinstance(values, MarkedList):
            continue  # not a list: the frame says so
        known: dict[Any, bool] = {}  # an item's verdict, by its value: repeats cost nothing
        for index, item in enumerate(values):
            if kind is not None and not split.frame.is_type(item, kind):
                valid = False  # the commonest mistake, told without asking jsonschema
            else:
                same = canonical(item)
                if same not in known:
                    known[same] = items.is_valid(item)
                valid = known[same]
            if not valid:
                lines[(key, index)] = values.item_lines[index]
    first = sorted(lines, key=lines.__getitem__)[:SHOWN_ERRORS]
    described = {}
    for part in first:
        if part in refused:
            errors = [refused[part]]
        else:  # an item: its errors, as if the whole document had been checked
            errors = list(split.items[part[0]][0].iter_errors(document[part[0]][part[1]]))
            for error in errors:
                error.path.extendleft((part[1], part[0]))
        best = jsonschema.exceptions.best_match(errors)
        if best is not None:
            described[part] = schema_error(document, best, where)
    return SchemaErrors(described, set(lines))


@dataclasses.dataclass
class _Split:
    """A schema cut in two: ``frame`` checks the document but the items of its top-level
    lists, ``items`` checks such an item, by the list's key (with the item's declared type)."""

    frame: jsonschema.protocols.Validator
    items: dict[str, tuple[jsonschema.protocols.Validator, str | None]]


#: The split of each schema, by its id (module-level constants that live as long as the
#: process, as for the quick check).
_SPLITS: dict[int, tuple[dict[str, Any], _Split]] = {}


def _split(against: dict[str, Any]) -> _Split:
    known = _SPLITS.get(id(against))
    if known is not None and known[0] is against:
        return known[1]
    properties = dict(against.get("properties", {}))
    lists = {
        key: sub["items"]
        for key, sub in properties.items()
        if isinstance(sub, dict) and isinstance(sub.get("items"), dict)
    }
    for key in lists:
        properties[key] = {**properties[key], "items": True}
    frame = _Validator({**against, "properties": properties})
    # An item's schema is checked as the whole schema would: its $refs resolve in it.
    whole = _Validator(against)
    items = {
        key: (whole.evolve(schema=sub), _declared_type(against, sub)) for key, sub in lists.items()
    }
    split = _Split(frame, items)
    _SPLITS[id(against)] = (against, split)
    return split


def _declared_type(against: dict[str, Any], sub: dict[str, Any]) -> str | None:
    """The one JSON type an item's schema requires (following a local $ref), if it says one."""
    for _ in range(8):
        ref = sub.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/") or len(sub) > 1:
            break
        target: Any = against
        for name in ref[2:].split("/"):
            target = target.get(name) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            return None
        sub = target
    declared = sub.get("type")
    return declared if isinstance(declared, str) else None


def canonical(value: Any) -> Any:
    """A hashable form of a value, the same for values JSON Schema calls equal: ``true`` is
    not ``1`` but ``1`` is ``1.0``, and a mapping's order does not count."""
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, int | float):
        return (float, value)
    if isinstance(value, dict):
        return (dict, frozenset((key, canonical(item)) for key, item in value.items()))
    if isinstance(value, list):
        return (list, tuple(canonical(item) for item in value))
    return (type(value), value)


def _unique_items(
    validator: jsonschema.protocols.Validator, unique: Any, instance: Any, _schema: Any
) -> Iterator[jsonschema.ValidationError]:
    """``uniqueItems`` in time linear in the list, naming the first item listed again:
    jsonschema's compares every pair of items when they cannot be sorted (mixed types)."""
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: dict[Any, int] = {}
    for index, item in enumerate(instance):
        first = seen.setdefault(canonical(item), index)
        if first != index:
            lines = getattr(instance, "item_lines", None)
            where = f"item {first}, line {lines[first]}" if lines else f"item {first}"
            yield jsonschema.ValidationError(
                f"{clip(repr(item), 60)} is listed twice (first as {where})",
                path=[index],
                instance=item,
            )
            return


def _pattern(
    validator: jsonschema.protocols.Validator, pattern: str, instance: Any, _schema: Any
) -> Iterator[jsonschema.ValidationError]:
    """``pattern`` as JSON Schema reads it (ECMA-262): ``$`` ends the text. Python's ``$``
    also matches before a last newline, which let ``id: "abc\\n"`` through every pattern
    that ends in ``$``; the quick check (fastjsonschema) reads it the same way as this."""
    if validator.is_type(instance, "string") and not _ecma_pattern(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _ecma_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` with each ``$`` that ends the text (not escaped, not in a class) as
    ``\\Z``, which matches at the very end only."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = "\\Z"
        out.append(char)
    return re.compile("".join(out))


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"uniqueItems": _unique_items, "pattern": _pattern}
)
