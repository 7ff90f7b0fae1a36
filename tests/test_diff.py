"""What moved between two runs (``diff``, ``run --baseline``, ``report --baseline``) and
``expect --from``.

The results come from real runs of the suite on the scripted fake runtime, whose script is
changed between the "before" and the "after" run as an engine upgrade would change answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from container_claims.cli import main
from container_claims.report import compare
from container_claims.report.diff import diff, regressed_words, render_diff_markdown
from tests.support.shell import shell_scenario
from tests.test_cli import cli
from tests.test_report import fleet, results, table_rows
from tests.test_report import record as one_result

FakeRuntimes = Callable[[Path, Mapping[str, Mapping[str, Any]]], Path]

SHELL = shell_scenario(
    ("pid-is-1", "The shell is PID 1.", "shell_pid", 1),
    ("pid-is-2", "The shell is PID 2.", "shell_pid", 2),
    ("named-box", "The host is box.", "hostname", "box"),
)
BEFORE = {"typed": {"echo $$": "1", "hostname": "box"}, "version": "1.0", "data_root": "/a"}
#: After the "upgrade": the shell is PID 2 now (pid-is-1 regresses, pid-is-2 is fixed), and
#: hostname cannot be observed (named-box regresses to an error).
AFTER = {"typed": {"echo $$": "2", "hostname": "!error"}, "version": "2.0", "data_root": "/b"}


@pytest.fixture
def runs(tmp_path: Path, fake_runtimes: FakeRuntimes) -> Path:
    """before.json (runtime "old") and after.json (runtime "new"), made by real runs."""
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "shell.yaml").write_text(SHELL)
    for name, runtime, script in (("before", "old", BEFORE), ("after", "new", AFTER)):
        folder = tmp_path / name
        folder.mkdir()
        runtimes = fake_runtimes(folder, {runtime: script})
        done = cli(
            tmp_path,
            "run",
            "--runtimes-file",
            str(runtimes),
            "--runtime",
            runtime,
            "--json",
            f"{name}.json",
        )
        assert (tmp_path / f"{name}.json").exists(), done.stdout + done.stderr
    return tmp_path


def test_diff_names_what_moved_with_both_sides_and_the_environment(runs: Path) -> None:
    done = cli(runs, "diff", "before.json", "after.json", "--map", "old=new", "--json", "d.json")

    assert done.returncode == 1, done.stdout + done.stderr  # something regressed
    data = json.loads((runs / "d.json").read_text())
    assert data["format"] == "container-claims-diff/1"
    assert data["map"] == {"old": "new"}
    (pair,) = data["runtimes"]
    assert (pair["before"], pair["after"]) == ("old", "new")
    changed = {c["field"]: (c["before"], c["after"]) for c in pair["environment_changes"]}
    assert changed == {"version.engine": ("1.0", "2.0"), "environment.data_root": ("/a", "/b")}
    moved = {(c["kind"], c["claim"]) for c in data["changes"]}
    assert moved == {("regression", "pid-is-1"), ("regression", "named-box"), ("fix", "pid-is-2")}
    first = data["changes"][0]
    assert first["kind"] == "regression" and first["runtime_before"] == "old"
    assert first["before"]["verdict"] == "pass" and first["before"]["source"] == "before.json"
    assert first["after"]["source"] == "after.json"
    assert first["after"]["evidence"]["checks"]  # the evidence is one step away
    assert data["summary"] == {
        "regression": 2,
        "fix": 1,
        "changed": 0,
        "applicability": 0,
        "new": 0,
        "gone": 0,
        "unchanged": 0,
    }
    assert "REGRESSION pid-is-1 on new: pass → fail" in done.stdout
    assert "version.engine: 1.0 → 2.0" in done.stdout


def test_without_map_renamed_runtimes_are_named_not_compared(runs: Path) -> None:
    done = cli(runs, "diff", "before.json", "after.json")

    assert done.returncode == 0
    assert "runtimes only before: old" in done.stdout
    assert "runtimes only after: new" in done.stdout
    assert done.stdout.rstrip().endswith("0 unchanged")


def test_diff_markdown_folds_the_evidence_of_both_sides(runs: Path) -> None:
    done = cli(runs, "diff", "before.json", "after.json", "--map", "old=new", "--markdown", "-")

    assert done.returncode == 1
    text = done.stdout
    assert text.startswith("## Container claims: what moved (2 regressions)")
    assert "### Regressions (2)" in text and "### Fixes (1)" in text
    assert "<details><summary>after: fail in after.json: shell\\_pid equals" in text
    assert text.count("<details>") == text.count("</details>") == 6


def test_evidence_cannot_break_out_of_its_fenced_block(runs: Path) -> None:
    after = json.loads((runs / "after.json").read_text())
    for record in after["results"]:
        record["message"] = "```\n</details># injected\n````"
    moved = diff(
        compare([("before.json", json.loads((runs / "before.json").read_text()))]),
        compare([("after.json", after)]),
        {"old": "new"},
    )

    text = render_diff_markdown(moved)

    assert "# injected" in text
    for block in text.split("<details>")[1:]:
        lines = [line.strip() for line in block.split("</details>")[0].splitlines()]
        fences = [n for n, line in enumerate(lines) if line and set(line) == {"`"}]
        opening, closing = fences[0], fences[-1]
        inside = "\n".join(lines[opening + 1 : closing])
        longest = max((len(run) for run in re.findall(r"`+", inside)), default=0)
        assert len(lines[opening]) > longest and lines[closing] == lines[opening]


def test_several_files_per_side_merge_and_say_where_each_verdict_came_from(
    runs: Path,
) -> None:
    done = cli(
        runs,
        "diff",
        "--before",
        "before.json",
        "--after",
        "before.json",
        "after.json",
        "--json",
        "-",
    )

    data = json.loads(done.stdout)
    assert data["after"]["sources"] == ["before.json", "after.json"]
    assert data["runtimes_only_after"] == ["new"]
    assert data["summary"]["unchanged"] == 3  # old against itself


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["before.json"], "diff takes BEFORE.json AFTER.json"),
        (["before.json", "after.json", "--map", "old"], "--map 'old': give OLD=NEW"),
        (["before.json", "after.json", "--map", "gone=new"], "no runtime 'gone' in the before"),
        (["before.json", "missing.json"], "missing.json: no such results file"),
    ],
)
def test_bad_diff_input_is_one_line_and_exit_2(runs: Path, args: list[str], message: str) -> None:
    done = cli(runs, "diff", *args)

    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_run_with_a_baseline_fails_only_on_a_regression(
    runs: Path, fake_runtimes: FakeRuntimes
) -> None:
    runtimes = fake_runtimes(runs / "before", {"old": BEFORE})
    again = cli(
        runs, "run", "--runtimes-file", str(runtimes), "--runtime", "old", "--baseline",
        "before.json",
    )  # fmt: skip
    # pid-is-2 fails, as it did in the baseline: no regression, so exit 0.
    assert again.returncode == 0, again.stdout + again.stderr
    assert "container-claims: against the baseline" in again.stdout
    assert "0 unchanged" not in again.stdout and "3 unchanged" in again.stdout

    upgraded = fake_runtimes(runs / "after", {"new": AFTER})
    moved = cli(
        runs, "run", "--runtimes-file", str(upgraded), "--runtime", "new", "--baseline",
        "before.json", "--map", "old=new",
    )  # fmt: skip
    assert moved.returncode == 1
    assert "REGRESSION named-box on new: pass → error" in moved.stdout


def test_run_refuses_a_bad_baseline_or_map_before_running(runs: Path) -> None:
    runtimes = runs / "before" / "runtimes.yaml"
    bad = cli(runs, "run", "--runtimes-file", str(runtimes), "--runtime", "old", "--baseline", "x")
    assert bad.returncode == 2 and "x: no such results file" in bad.stderr
    unknown = cli(
        runs, "run", "--runtimes-file", str(runtimes), "--runtime", "old", "--baseline",
        "before.json", "--map", "old=elsewhere",
    )  # fmt: skip
    assert unknown.returncode == 2
    assert "'elsewhere' is not a runtime of this run" in unknown.stderr
    assert "collected" not in bad.stdout + unknown.stdout  # refused before pytest started


def test_expect_from_writes_a_file_that_run_refuses_until_reasons_are_written(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["expect", "--from", str(runs / "after.json"), "-o", str(runs / "known.yaml")]) == 0
    text = (runs / "known.yaml").read_text()
    assert text.count("reason: TODO") == 2  # pid-is-1 fails and named-box errors; pid-is-2 passes
    runtimes = runs / "after" / "runtimes.yaml"

    refused = cli(runs, "run", "--runtimes-file", str(runtimes), "--runtime", "new", "--expect",
                  "known.yaml")  # fmt: skip
    assert refused.returncode == 2
    assert "known.yaml:" in refused.stderr and "is still to be written" in refused.stderr

    (runs / "known.yaml").write_text(
        text.replace("reason: TODO", "reason: Seen after the upgrade.")
    )
    accepted = cli(runs, "run", "--runtimes-file", str(runtimes), "--runtime", "new", "--expect",
                   "known.yaml", "--json", "again.json")  # fmt: skip
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    summary = json.loads((runs / "again.json").read_text())["summary"]
    assert summary["expected"] == {"fail": 1, "error": 1}


# -- runtimes on other machines: which hosts regressed, and --host -------------------------------


@pytest.fixture
def fleet_runs(tmp_path: Path) -> Path:
    """before.json: every claim passes on the fleet; after.json: edge-1 regressed on all three
    claims, edge-2 on one, this machine on none (and a fail became an error on old)."""
    before = fleet({"docker": "ppp", "docker@edge-1": "ppp", "docker@edge-2": "ppp", "old": "ppf"})
    after = fleet({"docker": "ppp", "docker@edge-1": "ffe", "docker@edge-2": "pfp", "old": "ppe"})
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "after.json").write_text(json.dumps(after))
    return tmp_path


REGRESSED_ON = "edge-1 (docker@edge-1: 3 claims), edge-2 (docker@edge-2: 1 claim)"


def diff_of(
    folder: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str, dict[str, Any]]:
    """``diff before.json after.json ARGS``: its exit code, text, Markdown and JSON."""
    files = [str(folder / "before.json"), str(folder / "after.json")]
    code = main(["diff", *files, *args, "--markdown", str(folder / "d.md"),
                 "--json", str(folder / "d.json")])  # fmt: skip
    data = json.loads((folder / "d.json").read_text())
    return code, capsys.readouterr().out, (folder / "d.md").read_text(), data


def test_diff_names_the_machines_that_regressed(
    fleet_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, markdown, data = diff_of(fleet_runs, capsys)

    assert code == 1
    assert out.splitlines()[-2:] == [
        "4 regressions, 1 changed between fail and error, 7 unchanged",
        f"regressed on: {REGRESSED_ON}",
    ]
    assert data["regressed_on"] == [
        {"host": "edge-1", "address": "ssh://root@edge-1:22", "runtimes": {"docker@edge-1": 3}},
        {"host": "edge-2", "address": "ssh://root@10.0.0.2", "runtimes": {"docker@edge-2": 1}},
    ]
    assert data["runtimes_left_out"] == []
    assert f"\n**Regressed on:** {REGRESSED_ON}\n" in markdown
    assert "Left out by" not in markdown


def test_this_machine_regresses_as_its_hostname_or_local() -> None:
    before = fleet({"docker": "ppp", "old": "ppp"})
    after = fleet({"docker": "fpp", "old": "pfe"})

    moved = diff(compare([("b", before)]), compare([("a", after)]))

    assert regressed_words(moved) == "vm (docker: 1 claim), local (old: 2 claims)"
    assert moved.to_json()["regressed_on"][1] == {
        "host": "local",
        "address": "local",
        "runtimes": {"old": 2},
    }


def test_nothing_regressed_says_no_machine(
    fleet_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, markdown, data = diff_of(fleet_runs, capsys, "--host", "local")

    assert code == 0
    assert "regressed on" not in out
    assert out.splitlines()[-1] == "1 changed between fail and error, 5 unchanged"
    assert "left out by --host: docker@edge-1, docker@edge-2" in out
    assert data["regressed_on"] == []
    assert data["runtimes_left_out"] == ["docker@edge-1", "docker@edge-2"]
    assert "Regressed on" not in markdown
    assert "\nLeft out by `--host`: docker@edge-1, docker@edge-2.\n" in markdown


def test_diff_host_compares_only_the_runtimes_on_matching_machines(
    fleet_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _, data = diff_of(fleet_runs, capsys, "--host", "edge-2")

    assert code == 1
    assert [pair["after"] for pair in data["runtimes"]] == ["docker@edge-2"]
    assert {change["runtime"] for change in data["changes"]} == {"docker@edge-2"}
    assert data["summary"]["regression"] == 1
    assert data["regressed_on"] == [
        {"host": "edge-2", "address": "ssh://root@10.0.0.2", "runtimes": {"docker@edge-2": 1}}
    ]
    assert data["runtimes_left_out"] == ["docker", "docker@edge-1", "old"]
    assert out.splitlines()[-1] == "regressed on: edge-2 (docker@edge-2: 1 claim)"


def test_a_host_on_one_side_only_is_no_error(
    fleet_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    after = json.loads((fleet_runs / "after.json").read_text())
    after["runtimes"].append(
        {"name": "docker@edge-3", "machine": {"address": "ssh://edge-3", "hostname": "edge-3"}}
    )
    after["results"].append({**after["results"][0], "runtime": "docker@edge-3"})
    (fleet_runs / "after.json").write_text(json.dumps(after))

    code, _, _, data = diff_of(fleet_runs, capsys, "--host", "edge-3")

    assert code == 0
    assert data["runtimes_only_after"] == ["docker@edge-3"]
    assert data["runtimes"] == [] and data["changes"] == []


def test_diff_host_that_matches_no_machine_exits_2_with_one_line(
    fleet_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(fleet_runs / "before.json"), str(fleet_runs / "after.json")]

    assert main(["diff", *files, "--host", "edge-*", "--host", "edge-9\n"]) == 2

    err = capsys.readouterr().err
    assert err == (
        "container-claims: --host 'edge-9\\n' matches no machine in the results; they ran on: "
        "vm (local), edge-1 (ssh://root@edge-1:22), edge-2 (ssh://root@10.0.0.2), local\n"
    )


def test_a_diff_shows_escapes_on_the_terminal_and_in_markdown_keeps_them_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both sides' texts carry terminal escapes: the terminal and the Markdown show them, the
    JSON (and so every program reading it) has them exactly."""
    from tests.test_report import CONTROLS, _hostile

    raw = "\x1b]52;c;aGk=\x07\x9b2J"
    before = _hostile(raw)
    before["results"][0] = {**before["results"][0], "verdict": "pass"}
    before["results"][0].pop("expectation")
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "after.json").write_text(json.dumps(_hostile(raw), ensure_ascii=False))

    before_path, after_path = str(tmp_path / "before.json"), str(tmp_path / "after.json")
    assert main(["diff", before_path, after_path]) == 1
    terminal = capsys.readouterr().out
    assert main(["diff", before_path, after_path, "--markdown", "-"]) == 1
    markdown = capsys.readouterr().out
    assert main(["diff", before_path, after_path, "--json", "-"]) == 1
    data = json.loads(capsys.readouterr().out)

    for text in (terminal, markdown):
        assert not CONTROLS.search(text)
        assert "\\x1b]52;c;aGk=\\x07\\u009b2J" in text
    assert f"REGRESSION claim{printed(raw)} on rt{printed(raw)}: pass → fail" in terminal
    (change,) = data["changes"]
    assert change["claim"] == f"claim{raw}" and change["says"] == f"says{raw}"
    assert change["after"]["message"] == f"message{raw}"


def printed(raw: str) -> str:
    from container_claims.report.text import printable

    return printable(raw, lines=False)


# -- report --baseline: a first run elsewhere, at a glance --------------------------------------

KNOWN = {"status": "expected", "verdict": "fail", "reason": "Known.", "where": "e.yaml:2"}
WAS_KNOWN = {"status": "unexpected", "verdict": "fail", "reason": "Was.", "where": "e.yaml:7"}


def test_report_against_a_baseline_opens_with_what_is_not_as_expected_or_regressed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Per runtime: claims, those not as expected (an unaccepted fail or error, or no longer
    as expected), those that regressed since the baseline; before any other table."""
    before = results(
        one_result("a", "docker", "pass"),
        one_result("b", "docker", "pass"),
        one_result("c", "docker", "fail"),
    )
    after = results(
        one_result("a", "docker", "fail"),  # regressed, and not as expected
        one_result("b", "docker", "error", expectation=KNOWN | {"verdict": "error"}),  # regressed
        one_result("c", "docker", "pass", expectation=WAS_KNOWN),  # fixed, no longer as expected
        one_result("a", "podman", "fail", expectation=KNOWN),
        one_result("b", "podman", "pass"),
    )
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "after.json").write_text(json.dumps(after))

    assert main(["report", str(tmp_path / "after.json"), "--markdown", "-",
                 "--baseline", str(tmp_path / "before.json")]) == 0  # fmt: skip

    markdown = capsys.readouterr().out
    glance = table_rows(markdown)[0]
    assert [cell.strip() for cell in glance[0]] == [
        "runtime", "claims", "not as expected", f"regressed since `{tmp_path / 'before.json'}`",
    ]  # fmt: skip
    assert [[cell.strip() for cell in row] for row in glance[2:]] == [
        ["docker", "3", "**2**", "**2**"],
        ["podman", "2", "0", "not in the baseline"],
    ]
    assert markdown.index("| docker | 3 |") < markdown.index("| runtime | kind |")


def test_report_without_expectations_or_baseline_has_no_glance(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "r.json").write_text(json.dumps(results(one_result("a", "docker", "fail"))))

    assert main(["report", str(tmp_path / "r.json"), "--markdown", "-"]) == 0

    assert "not as expected" not in capsys.readouterr().out


def test_report_against_a_baseline_prints_the_regressions_after_the_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "before.json").write_text(json.dumps(results(one_result("a", "docker", "pass"))))
    (tmp_path / "after.json").write_text(json.dumps(results(one_result("a", "docker", "error"))))

    assert main(["report", str(tmp_path / "after.json"), "--baseline", "before.json"]) == 2
    assert "before.json: no such results file" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "after.json"),
                 "--baseline", str(tmp_path / "before.json")]) == 0  # fmt: skip
    assert f"regressed since {tmp_path / 'before.json'}: docker 1" in capsys.readouterr().out


def test_expect_from_takes_a_ci_matrixs_files_at_once(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``expect --from results/*.json``: the shell gives it every file after one --from."""
    assert main(["expect", "--from", str(runs / "before.json"), str(runs / "after.json")]) == 0

    text = capsys.readouterr().out
    assert "runtime: old" in text and "runtime: new" in text
