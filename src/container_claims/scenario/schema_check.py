"""A document checked against a JSON Schema: a compiled quick check says whether it is valid,
and only a document it refuses is read again, by jsonschema, to say why (:mod:`.schema_explain`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from container_claims.errors import ScenarioError
from container_claims.scenario.file_errors import raise_all
from container_claims.scenario.loader import MarkedDict


def check_schema(document: MarkedDict, against: dict[str, Any], where: str) -> None:
    """Raise :class:`ScenarioError` for the most relevant schema violation of each part of the
    file (a step, a claim, a top-level key), :class:`ScenarioErrors` when there are several."""
    schema_errors(document, against, where).raise_all()


@dataclasses.dataclass
class SchemaErrors:
    """The parts of a file (a list item such as ``("steps", 2)``, or a top-level key) that
    the schema refuses: the first :data:`.errors.SHOWN_ERRORS` by line with their most relevant
    violation (``described``), and every one of them (``parts``), only counted past those."""

    described: dict[tuple[Any, ...], ScenarioError]
    parts: set[tuple[Any, ...]]

    @property
    def more(self) -> int:
        return len(self.parts) - len(self.described)

    def raise_all(self) -> None:
        raise_all(list(self.described.values()), self.more)


def schema_errors(document: MarkedDict, against: dict[str, Any], where: str) -> SchemaErrors:
    """What the schema refuses in ``document``, part by part, in time linear in the document
    (:func:`.schema_explain.explain`); nothing, at the cost of one compiled check, when it is
    valid."""
    if _quick_check(against).valid(document):
        return SchemaErrors({}, set())  # valid: the thorough validator would find nothing to say
    from container_claims.scenario.schema_explain import explain  # here: see its docstring

    return explain(document, against, where)


@dataclasses.dataclass
class QuickCheck:
    """A schema's quick check (fastjsonschema), compiled at its first question."""

    schema: dict[str, Any]
    compiled: Callable[[Any], Any] | None = None
    refused: type[Exception] = Exception  # fastjsonschema's refusal, once it is imported

    def valid(self, document: Any) -> bool:
        if self.compiled is None:
            import fastjsonschema  # here: a run that loads no scenario never needs it

            draft7 = {
                **_quick_form(self.schema),
                "$schema": "http://json-schema.org/draft-07/schema#",
            }
            # Without the details of a refusal (the rule and the schema, copied into the code
            # of every one): only whether it refuses is asked. Compiling then takes 20 ms, not
            # 80, and a fraction of the memory.
            self.compiled = fastjsonschema.compile(draft7, detailed_exceptions=False)
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
_QUICK: dict[int, QuickCheck] = {}


def _quick_check(against: dict[str, Any]) -> QuickCheck:
    """Whether a document is valid, ten times faster than jsonschema: fastjsonschema compiles
    the schema to Python once per process. Only a document it refuses goes on to jsonschema,
    whose errors say where and why. (The schema uses nothing draft 7 lacks; a test holds the
    two to the same answers over the scenarios and the corpus.)"""
    known = _QUICK.get(id(against))
    if known is None or known.schema is not against:
        known = _QUICK[id(against)] = QuickCheck(against)
    return known
