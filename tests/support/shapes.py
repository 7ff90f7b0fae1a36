"""Whether a real observation fits the shape the format declares for it (scenario/fields.py):
the loader checks claims against the declarations, so a probe that yields an undeclared field
or another type would make a valid claim look wrong, or a wrong one look valid."""

from __future__ import annotations

from typing import Any

from container_claims.scenario.fields import Shape

_TYPES: dict[str, type | tuple[type, ...]] = {
    "text": str,
    "output": str,
    "number": (int, float),
    "boolean": bool,
    "list": list,
    "mapping": dict,
    "command": dict,
}


def mismatches(value: Any, shape: Shape, path: str = "it") -> list[str]:
    """What in ``value`` the shape does not declare; [] when it fits. Null fits every kind
    (a field that could not be read, a session without a prompt)."""
    if value is None or shape.kind == "any":
        return []
    expected = _TYPES[shape.kind]
    if not isinstance(value, expected) or (shape.kind == "number" and isinstance(value, bool)):
        return [f"{path} is {type(value).__name__}, declared {shape.describe()}"]
    data: Any = value  # a list or a mapping below, as checked
    if shape.kind == "list":
        assert shape.items is not None
        return [
            m for i, item in enumerate(data) for m in mismatches(item, shape.items, f"{path}.{i}")
        ]
    if shape.kind in ("mapping", "command"):
        found = [f"{path}.{key} is not declared" for key in data if key not in shape.fields]
        return found + [
            m
            for key, item in data.items()
            if key in shape.fields
            for m in mismatches(item, shape.fields[key], f"{path}.{key}")
        ]
    return []
