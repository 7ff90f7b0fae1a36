"""Claims checked against observations: the only place a verdict of pass or fail is decided.

Each expectation compares one observation with a value (which may itself quote another
observation through ``{{ name }}``). An expectation that cannot be evaluated (its observation
was not made, or not completely) is not a failure: its result carries the reason, and unless
another expectation of the claim was observed to be false, the claim's verdict is *error*.

A claim holds when all its expectations do: it *fails* as soon as one was observed false
(what the others would have shown cannot change that), it is an *error* when none was observed
false but one could not be evaluated, and it *passes* only when every one was observed true.

Regular expressions run on RE2 (:mod:`container_claims.patterns`), in time linear in the
text whatever the pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from container_claims.errors import ObservationError
from container_claims.observations import render, resolve, to_json
from container_claims.patterns import PatternError, compile_pattern
from container_claims.results import ERROR, FAIL, PASS
from container_claims.scenario.model import (
    NUMERIC_OPERATORS,
    PATTERN_OPERATORS,
    ROW_OPERATORS,
    Claim,
    Expectation,
)


@dataclass(frozen=True)
class CheckResult:
    expectation: Expectation
    expected: Any
    observed: Any
    ok: bool
    error: str | None = None  # why it could not be evaluated; then ``ok`` means nothing

    def to_json(self) -> dict[str, Any]:
        record = {
            "that": self.expectation.that,
            "op": self.expectation.op,
            "expected": to_json(self.expected),
            "observed": to_json(self.observed),
            "ok": self.ok,
            "line": self.expectation.line,
        }
        if self.error is not None:
            record["error"] = self.error
        return record


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


class _NotANumber(ValueError):
    pass


def _number(value: Any) -> float:
    try:
        return float(_text(value))
    except ValueError:
        raise _NotANumber(f"{_text(value)[:80]!r} is not a number") from None


def _matches(observed: Any, pattern: Any) -> bool:
    return compile_pattern(str(pattern)).search(str(observed)) is not None


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": _same,
    "not_equals": lambda o, e: not _same(o, e),
    "contains": _contains,
    "not_contains": lambda o, e: not _contains(o, e),
    "matches": _matches,
    "not_matches": lambda o, e: not _matches(o, e),
    "less_than": lambda o, e: _number(o) < _number(e),
    "greater_than": lambda o, e: _number(o) > _number(e),
}


def check(expectation: Expectation, observations: Mapping[str, Any]) -> CheckResult:
    """Evaluate one expectation; when it cannot be, the result says why (``error``)."""
    try:
        observed = resolve(observations, expectation.that)
    except ObservationError as exc:
        return CheckResult(expectation, expectation.value, None, False, error=str(exc))
    expected = expectation.value
    try:
        if isinstance(expected, str):
            expected = render(expected, observations, escape=expectation.op in PATTERN_OPERATORS)
        if expectation.op in ROW_OPERATORS:
            count = _rows(observed, expectation.header)
            holds = ROW_OPERATORS[expectation.op](count, expected)
            return CheckResult(expectation, expected, observed, holds)
        if expectation.op in NUMERIC_OPERATORS:
            _number(expected)  # a bound that is no number is no comparison: an error
        ok = _OPS[expectation.op](observed, expected)
    except ObservationError as exc:
        return CheckResult(expectation, expected, observed, False, error=str(exc))
    except PatternError as exc:
        return CheckResult(expectation, expected, observed, False, error=f"pattern: {exc}")
    except _NotANumber as exc:
        if expectation.op in NUMERIC_OPERATORS and not _is_number(expected):
            return CheckResult(expectation, expected, observed, False, error=f"bound {exc}")
        ok = False  # observed text that is no number is not below (or above) any bound
    return CheckResult(expectation, expected, observed, ok)


def _is_number(value: Any) -> bool:
    try:
        _number(value)
    except _NotANumber:
        return False
    return True


def check_claim(claim: Claim, observations: Mapping[str, Any]) -> list[CheckResult]:
    """All expectations of a claim, each evaluated (see :func:`verdict_of`)."""
    return [check(expectation, observations) for expectation in claim.expectations]


def verdict_of(checks: list[CheckResult]) -> str:
    """fail if one was observed false; else error if one could not be evaluated; else pass."""
    if any(not c.ok and c.error is None for c in checks):
        return FAIL
    if any(c.error is not None for c in checks):
        return ERROR
    return PASS


def errors_of(checks: list[CheckResult]) -> list[str]:
    """Why each expectation that could not be evaluated was not, in the claim's order."""
    return [f"line {c.expectation.line}: {c.error}" for c in checks if c.error is not None]
