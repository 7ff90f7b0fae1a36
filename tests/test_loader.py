"""Scenario loading and validation: a valid file becomes the model, an invalid one gives ONE
line ``file:line: message`` that points at the line to fix.

Each invalid document below marks the line the error must point at with ``# <-``.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import jsonschema
import pytest

from container_claims.errors import ScenarioError
from container_claims.observations import BUILTINS
from container_claims.scenario import load_scenario
from container_claims.scenario.loader import MarkedDict, MarkedList, line_of, load_yaml
from container_claims.scenario.model import CAPABILITIES, OPERATORS, Mount
from container_claims.scenario.probes import PROBES
from container_claims.scenario.schemas import schema
from container_claims.scenario.steps import ExecStep, ProbeStep, TypeStep

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SCENARIO_FILES = sorted(SCENARIOS.glob("*.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def marked_line(text: str) -> int:
    lines = textwrap.dedent(text).splitlines()
    return next(number for number, line in enumerate(lines, 1) if "# <-" in line)


def assert_error(tmp_path: Path, text: str, *phrases: str) -> str:
    """Loading ``text`` fails with one line at the marked line containing every phrase."""
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{marked_line(text)}: "), message
    for phrase in phrases:
        assert phrase in message
    return message


# -- a valid scenario ---------------------------------------------------------------------------

VALID = """\
scenario: shell
summary: A shell in a container.
section: Shell
volumes: [data]
container:
  command: [/bin/bash]
  tty: true
  interactive: true
  volumes: {data: /data}
steps:
  - type: echo $$
    save: shell_pid
  - run: {name: sibling, detach: true, command: [sleep, "60"]}
  - exec: {in: sibling, command: [echo, "{{ shell_pid }}"]}
    save: sibling_echo
  - probe: host.which
    with: {program: python3}
    save: host_python
after:
  - run: {command: [cat, /data/kept], volumes: {data: /data}}
    save: kept
claims:
  - id: shell-is-pid-1
    says: The shell is PID 1.
    expect:
      - that: shell_pid
        equals: 1
      - that: sibling_echo
        matches: '^{{ shell_pid }}$'
  - id: volume-keeps
    section: Filesystem
    requires: [volumes]
    says: A volume keeps data.
    expect:
      - that: kept
        rows: 1
        header: false
"""


def line_with(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_valid_scenario_becomes_the_model(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID))

    assert scenario.name == "shell"
    assert scenario.volumes == ("data",)
    assert scenario.container is not None
    assert scenario.container.spec.command == ("/bin/bash",)
    assert scenario.container.spec.volumes == (Mount("data", "/data"),)
    assert scenario.container.save == "session"
    assert [step.kind for step in scenario.steps] == ["type", "run", "exec", "probe"]
    assert [step.line for step in scenario.steps] == [
        line_with(VALID, fragment)
        for fragment in ("type: echo $$", "run: {name: sibling", "exec:", "probe: host.which")
    ]
    typed, _, sibling_exec, probe = scenario.steps
    assert isinstance(sibling_exec, ExecStep) and sibling_exec.target == "sibling"
    assert isinstance(typed, TypeStep) and typed.text == "echo $$"
    assert isinstance(probe, ProbeStep) and probe.args == {"program": "python3"}
    assert [step.save for step in scenario.after] == ["kept"]
    first, second = scenario.claims
    assert (first.id, first.section) == ("shell-is-pid-1", "Shell")
    assert first.line == line_with(VALID, "id: shell-is-pid-1")
    assert [(e.that, e.op, e.value, e.line) for e in first.expectations] == [
        ("shell_pid", "equals", 1, line_with(VALID, "that: shell_pid")),
        ("sibling_echo", "matches", "^{{ shell_pid }}$", line_with(VALID, "that: sibling_echo")),
    ]
    assert second.section == "Filesystem"
    assert second.requires == frozenset({"volumes"})


def test_scenario_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("scenario: shell\n", ""))
    assert load_scenario(path).name == "scenario"


def test_display_name_is_used_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "claims: []\n")
    with pytest.raises(ScenarioError, match=r"^scenarios/x\.yaml:1: "):
        load_scenario(path, display="scenarios/x.yaml")


# -- invalid scenarios: one line, the right line, a helpful message -----------------------------

INVALID = {
    "yaml-syntax": (
        """\
        section: S
        claims:
          - id: a
            says: A: B  # <-
            expect: [{that: image, equals: x}]
        """,
        ["invalid YAML", "mapping values are not allowed here"],
    ),
    "yaml-tab": (
        """\
        section: S
        claims:
        \t- id: a  # <-
        """,
        ["invalid YAML", "'\\t'"],
    ),
    "unknown-key-near-name": (
        """\
        section: S
        container:
          interactive: true
          remov: true  # <-
        claims:
          - {id: a, says: A, expect: [{that: image, equals: x}]}
        """,
        ["unknown key 'remov' in container", "did you mean 'remove'?", "allowed keys:"],
    ),
    "unknown-key-top-level": (
        """\
        section: S
        sumary: typo  # <-
        claims:
          - {id: a, says: A, expect: [{that: image, equals: x}]}
        """,
        ["unknown key 'sumary'", "did you mean 'summary'?"],
    ),
    "wrong-type": (
        """\
        section: S
        container:
          interactive: true
          tty: "yes"  # <-
        claims:
          - {id: a, says: A, expect: [{that: image, equals: x}]}
        """,
        ["container.tty", "'yes'", "boolean"],
    ),
    "claim-id-form": (
        """\
        section: S
        claims:
          - id: Shell_Is_PID_1  # <-
            says: A
            expect: [{that: image, equals: x}]
        """,
        ["'Shell_Is_PID_1' is not kebab-case (lowercase words joined by hyphens"],
    ),
    "claim-id-with-a-last-newline": (
        """\
        section: S
        claims:
          - id: "shell-is-pid-1\\n"  # <-
            says: A
            expect: [{that: image, equals: x}]
        """,
        # A pattern's $ ends the text, as JSON Schema says: Python's would let the newline by.
        ["'shell-is-pid-1\\n' is not kebab-case"],
    ),
    "duplicate-claim-id": (
        """\
        section: S
        claims:
          - id: same
            says: A
            expect: [{that: image, equals: x}]
          - id: same  # <-
            says: B
            expect: [{that: image, equals: y}]
        """,
        ["duplicate claim id 'same'", "first at line 3"],
    ),
    "duplicate-yaml-key": (
        """\
        section: S
        container:
          tty: true
          interactive: true
          tty: false  # <-
        claims:
          - {id: a, says: A, expect: [{that: image, equals: x}]}
        """,
        ["duplicate key 'tty'", "first at line 3"],
    ),
    "invalid-regex": (
        """\
        section: S
        claims:
          - id: a
            says: A
            expect:
              - that: image
                matches: '(['  # <-
        """,
        ["invalid regular expression '(['"],
    ),
    "unsaved-observation-in-that": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - type: echo $$
            save: shell_pid
        claims:
          - id: a
            says: A
            expect:
              - that: shell_pdi  # <-
                equals: 1
        """,
        ["no step saves an observation named 'shell_pdi'", "did you mean 'shell_pid'?"],
    ),
    "unsaved-observation-in-expected-template": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - type: echo $$
            save: shell_pid
        claims:
          - id: a
            says: A
            expect:
              - that: shell_pid
                equals: "{{ shell_pdi }}"  # <-
        """,
        ["no step saves an observation named 'shell_pdi'", "did you mean 'shell_pid'?"],
    ),
    "unsaved-observation-in-step-template": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - type: echo $$
            save: shell_pid
          - type: kill {{ shell_pdi }}  # <-
        claims:
          - {id: a, says: A, expect: [{that: shell_pid, equals: 1}]}
        """,
        [
            "no step saves an observation named 'shell_pdi' before this point",
            "did you mean 'shell_pid'?",
        ],
    ),
    "observation-saved-only-later": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - type: echo {{ later }}  # <-
          - type: echo $$
            save: later
        claims:
          - {id: a, says: A, expect: [{that: later, equals: 1}]}
        """,
        ["'later' before this point"],
    ),
    "saved-twice": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - type: echo $$
            save: shell_pid
          - type: echo $$  # <-
            save: shell_pid
        claims:
          - {id: a, says: A, expect: [{that: shell_pid, equals: 1}]}
        """,
        ["'shell_pid' is already saved at line 4"],
    ),
    "saved-as-builtin": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - type: echo $$  # <-
            save: token
        claims:
          - {id: a, says: A, expect: [{that: token, equals: 1}]}
        """,
        ["'token' is a built-in observation"],
    ),
    "unknown-probe": (
        """\
        section: S
        steps:
          - probe: host.kernel_releas  # <-
            save: kernel
        claims:
          - {id: a, says: A, expect: [{that: kernel, equals: x}]}
        """,
        ["unknown probe 'host.kernel_releas'", "did you mean 'host.kernel_release'?"],
    ),
    "unknown-probe-argument": (
        """\
        section: S
        steps:
          - probe: host.which  # <-
            with: {progam: python3}
            save: python
        claims:
          - {id: a, says: A, expect: [{that: python, equals: x}]}
        """,
        ["probe host.which takes no argument 'progam'", "it takes: program"],
    ),
    "probe-arguments-on-a-non-probe": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - type: echo $$  # <-
            with: {program: x}
            save: shell_pid
        claims:
          - {id: a, says: A, expect: [{that: shell_pid, equals: 1}]}
        """,
        ["'with' gives arguments to a probe"],
    ),
    "typo-inside-an-exec-mapping": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - exec: {in: main, comand: [echo, hi]}  # <-
            save: x
        claims:
          - {id: a, says: A, expect: [{that: x, equals: 1}]}
        """,
        ["unknown key 'comand' in steps.0.exec", "did you mean 'command'?"],
    ),
    "step-with-two-kinds": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - type: echo $$  # <-
            exec: [echo, hello]
            save: shell_pid
        claims:
          - {id: a, says: A, expect: [{that: shell_pid, equals: 1}]}
        """,
        ["steps.0", "exactly one of type, exec, run, probe"],
    ),
    "expectation-with-two-operators": (
        """\
        section: S
        claims:
          - id: a
            says: A
            expect:
              - that: image  # <-
                equals: x
                contains: y
        """,
        ["exactly one of equals, not_equals", "found: equals, contains"],
    ),
    "header-without-rows": (
        """\
        section: S
        claims:
          - id: a
            says: A
            expect:
              - that: image  # <-
                equals: x
                header: true
        """,
        ["'header' only applies to rows, rows_at_least, rows_at_most"],
    ),
    "type-without-container": (
        """\
        section: S
        steps:  # <-
          - type: ls
            save: listing
        claims:
          - {id: a, says: A, expect: [{that: listing, equals: x}]}
        """,
        ["type steps need a 'container'"],
    ),
    "type-without-interactive-container": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true}
        steps:
          - type: ls  # <-
            save: listing
        claims:
          - {id: a, says: A, expect: [{that: listing, equals: x}]}
        """,
        ["'type' needs the container to be interactive: true"],
    ),
    "type-after-the-container-ended": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        after:
          - type: ls  # <-
            save: listing
        claims:
          - {id: a, says: A, expect: [{that: listing, equals: x}]}
        """,
        ["'type' steps belong in 'steps'"],
    ),
    "exec-in-unknown-container": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - exec: {in: sibling, command: [ls]}  # <-
            save: listing
        claims:
          - {id: a, says: A, expect: [{that: listing, equals: x}]}
        """,
        ["exec in 'sibling': no running container has that name"],
    ),
    "volume-of-a-run-not-declared": (
        """\
        section: S
        steps:
          - run: {command: [ls, /data], volumes: {data: /data}}  # <-
            save: listing
        claims:
          - {id: a, says: A, expect: [{that: listing, equals: x}]}
        """,
        ["volume 'data' is not declared in the top-level 'volumes'"],
    ),
    "claim-without-section": (
        """\
        claims:
          - id: a  # <-
            says: A
            expect: [{that: image, equals: x}]
        """,
        ["claim 'a' has no 'section'"],
    ),
    "missing-claims": (
        """\
        section: S  # <-
        """,
        ["'claims' is a required property"],
    ),
    "not-a-mapping": (
        """\
        - id: a  # <-
        """,
        ["a scenario is a mapping"],
    ),
    "misspelt-field-of-a-command": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - type: echo $$
            save: shell_pid
        claims:
          - id: a
            says: A
            expect:
              - that: shell_pid.exit_code  # <-
                equals: 0
        """,
        [
            "shell_pid.exit_code: observation 'shell_pid' (saved at line 4)",
            "no field 'exit_code'",
            "output, status, completed",
        ],
    ),
    "misspelt-field-of-a-probe": (
        """\
        section: S
        steps:
          - probe: host.find_process
            with: {pid_namespace: "pid:[1]", ns_pid: 1}
            save: proc
        claims:
          - id: a
            says: A
            expect:
              - that: proc.own_namespace  # <-
                contains: pid
        """,
        ["no field 'own_namespace'", "did you mean 'own_namespaces'?"],
    ),
    "field-of-text": (
        """\
        section: S
        steps:
          - probe: host.kernel_release
            save: kernel
        claims:
          - id: a
            says: A
            expect:
              - that: kernel.major  # <-
                equals: 6
        """,
        ["kernel.major", "it is text: it has no field 'major'"],
    ),
    "list-item-by-name": (
        """\
        section: S
        steps:
          - probe: host.find_process
            with: {pid_namespace: "pid:[1]", ns_pid: 1}
            save: proc
        claims:
          - id: a
            says: A
            expect:
              - that: proc.nspid.first  # <-
                equals: 1
        """,
        ["nspid is a list of numbers: name an item by its index (.0, .1...), not 'first'"],
    ),
    "field-in-a-step-template": (
        """\
        section: S
        steps:
          - probe: host.pid1
            save: one
          - probe: host.which  # <-
            with: {program: "{{ one.name }}"}
            save: where
        claims:
          - id: a
            says: A
            expect:
              - that: where
                equals: /bin/sh
        """,
        ["one.name: observation 'one' (saved at line 3) has no field 'name'", "cmdline, comm"],
    ),
    "numeric-operator-on-text": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        claims:
          - id: a
            says: A
            expect:
              - that: session.prompt
                less_than: 3  # <-
        """,
        ["less_than compares numbers: session.prompt is text, never a number"],
    ),
    "stop-of-a-container-that-is-not-left-running": (
        """\
        section: S
        steps:
          - run: {name: once, command: ["true"]}
          - stop: once  # <-
            save: stopped
        claims:
          - {id: a, says: A, expect: [{that: stopped.status, equals: 0}]}
        """,
        ["stop takes a container left running by an earlier step", "'once' is not one"],
    ),
    "wait-for-an-unknown-state": (
        """\
        section: S
        steps:
          - run: {name: bg, detach: true, command: [sleep, "9"]}
          - wait: {in: bg, until: paused}  # <-
        claims:
          - {id: a, says: A, expect: [{that: image, equals: x}]}
        """,
        ["steps.1.wait.until", "paused"],
    ),
    "misspelt-field-of-a-stop": (
        """\
        section: S
        steps:
          - run: {name: bg, detach: true, command: [sleep, "9"]}
          - stop: {in: bg, grace: 1}
            save: stopped
        claims:
          - id: a
            says: A
            expect:
              - that: stopped.exit_code  # <-
                equals: 137
        """,
        ["no field 'exit_code'", "status, took_s"],
    ),
    "wait-for-output-without-text": (
        """\
        section: S
        steps:
          - run: {name: bg, detach: true, command: [sleep, "9"]}
          - wait: {in: bg, until: output}  # <-
        claims:
          - {id: a, says: A, expect: [{that: image, equals: x}]}
        """,
        ["wait until: output takes 'contains'"],
    ),
    "signal-to-a-container-not-running": (
        """\
        section: S
        container: {command: [/bin/bash], tty: true, interactive: true}
        steps:
          - signal: {in: main, signal: SIGTERM}  # <-
        claims:
          - {id: a, says: A, expect: [{that: image, equals: x}]}
        """,
        ["signal takes a container left running by an earlier step", "'main' is not one"],
    ),
    "ports-without-a-network": (
        """\
        section: S
        steps:
          - run:
              detach: true
              name: server
              ports: [8080]  # <-
              command: [sleep, "9"]
        claims:
          - {id: a, says: A, expect: [{that: image, equals: x}]}
        """,
        ["ports are published from a network: add network: bridge"],
    ),
}


@pytest.mark.parametrize(("text", "phrases"), list(INVALID.values()), ids=list(INVALID))
def test_invalid_scenario_gives_one_line_at_the_right_line(
    tmp_path: Path, text: str, phrases: list[str]
) -> None:
    assert_error(tmp_path, text, *phrases)


def test_undeclared_volume_of_the_main_container_points_at_its_volumes_key(
    tmp_path: Path,
) -> None:
    assert_error(
        tmp_path,
        """\
        section: S
        container:
          command: [/bin/bash]
          interactive: true
          volumes: {data: /data}  # <-
        claims:
          - {id: a, says: A, expect: [{that: image, equals: x}]}
        """,
        "volume 'data' is not declared",
    )


def test_expectation_without_operator_names_the_operators(tmp_path: Path) -> None:
    assert_error(
        tmp_path,
        """\
        section: S
        claims:
          - id: a
            says: A
            expect:
              - that: image  # <-
        """,
        "equals",
        "found: none",
    )


def test_unclosed_quote_points_where_it_opens(tmp_path: Path) -> None:
    assert_error(
        tmp_path,
        """\
        section: S
        claims:
          - id: a
            says: "The shell  # <-
            expect: [{that: image, equals: x}]
        """,
        "invalid YAML",
    )


def test_unreadable_file_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ScenarioError, match=r"missing\.yaml: cannot read the file"):
        load_scenario(path)


# -- the loader keeps lines ---------------------------------------------------------------------


def test_loader_keeps_lines_of_keys_and_items() -> None:
    document = load_yaml("a: 1\nb:\n  - x\n  - y: 2\n    z: 3\n", "f.yaml")

    assert isinstance(document, MarkedDict)
    assert document.key_lines == {"a": 1, "b": 2}
    assert isinstance(document["b"], MarkedList)
    assert document["b"].item_lines == [3, 4]
    assert line_of(document, ["b", 1, "z"]) == 5
    assert line_of(document, ["b", 7]) == 2  # the deepest part that exists


def test_loader_resolves_merge_keys() -> None:
    document = load_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", "f.yaml")
    assert document["other"] == {"x": 1, "y": 2}


def test_loader_rejects_keys_that_are_not_text() -> None:
    with pytest.raises(ScenarioError, match=r"^f\.yaml:2: keys must be text, not 1$"):
        load_yaml("a: 1\n1: b\n", "f.yaml")


# -- the real scenarios and the schema ----------------------------------------------------------


def test_there_are_scenarios() -> None:
    assert SCENARIO_FILES


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.name for p in SCENARIO_FILES])
def test_every_scenario_file_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.claims


def test_claim_ids_are_unique_across_scenarios_and_well_formed() -> None:
    ids = [claim.id for path in SCENARIO_FILES for claim in load_scenario(path).claims]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert all(re.fullmatch(r"[a-z0-9-]+", claim_id) for claim_id in ids), ids


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_and_model_agree_on_capabilities_and_operators() -> None:
    defs = schema()["$defs"]
    assert tuple(defs["capabilities"]["items"]["enum"]) == CAPABILITIES
    operators = set(defs["expectation"]["properties"]) - {"that", "header"}
    assert operators == set(OPERATORS)


def test_probe_names_and_builtin_names_fit_the_schema() -> None:
    pattern = schema()["$defs"]["step"]["properties"]["probe"]["pattern"]
    assert all(re.fullmatch(pattern, name) for name in PROBES)
    name_pattern = schema()["$defs"]["name"]["pattern"]
    assert all(re.fullmatch(name_pattern, name) for name in BUILTINS)


def test_every_error_in_a_file_is_reported_each_at_its_line(tmp_path: Path) -> None:
    from container_claims.errors import ScenarioErrors

    text = """\
        section: S
        steps:
          - probe: host.kernal_release  # <- 1
            save: kernel
          - run: {command: ["true"], hostname: "-x"}  # <- 2
            save: ran
        claims:
          - id: a
            says: A
            expect:
              - that: kernel.major  # (kernel's probe was wrong: not reported again)
                equals: 6
          - id: b
            says: B
            expect:
              - that: ran.exit_code  # <- 3
                equals: 0
          - id: b  # <- 4
            says: B again
            expect: [{that: ran, equals: ""}]
        """
    path = write(tmp_path, text)
    with pytest.raises(ScenarioErrors) as info:
        load_scenario(path)

    lines = str(info.value).splitlines()
    marked = [n for n, line in enumerate(textwrap.dedent(text).splitlines(), 1) if "# <-" in line]
    assert [line.split(":")[1] for line in lines] == [str(n) for n in marked]
    assert all(line.startswith(f"{path}:") for line in lines)
    assert "unknown probe 'host.kernal_release'" in lines[0]
    assert "hostname" in lines[1] and "no field 'exit_code'" in lines[2]
    assert "duplicate claim id 'b'" in lines[3]
    assert [e.line for e in info.value.errors] == marked
