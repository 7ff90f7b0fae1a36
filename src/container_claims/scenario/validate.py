"""Scenario files in, :class:`Scenario` out, or one ``file:line: what is wrong`` error.

Two layers: the JSON Schema (``schema.json``, also used by editors) checks shapes and types;
the rules after it check what a schema cannot: one operator per expectation, regexes that
compile, references to observations that some step saves, unique ids and names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from container_claims.errors import SHOWN_ERRORS, ScenarioError, ScenarioErrors
from container_claims.observations import BUILTINS, strings_in, template_names
from container_claims.patterns import PatternError, compile_pattern
from container_claims.scenario.fields import (
    BUILTIN_SHAPES,
    NUMERIC_KINDS,
    SESSION,
    FieldError,
    Shape,
    any_value,
    resolve_shape,
)
from container_claims.scenario.loader import (
    MarkedDict,
    MarkedList,
    line_of,
    load_yaml,
    read_source,
)
from container_claims.scenario.model import (
    MAIN,
    NUMERIC_OPERATORS,
    OPERATORS,
    PATTERN_OPERATORS,
    ROW_OPERATORS,
    Claim,
    ContainerSpec,
    Expectation,
    MainContainer,
    Scenario,
)
from container_claims.scenario.safety import spec_problems
from container_claims.scenario.steps import (
    STEPS,
    Section,
    Step,
    did_you_mean,
    has_template,
    kind_of,
)


def schema() -> dict[str, Any]:
    """The scenario JSON Schema: the one shipped with the package (``schema.json``), with the
    step kinds registered from elsewhere, each by its own ``value_schema``."""
    return _schema_with(tuple(STEPS.values()))


@functools.cache
def _shipped_schema() -> dict[str, Any]:
    text = resources.files("container_claims.scenario").joinpath("schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


@functools.cache
def _schema_with(kinds: tuple[type[Step], ...]) -> dict[str, Any]:
    """The shipped schema, with each of ``kinds`` it does not declare added to its steps."""
    shipped = _shipped_schema()
    step = shipped["$defs"]["step"]
    added = [kind for kind in kinds if kind.kind not in step["properties"]]
    if not added:
        return shipped
    for kind in added:
        if kind.value_schema is None:
            raise TypeError(
                f"step kind {kind.kind!r} ({kind.__name__}) is not in schema.json "
                "and has no value_schema of its own"
            )
    step = {
        **step,
        "oneOf": [*step["oneOf"], *({"required": [kind.kind]} for kind in added)],
        "properties": {
            **step["properties"],
            **{kind.kind: dict(kind.value_schema or {}) for kind in added},
        },
    }
    return {**shipped, "$defs": {**shipped["$defs"], "step": step}}


@functools.cache
def results_schema() -> dict[str, Any]:
    """The JSON Schema of results files (what ``run --json`` writes), shipped beside the
    scenario schema; reports refuse a file it refuses."""
    text = resources.files("container_claims.scenario").joinpath("results.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def load_scenario(
    path: Path, display: str | None = None, *, allow_host_access: bool = False
) -> Scenario:
    """Read, validate and build one scenario file. Raises :class:`ScenarioError`.

    ``allow_host_access`` is the operator's consent to specs that open the host (host
    network...); without it such a file is refused, naming the line.
    """
    where = display or str(path)
    try:
        text = read_source(path, where)
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(where, None, f"cannot read the file: {exc}") from None
    document = load_yaml(text, where)
    if not isinstance(document, MarkedDict):
        raise ScenarioError(where, 1, "a scenario is a mapping with at least a 'claims' list")
    found = schema_errors(document, schema(), where)
    if any(len(part) < 2 or part[0] not in _LISTS for part in found.parts):
        found.raise_all()  # the file's frame is wrong: its parts cannot be read
    builder = _Builder(document, path, where, allow_host_access=allow_host_access)
    builder.skip, builder.errors = frozenset(found.parts), list(found.described.values())
    builder.more = found.more
    return builder.build()


#: The lists of a scenario whose items are checked one by one: a bad item is reported and
#: skipped, and the others are still checked.
_LISTS = ("steps", "after", "claims")


def check_schema(document: MarkedDict, against: dict[str, Any], where: str) -> None:
    """Raise :class:`ScenarioError` for the most relevant schema violation of each part of the
    file (a step, a claim, a top-level key), :class:`ScenarioErrors` when there are several."""
    schema_errors(document, against, where).raise_all()


@dataclasses.dataclass
class SchemaErrors:
    """The parts of a file (a list item such as ``("steps", 2)``, or a top-level key) that
    the schema refuses: the first :data:`SHOWN_ERRORS` by line with their most relevant
    violation (``described``), and every one of them (``parts``), only counted past those."""

    described: dict[tuple[Any, ...], ScenarioError]
    parts: set[tuple[Any, ...]]

    @property
    def more(self) -> int:
        return len(self.parts) - len(self.described)

    def raise_all(self) -> None:
        raise_all(list(self.described.values()), self.more)


def schema_errors(document: MarkedDict, against: dict[str, Any], where: str) -> SchemaErrors:
    """What the schema refuses in ``document``, part by part, in time linear in the document.

    The items of its top-level lists are checked one by one: each refused item is one part,
    counted, and only the first :data:`SHOWN_ERRORS` of all parts, by line, are explained
    (jsonschema's errors are what costs: a file of 100,000 bad items must not make each one).
    """
    if _quick_check(against).valid(document):
        return SchemaErrors({}, set())  # valid: the thorough validator would find nothing to say
    split = _split(against)
    # The most relevant error of each part, as best_match would pick it among them all:
    # only one is kept (a list of 100,000 bad items has as many).
    refused: dict[tuple[Any, ...], jsonschema.ValidationError] = {}
    relevance: Callable[[jsonschema.ValidationError], Any] = jsonschema.exceptions.relevance
    for error in split.frame.iter_errors(document):
        part: tuple[Any, ...] = tuple(error.absolute_path)[:2]
        kept = refused.get(part)
        if kept is None or relevance(error) > relevance(kept):
            refused[part] = error
    lines: dict[tuple[Any, ...], int] = {part: line_of(document, part) or 0 for part in refused}
    for key, (items, kind) in split.items.items():
        values = document.get(key)
        if not isinstance(values, MarkedList):
            continue  # not a list: the frame says so
        known: dict[Any, bool] = {}  # an item's verdict, by its value: repeats cost nothing
        for index, item in enumerate(values):
            if kind is not None and not split.frame.is_type(item, kind):
                valid = False  # the commonest mistake, told without asking jsonschema
            else:
                same = canonical(item)
                if same not in known:
                    known[same] = items.is_valid(item)
                valid = known[same]
            if not valid:
                lines[(key, index)] = values.item_lines[index]
    first = sorted(lines, key=lines.__getitem__)[:SHOWN_ERRORS]
    described = {}
    for part in first:
        if part in refused:
            errors = [refused[part]]
        else:  # an item: its errors, as if the whole document had been checked
            errors = list(split.items[part[0]][0].iter_errors(document[part[0]][part[1]]))
            for error in errors:
                error.path.extendleft((part[1], part[0]))
        best = jsonschema.exceptions.best_match(errors)
        if best is not None:
            described[part] = _schema_error(document, best, where)
    return SchemaErrors(described, set(lines))


@dataclasses.dataclass
class _Split:
    """A schema cut in two: ``frame`` checks the document but the items of its top-level
    lists, ``items`` checks such an item, by the list's key (with the item's declared type)."""

    frame: jsonschema.protocols.Validator
    items: dict[str, tuple[jsonschema.protocols.Validator, str | None]]


#: The split of each schema, by its id (module-level constants that live as long as the
#: process, as for the quick check).
_SPLITS: dict[int, tuple[dict[str, Any], _Split]] = {}


def _split(against: dict[str, Any]) -> _Split:
    known = _SPLITS.get(id(against))
    if known is not None and known[0] is against:
        return known[1]
    properties = dict(against.get("properties", {}))
    lists = {
        key: sub["items"]
        for key, sub in properties.items()
        if isinstance(sub, dict) and isinstance(sub.get("items"), dict)
    }
    for key in lists:
        properties[key] = {**properties[key], "items": True}
    frame = _Validator({**against, "properties": properties})
    # An item's schema is checked as the whole schema would: its $refs resolve in it.
    whole = _Validator(against)
    items = {
        key: (whole.evolve(schema=sub), _declared_type(against, sub)) for key, sub in lists.items()
    }
    split = _Split(frame, items)
    _SPLITS[id(against)] = (against, split)
    return split


def _declared_type(against: dict[str, Any], sub: dict[str, Any]) -> str | None:
    """The one JSON type an item's schema requires (following a local $ref), if it says one."""
    for _ in range(8):
        ref = sub.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/") or len(sub) > 1:
            break
        target: Any = against
        for name in ref[2:].split("/"):
            target = target.get(name) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            return None
        sub = target
    declared = sub.get("type")
    return declared if isinstance(declared, str) else None


def canonical(value: Any) -> Any:
    """A hashable form of a value, the same for values JSON Schema calls equal: ``true`` is
    not ``1`` but ``1`` is ``1.0``, and a mapping's order does not count."""
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, int | float):
        return (float, value)
    if isinstance(value, dict):
        return (dict, frozenset((key, canonical(item)) for key, item in value.items()))
    if isinstance(value, list):
        return (list, tuple(canonical(item) for item in value))
    return (type(value), value)


def _unique_items(
    validator: jsonschema.protocols.Validator, unique: Any, instance: Any, _schema: Any
) -> Iterator[jsonschema.ValidationError]:
    """``uniqueItems`` in time linear in the list, naming the first item listed again:
    jsonschema's compares every pair of items when they cannot be sorted (mixed types)."""
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: dict[Any, int] = {}
    for index, item in enumerate(instance):
        first = seen.setdefault(canonical(item), index)
        if first != index:
            lines = getattr(instance, "item_lines", None)
            where = f"item {first}, line {lines[first]}" if lines else f"item {first}"
            yield jsonschema.ValidationError(
                f"{_clip(repr(item), 60)} is listed twice (first as {where})",
                path=[index],
                instance=item,
            )
            return


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"uniqueItems": _unique_items}
)


#: Documents a schema checks with jsonschema alone before it is compiled for the quick check:
#: compiling costs about 35 ms and 16 MB, which a run of a few files would never get back.
QUICK_AFTER = 50


@dataclasses.dataclass
class _Quick:
    """A schema's quick check (fastjsonschema), compiled once it has been asked enough."""

    schema: dict[str, Any]
    asked: int = 0
    compiled: Callable[[Any], Any] | None = None
    refused: type[Exception] = Exception  # fastjsonschema's refusal, once it is imported

    def valid(self, document: Any) -> bool | None:
        """True or False once compiled; None (no answer: ask jsonschema) until then."""
        self.asked += 1
        if self.compiled is None:
            if self.asked <= QUICK_AFTER:
                return None
            import fastjsonschema  # here: a run of a few files never needs it (10 ms)

            draft7 = {**self.schema, "$schema": "http://json-schema.org/draft-07/schema#"}
            self.compiled = fastjsonschema.compile(draft7)
            self.refused = fastjsonschema.JsonSchemaException
        try:
            self.compiled(document)
        except self.refused:
            return False
        return True


#: The quick checks, by the id of the schema they check (module-level constants that live as
#: long as the process).
_QUICK: dict[int, _Quick] = {}


def _quick_check(against: dict[str, Any]) -> _Quick:
    """Whether a document is valid, ten times faster than jsonschema once there are many:
    fastjsonschema compiles the schema to Python once per process. Only a document it refuses
    goes on to jsonschema, whose errors say where and why. (The schema uses nothing draft 7
    lacks; a test holds the two to the same answers over the scenarios and the corpus.)"""
    known = _QUICK.get(id(against))
    if known is None or known.schema is not against:
        known = _QUICK[id(against)] = _Quick(against)
    return known


def raise_all(errors: list[ScenarioError], more: int = 0) -> None:
    """Nothing when ``errors`` is empty; the error itself when one; else the first
    :data:`SHOWN_ERRORS` by line, counting the rest and the ``more`` found but not described."""
    if not errors:
        return
    ordered = sorted(errors, key=lambda e: e.line or 0)
    shown = [e.written() if isinstance(e, _Deferred) else e for e in ordered[:SHOWN_ERRORS]]
    more += len(ordered) - len(shown)
    if len(shown) == 1 and not more:
        raise shown[0]
    raise ScenarioErrors(shown, more)


class _Deferred(ScenarioError):
    """An error whose whole message costs (a "did you mean" among every name saved so far):
    written out by :func:`raise_all` only if it is shown, not for each of thousands."""

    def __init__(self, where: str, line: int | None, message: str, write: Callable[[], str]):
        super().__init__(where, line, message)
        self.write = write

    def written(self) -> ScenarioError:
        return ScenarioError(self.path, self.line, self.write())


def _schema_error(
    document: MarkedDict, error: jsonschema.ValidationError, where: str
) -> ScenarioError:
    while error.validator in ("oneOf", "anyOf") and error.context:
        # A value that fits no branch: explain it by the branch of its own type, if one is.
        same_type = [e for e in error.context if e.validator != "type"]
        if not same_type:
            break
        error = jsonschema.exceptions.best_match(same_type) or error
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "additionalProperties":  # point at the unknown key itself
        path.append(_unknown_keys(error)[0])
    return ScenarioError(where, line_of(document, path), _describe(error))


def _schema_of(error: jsonschema.ValidationError) -> dict[str, Any]:
    return error.schema if isinstance(error.schema, dict) else {}


def _unknown_keys(error: jsonschema.ValidationError) -> list[str]:
    return sorted(set(error.instance or ()) - set(_schema_of(error).get("properties", {})))  # type: ignore[arg-type]


#: Unknown keys of one mapping named in its message; the rest are counted.
_UNKNOWN_KEYS_SHOWN = 5


def _describe(error: jsonschema.ValidationError) -> str:
    location = ".".join(str(p) for p in error.absolute_path) or "the top level"
    schema_ = _schema_of(error)
    if error.validator == "additionalProperties":
        allowed = sorted(schema_.get("properties", {}))
        hints = []
        unknown = _unknown_keys(error)
        for key in unknown[:_UNKNOWN_KEYS_SHOWN]:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"unknown key {_clip(repr(key), 60)} in {location}"
            hints.append(hint + (f" (did you mean {near[0]!r}?)" if near else ""))
        if len(unknown) > _UNKNOWN_KEYS_SHOWN:
            hints.append(f"and {len(unknown) - _UNKNOWN_KEYS_SHOWN:,} more unknown keys")
        return "; ".join(hints) + f"; allowed keys: {', '.join(allowed)}"
    if error.validator == "oneOf" and schema_.get("description", "").startswith("Exactly one"):
        return f"{location}: a step has exactly one of {', '.join(STEPS)}"
    if error.validator == "required":
        return f"{location}: {error.message}"
    if error.validator == "type" and schema_.get("type") == "string":
        kind = _yaml_kind(error.instance)
        if kind:
            return (
                f"{location}: YAML reads {error.instance!s} as {kind}; quote it to keep it as text"
            )
    if error.validator == "exclusiveMinimum":
        return f"{location}: {error.instance!r} must be more than {schema_['exclusiveMinimum']}"
    if error.validator == "maximum":
        return f"{location}: {error.instance!r} is more than the most allowed, {schema_['maximum']}"
    if error.validator == "pattern":
        form = _FORMS.get(schema_["pattern"], schema_["pattern"])
        return f"{location}: {error.instance!r} is not {form}"
    return f"{location}: {error.message}"


#: The schema's patterns in words, for messages.
_FORMS = {
    "^[a-z0-9]+(-[a-z0-9]+)*$": "kebab-case (lowercase words joined by hyphens, e.g. "
    "shell-is-pid-1)",
    "^[a-z][a-z0-9_]*$": "snake_case (a lowercase letter, then lowercase letters, digits and _, "
    "e.g. shell_pid)",
    "^[a-z][a-z0-9_]*(\\.[A-Za-z0-9_]+)*$": "an observation and its fields, e.g. "
    "shell_on_host.nspid.0",
    "^(host|engine)\\.[a-z0-9_]+$": "a probe's name, host.NAME or engine.NAME",
    "^[0-9]+[bkmg]?$": "a size: a whole number, then b, k, m or g (e.g. 256m)",
    "^[0-9]+(\\.[0-9]+)?$": "a number such as 0.5, written as text",
    "^/": "an absolute path",
    "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$": "a hostname (lowercase letters, digits and inner "
    "hyphens, at most 63)",
    "^[a-z0-9]([a-z0-9.-]{0,126}[a-z0-9])?$": "a label key like com.example.role",
    "^https?://[^\\s]+$": "a web address (http:// or https://)",
    "^[^\\x00-\\x1f\\x7f]+$": "one line of text without control characters",
    "^[^\\x00-\\x1f\\x7f]*\\S[^\\x00-\\x1f\\x7f]*$": "one line of text without control characters",
}


def _yaml_kind(value: Any) -> str | None:
    """What YAML made of an unquoted value that was meant as text."""
    import datetime

    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, datetime.date):
        return "a date"
    if value is None:
        return "nothing (null)"
    return None


class _Builder:
    """Turns a schema-valid document into the model, checking the rules the schema cannot.

    Each step is built by its kind (:mod:`.steps`), which sees this builder as the
    :class:`~container_claims.scenario.steps.ScenarioSoFar`.
    """

    def __init__(
        self, document: MarkedDict, path: Path, where: str, *, allow_host_access: bool
    ) -> None:
        self.doc = document
        self.path = path
        self.where = where
        self.allow_host_access = allow_host_access
        self.saved: dict[str, int] = {}  # observation name -> line that saves it
        self.shapes: dict[str, Shape] = dict(BUILTIN_SHAPES)  # name -> what it holds
        self.containers: dict[str, None] = {}  # in the order they start
        self.detached: dict[str, None] = {}  # containers left running: stop and wait take these
        self.specs: dict[str, ContainerSpec] = {}  # container name -> how it was started
        self.errors: list[ScenarioError] = []  # every error found so far, by part of the file
        self.more = 0  # errors the schema found and counted but did not describe
        self.skip: frozenset[tuple[Any, ...]] = frozenset()  # list items the schema refused
        self.volumes: tuple[str, ...] = tuple(document.get("volumes", ()))
        self.main: MainContainer | None = None

    def error(
        self, line: int | None, message: str, hint: Callable[[], str] | None = None
    ) -> ScenarioError:
        if hint is None:
            return ScenarioError(self.where, line, message)
        return _Deferred(self.where, line, message, lambda: message + hint())

    def started(self, name: str, *, detached: bool, spec: ContainerSpec | None) -> None:
        self.containers[name] = None
        if spec is not None:
            self.specs[name] = spec
        if detached:
            self.detached[name] = None

    def build(self) -> Scenario:
        doc = self.doc
        main = None
        if "container" in doc:
            block = doc["container"]
            self.containers[MAIN] = None
            spec = ContainerSpec(tty=True, interactive=True)  # stands in for a spec in error
            with self.collecting():  # a bad spec is reported; its steps are still checked
                spec = self.spec(block, block.line)
            main = MainContainer(
                spec=spec, save=block.get("save", "session"), exit_line=block.get("exit", "exit")
            )
            with self.collecting():
                self.save(main.save, block.line, SESSION)
        self.main = main
        steps = self.steps(doc.get("steps", ()), "steps")
        if main is None and any(
            isinstance(raw, MarkedDict) and "type" in raw for raw in doc.get("steps", ())
        ):
            self.errors.append(self.error(doc.key_lines["steps"], "type steps need a 'container'"))
        after = self.steps(doc.get("after", ()), "after")
        claims = self.claims(doc["claims"])
        raise_all(self.errors, self.more)
        return Scenario(
            path=self.path,
            name=doc.get("scenario", self.path.stem),
            claims=claims,
            container=main,
            steps=steps,
            after=after,
            volumes=self.volumes,
            requires=frozenset(doc.get("requires", ())),
            source=doc.get("source", ""),
        )

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Keep an error of this part of the file and go on with the next part, so that one
        run reports every error in a file (each at its own line)."""
        try:
            yield
        except ScenarioError as exc:
            self.errors.append(exc)

    def save(self, name: str | None, line: int, shape: Shape) -> None:
        if name is None:
            return
        if name in BUILTINS:
            raise self.error(line, f"{name!r} is a built-in observation; save under another name")
        if name in self.saved:
            raise self.error(
                line, f"observation {name!r} is already saved at line {self.saved[name]}"
            )
        self.saved[name] = line
        self.shapes[name] = shape

    def check_refs(self, data: Any, line: int) -> None:
        """Every ``{{ name.field }}`` must name a field of something saved before this point."""
        for text in strings_in(data):
            for ref in template_names(text):
                self.check_ref(ref, line)

    def check_ref(self, path: str, line: int, *, anywhere: bool = False) -> Shape:
        """The shape ``path`` names; an error at ``line`` when no step saves it so."""
        name, _, rest = path.partition(".")
        if name not in BUILTINS and name not in self.saved:
            when = "" if anywhere else " before this point"
            message = f"no step saves an observation named {name!r}{when}"
            count = len(self.saved)  # only added to: what was saved by now is its beginning

            def known() -> list[str]:
                return [*itertools.islice(self.saved, count), *BUILTINS]

            raise self.error(line, message, did_you_mean(name, known))
        try:
            return resolve_shape(self.shapes[name], rest)
        except FieldError as exc:
            saved = f" (saved at line {self.saved[name]})" if name in self.saved else ""
            raise self.error(line, f"{path}: observation {name!r}{saved} {exc}") from None

    def spec(self, block: MarkedDict, line: int) -> ContainerSpec:
        def line_of_key(key: str) -> int:
            return block.key_lines.get(key, line)

        for key, value in block.items():
            self.check_refs(value, line_of_key(key))
        for volume in block.get("volumes", {}):
            if volume not in self.volumes:
                raise self.error(
                    line_of_key("volumes"),
                    f"volume {volume!r} is not declared in the top-level 'volumes'",
                )
        templated = frozenset(
            key for key, value in block.items() if any(has_template(t) for t in strings_in(value))
        )
        for key, problem in spec_problems(
            block, allow_host_access=self.allow_host_access, skip=templated
        ):
            raise self.error(line_of_key(key), problem)
        spec = ContainerSpec.from_values(block)
        if spec.ports and spec.network == "none":
            raise self.error(
                line_of_key("ports"), "ports are published from a network: add network: bridge"
            )
        if spec.stdin is not None and not spec.interactive:
            raise self.error(
                line_of_key("stdin"), "'stdin' needs 'interactive: true' to reach the container"
            )
        return spec

    def steps(self, items: MarkedList | tuple[()], section: Section) -> tuple[Step, ...]:
        result = []
        for index, raw in enumerate(items):
            line = items.item_lines[index] if isinstance(items, MarkedList) else 0
            if (section, index) in self.skip:
                if isinstance(raw, MarkedDict):
                    self.assume(raw, line)
                continue
            before = len(self.errors)
            with self.collecting():
                result.append(self.step(raw, line, section))
            if len(self.errors) > before:
                self.assume(raw, line)
        return tuple(result)

    def assume(self, raw: MarkedDict, line: int) -> None:
        """After a step's error: what it names still exists for later steps and claims, so
        that one mistake is not reported again where it is used."""
        name = raw.get("save")
        if isinstance(name, str) and name not in self.saved:
            self.saved[name] = line
            kind = kind_of(raw)
            self.shapes[name] = kind.yields_of(raw) if kind is not None else any_value()
        for key in raw:
            if key in STEPS:
                STEPS[key].assume(raw, self)

    def step(self, raw: MarkedDict, line: int, section: Section) -> Step:
        kind = kind_of(raw)
        assert kind is not None  # the schema lets a step through with exactly one kind
        step = kind.build(raw, line, section, self)
        if "with" in raw and not kind.takes_arguments:
            raise self.error(line, "'with' gives arguments to a probe; this step is not a probe")
        self.save(step.save, line, kind.yields_of(raw))
        return step

    def needs_of(self, container: str) -> frozenset[str]:
        """A step on a container needs what starting it needed: where it could not start, the
        claims resting on the step are not applicable either."""
        spec = self.specs.get(container)
        return spec.capabilities() if spec is not None else frozenset()

    def claims(self, items: MarkedList) -> tuple[Claim, ...]:
        seen: dict[str, int] = {}
        claims = []
        default_section = self.doc.get("section", "")
        for index, raw in enumerate(items):
            line = items.item_lines[index]
            if ("claims", index) in self.skip:
                continue
            claim_id = raw["id"]
            before = len(self.errors)
            with self.collecting():
                if claim_id in seen:
                    raise self.error(
                        raw.key_lines["id"],
                        f"duplicate claim id {claim_id!r} (first at line {seen[claim_id]})",
                    )
                seen[claim_id] = line
            with self.collecting():
                if not raw.get("section", default_section):
                    raise self.error(
                        line, f"claim {claim_id!r} has no 'section' (and the file sets none)"
                    )
            section = raw.get("section", default_section)
            expect = raw["expect"]
            expectations = []
            for i, item in enumerate(expect):
                with self.collecting():
                    expectations.append(self.expectation(item, expect.item_lines[i]))
            if len(self.errors) > before:
                continue
            claims.append(
                Claim(
                    claim_id,
                    raw["says"],
                    section,
                    tuple(expectations),
                    line,
                    frozenset(raw.get("requires", ())),
                )
            )
        return tuple(claims)

    def expectation(self, raw: MarkedDict, line: int) -> Expectation:
        ops = [key for key in raw if key in OPERATORS]
        if len(ops) != 1:
            found = ", ".join(ops) if ops else "none"
            raise self.error(
                line, f"an expectation has exactly one of {', '.join(OPERATORS)} (found: {found})"
            )
        op = ops[0]
        if "header" in raw and op not in ROW_OPERATORS:
            raise self.error(line, f"'header' only applies to {', '.join(ROW_OPERATORS)}")
        observed = self.check_ref(raw["that"], raw.key_lines.get("that", line), anywhere=True)
        value = raw[op]
        if isinstance(value, str):
            for ref in template_names(value):
                self.check_ref(ref, raw.key_lines[op], anywhere=True)
        if op in PATTERN_OPERATORS:
            try:
                compile_pattern(re.sub(r"\{\{[^}]*\}\}", "x", value))
            except PatternError as exc:
                raise self.error(
                    raw.key_lines[op], f"invalid regular expression {value!r}: {exc}"
                ) from None
        if op in NUMERIC_OPERATORS and observed.kind not in NUMERIC_KINDS:
            raise self.error(
                raw.key_lines[op],
                f"{op} compares numbers: {raw['that']} is {observed.describe()}, never a number",
            )
        if op in NUMERIC_OPERATORS and not _is_number_or_template(value):
            raise self.error(
                raw.key_lines[op],
                f"{op} compares numbers: {value!r} is no number "
                "(write one, or a template that gives one)",
            )
        return Expectation(raw["that"], op, value, line, header=bool(raw.get("header", False)))


def _is_number_or_template(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        if has_template(value):
            return True
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
