"""Observations: dotted paths into saved values, and ``{{ templates }}`` filled from them."""

from __future__ import annotations

from typing import Any

import pytest

from container_claims.errors import ObservationError
from container_claims.observations import (
    CommandOutcome,
    MissingObservation,
    PartlyObserved,
    render,
    render_data,
    resolve,
    template_names,
    to_json,
)

OBSERVATIONS: dict[str, Any] = {
    "shell_pid": CommandOutcome(output="1", status=0),
    "stdin_reply": CommandOutcome(output="", status=None, completed=False, detail="no reply"),
    "live": {
        "name": "cc-main",
        "host_pid": 4242,
        "lower_dirs": ["/l/a", "/l/b"],
        "nested": {"run": CommandOutcome(output="inner", status=3)},
    },
    "dirs": ["/a", "/b"],
    "found": True,
    "hostname": "web.1",
    "broken": ObservationError("engine down"),
    "served": PartlyObserved(
        {"connected": True, "received": "", "timed_out": True}, {"received": "no reply came"}
    ),
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("shell_pid", "1"),  # a bare command outcome means its output
        ("shell_pid.status", 0),
        ("shell_pid.output", "1"),
        ("stdin_reply.completed", False),
        ("stdin_reply.status", None),
        ("stdin_reply.detail", "no reply"),
        ("live.host_pid", 4242),
        ("live.lower_dirs", ["/l/a", "/l/b"]),
        ("live.lower_dirs.1", "/l/b"),
        ("live.nested.run", "inner"),
        ("live.nested.run.status", 3),
        ("dirs.0", "/a"),
        ("found", True),
        ("served.connected", True),  # what was observed of a partly observed reading
        ("served.timed_out", True),
    ],
)
def test_resolve_follows_dotted_paths(path: str, expected: Any) -> None:
    assert resolve(OBSERVATIONS, path) == expected


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("nothing", "observation 'nothing' was not made in this run"),
        ("broken", "observation 'broken' could not be made: engine down"),
        ("broken.field", "observation 'broken' could not be made"),
        ("live.missing", "observation 'live.missing' has no field 'missing'"),
        ("dirs.2", "has no field '2'"),
        ("dirs.first", "has no field 'first'"),
        ("found.value", "has no field 'value'"),
        ("shell_pid.nope", "has no field 'nope'"),
        ("served.received", "served.received was not observed: no reply came"),
    ],
)
def test_resolve_raises_missing_observation_with_the_reason(path: str, reason: str) -> None:
    with pytest.raises(MissingObservation) as info:
        resolve(OBSERVATIONS, path)
    assert reason in str(info.value)
    assert isinstance(info.value, ObservationError)  # so the verdict is error, not fail


def test_template_names_finds_every_reference() -> None:
    text = "{{ a }} and {{b.c}} and {{ d.0.e }} but not {{ Bad }} or { x }"
    assert list(template_names(text)) == ["a", "b.c", "d.0.e"]


def test_render_inserts_values_into_text() -> None:
    assert render("pid {{ shell_pid }} in {{ live.name }}", OBSERVATIONS) == "pid 1 in cc-main"


def test_render_of_a_whole_template_keeps_the_type() -> None:
    assert render("{{ live.host_pid }}", OBSERVATIONS) == 4242
    assert render(" {{ live.lower_dirs }} ", OBSERVATIONS) == ["/l/a", "/l/b"]
    assert render("{{ found }}", OBSERVATIONS) is True


def test_render_without_templates_returns_the_text() -> None:
    assert render("no templates here", OBSERVATIONS) == "no templates here"


def test_render_escapes_inserted_values_for_regular_expressions() -> None:
    assert render("^root@{{ hostname }}:", OBSERVATIONS, escape=True) == r"^root@web\.1:"
    assert render("{{ hostname }}", OBSERVATIONS, escape=True) == r"web\.1"


def test_render_raises_for_a_missing_observation() -> None:
    with pytest.raises(MissingObservation, match="'nothing' was not made"):
        render("echo {{ nothing }}", OBSERVATIONS)


def test_render_data_renders_every_string_in_nested_data() -> None:
    data = {
        "pid": "{{ live.host_pid }}",
        "dirs": ["{{ dirs.0 }}", "x-{{ shell_pid }}"],
        "count": 3,
        "flag": None,
    }
    assert render_data(data, OBSERVATIONS) == {
        "pid": 4242,
        "dirs": ["/a", "x-1"],
        "count": 3,
        "flag": None,
    }


def test_to_json_makes_plain_data() -> None:
    value = {
        "run": CommandOutcome("out", 1, stderr="err"),
        "error": ObservationError("down"),
        "set": frozenset({"x"}),
        "tuple": (1, 2),
        "other": object,
    }
    result = to_json(value)
    assert result["run"] == {
        "output": "out",
        "status": 1,
        "completed": True,
        "detail": "",
        "stderr": "err",
        "truncated": False,
    }
    assert result["error"] == {"error": "down"}
    assert result["set"] == ["x"]
    assert result["tuple"] == [1, 2]
    assert isinstance(result["other"], str)


def test_a_field_not_observed_fills_no_template_and_shows_as_it_was_in_the_evidence() -> None:
    with pytest.raises(MissingObservation, match="served.received was not observed"):
        render("echo {{ served.received }}", OBSERVATIONS)
    assert to_json(OBSERVATIONS["served"]) == {
        "connected": True,
        "received": "",
        "timed_out": True,
    }
