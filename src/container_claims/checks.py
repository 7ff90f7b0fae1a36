"""Claims checked against observations: the only place a verdict of pass or fail is decided.

Each expectation compares one observation with a value (which may itself quote another
observation through ``{{ name }}``). A missing observation is not a failure: it raises
:class:`~container_claims.observations.MissingObservation`, and the claim's verdict is *error*.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from container_claims.observations import render, resolve, to_json
from container_claims.scenario.model import Claim, Expectation


@dataclass(frozen=True)
class CheckResult:
    expectation: Expectation
    expected: Any
    observed: Any
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "that": self.expectation.that,
            "op": self.expectation.op,
            "expected": to_json(self.expected),
            "observed": to_json(self.observed),
            "ok": self.ok,
            "line": self.expectation.line,
        }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _same(observed: Any, expected: Any) -> bool:
    if isinstance(observed, str) or isinstance(expected, str):
        return _text(observed) == _text(expected)
    return bool(observed == expected)


def _contains(observed: Any, expected: Any) -> bool:
    if isinstance(observed, Mapping):
        return _text(expected) in {_text(key) for key in observed}
    if isinstance(observed, list | tuple):
        return any(_same(item, expected) for item in observed)
    return _text(expected) in str(observed)


def _rows(observed: Any, header: bool) -> int:
    lines = [line for line in str(observed).splitlines() if line.strip()]
    return max(len(lines) - 1, 0) if header else len(lines)


def _number(value: Any) -> float:
    try:
        return float(_text(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": _same,
    "not_equals": lambda o, e: not _same(o, e),
    "contains": _contains,
    "not_contains": lambda o, e: not _contains(o, e),
    "matches": lambda o, e: re.search(e, str(o), re.MULTILINE) is not None,
    "not_matches": lambda o, e: re.search(e, str(o), re.MULTILINE) is None,
    "less_than": lambda o, e: _number(o) < _number(e),
    "greater_than": lambda o, e: _number(o) > _number(e),
}


def check(expectation: Expectation, observations: Mapping[str, Any]) -> CheckResult:
    """Evaluate one expectation. Raises ``MissingObservation`` when it cannot be evaluated."""
    observed = resolve(observations, expectation.that)
    expected = expectation.value
    if isinstance(expected, str):
        expected = render(expected, observations, escape=expectation.op.endswith("matches"))
    if expectation.op == "rows":
        count = _rows(observed, expectation.header)
        return CheckResult(expectation, expected, observed, count == expected)
    try:
        ok = _OPS[expectation.op](observed, expected)
    except ValueError:  # a comparison of numbers with text that is no number
        ok = False
    return CheckResult(expectation, expected, observed, ok)


def check_claim(claim: Claim, observations: Mapping[str, Any]) -> list[CheckResult]:
    """All expectations of a claim; the claim holds when every result is ok."""
    return [check(expectation, observations) for expectation in claim.expectations]
