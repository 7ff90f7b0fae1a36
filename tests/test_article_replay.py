"""``run --against ARTICLE`` with the fake runtime: the article's drafts run as they are, and
its report lists every transcript block beside its verdict on each runtime (HTML and
Markdown), the article's text escaped, a command that became no step skipped with its line;
the run's folder of drafts is gone after, also when the run is interrupted."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from container_claims.cli.against import replayed
from container_claims.draft import draft_article, read_article
from container_claims.errors import InputError
from container_claims.paths import ledger_dir
from container_claims.report import compare
from container_claims.report.article import (
    NO_CLAIM,
    REPLAYED,
    SKIPPED,
    article_report,
    render_article_markdown,
)
from container_claims.report.html.article import render_article_html
from tests.conftest import FakeRuntimes
from tests.support.project import run_command

HOSTILE = "</pre><img src=x onerror=alert(1)> | a ``` fence"
ARTICLE = f"""\
# Replay <b>me</b>

## Inside

Start a shell and look around: <script>alert("x")</script> stays text.

```
$ docker run --rm -ti ubuntu /bin/bash
root@3c5a8d9e0f12:/# echo $$
1
root@3c5a8d9e0f12:/# cat /etc/motd
{HOSTILE}
root@3c5a8d9e0f12:/# exit
```

The host's own containers, which no probe observes:

```
$ docker ps
CONTAINER ID   IMAGE
```
"""
PROMPT = "root@3c5a8d9e0f12:/#"
#: The article's lines of its blocks.
RUN_LINE, ECHO_LINE, MOTD_LINE, EXIT_LINE, PS_LINE = 8, 9, 11, 13, 19


@pytest.fixture
def article(tmp_path: Path) -> Path:
    path = tmp_path / "replay.md"
    path.write_text(ARTICLE)
    return path


def _replay(
    tmp_path: Path, fake_runtimes: FakeRuntimes, article: Path, motd: str, *more: str
) -> tuple[int, str, str, str]:
    """``run --against`` on two fake runtimes, the second printing ``motd``; (exit code,
    Markdown, HTML, output). Temporary folders go to ``tmp_path/tmp``, to be counted."""
    typed = {"echo $$": "1", "cat /etc/motd": HOSTILE}
    fake_runtimes(
        tmp_path,
        {
            "fake": {"prompt": PROMPT, "typed": typed},
            "other": {"prompt": PROMPT, "typed": {**typed, "cat /etc/motd": motd}},
        },
    )
    (tmp_path / "tmp").mkdir(exist_ok=True)
    result = run_command(
        "run", "--against", str(article), "--runtimes-file", "runtimes.yaml",
        "--runtime", "fake", "--runtime", "other", "--html", "out.html", "--markdown", "out.md",
        "--json", "out.json", *more, "--", "-p", "no:cacheprovider",
        cwd=tmp_path, env={"TMPDIR": str(tmp_path / "tmp")},
    )  # fmt: skip
    markdown = (tmp_path / "out.md").read_text() if (tmp_path / "out.md").exists() else ""
    html = (tmp_path / "out.html").read_text() if (tmp_path / "out.html").exists() else ""
    return result.returncode, markdown, html, result.stdout + result.stderr


def test_every_block_is_reported_on_each_runtime_and_a_changed_output_fails(
    tmp_path: Path, fake_runtimes: FakeRuntimes, article: Path
) -> None:
    code, markdown, html, output = _replay(tmp_path, fake_runtimes, article, "a new motd")

    assert code == 1, output  # a fail, as run says it
    for line in (RUN_LINE, ECHO_LINE, MOTD_LINE, EXIT_LINE, PS_LINE):
        assert f"### line {line}:" in markdown or f"### lines {line}–" in markdown, line
        assert f'id="line-{line}"' in html
    assert "unreviewed draft" in markdown and "Unreviewed drafts." in html
    # the block whose output the other runtime changed: pass on one, fail on the other,
    # with what was observed
    motd = markdown.split(f"### lines {MOTD_LINE}–")[1].split("### ")[0]
    assert "| fake | pass |" in motd
    assert re.search(
        r"\| other \| \*\*FAIL\*\* \| s01-cat-etc\S*: fail: .*observed a new motd", motd
    )
    # the prompt and the echo: both claims of one block, passing on both
    echo = markdown.split(f"### lines {ECHO_LINE}–")[1].split("### ")[0]
    assert "| fake | pass |" in echo and "| other | pass |" in echo
    # the host command no probe observes became no step: skipped, with its line and why
    assert f"**skipped** (line {PS_LINE}): a host command while no container session" in markdown
    assert f"(line {RUN_LINE}): it started the session" in markdown
    records = json.loads((tmp_path / "out.json").read_text())["results"]
    assert {(r["claim"], r["runtime"], r["verdict"]) for r in records} >= {
        ("s01-cat-etc-motd", "fake", "pass"), ("s01-cat-etc-motd", "other", "fail"),
    }  # fmt: skip
    assert list((tmp_path / "tmp").iterdir()) == []  # the drafts' folder is gone


def test_the_same_output_passes_everywhere_and_the_run_exits_0(
    tmp_path: Path, fake_runtimes: FakeRuntimes, article: Path
) -> None:
    code, markdown, _, output = _replay(tmp_path, fake_runtimes, article, HOSTILE)

    assert code == 0, output
    assert "FAIL" not in markdown.split("### ")[0].replace("| **FAIL** |", "")
    assert "| fake | 2 | 0 | 0 | 0 |" in markdown and "| other | 2 | 0 | 0 | 0 |" in markdown


def test_the_article_s_text_is_escaped_in_both_reports(
    tmp_path: Path, fake_runtimes: FakeRuntimes, article: Path
) -> None:
    _, markdown, html, _ = _replay(tmp_path, fake_runtimes, article, "x")

    # HTML: no tag of the article's, nothing fetched
    assert "<script>alert" not in html and "<img" not in html and "<b>me" not in html
    assert "&lt;/pre&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=\"|url\(", html)
    # Markdown: the output in a fence no line of it can close, the prose escaped
    fence = "````text"
    assert f"{fence}\n{PROMPT} cat /etc/motd\n{HOSTILE}\n````" in markdown
    assert "\\<script\\>" in markdown and "<script>" not in markdown


def test_control_characters_of_an_article_are_shown_not_sent(
    tmp_path: Path, fake_runtimes: FakeRuntimes
) -> None:
    path = tmp_path / "escape.md"
    path.write_text(ARTICLE.replace("stays text.", "stays \x1b]0;owned\x07 text."))
    drafts = draft_article(read_article(str(path)))
    report = article_report(drafts, compare([]))

    for text in (render_article_markdown(report), render_article_html(report)):
        assert "\x1b" not in text and "\x07" not in text
        shown = text.replace("\\\\", "\\").replace("\\]", "]")  # Markdown's escapes
        assert "\\x1b]0;owned\\x07" in shown


def test_a_block_whose_command_became_no_step_is_skipped_with_its_line(article: Path) -> None:
    drafts = draft_article(read_article(str(article)))

    report = article_report(drafts, compare([]))

    states = {block.line: (block.state, block.why) for block in report.blocks}
    assert states[PS_LINE] == (
        SKIPPED, "a host command while no container session is open"
    )  # fmt: skip
    assert states[RUN_LINE] == (NO_CLAIM, "it started the session's container")
    assert states[EXIT_LINE][0] == NO_CLAIM
    assert states[MOTD_LINE][0] == REPLAYED
    echo = next(block for block in report.blocks if block.line == ECHO_LINE)
    assert set(echo.claims) == {"s01-echo", "s01-prompt"}
    assert report.skipped == 1 and report.loose_claims == ()


def test_without_verdicts_a_block_is_not_run() -> None:
    drafts = draft_article(read_article("-", stdin=io.BytesIO(ARTICLE.encode())))
    report = article_report(
        drafts, compare([("empty", {"runtimes": [{"name": "fake"}], "results": []})])
    )

    assert "| fake | not run |" in render_article_markdown(report)
    assert report.counts("fake") == {"not run": 2}


def test_bad_uses_are_one_line_and_exit_2(
    tmp_path: Path, fake_runtimes: FakeRuntimes, article: Path
) -> None:
    fake_runtimes(tmp_path, {"fake": {}})
    prose = tmp_path / "prose.md"
    prose.write_text("# Nothing to replay\n\nOnly words.\n")
    for args, says in (
        ([str(tmp_path)], "give no scenario paths"),
        (["--repeat", "2"], "neither --repeat nor --baseline"),
        (["--against", str(prose)], "no session of its transcripts gave a claim"),
        (["--against", str(tmp_path / "missing.md")], "cannot read the article"),
    ):
        given = args if "--against" in args else ["--against", str(article), *args]
        result = run_command(
            "run", *given, "--runtimes-file", "runtimes.yaml", cwd=tmp_path,
            env={"TMPDIR": str(tmp_path)},
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("cc-against-*"))


def test_the_drafts_folder_goes_on_an_interrupt_too(article: Path) -> None:
    args = argparse.Namespace(paths=[], repeat=1, baseline=[], against=str(article))

    with pytest.raises(KeyboardInterrupt), replayed(args) as replay:
        folder = replay.folder
        assert [p.name for p in folder.iterdir()] == ["session-01.yaml"]
        raise KeyboardInterrupt

    assert not folder.exists()


def test_a_run_killed_outright_leaves_its_drafts_to_the_next_run_s_sweep(
    tmp_path: Path, fake_runtimes: FakeRuntimes, article: Path
) -> None:
    """SIGKILL runs no cleanup: the folder was written in the run's ledger first, and the next
    run's sweep (here ``cleanup``) removes it."""
    # The shell opens only when a file that never comes appears: the run is still going.
    fake_runtimes(tmp_path, {"fake": {"prompt": PROMPT, "meet": str(tmp_path / "never"),
                                      "meet_timeout": 60}})  # fmt: skip
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    run = subprocess.Popen(
        [sys.executable, "-m", "container_claims", "run", "--against", str(article),
         "--runtimes-file", "runtimes.yaml", "--runtime", "fake"],
        cwd=tmp_path, env={**env, "TMPDIR": str(temp)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any("cc-against-" in f.read_text() for f in ledger_dir().glob("*.jsonl")):
            assert time.monotonic() < deadline and run.poll() is None, "no ledger named it"
            time.sleep(0.05)
    finally:
        run.kill()  # the process we started, by its PID
        run.wait()
    (folder,) = temp.glob("cc-against-*")

    # The fake runtimes only: a sweep of the packaged ones would remove the labelled objects
    # of every run this test's own state folder does not know to be live, on the real engines.
    swept = run_command(
        "cleanup", "--runtimes-file", "runtimes.yaml", cwd=tmp_path, env={"TMPDIR": str(temp)}
    )

    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert not folder.exists()


def test_drafts_run_only_from_the_run_s_own_folder(
    tmp_path: Path, fake_runtimes: FakeRuntimes, article: Path
) -> None:
    """The same drafts in a folder of the user's: run refuses each draft claim (exit 2)."""
    folder = tmp_path / "drafts"
    assert run_command("draft", str(article), "-o", str(folder), cwd=tmp_path).returncode == 0
    fake_runtimes(tmp_path, {"fake": {"prompt": PROMPT, "typed": {"echo $$": "1"}}})

    result = run_command("run", str(folder), "--runtimes-file", "runtimes.yaml", cwd=tmp_path)

    assert result.returncode == 2
    assert "is a draft: review it against the article" in result.stdout + result.stderr


def test_input_error_is_refused_before_drafting(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no scenario paths"):
        args = argparse.Namespace(paths=["x"], repeat=1, baseline=[], against="none.md")
        with replayed(args):
            pass
