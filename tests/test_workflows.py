"""The CI workflows (.github/workflows/), checked here rather than found broken in CI.

Each file against GitHub's workflow schema (check-jsonschema's copy, offline) and zizmor's
security audits (offline), each with a broken workflow to show the check can fail; every
action pinned by commit, at a release that runs on Node 24; every ``container-claims``
command in them against the command line's own parser, as the shell would give it the
arguments; and the jobs against what they are for: ci.yml runs .ci/run, claims.yml checks
the packaged runtimes, each job installing only its own, both on the same kind of machine,
with pip's and apt's downloads cached, and only pull requests' runs cancelled.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from container_claims.cli import build_parser
from container_claims.runtimes import load_runtimes_file

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_FILES = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])

#: Options whose value is a file of the repository that the command reads.
INPUT_FILE_OPTIONS = ("--expect", "--before", "--baseline", "--runtimes-file")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name}: not a mapping"
    return document


def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = workflow.get("jobs")
    assert isinstance(found, dict), "no jobs"
    return found


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    """``check-jsonschema --builtin-schema vendor.github-workflows PATH`` from this
    environment (the ``dev`` extra installs it)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema"]
        + ["--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- GitHub's schema -------------------------------------------------------------------------


def test_the_workflows_are_there() -> None:
    assert {"ci.yml", "claims.yml"} <= {path.name for path in WORKFLOW_FILES}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_workflow_is_valid_for_github(path: Path) -> None:
    result = check_jsonschema(path)
    assert result.returncode == 0, (
        f"check-jsonschema rejects {path.relative_to(REPO)} (exit {result.returncode}; not "
        f"installed? pip install -e '.[dev]'):\n{result.stdout}{result.stderr}"
    )


VALID = """\
name: check
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo hello
"""


def test_a_job_without_runs_on_is_rejected(tmp_path: Path) -> None:
    valid = tmp_path / "valid.yml"
    valid.write_text(VALID)
    broken = tmp_path / "broken.yml"
    broken.write_text(VALID.replace("    runs-on: ubuntu-latest\n", ""))

    accepted, rejected = check_jsonschema(valid), check_jsonschema(broken)

    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    assert "'runs-on' is a required property" in rejected.stdout


# --- zizmor's audits ---------------------------------------------------------------------------


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    """``zizmor --offline PATH...`` from this environment (the ``dev`` extra installs it), at
    its default level. Offline: the audits that ask GitHub (impostor commits, known
    vulnerable actions, tags that moved) are left out; the pins are checked below instead."""
    found = shutil.which("zizmor", path=str(Path(sys.executable).parent))
    assert found, "zizmor is not installed in this environment: pip install -e '.[dev]'"
    return subprocess.run(
        [found, "--offline", "--no-progress", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    result = zizmor(*WORKFLOW_FILES)
    assert result.returncode == 0, (
        f"zizmor flags the workflows (exit {result.returncode}):\n{result.stdout}{result.stderr}"
    )


def test_zizmor_flags_an_action_pinned_by_tag(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(VALID.replace("    steps:\n", "    steps:\n      - uses: actions/checkout@v4\n"))

    result = zizmor(bad)

    assert result.returncode != 0, result.stdout + result.stderr
    assert "unpinned-uses" in result.stdout, result.stdout + result.stderr


# --- the actions: pinned by commit, on Node 24 -------------------------------------------------


@dataclass(frozen=True)
class Pin:
    tag: str
    commit: str
    runs_using: str  # runs.using of the action.yml at that commit


#: The actions the workflows use, each at the newest release of its newest major: the tag, the
#: commit it names, and the runtime its action.yml declares there. Read from the public
#: repositories on 2026-12-06 (git tags, then action.yml at the commit); the test needs no
#: network. To move one: read the same three facts for the new tag, change the table and the
#: workflows together.
PINS = {
    "actions/checkout": Pin("v7.0.1", "3d3c42e5aac5ba805825da76410c181273ba90b1", "node24"),
    # v6, not v7: both run on Node 24, and v7 cannot be built for the rehearsal here (its lock
    # wants an @actions/artifact release the npm registry no longer serves).
    "actions/upload-artifact": Pin("v6.0.0", "b7c566a772e6b6bfb58ed0dc250532a479d7789f", "node24"),
    "actions/download-artifact": Pin(
        "v8.0.1", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "node24"
    ),
    "actions/cache": Pin("v5.0.5", "27d5ce7f107fe9357f9df03efb73ab90386fccae", "node24"),
}
#: The first major of each that runs on Node 24 (read as above); GitHub retired Node 20, the
#: runtime of the majors before (checkout@v4, upload-artifact@v5, download-artifact@v6,
#: cache@v4), in 2026.
FIRST_NODE_24_MAJOR = {
    "actions/checkout": 5,
    "actions/upload-artifact": 6,
    "actions/download-artifact": 7,
    "actions/cache": 5,
}
USES = re.compile(
    r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?:\s+#\s*(?P<tag>\S+))?\s*$"
)


@dataclass(frozen=True)
class Use:
    where: str
    action: str
    ref: str
    tag: str | None


def uses_lines() -> list[Use]:
    """Every ``uses:`` line of the workflows, with the tag its comment names."""
    found = []
    for path in WORKFLOW_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = USES.match(line)
            if match:
                found.append(
                    Use(f"{path.name}:{number}", match["action"], match["ref"], match["tag"])
                )
    return found


def test_every_use_of_an_action_is_read() -> None:
    """The lines read are all the steps that use an action: the tests below are not vacuous."""
    steps = [
        step["uses"]
        for path in WORKFLOW_FILES
        for job in jobs(load(path)).values()
        for step in job.get("steps", [])
        if "uses" in step
    ]
    assert sorted(f"{use.action}@{use.ref}" for use in uses_lines()) == sorted(steps)
    assert {use.action for use in uses_lines()} == set(PINS)


@pytest.mark.parametrize("use", uses_lines(), ids=lambda use: use.where)
def test_action_is_pinned_by_commit_with_its_tag_in_a_comment(use: Use) -> None:
    pin = PINS.get(use.action)
    assert pin, f"{use.where}: {use.action} is not in PINS: read its tag, commit and runtime"
    expected = f"{use.action}@{pin.commit}  # {pin.tag}"
    assert (use.ref, use.tag) == (pin.commit, pin.tag), f"{use.where}: want {expected}"


@pytest.mark.parametrize("action", sorted(PINS))
def test_pinned_release_runs_on_node_24(action: str) -> None:
    pin = PINS[action]
    version = re.fullmatch(r"v(\d+)\.\d+\.\d+", pin.tag)
    assert version and re.fullmatch(r"[0-9a-f]{40}", pin.commit), pin
    assert pin.runs_using == "node24", pin
    assert int(version[1]) >= FIRST_NODE_24_MAJOR[action], f"{action}@{pin.tag} runs on Node 20"


# --- container-claims command lines ----------------------------------------------------------

SHELL_OPERATOR = re.compile(r"^[();<>|&]+$")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
#: A glob stands for several files, as the shell expands it in CI (results/*.json: one file
#: per runtime); two stand-ins show whether the option takes several.
GLOB_STAND_INS = ("first", "second")


@dataclass(frozen=True)
class Command:
    """One ``container-claims`` command of a workflow, its arguments as the program gets them."""

    id: str
    where: str
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: container-claims {shlex.join(self.argv)}"


def matrix_values(job: dict[str, Any]) -> list[dict[str, str]]:
    """Every combination of the job's matrix (one empty one without a matrix)."""
    matrix = job.get("strategy", {}).get("matrix", {})
    assert not {"include", "exclude"} & set(matrix), "include/exclude: extend this test"
    names = sorted(matrix)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*map(matrix.get, names))
    ]


def fill_in(script: str, values: dict[str, str]) -> str:
    """The script with ``${{ matrix.NAME }}`` replaced by its value; any other expression is
    left as one word, ``${{EXPRESSION}}``, which a command must not hold."""

    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        name = expression.removeprefix("matrix.")
        if name != expression and name in values:
            return values[name]
        return "${{" + re.sub(r"\s+", "", expression) + "}}"

    return EXPRESSION.sub(value, script)


def commands_in(script: str) -> Iterator[tuple[str, ...]]:
    """The arguments of each ``container-claims`` command of a shell script: words up to the
    next operator (``>>``, ``|``, ``&&``...), globs expanded to stand-ins, up to ``--``."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for start, word in enumerate(words):
            if Path(word).name != "container-claims":
                continue
            argv: list[str] = []
            for arg in itertools.takewhile(
                lambda w: not SHELL_OPERATOR.match(w), words[start + 1 :]
            ):
                if "*" in arg or "?" in arg:
                    argv += [re.sub(r"[*?]+", stand_in, arg) for stand_in in GLOB_STAND_INS]
                else:
                    argv.append(arg)
            yield tuple(argv[: argv.index("--")] if "--" in argv else argv)


def workflow_commands() -> list[Command]:
    found = []
    for path in WORKFLOW_FILES:
        for job_id, job in jobs(load(path)).items():
            for values in matrix_values(job):
                suffix = "".join(f"-{value}" for value in values.values())
                for number, step in enumerate(job.get("steps", []), 1):
                    name = fill_in(str(step.get("name", "")), values)
                    where = f"{path.name} {job_id}{suffix} step {number} ({name})"
                    script = step.get("run")
                    if isinstance(script, str):
                        filled = fill_in(script, values)
                        found += [
                            Command(f"{path.stem}-{job_id}{suffix}-step{number}", where, argv)
                            for argv in commands_in(filled)
                        ]
    return found


COMMANDS = workflow_commands()


def test_commands_are_read_as_the_shell_gives_them_their_arguments() -> None:
    script = (
        "python3 -m venv .venv && .venv/bin/pip install .\n"
        "# container-claims in a comment is no command\n"
        ".venv/bin/container-claims report results/*.json --html 'my report.html' \\\n"
        '  --markdown - >> "$GITHUB_STEP_SUMMARY" && container-claims runtimes | tee x\n'
        "container-claims run --runtime ${{ matrix.runtime }} --image ${{ env.IMAGE }} -- -x\n"
    )

    found = list(commands_in(fill_in(script, {"runtime": "podman"})))

    assert found == [
        ("report", "results/first.json", "results/second.json")
        + ("--html", "my report.html", "--markdown", "-"),
        ("runtimes",),
        ("run", "--runtime", "podman", "--image", "${{env.IMAGE}}"),
    ]


def test_the_workflows_run_container_claims_run_report_and_diff() -> None:
    """The commands below are found at all: the test of each is not vacuous."""
    subcommands = {command.argv[0] for command in COMMANDS if command.argv}
    assert {"run", "report", "diff"} <= subcommands, COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.id)
def test_container_claims_command_is_accepted(
    command: Command, capsys: pytest.CaptureFixture[str]
) -> None:
    """Parsed by the command line's own parser, and the files it reads are in the repository.
    Needs ``run --expect`` and ``diff`` (with expectations/ and baselines/) to have landed."""
    unknown = [arg for arg in command.argv if "${{" in arg]
    assert not unknown, f"{command}\nexpressions this test cannot fill in: extend it"
    try:
        build_parser().parse_args(list(command.argv))
    except SystemExit as exc:
        pytest.fail(f"{command}\nrefused (exit {exc.code}):\n{capsys.readouterr().err}")
    argv = list(command.argv)
    named = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in INPUT_FILE_OPTIONS]
    named += [
        value
        for option, equals, value in (arg.partition("=") for arg in argv)
        if equals and option in INPUT_FILE_OPTIONS
    ]
    missing = [name for name in named if not (REPO / name).is_file()]
    assert not missing, f"{command}\nnames files the repository does not have: {missing}"


# --- what the jobs are for -------------------------------------------------------------------


def steps_running(workflow: dict[str, Any], *commands: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (job_id, step)
        for job_id, job in jobs(workflow).items()
        for step in job.get("steps", [])
        if isinstance(step.get("run"), str) and step["run"].strip() in commands
    ]


def test_ci_runs_dot_ci_run_unconditionally() -> None:
    running = steps_running(load(WORKFLOWS / "ci.yml"), ".ci/run", "bash .ci/run", "./.ci/run")
    assert len(running) == 1, f"ci.yml runs .ci/run in {len(running)} steps, not 1"
    (_, step) = running[0]
    assert "if" not in step and not step.get("continue-on-error"), step
    entry = REPO / ".ci" / "run"
    assert entry.is_file() and os.access(entry, os.X_OK), f"{entry} is not an executable file"


MACHINE = {"image": "debian:12", "options": "--privileged --cgroupns=host"}


def test_engine_jobs_run_on_debian_12_privileged_in_the_hosts_cgroup_namespace() -> None:
    """The machine the suite and the expectations are made for (scripts/setup there)."""
    engine_jobs = {
        (path.name, job_id): job
        for path in WORKFLOW_FILES
        for job_id, job in jobs(load(path)).items()
        if any(
            re.search(r"(^|\s|/)(\.ci/run|scripts/setup)\b", str(step.get("run", "")))
            for step in job.get("steps", [])
        )
    }
    assert {("ci.yml", "test"), ("claims.yml", "claims")} <= set(engine_jobs)
    for where, job in engine_jobs.items():
        assert job.get("container") == MACHINE, where


def test_the_claims_matrix_is_every_packaged_runtime() -> None:
    matrix = jobs(load(WORKFLOWS / "claims.yml"))["claims"]["strategy"]["matrix"]["runtime"]
    packaged = [config.name for config in load_runtimes_file()]
    assert sorted(matrix) == sorted(packaged)


def test_claims_jobs_install_only_their_runtime() -> None:
    """Each matrix job runs ``scripts/setup --only RUNTIME`` for its own runtime, and no setup
    of everything; ci.yml's ``.ci/run`` (above) sets up everything for the project's tests."""
    claims = jobs(load(WORKFLOWS / "claims.yml"))["claims"]
    for values in matrix_values(claims):
        setups = [
            fill_in(step["run"], values).strip()
            for step in claims["steps"]
            if "scripts/setup" in str(step.get("run", ""))
        ]
        assert setups == [f"scripts/setup --only {values['runtime']}"], setups


# --- caches ----------------------------------------------------------------------------------

PIP_CACHE = "/var/cache/pip"
APT_ARCHIVES = "/var/cache/apt/archives/*.deb"


def cache_steps(job: dict[str, Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    """The job's actions/cache steps by the path they keep, with their place in the job."""
    return {
        str(step["with"]["path"]): (number, step["with"])
        for number, step in enumerate(job.get("steps", []))
        if str(step.get("uses", "")).startswith("actions/cache@")
    }


def first_step(job: dict[str, Any], pattern: str) -> int | None:
    return next(
        (
            number
            for number, step in enumerate(job.get("steps", []))
            if re.search(pattern, str(step.get("run", "")))
        ),
        None,
    )


INSTALLS_FROM_THE_LOCK = r"scripts/setup|\.ci/run|-r requirements\.lock"
INSTALLS_DEBIAN_PACKAGES = r"scripts/setup|\.ci/run"


def jobs_running(pattern: str) -> list[tuple[Path, str]]:
    """The jobs with a step whose script matches ``pattern``, as (workflow, job id)."""
    return [
        (path, job_id)
        for path in WORKFLOW_FILES
        for job_id, job in jobs(load(path)).items()
        if first_step(job, pattern) is not None
    ]


def test_the_jobs_that_install_are_found() -> None:
    """The cache tests below are not vacuous."""
    named = {(path.name, job_id) for path, job_id in jobs_running(INSTALLS_FROM_THE_LOCK)}
    assert named == {
        ("ci.yml", "test"),
        ("ci.yml", "newest"),
        ("claims.yml", "claims"),
        ("claims.yml", "report"),
    }
    named = {(path.name, job_id) for path, job_id in jobs_running(INSTALLS_DEBIAN_PACKAGES)}
    assert named == {("ci.yml", "test"), ("claims.yml", "claims")}


@pytest.mark.parametrize(
    ("path", "job_id"),
    jobs_running(INSTALLS_FROM_THE_LOCK),
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_pip_downloads_are_cached_on_the_lock(path: Path, job_id: str) -> None:
    """Wherever pip installs from requirements.lock, its cache is restored first, keyed on the
    lock, at the path PIP_CACHE_DIR gives pip (in the job's container: jobs run as root in
    debian:12, where a home folder would be the runner's /github/home)."""
    workflow = load(path)
    job = jobs(workflow)[job_id]
    installs = first_step(job, INSTALLS_FROM_THE_LOCK)
    assert installs is not None
    assert workflow.get("env", {}).get("PIP_CACHE_DIR") == PIP_CACHE
    assert PIP_CACHE in cache_steps(job), f"{job_id}: no cache of {PIP_CACHE}"
    number, cache = cache_steps(job)[PIP_CACHE]
    assert number < installs
    assert cache["key"] == "pip-${{ hashFiles('requirements.lock') }}"
    assert cache["restore-keys"] == "pip-"


@pytest.mark.parametrize(
    ("path", "job_id"),
    jobs_running(INSTALLS_DEBIAN_PACKAGES),
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_apt_packages_are_cached_on_the_release_and_the_package_list(
    path: Path, job_id: str
) -> None:
    """Where scripts/setup installs Debian's packages, apt's archive is restored first, kept
    (Debian's image deletes each package once installed), and keyed on the release, the
    runtime and scripts/setup (which holds the package list)."""
    job = jobs(load(path))[job_id]
    installs = first_step(job, INSTALLS_DEBIAN_PACKAGES)
    assert installs is not None
    assert APT_ARCHIVES in cache_steps(job), f"{job_id}: no cache of {APT_ARCHIVES}"
    number, cache = cache_steps(job)[APT_ARCHIVES]
    keeps = first_step(job, r"rm -f /etc/apt/apt\.conf\.d/docker-clean")
    assert keeps is not None and keeps < number < installs
    runtime = "${{ matrix.runtime }}" if "matrix" in job.get("strategy", {}) else "all"
    prefix = f"apt-${{{{ steps.debian.outputs.release }}}}-{runtime}-"
    assert cache["key"] == prefix + "${{ hashFiles('scripts/setup') }}"
    assert cache["restore-keys"] == prefix


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_only_pull_requests_runs_are_cancelled(path: Path) -> None:
    """A newer push to a pull request cancels its run; a run on main never is. GitHub also
    cancels a run that waits in a group when a newer one joins it, so every other run is a
    group of its own (its run id)."""
    concurrency = load(path)["concurrency"]
    assert concurrency == {
        "group": "${{ github.workflow }}-${{ github.event.pull_request.number || github.run_id }}",
        "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
    }


# --- the summary ---------------------------------------------------------------------------------


def test_the_summary_opens_with_what_is_not_as_expected_or_regressed() -> None:
    """The report job's first lines in the job summary are the report against the baseline
    (its first table: per runtime, the claims not as expected and those regressed)."""
    steps = jobs(load(WORKFLOWS / "claims.yml"))["report"]["steps"]
    first = next(step["run"] for step in steps if "GITHUB_STEP_SUMMARY" in str(step.get("run")))
    (command,) = commands_in(first)
    assert command[:2] == ("report", "results/first.json"), command
    assert {"--baseline", "--markdown"} <= set(command), command
