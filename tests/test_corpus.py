"""The corpus of broken and hostile inputs (tests/corpus/): one line and exit 2 for each, the
valid files beside them still run, serially and under ``-n 2``.

The runs happen in a child process capped at 2 GB of address space and given a timeout, so
an input that makes the suite expand or hang fails the test instead of taking the machine;
what each input costs is measured by ``benchmarks/corpus_bounds.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from container_claims import cli

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "expected.yaml").read_text())
MEMORY_CAP = 2 << 30


def lines_of(entry: dict[str, Any]) -> list[str]:
    """What a file must get, a line each: one ``message``, or ``messages`` (a file with many
    errors: the first twenty, then how many more)."""
    return list(entry["messages"]) if "messages" in entry else [entry["message"]]


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def test_the_corpus_is_large_and_every_file_has_its_expectation() -> None:
    files = {str(path.relative_to(CORPUS)) for path in CORPUS.glob("*/*") if path.is_file()}
    assert files == set(EXPECTED)
    assert sum(1 for entry in EXPECTED.values() if entry["exit"] == 2) >= 40


@pytest.fixture(scope="module")
def corpus_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus with a fake runtime to run it on, and a file too big to read whole."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS / "scenario_files", root / "scenario_files")
    (root / "scenario_files" / "huge.yaml").write_text("claims: []\n" + "# padding\n" * 220_000)
    script = root / "fake.yaml"
    script.write_text("typed: {}\n")
    (root / "runtimes.yaml").write_text(
        yaml.safe_dump(
            {
                "runtimes": [
                    {"name": "fake", "kind": "fake", "env": {"CONTAINER_CLAIMS_FAKE": str(script)}}
                ]
            }
        )
    )
    return root


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "n2"])
def test_every_bad_scenario_is_one_line_and_the_valid_ones_still_run(
    corpus_copy: Path, workers: str | None
) -> None:
    out = corpus_copy / f"results-{workers or 'serial'}.json"
    # Named one by one: a folder would hold only the files that look like scenarios, and
    # some of these (a list, binary bytes) look like nothing.
    files = sorted(str(p.relative_to(corpus_copy)) for p in corpus_copy.glob("scenario_files/*"))
    argv = [
        sys.executable, "-m", "container_claims", "run", *files, "-q",
        "--runtimes-file", "runtimes.yaml", "--runtime", "fake", "--json", str(out),
    ]  # fmt: skip
    if workers:
        argv += ["-n", workers]
    result = subprocess.run(
        argv,
        cwd=corpus_copy,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_capped,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )

    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    data = json.loads(out.read_text())
    messages = sorted(error["message"] for error in data["input_errors"])
    expected = sorted(
        line
        for name, entry in EXPECTED.items()
        if name.startswith("scenario_files/") and entry["exit"] == 2
        for line in lines_of(entry)
    )
    size = (corpus_copy / "scenario_files" / "huge.yaml").stat().st_size
    huge = f"scenario_files/huge.yaml: the file is {size:,} bytes; a scenario or runtimes file is at most 1 MiB"
    assert messages == sorted([*expected, huge])
    for message in messages:
        assert f"invalid: {message}" in result.stdout
    valid = {r["claim"]: r["verdict"] for r in data["results"]}
    assert valid == {
        "merge-base": "pass",
        "merge-override": "pass",
        "valid-backtracking-regex": "pass",
    }
    merged = next(r for r in data["results"] if r["claim"] == "merge-override")
    assert merged["section"] == "Merged"  # from the anchor, with the keys written after it


SCENARIOS = sorted(name for name in EXPECTED if name.startswith("scenario_files/"))


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_scenario_file_alone(name: str) -> None:
    from container_claims.errors import InputError
    from container_claims.scenario import load_scenario

    entry = EXPECTED[name]
    if entry["exit"] == 0:
        load_scenario(CORPUS / name, display=name)
        return
    with pytest.raises(InputError) as info:
        load_scenario(CORPUS / name, display=name)
    assert str(info.value) == "\n".join(lines_of(entry))


OTHERS = sorted(name for name in EXPECTED if not name.startswith("scenario_files/"))
RESULTS = sorted(name for name in EXPECTED if name.startswith("results/"))
#: What must never reach a terminal raw: C0 (but newline and tab), DEL and C1.
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
SAMPLE = Path(__file__).parent / "data" / "sample-results.json"
#: Every command that reads results files, each given the corpus file NAME.
READERS = {
    "report": ["report", "NAME"],
    "report-html": ["report", "NAME", "--html", "out/report.html"],
    "report-markdown": ["report", "NAME", "--markdown", "-"],
    "diff-before": ["diff", "NAME", str(SAMPLE)],
    "diff-after-json": ["diff", str(SAMPLE), "NAME", "--json", "-"],
    "diff-markdown": ["diff", "--before", str(SAMPLE), "--after", "NAME", "--markdown", "-"],
    "expect": ["expect", "--from", "NAME"],
    "run-baseline": ["run", "--baseline", "NAME", "scenarios-that-never-run"],
}


@pytest.mark.parametrize("name", OTHERS)
def test_each_runtimes_and_results_file(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    kind = name.split("/")[0]
    argv = ["runtimes", "--runtimes-file", name] if kind == "runtimes" else ["report", name]
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(argv)
    assert code == EXPECTED[name]["exit"]
    if code == 0:
        assert err.getvalue() == "" and out.getvalue()
        assert not CONTROLS.findall(out.getvalue())
        assert len(out.getvalue()) < max((CORPUS / name).stat().st_size, 10_000)
    else:
        assert err.getvalue() == f"container-claims: {EXPECTED[name]['message']}\n"


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("name", [n for n in RESULTS if EXPECTED[n]["exit"] == 2])
def test_every_reader_of_results_refuses_a_bad_one_with_its_line(
    name: str, reader: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """report, diff (either side), expect --from and run --baseline: exit 2 and the file's
    one line, never a traceback, and nothing written."""
    monkeypatch.chdir(CORPUS)
    argv = [str(tmp_path / arg) if arg.startswith("out/") else arg for arg in READERS[reader]]
    argv = [name if arg == "NAME" else arg for arg in argv]
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(argv)
    assert (code, err.getvalue()) == (2, f"container-claims: {EXPECTED[name]['message']}\n")
    assert out.getvalue() == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("reader", [r for r in READERS if r != "run-baseline"])
@pytest.mark.parametrize("name", [n for n in RESULTS if EXPECTED[n]["exit"] == 0])
def test_every_reader_of_valid_hostile_results_shows_escapes_and_stays_bounded(
    name: str, reader: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A valid results file whose texts carry terminal escapes (OSC 52, a title, a cleared
    screen, DCS, APC, C1 codes): on the terminal, in Markdown and in HTML each is shown as
    an escape, none is sent. One with ids of 50,000 characters and claims on runtimes of
    their own: what is printed stays within the size of what it summarises."""
    monkeypatch.chdir(CORPUS)
    argv = [str(tmp_path / arg) if arg.startswith("out/") else arg for arg in READERS[reader]]
    argv = [name if arg == "NAME" else arg for arg in argv]
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(argv)
    assert code in (0, 1), err.getvalue()  # diff: 1 when something regressed
    written = [p.read_text(encoding="utf-8") for p in tmp_path.rglob("*") if p.is_file()]
    for text in (out.getvalue(), err.getvalue(), *written):
        assert not CONTROLS.findall(text)
    if reader == "diff-after-json":
        json.loads(out.getvalue())  # JSON escapes them, and keeps the exact text
    elif name == "results/escapes.json":
        assert "\\x1b" in out.getvalue() + "".join(written)
    # What a command prints is bounded by the file it summarises (the diff: by both files);
    # the HTML page shows every verdict with its evidence, a few kilobytes each.
    size = (CORPUS / name).stat().st_size
    assert len(out.getvalue()) < 2 * (size + SAMPLE.stat().st_size)
    for text in written:
        assert len(text) < 50 * size + 200_000
