"""The JSON Schemas shipped with the package: scenarios' (``schema.json``, also used by
editors), with the step kinds registered from elsewhere added, and results files'."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from container_claims.scenario.step_kind import Step
from container_claims.scenario.steps import STEPS


def schema() -> dict[str, Any]:
    """The scenario JSON Schema: the one shipped with the package (``schema.json``), with the
    step kinds registered from elsewhere, each by its own ``value_schema``."""
    return _schema_with(tuple(STEPS.values()))


@functools.cache
def _shipped_schema() -> dict[str, Any]:
    text = resources.files("container_claims.scenario").joinpath("schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


@functools.cache
def _schema_with(kinds: tuple[type[Step], ...]) -> dict[str, Any]:
    """The shipped schema, with each of ``kinds`` it does not declare added to its steps."""
    shipped = _shipped_schema()
    step = shipped["$defs"]["step"]
    added = [kind for kind in kinds if kind.kind not in step["properties"]]
    if not added:
        return shipped
    for kind in added:
        if kind.value_schema is None:
            raise TypeError(
                f"step kind {kind.kind!r} ({kind.__name__}) is not in schema.json "
                "and has no value_schema of its own"
            )
    step = {
        **step,
        "oneOf": [*step["oneOf"], *({"required": [kind.kind]} for kind in added)],
        "properties": {
            **step["properties"],
            **{kind.kind: dict(kind.value_schema or {}) for kind in added},
        },
    }
    return {**shipped, "$defs": {**shipped["$defs"], "step": step}}


@functools.cache
def results_schema() -> dict[str, Any]:
    """The JSON Schema of results files (what ``run --json`` writes), shipped beside the
    scenario schema; reports refuse a file it refuses."""
    text = resources.files("container_claims.scenario").joinpath("results.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]
