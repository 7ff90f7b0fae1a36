"""The comparison report: merging results files, the HTML page, the Markdown, the ``report`` command.

The sample (``tests/data/sample-results.json``) is a real run of the catalogue on three
runtimes: docker with gVisor, docker with --init, and a control that drops -i (87 results).
The page is read back with :mod:`html.parser`, so the assertions are about elements and their
text, not about substrings that might sit anywhere; the browser test renders it for real.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from container_claims.cli import main
from container_claims.report import compare, load_comparison, render_html, render_markdown
from container_claims.report.html import cell_id
from container_claims.report.machines import machine_of, runtime_on_hosts
from container_claims.report.markdown import MAX_BYTES, MAX_PROBLEMS
from container_claims.report.reasons import check_words
from container_claims.report.terminal import summary_lines
from container_claims.report.text import printable
from container_claims.report.verdict_words import VERDICT_WORDS
from tests.support.project import run_cli
from tests.support.shell import shell_scenario

FakeRuntimes = Callable[[Path, Mapping[str, Mapping[str, Any]]], Path]  # the conftest fixture

SAMPLE = Path(__file__).parent / "data" / "sample-results.json"
INJECTED = "<script>alert('x')</script>"
#: What must never reach a terminal (or a page) raw: C0 (but newline and tab), DEL and C1.
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ESCAPED = str(escape(INJECTED))  # as the templates escape it


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text())
    return data


def record(claim: str, runtime: str, verdict: str, **extra: Any) -> dict[str, Any]:
    """A result record as the plugin writes it, with only what a test needs to say."""
    return {
        "scenario": "s",
        "file": "scenarios/s.yaml",
        "line": 3,
        "claim": claim,
        "says": f"{claim} says.",
        "section": "Section",
        "runtime": runtime,
        "verdict": verdict,
        "duration_s": 0.0,
        "scenario_duration_s": 0.1,
        "message": "",
        "evidence": {"checks": [], "steps": []},
        **extra,
    }


def results(
    *records: dict[str, Any], runtimes: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    names = dict.fromkeys(r["runtime"] for r in records)
    return {
        "tool": "container-claims",
        "started": "2026-11-23T18:19:29+00:00",
        "finished": "2026-11-23T18:21:32+00:00",
        "host": {"kernel": "6.1.0-test", "machine": "x86_64", "boot_id": "b"},
        "runtimes": runtimes
        if runtimes is not None
        else [{"name": n, "kind": "docker", "binary": "docker", "run_args": []} for n in names],
        "results": list(records),
        "input_errors": [],
        "summary": {},
    }


class Page(HTMLParser):
    """The report read back: its cell buttons, evidence panels (text) and the elements' ids."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.buttons: list[dict[str, str]] = []
        self.panels: dict[str, str] = {}
        self.badges: list[tuple[str, str]] = []  # (classes, text) of the badges in cells
        self.ids: list[str] = []
        self.tags: list[str] = []
        self._open: list[tuple[str, str | None]] = []  # (tag, panel id being read)
        self._button: dict[str, str] | None = None
        self._badge: list[str] | None = None
        self._badge_depth = 0
        self.feed(text)

    VOID = {"meta", "br", "col", "link", "img", "input", "hr"}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        self.tags.append(tag)
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag == "button" and "data-verdict" in attributes:
            self._button = {**attributes, "text": ""}
            self.buttons.append(self._button)
        if tag == "span" and "badge" in attributes.get("class", "").split() and self._button:
            self._badge = [attributes["class"], ""]
            self._badge_depth = len(self._open)
        panel = attributes["id"] if "popover" in attributes else None
        if tag not in self.VOID:
            inherited = self._open[-1][1] if self._open else None
            self._open.append((tag, panel or inherited))
        if panel:
            self.panels[panel] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._button = None
        while self._open:
            if self._open.pop()[0] == tag:
                break
        if self._badge is not None and len(self._open) == self._badge_depth:
            self.badges.append((self._badge[0], self._badge[1].strip()))
            self._badge = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button["text"] += data
        if self._badge is not None:
            self._badge[1] += data
        if self._open and self._open[-1][1] is not None:
            self.panels[self._open[-1][1]] += data + " "


def words(text: str) -> str:
    return " ".join(text.split())


# -- HTML ---------------------------------------------------------------------------------------


def test_html_has_a_cell_per_claim_and_runtime_with_its_verdict(sample: dict[str, Any]) -> None:
    page = Page(render_html(compare([("sample.json", sample)])))

    shown = {(b["data-claim"], b["data-runtime"]): b["data-verdict"] for b in page.buttons}
    assert shown == {(r["claim"], r["runtime"]): r["verdict"] for r in sample["results"]}
    assert len(page.buttons) == 87
    for button in page.buttons:
        verdict = button["data-verdict"]
        assert button["class"].split() == ["cell", verdict]
        assert button["popovertarget"] == cell_id(button["data-claim"], button["data-runtime"])
        assert button["popovertarget"] in page.panels  # each cell opens its own evidence
        assert VERDICT_WORDS[verdict].label in button["text"]  # a word, not colour alone
    assert set(page.badges) == {
        ("badge pass", "✓pass"),
        ("badge fail", "✗fail"),
        ("badge error", "!error"),
    }
    assert len(page.ids) == len(set(page.ids))  # ids are unique


def test_html_groups_rows_by_section_in_the_order_of_the_results(sample: dict[str, Any]) -> None:
    html = render_html(compare([("sample.json", sample)]))

    sections = re.findall(r'<th class="section"[^>]*><span[^>]*>([^<]*)</span></th>', html)
    assert sections == ["Interactive shell", "Filesystem", "Process namespace"]
    rows = re.findall(r'<th class="claim" scope="row" id="r-([^"]+)"', html)
    claims = list(dict.fromkeys(r["claim"] for r in sample["results"]))
    by_section = sorted(
        claims,
        key=lambda c: sections.index(
            next(r["section"] for r in sample["results"] if r["claim"] == c)
        ),
    )
    assert rows == by_section  # stable: within a section, the results' order
    assert (
        escape("A command after the image name runs instead of the image's default command.")
        in html
    )


def test_html_failing_cell_shows_expected_observed_steps_and_transcript(
    sample: dict[str, Any],
) -> None:
    page = Page(render_html(compare([("sample.json", sample)])))

    evidence = words(page.panels[cell_id("shell-is-pid-1", "docker-init")])
    assert "shell_pid equals" in evidence
    assert "does not hold" in evidence
    assert re.search(r"expected 1 observed 7\b", evidence)
    assert "typed 'echo $$' → shell_pid" in evidence  # the step that observed it
    assert "Terminal transcript" in evidence
    assert "/sbin/docker-init -- /bin/bash" in evidence  # from the transcript: why not PID 1
    assert "Same claim on docker-gvisor ✓ pass docker-no-stdin ! error" in evidence


def test_html_error_and_not_applicable_cells_give_the_reason() -> None:
    data = results(
        record("a", "r1", "error", message="engine down: connection refused"),
        record("a", "r2", "not-applicable", message="the runtime has no image store"),
    )

    page = Page(render_html(compare([("r.json", data)])))

    assert "Why no verdict engine down: connection refused" in words(
        page.panels[cell_id("a", "r1")]
    )
    assert "Why not applicable the runtime has no image store" in words(
        page.panels[cell_id("a", "r2")]
    )
    assert [b["text"].split()[-1] for b in page.buttons] == ["refused", "store"]  # the hint
    assert {b["data-verdict"] for b in page.buttons} == {"error", "not-applicable"}


def test_html_escapes_everything_from_the_results() -> None:
    bad = copy.deepcopy(
        record(
            "claim-<b>",
            'rt"><script>',
            "fail",
            says=INJECTED,
            section=INJECTED,
            message=INJECTED,
            evidence={
                "checks": [
                    {"that": INJECTED, "op": "equals", "expected": INJECTED, "observed": INJECTED}
                ],
                "steps": [{"line": 1, "step": INJECTED, "save": "x", "value": {"o": INJECTED}}],
                "transcript": f"$ cat page\n{INJECTED}\n\x1b[31mred\x1b[0m",
                "stopped": INJECTED,
            },
        )
    )
    runtimes = [{"name": 'rt"><script>', "kind": INJECTED, "version": {INJECTED: INJECTED}}]

    html = render_html(compare([(INJECTED, results(bad, runtimes=runtimes))]))

    assert html.count("<script") == 1  # the page's own script, nothing injected
    assert "<b>" not in html
    assert html.count(ESCAPED) >= 10
    assert escape('"><script>') in html  # quotes escaped inside attributes too
    assert "\x1b" not in html and "red" in html  # terminal colours dropped, text kept
    page = Page(html)
    (button,) = page.buttons
    assert button["data-runtime"] == 'rt"><script>'  # the attribute holds the exact name


def test_html_is_self_contained(sample: dict[str, Any]) -> None:
    html = render_html(compare([("sample.json", sample)]))

    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<style>") == 1 and html.count("<script>") == 1
    for external in ("src=", "<link", "@import", "url(", "http://", "https://"):
        assert external not in html, external


def test_html_header_shows_run_host_and_every_runtime_key() -> None:
    runtimes = [
        {
            "name": "podman",
            "kind": "docker",
            "binary": "podman",
            "run_args": ["--security-opt", "label=disable"],
            "env": {"CONTAINER_HOST": "unix:///run/podman.sock"},
            "version": {"engine": "4.3.1"},
            "image": {"ref": "container-claims/test:bookworm", "id": "sha256:" + "ab" * 32},
            "description": "rootful Podman",
        }
    ]
    data = results(record("a", "podman", "pass"), runtimes=runtimes)

    html = render_html(compare([("r.json", data)]))

    header = html[html.index("<header>") : html.index('<h2 id="matrix-heading">')]
    for text in (
        "2026-11-23 18:19 – 18:21 UTC",
        "6.1.0-test",
        "x86_64",
        "podman",
        "--security-opt label=disable",
        "CONTAINER_HOST=unix:///run/podman.sock",
        ">engine<",
        "4.3.1",
        ">image<",
        "container-claims/test:bookworm",
        'title="sha256:' + "ab" * 32 + '"',
        "rootful Podman",
        "1 pass",
    ):
        assert text in header, text


# -- merging ------------------------------------------------------------------------------------


def test_merge_later_file_wins_and_the_report_says_so() -> None:
    first = results(
        record("a", "docker", "pass"), record("b", "docker", "fail"), record("b", "podman", "pass")
    )
    second = results(record("b", "docker", "pass"), record("c", "crun", "error"))

    comparison = compare([("first.json", first), ("second.json", second)])

    assert list(comparison.runtimes) == ["docker", "podman", "crun"]
    assert [claim.id for claim in comparison.claims] == ["a", "b", "c"]
    cell = comparison.cell("b", "docker")
    assert cell is not None and cell.verdict == "pass" and cell.source.name == "second.json"
    assert comparison.cell("c", "docker") is None
    assert comparison.notes == [
        "docker: 1 result from second.json replace those from first.json (the later file wins): b."
    ]
    html = render_html(comparison)
    assert "docker: 1 result from second.json replace those from first.json" in html
    page = Page(html)
    assert len(page.buttons) == 4  # 3 claims x 3 runtimes, 5 of them not run
    assert html.count('<td class="none"') == 5
    assert "from second.json" in words(page.panels[cell_id("b", "docker")])
    markdown = render_markdown(comparison)
    assert "docker: 1 result from second.json replace those from first.json" in markdown
    assert ", from second.json`" in next(  # each listed problem says which file it is from
        line for line in markdown.splitlines() if line.startswith("- **ERROR** `c` on **crun**")
    )


def test_merge_of_files_from_the_cli(
    tmp_path: Path,
    sample: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the runtimes' names over the columns
    rerun = results(
        record("shell-is-pid-1", "docker-init", "pass"), record("shell-is-pid-1", "podman", "pass")
    )
    (tmp_path / "rerun.json").write_text(json.dumps(rerun))

    assert main(["report", str(SAMPLE), str(tmp_path / "rerun.json")]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["claim", "docker-gvisor", "docker-init", "docker-no-stdin", "podman"]
    row = next(line for line in out if line.strip().startswith("shell-is-pid-1 "))
    assert row.split() == ["shell-is-pid-1", "pass", "pass", "ERROR", "pass"]
    assert out[-1].startswith("note: docker-init: 1 result from ")


# -- Markdown -----------------------------------------------------------------------------------


def table_rows(markdown: str) -> list[list[list[str]]]:
    """Each table as rows of cells, split where GitHub splits: at pipes without a backslash."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in markdown.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(re.split(r"(?<!\\)\|", line.strip())[1:-1])
        previous = line
    return tables


def test_markdown_tables_keep_their_shape_whatever_the_text() -> None:
    data = results(
        record("a", "r|1", "pass", says="Pipes | and\nnewlines | inside"),
        record("a", "r2", "fail", says="Pipes | and\nnewlines | inside"),
        record("b", "r|1", "error", section="Second | section", message="a | b\nc"),
    )

    markdown = render_markdown(compare([("r.json", data)]))

    tables = table_rows(markdown)
    assert len(tables) == 4  # runtimes by family, runtimes, then a table per section
    for table in tables:
        assert len({len(row) for row in table}) == 1, table
    families, runtimes_table, first, second = tables
    assert [len(families[0]), len(runtimes_table[0]), len(first[0])] == [7, 4, 3]
    assert first[2] == [" `a` Pipes \\| and newlines \\| inside ", " pass ", " **FAIL** "]
    assert second[2] == [" `b` b says. ", " **ERROR** ", " – "]
    assert "### Second \\| section" in markdown
    assert "\nnewlines" not in markdown


def test_markdown_lists_failures_with_expected_and_observed(sample: dict[str, Any]) -> None:
    markdown = render_markdown(compare([("sample.json", sample)]))

    failures = markdown[markdown.index("### Failures and errors") :].splitlines()
    items = [line for line in failures if line.startswith("- ")]
    assert len(items) == 18 + 23
    assert (
        "- **FAIL** `shell-is-pid-1` on **docker-init**: `shell_pid` equals: "
        "expected `1`, observed `7` (`scenarios/process-namespace.yaml:58`)"
    ) in items
    assert any(
        item.startswith(
            "- **ERROR** `copy-on-write-no-full-copy` on **docker-gvisor**: observation"
        )
        for item in items
    )
    assert (
        "| `shell-is-pid-1` The shell is PID 1 inside the container. | pass | **FAIL** | **ERROR** |"
        in markdown
    )


def test_markdown_escapes_html_and_markdown_in_evidence() -> None:
    data = results(
        record(
            "a",
            "r",
            "fail",
            evidence={
                "checks": [
                    {
                        "that": "x",
                        "op": "equals",
                        "expected": "`tick`",
                        "observed": INJECTED,
                        "ok": False,
                    }
                ]
            },
        ),
        record("b", "r", "error", message=f"*bold* {INJECTED}"),
    )

    markdown = render_markdown(compare([("r.json", data)]))

    assert "<script>" not in markdown.replace(f"`{INJECTED}`", "")  # only inside code
    assert f"observed `{INJECTED}`" in markdown
    assert "expected `` `tick` ``" in markdown  # a longer fence around backticks
    assert "\\*bold\\* \\<script\\>alert('x')\\</script\\>" in markdown


def test_markdown_stays_under_githubs_summary_limit() -> None:
    huge = "x" * 5000 + "\n" + "y" * 5000
    records = [
        record(
            f"claim-{n}",
            runtime,
            "fail",
            says="A claim that is long enough to matter. " * 3,
            evidence={
                "checks": [
                    {"that": "v", "op": "equals", "expected": huge, "observed": huge, "ok": False}
                ],
                "transcript": huge,
            },
        )
        for n in range(3000)
        for runtime in ("docker", "podman", "crun")
    ]
    comparison = compare([("big.json", results(*records))])

    markdown = render_markdown(comparison)
    small = render_markdown(comparison, max_bytes=30_000)

    assert len(markdown.encode()) <= MAX_BYTES
    items = [line for line in markdown.splitlines() if line.startswith("- ")]
    assert len(items) == MAX_PROBLEMS + 1  # the first ones, then a count of the rest
    assert items[-1] == f"- … and {9000 - MAX_PROBLEMS} more (see the HTML report or the JSON)"
    assert "| `claim-2999`" in markdown  # the tables are whole
    assert "x" * 100 not in markdown  # evidence cut short
    assert len(small.encode()) <= 30_000
    assert "the tables are cut short here to fit" in small
    assert "- … and 9000 more" in small  # no room for the list at all
    for table in table_rows(small):
        assert len({len(row) for row in table}) == 1
        assert len(table) >= 3  # a head, its separator, and rows: never cut after the head


# -- text ---------------------------------------------------------------------------------------


def test_printable_drops_colours_and_shows_control_characters() -> None:
    assert printable("\x1b[01;34mbin\x1b[0m\r\nok\x07") == "bin\nok\\x07"


#: Escapes a results file, a scenario or a container may carry, and how each is shown.
ESCAPES = {
    "\x1b]52;c;aGk=\x07": "\\x1b]52;c;aGk=\\x07",  # OSC 52: writes the clipboard
    "\x1b]0;title\x1b\\": "\\x1b]0;title\\x1b\\",  # OSC 0: the window's title
    "\x1b[2J\x1b[H": "\\x1b[2J\\x1b[H",  # CSI: clears the screen
    "\x1bP1$qm\x1b\\": "\\x1bP1$qm\\x1b\\",  # DCS
    "\x1b_Gf=100\x1b\\": "\\x1b_Gf=100\\x1b\\",  # APC (kitty's graphics)
    "\x9b2J": "\\u009b2J",  # C1 CSI in one character
    "\x9d0;t\x9c": "\\u009d0;t\\u009c",  # C1 OSC and ST
    "\x00\x7f\x85\x9f": "\\x00\\x7f\\u0085\\u009f",
    "\x1b[8mhidden\x1b[0m": "hidden",  # a colour or attribute: dropped, the text shown
}


@pytest.mark.parametrize("raw", list(ESCAPES), ids=range(len(ESCAPES)))
def test_printable_shows_every_control_character_as_an_escape(raw: str) -> None:
    shown = printable(f"a{raw}b\tc\nd")

    assert shown == f"a{ESCAPES[raw]}b\tc\nd"  # lines and tabs kept in multi-line text
    assert printable(f"a{raw}b\tc\nd", lines=False) == f"a{ESCAPES[raw]}b\\tc\\nd"
    assert printable(shown) == shown  # nothing left to show
    assert not CONTROLS.search(printable(raw, lines=False))


def test_printable_leaves_text_without_controls_as_it_is() -> None:
    text = "é ü — ✓ 中文 \\x1b 🐳 \u00a0"
    assert printable(text) is text and printable(text, lines=False) is text


def _hostile(raw: str) -> dict[str, Any]:
    """A results document whose every text carries ``raw``."""
    bad = record(
        f"claim{raw}",
        f"rt{raw}",
        "fail",
        says=f"says{raw}",
        section=f"section{raw}",
        source=f"source{raw}",
        file=f"scenarios/s{raw}.yaml",
        message=f"message{raw}",
        evidence={
            "checks": [
                {
                    "that": f"that{raw}",
                    "op": f"equals{raw}",
                    "expected": f"1{raw}",
                    "observed": {f"key{raw}": [f"2{raw}\n{raw}"]},
                    "ok": False,
                    "line": 4,
                }
            ],
            "steps": [
                {"line": 1, "step": f"run{raw}", "save": "x", "value": {f"k{raw}": f"v{raw}"}},
                {"line": 2, "step": "exec", "save": "y", "error": f"error{raw}"},
            ],
            "transcript": f"$ cat\r\n{raw}\r\n",
            "stopped": f"stopped{raw}",
        },
        expectation={
            "status": "unexpected",
            "verdict": "error",
            "reason": f"reason{raw}",
            "link": f"https://example.com/{raw}",
            "where": f"e.yaml:3{raw}",
        },
    )
    runtimes = [
        {
            "name": f"rt{raw}",
            "kind": f"docker{raw}",
            "run_args": [f"--x{raw}"],
            "env": {f"E{raw}": f"v{raw}"},
            "version": {f"engine{raw}": f"1{raw}"},
            "machine": {"address": f"ssh://root@edge{raw}", "hostname": f"edge{raw}"},
        }
    ]
    data = results(bad, runtimes=runtimes)
    data["host"]["kernel"] = f"6.1{raw}"
    data["input_errors"] = [{"file": f"b{raw}.yaml", "line": 1, "message": f"bad{raw}"}]
    return data


@pytest.mark.parametrize("raw", list(ESCAPES)[:-1], ids=range(len(ESCAPES) - 1))
def test_no_report_carries_a_control_character_raw(raw: str) -> None:
    comparison = compare([(f"r{raw}.json", _hostile(raw))])
    outputs = {
        "html": render_html(comparison),
        "markdown": render_markdown(comparison),
        "matrix": "\n".join(summary_lines(comparison.to_results())),
    }

    for name, text in outputs.items():
        assert not CONTROLS.search(text), name
        assert ESCAPES[raw] in text or str(escape(ESCAPES[raw])) in text, name


# -- the report command -------------------------------------------------------------------------


def test_report_without_options_prints_the_matrix(
    sample: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(SAMPLE)]) == 0

    captured = capsys.readouterr()
    assert captured.out.splitlines() == summary_lines(sample)
    assert captured.err == ""


def test_report_writes_html_and_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html, markdown = tmp_path / "out" / "report.html", tmp_path / "out" / "summary.md"

    assert main(["report", str(SAMPLE), "--html", str(html), "--markdown", str(markdown)]) == 0

    assert len(Page(html.read_text(encoding="utf-8")).buttons) == 87
    assert markdown.read_text(encoding="utf-8").startswith(
        "## Container claims: 29 claims on 3 runtimes\n"
    )
    captured = capsys.readouterr()
    assert captured.out == ""  # the matrix is printed only when no file is asked for
    assert f"wrote {html} (29 claims on 3 runtimes)" in captured.err
    assert sorted(p.name for p in html.parent.iterdir()) == ["report.html", "summary.md"]


def test_report_markdown_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(SAMPLE), "--markdown", "-"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("## Container claims: 29 claims on 3 runtimes\n")
    assert "### Failures and errors" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "{path}: no such results file"),
        ("{not json", "{path}:1: not JSON (Expecting property name enclosed in double quotes)"),
        ("[1, 2]", "{path}: not a container-claims results file (no 'results' list)"),
        ('{"results": "none"}', "{path}: not a container-claims results file (no 'results' list)"),
        (
            '{"results": [{"claim": "a", "verdict": "pass"}]}',
            "{path}: results[0] lacks runtime; not a container-claims results file",
        ),
        ('{"results": [], "runtimes": {}}', "{path}: 'runtimes' is not a list"),
    ],
    ids=[
        "missing",
        "not-json",
        "not-a-mapping",
        "results-not-a-list",
        "record-incomplete",
        "runtimes",
    ],
)
def test_report_on_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)

    assert main(["report", str(SAMPLE), str(path), "--html", str(tmp_path / "r.html")]) == 2

    err = capsys.readouterr().err
    assert err.startswith("container-claims: " + message.format(path=path))
    assert err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()  # nothing half-made


def test_report_without_files_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["report"])

    assert info.value.code == 2
    assert "RESULTS.json" in capsys.readouterr().err


def test_load_comparison_reads_files_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(results(record("a", "one", "fail"))))
    (tmp_path / "b.json").write_text(json.dumps(results(record("a", "one", "pass"))))

    comparison = load_comparison([tmp_path / "a.json", tmp_path / "b.json"])

    assert [s.name for s in comparison.sources] == [
        str(tmp_path / "a.json"),
        str(tmp_path / "b.json"),
    ]
    cell = comparison.cell("a", "one")
    assert cell is not None and cell.verdict == "pass"


# -- run --html --markdown ----------------------------------------------------------------------

SCENARIO = shell_scenario(
    ("shell-is-pid-1", "The shell is PID 1.", "shell_pid", 1),
    ("shell-is-pid-2", "The shell is PID 2.", "shell_pid", 2),
)


def test_run_writes_the_html_and_markdown_reports(
    tmp_path: Path, fake_runtimes: FakeRuntimes
) -> None:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "shell.yaml").write_text(SCENARIO)
    fake_runtimes(
        tmp_path, {"fake": {"typed": {"echo $$": "1"}}, "other": {"typed": {"echo $$": "2"}}}
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "container_claims",
            "run",
            "--runtimes-file",
            "runtimes.yaml",
            "--runtime",
            "fake",
            "--runtime",
            "other",
            "--html",
            "out/report.html",
            "--markdown",
            "out/summary.md",
            "--",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert proc.returncode == 1, proc.stdout + proc.stderr  # a claim failed: the run's own code
    page = Page((tmp_path / "out" / "report.html").read_text(encoding="utf-8"))
    assert {(b["data-claim"], b["data-runtime"], b["data-verdict"]) for b in page.buttons} == {
        ("shell-is-pid-1", "fake", "pass"),
        ("shell-is-pid-1", "other", "fail"),
        ("shell-is-pid-2", "fake", "fail"),
        ("shell-is-pid-2", "other", "pass"),
    }
    assert re.search(
        r"expected 1 observed 2\b", words(page.panels[cell_id("shell-is-pid-1", "other")])
    )
    markdown = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "| `shell-is-pid-1` The shell is PID 1. | pass | **FAIL** |" in markdown
    assert (
        "- **FAIL** `shell-is-pid-2` on **fake**: `shell_pid` equals: expected `2`, observed `1`"
        in markdown
    )
    assert "wrote out/report.html (2 claims on 2 runtimes)" in proc.stderr


def test_each_claim_says_which_article_it_comes_from() -> None:
    page = render_html(
        compare(
            [
                (
                    "r.json",
                    results(
                        record("a", "docker", "pass", source="Interactive Docker containers"),
                        record("b", "docker", "pass", source="docker run <reference>"),
                    ),
                )
            ]
        )
    )

    wheres = re.findall(r'<span class="where">([^<]*)</span></th>', page)
    assert wheres == [
        "from Interactive Docker containers · scenarios/s.yaml:3",
        f"from {escape('docker run <reference>')} · scenarios/s.yaml:3",
    ]


def test_check_words_end_before_the_colon_the_reports_add() -> None:
    assert check_words({"that": "ps_aux", "op": "rows"}) == "ps_aux has this many rows"


def test_a_runtime_on_another_machine_says_which_in_both_reports() -> None:
    data = results(record("a", "docker-edge", "pass"))
    data["runtimes"] = [
        {
            "name": "docker-edge",
            "kind": "docker",
            "machine": {"address": "ssh://root@edge-1", "hostname": "edge-1"},
        }
    ]
    comparison = compare([("edge.json", data)])

    assert "on edge-1 (ssh://root@edge-1)" in render_html(comparison)
    assert "| docker on edge-1 (ssh://root@edge-1) |" in render_markdown(comparison)


# -- runtimes on other machines: --host ---------------------------------------------------------

#: Runtimes on four machines' worth of records: this one (named by its hostname), two reached
#: over ssh (one by its IP address), and one from an older file that says no machine (local).
FLEET: dict[str, dict[str, str] | None] = {
    "docker": {"address": "local", "hostname": "vm", "kernel": "6.1", "boot_id": "b0"},
    "docker@edge-1": {"address": "ssh://root@edge-1:22", "hostname": "edge-1", "kernel": "6.1"},
    "docker@edge-2": {"address": "ssh://root@10.0.0.2", "hostname": "edge-2", "kernel": "6.1"},
    "old": None,
}


def fleet(verdicts: Mapping[str, str]) -> dict[str, Any]:
    """Results of claims a, b, c on some of :data:`FLEET`: ``{"docker": "pfe"}`` is pass,
    fail and error on docker."""
    words = {"p": "pass", "f": "fail", "e": "error", "n": "not-applicable"}
    return results(
        *(
            record(claim, runtime, words[letter])
            for runtime, letters in verdicts.items()
            for claim, letter in zip("abc", letters, strict=True)
        ),
        runtimes=[
            {"name": name, "kind": "docker", **({"machine": machine} if machine else {})}
            for name, machine in FLEET.items()
            if name in verdicts
        ],
    )


ALL_PASS = {name: "ppp" for name in FLEET}


@pytest.mark.parametrize(
    ("patterns", "kept"),
    [
        ([], ["docker", "docker@edge-1", "docker@edge-2", "old"]),  # no filter: every one
        (["edge-1"], ["docker@edge-1"]),  # a hostname
        (["edge-2"], ["docker@edge-2"]),  # a hostname that is not in its address
        (["10.0.0.2"], ["docker@edge-2"]),  # the name in an address
        (["ssh://root@edge-1:22"], ["docker@edge-1"]),  # a whole address
        (["edge-*"], ["docker@edge-1", "docker@edge-2"]),  # a glob
        (["ssh://*@10.0.0.?"], ["docker@edge-2"]),
        (["local"], ["docker", "old"]),  # this machine: address local, or no machine said
        (["vm"], ["docker"]),  # this machine by its hostname
        (["edge-2", "local"], ["docker", "docker@edge-2", "old"]),  # repeated: either
    ],
    ids=[
        "none",
        "hostname",
        "hostname-only",
        "address-name",
        "address",
        "glob",
        "address-glob",
        "local",
        "local-hostname",
        "repeated",
    ],
)
def test_report_host_keeps_only_the_runtimes_on_matching_machines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], patterns: list[str], kept: list[str]
) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(fleet(ALL_PASS)))

    argv = ["report", str(path), *(arg for pattern in patterns for arg in ("--host", pattern))]
    assert main(argv) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["claim", *kept]  # the matrix's columns
    assert f"{3 * len(kept)} pass" in out  # the totals count only those
    left_out = [name for name in FLEET if name not in kept]
    notes = [line for line in out if line.startswith("note:")]
    assert notes == (
        [f"note: Only the runtimes on the machines --host names; left out: {', '.join(left_out)}."]
        if patterns
        else []
    )


def test_host_patterns_are_case_sensitive_globs_and_an_unknown_one_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(fleet(ALL_PASS)))

    assert main(["report", str(path), "--host", "edge-1", "--host", "EDGE-1"]) == 2

    err = capsys.readouterr().err
    assert err == (
        "container-claims: --host 'EDGE-1' matches no machine in the results; they ran on: "
        "vm (local), edge-1 (ssh://root@edge-1:22), edge-2 (ssh://root@10.0.0.2), local\n"
    )


def test_report_host_filters_the_html_and_markdown_too(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(fleet({"docker": "ppp", "docker@edge-1": "pfp"})))

    assert main(["report", str(path), "--host", "edge-1", "--markdown", str(tmp_path / "r.md"),
                 "--html", str(tmp_path / "r.html")]) == 0  # fmt: skip

    markdown = (tmp_path / "r.md").read_text()
    assert "| claim | docker@edge-1 |" in markdown
    assert "| docker |" not in markdown
    assert "left out: docker." in markdown
    page = Page((tmp_path / "r.html").read_text())
    assert {b["data-runtime"] for b in page.buttons} == {"docker@edge-1"}


def test_which_machine_a_runtime_ran_on() -> None:
    unread = {"address": "ssh://edge-3", "hostname": "unknown (Connection refused)"}
    assert machine_of({"name": "old"}) == ("local", "local")
    assert machine_of({"machine": FLEET["docker"]}) == ("vm", "local")
    assert machine_of({"machine": FLEET["docker@edge-2"]}) == ("edge-2", "ssh://root@10.0.0.2")
    assert machine_of({"machine": unread}) == ("edge-3", "ssh://edge-3")  # named by its address
    assert runtime_on_hosts({"machine": unread}, ["edge-3"])
    assert not runtime_on_hosts({"machine": unread}, ["unknown*"])  # not a hostname
    assert not runtime_on_hosts({"machine": FLEET["docker@edge-1"]}, ["edge", "root", "22"])
    assert not runtime_on_hosts({"machine": FLEET["docker"]}, [])


# -- the matrix's size --------------------------------------------------------------------------


def test_the_matrix_cuts_long_ids_and_names_to_a_fixed_width() -> None:
    long_id, long_name = "a-" * 300_000 + "z", "r" * 10_000
    data = results(
        record(long_id, long_name, "pass", section="s" * 10_000),
        *(record(f"claim-{n}", long_name, "fail") for n in range(1000)),
    )

    lines = summary_lines(compare([("r.json", data)]).to_results(), width=260)

    assert max(len(line) for line in lines) <= 260
    assert sum(map(len, lines)) < 100_000
    assert lines[0] == "claim".ljust(52) + "r" * 23 + "…  "
    assert lines[1] == "s" * 99 + "…:"
    assert lines[2] == "  " + long_id[:47] + "…  pass" + " " * 22
    assert lines[3] == "Section:"
    assert lines[4].startswith("  claim-0 ") and lines[4].rstrip().endswith("FAIL")


def test_the_matrix_grows_with_the_verdicts_never_with_claims_times_runtimes() -> None:
    """Every claim on a runtime of its own: a block of columns holds only the rows that have
    a verdict there, so n verdicts print about n rows, not n rows of n columns."""
    count = 2000
    data = results(*(record(f"alone-{n}", f"runtime-{n}", "pass") for n in range(count)))

    lines = summary_lines(compare([("r.json", data)]).to_results(), width=120)

    assert sum(map(len, lines)) < 200 * count
    assert max(map(len, lines)) <= 120
    heads = [line for line in lines if line.startswith("claim ")]
    per_block = (120 - 14) // 7  # the names are numbered (a legend says which is which)
    assert len(heads) == -(-count // per_block)
    assert heads[0] == "claim".ljust(14) + "".join(str(n).ljust(7) for n in range(1, 16))
    assert len([line for line in lines if line.startswith("  alone-")]) == count
    start = lines.index(heads[0])
    assert lines[start + 1 : start + 3] == [
        "Section:",
        "  alone-0".ljust(14) + "pass".ljust(7) + "-".ljust(7) * 14,
    ]


def test_runtimes_that_do_not_fit_the_width_come_in_further_blocks() -> None:
    names = [f"rt{n}" for n in range(10)]
    data = results(
        *(record("shared", name, "pass") for name in names), record("last", "rt9", "fail")
    )

    lines = summary_lines(compare([("r.json", data)]).to_results(), width=66)

    assert lines == [
        "claim     " + "".join(name.ljust(7) for name in names[:8]),
        "Section:",
        "  shared  " + "pass   " * 8,
        "claim     rt8    rt9    ",
        "Section:",
        "  shared  pass   pass   ",
        "  last    -      FAIL   ",
        "10 pass, 1 fail",
    ]


def test_the_end_of_run_matrix_of_a_scenario_with_a_huge_claim_id_stays_small(
    tmp_path: Path, fake_runtimes: FakeRuntimes
) -> None:
    """A 600 KB claim id and 300 claims beside it: the run prints kilobytes, not the id
    padded onto every row (1.2 GB before)."""
    claims = [
        f"  - {{id: {'a-' * 300_000}z, says: Long., expect: [{{that: runtime, equals: fake}}]}}"
    ]
    claims += [
        f"  - {{id: claim-{n}, says: Short., expect: [{{that: runtime, equals: fake}}]}}"
        for n in range(300)
    ]
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "long.yaml").write_text(
        "section: Long\nclaims:\n" + "\n".join(claims) + "\n"
    )
    fake_runtimes(tmp_path, {"fake": {}})

    done = run_cli("--runtimes-file", "runtimes.yaml", "--json", "out.json", cwd=tmp_path)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(done.stdout) + len(done.stderr) < 50_000
    assert "  " + "a-" * 23 + "a…  pass" in done.stdout
    (record_,) = [
        r
        for r in json.loads((tmp_path / "out.json").read_text())["results"]
        if r["claim"].startswith("a-")
    ]
    assert record_["claim"] == "a-" * 300_000 + "z"  # the JSON has it whole


def test_more_than_sixteen_runtimes_make_further_tables_with_their_claims() -> None:
    names = [f"rt{n}" for n in range(20)]
    data = results(
        *(record("shared", name, "pass") for name in names),
        record("first-only", "rt0", "fail"),
        record("last-only", "rt19", "fail"),
    )

    html = render_html(compare([("r.json", data)]))

    tables = re.findall(r'<table class="matrix" id="([^"]+)"', html)
    assert tables == ["matrix", "matrix-2"]
    first, second = html.split('id="matrix-2"')
    assert 'id="r-first-only"' in first and "r-last-only" not in first
    assert 'id="r-shared-2"' in second and "first-only" not in second.split("</table>")[0]
    page = Page(html)
    assert len(page.buttons) == 22  # every verdict once
    assert len(page.ids) == len(set(page.ids))
    panel = page.panels[cell_id("shared", "rt0")]
    assert "rt15" in panel and "rt16" not in panel  # others: the runtimes of its own table


def test_the_page_grows_with_the_verdicts_never_with_claims_times_runtimes() -> None:
    count = 1500
    data = results(*(record(f"alone-{n}", f"runtime-{n}", "pass") for n in range(count)))

    html = render_html(compare([("r.json", data)]))
    markdown = render_markdown(compare([("r.json", data)]))

    assert len(Page(html).buttons) == count
    assert len(html) < 6_000 * count
    assert len(markdown.encode()) <= MAX_BYTES
    assert "_… the tables are cut short here to fit._" in markdown


def test_the_runtimes_table_has_columns_for_48_keys_at_most() -> None:
    runtimes = [
        {"name": f"rt{n}", "kind": "docker", "version": {f"component-{n}": "1"}} for n in range(200)
    ]
    data = results(*(record("a", f"rt{n}", "pass") for n in range(200)), runtimes=runtimes)

    html = render_html(compare([("r.json", data)]))

    runtimes_table = html[html.index('<table class="runtimes-table">') :].split("</table>")[0]
    assert runtimes_table.count('<th scope="col">component-') == 47  # kind and 47 versions
    assert "153 more keys of the runtimes&#39; records are left out here" in html


def test_markdown_cuts_long_ids_and_names() -> None:
    long_id, long_name = "a-" * 5_000 + "z", "r" * 1_000
    data = results(record(long_id, long_name, "fail"))

    markdown = render_markdown(compare([("r.json", data)]))

    assert max(len(line) for line in markdown.splitlines()) < 1_000
    assert f"`{long_id[:99]}…`" in markdown


def test_markdown_shows_the_end_of_a_steps_stderr_beside_a_fail_or_an_error() -> None:
    def step(stderr: str, *, partial: bool = False) -> dict[str, Any]:
        outcome = {"output": "", "status": 1, "completed": not partial, "stderr": stderr}
        return {
            "line": 4,
            "step": "run x",
            "save": "x",
            ("partial" if partial else "value"): outcome,
        }

    failing = {"that": "x.status", "op": "equals", "expected": 0, "observed": 1, "ok": False}
    data = results(
        record(
            "fails",
            "r",
            "fail",
            evidence={"checks": [failing], "steps": [step("a" * 500 + "\nfatal: `|` \x1b[2J")]},
        ),
        record(
            "errs",
            "r",
            "error",
            message="line 9: no complete observation",
            evidence={"checks": [], "steps": [step("still starting", partial=True)]},
        ),
        record("quiet", "r", "fail", evidence={"checks": [failing], "steps": [step("")]}),
    )

    markdown = render_markdown(compare([("r.json", data)]))

    items = {line.split("`")[1]: line for line in markdown.splitlines() if line.startswith("- ")}
    shown = "a" * 74 + r"\nfatal: `|` \x1b[2J"  # its last 90 characters, escaped, fenced
    assert items["fails"].endswith(
        f"observed `1`; stderr: ``(426 characters before) …{shown}`` (`scenarios/s.yaml:3`)"
    )
    assert items["errs"].endswith("; stderr: `still starting` (`scenarios/s.yaml:3`)")
    assert "stderr" not in items["quiet"]
