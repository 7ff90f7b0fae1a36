"""Reports of a dozen runtimes: columns grouped by family, the terminal's matrix no wider than
the terminal, and a runtime that could not run shown as one line, in every format.

The results are the sample's real records spread over twelve runtimes in six families, and a
thirteenth that could not run (``tests/support/wide_results.py``); the browser test looks at
the same page (``tests/integration/test_report_in_browser.py``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from container_claims.report import compare, render_html, render_markdown
from container_claims.report.layout import as_shown, family_of
from container_claims.report.terminal import NO_TERMINAL_WIDTH, summary_lines
from container_claims.runtimes import runtime_class
from tests.support.project import run_cli
from tests.support.wide_results import DOWN, DOWN_REASON, WIDE, wide_results
from tests.test_report import FakeRuntimes, Page, record, results

FAMILIES = ["Docker engine", "Podman", "plain namespaces", "containerd", "lxc", "nspawn"]
GROUPED = [name for family in FAMILIES for name, (_, f) in WIDE.items() if f == family]
DOWN_LINE = f"{DOWN} (Podman) could not run here: {DOWN_REASON}"


@pytest.fixture(scope="module")
def wide() -> dict[str, Any]:
    return wide_results()


def test_a_family_is_what_the_record_says_else_the_kind() -> None:
    assert family_of({"family": "Docker engine", "kind": "docker"}) == "Docker engine"
    assert family_of({"kind": "lxc"}) == "lxc"  # results of earlier versions: the kind
    assert family_of({"family": " ", "kind": ""}) == "other"
    # The kinds declare theirs; the reports read them from the results, not from names.
    assert runtime_class("docker").family == "Docker engine"
    assert runtime_class("podman").family == "Podman"
    assert runtime_class("unshare").family == runtime_class("bwrap").family == "plain namespaces"


# -- the terminal --------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 160, 240])
def test_no_line_of_the_matrix_is_wider_than_the_terminal(wide: dict[str, Any], width: int) -> None:
    lines = summary_lines(compare([("wide.json", wide)]).to_results(), width=width)

    assert max(map(len, lines)) <= width, max(lines, key=len)
    # and every verdict is still there: one row per claim and block, a cell per runtime
    verdicts = sum(len(re.findall(r"\b(pass|FAIL|ERROR|n/a)\b", line[4:])) for line in lines)
    shown = [r for r in wide["results"] if r["runtime"] != DOWN]
    assert verdicts >= len(shown)


def test_the_matrix_names_its_columns_or_numbers_them_with_a_legend(wide: dict[str, Any]) -> None:
    data = compare([("wide.json", wide)]).to_results()

    roomy = summary_lines(data, width=300)
    narrow = summary_lines(data, width=100)

    heads = [line for line in roomy if line.startswith("claim ")]
    assert len(heads) == 1 and heads[0].split()[1:] == GROUPED  # named, grouped by family
    assert roomy[0].split("  ")[0] == "" and roomy[0].split()[:3] == ["Docker", "engine", "Podman"]
    assert narrow[:6] == [
        "Docker engine: 1 docker, 2 gvisor, 3 docker-crun, 4 docker-rootless",
        "Podman: 5 podman, 6 podman-crun, 7 podman-rootless",
        "plain namespaces: 8 unshare, 9 bwrap",
        "containerd: 10 containerd",
        "lxc: 11 lxc",
        "nspawn: 12 nspawn",
    ]
    numbered = [line.split()[1:] for line in narrow if line.startswith("claim ")]
    assert [n for block in numbered for n in block] == [str(n) for n in range(1, 13)]


def test_the_width_is_the_terminals_or_a_sane_one_without_a_terminal(
    wide: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = compare([("wide.json", wide)]).to_results()
    monkeypatch.setenv("COLUMNS", "70")
    assert max(map(len, summary_lines(data))) <= 70

    def no_terminal(*_: Any) -> os.terminal_size:
        raise OSError("not a terminal")

    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr(os, "get_terminal_size", no_terminal)
    lines = summary_lines(data)
    assert max(map(len, lines)) <= NO_TERMINAL_WIDTH
    assert max(map(len, lines)) > 80  # the room a CI log has is used


def test_a_runtime_that_could_not_run_is_one_line_in_the_terminal(wide: dict[str, Any]) -> None:
    lines = summary_lines(compare([("wide.json", wide)]).to_results(), width=300)

    assert [line for line in lines if DOWN in line] == [DOWN_LINE]
    assert "error" in lines[-1]  # the others' errors still count
    errors = sum(1 for r in wide["results"] if r["verdict"] == "error" and r["runtime"] != DOWN)
    assert f"{errors} error" in lines[-1]


def test_a_runtime_that_ran_in_another_file_keeps_its_column() -> None:
    down = {"name": "p", "kind": "podman", "unavailable": "engine down"}
    before = results(record("a", "p", "error"), record("b", "p", "error"), runtimes=[down])
    later = results(record("a", "p", "pass"), runtimes=[{"name": "p", "kind": "podman"}])

    alone = as_shown(compare([("before.json", before)]))
    merged = as_shown(compare([("before.json", before), ("later.json", later)]))

    assert [r.line() for r in alone.set_aside] == ["p (podman) could not run here: engine down"]
    assert list(alone.runtimes) == [] and alone.claims == []
    assert merged.set_aside == [] and list(merged.runtimes) == ["p"]


# -- HTML ----------------------------------------------------------------------------------------


def test_the_page_groups_columns_under_their_families(wide: dict[str, Any]) -> None:
    html = render_html(compare([("wide.json", wide)]))

    heads = re.findall(
        r'<th scope="colgroup" colspan="(\d+)" class="family" data-cols="([\d ]+)">([^<]+)</th>',
        html,
    )
    assert [label for _, _, label in heads] == FAMILIES
    runtimes = re.findall(
        r'<th scope="col" class="runtime" data-col="(\d+)">'
        r'<span class="rt-name">([^<]+)</span>',
        html,
    )
    assert [name for _, name in runtimes] == GROUPED
    col = {name: number for number, name in runtimes}
    for span, cols, label in heads:
        members = [name for name in GROUPED if WIDE[name][1] == label]
        assert int(span) == len(members) and cols.split() == [col[name] for name in members]
    # every cell carries its column's number, which its box hides
    cells = re.findall(
        r'<td class="[^"]*" data-col="(\d+)">\s*<button[^>]*data-runtime="([^"]+)"', html
    )
    assert len(cells) == len(Page(html).buttons)
    assert {(name, number) for number, name in cells} == {(name, n) for n, name in runtimes}
    for number, name in runtimes:
        assert f'<input type="checkbox" data-col="{number}" checked> {name}</label>' in html
    assert re.search(r'<fieldset class="columns" id="columns" hidden>', html)  # shown by script


def test_the_claim_column_is_sticky() -> None:
    """Read from the stylesheet the page inlines: the claims' cells stick to the left."""
    html = render_html(compare([("r.json", results(record("a", "r", "pass")))]))
    css = html[html.index("<style>") : html.index("</style>")]

    rules = re.findall(r"([^{}]+)\{([^}]*)\}", css)
    sticky = [
        selector
        for selector, body in rules
        if re.search(r"position:\s*sticky", body) and re.search(r"\bleft:\s*0", body)
    ]
    assert any("tbody th.claim" in s for s in sticky) and any("th.claim-head" in s for s in sticky)
    assert '<th class="claim" scope="row"' in html and 'class="claim-head"' in html


def test_a_runtime_that_could_not_run_is_one_line_on_the_page(wide: dict[str, Any]) -> None:
    html = render_html(compare([("wide.json", wide)]))
    page = Page(html)

    assert not [b for b in page.buttons if b["data-runtime"] == DOWN]  # no column
    assert f'data-runtime="{DOWN}"' not in html and 'data-col="12"' not in html
    lines = re.findall(r'<ul class="notes set-aside">(.*?)</ul>', html, re.S)
    assert len(lines) == 1 and lines[0].count("<li>") == 1
    assert f"<strong>{DOWN}</strong> (Podman) could not run here: {DOWN_REASON}" in lines[0]
    assert "12 runtimes (1 more could not run)" in html
    assert f"on {DOWN}" not in html  # not among the failures and errors either


# -- Markdown ------------------------------------------------------------------------------------


def test_markdown_opens_with_the_runtimes_by_family(wide: dict[str, Any]) -> None:
    markdown = render_markdown(compare([("wide.json", wide)]))
    lines = markdown.splitlines()

    start = lines.index("| family | runtime | pass | fail | n/a | error | expected |")
    assert start < lines.index("| runtime | kind | run args | versions |")
    assert start < next(n for n, line in enumerate(lines) if line.startswith("| claim |"))
    rows = [line.split("|")[1:3] for line in lines[start + 2 : start + 14]]
    assert [runtime.strip() for _, runtime in rows] == GROUPED
    assert [family.strip() for family, _ in rows if family.strip()] == [
        f"**{family}**" for family in FAMILIES
    ]


def test_a_runtime_that_could_not_run_is_one_line_in_markdown(wide: dict[str, Any]) -> None:
    markdown = render_markdown(compare([("wide.json", wide)]))

    assert [line for line in markdown.splitlines() if DOWN in line] == [f"- {DOWN_LINE}"]
    assert "12 runtimes (1 more could not run)" in markdown.splitlines()[0]


# -- from a run ----------------------------------------------------------------------------------


def test_a_run_records_why_a_runtime_could_not_run_and_shows_it_once(
    tmp_path: Path, fake_runtimes: FakeRuntimes
) -> None:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "s.yaml").write_text(
        "section: S\nclaims:\n"
        + "".join(
            f"  - {{id: c{n}, says: Says., expect: [{{that: runtime, equals: fake}}]}}\n"
            for n in range(3)
        )
    )
    fake_runtimes(tmp_path, {"fake": {}, "fake-down": {"unusable": "engine down"}})

    done = run_cli(
        "--runtimes-file", "runtimes.yaml", "--runtime", "all", "--json", "out.json",
        "--markdown", "out.md", "--html", "out.html", cwd=tmp_path,
    )  # fmt: skip

    data = json.loads((tmp_path / "out.json").read_text())
    infos = {info["name"]: info for info in data["runtimes"]}
    assert infos["fake-down"]["unavailable"] == "engine down"
    assert infos["fake-down"]["family"] == infos["fake"]["family"] == "fake"
    assert [r["verdict"] for r in data["results"] if r["runtime"] == "fake-down"] == ["error"] * 3
    assert done.returncode != 0  # the run still fails: its claims could not be observed
    matrix = done.stdout[done.stdout.index("container-claims ===") :].split("\n=")[0]
    assert "fake-down (fake) could not run here: engine down" in matrix
    assert "fake-down" not in matrix.replace("fake-down (fake) could not run here", "")
    markdown = (tmp_path / "out.md").read_text()
    assert markdown.count("fake-down") == 1
    assert 'data-runtime="fake-down"' not in (tmp_path / "out.html").read_text()
