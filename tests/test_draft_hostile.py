"""Hostile articles: an article is untrusted like a scenario. The drafter only writes data
(no article text becomes a host command, a runtime option or a file name), every draft it
writes loads, and it takes bounded time and memory whatever the article holds."""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from container_claims.draft import Drafts, draft_article, summary_lines, write_drafts
from container_claims.draft.article import MAX_ARTICLE_BYTES, parse_article
from container_claims.scenario.validate import scenario_from_text

#: Seconds any one hostile article may take (each takes about one here; machines are shared).
BOUND = 15.0


def drafted(data: bytes, form: str = "text") -> tuple[Drafts, float]:
    start = time.monotonic()
    drafts = draft_article(parse_article(data, "hostile", form=form))
    summary_lines(drafts, [])
    return drafts, time.monotonic() - start


def assert_all_load(drafts: Drafts) -> None:
    for draft in drafts.files:
        assert not draft.defect, draft.not_written
        if draft.text:
            scenario_from_text(draft.text, Path("d.yaml"), "d.yaml", allow_drafts=True)
            lines = draft.text.splitlines()
            reviewed = "\n".join(line for line in lines if line.strip() != "draft: true")
            scenario_from_text(reviewed, Path("d.yaml"), "d.yaml")


def session(*lines: str, run: str = "docker run --rm -ti img bash") -> bytes:
    """A fenced session: ``run``, then ``lines`` as they are (prompts and outputs)."""
    return "\n".join(["```", f"$ {run}", *lines, "```", ""]).encode()


def loaded(drafts: Drafts) -> dict[str, Any]:
    (draft,) = [f for f in drafts.files if f.text]
    assert_all_load(drafts)
    document: dict[str, Any] = yaml.safe_load(draft.text)
    return document


def whys(drafts: Drafts) -> list[str]:
    return [s.why for f in drafts.files for s in f.skipped] + [s.why for s in drafts.skipped]


# -- size and shape -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "form"),
    [
        ("100k prompts, no session", b"# ls\nbin\n" * 100_000, "text"),
        ("100k prompts in one session", b"$ docker run -ti img sh\n" + b"# echo $$\n1\n" * 100_000, "text"),
        ("20k sessions", b"$ docker run -ti img sh\n# id -u\n0\n" * 20_000, "text"),
        ("deep html nesting", b"<div><span>" * 300_000 + b"<pre>$ docker run -ti x sh\n# ls\nbin</pre>", "html"),
        ("a million lone <", b"<a" * 1_000_000, "html"),
        ("unclosed quotes in tags", b'<pre><a href="' * 300_000, "html"),
        ("an unclosed comment", b"<!--" + b"<pre>$ ls</pre>" * 300_000, "html"),
        ("200k fences", b"```\n$ ls\n" * 200_000, "markdown"),
        ("one line of 8 MiB", b"$ " + b"a" * (MAX_ARTICLE_BYTES - 3) + b"\n", "text"),
        ("500k continuations", b"$ docker run \\\n" * 500_000, "text"),
        ("unterminated here-documents", b"$ docker run -ti x sh\n" + b"# cat <<EOF\n" * 300_000, "text"),
    ],
    ids=lambda value: value if isinstance(value, str) and " " in value else "",
)  # fmt: skip
def test_hostile_sizes_take_bounded_time_and_every_draft_loads(
    name: str, data: bytes, form: str
) -> None:
    drafts, took = drafted(data, form)

    assert took < BOUND, f"{name}: {took:.1f} s"
    assert len(drafts.files) <= 100
    assert_all_load(drafts)
    assert len(summary_lines(drafts, [])) <= 200 + len(drafts.files) + 8


def test_the_summary_lists_the_first_skipped_and_counts_the_rest() -> None:
    drafts, _ = drafted(b"# ls\n" * 1000)

    summary = summary_lines(drafts, [])
    assert summary[-1] == "  ... and 800 more"
    assert summary[-2] == "  line 200: ls: a container's prompt with no docker run before it"


def test_a_session_with_thousands_of_commands_stops_at_the_limits() -> None:
    drafts, _ = drafted(b"$ docker run -ti img sh\n" + b"# echo $$\n1\n" * 5000)

    document = loaded(drafts)
    assert len(document["steps"]) == 200
    assert "a draft takes at most 200 steps" in whys(drafts)


def test_outputs_of_a_megabyte_stay_within_the_scenario_size() -> None:
    output = b"\n".join(b"line %d " % n + b"x" * 1000 for n in range(4000))
    drafts, _ = drafted(b"$ docker run -ti img sh\n# cat big\n" + output + b"\n")

    (draft,) = drafts.files
    assert_all_load(drafts)
    assert len(draft.text.encode()) < 1 << 20


# -- what the drafter writes is data --------------------------------------------------------------

YAML_SPECIAL = [
    "*a",
    "&x y",
    "!!python/object/apply:os.system ['id']",
    "!binary x",
    "- a",
    "? x",
    ": y",
    "# z",
    "%TAG ! x",
    "@x",
    "`x`",
    "| x",
    "> x",
    "yes",
    "null",
    "~",
    "1e3",
    "0x10",
    "2001-01-01",
    "<<",
    "=",
    "'quoted",
    '"double',
    "a: b",
    "{a: b}",
    "[a]",
]


@pytest.mark.parametrize("text", YAML_SPECIAL)
def test_yaml_special_strings_stay_text(text: str) -> None:
    article = session(f"root@3c5a8d:/# echo {text}", text, "root@3c5a8d:/# exit")
    drafts, _ = drafted(article, "markdown")

    document = loaded(drafts)
    assert document["steps"][0]["type"] == f"echo {text}"
    claims = [c for c in document["claims"] if c["id"] != "s01-prompt"]
    if text.startswith("# "):
        assert claims == []  # "# z" is a prompt in a transcript, not output
    else:
        (claim,) = claims
        assert [e["equals"] for e in claim["expect"]] == [text]


@pytest.mark.parametrize(
    "template", ["{{ x }}", "{{ token }}", "{{token}}", "a }} b", "{{ shell_pid.0 }}"]
)
def test_our_template_syntax_is_never_written_as_a_template(template: str) -> None:
    article = session(
        f"root@3c5a8d:/# echo '{template}'",
        template,
        f"root@3c5a8d:/# ls {template}",
        f"ls: cannot access '{template}': No such file or directory",
        run=f"docker run --rm -ti --hostname '{template}' -e 'A={template}' img '{template}'",
    )
    drafts, _ = drafted(article, "markdown")

    (draft,) = drafts.files
    assert_all_load(drafts)
    values = [line for line in draft.text.splitlines() if not line.lstrip().startswith("#")]
    assert [line for line in values if template in line or "{{" in line] == []
    assert any("template syntax" in why for why in whys(drafts))


def test_a_sentence_with_a_template_is_a_comment_only() -> None:
    text = "Run {{ token }} now and see.\n\n```\n$ docker run --rm -ti img sh\n# id -u\n0\n```\n"
    drafts, _ = drafted(text.encode(), "markdown")

    document = loaded(drafts)
    (claim,) = document["claims"]
    assert claim["says"] == "What the article shows at line 5."
    assert claim["expect"] == [{"that": "id_u", "equals": 0}]
    assert "  # the article says: Run {{ token }} now and see." in drafts.files[0].text


@pytest.mark.parametrize(
    "line",
    [
        "root@3c5a8d:/# --",
        "root@3c5a8d:/# -x",
        "root@3c5a8d:/# --privileged",
        "root@3c5a8d:/# echo $(rm -rf /); ls | tee /etc/x && id; `whoami` > /dev/sda &",
        "root@3c5a8d:/# :(){ :|:& };:",
    ],
)
def test_commands_are_typed_as_data(line: str) -> None:
    command = line.split("# ", 1)[1]
    drafts, _ = drafted(session(line, "out", run="docker run --rm -ti img -- -x"), "markdown")

    document = loaded(drafts)
    assert document["steps"][0]["type"] == command
    assert document["container"]["command"] == ["--", "-x"]


def test_options_of_the_article_never_become_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """No option the drafter does not know reaches the draft, whatever it says; a value that
    looks like an option stays a value of a field the loader checks."""
    run = (
        "docker run --rm -ti --privileged --pid=host -v /:/host --device /dev/sda "
        "--security-opt seccomp=unconfined --cap-add ALL --network=host "
        "--user=--privileged --workdir=--rm --entrypoint /bin/sh img --privileged"
    )
    drafts, _ = drafted(session("root@3c5a8d:/# id -u", "0", run=run), "markdown")

    document = loaded(drafts)
    container = document["container"]
    assert container["command"] == ["--privileged"]
    for key in ("privileged", "pid", "devices", "network", "cap_add", "user", "workdir"):
        assert key not in container, key
    reasons = whys(drafts)
    assert len([r for r in reasons if r == "the scenario format has no such option"]) == 4


def test_the_drafter_runs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the drafter ran {args!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr("os.system", refuse)
    monkeypatch.setattr("os.execvp", refuse)

    drafts, _ = drafted(
        session(
            "root@3c5a8d:/# $(touch /tmp/pwned)", "", "$ rm -rf ~", run="docker run -ti $(id) sh"
        ),
        "markdown",
    )

    assert_all_load(drafts)


def test_names_in_the_article_never_name_files(tmp_path: Path) -> None:
    run = "docker run --rm -ti --name ../../../etc/passwd -v ../../x:/y -v ..:/z img sh"
    text = session("root@3c5a8d:/# ls ../../..", "etc", run=run)
    drafts = draft_article(parse_article(text, "../../../etc/shadow.md", form="markdown"))
    out = tmp_path / "out"

    written = write_drafts(drafts, out, force=False)

    assert [p.relative_to(tmp_path) for p in written] == [Path("out/session-01.yaml")]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [
        Path("out"), Path("out/session-01.yaml")
    ]  # fmt: skip
    document = yaml.safe_load(written[0].read_text())
    assert "volumes" not in document


@pytest.mark.parametrize(
    "character", ["\x1b", "\x07", "\x0b", "\x7f", "\x85", "\u2028", "\ufeff", "\u202e", "\x9b"]
)
def test_control_and_odd_characters_are_left_out_or_escaped(character: str) -> None:
    article = session(
        f"root@3c5a8d:/# echo a{character}b",
        f"a{character}b",
        f"root@3c5a8d:/# id -u{character}",
        "0",
    )
    drafts, _ = drafted(article, "markdown")

    assert_all_load(drafts)
    for draft in drafts.files:
        assert character not in draft.text or character.isprintable()


def test_a_hostile_article_in_html_is_read_as_text() -> None:
    page = textwrap.dedent(
        """\
        <pre>$ docker run --rm -ti img sh
        # echo &lt;script&gt;alert(1)&lt;/script&gt; &amp;&amp; echo &#x7b;&#x7b; x }}
        <script>done</script>
        </pre>
        """
    ).encode()
    drafts, _ = drafted(page, "html")

    assert_all_load(drafts)
    typed = [c.text for s in drafts.transcript.sessions for c in s.commands]
    assert typed == ["echo <script>alert(1)</script> && echo {{ x }}"]
