"""Checks: every operator, templates in expected values, and what is not a failure."""

from __future__ import annotations

from typing import Any

import pytest

from container_claims.checks import check, check_claim, errors_of, verdict_of
from container_claims.errors import ObservationError
from container_claims.observations import CommandOutcome
from container_claims.scenario.model import (
    NUMERIC_OPERATORS,
    OPERATOR_WORDS,
    OPERATORS,
    ROW_OPERATORS,
    Claim,
    Expectation,
)


def holds(observed: Any, op: str, value: Any, *, header: bool = False, **more: Any) -> bool:
    observations = {"seen": observed, **more}
    return check(Expectation("seen", op, value, line=7, header=header), observations).ok


@pytest.mark.parametrize(
    ("observed", "value", "ok"),
    [
        ("1", 1, True),  # text from a shell against a YAML number
        ("1\n", 1, True),  # surrounding whitespace does not count
        (1, "1", True),
        ("0", 1, False),
        ("abc", "abc", True),
        ("abc", "ABC", False),
        (True, True, True),
        ("true", True, True),  # text against a YAML boolean
        ("false", False, True),
        (True, "true", True),
        ("True", True, False),
        (False, True, False),
        (4242, 4242, True),
        (["a"], ["a"], True),
        ({"a": 1}, {"a": 1}, True),
        (CommandOutcome("stdin-42\n", 0), "stdin-42", True),
    ],
)
def test_equals_coerces_text_numbers_and_booleans(observed: Any, value: Any, ok: bool) -> None:
    assert holds(observed, "equals", value) is ok
    assert holds(observed, "not_equals", value) is not ok


@pytest.mark.parametrize(
    ("observed", "value", "ok"),
    [
        ("Linux 6.1.0 x86_64", "6.1.0", True),
        ("Linux 6.1.0", "6.2", False),
        ([1, 4242], "4242", True),  # list items compare like equals
        ([1, 4242], 1, True),
        (["pid", "mnt"], "net", False),
        ({"pid": 1, "mnt": 2}, "mnt", True),  # a mapping contains its keys
        ({"pid": 1}, 1, False),  # ... not its values
        ("flag is true", True, True),  # a boolean as text
    ],
)
def test_contains_on_text_lists_and_mappings(observed: Any, value: Any, ok: bool) -> None:
    assert holds(observed, "contains", value) is ok
    assert holds(observed, "not_contains", value) is not ok


@pytest.mark.parametrize(
    ("observed", "pattern", "ok"),
    [
        ("/dev/pts/0", r"^/dev/pts/\d+$", True),
        ("not a tty", r"^/dev/pts/\d+$", False),
        ("USER PID\nroot 1 /bin/bash\nroot 7 ps aux", r"^root 1 ", True),  # MULTILINE
        ("a\nb\nc", r"^b$", True),
        ("bin\nboot\nusr", r"\busr\b", True),
        (0, r"^0$", True),
    ],
)
def test_matches_searches_with_multiline(observed: Any, pattern: str, ok: bool) -> None:
    assert holds(observed, "matches", pattern) is ok
    assert holds(observed, "not_matches", pattern) is not ok


@pytest.mark.parametrize(
    ("observed", "header", "rows"),
    [
        ("USER PID\nroot 1\nroot 7\n", True, 2),
        ("USER PID\nroot 1\nroot 7\n", False, 3),
        ("a\n\n   \nb\n", False, 2),  # blank lines are no rows
        ("", False, 0),
        ("", True, 0),
        ("HEADER ONLY", True, 0),
    ],
)
def test_rows_counts_non_empty_lines(observed: str, header: bool, rows: int) -> None:
    assert holds(observed, "rows", rows, header=header)
    assert not holds(observed, "rows", rows + 1, header=header)


@pytest.mark.parametrize(
    ("observed", "op", "value", "ok"),
    [
        ("0.01", "less_than", 0.05, True),
        (0.05, "less_than", 0.05, False),
        ("10", "less_than", "9", False),  # numbers, not text order
        (10, "greater_than", "9", True),
        ("-1", "greater_than", 0, False),
        ("abc", "less_than", 1, False),  # not a number: not ok, no crash
        ("abc", "greater_than", 1, False),
        (None, "less_than", 1, False),
        ([1], "greater_than", 0, False),
        (1, "less_than", "many", False),
    ],
)
def test_less_than_and_greater_than_compare_numbers(
    observed: Any, op: str, value: Any, ok: bool
) -> None:
    assert holds(observed, op, value) is ok


def test_expected_value_may_quote_another_observation() -> None:
    assert holds("6.1.0", "equals", "{{ host_kernel }}", host_kernel="6.1.0")
    assert not holds("6.1.0", "equals", "{{ host_kernel }}", host_kernel="5.10.0")
    assert holds("cc-changed-ab12", "equals", "cc-changed-{{ token }}", token="ab12")
    assert holds(CommandOutcome("ok\n", 0), "equals", "{{ other }}", other=CommandOutcome("ok", 0))


def test_a_whole_template_keeps_the_type_of_the_value() -> None:
    result = check(
        Expectation("a.id", "equals", "{{ b.id }}", line=1), {"a": {"id": 12}, "b": {"id": 12}}
    )
    assert result.ok
    assert result.expected == 12
    assert isinstance(result.expected, int)


def test_templates_in_regular_expressions_are_escaped() -> None:
    assert holds("root@web.1:/# ", "matches", "^root@{{ host }}:", host="web.1")
    assert not holds("root@webX1:/# ", "matches", "^root@{{ host }}:", host="web.1")
    assert not holds("a+b", "not_matches", "{{ sum }}", sum="a+b")


def test_check_result_keeps_expected_observed_and_line() -> None:
    expectation = Expectation("pid", "equals", 1, line=12)
    result = check(expectation, {"pid": CommandOutcome("7", 0)})

    assert not result.ok
    assert (result.expected, result.observed) == (1, "7")
    assert result.to_json() == {
        "that": "pid",
        "op": "equals",
        "expected": 1,
        "observed": "7",
        "ok": False,
        "line": 12,
    }


@pytest.mark.parametrize(
    ("that", "observations", "op", "value"),
    [
        ("seen", {}, "equals", 1),  # never made
        ("seen", {"seen": ObservationError("engine down")}, "equals", 1),  # its step failed
        ("seen.b", {"seen": {"a": 1}}, "equals", 1),  # no such field
        ("seen", {"seen": "x"}, "equals", "{{ other }}"),  # the value quotes what was never made
        ("seen", {"seen": "x", "other": ObservationError("timeout")}, "equals", "{{ other }}"),
        ("seen", {"seen": "x"}, "matches", "^{{ other }}$"),  # inside a regular expression too
    ],
)
def test_missing_observation_is_no_failure(
    that: str, observations: dict[str, Any], op: str, value: Any
) -> None:
    result = check(Expectation(that, op, value, line=1), observations)
    assert result.error is not None
    assert verdict_of([result]) == "error"


def test_a_claim_observed_false_fails_whatever_its_other_expectations_could_not_show() -> None:
    """Three-valued: one expectation observed false is enough to say the claim does not hold;
    without one, an expectation that could not be evaluated makes the verdict an error."""
    seen = {"a": "1", "b": ObservationError("no reply within 10 s")}
    false_a = check(Expectation("a", "equals", 2, line=1), seen)
    true_a = check(Expectation("a", "equals", 1, line=1), seen)
    unknown_b = check(Expectation("b", "equals", 1, line=2), seen)
    assert verdict_of([unknown_b, false_a]) == "fail"
    assert verdict_of([true_a, unknown_b]) == "error"
    assert verdict_of([true_a]) == "pass"
    assert errors_of([true_a, unknown_b]) == [
        "line 2: observation 'b' could not be made: no reply within 10 s"
    ]


@pytest.mark.parametrize("op", ["less_than", "greater_than"])
def test_a_bound_that_is_no_number_is_an_error_and_text_observed_is_a_failure(op: str) -> None:
    bound_from_text = check(Expectation("n", op, "{{ word }}", line=4), {"n": "3", "word": "abc"})
    assert bound_from_text.error == "bound 'abc' is not a number"
    text_observed = check(Expectation("n", op, 5, line=4), {"n": "abc"})
    assert (text_observed.ok, text_observed.error) == (False, None)


def test_a_pattern_that_backtracks_in_re_is_linear_here() -> None:
    """(a+)+$ on 'aaa...b' takes exponential time with a backtracking engine; RE2 answers."""
    assert not holds("a" * 100_000 + "b", "matches", "(a+)+$")
    assert holds("a" * 100_000, "matches", "(a+)+$")


def test_check_claim_checks_every_expectation() -> None:
    claim = Claim(
        id="c",
        says="s",
        section="S",
        line=1,
        expectations=(
            Expectation("a", "equals", 1, line=2),
            Expectation("b", "contains", "x", line=3),
        ),
    )
    results = check_claim(claim, {"a": "1", "b": "yyy"})
    assert [r.ok for r in results] == [True, False]
    assert [r.expectation.line for r in results] == [2, 3]


@pytest.mark.parametrize("op", OPERATORS)
def test_every_operator_of_the_format_is_checked_and_worded(op: str) -> None:
    value = 1 if op in (*ROW_OPERATORS, *NUMERIC_OPERATORS) else "x"
    result = check(Expectation(that="out", op=op, value=value, line=1), {"out": "x"})
    assert result.error is None  # the checker knows it: no "unknown operator"
    assert OPERATOR_WORDS[op]  # and a report can read it out


@pytest.mark.parametrize(
    ("op", "bound", "ok"),
    [
        ("rows_at_least", 2, True),
        ("rows_at_least", 3, False),
        ("rows_at_most", 2, True),
        ("rows_at_most", 1, False),
    ],
)
def test_row_bounds_count_non_empty_lines_after_the_header(op: str, bound: int, ok: bool) -> None:
    table = "PID CMD\n1 bash\n\n7 ps\n"
    result = check(Expectation("ps", op, bound, line=1, header=True), {"ps": table})
    assert (result.ok, result.error) == (ok, None)
