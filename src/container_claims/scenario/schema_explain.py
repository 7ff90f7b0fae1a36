"""Why the schema refuses a document, part by part, in time linear in the document: asked
only of a document the quick check (:mod:`.schema_check`) refused, so that a run of valid files
never imports jsonschema (60 ms and 10 MB).

The members of the top-level lists and mappings (steps, claims, directories...) are checked
one by one, so that a file of many bad members costs no more than their count, and only the
first of them are explained. Which members of a list or mapping are bad is asked of the
compiled quick check of their schema (microseconds a member, where jsonschema takes tens):
jsonschema only describes what it refused.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jsonschema
from jsonschema import _keywords, _utils

from container_claims.errors import SHOWN_ERRORS
from container_claims.scenario.loader import MarkedDict, MarkedList, line_of
from container_claims.scenario.schema_check import QuickCheck, SchemaErrors
from container_claims.scenario.schema_wording import schema_error
from container_claims.scenario.wording import clip


def explain(document: MarkedDict, against: dict[str, Any], where: str) -> SchemaErrors:
    """What the schema refuses in ``document``: each refused member of its top-level lists
    and mappings is one part, counted, and only the first :data:`SHOWN_ERRORS` of all parts,
    by line, are explained (jsonschema's errors are what costs: a file of 100,000 bad items
    must not make each one)."""
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
    for key, (members, kind) in split.members.items():
        values = document.get(key)
        named: Iterable[tuple[Any, Any]]
        if kind is MarkedList and isinstance(values, MarkedList):
            named = enumerate(values)
        elif kind is MarkedDict and isinstance(values, MarkedDict):
            named = values.items()
        else:
            continue  # not the list (the mapping) the schema wants: the frame says so
        for name, value in named:
            if not split.valid(members.schema, value):
                lines[(key, name)] = line_of(document, (key, name)) or 0
    first = sorted(lines, key=lines.__getitem__)[:SHOWN_ERRORS]
    described = {}
    for part in first:
        if part in refused:
            errors = [refused[part]]
        else:  # a member: its errors, as if the whole document had been checked
            errors = list(split.members[part[0]][0].iter_errors(document[part[0]][part[1]]))
            for error in errors:
                error.path.extendleft((part[1], part[0]))
        best = jsonschema.exceptions.best_match(errors)
        if best is not None:
            described[part] = schema_error(document, best, where)
    return SchemaErrors(described, set(lines))


@dataclasses.dataclass
class _Split:
    """A schema cut in two: ``frame`` checks the document but the members of its top-level
    lists and mappings (steps, claims, directories...), each of which is one part of the
    file; ``members`` checks such a member, by the key of what it is in (with the kind of that).

    Deeper lists and mappings are inside one part: the errors of their first bad member (in
    the file's order) stand for them, however many are bad. Which is bad is asked of the
    quick check of the members' schema (:meth:`valid`): microseconds a member, where
    jsonschema takes tens, and makes errors for each bad one (330 ms for a list of 9,000).
    """

    against: dict[str, Any]
    frame: jsonschema.protocols.Validator = dataclasses.field(init=False)
    members: dict[str, tuple[jsonschema.protocols.Validator, type]] = dataclasses.field(init=False)
    #: The quick check of each part of the schema asked about, by its id (the schema lives
    #: as long as this).
    quick: dict[int, QuickCheck] = dataclasses.field(init=False, default_factory=dict)
    quick_by_text: dict[str, QuickCheck] = dataclasses.field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        properties = dict(self.against.get("properties", {}))
        members: dict[str, tuple[dict[str, Any], type]] = {}
        for key, sub in properties.items():
            target = _resolve(self.against, sub)
            if target.get("type") == "array" and isinstance(target.get("items"), dict):
                members[key] = (target["items"], MarkedList)
                properties[key] = {**target, "items": True}
            elif (
                target.get("type") == "object"
                and isinstance(target.get("additionalProperties"), dict)
                and not {"properties", "patternProperties"} & target.keys()
            ):
                members[key] = (target["additionalProperties"], MarkedDict)
                properties[key] = {**target, "additionalProperties": True}
        validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
            _Validator,
            {
                "items": self._items,
                "additionalProperties": self._additional_properties,
                "propertyNames": self._property_names,
            },
        )
        self.frame = validator({**self.against, "properties": properties})
        # A member's schema is checked as the whole schema would: its $refs resolve in it.
        whole = validator(self.against)
        self.members = {
            key: (whole.evolve(schema=sub), kind) for key, (sub, kind) in members.items()
        }

    def valid(self, schema: Any, value: Any) -> bool:
        """Whether ``value`` is valid under ``schema`` (a part of the whole), as the quick
        check of that part says."""
        if isinstance(schema, bool):
            return schema
        quick = self.quick.get(id(schema))
        if quick is None:
            # Parts written alike (steps' and after's items) share one: compiling costs.
            same = json.dumps(schema, sort_keys=True)
            quick = self.quick_by_text.get(same)
            if quick is None:
                defs = {"$defs": self.against["$defs"]} if "$defs" in self.against else {}
                quick = self.quick_by_text[same] = QuickCheck({**schema, **defs})
            self.quick[id(schema)] = quick
        return quick.valid(value)

    def _first_bad(
        self,
        validator: jsonschema.protocols.Validator,
        schema: Any,
        members: Iterable[tuple[str | int | None, Any]],
    ) -> Iterator[jsonschema.ValidationError]:
        """The errors of the first member the quick check refuses and jsonschema finds fault
        with (jsonschema has the last word, should the quick check be stricter)."""
        descend: Any = validator.descend  # type: ignore[attr-defined]  # not in the protocol
        for path, value in members:
            if not self.valid(schema, value):
                errors = list(descend(value, schema, path=path))
                if errors:
                    yield from errors
                    return

    def _items(
        self, validator: jsonschema.protocols.Validator, items: Any, instance: Any, schema: Any
    ) -> Iterator[jsonschema.ValidationError]:
        if "prefixItems" in schema:  # not in our schemas
            yield from _keywords.items(validator, items, instance, schema)  # type: ignore[func-returns-value, misc]
        elif validator.is_type(instance, "array"):
            yield from self._first_bad(validator, items, enumerate(instance))

    def _additional_properties(
        self, validator: jsonschema.protocols.Validator, more: Any, instance: Any, schema: Any
    ) -> Iterator[jsonschema.ValidationError]:
        if not isinstance(more, dict):  # false: one error names every key not allowed
            yield from _keywords.additionalProperties(validator, more, instance, schema)  # type: ignore[func-returns-value, misc]
        elif validator.is_type(instance, "object"):
            extra = set(_utils.find_additional_properties(instance, schema))
            named = ((name, value) for name, value in instance.items() if name in extra)
            yield from self._first_bad(validator, more, named)

    def _property_names(
        self, validator: jsonschema.protocols.Validator, names: Any, instance: Any, _schema: Any
    ) -> Iterator[jsonschema.ValidationError]:
        if validator.is_type(instance, "object"):
            yield from self._first_bad(validator, names, ((None, name) for name in instance))


#: The split of each schema, by its id (module-level constants that live as long as the
#: process, as for the quick check).
_SPLITS: dict[int, _Split] = {}


def _split(against: dict[str, Any]) -> _Split:
    known = _SPLITS.get(id(against))
    if known is None or known.against is not against:
        known = _SPLITS[id(against)] = _Split(against)
    return known


def _resolve(against: dict[str, Any], sub: Any) -> dict[str, Any]:
    """``sub``, or what it names when it is only a local ``$ref`` (followed a few times)."""
    for _ in range(8):
        if not isinstance(sub, dict):
            return {}
        ref = sub.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/") or len(sub) > 1:
            return sub
        target: Any = against
        for name in ref[2:].split("/"):
            target = target.get(name) if isinstance(target, dict) else None
        sub = target
    return {}


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
