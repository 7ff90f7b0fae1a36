"""The quick schema check (fastjsonschema) answers as jsonschema does, or it would let a bad
file through unreported: held to the same answers over every scenario of the catalogue, the
hostile corpus, and documents made invalid one way each."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from container_claims.errors import ScenarioError
from container_claims.scenario.loader import load_yaml
from container_claims.scenario.schema_check import QuickCheck, _quick_form
from container_claims.scenario.schema_explain import _Validator
from container_claims.scenario.schemas import schema
from tests.support.project import fresh_python

REPO = Path(__file__).resolve().parents[1]


def documents() -> list[tuple[str, Any]]:
    found = []
    files = sorted((REPO / "scenarios").rglob("*.yaml")) + sorted(
        (REPO / "tests" / "corpus").rglob("*.yaml")
    )
    for path in files:
        try:
            found.append((path.name, load_yaml(path.read_text(errors="replace"), path.name)))
        except (ScenarioError, OSError):
            continue  # not YAML at all: the schema never sees it
    return found


def broken(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document made invalid in one place each: a type, an unknown key, a bad pattern."""
    variants = []
    for key, value in (("claims", "not a list"), ("surprise", 1), ("section", 7)):
        changed = copy.deepcopy(dict(document))
        changed[key] = value
        variants.append(changed)
    changed = copy.deepcopy(dict(document))
    if changed.get("claims"):
        changed["claims"][0]["id"] = "Not Kebab"
        variants.append(changed)
    return variants


@pytest.mark.parametrize(("name", "document"), documents(), ids=lambda v: str(v)[:40])
def test_the_quick_check_answers_as_jsonschema(name: str, document: Any) -> None:
    thorough = _Validator(schema())
    quick = QuickCheck(schema())
    assert quick.valid(document) is thorough.is_valid(document), name
    if isinstance(document, dict):
        for variant in broken(document):
            assert quick.valid(variant) is thorough.is_valid(variant) is False


@pytest.mark.parametrize(
    "steps",
    [
        [{"exec": ["true"]}],
        [{"exec": ["true"], "save": "out"}, {"type": "exit"}],
        [{"save": "out"}],
        [{"exec": ["true"], "probe": "host.boot_id"}],
        [{"exec": ["true"]}, {"stop": "a", "wait": "a"}],
        [{}],
    ],
    ids=["one-kind", "two-steps", "no-kind", "two-kinds", "two-kinds-later", "empty"],
)
def test_a_step_has_exactly_one_kind_in_the_quick_check_too(steps: list[Any]) -> None:
    """The quick check writes the step's "exactly one kind" otherwise (fastjsonschema would
    raise for each kind a step is not): it must still refuse none and two."""
    claim = {"id": "a", "says": "A", "expect": [{"that": "out", "equals": 1}]}
    document = {"section": "s", "steps": steps, "claims": [claim]}
    quick = QuickCheck(schema())
    thorough = _Validator(schema())
    valid = thorough.is_valid(document)
    assert valid is (all(sum(kind in step for kind in KINDS) == 1 for step in steps))
    assert quick.valid(document) is valid


KINDS = ("type", "exec", "run", "probe", "stop", "wait", "signal", "commit", "build")


def test_the_quick_form_drops_annotations_not_properties_of_their_names() -> None:
    toy = {
        "type": "object",
        "description": "an annotation",
        "properties": {
            "description": {"type": "string", "description": "a property of that name"},
            "kind": {"enum": [{"description": "data"}]},
        },
        "additionalProperties": False,
    }
    assert _quick_form(toy) == {
        "type": "object",
        "properties": {
            "description": {"type": "string"},
            "kind": {"enum": [{"description": "data"}]},
        },
        "additionalProperties": False,
    }


def test_valid_files_are_checked_without_jsonschema() -> None:
    """jsonschema (60 ms and 10 MB to import) is for saying why a file is refused: loading the
    catalogue, every file valid, never imports it; one refused file does."""
    program = (
        "import sys\n"
        "from pathlib import Path\n"
        "from container_claims.errors import ScenarioError\n"
        "from container_claims.scenario import load_scenario\n"
        "from container_claims.scenario.validate import scenario_from_text\n"
        f"for path in sorted(Path({str(REPO / 'scenarios')!r}).rglob('*.yaml')):\n"
        "    load_scenario(path)\n"
        "print('jsonschema' in sys.modules)\n"
        "try:\n"
        "    scenario_from_text('claims: 7\\n', Path('bad.yaml'), 'bad.yaml')\n"
        "except ScenarioError:\n"
        "    pass\n"
        "print('jsonschema' in sys.modules)\n"
    )
    assert fresh_python(program).split() == ["False", "True"]


def other_documents() -> list[tuple[str, dict[str, Any], Any]]:
    """The runtimes files' and the expectations files' schemas, each with the repository's
    files of its kind and those made invalid in one place each, as a reader mistypes them."""
    from container_claims.expectations import _SCHEMA as EXPECTATIONS
    from container_claims.runtimes import _FILE_SCHEMA as RUNTIMES

    runtimes = [
        yaml.safe_load(path.read_text())
        for path in (
            REPO / "src/container_claims/runtimes.yaml",
            REPO / "tests/controls/runtimes.yaml",
        )
    ]
    expectations = [yaml.safe_load((REPO / "expectations/debian12.yaml").read_text())]
    runtime_variants: list[dict[str, Any]] = [
        {"start_timeout": True},
        {"start_timeout": 0},
        {"start_timeout": "5"},
        {"name": "docker\n"},
        {"name": "-docker"},
        {"run_args": ["--privileged", 1]},
        {"env": {"A": 1}},
        {"host": "h" * 301},
        {"surprise": 1},
    ]
    expectation_variants: list[dict[str, Any]] = [
        {"verdict": "passed"},
        {"verdict": 1},
        {"reason": "   "},
        {"reason": "two\nlines"},
        {"reason": "ends with a newline\n"},
        {"link": "javascript:alert(1)"},
        {"claim": ""},
    ]
    found = []
    for key, against, documents, variants in (
        ("runtimes", RUNTIMES, runtimes, runtime_variants),
        ("expectations", EXPECTATIONS, expectations, expectation_variants),
    ):
        for number, document in enumerate(documents):
            found.append((f"{key}-{number}", against, document))
            for index, change in enumerate(variants):
                changed = copy.deepcopy(document)
                changed[key][0].update(change)  # the file's first entry
                found.append((f"{key}-{number}-{index}", against, changed))
    return found


@pytest.mark.parametrize(
    ("name", "against", "document"), other_documents(), ids=lambda v: str(v)[:40]
)
def test_the_quick_check_of_other_files_answers_as_jsonschema(
    name: str, against: dict[str, Any], document: Any
) -> None:
    """The runtimes and expectations files are checked by the quick check first too."""
    thorough = _Validator(against)
    assert QuickCheck(against).valid(document) is thorough.is_valid(document), name
