"""The rootless modes: a runtimes entry's ``user``, checked where the file is read, carried
to xdist's workers, and the binary run as that user (setpriv, its ids, its environment),
never through a shell, whatever a scenario's values are."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from container_claims.errors import RuntimeUnavailable, ScenarioError
from container_claims.runtimes import load_runtimes_file
from container_claims.runtimes.as_user import RunAs
from container_claims.runtimes.base import RuntimeConfig
from container_claims.runtimes.docker import DockerRuntime
from container_claims.runtimes.podman import PodmanRuntime
from container_claims.scenario.model import ContainerSpec

#: A user every Debian machine has, that is not root.
NOBODY = pwd.getpwnam("nobody")


def write(tmp_path: Path, entry: str) -> Path:
    path = tmp_path / "runtimes.yaml"
    path.write_text(f"runtimes:\n  - {{name: ok, kind: docker}}\n  - {entry}\n")
    return path


def test_the_packaged_rootless_entries_name_their_user_and_it_travels_to_the_workers() -> None:
    configs = {config.name: config for config in load_runtimes_file()}

    for name, kind in (("podman-rootless", "podman"), ("docker-rootless", "docker")):
        config = configs[name]
        assert (config.kind, config.user) == (kind, "cc-rootless")
        assert RuntimeConfig.from_json(config.to_json()) == config
    assert "user" not in configs["docker"].to_json()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: r, kind: podman, user: '-u0'}", "is not ^"),
        ("{name: r, kind: podman, user: 'a b'}", "is not ^"),
        ("{name: r, kind: podman, user: '../etc'}", "is not ^"),
        ("{name: r, kind: podman, user: 'x;id'}", "is not ^"),
        ("{name: r, kind: podman, user: 'Root'}", "is not ^"),
        ("{name: r, kind: podman, user: " + "a" * 40 + "}", "is not ^"),
        ("{name: r, kind: podman, user: root}", "the suite's own"),
        ("{name: r, kind: unshare, user: cc-rootless}", "runs as the suite's user"),
        ("{name: r, kind: podman, user: cc-rootless, host: 'ssh://edge'}", "this machine"),
    ],
)
def test_a_bad_user_is_one_line_at_its_line(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_runtimes_file(write(tmp_path, entry))

    assert caught.value.line == 3 and message in str(caught.value)
    assert "\n" not in str(caught.value)


def runtime_as(
    kind: type[DockerRuntime], user: str, env: tuple[tuple[str, str], ...] = ()
) -> DockerRuntime:
    config = RuntimeConfig(name="r", kind=kind.kind, binary="true", user=user, env=env)
    return kind(config, image="img", run_id="run1")


@pytest.mark.parametrize(
    "hostile",
    ["-v", "--privileged", "$(id)", "a;b", "../../etc", "x" * 100_000, "--user=root"],
)
def test_a_scenarios_values_stay_arguments_of_the_binary_run_as_the_user(hostile: str) -> None:
    runtime = runtime_as(PodmanRuntime, "nobody")
    spec = ContainerSpec(command=(hostile,), hostname=hostile, env=(("K", hostile),))

    argv = runtime.command(runtime.run_argv(spec, "c1", "img"))

    # setpriv with the user's ids, then the binary's own command line, unchanged.
    assert argv[1:5] == [
        f"--reuid={NOBODY.pw_uid}",
        f"--regid={NOBODY.pw_gid}",
        "--init-groups",
        "--",
    ]
    assert os.path.basename(argv[0]) == "setpriv" and os.path.isabs(argv[5])
    rest = argv[6:]
    assert rest == runtime.run_argv(spec, "c1", "img")[1:]
    assert rest[rest.index("--") :] == ["--", "img", hostile]
    assert f"--hostname={hostile}" in rest and f"--env=K={hostile}" in rest


def test_without_a_user_the_binary_runs_as_it_is() -> None:
    runtime = runtime_as(DockerRuntime, "")
    assert runtime.command(["docker", "ps"]) == ["docker", "ps"]


def test_the_users_environment_and_its_own_docker_socket() -> None:
    runtime = runtime_as(DockerRuntime, "nobody")
    env = runtime.env()

    run_dir = f"/run/user/{NOBODY.pw_uid}"
    assert env["HOME"] == NOBODY.pw_dir and env["USER"] == env["LOGNAME"] == "nobody"
    assert env["XDG_RUNTIME_DIR"] == run_dir
    assert env["DOCKER_HOST"] == f"unix://{run_dir}/docker.sock"  # never the suite's engine
    # An entry that names its engine keeps it.
    named = runtime_as(DockerRuntime, "nobody", env=(("DOCKER_HOST", "unix:///x.sock"),))
    assert named.env()["DOCKER_HOST"] == "unix:///x.sock"


def test_podman_as_a_user_is_never_given_a_docker_socket() -> None:
    assert "DOCKER_HOST" not in runtime_as(PodmanRuntime, "nobody").env()


@pytest.mark.parametrize(
    ("user", "says"),
    [
        ("cc-no-such-user-here", "there is no user 'cc-no-such-user-here' on this machine"),
        ("root", "not a plain user name"),
    ],
)
def test_check_says_clearly_why_the_mode_is_unavailable(user: str, says: str) -> None:
    with pytest.raises(RuntimeUnavailable, match=says):
        runtime_as(PodmanRuntime, user).check()


def test_a_user_without_subordinate_ids_or_runtime_dir_is_unavailable_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    user = RunAs(name="nobody", uid=NOBODY.pw_uid, gid=NOBODY.pw_gid, home="/nonexistent")
    subuid = tmp_path / "subuid"
    subuid.write_text("someone:100000:65536\n")
    monkeypatch.setattr(
        "container_claims.runtimes.as_user.SUBORDINATE_FILES", (str(subuid), str(subuid))
    )
    with pytest.raises(RuntimeUnavailable, match=r"no subordinate ids in .*subuid"):
        user.check()

    subuid.write_text("nobody:100000:65536\n")
    monkeypatch.setattr("container_claims.runtimes.as_user.RUNTIME_DIRS", str(tmp_path / "run"))
    with pytest.raises(RuntimeUnavailable, match="has no runtime directory"):
        user.check()


def test_rootless_podman_lacks_a_network_without_slirp4netns_or_pasta(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runtime = runtime_as(PodmanRuntime, "nobody", env=(("PATH", str(tmp_path)),))
    assert runtime.rootless_lacks() == {"directories", "network", "ports"}

    helper = tmp_path / "slirp4netns"
    helper.write_text("#!/bin/sh\n")
    helper.chmod(0o755)
    assert runtime.rootless_lacks() == {"directories"}
