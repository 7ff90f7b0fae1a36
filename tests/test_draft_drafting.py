"""Sessions become draft scenarios: the container from the run line, a step a command, a draft
claim an output with the operator its shape calls for; what the format cannot say is named in
a comment and in the report; files are written where asked, never over others unless forced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from container_claims.cli import main
from container_claims.draft import Drafts, draft_article, summary_lines, write_drafts
from container_claims.draft.article import parse_article
from container_claims.draft.drafting import name_from_command, re2_escape, safe_name
from container_claims.draft.shapes import clean_line, shape_of
from container_claims.errors import InputError
from container_claims.patterns import compile_pattern
from container_claims.scenario.validate import scenario_from_text


def drafts_of(text: str, form: str = "markdown", name: str = "article.md") -> Drafts:
    return draft_article(parse_article(textwrap.dedent(text).encode(), name, form=form))


def only_draft(text: str, form: str = "markdown") -> dict[str, Any]:
    """The one draft of ``text``, loaded as plain YAML (after checking it loads as a scenario,
    as a draft and, without its draft lines, as a claim to run)."""
    drafts = drafts_of(text, form)
    (draft,) = drafts.files
    assert draft.text, draft.not_written
    assert_loads(draft.text)
    document: dict[str, Any] = yaml.safe_load(draft.text)
    return document


def assert_loads(text: str) -> None:
    scenario_from_text(text, Path("d.yaml"), "d.yaml", allow_drafts=True)
    reviewed = "\n".join(line for line in text.splitlines() if line.strip() != "draft: true")
    scenario_from_text(reviewed, Path("d.yaml"), "d.yaml")


def expectations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The expectations of the draft's claims but the prompt's (every session below shows a
    prompt, root@3c5a8d)."""
    found = [e for claim in document["claims"] for e in claim["expect"]]
    return [e for e in found if e["that"] != "session.prompt"]


def skipped(drafts: Drafts) -> list[tuple[int, str, str]]:
    return [(s.line, s.what, s.why) for f in drafts.files for s in f.skipped] + [
        (s.line, s.what, s.why) for s in drafts.skipped
    ]


def session(*typed: tuple[str, str], run: str = "docker run --rm -ti img bash") -> str:
    lines = ["```", f"$ {run}"]
    for command, output in typed:
        lines.append(f"root@3c5a8d:/# {command}")
        lines += output.splitlines()
    return "\n".join([*lines, "```", ""])


# -- shapes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "output", "kind"),
    [
        ("cat /nope", "cat: /nope: No such file or directory", "error"),
        ("ps aux", "USER PID COMMAND\nroot 1 bash", "ps"),
        ("ps -ef", "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:00 sh", "ps"),
        ("ls /", "bin  etc\nerror.log", "listing"),
        ("echo $$", "1", "number"),
        ("hostname", "3c5a8d2f1e0b", "hex"),
        ("cat /etc/hostname", "3c5a8d2f1e0b", "hex"),
        ("uname -r", "6.1.0-18-amd64", "text"),
        ("cat /etc/motd", "one\ntwo", "lines"),
        ("echo", "...", None),
    ],
)
def test_shapes(command: str, output: str, kind: str | None) -> None:
    shape = shape_of(command, tuple(output.splitlines()))

    assert (shape.kind if shape else None) == kind


def test_terminal_escapes_and_redrawn_lines_are_cleaned() -> None:
    assert clean_line("\x1b[01;34mbin\x1b[0m  etc") == "bin  etc"
    assert clean_line("\x1b]0;title\x07done") == "done"
    assert clean_line("10%\r100%") == "100%"


@pytest.mark.parametrize(
    ("command", "output", "expected"),
    [
        ("id -u", "0", [{"equals": 0}]),
        ("tty", "/dev/pts/0", [{"equals": "/dev/pts/0"}]),
        ("ls /", "bin  etc", [{"contains": "bin"}, {"contains": "etc"}]),
        ("ls -l /", "total 8\ndrwxr-xr-x 2 root root 4096 Dec 1 bin", [{"contains": "bin"}]),
        (
            "touch /x",
            "touch: cannot touch '/x': Read-only file system",
            [{"contains": "touch: cannot touch '/x': Read-only file system"}],
        ),
        (
            "ps",
            "  PID TTY  TIME CMD\n    1 pts/0 00:00:00 bash\n    7 pts/0 00:00:00 ps",
            [{"rows": 2, "header": True}, {"matches": "bash"}, {"matches": "ps"}],
        ),
        (
            "ps aux",
            "USER PID COMMAND\nroot 1 /bin/sh -c a.b(c)\n...",
            [{"matches": "/bin/sh -c a\\.b\\(c\\)"}],
        ),
        ("cat /etc/issue", "Debian\n\\n \\l", [{"contains": "Debian"}, {"contains": "\\n \\l"}]),
    ],
    ids=["number", "text", "listing", "long-listing", "error", "ps", "ps-elided", "lines"],
)
def test_each_output_becomes_a_claim_by_its_shape(
    command: str, output: str, expected: list[dict[str, Any]]
) -> None:
    document = only_draft(session((command, output)))

    found = [{k: v for k, v in e.items() if k != "that"} for e in expectations(document)]
    assert found == expected


def test_a_hex_hostname_is_compared_with_the_host_s() -> None:
    document = only_draft(session(("hostname", "3c5a8d2f1e0b")))

    assert {"probe": "host.hostname", "save": "host_hostname"} in document["steps"]
    assert expectations(document) == [{"that": "hostname", "not_equals": "{{ host_hostname }}"}]


def test_a_draft_claim_has_its_source_says_section_and_draft() -> None:
    text = """\
    # Guide

    ## Processes

    Inside, the shell is the first process.

    ```
    $ docker run --rm -ti img bash
    root@3c5a8d:/# echo $$
    1
    ```
    """
    document = only_draft(text)

    prompt_claim, claim = document["claims"]
    assert claim == {
        "id": "s01-echo",
        "draft": True,
        "source": "article.md:9",
        "says": "Inside, the shell is the first process.",
        "expect": [{"that": "echo", "equals": 1}],
    }
    assert document["section"] == "Processes"
    assert document["source"] == "Guide"
    assert prompt_claim["expect"] == [{"that": "session.prompt", "matches": "^root@[0-9a-f]+:"}]


def test_says_falls_back_to_the_command() -> None:
    document = only_draft(session(("id -u", "0")))

    assert document["claims"][-1]["says"] == "id -u"


# -- the container ----------------------------------------------------------------------------------


def test_the_run_line_s_options_become_the_container_and_the_image_is_the_run_s() -> None:
    run = (
        "docker run --rm -ti --name web --hostname box --read-only --tmpfs /run:size=16m,noexec "
        "-v data:/data:ro -v /srv/site:/srv -v /cache -u 1000:1000 -w /tmp -e GREETING=hi "
        "-e HOME -m 512M --pids-limit 64 --cpus 0.5 --cap-drop chown --cap-add NET_ADMIN "
        "--init -l role=web --stop-signal 2 --shm-size 64M "
        "--security-opt no-new-privileges:true --network host --restart always --frobnicate "
        "ubuntu:22.04 /bin/bash"
    )
    drafts = drafts_of(session(("echo $$", "1"), run=run))
    (draft,) = drafts.files
    document = yaml.safe_load(draft.text)
    assert_loads(draft.text)

    assert document["volumes"] == ["data"]
    assert document["container"] == {
        "command": ["/bin/bash"],
        "tty": True,
        "interactive": True,
        "remove": True,
        "hostname": "box",
        "read_only": True,
        "tmpfs": [{"path": "/run", "size": "16m"}],
        "volumes": {"data": {"path": "/data", "read_only": True}},
        "anonymous_volumes": ["/cache"],
        "user": "1000:1000",
        "workdir": "/tmp",
        "env": {"GREETING": "hi"},
        "memory": "512m",
        "pids_limit": 64,
        "cpus": "0.5",
        "cap_drop": ["CHOWN"],
        "init": True,
        "labels": {"role": "web"},
        "stop_signal": "SIGINT",
        "shm_size": "64m",
        "security_opt": ["no-new-privileges"],
    }
    assert "image" not in document["container"]
    assert "# the article's image 'ubuntu:22.04' is not used: the run's test image is" in draft.text
    reasons = {what: why for _, what, why in skipped(drafts)}
    for option in ("--tmpfs /run:size=16m,noexec", "-v /srv/site:/srv", "-e HOME",
                   "--cap-add NET_ADMIN", "--network host", "--restart always", "--frobnicate"):  # fmt: skip
        assert option in reasons, option
        assert f"# not drafted: {option} (" in draft.text, option
    assert "allow-host-access" in reasons["--network host"]
    assert "allow-host-access" in reasons["--cap-add NET_ADMIN"]
    assert reasons["--restart always"] == "the scenario format has no such option"
    assert reasons["--frobnicate"].startswith("an option the drafter does not know")


def test_without_rm_the_container_is_kept_as_docker_keeps_it() -> None:
    document = only_draft(session(("echo $$", "1"), run="docker run -ti img"))

    assert document["container"] == {"tty": True, "interactive": True, "remove": False}


def test_published_ports_need_a_network() -> None:
    document = only_draft(session(("echo $$", "1"), run="docker run --rm -ti -p 8080:80 img sh"))

    assert document["container"]["ports"] == [80]
    assert document["container"]["network"] == "bridge"


def test_without_i_nothing_is_typed() -> None:
    drafts = drafts_of(session(("echo $$", "1"), run="docker run --rm -t img sh"))

    (draft,) = drafts.files
    assert draft.not_written == "no output to draft a claim from: nothing written"
    assert (
        3,
        "echo $$",
        "typed into a container started without -i: nothing typed reaches it",
    ) in (skipped(drafts))


def test_one_shot_runs_become_run_steps() -> None:
    text = """\
    ```
    $ docker run --rm --read-only img touch /x
    touch: cannot touch '/x': Read-only file system
    $ docker run -d --name web img sleep 60
    0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    $ docker exec web cat /etc/hostname
    0123456789ab
    ```
    """
    document = only_draft(text)

    assert [step.get("run") or step.get("exec") or step for step in document["steps"]] == [
        {"command": ["touch", "/x"], "remove": True, "read_only": True},
        {"command": ["sleep", "60"], "remove": False, "detach": True, "name": "web"},
        {"in": "web", "command": ["cat", "/etc/hostname"]},
        {"probe": "host.hostname", "save": "host_hostname"},
    ]
    assert expectations(document)[0] == {
        "that": "touch_x.stderr",
        "contains": "touch: cannot touch '/x': Read-only file system",
    }


# -- the host's side --------------------------------------------------------------------------------


def test_host_commands_become_the_probes_that_observe_the_same() -> None:
    text = """\
    ```
    $ docker run --rm -ti img bash
    root@3c5a8d:/# uname -r
    6.1.0-18-amd64
    root@3c5a8d:/# cat /proc/sys/kernel/random/boot_id
    b7e1c6d0-3f0a-4d8e-9f57-0a1b2c3d4e5f
    root@3c5a8d:/# ps aux
    USER PID COMMAND
    root 1 bash
    root 9 ps aux
    ```
    On the host:
    ```
    $ uname -r
    6.1.0-18-amd64
    $ cat /proc/sys/kernel/random/boot_id
    b7e1c6d0-3f0a-4d8e-9f57-0a1b2c3d4e5f
    $ ps aux
    USER PID COMMAND
    root 1 /sbin/init
    root 4242 bash
    $ docker ps
    CONTAINER ID IMAGE
    ```
    """
    drafts = drafts_of(text)
    (draft,) = drafts.files
    document = yaml.safe_load(draft.text)
    assert_loads(draft.text)

    probes = [step["probe"] for step in document["steps"] if "probe" in step]
    assert probes == ["host.kernel_release", "host.boot_id", "host.pid1", "host.find_process"]
    found = expectations(document)
    assert {"that": "uname_r", "equals": "{{ host_kernel }}"} in found
    assert {"that": "cat_proc_sys_kernel_random_boot", "equals": "{{ host_boot_id }}"} in found
    assert {"that": "host_pid1.cmdline", "not_equals": "bash"} in found
    assert {"that": "shell_on_host.cmdline", "equals": "bash"} in found
    assert {"that": "shell_on_host.pid", "not_equals": "{{ shell_pid }}"} in found
    assert (22, "docker ps", "on the host: no host probe observes it") in skipped(drafts)
    summary = summary_lines(drafts, [])
    assert "commands: 8 found, 7 became steps or containers (87%)" in summary


def test_save_names_and_claim_ids_are_made_safe() -> None:
    assert name_from_command("ps aux") == "ps_aux"
    assert name_from_command("/usr/bin/env FOO=1 ls -la") == "env_foo_1"
    assert name_from_command("../../etc/passwd") == "passwd"
    assert name_from_command("1 2 3") == "cmd_1_2"
    assert name_from_command("éé") == "cmd"
    assert safe_name("session") == "session"
    assert re2_escape("{{ x }}") == "\\{\\{ x \\}\\}"
    assert compile_pattern(re2_escape("a.b(c)[d]{1}|*+?^$\\")).search("a.b(c)[d]{1}|*+?^$\\")


def test_the_same_command_twice_gets_two_names() -> None:
    document = only_draft(session(("echo $$", "1"), ("echo $$", "1")))

    assert [step["save"] for step in document["steps"]] == ["echo", "echo_2"]
    assert [claim["id"] for claim in document["claims"]] == ["s01-prompt", "s01-echo", "s01-echo-2"]


def test_a_here_document_is_typed_as_one_line_that_means_the_same(tmp_path: Path) -> None:
    text = """\
    ```
    $ docker run --rm -ti img bash
    root@3c5a8d:/# cat <<'EOF' > note
    > it's $HOME
    > second
    > EOF
    root@3c5a8d:/# cat note
    it's $HOME
    second
    ```
    """
    document = only_draft(text)

    typed = document["steps"][0]["type"]
    assert typed == "printf '%s\\n' 'it'\\''s $HOME' 'second' | cat > note"
    subprocess.run(["bash", "-c", typed], cwd=tmp_path, check=True, timeout=10)
    assert (tmp_path / "note").read_text() == "it's $HOME\nsecond\n"


def test_a_here_document_that_expands_is_skipped() -> None:
    text = session(("cat <<EOF\n> $HOME\n> EOF", "/root"))
    drafts = drafts_of(text)

    assert any("expands $" in why for _, _, why in skipped(drafts))


# -- files ------------------------------------------------------------------------------------------


def test_drafts_are_written_by_session_number_never_over_a_file(tmp_path: Path) -> None:
    text = session(("echo $$", "1")) + "\n" + session(("id -u", "0"))
    drafts = drafts_of(text)
    out = tmp_path / "out"

    written = write_drafts(drafts, out, force=False)

    assert [p.name for p in written] == ["session-01.yaml", "session-02.yaml"]
    with pytest.raises(InputError) as info:
        write_drafts(drafts, out, force=False)
    assert str(info.value) == (
        f"{out / 'session-01.yaml'} exists (and 1 more): give --force to replace drafts, "
        "or -o another folder"
    )
    assert write_drafts(drafts, out, force=True) == written


def test_a_link_where_a_draft_goes_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "session-01.yaml").symlink_to(target)

    with pytest.raises(InputError, match="cannot write the drafts"):
        write_drafts(drafts_of(session(("echo $$", "1"))), out, force=True)

    assert target.read_text() == "keep"


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    article = tmp_path / "a.md"
    typed = (("echo $$", "1"), ("docker ps", ""), ("exit", ""))
    article.write_text(session(*typed) + "```\n$ uname -r\n6.1.0\n```\n")
    out = tmp_path / "drafts"

    assert main(["draft", str(article), "-o", str(out)]) == 0

    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"draft: {article} (Markdown)",
        f"wrote {out / 'session-01.yaml'}: session 1 (lines from 2): 4 commands -> 2 steps, "
        "1 outputs -> 2 draft claims",
        "sessions: 1 found, 1 written",
        "commands: 5 found, 4 became steps or containers (80%)",
        "outputs: 1 found, 1 drafted as 2 claims",
        "skipped (1):",
        "  line 9: uname -r: a host command while no container session is open",
    ]
    assert main(["draft", str(article), "-o", str(out)]) == 2
    assert "give --force" in capsys.readouterr().err
    assert main(["draft", str(article), "-o", str(out), "--force"]) == 0


def test_the_command_line_refuses_binary_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    article = tmp_path / "a.bin"
    article.write_bytes(b"\x7fELF\x00\x01")

    assert main(["draft", str(article), "-o", str(tmp_path / "d")]) == 2

    assert capsys.readouterr().err == (
        f"container-claims: {article}:1: binary input (a NUL byte): an article is Markdown, "
        "HTML or plain text\n"
    )
    assert not (tmp_path / "d").exists()


def test_the_drafts_folder_defaults_to_drafts(tmp_path: Path) -> None:
    article = tmp_path / "a.md"
    article.write_text(session(("echo $$", "1")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}

    result = subprocess.run(
        [sys.executable, "-m", "container_claims", "draft", "-", "--format", "markdown"],
        input=article.read_bytes(), cwd=tmp_path, env=env, capture_output=True, timeout=60,
        check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "drafts" / "session-01.yaml").exists()
