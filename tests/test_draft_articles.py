"""Whole articles drafted: the seed ("Interactive Docker containers", beside the repository in
../shared/seeds/ where it is there) and the tutorials of tests/articles/, whose transcripts
were recorded on this project's machine with the test image.

For each: every command of its transcripts becomes a step (the ``docker run`` its container),
the drafts load once ``draft: true`` is removed, and the claims it drafts correspond to claims
of the hand-written catalogue where they rest on the same observation: the same program typed
in the container, or the same probe and field read on the host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from container_claims.draft import Drafts, draft_article, read_article, write_drafts
from container_claims.draft.shapes import program_of
from container_claims.scenario import Scenario, load_scenario
from container_claims.scenario.steps import ExecStep, ProbeStep, RunStep, TypeStep
from container_claims.scenario.validate import scenario_from_text
from tests.conftest import FakeRuntimes
from tests.support.project import run_command

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seeds" / "000_4f14725ece783bca.txt"
ARTICLES = REPO / "tests" / "articles"
CATALOGUE_IDS = (REPO / "tests" / "claims.txt").read_text().split()

needs_seed = pytest.mark.skipif(not SEED.exists(), reason=f"the seed article is not at {SEED}")
#: The seed's draft claims and the catalogue's claims that say the same of the same
#: observation (each among those :func:`corresponding` finds, which may find more: a claim of
#: the catalogue reading the same ``ps`` for another purpose).
SEED_SHARED = {
    "s01-ls": {"root-listing-is-image-fs"},
    "s01-ps-aux": {"ps-shows-only-shell-and-ps"},
    "s01-host-pid1": {"host-pid-1-is-init"},
    "s01-shell-on-host": {"host-sees-container-process", "host-pid-differs"},
}

#: An observation as two scenarios can share it: what saved it, and the field read.
Key = tuple[str, str, str]


def reviewed(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.strip() != "draft: true") + "\n"


def load_reviewed(drafts: Drafts) -> list[Scenario]:
    return [
        scenario_from_text(reviewed(f.text), Path(f.file_name), f.file_name)
        for f in drafts.files
        if f.text
    ]


def keys_of(scenario: Scenario) -> dict[str, set[Key]]:
    """Each claim of ``scenario``: the observations it rests on, as :data:`Key` s."""
    saved: dict[str, tuple[str, str]] = {"session": ("session", "")}
    for step in (*scenario.steps, *scenario.after):
        if step.save is None:
            continue
        if isinstance(step, TypeStep):
            saved[step.save] = ("typed", program_of(step.text)[0])
        elif isinstance(step, ExecStep | RunStep):
            command = step.command if isinstance(step, ExecStep) else step.spec.command or ()
            saved[step.save] = (step.kind, program_of(" ".join(command))[0])
        elif isinstance(step, ProbeStep):
            saved[step.save] = ("probe", step.probe)
    found: dict[str, set[Key]] = {}
    for claim in scenario.claims:
        for expectation in claim.expectations:
            name, _, field = expectation.that.partition(".")
            if name in saved:
                found.setdefault(claim.id, set()).add((*saved[name], field))
    return found


def catalogue() -> dict[str, set[Key]]:
    found: dict[str, set[Key]] = {}
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        found |= keys_of(load_scenario(path))
    assert set(found) <= set(CATALOGUE_IDS)
    return found


def corresponding(drafts: Drafts) -> dict[str, set[str]]:
    """Each draft claim: the catalogue's claims resting on an observation it rests on."""
    known = catalogue()
    found: dict[str, set[str]] = {}
    for scenario in load_reviewed(drafts):
        for claim_id, keys in keys_of(scenario).items():
            found[claim_id] = {other for other, theirs in known.items() if keys & theirs}
    return found


def expectations(drafts: Drafts) -> list[dict[str, Any]]:
    return [
        expectation
        for f in drafts.files
        if f.text
        for claim in yaml.safe_load(f.text)["claims"]
        for expectation in claim["expect"]
    ]


# -- the seed -------------------------------------------------------------------------------------


@needs_seed
def test_every_command_of_the_seed_becomes_a_step() -> None:
    drafts = draft_article(read_article(str(SEED)))

    (draft,) = drafts.files
    (session,) = drafts.transcript.sessions
    assert [(session.opener.line, session.opener.text)] + [
        (c.line, c.side, c.text) for c in session.commands
    ] == [
        (18, "docker run --rm -ti ubuntu /bin/bash"),
        (32, "container", "ls"),
        (46, "container", "ps aux"),
        (55, "host", "ps aux"),
    ]  # fmt: skip
    assert (drafts.commands, drafts.placed) == (4, 4)
    assert drafts.transcript.unplaced == ()
    document = yaml.safe_load(draft.text)
    assert document["container"] == {
        "command": ["/bin/bash"], "tty": True, "interactive": True, "remove": True,
    }  # fmt: skip
    assert [s.get("type") or s.get("probe") for s in document["steps"]] == [
        "ls", "ps aux", "host.pid1", "echo $$", "readlink /proc/$$/ns/pid", "host.find_process",
    ]  # fmt: skip


@needs_seed
def test_the_seed_s_drafts_load_once_reviewed_and_not_before(tmp_path: Path) -> None:
    drafts = draft_article(read_article(str(SEED)))
    (path,) = write_drafts(drafts, tmp_path, force=False)

    with pytest.raises(Exception, match="is a draft: review it against the article"):
        load_scenario(path)
    path.write_text(reviewed(path.read_text()))
    scenario = load_scenario(path)
    assert [c.id for c in scenario.claims] == [
        "s01-ls", "s01-ps-aux", "s01-host-pid1", "s01-shell-on-host",
    ]  # fmt: skip


@needs_seed
def test_the_seed_s_drafts_correspond_to_the_catalogue() -> None:
    drafts = draft_article(read_article(str(SEED)))

    found = corresponding(drafts)

    for draft, theirs in SEED_SHARED.items():
        assert theirs <= found[draft], draft
    # and where both compare the same field, they compare it the same way
    drafted = expectations(drafts)
    for shared in (
        {"that": "ps_aux", "rows": 2, "header": True},
        {"that": "ps_aux", "matches": "/bin/bash"},
        {"that": "ps_aux", "matches": "ps aux"},
        {"that": "shell_on_host.cmdline", "equals": "/bin/bash"},
        {"that": "shell_on_host.pid", "not_equals": "{{ shell_pid }}"},
    ):
        assert shared in drafted


@needs_seed
@pytest.mark.parametrize(
    ("ps_output", "listing", "verdicts"),
    [
        (
            "USER PID COMMAND\nroot 1 /bin/bash\nroot 7 ps aux",
            "bin boot dev etc home lib lib64 media mnt opt proc root run sbin srv sys tmp usr var",
            {"s01-ls": "pass", "s01-ps-aux": "pass"},
        ),
        (
            "USER PID COMMAND\nroot 1 /bin/bash\nroot 5 sleep 9\nroot 7 ps aux",
            "bin boot dev etc",
            {"s01-ls": "fail", "s01-ps-aux": "fail"},
        ),
    ],
    ids=["as-the-article-shows", "negative-control"],
)
def test_the_seed_s_reviewed_drafts_run_and_fail_where_they_do_not_hold(
    tmp_path: Path,
    fake_runtimes: FakeRuntimes,
    ps_output: str,
    listing: str,
    verdicts: dict[str, str],
) -> None:
    folder = tmp_path / "scenarios"
    (path,) = write_drafts(draft_article(read_article(str(SEED))), folder, force=False)
    path.write_text(reviewed(path.read_text()))
    fake_runtimes(tmp_path, {"fake": {"typed": {"ps aux": ps_output, "ls": listing}}})

    result = run_command(
        "run", "--runtimes-file", "runtimes.yaml", "--json", "out.json", "-k", "ls or ps-aux",
        "--", "-p", "no:cacheprovider", cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == (0 if set(verdicts.values()) == {"pass"} else 1), result.stdout
    records = yaml.safe_load((tmp_path / "out.json").read_text())["results"]
    assert {r["claim"]: r["verdict"] for r in records} == verdicts


# -- the project's own tutorials ------------------------------------------------------------------

TUTORIALS = sorted(p for p in ARTICLES.glob("*") if p.suffix in (".md", ".html"))


def test_there_is_a_markdown_and_an_html_tutorial() -> None:
    assert sorted(p.suffix for p in TUTORIALS) == [".html", ".md"]


@pytest.mark.parametrize("article", TUTORIALS, ids=lambda p: p.name)
def test_every_command_of_a_tutorial_becomes_a_step_and_every_draft_loads(article: Path) -> None:
    drafts = draft_article(read_article(str(article)))

    assert drafts.files and all(f.text for f in drafts.files), [f.not_written for f in drafts.files]
    assert drafts.placed == drafts.commands, [
        (s.line, s.what, s.why) for f in drafts.files for s in f.skipped
    ]
    assert drafts.transcript.unplaced == ()
    assert len(load_reviewed(drafts)) == len(drafts.files)


def test_the_markdown_tutorial_s_drafts() -> None:
    drafts = draft_article(read_article(str(ARTICLES / "inside-a-container.md")))

    found = corresponding(drafts)
    assert "shell-is-pid-1" in found["s01-echo"]
    assert "runs-as-root" in found["s01-id-u"]
    assert "hostname-differs-from-host" in found["s01-hostname"]
    assert "shares-host-kernel" in found["s01-uname-r"]
    assert "ps-shows-only-shell-and-ps" in found["s01-ps-aux"]
    assert "host-sees-container-process" in found["s01-shell-on-host"]
    drafted = expectations(drafts)
    assert {"that": "echo", "equals": 1} in drafted
    assert {"that": "id_u", "equals": 0} in drafted
    assert {"that": "hostname", "not_equals": "{{ host_hostname }}"} in drafted
    assert {"that": "uname_r", "equals": "{{ host_kernel }}"} in drafted


def test_the_html_tutorial_s_drafts() -> None:
    drafts = draft_article(read_article(str(ARTICLES / "limits-and-options.html")))

    (draft,) = drafts.files
    document = yaml.safe_load(draft.text)
    container = document["container"]
    assert {k: container[k] for k in ("hostname", "memory", "pids_limit", "read_only", "tmpfs")} == {
        "hostname": "cc-tutorial", "memory": "64m", "pids_limit": 32, "read_only": True,
        "tmpfs": ["/scratch"],
    }  # fmt: skip
    drafted = expectations(drafts)
    assert {"that": "hostname", "equals": "cc-tutorial"} in drafted
    assert {"that": "cat_sys_fs_cgroup_memory_memory", "equals": 67108864} in drafted
    assert {"that": "cat_sys_fs_cgroup_pids_pids_max", "equals": 32} in drafted
