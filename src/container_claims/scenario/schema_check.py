"""A document checked against a JSON Schema, part by part, in time linear in the document.

The items of the top-level lists (steps, claims...) are checked one by one, so that a file of
many bad items costs no more than their count, and only the first of them are explained; a
valid document is passed by a compiled quick check once a schema is asked often.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema

from container_claims.errors import SHOWN_ERRORS, ScenarioError
from container_claims.scenario.file_errors import raise_all
from container_claims.scenario.loader import MarkedDict, MarkedList, line_of
from container_claims.scenario.schema_wording import schema_error
from container_claims.scenario.wording import clip


def check_schema(document: MarkedDict, against: dict[str, Any], where: str) -> None:
    """Raise :class:`ScenarioError` for the most relevant schema violation of each part of the
    file (a step, a claim, a top-level key), :class:`ScenarioErrors` when there are several."""
    schema_errors(document, against, where).raise_all()


@dataclasses.dataclass
class SchemaErrors:
    """The parts of a file (a list item such as ``("steps", 2)``, or a top-level key) that
    the schema refuses: the first :data:`SHOWN_ERRORS` by line with their most relevant
    violation (``described``), and every one of them (``parts``), only counted past those."""

    described: dict[tuple[Any, ...], ScenarioError]
    parts: set[tuple[Any, ...]]

    @property
    def more(self) -> int:
        return len(self.parts) - len(self.described)

    def raise_all(self) -> None:
        raise_all(list(self.described.values()), self.more)


def schema_errors(document: MarkedDict, against: dict[str, Any], where: str) -> SchemaErrors:
    """What the schema refuses in ``document``, part by part, in time linear in the document.

    The items of its top-level lists are checked one by one: each refused item is one part,
    counted, and only the first :data:`SHOWN_ERRORS` of all parts, by line, are explained
    (jsonschema's errors are what costs: a file of 100,000 bad items must not make each one).
    """
    if _quick_check(against).valid(document):
        return SchemaErrors({}, set())  # valid: the thorough validator would find nothing to say
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


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"uniqueItems": _unique_items}
)


#: Documents a schema checks with jsonschema alone before it is compiled for the quick check:
#: compiling costs what jsonschema takes for some 25 documents (70 ms here) and 20 MB, which a
#: run of a few files (the catalogue's 14) would never get back.
QUICK_AFTER = 20


@dataclasses.dataclass
class _Quick:
    """A schema's quick check (fastjsonschema), compiled once it has been asked enough."""

    schema: dict[str, Any]
    asked: int = 0
    compiled: Callable[[Any], Any] | None = None
    refused: type[Exception] = Exception  # fastjsonschema's refusal, once it is imported

    def valid(self, document: Any) -> bool | None:
        """True or False once compiled; None (no answer: ask jsonschema) until then."""
        self.asked += 1
        if self.compiled is None:
            if self.asked <= QUICK_AFTER:
                return None
            import fastjsonschema  # here: a run of a few files never needs it (10 ms)

            draft7 = {
                **_quick_form(self.schema),
                "$schema": "http://json-schema.org/draft-07/schema#",
            }
            self.compiled = fastjsonschema.compile(draft7)
            self.refused = fastjsonschema.JsonSchemaException
        try:
            self.compiled(document)
        except self.refused:
            return False
        return True


def _quick_form(schema: Any) -> Any:
    """``schema`` as the quick check compiles it, with the same answers in less code:

    - without its annotations (descriptions...), which fastjsonschema would copy into the
      code of every refusal: a quarter of its code, of the time and memory compiling takes;
    - each ``oneOf`` whose branches each require one key of their own (a step's kinds)
      written as what it means, exactly one of those keys: at most one (``dependencies``)
      and at least one (``not`` none of them). fastjsonschema tries every branch of a
      ``oneOf`` and raises for each one not taken (eight exceptions a step); these raise at
      most once.
    """
    if isinstance(schema, list):
        return [_quick_form(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key in _VALUES:
            result[key] = value
        elif key in _NAMED and isinstance(value, dict):  # names, each with its schema
            result[key] = {name: _quick_form(sub) for name, sub in value.items()}
        else:
            result[key] = _quick_form(value)
    branches = result.get("oneOf")
    if not isinstance(branches, list) or not branches:
        return result
    keys = [
        branch["required"][0]
        for branch in branches
        if isinstance(branch, dict)
        and branch.keys() == {"required"}
        and isinstance(branch["required"], list)
        and len(branch["required"]) == 1
    ]
    if len(keys) != len(branches) or len(set(keys)) != len(keys):
        return result
    del result["oneOf"]
    result["allOf"] = [
        *result.get("allOf", []),
        {
            "dependencies": {
                key: {"properties": {other: False for other in keys if other != key}}
                for key in keys
            }
        },
        {"not": {"properties": dict.fromkeys(keys, False)}},
    ]
    return result


#: What a schema says that does not change its answers (and ``default``, which
#: fastjsonschema would write into the document it checks).
_ANNOTATIONS = frozenset(
    {"description", "title", "examples", "$comment", "markdownDescription", "default"}
)
#: Keywords whose value is data, not a schema.
_VALUES = frozenset({"enum", "const"})
#: Keywords whose value maps names (of properties, of definitions) to schemas.
_NAMED = frozenset({"properties", "patternProperties", "$defs", "definitions"})


#: The quick checks, by the id of the schema they check (module-level constants that live as
#: long as the process).
_QUICK: dict[int, _Quick] = {}


def _quick_check(against: dict[str, Any]) -> _Quick:
    """Whether a document is valid, ten times faster than jsonschema once there are many:
    fastjsonschema compiles the schema to Python once per process. Only a document it refuses
    goes on to jsonschema, whose errors say where and why. (The schema uses nothing draft 7
    lacks; a test holds the two to the same answers over the scenarios and the corpus.)"""
    known = _QUICK.get(id(against))
    if known is None or known.schema is not against:
        known = _QUICK[id(against)] = _Quick(against)
    return known
