"""Reading an article into transcripts: the article's bounds and formats, prompts, docker run
lines and their options, sessions, outputs, here-documents, the sentence near a block."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from container_claims.draft.article import (
    MAX_ARTICLE_BYTES,
    ArticleError,
    Line,
    parse_article,
    read_article,
)
from container_claims.draft.prompts import here_document, prompt_of
from container_claims.draft.runline import EngineLineError, parse_engine_line
from container_claims.draft.transcript import Transcript, parse_transcript, sentences


def transcript(text: str, form: str) -> Transcript:
    return parse_transcript(parse_article(textwrap.dedent(text).encode(), "a", form=form))


def kinds(lines: tuple[Line, ...]) -> list[tuple[int, str]]:
    return [(line.number, line.kind) for line in lines]


# -- the article ----------------------------------------------------------------------------------


def test_an_article_over_the_limit_is_refused_naming_the_limit() -> None:
    with pytest.raises(ArticleError) as info:
        parse_article(b"x" * (MAX_ARTICLE_BYTES + 1), "big.md")

    assert str(info.value) == (
        "big.md: the article is more than 8,388,608 bytes (8 MiB), the most an article may be"
    )


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with open(path, "wb") as handle:
        handle.truncate(MAX_ARTICLE_BYTES + 1)  # sparse: nothing to read anyway

    with pytest.raises(ArticleError, match="more than 8,388,608 bytes"):
        read_article(str(path))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"# ls\nbin\x00\n", "a:2: binary input (a NUL byte): an article is Markdown, HTML or plain text"),
        (b"ok\n\xff\xfe\n", "a:2: not UTF-8 text (byte 0xff); save the article as UTF-8"),
    ],
    ids=["nul", "invalid-utf-8"],
)  # fmt: skip
def test_binary_input_is_one_line_naming_it(data: bytes, message: str) -> None:
    with pytest.raises(ArticleError) as info:
        parse_article(data, "a")

    assert str(info.value) == message


def test_stdin_is_read_as_the_article() -> None:
    article = read_article("-", stdin=io.BytesIO(b"```\n$ docker run -ti x sh\n```\n"))

    assert (article.name, article.format) == ("<stdin>", "markdown")


def test_a_missing_file_is_one_line() -> None:
    with pytest.raises(ArticleError, match="nowhere.md: cannot read the article"):
        read_article("nowhere.md")


@pytest.mark.parametrize(
    ("suffix", "text", "form"),
    [
        (".md", "plain", "markdown"),
        (".htm", "plain", "html"),
        (".txt", "<html>", "text"),
        ("", "<!DOCTYPE html><p>x</p>", "html"),
        ("", "intro\n```\n$ ls\n```\n", "markdown"),
        ("", "# ls\nbin\n", "text"),
    ],
)
def test_the_format_comes_from_the_extension_else_the_text(
    suffix: str, text: str, form: str
) -> None:
    assert parse_article(text.encode(), "a", suffix=suffix).format == form


def test_format_forced_and_unknown_format() -> None:
    assert parse_article(b"<p>x</p>", "a", form="text", suffix=".html").format == "text"
    with pytest.raises(ArticleError, match="format 'rst' is not one of markdown, html, text"):
        parse_article(b"x", "a", form="rst")


def test_long_lines_are_cut_and_reported() -> None:
    article = parse_article(b"short\n" + b"y" * 9000 + b"\n", "a", form="text")

    assert article.cut_lines == (2,)
    assert len(article.lines[1].text) == 8192


def test_markdown_lines() -> None:
    text = textwrap.dedent(
        """\
        # Title
        Some prose.

        ```console
        $ ls
        bin
        ```

            $ indented
        Setext
        ------
        ~~~
        unclosed
        """
    )
    article = parse_article(text.encode(), "a.md", suffix=".md")

    assert kinds(article.lines) == [
        (1, "heading"), (2, "prose"), (3, "blank"), (4, "blank"), (5, "code"), (6, "code"),
        (7, "blank"), (8, "blank"), (9, "code"), (10, "heading"), (11, "blank"), (12, "blank"),
        (13, "code"), (14, "code"),
    ]  # fmt: skip
    assert article.title == "Title"
    code = [line for line in article.lines if line.kind == "code"]
    assert [line.block for line in code] == [1, 1, 2, 3, 3]


def test_html_lines_keep_article_line_numbers() -> None:
    text = textwrap.dedent(
        """\
        <html><head><title>A &amp; B</title>
        <script>var x = "<pre>not code</pre>";</script></head>
        <body><h2>Section <em>one</em></h2>
        <p>Run the container
        and look.</p>
        <pre><code><span class="p">$</span> docker run --rm -ti img bash
        root@3c5a8d:/# echo &lt;hi&gt;
        &lt;hi&gt;</code></pre>
        <!-- <pre>$ commented out</pre> -->
        <p>Inline <code>ls</code> stays prose.</p>
        </body></html>
        """
    )
    article = parse_article(text.encode(), "a.html", suffix=".html")

    assert article.title == "A & B"
    assert [(line.number, line.kind, line.text) for line in article.lines] == [
        (3, "heading", "Section one"),
        (4, "prose", "Run the container and look."),
        (6, "code", "$ docker run --rm -ti img bash"),
        (7, "code", "root@3c5a8d:/# echo <hi>"),
        (8, "code", "<hi>"),
        (10, "prose", "Inline ls stays prose."),
    ]


def test_plain_text_headings_stand_alone() -> None:
    text = "Intro\n\nFilesystem\n\nIf you type ls you see it.\nNot a heading\n"
    article = parse_article(text.encode(), "a", form="text")

    assert kinds(article.lines) == [
        (1, "heading"), (2, "blank"), (3, "heading"), (4, "blank"), (5, "text"), (6, "text"),
        (7, "blank"),
    ]  # fmt: skip


# -- prompts and engine lines ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "side", "command", "host"),
    [
        ("$ ps aux", "host", "ps aux", None),
        ("% uname -r", "host", "uname -r", None),
        ("# ls", "container", "ls", None),
        ("root@3c5a8d:/# ps aux", "container", "ps aux", "3c5a8d"),
        ("root@3c5a8d2f1e0b:/tmp# ls", "container", "ls", "3c5a8d2f1e0b"),
        ("app@3c5a8d:~$ id", "container", "id", "3c5a8d"),
        ("user@laptop:~$ docker ps", "host", "docker ps", "laptop"),
        ("root@myhost:~# uname -r", "host", "uname -r", "myhost"),
        ("[root@fedora tmp]# ls", "host", "ls", "fedora"),
        ("/ # ls", "container", "ls", None),
        ("    $ indented", "host", "indented", None),
        ("root@3c5a8d:/#", "container", "", "3c5a8d"),
    ],
)
def test_prompts(line: str, side: str, command: str, host: str | None) -> None:
    prompt = prompt_of(line)

    assert prompt is not None
    assert (prompt.side, prompt.command, prompt.host) == (side, command, host)


@pytest.mark.parametrize(
    "line", ["# Start the container", "#!/bin/sh", "docker run x", "$5 a month", "a@b: c", ""]
)
def test_not_prompts(line: str) -> None:
    assert prompt_of(line) is None


def test_a_docker_run_line_and_its_options() -> None:
    run = parse_engine_line(
        "sudo docker run --rm -ti --name web -e A=1 -p8080:80 -v data:/data:ro "
        "--tmpfs=/run:size=16m --privileged --frobnicate=3 --shiny debian:12 sh -c 'echo a; ls' "
        "| tee log"
    )

    assert (run.engine, run.action, run.target) == ("docker", "run", "debian:12")
    assert run.command == ("sh", "-c", "echo a; ls")
    assert run.after == "| tee log"
    assert (run.interactive, run.tty, run.detach, run.flag("--rm")) == (True, True, False, True)
    assert [(o.name, o.value, o.known) for o in run.options] == [
        ("--rm", None, True), ("--tty", None, True), ("--interactive", None, True),
        ("--name", "web", True), ("--env", "A=1", True), ("--publish", "8080:80", True),
        ("--volume", "data:/data:ro", True), ("--tmpfs", "/run:size=16m", True),
        ("--privileged", None, True), ("--frobnicate", "3", False), ("--shiny", None, False),
    ]  # fmt: skip


def test_exec_and_podman_and_the_double_dash() -> None:
    exec_ = parse_engine_line("docker exec -it web ps aux")
    assert (exec_.action, exec_.target, exec_.command, exec_.tty) == (
        "exec", "web", ("ps", "aux"), True,
    )  # fmt: skip
    podman = parse_engine_line("podman container run --rm=false -- -x --")
    assert (podman.engine, podman.target, podman.command) == ("podman", "-x", ("--",))
    assert not podman.flag("--rm")


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("docker run", "no image"),
        ("docker run --name", "option --name has no value"),
        ("docker run -e", "option -e has no value"),
        ("docker run 'unclosed", "no closing quotation"),
        ("docker exec web", "no command to run in the container"),
        ("docker run " + "x" * 9000, "longer than 8,192 characters"),
    ],
)
def test_engine_lines_that_cannot_be_read(line: str, why: str) -> None:
    with pytest.raises(EngineLineError) as info:
        parse_engine_line(line)

    assert str(info.value) == why


def test_here_documents() -> None:
    start = here_document("cat <<'EOF' > /tmp/x")
    assert start is not None
    assert (start.delimiter, start.quoted, start.strip_tabs) == ("EOF", True, False)
    assert here_document('echo "<<EOF"') is None
    assert here_document("cat <<< word") is None
    dashed = here_document("cat <<-END")
    assert dashed is not None and (dashed.delimiter, dashed.strip_tabs) == ("END", True)


# -- sessions -------------------------------------------------------------------------------------

SESSIONS = """\
```
$ docker run --rm -ti --name box img bash
root@3c5a8d:/# echo $$
1
root@3c5a8d:/# cat <<'EOF' > /tmp/x
> one
> EOF
root@3c5a8d:/# docker ps
```
On the host meanwhile:
```
$ uname -r
6.1.0
# ls
root@3c5a8d:/# hostname
3c5a8d
root@3c5a8d:/# exit
$ hostname
laptop
# ls
```
"""


def test_sessions_commands_and_outputs() -> None:
    parsed = transcript(SESSIONS, "markdown")

    (session,) = parsed.sessions
    assert session.opener.text == "docker run --rm -ti --name box img bash"
    assert session.hostname == "3c5a8d"
    assert [(c.line, c.side, c.text) for c in session.commands] == [
        (3, "container", "echo $$"),
        (5, "container", "cat <<'EOF' > /tmp/x"),
        (8, "container", "docker ps"),
        (12, "host", "uname -r"),
        (15, "container", "hostname"),
        (17, "container", "exit"),
    ]
    outputs = [c.output.lines if c.output else None for c in session.commands]
    assert outputs == [("1",), None, None, ("6.1.0",), ("3c5a8d",), None]
    heredoc = session.commands[1].heredoc
    assert heredoc is not None and heredoc.body == ("one",) and heredoc.terminated
    assert [(u.line, u.reason) for u in parsed.unplaced] == [
        (14, "a '#' prompt after a host command: the container's shell or root's on the host? "
             "not placed"),
        (18, "a host command while no container session is open"),
        (20, "a container's prompt with no docker run before it"),
    ]  # fmt: skip


def test_a_new_interactive_run_opens_a_new_session_and_one_shots_join_it() -> None:
    text = """\
    $ docker run --rm alpine echo hi
    hi
    $ docker run --rm alpine cat /etc/alpine-release
    3.19.0

    $ docker run -ti alpine sh
    / # ls
    bin
    """
    parsed = transcript(text, "text")

    assert [(s.number, s.line, len(s.commands)) for s in parsed.sessions] == [(1, 1, 1), (2, 6, 1)]
    assert parsed.sessions[0].opener.output is not None
    assert parsed.sessions[0].opener.output.lines == ("hi",)


def test_plain_text_outputs_end_at_blank_lines_and_prose() -> None:
    text = """\
    Open a terminal and run:

    docker run --rm -ti ubuntu bash
    # ls
    bin   dev
    boot  etc
    This line is prose that explains what the listing above has shown us.
    # ps
        PID TTY          TIME CMD
          1 pts/0    00:00:00 bash

    docker run is how you start one.
    """
    parsed = transcript(text, "text")

    (session,) = parsed.sessions
    ls, ps = session.commands
    assert ls.output is not None and ls.output.lines == ("bin   dev", "boot  etc")
    assert ps.output is not None and len(ps.output.lines) == 2
    assert parsed.sentence_near(ls.line, ls.last_line) == (
        7, "This line is prose that explains what the listing above has shown us."
    )  # fmt: skip


def test_continuation_lines_are_one_command() -> None:
    text = """\
    ```
    $ docker run --rm -ti \\
        --hostname box \\
        img bash
    ```
    """
    (session,) = transcript(text, "markdown").sessions

    assert session.opener.text == "docker run --rm -ti --hostname box img bash"
    assert session.run.values("--hostname") == ["box"]


def test_a_run_line_that_cannot_be_read_is_reported() -> None:
    parsed = transcript("```\n$ docker run --rm 'oops\n```\n", "markdown")

    assert parsed.sessions == ()
    assert [u.reason for u in parsed.unplaced] == [
        "a docker run line that cannot be read: no closing quotation"
    ]


def test_code_that_follows_no_prompt_is_reported_once_per_run() -> None:
    parsed = transcript("```\nFROM debian\nRUN true\n```\n", "markdown")

    assert [(u.line, u.last_line, u.text) for u in parsed.unplaced] == [(2, 3, "FROM debian")]


def test_sentences() -> None:
    assert sentences("One. Two? Three! Four") == ["One.", "Two?", "Three!", "Four"]
    assert sentences("v1.2 is out. Yes.") == ["v1.2 is out.", "Yes."]
    long = sentences("word " * 200)[0]
    assert len(long) <= 400 and long.endswith("…")
