"""Hostile and faulty input past the loader: values fed through templates, observations that
did not complete, containers a runtime refused, probes that break, xdist and -k.

Run on the scripted fake runtime (no engine): these test the suite's own logic. The real
engines' side (what reaches docker, bwrap, unshare) is in tests/integration.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from container_claims.runtimes.base import RuntimeConfig
from container_claims.runtimes.docker import DockerRuntime
from container_claims.scenario.model import ContainerSpec, Tmpfs
from tests.conftest import FakeRuntimes
from tests.support.project import Project


@pytest.fixture
def project(pytester: pytest.Pytester, fake_runtimes: FakeRuntimes) -> Project:
    return Project(pytester, fake_runtimes, {})


def _script(project: Project, **script: Any) -> None:
    project.script(fake=script)


FED = """\
scenario: fed
section: Fed
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - type: echo option
    save: option
  - run: {image: "{{ option }}", command: [id]}
    save: ran
  - type: echo line
    save: line
  - type: "echo {{ line }}"
    save: echoed
  - probe: host.find_file
    with: {dirs: "{{ option }}", path: shadow}
    save: found
claims:
  - id: image-from-output
    says: An image named by what a container printed.
    expect:
      - that: ran
        equals: uid=0
  - id: line-from-output
    says: A line typed from what a container printed.
    expect:
      - that: echoed
        equals: x
  - id: dirs-from-output
    says: Host directories named by what a container printed.
    expect:
      - that: found.count
        equals: 0
"""


def test_observations_fed_through_templates_cannot_become_options_or_host_paths(
    project: Project, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    _script(
        project,
        journal=str(journal),
        typed={"echo option": "--privileged", "echo line": "a\nrm -rf /"},
        storage_roots=["/var/lib/fake"],
    )
    project.scenario("fed.yaml", FED)

    project.run()

    records = {r["claim"]: r for r in project.json()["results"]}
    assert {claim: r["verdict"] for claim, r in records.items()} == {
        "image-from-output": "error",
        "line-from-output": "error",
        "dirs-from-output": "error",
    }
    assert (
        "not started: image: image '--privileged' is not an image reference"
        in (records["image-from-output"]["message"])
    )
    assert "a typed line is one line" in records["line-from-output"]["message"]
    assert (
        "'dirs' holds '--privileged', not an absolute path"
        in (records["dirs-from-output"]["message"])
    )
    assert "run" not in journal.read_text()  # no container was started with it


INCOMPLETE = """\
scenario: incomplete
section: Incomplete
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - type: sleep 100
    save: slow
    timeout: 0.5
  - type: "yes"
    save: huge
  - run: {command: [refused]}
    save: refused
  - type: echo fine
    save: fine
claims:
  - id: slow-not-contains
    says: A line that got no reply cannot pass a not_contains.
    expect:
      - that: slow
        not_contains: anything
  - id: slow-completed
    says: Not even its completed field can be checked.
    expect:
      - that: slow.completed
        equals: false
  - id: huge-not-equals
    says: Output cut off cannot pass a not_equals.
    expect:
      - that: huge
        not_equals: y
  - id: refused-not-equals
    says: A container the runtime refused has no output to compare.
    expect:
      - that: refused
        not_equals: anything
  - id: fine-and-slow-false
    says: One expectation observed false is a failure whatever the other could not show.
    expect:
      - that: fine
        equals: not fine
      - that: slow
        equals: anything
"""


def test_observations_that_did_not_complete_give_errors_never_verdicts(project: Project) -> None:
    _script(
        project,
        typed={
            "sleep 100": {
                "output": "",
                "status": None,
                "completed": False,
                "detail": "no reply within 0.5 s",
            },
            "yes": {"output": "y\n" * 10, "truncated": True, "detail": "more than 1,048,576 bytes"},
            "echo fine": "fine",
        },
        run={"refused": "!refused"},
    )
    project.scenario("incomplete.yaml", INCOMPLETE)

    project.run()

    records = {r["claim"]: r for r in project.json()["results"]}
    assert {claim: r["verdict"] for claim, r in records.items()} == {
        "slow-not-contains": "error",
        "slow-completed": "error",
        "huge-not-equals": "error",
        "refused-not-equals": "error",
        "fine-and-slow-false": "fail",
    }
    assert "no reply within 0.5 s" in records["slow-not-contains"]["message"]
    assert "output was cut off" in records["huge-not-equals"]["message"]
    assert "refused the container" in records["refused-not-equals"]["message"]
    # What was seen so far stays in the evidence.
    (step,) = records["huge-not-equals"]["evidence"]["steps"]
    assert step["partial"]["output"].startswith("y\ny")


PROBE_DEFECT = """\
scenario: defect
section: Defect
container: {command: [/bin/bash], tty: true, interactive: true}
steps:
  - probe: host.cgroup_limit
    with: {pid: 999999999, resource: memory}
    save: limit
  - type: echo fine
    save: fine
claims:
  - id: needs-the-probe
    says: Rests on the probe.
    expect:
      - that: limit
        equals: max
  - id: needs-the-shell
    says: Rests on the shell only.
    expect:
      - that: fine
        equals: fine
  - id: needs-the-shell-too
    says: Rests on the shell only, too.
    expect:
      - that: fine
        equals: fine
"""


def test_a_probe_that_breaks_is_one_line_and_the_scenario_runs_once(
    project: Project, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    _script(project, journal=str(journal), typed={"echo fine": "fine"})
    project.scenario("defect.yaml", PROBE_DEFECT)

    result = project.run()

    assert project.verdicts() == {
        "needs-the-probe": "error",
        "needs-the-shell": "pass",
        "needs-the-shell-too": "pass",
    }
    message = project.json()["results"][0]["message"]
    assert message.startswith(
        "line 14: observation 'limit' could not be made: probe host.cgroup_limit"
    )
    assert "\n" not in message
    assert "Traceback" not in result.stdout.str()
    assert journal.read_text().count("open ") == 1


def test_an_invalid_file_counts_under_xdist_even_when_k_deselects_it(
    project: Project, pytester: pytest.Pytester
) -> None:
    _script(project, typed={"echo fine": "fine"})
    project.scenario("defect.yaml", PROBE_DEFECT)
    project.scenario("broken.yaml", "section: x\nclaims:\n  - id: Not Kebab\n")

    result = project.run("-n", "2", "-k", "needs-the-shell")

    assert result.ret == 2
    errors = project.json()["input_errors"]
    assert [e["file"] for e in errors] == ["scenarios/broken.yaml"]
    assert errors[0]["message"].startswith("scenarios/broken.yaml:3: ")


def test_messages_name_the_path_as_the_user_gave_it(
    project: Project, pytester: pytest.Pytester
) -> None:
    project.scenario("broken.yaml", "section: x\nclaims: {}\n")
    (pytester.path / "elsewhere").mkdir()

    result = pytester.runpytest_subprocess(
        "./scenarios/../scenarios", "-p", "no:cacheprovider", "--runtimes-file",
        str(project.runtimes_file), "--runtime", "fake", "--claims-json", "out.json",
    )  # fmt: skip

    assert result.ret == 2
    result.stdout.fnmatch_lines(["invalid: ./scenarios/../scenarios/broken.yaml:2: *"])


def test_a_claims_run_collects_scenarios_wherever_they_are(
    project: Project, pytester: pytest.Pytester
) -> None:
    _script(project, typed={"echo fine": "fine"})
    folder = pytester.path / "checks" / "nested"
    folder.mkdir(parents=True)
    (folder / "defect.yaml").write_text(PROBE_DEFECT)
    (folder / "config.yaml").write_text("settings: {a: 1}\n")  # not a scenario: left alone

    result = pytester.runpytest_subprocess(
        "checks", "-p", "no:cacheprovider", "--runtimes-file", str(project.runtimes_file),
        "--runtime", "fake",
    )  # fmt: skip

    result.assert_outcomes(passed=2, errors=1)


HOST_NETWORK = """\
scenario: host-network
section: Host
container: {command: [/bin/bash], tty: true, interactive: true, network: host}
steps:
  - type: echo fine
    save: fine
claims:
  - id: on-the-host-network
    says: Runs on the host's network.
    expect:
      - that: fine
        equals: fine
"""


def test_host_access_needs_the_operators_consent(project: Project) -> None:
    _script(project, typed={"echo fine": "fine"})
    project.scenario("host.yaml", HOST_NETWORK)

    refused = project.run()
    assert refused.ret == 2
    (error,) = project.json()["input_errors"]
    assert error["message"] == (
        "scenarios/host.yaml:3: the host's network would be opened to the scenario; the "
        "scenario alone cannot ask for that: run with --allow-host-access if you trust this file"
    )

    allowed = project.run("--allow-host-access")
    assert allowed.ret == 0
    assert project.verdicts() == {"on-the-host-network": "pass"}


def test_scenario_values_reach_docker_as_values_never_as_options() -> None:
    runtime = DockerRuntime(RuntimeConfig("docker", "docker"), image="img:1", run_id="r")
    spec = ContainerSpec(
        command=("--privileged", "-v", "/:/host"),
        user="1000",
        workdir="/w",
        env=(("A", "--rm"),),
        tty=True,
        interactive=True,
    )

    argv = runtime.run_argv(spec, "cc-r-t-main", "img:1")

    image_at = argv.index("--")
    assert argv[image_at + 1] == "img:1"
    assert argv[image_at + 2 :] == ["--privileged", "-v", "/:/host"]
    options = argv[2:image_at]
    assert "--user=1000" in options and "--workdir=/w" in options and "--env=A=--rm" in options
    # Every option the suite writes carries its value after "=": none takes the next word.
    assert all(o.startswith("-") for o in options)
    assert [o for o in options if not o.startswith("--") or "=" in o or o in ("--rm",)] == options


def test_each_option_reaches_docker_as_its_own_flag_with_its_value_after_equals() -> None:
    runtime = DockerRuntime(RuntimeConfig("docker", "docker"), image="img:1", run_id="r")
    spec = ContainerSpec(
        hostname="cc-named",
        read_only=True,
        tmpfs=(Tmpfs("/scratch"),),
        cap_add=("NET_ADMIN",),
        cap_drop=("ALL",),
        init=True,
        labels=(("role", "--privileged"),),
        stop_signal="SIGINT",
        shm_size="64m",
        security_opt=("no-new-privileges",),
        ports=(8080,),
        network="bridge",
    )

    argv = runtime.run_argv(spec, "cc-r-t-main", "img:1")

    options = argv[2 : argv.index("--")]
    assert [o for o in options if o.startswith("--publish")] == ["--publish=127.0.0.1::8080"]
    assert {
        "--hostname=cc-named",
        "--read-only",
        "--tmpfs=/scratch",
        "--cap-add=NET_ADMIN",
        "--cap-drop=ALL",
        "--init",
        "--label=role=--privileged",
        "--stop-signal=SIGINT",
        "--shm-size=64m",
        "--security-opt=no-new-privileges",
    } <= set(options)


def test_engine_less_kinds_honour_what_they_declare_and_refuse_the_rest(tmp_path: Path) -> None:
    from container_claims.errors import ObservationError
    from container_claims.runtimes.bwrap import BwrapRuntime
    from container_claims.runtimes.unshare import UnshareRuntime

    bwrap = BwrapRuntime(
        RuntimeConfig("bwrap", "bwrap", rootfs=str(tmp_path)), image="i", run_id="r"
    )
    spec = ContainerSpec(
        hostname="cc-named", read_only=True, tmpfs=(Tmpfs("/scratch"),), cap_drop=("ALL",)
    )
    argv = bwrap.wrap(spec, tmp_path)
    assert argv[:3] == ["--bind", str(tmp_path), "/"]  # made read-only once mounted on
    assert argv[3:5] == ["--tmpfs", "/scratch"] and argv[5:7] == ["--hostname", "cc-named"]
    assert argv[argv.index("--remount-ro") + 1] == "/"
    assert argv.index("--remount-ro") > argv.index("--tmpfs")
    assert "--cap-add" not in argv  # ALL dropped: nothing added back

    unshare = UnshareRuntime(
        RuntimeConfig("unshare", "unshare", rootfs=str(tmp_path)), image="i", run_id="r"
    )
    with pytest.raises(ObservationError, match="cannot give a container hostname"):
        unshare.argv(ContainerSpec(hostname="cc-named"))
    spec = ContainerSpec(cap_drop=("CHOWN",), user="1000", env=(("LD_PRELOAD", "/x.so"),))
    confined = unshare.wrap(spec, tmp_path)
    jail_at = confined.index("--") + 1  # after unshare's own options: the host's jail
    assert confined[jail_at : jail_at + 4] == [sys.executable, "-I", "-S", "-B"]
    assert confined[jail_at + 5 : jail_at + 7] == ["run", str(tmp_path)]
    keep = confined[confined.index("--keep") + 1].split(",")
    assert "chown" not in keep and "setuid" in keep
    assert confined[confined.index("--user") + 1] == "1000"
    assert "LD_PRELOAD=/x.so" in confined  # for the command, set by the jail
    assert confined[-2:] == ["--", "/bin/bash"]
    # No program of the host gets the scenario's environment: the container's command does.
    assert "LD_PRELOAD" not in unshare.host_env() and "LD_PRELOAD" not in bwrap.host_env()
    bwrapped = bwrap.wrap(spec, tmp_path)
    assert "--clearenv" in bwrapped
    assert bwrapped[bwrapped.index("--clearenv") :].count("LD_PRELOAD") == 1


@pytest.mark.parametrize(
    ("status", "stderr", "refused"),
    [
        (125, "docker: Error response from daemon: conflict", True),
        (126, "exec format error", True),
        (127, "executable file not found", True),
        (1, "Error response from daemon: container abc is not running", True),
        (
            1,
            "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?",
            True,
        ),
        (1, "", False),  # the command's own status
        (3, "grep: nothing", False),
        (0, "", False),
    ],
)
def test_what_the_cli_refused_is_told_apart_from_the_commands_own_failure(
    status: int, stderr: str, refused: bool
) -> None:
    from container_claims.errors import ObservationError
    from container_claims.observations import CommandOutcome

    runtime = DockerRuntime(RuntimeConfig("docker", "docker"), image="img:1", run_id="r")
    outcome = CommandOutcome(output="", status=status, stderr=stderr)
    if refused:
        with pytest.raises(ObservationError, match=f"docker refused to run x \\(exit {status}\\)"):
            runtime._refusal(outcome, "to run x")
    else:
        runtime._refusal(outcome, "to run x")


def test_a_passed_run_deadline_makes_the_claims_left_errors(project: Project) -> None:
    _script(project, typed={"echo fine": "fine"})
    project.scenario("defect.yaml", PROBE_DEFECT)

    result = project.run("--run-deadline", "0.000001")

    assert result.ret == 3
    records = project.json()["results"]
    assert {r["verdict"] for r in records} == {"error"}
    assert all(
        "the run's deadline (--run-deadline) passed before this claim was observed" in r["message"]
        for r in records
    )


def test_removal_already_in_progress_or_gone_is_done() -> None:
    import docker.errors
    import requests

    from container_claims.errors import ObservationError

    def api_error(status: int, explanation: str) -> docker.errors.APIError:
        response = requests.Response()
        response.status_code = status
        return docker.errors.APIError("removal", response=response, explanation=explanation)

    runtime = DockerRuntime(RuntimeConfig("docker", "docker"), image="img:1", run_id="r")

    def in_progress() -> None:
        raise api_error(409, "removal of container x is already in progress")

    def gone() -> None:
        raise docker.errors.NotFound("no such container")

    def conflict() -> None:
        raise api_error(409, "image is being used by running container y")

    runtime._gone_is_done("container x", in_progress)
    runtime._gone_is_done("container x", gone)
    with pytest.raises(ObservationError, match="being used"):
        runtime._gone_is_done("image y", conflict)


WATCHED = """\
section: Lifecycle
steps:
  - run: {name: bg, detach: true, command: [sleep, "600"]}
  - wait: {in: bg, until: exited}
    timeout: 60
    save: watched
claims:
  - id: keeps-running
    says: It keeps running for a minute.
    expect:
      - that: watched.reached
        equals: false
"""


def test_a_wait_the_deadline_cut_short_is_no_observation(project: Project) -> None:
    _script(project, waits_in_vain=True)
    project.scenario("watched.yaml", WATCHED)

    project.run()  # the whole minute watched: observed
    assert project.verdicts() == {"keeps-running": "pass"}

    project.run("--runtime-deadline", "5")  # a few seconds of the minute: not observed
    (record,) = project.json()["results"]
    assert record["verdict"] == "error"
    assert (
        "the deadline left" in record["message"]
        and "of the 60 s this wait watches" in (record["message"])
    )
