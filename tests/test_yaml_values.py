"""The one-pass loader (events straight to marked values) answers as composing the whole
document first would: a document's first error is the one a composer and then a builder would
meet first (a syntax error or a limit anywhere before a value that cannot be built, a mapping's
keys before its values), and a valid document loads to what PyYAML's SafeLoader makes of it.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from container_claims.errors import ScenarioError
from container_claims.scenario.loader import MarkedDict, MarkedList, load_yaml


def error(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_yaml(text, "f.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "a: !!foo x\n1: y\n",
            "f.yaml:2: keys must be text, not 1",
            id="a-later-key-before-an-earlier-value",
        ),
        pytest.param(
            "a:\n  b: !!foo x\n  b: y\nc: {1: z}\n",
            "f.yaml:3: duplicate key 'b' (first at line 2)",
            id="a-nested-key-before-a-nested-value",
        ),
        pytest.param(
            "a: !!foo x\nb: [\n",
            "f.yaml:3: invalid YAML: while parsing a flow node; expected the node content, "
            "but found '<stream end>'",
            id="a-later-syntax-error-before-a-value",
        ),
        pytest.param(
            "a: !!foo x\nb: &b [x]\nc: *nope\n",
            "f.yaml:3: invalid YAML: found undefined alias 'nope'",
            id="a-later-composer-error-before-a-value",
        ),
        pytest.param(
            "a: !!foo x\n" + "b: [" + "[" * 70 + "]" * 70 + "]\n",
            "f.yaml:2: nesting deeper than 64 levels",
            id="a-later-limit-before-a-value",
        ),
        pytest.param(
            "? [!!foo x]\n: 1\n",
            "f.yaml:1: keys must be text, not a list",
            id="a-list-key-before-what-is-in-it",
        ),
        pytest.param(
            "&k =: 1\nb: *k\n",
            "f.yaml:2: = has a special meaning in YAML; quote it to keep it as text",
            id="a-key-repeated-as-a-value",
        ),
        pytest.param(
            "l: &l [{x: 1}, [1]]\nm:\n  <<: *l\n",
            "f.yaml:1: '<<' merges a mapping or a list of mappings (such as *base), not a list",
            id="a-merge-of-a-repeated-list",
        ),
        pytest.param(
            "m:\n  <<: [{x: !!foo 1}, 2]\n",
            "f.yaml:2: '<<' merges a mapping or a list of mappings (such as *base), not the "
            "value 2",
            id="the-merged-items-before-what-is-in-them",
        ),
    ],
)
def test_the_first_error_is_the_one_composing_first_would_meet(text: str, message: str) -> None:
    assert error(text) == message


def test_an_alias_is_a_copy_at_the_line_of_the_alias() -> None:
    document = load_yaml("a: &a {x: [1]}\nb: *a\n", "f.yaml")
    assert document["b"] == document["a"] and document["b"] is not document["a"]
    assert document["b"]["x"] is not document["a"]["x"]
    assert (document["a"].line, document["b"].line) == (1, 2)
    assert document["b"].key_lines == {"x": 1}


def test_what_a_merge_takes_is_a_copy() -> None:
    document = load_yaml("z: &z [2]\na: &a {x: [1], y: *z}\nb: {<<: *a}\nc: {<<: [*a]}\n", "f.yaml")
    assert document["b"] == document["c"] == {"x": [1], "y": [2]}
    reached = _containers(document)
    assert len(reached) == len(set(reached))
    assert document["b"].key_lines == {"x": 2, "y": 2}


def test_a_list_of_merged_mappings_can_itself_be_repeated() -> None:
    document = load_yaml("a: &a {x: 1}\nb: {<<: &m [*a], y: 2}\nc: *m\n", "f.yaml")
    assert document == {"a": {"x": 1}, "b": {"x": 1, "y": 2}, "c": [{"x": 1}]}


def test_merged_keys_come_where_the_merge_is_written() -> None:
    document = load_yaml("{a: 1, <<: {b: 2, a: 3}, c: 4}\n", "f.yaml")
    assert list(document) == ["a", "b", "c"] and document == {"a": 1, "b": 2, "c": 4}


# -- valid documents load as SafeLoader loads them ---------------------------------------------

SCALARS = ["x", "'1'", "1", "1.5", "true", "null", "2001-02-03", "0x1f", "1:30", "'<<'", '"q"']


def _document(seed: int) -> str:
    """A valid document with anchors and aliases, in flow and block style. (No merges:
    PyYAML's own merging changes the nodes it merges, so that a mapping merged twice can come
    out otherwise; the merge tests of test_yaml_limits hold the rules.)"""
    rnd = random.Random(seed)
    anchors: list[str] = []
    counter = iter(range(10_000))

    def anchored(text: str) -> str:
        if rnd.random() > 0.3:
            return text
        name = f"a{next(counter)}"
        anchors.append(name)
        return f"&{name} {text}"

    def node(depth: int) -> str:
        roll = rnd.random()
        if anchors and roll < 0.15:
            return "*" + rnd.choice(anchors)
        if depth > 3 or roll < 0.5:
            return anchored(rnd.choice(SCALARS))
        if roll < 0.7:
            return anchored(
                "[" + ", ".join(node(depth + 1) for _ in range(rnd.randint(0, 3))) + "]"
            )
        parts = [
            f"k{index}: {node(depth + 1)}" for index in rnd.sample(range(8), rnd.randint(0, 4))
        ]
        return anchored("{" + ", ".join(parts) + "}")

    lines = [f"top{index}: {node(0)}" for index in range(rnd.randint(1, 5))]
    if rnd.random() < 0.5:  # block style around the flow values
        lines = [
            f"wrapper:\n  - {line}" if index == 0 else f"    {line}"
            for index, line in enumerate(lines)
        ]
    return "\n".join(lines) + "\n"


def _containers(value: Any) -> list[int]:
    """The ids of every mapping and list in ``value``, as often as each is reached."""
    if isinstance(value, dict):
        return [id(value), *(i for item in value.values() for i in _containers(item))]
    if isinstance(value, list):
        return [id(value), *(i for item in value for i in _containers(item))]
    return []


def _marked_everywhere(value: Any) -> bool:
    if isinstance(value, dict):
        return (
            isinstance(value, MarkedDict)
            and value.key_lines.keys() == value.keys()
            and all(_marked_everywhere(item) for item in value.values())
        )
    if isinstance(value, list):
        return (
            isinstance(value, MarkedList)
            and len(value.item_lines) == len(value)
            and all(_marked_everywhere(item) for item in value)
        )
    return True


@pytest.mark.parametrize("seed", range(300))
def test_a_valid_document_loads_as_safe_load_makes_it(seed: int) -> None:
    text = _document(seed)
    document = load_yaml(text, "f.yaml")
    assert document == yaml.safe_load(text), text
    assert _marked_everywhere(document), text
    reached = _containers(document)
    assert len(reached) == len(set(reached)), f"an alias shares what it repeats: {text}"
