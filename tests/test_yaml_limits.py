"""Hostile YAML: every way to make the loader recurse, expand, grow or crash ends in ONE line
``file:line: message``, in bounded time and memory.

Scenario files are shared like code and run as root. The cases that could eat the machine are
also loaded in a child process with a memory cap and a timeout, so that a regression fails
instead of swapping or hanging.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from container_claims.errors import ScenarioError
from container_claims.runtimes import load_runtimes_file
from container_claims.scenario import load_scenario, loader
from container_claims.scenario.loader import load_yaml
from container_claims.scenario.source import MAX_BYTES
from container_claims.scenario.yaml_limits import MAX_DEPTH

#: Past this many characters the loader parses with libyaml (when installed): the cases that
#: could go wrong in either parser run through both, the large one on padded text.
PAD = "#" * loader._PURE_PYTHON_CHARS + "\n"
BOTH_PARSERS = pytest.mark.parametrize("pad", ["", PAD], ids=["pure-python", "libyaml"])


def error(text: str, pad: str = "") -> str:
    """The one-line error of loading ``pad + text`` as f.yaml, its line counted in ``text``."""
    with pytest.raises(ScenarioError) as info:
        load_yaml(pad + text, "f.yaml")
    message = str(info.value)
    assert "\n" not in message
    if pad and info.value.line is not None:
        shifted = info.value.line - pad.count("\n")
        message = message.replace(f"f.yaml:{info.value.line}: ", f"f.yaml:{shifted}: ", 1)
    return message


# -- in a child process: a memory cap and a timeout ------------------------------------------

MEMORY_CAP = 512 * 1024 * 1024

CHILD = """\
import resource
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
from container_claims.errors import ScenarioError
from container_claims.scenario.loader import load_yaml
text = {text}
try:
    document = load_yaml(text, "f.yaml")
except ScenarioError as exc:
    print(exc)
else:
    print("loaded", type(document).__name__)
"""


def load_in_child(text: str) -> str:
    """What loading the text built by the expression ``text`` prints, under the memory cap."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(cap=MEMORY_CAP, text=text)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        pytest.param(
            '"[" * 10_000 + "]" * 10_000',
            "f.yaml:1: nesting deeper than 64 levels",
            id="10000-deep-list",
        ),
        pytest.param(
            f'"[" * {MAX_BYTES // 2} + "]" * {MAX_BYTES // 2}',
            "f.yaml:1: nesting deeper than 64 levels",
            id="1MiB-deep-list",
        ),
        pytest.param(
            '"".join(" " * i + "k:\\n" for i in range(1400))',
            "f.yaml:65: nesting deeper than 64 levels",
            id="1MiB-deep-mapping",
        ),
        pytest.param(
            repr(LAUGHS),
            "f.yaml:6: the document expands to more than 100,000 values (aliases repeat too much)",
            id="billion-laughs",
        ),
        pytest.param(
            f'"- a\\n" * {MAX_BYTES // 4}',
            "f.yaml:100000: the document has more than 100,000 values",
            id="1MiB-of-items",
        ),
        pytest.param(
            '("- " + "[" * 60 + "a" + "]" * 60 + "\\n") * 1600',
            "loaded MarkedList",
            id="100000-values-deep",
        ),
        pytest.param(f'"\\n" * {MAX_BYTES}', "loaded NoneType", id="1MiB-of-newlines"),
        pytest.param(f'"a: " + "x " * {MAX_BYTES // 2 - 2}', "loaded MarkedDict", id="1MiB-scalar"),
        pytest.param(
            f'"a: " + "1:" * {MAX_BYTES // 2 - 3} + "1"',
            f"f.yaml:1: the number '1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:..."
            f" is {MAX_BYTES - 5:,} characters long (at most 100); quote it to keep it as text",
            id="1MiB-sexagesimal-number",
        ),
    ],
)
def test_large_or_deep_input_is_bounded(text: str, printed: str) -> None:
    assert load_in_child(text) == printed


def test_the_memory_cap_bites() -> None:
    """Else a regression above could pass by taking all the memory the machine has."""
    with pytest.raises(AssertionError, match="MemoryError"):
        load_in_child("' ' * (1 << 30)")


# -- 1. nesting ---------------------------------------------------------------------------------


@BOTH_PARSERS
def test_deep_lists_are_refused_at_the_line_that_goes_too_deep(pad: str) -> None:
    text = "a:\n  - " + "[" * 64 + "]" * 64 + "\n"
    assert error(text, pad) == "f.yaml:2: nesting deeper than 64 levels"


@BOTH_PARSERS
def test_deep_mappings_are_refused_at_the_line_that_goes_too_deep(pad: str) -> None:
    text = "".join(" " * depth + f"k{depth}:\n" for depth in range(100))
    assert error(text, pad) == "f.yaml:65: nesting deeper than 64 levels"


@BOTH_PARSERS
@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(
            "[" * 1_000 + "\n" + "[" * 100 + "]" * 1_100, 1, id="past-1000-on-the-next-line"
        ),
        pytest.param(
            "\ufeffa: [\r\n" + "[" * 1_100 + "]" * 1_101, 2, id="byte-order-mark-and-crlf"
        ),
        pytest.param(
            "".join(" " * i + f"k{i}:\n" for i in range(60)) + " " * 60 + "[" * 1_100 + "]" * 1_100,
            61,
            id="block-then-flow",
        ),
        pytest.param("a: '[[[['\nb: " + "{c: " * 1_100 + "}" * 1_100, 2, id="flow-mappings"),
    ],
)
def test_past_any_parser_s_own_depth_limit_the_line_is_where_64_levels_end(
    pad: str, text: str, line: int
) -> None:
    """libyaml (PyYAML 6.0.4) has a limit of its own, 1,000 levels, met while it reads a
    line ahead; the refusal is the loader's, at the line of the 65th level, whatever it does."""
    assert error(text, pad) == f"f.yaml:{line}: nesting deeper than {MAX_DEPTH} levels"


def test_64_levels_are_allowed() -> None:
    document = load_yaml("[" * 64 + "]" * 64, "f.yaml")
    for _ in range(63):
        document = document[0]
    assert document == []


@BOTH_PARSERS
def test_aliases_cannot_nest_deeper_than_written_text(pad: str) -> None:
    text = "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n"
    assert error(text, pad) == "f.yaml:2: nesting deeper than 64 levels once *a is expanded"


# -- 2. recursive aliases -----------------------------------------------------------------------


@BOTH_PARSERS
@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: &x [*x]\n", 1),
        ("a: &x\n  b: 1\n  c: *x\n", 3),
        ("a: &x\n  b:\n    - [1, *x]\n", 3),
        ("a: &x\n  <<: *x\n", 2),
        ("&x {*x : 1}\n", 1),
    ],
    ids=["list", "mapping", "deeper", "merge", "key"],
)
def test_an_alias_inside_its_own_anchor_is_refused(pad: str, text: str, line: int) -> None:
    assert error(text, pad) == f"f.yaml:{line}: recursive alias *x: it is inside the &x it repeats"


def test_an_alias_after_its_anchor_is_fine() -> None:
    assert load_yaml("a: &x [1]\nb: [*x, *x]\n", "f.yaml") == {"a": [1], "b": [[1], [1]]}


# -- 3. alias expansion -------------------------------------------------------------------------


@BOTH_PARSERS
def test_billion_laughs_stops_at_the_alias_that_passes_the_budget(pad: str) -> None:
    assert error(LAUGHS, pad) == (
        "f.yaml:6: the document expands to more than 100,000 values (aliases repeat too much)"
    )


def test_the_budget_counts_values_aliases_expand_to() -> None:
    anchor = "a: &a [" + ", ".join(["x"] * 999) + "]\n"  # 1,000 values
    assert isinstance(load_yaml(anchor + "b: [" + ", ".join(["*a"] * 98) + "]\n", "f.yaml"), dict)
    assert error(anchor + "b: [" + ", ".join(["*a"] * 100) + "]\n") == (
        "f.yaml:2: the document expands to more than 100,000 values (aliases repeat too much)"
    )


def test_a_merge_repeats_what_it_merges() -> None:
    anchor = "a: &a {" + ", ".join(f"k{i}: x" for i in range(500)) + "}\n"  # 1,001 values
    merges = "".join(f"m{i}: {{<<: *a}}\n" for i in range(100))
    assert error(anchor + merges) == (
        "f.yaml:100: the document expands to more than 100,000 values (aliases repeat too much)"
    )


def test_too_many_written_values_are_refused() -> None:
    text = "[" + "a, " * 100_000 + "a]\n"
    assert error(text) == "f.yaml:1: the document has more than 100,000 values"


# -- 4. control and binary characters -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "character"),
    [
        ("a: 1\nb: 2\nc: x\x00y\n", 3, "control character 0x00"),
        ("a: 1\r\nb: 2\r\nc: \x1b[2J\r\n", 3, "control character 0x1b"),
        ("a: 1\rb: \x7f\r", 2, "control character 0x7f"),
        ("a: |\n  x\n  \x08\n", 3, "control character 0x08"),
        ("a: \ufffe\n", 1, "character U+FFFE"),
        ("a: x\n" * 5000 + "b: \x00\n", 5001, "control character 0x00"),
    ],
    ids=["nul", "escape-crlf", "del-cr", "in-block-scalar", "noncharacter", "far-down"],
)
def test_a_control_character_is_refused_at_its_line(text: str, line: int, character: str) -> None:
    assert error(text) == (
        f"f.yaml:{line}: invalid YAML: {character} is not allowed "
        "(write it as an escape in a double-quoted string)"
    )


def test_an_escaped_control_character_is_fine() -> None:
    assert load_yaml('a: "x\\x00y\\e"\n', "f.yaml") == {"a": "x\x00y\x1b"}


# -- 5. merge keys ------------------------------------------------------------------------------


def test_an_explicit_key_overrides_a_merged_one() -> None:
    text = "base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  y: 3\n"
    document = load_yaml(text, "f.yaml")
    assert document["other"] == {"x": 1, "y": 3}
    assert document["other"].key_lines == {"x": 2, "y": 6}  # merged keys: where written


def test_an_explicit_key_before_the_merge_overrides_it_too() -> None:
    text = "base: &b {x: 1, y: 2}\nother: {y: 3, <<: *b}\n"
    assert load_yaml(text, "f.yaml")["other"] == {"y": 3, "x": 1}


def test_among_merged_mappings_the_first_listed_wins() -> None:
    text = "a: &a {x: a}\nb: &b {x: b, y: b}\nc:\n  <<: [*a, *b]\n  z: c\n"
    document = load_yaml(text, "f.yaml")
    assert document["c"] == {"x": "a", "y": "b", "z": "c"}
    assert document["c"].key_lines == {"x": 1, "y": 2, "z": 5}


def test_merges_of_merges_resolve() -> None:
    text = "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n"
    assert load_yaml(text, "f.yaml")["c"] == {"x": 1, "y": 2, "z": 3}


def test_a_merged_mapping_can_be_written_inline() -> None:
    assert load_yaml("a: {<<: {x: 1}, y: 2}\n", "f.yaml")["a"] == {"x": 1, "y": 2}


def test_two_explicit_keys_are_still_duplicates_next_to_a_merge() -> None:
    text = "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n  y: 3\n"
    assert error(text) == "f.yaml:5: duplicate key 'y' (first at line 4)"


def test_two_merge_keys_are_duplicates() -> None:
    text = "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: *a\n  <<: *b\n"
    assert error(text) == (
        "f.yaml:5: duplicate key '<<' (first at line 4); merge several mappings with '<<: [*a, *b]'"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "c:\n  <<: 1\n",
            "f.yaml:2: '<<' merges a mapping or a list of mappings (such as *base), not the value 1",
        ),
        (
            "a: &a {x: 1}\nc:\n  <<: [*a, [1]]\n",
            "f.yaml:3: '<<' merges a mapping or a list of mappings (such as *base), not a list",
        ),
        (
            "c:\n  <<: !!set {x}\n",
            "f.yaml:2: the tag !!set is not supported; write a plain mapping",
        ),
    ],
    ids=["scalar", "list-in-list", "tagged"],
)
def test_a_merge_of_something_else_than_a_mapping_is_refused(text: str, message: str) -> None:
    assert error(text) == message


def test_quoted_merge_key_is_just_a_key() -> None:
    assert load_yaml("'<<': 1\n", "f.yaml") == {"<<": 1}


# -- 6. keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("? [a, b]\n: 1\n", "f.yaml:1: keys must be text, not a list"),
        ("{[a]: 1}\n", "f.yaml:1: keys must be text, not a list"),
        ("a: 1\n? {b: 1}\n: 2\n", "f.yaml:2: keys must be text, not a mapping"),
        ("a: &l [1]\n? *l\n: 2\n", "f.yaml:2: keys must be text, not a list"),
        ("yes: 1\n", "f.yaml:1: keys must be text, not yes"),
        ("a: 1\n~: 2\n", "f.yaml:2: keys must be text, not ~"),
        ("? \n: 2\n", "f.yaml:1: keys must be text, not null"),
        ("2001-13-45: x\n", "f.yaml:1: keys must be text, not 2001-13-45"),
        ("!!binary aGk=: x\n", "f.yaml:1: keys must be text, not aGk="),
        ("? " + "9" * 5000 + "\n: x\n", "f.yaml:1: keys must be text, not '" + "9" * 56 + "..."),
    ],
    ids=[
        "block-list",
        "flow-list",
        "mapping",
        "alias-to-list",
        "bool",
        "null",
        "empty",
        "bad-date",
        "binary",
        "huge-int",
    ],
)
def test_a_key_that_is_not_text_is_refused_without_being_built(text: str, message: str) -> None:
    assert error(text) == message


def test_an_aliased_key_is_reported_where_the_alias_is() -> None:
    assert error("&k a: 1\nb: 2\n*k : 3\n") == "f.yaml:3: duplicate key 'a' (first at line 1)"


def test_an_aliased_item_has_the_line_of_the_alias() -> None:
    document = load_yaml("a: &x {b: 1}\nc:\n  - *x\n", "f.yaml")
    assert document["c"].item_lines == [3]
    assert document["c"][0].key_lines == {"b": 1}


def test_a_long_duplicate_key_is_cut_in_the_message() -> None:
    key = "k" * 5000
    assert error(f"? {key}\n: 1\n? {key}\n: 2\n") == (
        "f.yaml:3: duplicate key '" + "k" * 56 + "... (first at line 1)"
    )


def test_equals_sign_stays_a_text_key() -> None:
    assert load_yaml("=: 1\n", "f.yaml") == {"=": 1}


# -- 7. huge files and encodings ----------------------------------------------------------------


def test_text_over_the_limit_is_refused_before_parsing() -> None:
    assert error("#" * MAX_BYTES + "\n") == (
        "f.yaml: the file is 1,048,577 bytes; a scenario or runtimes file is at most 1 MiB"
    )


def test_the_limit_counts_utf8_bytes() -> None:
    assert error("é" * (MAX_BYTES // 2 + 1)) == (
        "f.yaml: the file is 1,048,578 bytes; a scenario or runtimes file is at most 1 MiB"
    )


def test_text_at_the_limit_loads() -> None:
    assert load_yaml("#" * (MAX_BYTES - 1) + "\n", "f.yaml") is None


@pytest.mark.parametrize("load", [load_scenario, load_runtimes_file], ids=["scenario", "runtimes"])
def test_a_huge_file_is_refused_without_reading_it(
    tmp_path: Path, load: Callable[[Path], object]
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:
        file.truncate(10 * MAX_BYTES)  # sparse: no data on disk, but st_size says 10 MiB
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert str(info.value) == (
        f"{path}: the file is 10,485,760 bytes; a scenario or runtimes file is at most 1 MiB"
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_file_is_read_only_up_to_the_limit() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(Path("/dev/zero"))
    assert str(info.value) == (
        "/dev/zero: the file is more than 1,048,576 bytes; "
        "a scenario or runtimes file is at most 1 MiB"
    )


@pytest.mark.parametrize("load", [load_scenario, load_runtimes_file], ids=["scenario", "runtimes"])
@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"a: 1\nb: x\xff\n", "2: not UTF-8 text (byte 0xff in column 5)"),
        (b"a: \xc3\xa9\xc3\xa9 \xe9t\xe9\n", "1: not UTF-8 text (byte 0xe9 in column 7)"),
        ("a: 1\n".encode("utf-16"), "1: not UTF-8 text (byte 0xff in column 1)"),
    ],
    ids=["invalid-byte", "latin-1", "utf-16"],
)
def test_a_file_that_is_not_utf8_gives_the_line(
    tmp_path: Path, load: Callable[[Path], object], data: bytes, where: str
) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(data)
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert str(info.value) == f"{path}:{where}; save the file as UTF-8"


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    claims = "claims: [{id: a, says: A, expect: [{that: image, equals: x}]}]\n"
    path.write_bytes(f"\ufeffsection: S\n{claims}".encode())
    assert [claim.id for claim in load_scenario(path).claims] == ["a"]


# -- 8. constructors and other exceptions -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2001-13-45",
            "'2001-13-45' is not a valid date (month must be in 1..12); quote it to keep it as text",
        ),
        ("!!timestamp soon", "'soon' is not a valid date"),
        (
            "!!binary 'x'",
            "'x' is not valid base64 data (failed to decode base64 data: Invalid base64-encoded string: number of data characters (1) cannot be 1 more than a multiple of 4)",
        ),
        (
            "!!binary é",
            "'é' is not valid base64 data (failed to convert base64 data into ascii: 'ascii' codec can't encode character '\\xe9' in position 0: ordinal not in range(128))",
        ),
        ("!!int x", "'x' is not a valid integer (invalid literal for int() with base 10: 'x')"),
        ("!!int ''", "'' is not a valid integer"),
        ("!!float ''", "'' is not a valid number"),
        ("!!bool maybe", "'maybe' is not a valid boolean"),
        (
            "1" * 101,
            "the number '"
            + "1" * 56
            + "... is 101 characters long (at most 100); quote it to keep it as text",
        ),
        (
            "0x" + "f" * 99,
            "the number '0x"
            + "f" * 54
            + "... is 101 characters long (at most 100); quote it to keep it as text",
        ),
        (
            "!!python/name:os.system x",
            "the tag !!python/name:os.system is not supported; write a plain value",
        ),
        (
            "!!python/object/apply:os.system [ls]",
            "the tag !!python/object/apply:os.system is not supported; write a plain list",
        ),
        (
            "!!python/object:x.Y {a: 1}",
            "the tag !!python/object:x.Y is not supported; write a plain mapping",
        ),
        ("!!set {x, y}", "the tag !!set is not supported; write a plain mapping"),
        ("!!omap [x: 1]", "the tag !!omap is not supported; write a plain list"),
        ("!!pairs [x: 1]", "the tag !!pairs is not supported; write a plain list"),
        ("!!str [x]", "the tag !!str is not supported; write a plain list"),
        ("!!seq x", "the tag !!seq is not supported; write a plain value"),
        ("!custom x", "the tag !custom is not supported; write a plain value"),
        ("!<%0A> x", "the tag '\\n' is not supported; write a plain value"),
        (
            "!" + "t" * 5000 + " x",
            "the tag !" + "t" * 56 + "... is not supported; write a plain value",
        ),
        ("=", "= has a special meaning in YAML; quote it to keep it as text"),
        ("<<", "<< has a special meaning in YAML; quote it to keep it as text"),
        ("*" + "n" * 5000, "invalid YAML: found undefined alias '" + "n" * 174 + "..."),
    ],
)
def test_a_value_that_cannot_be_built_is_one_line(value: str, message: str) -> None:
    assert error(f"a: 1\nb: {value}\n") == f"f.yaml:2: {message}"


@pytest.mark.parametrize(
    "value", ["2001-02-30", "2001-02-03 04:05:06 +99:00"], ids=["day", "offset"]
)
def test_the_reason_a_date_is_invalid_is_python_s(value: str) -> None:
    """Python words it (and 3.13 words it differently): only its frame is asserted."""
    message = error(f"a: {value}\n")
    assert message.startswith(f"f.yaml:1: '{value}' is not a valid date (")
    assert message.endswith("); quote it to keep it as text")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2001-02-03", datetime.date(2001, 2, 3)),
        ("0x" + "f" * 98, int("f" * 98, 16)),
        ("1:30", 90),
        ("!!binary aGk=", b"hi"),
        ("'2001-13-45'", "2001-13-45"),
        ("'" + "1" * 5000 + "'", "1" * 5000),
        ("x" * 100_000, "x" * 100_000),
    ],
    ids=["date", "long-hex", "sexagesimal", "binary", "quoted-date", "quoted-digits", "long-text"],
)
def test_values_within_the_limits_load(value: str, expected: object) -> None:
    assert load_yaml(f"a: {value}\n", "f.yaml") == {"a": expected}


@BOTH_PARSERS
@pytest.mark.parametrize(
    ("text", "line"),
    [("a: 1\n---\nb: 2\n", 2), ("---\na: 1\n---\n", 3), ("a: 1\n...\n---\nb: 2\n", 3)],
    ids=["implicit-then-explicit", "explicit-twice", "after-end-marker"],
)
def test_a_second_document_is_refused(pad: str, text: str, line: int) -> None:
    assert error(text, pad) == f"f.yaml:{line}: only one YAML document per file"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n", "---\n", "---\n...\n"])
def test_an_empty_document_is_none(text: str) -> None:
    assert load_yaml(text, "f.yaml") is None


@BOTH_PARSERS
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:\n\t- x\n", "f.yaml:2: invalid YAML: while scanning for the next token; "),
        ("a: *nope\n", "f.yaml:1: invalid YAML: found undefined alias 'nope'"),
        ('a: "x\n', "f.yaml:1: invalid YAML: while scanning a quoted scalar; "),
        ("%YAML 2.0\n---\na: 1\n", "f.yaml:1: invalid YAML: found incompatible YAML document"),
        ("a: &x 1\nb: &x 2\n", "f.yaml:1: invalid YAML: found duplicate anchor 'x'"),
    ],
    ids=["tab", "undefined-alias", "unclosed-quote", "yaml-2", "duplicate-anchor"],
)
def test_syntax_errors_are_one_line_in_either_parser(pad: str, text: str, message: str) -> None:
    assert error(text, pad).startswith(message)


def test_a_byte_order_mark_in_the_middle_is_text() -> None:
    assert load_yaml("a: 1\n\ufeffb: 2\n", "f.yaml") == {"a": 1, "\ufeffb": 2}


def test_runtimes_file_over_the_limits_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "runtimes.yaml"
    path.write_text(LAUGHS)
    with pytest.raises(ScenarioError) as info:
        load_runtimes_file(path)
    assert str(info.value) == (
        f"{path}:6: the document expands to more than 100,000 values (aliases repeat too much)"
    )


def test_a_scenario_over_the_limits_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            section: S
            claims:
              - id: a
                says: A
                expect: [{that: image, equals: &x [*x]}]
            """
        )
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}:5: recursive alias *x: it is inside the &x it repeats"
