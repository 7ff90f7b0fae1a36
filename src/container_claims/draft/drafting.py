"""Sessions of a transcript become draft scenarios: one file each, as the README's format has
it, every claim marked ``draft: true``.

- The ``docker run`` that opened the session becomes ``container:`` (an interactive one) or a
  ``run:`` step, option by option; what the format cannot say is named in a comment and in
  the report. The article's image is never used: the run's test image is.
- Each command typed inside becomes a ``type:`` step; ``docker run``/``exec`` on the host
  meanwhile a ``run:``/``exec:`` step; ``ps``, ``uname -r``, ``hostname`` and the boot id read
  on the host become the host probe that observes the same thing.
- Each printed output becomes a draft claim, its operator chosen by the output's shape
  (:mod:`.shapes`), with the article's nearest sentence as ``says:`` and ``source:`` its line.

Every string is checked as a scenario's are (:mod:`container_claims.scenario.safety`) before
it is written: what a loader would refuse, or what would read as a ``{{ template }}``, is left
out with a comment and a skipped entry, so a draft always loads (the writer loads each one to
be sure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from container_claims.draft.prompts import operator_word
from container_claims.draft.runline import EngineCommand
from container_claims.draft.shapes import PsRow, Shape, program_of, ps_table, shape_of
from container_claims.draft.transcript import Command, Session, Transcript
from container_claims.draft.yaml_text import Commented, document
from container_claims.errors import ScenarioError
from container_claims.observations import BUILTINS
from container_claims.patterns import PatternError, compile_pattern
from container_claims.scenario.safety import (
    SIGNALS,
    spec_problems,
    text_problem,
    typed_line_problem,
)
from container_claims.scenario.source import MAX_BYTES
from container_claims.scenario.validate import scenario_from_text

#: Most expectations a draft claim gets (a listing of a thousand names gets the first ones).
MAX_EXPECTATIONS = 32
#: Longest text a draft puts into one value (a typed line, an expected text).
MAX_VALUE_CHARS = 4096
#: Most steps and claims one draft gets.
MAX_STEPS = 200
MAX_CLAIMS = 200
#: What a draft may take of the :data:`MAX_BYTES` a scenario file may be (estimated as it
#: grows, at twice each value's UTF-8 bytes, so the written file stays well within).
_BUDGET = MAX_BYTES * 3 // 4
#: The format's fields for ``docker run`` options that map one to one (value as written).
_PLAIN_FIELDS = {"--user": "user", "--workdir": "workdir", "--hostname": "hostname"}
_SIZE_FIELDS = {"--memory": "memory", "--shm-size": "shm_size"}
_SIGNAL_NUMBERS = {"1": "HUP", "2": "INT", "3": "QUIT", "9": "KILL", "10": "USR1", "12": "USR2"}
_SIGNAL_NUMBERS |= {"15": "TERM", "28": "WINCH"}
#: Options that say how the drafter's session runs, not what the container is.
_SESSION_FLAGS = ("--tty", "--interactive", "--rm", "--detach", "--name")
#: Host commands a host probe observes (the command's program and arguments).
_HOST_PROBES = {
    ("uname", ("-r",)): "host.kernel_release",
    ("hostname", ()): "host.hostname",
    ("cat", ("/proc/sys/kernel/random/boot_id",)): "host.boot_id",
}
_PROBE_NAMES = {
    "host.kernel_release": "host_kernel",
    "host.hostname": "host_hostname",
    "host.boot_id": "host_boot_id",
    "host.pid1": "host_pid1",
    "host.find_process": "shell_on_host",
}
#: What the same reading is inside a container, for claims comparing both sides.
_INSIDE = {
    "host.kernel_release": "uname -r",
    "host.hostname": "hostname",
    "host.boot_id": "cat /proc/sys/kernel/random/boot_id",
}


@dataclass(frozen=True)
class Skipped:
    """Something of the article a draft does not carry: its line, what, and why."""

    line: int
    what: str
    why: str


@dataclass(frozen=True)
class DraftFile:
    """The draft of one session: its YAML text (empty when none is written, ``not_written``
    says why) and what went into it."""

    number: int
    file_name: str
    text: str
    line: int
    commands: int
    placed: int
    outputs: int
    drafted: int
    steps: int
    claims: int
    skipped: tuple[Skipped, ...]
    not_written: str = ""
    #: The draft did not load as a scenario: a defect of the drafter (``not_written`` says).
    defect: bool = False
    #: The article lines of the commands that became steps (or the session's container).
    placed_lines: tuple[int, ...] = ()
    #: Each claim's id and the article line of the command it rests on (its ``source:``'s).
    claim_lines: tuple[tuple[str, int], ...] = ()


@dataclass
class _Observed:
    """A command whose output a claim may rest on: where it is saved (``that``) and how."""

    command: Command
    that: str
    how: str  # "typed", "run", "exec", or a host probe's name
    extra: dict[str, Any] = field(default_factory=dict)


class _Names:
    """Observation names, unique in a draft, derived from what they save."""

    def __init__(self) -> None:
        self.taken: set[str] = {*BUILTINS, "session", "main"}
        self.counts: dict[str, int] = {}  # the last number given to a base: no search from 2

    def take(self, wanted: str) -> str:
        base = safe_name(wanted)
        name, count = base, self.counts.get(base, 1)
        while name in self.taken:
            count += 1
            name = f"{base}_{count}"
        self.counts[base] = count
        self.taken.add(name)
        return name


def safe_name(text: str, fallback: str = "step") -> str:
    """``text`` made a scenario name (``^[a-z][a-z0-9_]*$``, at most 32 characters): other
    characters become ``_``, runs of them one; a name that would not start with a letter
    gets ``fallback`` before it."""
    out: list[str] = []
    for char in text.lower():
        if char.isascii() and char.isalnum():
            out.append(char)
        elif out and out[-1] != "_":
            out.append("_")
    name = "".join(out).strip("_")[:32].strip("_")
    if not name:
        return fallback
    if not name[0].isalpha():
        name = f"{fallback}_{name}"[:32].strip("_")
    return name


def name_from_command(text: str) -> str:
    """A name for what a command prints: its first two words (``ps aux`` -> ``ps_aux``)."""
    program, arguments = program_of(text)
    return safe_name(" ".join([program, *arguments[:1]]) if program else text, "cmd")


def re2_escape(text: str) -> str:
    """``text`` as an RE2 pattern matching it literally (``{{`` becomes ``\\{\\{``: never a
    template either)."""
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in text)


def template_problem(text: str) -> str | None:
    """Why ``text`` would be read as (part of) a ``{{ template }}`` of a scenario."""
    if "{{" in text or "}}" in text:
        return "it holds '{{' or '}}', the scenarios' template syntax"
    return None


def value_problem(what: str, text: str, *, typed: bool = False) -> str | None:
    """Why ``text`` cannot be a value of a draft (None when it can): what a scenario's loader
    refuses, a template, more than :data:`MAX_VALUE_CHARS`."""
    if len(text) > MAX_VALUE_CHARS:
        return f"{what} is {len(text):,} characters long; a draft keeps at most {MAX_VALUE_CHARS:,}"
    problem = typed_line_problem(text) if typed else text_problem(what, text)
    return problem or template_problem(text)


class SessionDraft:
    """The draft of one session, built step by step; :meth:`file` writes it out."""

    def __init__(self, transcript: Transcript, session: Session, width: int) -> None:
        self.transcript = transcript
        self.session = session
        self.number = session.number
        self.file_name = f"session-{session.number:0{width}d}.yaml"
        self.names = _Names()
        self.container_names: dict[str, str] = {}  # the article's --name -> the scenario's
        self.main_article_name: str | None = None
        self.steps: list[Commented] = []
        self.claims: list[Commented] = []
        self.claim_ids: set[str] = set()
        self.id_counts: dict[str, int] = {}
        self.skipped: list[Skipped] = []
        self.volumes: list[str] = []
        self.container: dict[str, Any] | None = None
        self.container_comments: list[str] = []
        self.observed: list[_Observed] = []
        self.probes: dict[str, str] = {}  # host probe -> the name it is saved under
        self.budget = _BUDGET
        self.commands = self.placed = self.outputs = self.drafted = 0
        self.placed_lines: list[int] = []
        self.claim_lines: list[tuple[str, int]] = []
        self.section = session.opener.section or transcript.article.title or "Drafted"

    # -- the whole ------------------------------------------------------------------------------

    def build(self) -> None:
        opener = self.session.opener
        self.commands += 1
        self.outputs += opener.output is not None
        if self.session.run.action == "run" and self._interactive_session():
            self._main(opener, self.session.run)
        else:
            self._run_step(opener, self.session.run)
        for command in self.session.commands:
            self.commands += 1
            self.outputs += command.output is not None
            if command.side == "container":
                self._typed(command)
            else:
                self._on_host(command)
        self._prompt_claim()
        for observed in self.observed:
            before = len(self.claims)
            self._claims_of(observed)
            self.drafted += len(self.claims) > before

    def _interactive_session(self) -> bool:
        run = self.session.run
        return (run.interactive or run.tty) and not run.detach

    # -- budget ---------------------------------------------------------------------------------

    def _afford(self, value: Any, line: int, what: str) -> bool:
        """Whether ``value`` fits in what is left of the draft's budget (taking it if so)."""
        cost = 2 * len(repr(value).encode("utf-8", "surrogatepass")) + 64
        if cost > self.budget:
            self.skip(line, what, f"the draft would pass the {MAX_BYTES:,} bytes a scenario may be")
            return False
        self.budget -= cost
        return True

    def _placed(self, command: Command) -> None:
        self.placed += 1
        self.placed_lines.append(command.line)

    def skip(self, line: int, what: str, why: str) -> None:
        self.skipped.append(Skipped(line, what, why))

    def add_step(self, step: dict[str, Any], comments: list[str], line: int, what: str) -> bool:
        if len(self.steps) >= MAX_STEPS:
            self.skip(line, what, f"a draft takes at most {MAX_STEPS} steps")
            return False
        if not self._afford(step, line, what):
            return False
        self.steps.append(Commented(step, tuple(comments)))
        return True

    # -- the session's container ---------------------------------------------------------------

    def _main(self, opener: Command, run: EngineCommand) -> None:
        fields, comments = self._spec(opener, run, main=True)
        self.container = fields
        self.container_comments = [f"line {opener.line}: {opener.text}", *comments]
        self._placed(opener)
        if opener.output is not None:
            self.skip(
                opener.output.line,
                opener.text,
                "what docker run printed before the shell (a pull, a warning): not drafted",
            )

    def _run_step(self, command: Command, run: EngineCommand) -> None:
        """``docker run`` without a terminal: a ``run:`` step (``detach`` with a name)."""
        fields, comments = self._spec(command, run, main=False)
        if run.detach:
            article_name = next(iter(run.values("--name")), "")
            name = self.names.take(article_name or "container")
            if article_name:
                self.container_names[article_name] = name
            fields["detach"] = True
            fields["name"] = name
        save = self.names.take(name_from_command(" ".join(run.command) or "run"))
        step = {"run": fields, "save": save}
        if self.add_step(step, [f"line {command.line}: {command.text}", *comments], command.line,
                         command.text):  # fmt: skip
            self._placed(command)
            if command.output is not None:
                if run.detach:
                    self.skip(command.output.line, command.text,
                              "what docker run -d printed (the container's id): not drafted")  # fmt: skip
                else:
                    apart = {"stderr_apart": not run.tty}
                    self.observed.append(_Observed(command, save, "run", apart))

    def _spec(
        self, command: Command, run: EngineCommand, *, main: bool
    ) -> tuple[dict[str, Any], list[str]]:
        """The container's fields from the run's options, and the comments saying what the
        format could not take."""
        line = command.line
        fields: dict[str, Any] = {}
        comments = [f"the article's image {run.target!r} is not used: the run's test image is"]
        if run.after:
            comments.append(f"not drafted: {run.after!r} (the host shell's, after the command)")
            self.skip(line, run.after, "what followed docker run on the host's command line")
        if run.command:
            problems = [value_problem(f"command argument {i}", word) for i, word in
                        enumerate(run.command, 1)]  # fmt: skip
            bad = next((p for p in problems if p), None)
            if bad:
                comments.append(f"the command is left out ({bad}): the image's default runs")
                self.skip(line, " ".join(run.command), f"command left out: {bad}")
            else:
                fields["command"] = list(run.command)
        elif main:
            comments.append("no command given: the image's default (the test image's: /bin/bash)")
        if run.tty:
            fields["tty"] = True
        if run.interactive:
            fields["interactive"] = True
        fields["remove"] = run.flag("--rm")  # Docker keeps a container without --rm
        if main:
            self.main_article_name = next(iter(run.values("--name")), None)
        for option in run.options:
            self._option(option.name, option.value, option.written, option.known, fields,
                         comments, line)  # fmt: skip
        if "ports" in fields and "network" not in fields:
            fields["network"] = "bridge"
            comments.append("network: bridge, for the published ports (Docker's default network)")
        return fields, comments

    def _option(
        self,
        name: str,
        value: str | None,
        written: str,
        known: bool,
        fields: dict[str, Any],
        comments: list[str],
        line: int,
    ) -> None:
        shown = written if value is None else f"{written} {value}"

        def leave_out(why: str) -> None:
            comments.append(f"not drafted: {shown} ({why})")
            self.skip(line, shown, why)

        def put(field_name: str, new: Any, *, add: bool = False) -> bool:
            """``new`` into ``fields`` (added to a list, or merged into a mapping) unless a
            scenario's loader would refuse it."""
            candidate = new
            if add:
                candidate = [*fields.get(field_name, []), new]
            elif isinstance(new, dict):
                candidate = {**fields.get(field_name, {}), **new}
            problem = _field_problem(field_name, candidate)
            if problem:
                leave_out(problem)
                return False
            fields[field_name] = candidate
            return True

        if name in _SESSION_FLAGS:
            return
        problem = value_problem("its value", value) if value is not None else None
        if problem:
            leave_out(problem)
            return
        handler = _OPTIONS.get(name)
        if handler is not None:
            handler(self, value or "", put, leave_out)
        elif known:
            leave_out("the scenario format has no such option")
        else:
            leave_out(
                "an option the drafter does not know (it took a value only if written "
                "--option=value; check the image and command read after it)"
            )

    # -- commands -------------------------------------------------------------------------------

    def _typed(self, command: Command) -> None:
        words = command.text.split()
        if words[:1] in (["exit"], ["logout"]):
            self._placed(command)  # the scenario's session ends with "exit" of its own
            return
        if self.container is None or not self.container.get("interactive"):
            self.skip(command.line, command.text,
                      "typed into a container started without -i: nothing typed reaches it")  # fmt: skip
            return
        text, comments = command.text, [f"line {command.line}: {command.text}"]
        if command.heredoc is not None:
            text, why = _heredoc_as_line(command)
            if not text:
                self.skip(command.line, command.text, why)
                return
            comments.append(why)
        problem = value_problem("the typed line", text, typed=True)
        if problem:
            self.skip(command.line, command.text, f"left out: {problem}")
            return
        save = self.names.take(name_from_command(command.text))
        if self.add_step({"type": text, "save": save}, comments, command.line, command.text):
            self._placed(command)
            if command.output is not None:
                self.observed.append(_Observed(command, save, "typed"))

    def _on_host(self, command: Command) -> None:
        engine = command.engine
        if engine is not None and engine.action == "run":
            self._run_step(command, engine)
            return
        if engine is not None and engine.action == "exec":
            self._exec(command, engine)
            return
        program, arguments = program_of(command.text)
        probe = _HOST_PROBES.get((program, tuple(arguments)))
        if probe is not None:
            save = self._probe(
                probe, command.line, f"line {command.line}, on the host: {command.text}"
            )
            if save:
                self._placed(command)
                if command.output is not None:
                    self.observed.append(_Observed(command, save, probe))
            return
        if program == "ps" and not any(operator_word(w) for w in arguments):
            self._host_ps(command)
            return
        self.skip(command.line, command.text, "on the host: no host probe observes it")

    def _probe(
        self, probe: str, line: int, comment: str, with_: dict[str, Any] | None = None
    ) -> str:
        """The name ``probe`` is saved under, its step added once per draft ("" if none fits)."""
        if probe in self.probes:
            return self.probes[probe]
        save = self.names.take(_PROBE_NAMES[probe])
        step: dict[str, Any] = {"probe": probe}
        if with_:
            step["with"] = with_
        step["save"] = save
        if not self.add_step(step, [comment], line, probe):
            return ""
        self.probes[probe] = save
        return save

    def _exec(self, command: Command, engine: EngineCommand) -> None:
        target = engine.target
        words = list(engine.command)
        if engine.interactive and engine.tty:
            self.skip(command.line, command.text,
                      "an interactive docker exec: its prompts cannot be typed into a draft")  # fmt: skip
            return
        if target == self.main_article_name and self.container is not None:
            value: Any = words
        elif target in self.container_names:
            value = {"in": self.container_names[target], "command": words}
        else:
            self.skip(
                command.line, command.text, "docker exec in a container this session did not start"
            )
            return
        bad = next((p for w in words if (p := value_problem("an exec argument", w))), None)
        if bad:
            self.skip(command.line, command.text, f"left out: {bad}")
            return
        save = self.names.take(name_from_command(" ".join(words)))
        if self.add_step({"exec": value, "save": save}, [f"line {command.line}: {command.text}"],
                         command.line, command.text):  # fmt: skip
            self._placed(command)
            if command.output is not None:
                apart = {"stderr_apart": not engine.tty}
                self.observed.append(_Observed(command, save, "exec", apart))

    def _host_ps(self, command: Command) -> None:
        """The host's ``ps``: the host's PID 1 (``host.pid1``) and the container's shell seen
        from the host (``host.find_process``), as far as its table shows them."""
        output = command.output
        rows = tuple(line for line in output.lines if line.strip()) if output else ()
        table = ps_table(rows, False) if rows else None
        if table is None:
            self.skip(command.line, command.text, "on the host: ps printed no process table")
            return
        inside = self._container_pid1()
        pid1 = next((row for row in table.rows if row.pid == 1), None)
        shell = next(
            (r for r in table.rows if inside and r.command == inside[0] and r.pid != 1), None
        )
        comment = f"line {command.line}, on the host: {command.text}"
        placed = False
        extra: dict[str, Any] = {"inside": inside}
        if pid1 is not None and inside and pid1.command != inside[0]:
            extra["pid1"] = pid1
            placed = bool(self._probe("host.pid1", command.line, comment))
        if shell is not None and self.container is not None and self.container.get("interactive"):
            pid = self.names.take("shell_pid")
            pidns = self.names.take("shell_pidns")
            added = self.add_step(
                {"type": "echo $$", "save": pid},
                ["added: the shell's PID and PID namespace, to find it from the host"],
                command.line,
                "echo $$",
            ) and self.add_step(
                {"type": "readlink /proc/$$/ns/pid", "save": pidns}, [], command.line, "readlink"
            )
            if added:
                found = self._probe(
                    "host.find_process",
                    command.line,
                    comment,
                    {"pid_namespace": f"{{{{ {pidns} }}}}", "ns_pid": f"{{{{ {pid} }}}}"},
                )
                if found:
                    extra |= {"shell": shell, "shell_pid": pid}
                    placed = True
        if not placed:
            self.skip(command.line, command.text,
                      "on the host: its table shows neither PID 1 nor the container's command")  # fmt: skip
            return
        self._placed(command)
        if output is not None:
            self.observed.append(_Observed(command, "", "host.ps", extra))

    def _container_pid1(self) -> tuple[str, int | None] | None:
        """The container's main command and its PID inside, as the session's own ``ps`` showed
        them (else the run line's command, PID unknown)."""
        for command in self.session.commands:
            if command.side != "container" or command.output is None:
                continue
            shape = shape_of(command.text, command.output.lines)
            if shape is not None and shape.table is not None:
                row = next((r for r in shape.table.rows if r.pid == 1), None)
                if row is not None and row.command:
                    return row.command, 1
        if self.session.run.command:
            return " ".join(self.session.run.command), None
        return None

    # -- claims ---------------------------------------------------------------------------------

    def _claims_of(self, observed: _Observed) -> None:
        command = observed.command
        assert command.output is not None
        if observed.how == "host.ps":
            self._host_ps_claims(observed)
            return
        shape = shape_of(command.text, command.output.lines)
        if shape is None:
            self.skip(command.output.line, command.text, "its output holds nothing to compare")
            return
        if observed.how in _INSIDE:
            expect = self._host_reading(observed, shape)
        elif shape.kind == "error" and observed.extra.get("stderr_apart"):
            # A run or exec without a terminal keeps stderr apart, where errors go; the
            # article's terminal showed both streams as one.
            expect = self._by_shape(f"{observed.that}.stderr", shape, command)
        else:
            expect = self._by_shape(observed.that, shape, command)
        self._claim(observed.that, command, expect)

    def _by_shape(self, that: str, shape: Shape, command: Command) -> list[dict[str, Any]]:
        if shape.kind == "error":
            return [{"that": that, "contains": line} for line in shape.lines]
        if shape.kind == "ps":
            assert shape.table is not None
            expect: list[dict[str, Any]] = []
            if not shape.table.elided and shape.table.rows:
                expect.append({"that": that, "rows": len(shape.table.rows), "header": True})
            entries = dict.fromkeys(r.command for r in shape.table.rows if r.command)
            expect += [{"that": that, "matches": re2_escape(entry)} for entry in entries]
            return expect
        if shape.kind == "listing":
            return [{"that": that, "contains": name} for name in shape.names]
        if shape.kind == "number":
            return [{"that": that, "equals": shape.number}]
        if shape.kind == "hex":
            host = self._probe("host.hostname", command.line,
                               "added: the host's hostname, to compare with the container's")  # fmt: skip
            if not host:
                return []
            return [{"that": that, "not_equals": f"{{{{ {host} }}}}"}]
        if shape.kind == "text":
            return [{"that": that, "equals": shape.lines[0].strip()}]
        return [{"that": that, "contains": line.strip()} for line in shape.lines]

    def _host_reading(self, observed: _Observed, shape: Shape) -> list[dict[str, Any]]:
        """A host probe's claim: against the same reading typed in the container, where the
        session has one (equal where the article shows both equal), else the article's value."""
        command = observed.command
        assert command.output is not None
        host_value = shape.lines[0].strip()
        inside = _INSIDE[observed.how]
        for other in self.observed:
            if other.how == "typed" and other.command.text.strip() == inside:
                if other.command.output is None:
                    continue
                other_shape = shape_of(other.command.text, other.command.output.lines)
                if other_shape is None:
                    continue
                if other_shape.kind == "hex" and observed.how == "host.hostname":
                    return []  # the container's hex hostname already gets this claim
                same = other_shape.lines[0].strip() == host_value
                operator = "equals" if same else "not_equals"
                return [{"that": other.that, operator: f"{{{{ {observed.that} }}}}"}]
        return [{"that": observed.that, "equals": host_value}]

    def _host_ps_claims(self, observed: _Observed) -> None:
        command, extra = observed.command, observed.extra
        inside = extra["inside"]
        pid1: PsRow | None = extra.get("pid1")
        if pid1 is not None and "host.pid1" in self.probes:
            that = f"{self.probes['host.pid1']}.cmdline"
            self._claim(
                self.probes["host.pid1"], command, [{"that": that, "not_equals": inside[0]}]
            )
        shell: PsRow | None = extra.get("shell")
        if shell is not None and "host.find_process" in self.probes:
            found = self.probes["host.find_process"]
            expect: list[dict[str, Any]] = [
                {"that": f"{found}.found", "equals": True},
                {"that": f"{found}.cmdline", "equals": shell.command},
            ]
            if inside[1] is not None and shell.pid is not None and shell.pid != inside[1]:
                pid = extra["shell_pid"]
                expect.append({"that": f"{found}.pid", "not_equals": f"{{{{ {pid} }}}}"})
            self._claim(found, command, expect)

    def _prompt_claim(self) -> None:
        """The prompt a session shows (``root@3c5a8d:/#``): root, at a hex hostname."""
        if self.container is None or not self.container.get("interactive"):
            return  # no shell that stays to show a prompt
        if not self.session.hostname:
            return
        shown = next((c for c in self.session.commands if c.host == self.session.hostname), None)
        if shown is None:
            return
        user = shown.prompt.partition("@")[0]
        if not user or value_problem("the user", user):
            return
        expect = [{"that": "session.prompt", "matches": f"^{re2_escape(user)}@[0-9a-f]+:"}]
        self._claim("prompt", shown, expect, what=shown.prompt)

    def _claim(
        self, that: str, command: Command, expect: list[dict[str, Any]], what: str = ""
    ) -> None:
        """A draft claim of ``expect``, each value checked; left out when none is left."""
        line = command.line
        kept: list[dict[str, Any]] = []
        for expectation in expect:
            if len(kept) >= MAX_EXPECTATIONS:
                self.skip(line, command.text,
                          f"a draft claim takes at most {MAX_EXPECTATIONS} expectations")  # fmt: skip
                break
            problem = _expectation_problem(expectation)
            if problem:
                self.skip(line, command.text, f"an expected value left out: {problem}")
                continue
            kept.append(expectation)
        if not kept:
            return
        if len(self.claims) >= MAX_CLAIMS:
            self.skip(line, command.text, f"a draft takes at most {MAX_CLAIMS} claims")
            return
        claim_id = self._claim_id(that)
        last = command.output.last_line if command.output else command.last_line
        near = self.transcript.sentence_near(line, max(last, line))
        says = near[1] if near else (command.text or what)
        comments = [f"from line {line}: {what or command.text}"]
        if value_problem("says", says):
            # Never a value that could read as a template or break a line: a comment only.
            comments.append(f"the article says: {says}")
            says, near = f"What the article shows at line {line}.", None
        claim: dict[str, Any] = {"id": claim_id, "draft": True}
        source = f"{self.transcript.article.name}:{line}"
        if not value_problem("source", source):
            claim["source"] = source
        section = command.section or self.section
        if section != self.section and not value_problem("section", section):
            claim["section"] = section
        claim["says"] = says
        claim["expect"] = kept
        if near is not None:
            comments.append(f"says: the article's words at line {near[0]}; paraphrase them")
        if self._afford(claim, line, command.text):
            self.claims.append(Commented(claim, tuple(comments)))
            self.claim_lines.append((claim_id, line))

    def _claim_id(self, that: str) -> str:
        base = f"s{self.number:02d}-{that.replace('_', '-')}"
        claim_id, count = base, self.id_counts.get(base, 1)
        while claim_id in self.claim_ids:
            count += 1
            claim_id = f"{base}-{count}"
        self.id_counts[base] = count
        self.claim_ids.add(claim_id)
        return claim_id

    # -- out ------------------------------------------------------------------------------------

    def file(self) -> DraftFile:
        """The draft as a file's text, loaded once as a scenario to be sure it is one."""
        session = self.session
        last = max((c.last_line for c in session.commands), default=session.opener.last_line)

        def result(text: str, not_written: str = "", *, defect: bool = False) -> DraftFile:
            return DraftFile(
                self.number, self.file_name, text, session.line, self.commands, self.placed,
                self.outputs, self.drafted, len(self.steps), len(self.claims),
                tuple(self.skipped), not_written, defect,
                tuple(self.placed_lines), tuple(self.claim_lines),
            )  # fmt: skip

        if not self.claims:
            return result("", "no output to draft a claim from: nothing written")
        values: dict[str, Any] = {"scenario": self.file_name.removesuffix(".yaml")}
        title = self.transcript.article.title
        if title and not value_problem("source", title):
            values["source"] = title
        section = self.section if not value_problem("section", self.section) else "Drafted"
        self.section = section
        values["section"] = section
        values["summary"] = (
            f"Drafted by container-claims draft from the session at lines {session.line}-{last} "
            f"of {self.transcript.article.name}."
        )
        if value_problem("summary", values["summary"]):
            values["summary"] = f"Drafted from the session at lines {session.line}-{last}."
        if self.volumes:
            values["volumes"] = self.volumes
        if self.container is not None:
            values["container"] = Commented(self.container, tuple(self.container_comments))
        if self.steps:
            values["steps"] = self.steps
        values["claims"] = self.claims
        header = [
            f"Drafted from {self.transcript.article.name}, lines {session.line}-{last}: review",
            "each claim against the article (say it in the project's words), then remove its",
            '"draft: true". container-claims run refuses a claim still marked draft.',
        ]
        text = document(values, header)
        try:
            scenario_from_text(text, Path(self.file_name), self.file_name, allow_drafts=True)
        except ScenarioError as exc:  # a defect of the drafter: say so, write nothing
            return result(
                "", f"the draft did not load (a defect of the drafter): {exc}", defect=True
            )
        return result(text)


def _field_problem(name: str, value: Any) -> str | None:
    for _, problem in spec_problems({name: value}, allow_host_access=False):
        return problem
    return None


def _expectation_problem(expectation: dict[str, Any]) -> str | None:
    for op, value in expectation.items():
        if op in ("that", "header") or not isinstance(value, str):
            continue
        if op in ("matches", "not_matches"):
            problem = value_problem("the pattern", value)
            if problem:
                return problem
            try:
                compile_pattern(value)
            except PatternError as exc:
                return f"the pattern does not compile: {exc}"
        elif expectation["that"] and not value.startswith("{{ "):
            problem = value_problem("the value", value)
            if problem:
                return problem
    return None


def _heredoc_as_line(command: Command) -> tuple[str, str]:
    """A here-document typed as one line (``printf '%s\\n' LINES | CMD``), and a comment; or
    ("", why not) where that would not mean the same."""
    heredoc = command.heredoc
    assert heredoc is not None
    if not heredoc.terminated:
        return "", f"a here-document with no {heredoc.delimiter!r} line to end it"
    before, after = command.text[: heredoc.at].rstrip(), command.text[heredoc.end :].strip()
    if any(c in before for c in ";&|"):
        return "", "a here-document after other commands on its line: type it as a file"
    body = [line.lstrip("\t") if heredoc.strip_tabs else line for line in heredoc.body]
    if not heredoc.quoted and any(c in line for line in body for c in "$`\\"):
        return "", "a here-document that expands $, ` or \\: it cannot be one typed line"
    quoted = " ".join("'" + line.replace("'", "'\\''") + "'" for line in body)
    feed = f"printf '%s\\n' {quoted}" if body else "printf ''"
    line = f"{feed} | {before} {after}".strip()
    lines = "1 line" if len(body) == 1 else f"{len(body)} lines"
    return line, f"a here-document ({lines}), typed as one line through printf"


# -- options --------------------------------------------------------------------------------------

_Put = Callable[..., bool]
_LeaveOut = Callable[[str], None]


def _flag_option(field_name: str) -> Callable[[SessionDraft, str, _Put, _LeaveOut], None]:
    def handle(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
        if value.lower() in ("false", "0"):
            return
        put(field_name, True)

    return handle


def _plain_option(field_name: str) -> Callable[[SessionDraft, str, _Put, _LeaveOut], None]:
    def handle(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
        put(field_name, value)

    return handle


def _size_option(field_name: str) -> Callable[[SessionDraft, str, _Put, _LeaveOut], None]:
    def handle(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
        put(field_name, value.lower())

    return handle


def _env(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
    name, equals, text = value.partition("=")
    if not equals:
        leave_out(f"it passes the host's own {name} on: its value is not in the article")
        return
    put("env", {name: text})


def _label(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
    name, _, text = value.partition("=")
    put("labels", {name: text})


def _pids(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
    if not value.isdigit() or not value.isascii() or len(value) > 9 or int(value) < 1:
        leave_out("the format takes a limit from 1 (no -1 for none)")
        return
    put("pids_limit", int(value))


def _capability(field_name: str) -> Callable[[SessionDraft, str, _Put, _LeaveOut], None]:
    def handle(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
        for item in value.split(","):
            put(field_name, item.strip().upper().removeprefix("CAP_"), add=True)

    return handle


def _network(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
    mode = "bridge" if value == "default" else value
    if mode not in ("none", "bridge", "host"):
        leave_out("a network of the article's own: the format knows none, bridge and host")
        return
    put("network", mode)


def _tmpfs(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
    path, _, options = value.partition(":")
    item: dict[str, str] = {"path": path}
    for option in filter(None, options.split(",")):
        key, _, setting = option.partition("=")
        if key in ("size", "mode"):
            item[key] = setting.lower() if key == "size" else setting
        else:
            leave_out(f"tmpfs option {option!r}: the format sets a tmpfs's size and mode only")
    put("tmpfs", item if len(item) > 1 else path, add=True)


def _volume(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
    parts = value.split(":")
    if len(parts) == 1:
        put("anonymous_volumes", parts[0], add=True)
        return
    source, target, *modes = parts
    if source.startswith(("/", ".", "~")):
        leave_out(
            "it binds a host path: a scenario binds only directories the suite makes "
            "(declare one under directories:)"
        )
        return
    read_only = False
    for mode in ",".join(modes).split(","):
        if mode == "ro":
            read_only = True
        elif mode not in ("", "rw"):
            leave_out(f"volume option {mode!r}: the format knows ro")
    name = safe_name(source, "volume")
    mount: Any = {"path": target, "read_only": True} if read_only else target
    if put("volumes", {name: mount}) and name not in draft.volumes:
        draft.volumes.append(name)


def _publish(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
    port, _, protocol = value.rsplit(":", 1)[-1].partition("/")
    if protocol not in ("", "tcp") or not port.isdigit() or not 1 <= int(port[:6]) <= 65535:
        leave_out("the format publishes one TCP port of the container")
        return
    put("ports", int(port), add=True)


def _stop_signal(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
    name = _SIGNAL_NUMBERS.get(value, value).upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    if name not in SIGNALS:
        leave_out(f"the format's stop signals are {', '.join(SIGNALS)}")
        return
    put("stop_signal", name)


def _security(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
    if value in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
        put("security_opt", "no-new-privileges", add=True)
    else:
        leave_out("the format's only security option is no-new-privileges")


def _volumes_from(draft: SessionDraft, value: str, put: _Put, leave_out: _LeaveOut) -> None:
    name = value.split(":", 1)[0]
    if name not in draft.container_names:
        leave_out("a container this session did not start")
        return
    put("volumes_from", draft.container_names[name], add=True)


_OPTIONS: dict[str, Callable[[SessionDraft, str, _Put, _LeaveOut], None]] = {
    **{option: _plain_option(name) for option, name in _PLAIN_FIELDS.items()},
    **{option: _size_option(name) for option, name in _SIZE_FIELDS.items()},
    "--cpus": _plain_option("cpus"),
    "--read-only": _flag_option("read_only"),
    "--init": _flag_option("init"),
    "--env": _env,
    "--label": _label,
    "--pids-limit": _pids,
    "--cap-add": _capability("cap_add"),
    "--cap-drop": _capability("cap_drop"),
    "--network": _network,
    "--net": _network,
    "--tmpfs": _tmpfs,
    "--volume": _volume,
    "--publish": _publish,
    "--stop-signal": _stop_signal,
    "--security-opt": _security,
    "--volumes-from": _volumes_from,
}
