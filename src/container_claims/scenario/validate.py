"""Scenario files in, :class:`Scenario` out, or one ``file:line: what is wrong`` error.

Two layers: the JSON Schema (``schema.json``, also used by editors; :mod:`.schema_check`)
checks shapes and types; the rules after it (:mod:`.builder`) check what a schema cannot: one
operator per expectation, regexes that compile, references to observations that some step
saves, unique ids and names.
"""

from __future__ import annotations

from pathlib import Path

from container_claims.errors import ScenarioError
from container_claims.scenario.builder import ScenarioBuilder
from container_claims.scenario.loader import MarkedDict, load_yaml
from container_claims.scenario.model import Scenario
from container_claims.scenario.schema_check import schema_errors
from container_claims.scenario.schemas import results_schema, schema
from container_claims.scenario.source import read_source

# The schemas, for the report, the collector and the command line that import them from here.
__all__ = ["load_scenario", "results_schema", "scenario_from_text", "schema"]


def load_scenario(
    path: Path,
    display: str | None = None,
    *,
    allow_host_access: bool = False,
    allow_drafts: bool = False,
) -> Scenario:
    """Read, validate and build one scenario file. Raises :class:`ScenarioError`.

    ``allow_host_access`` is the operator's consent to specs that open the host (host
    network...); without it such a file is refused, naming the line. A claim marked
    ``draft: true`` (drafted from an article, not reviewed) is refused, one line each, unless
    ``allow_drafts``: only the drafter itself, checking what it wrote, loads drafts.
    """
    where = display or str(path)
    try:
        text = read_source(path, where)
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(where, None, f"cannot read the file: {exc}") from None
    return scenario_from_text(
        text, path, where, allow_host_access=allow_host_access, allow_drafts=allow_drafts
    )


def scenario_from_text(
    text: str,
    path: Path,
    where: str,
    *,
    allow_host_access: bool = False,
    allow_drafts: bool = False,
) -> Scenario:
    """:func:`load_scenario` of a text already read (``where`` names it in messages)."""
    document = load_yaml(text, where)
    if not isinstance(document, MarkedDict):
        raise ScenarioError(where, 1, "a scenario is a mapping with at least a 'claims' list")
    found = schema_errors(document, schema(), where)
    if any(len(part) < 2 or part[0] not in _LISTS for part in found.parts):
        found.raise_all()  # the file's frame is wrong: its parts cannot be read
    builder = ScenarioBuilder(
        document, path, where, allow_host_access=allow_host_access, allow_drafts=allow_drafts
    )
    builder.skip, builder.errors = frozenset(found.parts), list(found.described.values())
    builder.more = found.more
    return builder.build()


#: The lists of a scenario whose items are checked one by one: a bad item is reported and
#: skipped, and the others are still checked.
_LISTS = ("steps", "after", "claims")
