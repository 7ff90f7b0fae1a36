"""A file with many mistakes: the first twenty are shown, each at its line, and the rest are
counted in one more line; what it costs to find them grows with the file, not faster.

Costs are measured by ``benchmarks/corpus_bounds.py`` (as ratios, never timed here); these
tests hold the answers: the same parts refused, the same words, as checking whole.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from container_claims.errors import SHOWN_ERRORS, MoreErrors, ScenarioError, ScenarioErrors
from container_claims.scenario import load_scenario
from container_claims.scenario.loader import MarkedDict, MarkedList, load_yaml
from container_claims.scenario.schema_check import schema_errors
from container_claims.scenario.schema_explain import _Validator, canonical
from container_claims.scenario.schema_wording import schema_error
from container_claims.scenario.schemas import schema
from container_claims.scenario.validate import _LISTS

REPO = Path(__file__).resolve().parents[1]
CLAIM = "claims: [{id: a, says: A, expect: [{that: image, equals: x}]}]\n"


def refusal(text: str, tmp_path: Path) -> ScenarioError:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, display="f.yaml")
    return info.value


# -- twenty, and how many more ------------------------------------------------------------------


def test_twenty_errors_are_shown_by_line_and_the_others_counted(tmp_path: Path) -> None:
    text = "section: S\nsteps:\n" + "  - 1\n" * 25 + CLAIM
    error = refusal(text, tmp_path)
    assert isinstance(error, ScenarioErrors)
    lines = str(error).splitlines()
    assert lines == [
        *(f"f.yaml:{3 + i}: steps.{i}: 1 is not of type 'object'" for i in range(SHOWN_ERRORS)),
        "... and 5 more errors in f.yaml",
    ]
    assert [e.line for e in error.errors] == list(range(3, 3 + SHOWN_ERRORS))
    assert error.more == 5
    left_out = error.left_out()
    assert isinstance(left_out, MoreErrors) and str(left_out) == lines[-1]


def test_one_more_error_is_one() -> None:
    assert str(MoreErrors("f.yaml", 1)) == "... and 1 more error in f.yaml"
    assert str(MoreErrors("f.yaml", 12345)) == "... and 12,345 more errors in f.yaml"


def test_the_schema_s_and_the_rules_errors_count_together(tmp_path: Path) -> None:
    """Ten steps the schema refuses, fifteen probes it accepts but no one knows: the twenty
    first by line, whichever found them."""
    bad = "".join(f"  - {{probe: host.nope{i}}}\n  - 7\n" for i in range(10))
    text = "section: S\nsteps:\n" + bad + "".join(f"  - {{probe: host.x{i}}}\n" for i in range(5))
    error = refusal(text + CLAIM, tmp_path)
    assert isinstance(error, ScenarioErrors)
    assert [e.line for e in error.errors] == list(range(3, 3 + SHOWN_ERRORS))
    assert "unknown probe 'host.nope0'" in error.errors[0].message
    assert "steps.1: 7 is not of type 'object'" in error.errors[1].message
    assert error.more == 5


def test_a_hint_among_every_name_saved_is_given_where_the_error_is_shown(tmp_path: Path) -> None:
    saves = "".join(f"  - {{probe: host.hostname, save: name_{i}}}\n" for i in range(50))
    refs = "".join(f"      - {{that: nmae_{i}, equals: x}}\n" for i in range(30))
    text = f"section: S\nsteps:\n{saves}claims:\n  - id: a\n    says: A\n    expect:\n{refs}"
    error = refusal(text, tmp_path)
    assert isinstance(error, ScenarioErrors)
    assert error.errors[0].message == (
        "no step saves an observation named 'nmae_0' (did you mean 'name_0'?)"
    )
    assert all("did you mean" in e.message for e in error.errors)
    assert error.more == 10


def test_a_single_error_is_still_itself(tmp_path: Path) -> None:
    error = refusal("section: S\nsteps:\n  - probe: host.kernal_release\n" + CLAIM, tmp_path)
    assert type(error) is ScenarioError
    assert str(error) == (
        "f.yaml:3: unknown probe 'host.kernal_release' (did you mean 'host.kernel_release'?)"
    )


# -- messages that do not grow with the file ------------------------------------------------------


def test_unknown_keys_are_named_five_and_counted(tmp_path: Path) -> None:
    keys = ", ".join(f"k{i:03}: 1" for i in range(200))
    error = refusal(f"section: S\ncontainer: {{command: [sh], {keys}}}\n{CLAIM}", tmp_path)
    assert str(error).startswith(
        "f.yaml:2: unknown key 'k000' in container; unknown key 'k001' in container; "
    )
    assert "unknown key 'k004' in container; and 195 more unknown keys; allowed keys: " in str(
        error
    )
    assert len(str(error)) < 1000


def test_the_running_containers_a_message_names_are_ten_and_a_count(tmp_path: Path) -> None:
    runs = "".join(f"  - run: {{command: [sleep], detach: true, name: c{i}}}\n" for i in range(40))
    error = refusal(f"section: S\nsteps:\n{runs}  - stop: zz\n{CLAIM}", tmp_path)
    assert str(error) == (
        "f.yaml:43: stop takes a container left running by an earlier step (run: with detach: "
        "true and a name); 'zz' is not one (running: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9 "
        "and 30 more)"
    )


# -- uniqueItems, once per item -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            "container:\n  command: [sh]\n  tmpfs: [/a, 1, /b, /a]\n",
            "f.yaml:5: container.tmpfs.3: '/a' is listed twice (first as item 0, line 5)",
            id="tmpfs-mixed-types",
        ),
        pytest.param(
            "container:\n  command: [sh]\n  network: bridge\n  ports:\n    - 80\n    - x\n"
            "    - 80.0\n",
            "f.yaml:9: container.ports.2: 80.0 is listed twice (first as item 0, line 7)",
            id="ports-a-number-is-a-number",
        ),
        pytest.param(
            "volumes: [a, b, [a], {a: b}, {a: b}]\n",
            "f.yaml:3: volumes.4: {'a': 'b'} is listed twice (first as item 3, line 3)",
            id="volumes-mappings",
        ),
    ],
)
def test_an_item_listed_twice_is_named_at_its_line(body: str, message: str) -> None:
    assert message in told(body)


def told(body: str) -> list[str]:
    """What the schema check says of a scenario made of a section, a claim and ``body``."""
    document = load_yaml("section: S\n" + CLAIM + body, "f.yaml")
    return [str(e) for e in schema_errors(document, schema(), "f.yaml").described.values()]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        ("1", 1, False),
        (None, None, True),
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2.0], "a": 1}, True),
        ([1, True], [1, 1], False),
        ([1, 2], [2, 1], False),
        ({"a": None}, {}, False),
    ],
)
def test_items_are_the_same_when_json_schema_says_so(a: Any, b: Any, same: bool) -> None:
    assert (canonical(a) == canonical(b)) is same
    unique = {"type": "array", "uniqueItems": True}
    assert _Validator(unique).is_valid([a, b]) is not same
    assert jsonschema.Draft202012Validator(unique).is_valid([a, b]) is not same


# -- item by item, the same answers as the whole document ----------------------------------------


def _documents() -> list[tuple[str, Any]]:
    found = []
    files = sorted((REPO / "scenarios").rglob("*.yaml")) + sorted(
        (REPO / "tests" / "corpus" / "scenario_files").glob("*.yaml")
    )
    for path in files:
        try:
            document = load_yaml(path.read_text(errors="replace"), path.name)
        except (ScenarioError, OSError):
            continue
        if isinstance(document, dict):
            found.append((path.name, document))
    return found


def _spoilt(document: dict[str, Any]) -> list[Any]:
    """Each document as it is and made wrong in its lists' items, in several ways at once."""
    variants = [document]
    for key in _LISTS:
        items = document.get(key)
        if not isinstance(items, MarkedList) or not items:
            continue
        changed = copy.deepcopy(document)
        changed[key].extend([7, {}, {"id": "Not Kebab"}, {"probe": 1}, [1]])
        changed[key].item_lines = items.item_lines + [items.line] * 5
        for item in changed[key][: len(items)]:
            if isinstance(item, MarkedDict):
                item["surprise"] = 1
                item.key_lines["surprise"] = item.line
        variants.append(changed)
    return variants


@pytest.mark.parametrize(("name", "document"), _documents(), ids=lambda x: str(x)[:40])
def test_item_by_item_refuses_what_the_whole_document_does(name: str, document: Any) -> None:
    whole = _Validator(schema())
    for variant in _spoilt(document):
        parts: dict[tuple[Any, ...], list[jsonschema.ValidationError]] = {}
        for error in whole.iter_errors(variant):
            parts.setdefault(tuple(error.absolute_path)[:2], []).append(error)
        found = schema_errors(variant, schema(), name)
        assert found.parts == set(parts), name
        assert found.more == max(0, len(parts) - SHOWN_ERRORS)
        for part, error in found.described.items():
            # What jsonschema says of one of the part's errors (the first bad item of a
            # nested list stands for the list: see the test below).
            said = set()
            for each in parts[part]:
                best = jsonschema.exceptions.best_match([each])
                assert best is not None
                said.add(str(schema_error(variant, best, name)))
            assert str(error) in said, name


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            "container:\n  command: [sh]\n  tmpfs: [/a, /b, 3, /d, 5]\n",
            "f.yaml:5: container.tmpfs.2: 3 is not valid under any of the given schemas",
            id="in-the-frame",
        ),
        pytest.param(
            "steps:\n  - run: {command: [sh, 1, x, 2]}\n",
            "f.yaml:4: steps.0.run.command.1: YAML reads 1 as a number; quote it to keep it as "
            "text",
            id="in-an-item",
        ),
        pytest.param(
            "container:\n  command: [sh]\n  volumes: {b: /b, a: 1, c: 2}\n",
            "f.yaml:5: container.volumes.a: 1 is not valid under any of the given schemas",
            id="a-mapping",
        ),
        pytest.param(
            "steps:\n  - run: {command: [sh], env: {B: b, A: [1], C: [2]}}\n",
            "f.yaml:4: steps.0.run.env.A: [1] is not of type 'string'",
            id="a-mapping-in-an-item",
        ),
    ],
)
def test_the_first_bad_item_of_a_nested_list_is_the_one_told(body: str, message: str) -> None:
    """A list or mapping inside a part (a step, the container) is one part however many of
    its members are bad: the first, in the file's order, is the one told."""
    assert told(body) == [message]


def test_each_bad_member_of_a_top_level_mapping_is_a_part() -> None:
    """Top-level mappings (directories) are cut as the top-level lists are: each bad entry is
    told at its line."""
    document = load_yaml(
        "section: S\n" + CLAIM + "directories:\n  a: 1\n  b: {x: 1}\n  c: [x]\n", "f.yaml"
    )
    found = schema_errors(document, schema(), "f.yaml")
    assert found.parts == {("directories", "a"), ("directories", "b"), ("directories", "c")}
    assert [str(e).split(":")[1] for e in found.described.values()] == ["4", "5", "6"]
