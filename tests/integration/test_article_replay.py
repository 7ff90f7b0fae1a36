"""The seed article replayed on the five runtimes (``run --against``, one run): its report
names every transcript block, and its drafts give, on each runtime, the verdicts the
hand-written catalogue gives on the claims they share (the correspondence is
tests/test_draft_articles.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from container_claims.draft import draft_article, read_article
from tests.test_draft_articles import SEED, SEED_SHARED, needs_seed

from .conftest import RUNTIMES, Run, run_suite

pytestmark = needs_seed


@pytest.fixture(scope="module")
def replayed(engine: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """The seed on the five runtimes side by side, as drafted: one run for the module."""
    folder = tmp_path_factory.mktemp("replay")
    args = [arg for name in RUNTIMES for arg in ("--runtime", name)]
    run = run_suite(
        "--against", str(SEED), *args, "--markdown", str(folder / "seed.md"),
        "--html", str(folder / "seed.html"), tmp=folder, timeout=300,
    )  # fmt: skip
    return run, folder


def test_the_report_names_every_block_of_the_seed(replayed: tuple[Run, Path]) -> None:
    run, folder = replayed
    assert run.data.get("results"), run.output[-3000:]
    markdown = (folder / "seed.md").read_text()
    html = (folder / "seed.html").read_text()
    commands = draft_article(read_article(str(SEED))).transcript.commands()
    assert len(commands) == 4
    for command in commands:
        assert f"### line {command.line}:" in markdown or f"### lines {command.line}–" in markdown
        assert f'id="line-{command.line}"' in html
    for name in RUNTIMES:
        assert f"| {name} |" in markdown and f'<th scope="row">{name}</th>' in html
    assert "unreviewed draft" in markdown


#: Where a draft's verdict is not the catalogue's, and why: the draft says less than the
#: catalogue's claim of the same observation (reviewing it is a person's work).
DIFFER = {
    ("s01-host-pid1", "host-pid-1-is-init", "gvisor"): "the draft reads only the host's PID 1 "
    "(not the container's shell: it holds); the catalogue's claim also needs the shell found "
    "among the host's processes, which gVisor's sandbox hides",
}


def test_the_drafts_give_the_catalogue_s_verdicts_on_the_claims_they_share(
    replayed: tuple[Run, Path], all_runtimes: Run
) -> None:
    """The drafts run as they are: ``draft: true`` changes only whether ``run`` loads a claim,
    so these are the verdicts of the drafts reviewed (the line removed), as the README's
    table counts them; the claims shared are tests/test_draft_articles.py's."""
    run, _ = replayed
    differ = {}
    for draft_claim, catalogue_claims in sorted(SEED_SHARED.items()):
        for claim in sorted(catalogue_claims):
            for name in RUNTIMES:
                drafted, theirs = run.verdict(draft_claim, name), all_runtimes.verdict(claim, name)
                if drafted != theirs:
                    differ[(draft_claim, claim, name)] = (drafted, theirs)
    assert set(differ) == set(DIFFER), (differ, run.output[-3000:])
    assert differ[("s01-host-pid1", "host-pid-1-is-init", "gvisor")] == ("pass", "fail")
