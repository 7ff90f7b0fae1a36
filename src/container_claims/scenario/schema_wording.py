"""A schema violation as one ``file:line: what is wrong`` sentence: the line of the part
refused, the unknown key with its nearest allowed one, a pattern in words, a value YAML read
as a number or a date with the fix (quotes)."""

from __future__ import annotations

import difflib
from typing import Any

import jsonschema

from container_claims.errors import ScenarioError
from container_claims.scenario.loader import MarkedDict, line_of
from container_claims.scenario.steps import STEPS
from container_claims.scenario.wording import clip


def schema_error(
    document: MarkedDict, error: jsonschema.ValidationError, where: str
) -> ScenarioError:
    while error.validator in ("oneOf", "anyOf") and error.context:
        # A value that fits no branch: explain it by the branch of its own type, if one is.
        same_type = [e for e in error.context if e.validator != "type"]
        if not same_type:
            break
        error = jsonschema.exceptions.best_match(same_type) or error
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "additionalProperties":  # point at the unknown key itself
        path.append(_unknown_keys(error)[0])
    return ScenarioError(where, line_of(document, path), _describe(error))


def _schema_of(error: jsonschema.ValidationError) -> dict[str, Any]:
    return error.schema if isinstance(error.schema, dict) else {}


def _unknown_keys(error: jsonschema.ValidationError) -> list[str]:
    return sorted(set(error.instance or ()) - set(_schema_of(error).get("properties", {})))  # type: ignore[arg-type]


#: Unknown keys of one mapping named in its message; the rest are counted.
_UNKNOWN_KEYS_SHOWN = 5


def _describe(error: jsonschema.ValidationError) -> str:
    location = ".".join(str(p) for p in error.absolute_path) or "the top level"
    schema_ = _schema_of(error)
    if error.validator == "additionalProperties":
        allowed = sorted(schema_.get("properties", {}))
        hints = []
        unknown = _unknown_keys(error)
        for key in unknown[:_UNKNOWN_KEYS_SHOWN]:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"unknown key {clip(repr(key), 60)} in {location}"
            hints.append(hint + (f" (did you mean {near[0]!r}?)" if near else ""))
        if len(unknown) > _UNKNOWN_KEYS_SHOWN:
            hints.append(f"and {len(unknown) - _UNKNOWN_KEYS_SHOWN:,} more unknown keys")
        return "; ".join(hints) + f"; allowed keys: {', '.join(allowed)}"
    if error.validator == "oneOf" and schema_.get("description", "").startswith("Exactly one"):
        return f"{location}: a step has exactly one of {', '.join(STEPS)}"
    if error.validator == "required":
        return f"{location}: {error.message}"
    if error.validator == "type" and schema_.get("type") == "string":
        kind = _yaml_kind(error.instance)
        if kind:
            return (
                f"{location}: YAML reads {error.instance!s} as {kind}; quote it to keep it as text"
            )
    if error.validator == "exclusiveMinimum":
        return f"{location}: {error.instance!r} must be more than {schema_['exclusiveMinimum']}"
    if error.validator == "maximum":
        return f"{location}: {error.instance!r} is more than the most allowed, {schema_['maximum']}"
    if error.validator == "pattern":
        form = _FORMS.get(schema_["pattern"], schema_["pattern"])
        return f"{location}: {error.instance!r} is not {form}"
    return f"{location}: {error.message}"


#: The schema's patterns in words, for messages.
_FORMS = {
    "^[a-z0-9]+(-[a-z0-9]+)*$": "kebab-case (lowercase words joined by hyphens, e.g. "
    "shell-is-pid-1)",
    "^[a-z][a-z0-9_]*$": "snake_case (a lowercase letter, then lowercase letters, digits and _, "
    "e.g. shell_pid)",
    "^[a-z][a-z0-9_]*(\\.[A-Za-z0-9_]+)*$": "an observation and its fields, e.g. "
    "shell_on_host.nspid.0",
    "^(host|engine)\\.[a-z0-9_]+$": "a probe's name, host.NAME or engine.NAME",
    "^[0-9]+[bkmg]?$": "a size: a whole number, then b, k, m or g (e.g. 256m)",
    "^[0-9]+(\\.[0-9]+)?$": "a number such as 0.5, written as text",
    "^/": "an absolute path",
    "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$": "a hostname (lowercase letters, digits and inner "
    "hyphens, at most 63)",
    "^[a-z0-9]([a-z0-9.-]{0,126}[a-z0-9])?$": "a label key like com.example.role",
    "^https?://[^\\s]+$": "a web address (http:// or https://)",
    "^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$": "a file's name (letters, digits, . _ -; no '/', "
    "not beginning with '.' or '-')",
    "^0?[0-7]{3}$": "a file's mode in octal, at most 0777 (e.g. 0644)",
    "^[0-9]+[kmg]?$": "a size: a whole number, then k, m or g (e.g. 16m)",
    "^[0-7]{3,4}$": "a mode in octal (e.g. 1777)",
    "^[^\\x00-\\x1f\\x7f]+$": "one line of text without control characters",
    "^[^\\x00-\\x1f\\x7f]*\\S[^\\x00-\\x1f\\x7f]*$": "one line of text without control characters",
}


def _yaml_kind(value: Any) -> str | None:
    """What YAML made of an unquoted value that was meant as text."""
    import datetime

    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, datetime.date):
        return "a date"
    if value is None:
        return "nothing (null)"
    return None
