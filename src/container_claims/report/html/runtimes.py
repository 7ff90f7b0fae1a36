"""The runtimes table: a row per runtime with every key its record in the results gives."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from container_claims.report.html.badges import verdict_counts
from container_claims.report.html.views import Code, Field, RuntimeRow, RuntimesTable
from container_claims.report.model import Comparison
from container_claims.report.text import printable, value_text

#: Most keys the runtimes table has columns for; more are left to the JSON, and said so.
MAX_RUNTIME_KEYS = 48


def runtimes_table(comparison: Comparison) -> RuntimesTable | None:
    """A row per runtime with every key the results give for it, generically: kind, binary,
    run_args, env, then mappings (``version``, ``image``...) as groups of columns."""
    runtimes = comparison.runtimes
    if not runtimes:
        return None
    columns: dict[str, dict[str, None]] = {}  # key -> sub-keys (none for a plain value)
    count, left_out = 0, 0
    for info in runtimes.values():
        for key, value in info.items():
            if key == "name":
                continue
            if key not in columns:
                if count >= MAX_RUNTIME_KEYS:
                    left_out += 1
                    continue
                columns[key], count = {}, count + 1
            subs = columns[key]
            if isinstance(value, Mapping) and key != "env":
                for sub in map(str, value):
                    if sub in subs:
                        continue
                    if subs:  # a group's first sub-key takes the place of its plain column
                        if count >= MAX_RUNTIME_KEYS:
                            left_out += 1
                            continue
                        count += 1
                    subs[sub] = None
    plain = [key for key, subs in columns.items() if not subs]
    groups = [(key, list(found)) for key, found in columns.items() if found]
    several = len(comparison.sources) > 1
    totals = comparison.totals_by_runtime()
    sources_of = _sources_by_runtime(comparison) if several else {}
    rows = []
    for name, info in runtimes.items():
        fields = [_field(info[key]) if key in info else Field("missing") for key in plain]
        for key, keys in groups:
            value = info.get(key)
            mapping: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
            fields += [_field(mapping[sub]) if sub in mapping else Field("missing") for sub in keys]
        sources = (", ".join(sources_of.get(name, [])) or "—") if several else ""
        rows.append(RuntimeRow(name, verdict_counts(totals[name]), fields, sources))
    return RuntimesTable(
        plain=plain,
        groups=[(key, len(subs)) for key, subs in groups],
        subkeys=[sub for _, subs in groups for sub in subs],
        several=several,
        rows=rows,
        left_out=f"{left_out} more key{'' if left_out == 1 else 's'} of the runtimes' "
        "records are left out here (they are in the results files)"
        if left_out
        else "",
    )


def _field(value: Any) -> Field:
    if value is None or value == "" or value == [] or value == {}:
        return Field("none")
    if isinstance(value, str) and re.fullmatch(r"sha256:[0-9a-f]{20,}", value):
        return Field("code", (Code(f"{value[:19]}…", False, title=value),))  # as docker shows ids
    if isinstance(value, Mapping) and all(isinstance(v, str | int | float) for v in value.values()):
        return Field("code", tuple(_code(f"{k}={v}") for k, v in value.items()))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return Field("code", (_code(shlex.join(value)),))
    return Field(
        "code", (_code(printable(value) if isinstance(value, str) else value_text(value)),)
    )


def _code(text: str) -> Code:
    """Short values stay on one line; long ones (paths, ids) may wrap anywhere."""
    return Code(text, len(text) > 32)


def _sources_by_runtime(comparison: Comparison) -> dict[str, list[str]]:
    """The files each runtime's verdicts come from, in the sources' order."""
    names: dict[str, set[str]] = {}
    for (_, runtime), cell in comparison.cells.items():
        names.setdefault(runtime, set()).add(cell.source.name)
    return {
        runtime: [source.name for source in comparison.sources if source.name in found]
        for runtime, found in names.items()
    }
