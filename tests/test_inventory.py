"""Machines from an Ansible inventory: ansible-inventory reads it, testinfra's runner picks the
hosts a pattern names, and each host's connection variables become an ssh config entry that
ssh reads as meant (``ssh -G``, which resolves a config without connecting). Variables the
suite cannot honour, and values that could add a line to the config, are refused."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from container_claims.errors import InputError
from container_claims.paths import TEMP_PREFIX
from container_claims.runtimes.inventory import expand
from tests.support.project import run_cli

REPO = Path(__file__).resolve().parents[1]

INI = """\
[edge]
edge-1 ansible_host=10.0.0.1 ansible_port=2222 ansible_user=root
edge-2 ansible_host=10.0.0.2 ansible_ssh_private_key_file=keys/edge

[core]
core-1

[all:vars]
ansible_user=admin
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.ini"
    path.write_text(INI)
    return path


def resolved(config: str, alias: str) -> dict[str, str]:
    """What ssh makes of ``alias`` through ``config``, without connecting."""
    said = subprocess.run(
        ["ssh", "-G", "-F", config, "--", alias], capture_output=True, text=True, check=True
    ).stdout
    return {key: value for key, _, value in (line.partition(" ") for line in said.splitlines())}


def test_a_group_names_its_hosts_and_ssh_reads_their_variables(
    inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # ansible's relative key paths are relative to where it runs
    hosts, config = expand(["ansible://edge"], str(inventory), "", tmp_path)

    assert hosts == ["ssh://edge-1", "ssh://edge-2"]
    first, second = resolved(config, "edge-1"), resolved(config, "edge-2")
    assert (first["hostname"], first["port"], first["user"]) == ("10.0.0.1", "2222", "root")
    assert (second["hostname"], second["port"], second["user"]) == ("10.0.0.2", "22", "admin")
    assert second["identityfile"] == str(tmp_path / "keys" / "edge")
    assert second["identitiesonly"] == "yes"


def test_patterns_are_testinfras_and_each_host_comes_once(inventory: Path, tmp_path: Path) -> None:
    hosts, _ = expand(
        ["ansible://edge-*", "ssh://other", "ansible://all"], str(inventory), "", tmp_path
    )
    assert hosts == ["ssh://edge-1", "ssh://edge-2", "ssh://other", "ssh://core-1"]


def test_an_ssh_config_given_applies_after_the_inventorys(inventory: Path, tmp_path: Path) -> None:
    given = tmp_path / "given.ssh_config"
    given.write_text("Host *\n  Port 2200\n  ConnectTimeout 7\n")

    _, config = expand(["ansible://edge-1", "ansible://core"], str(inventory), str(given), tmp_path)

    assert resolved(config, "edge-1")["port"] == "2222"  # the inventory's first
    assert resolved(config, "core-1")["port"] == "2200"
    assert resolved(config, "core-1")["connecttimeout"] == "7"


def test_without_an_ansible_entry_nothing_is_read_or_written(tmp_path: Path) -> None:
    assert expand(["ssh://a"], "", "cfg", tmp_path) == (["ssh://a"], "cfg")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ("ansible_password=secret", "ansible_password asks for a password"),
        ("ansible_become=true", "ansible_become asks for become"),
        ("ansible_ssh_common_args='-o ProxyCommand=touch /tmp/x'", "free ssh arguments"),
        ("ansible_connection=local", "ansible_connection 'local'"),
        ("ansible_host=-oProxyCommand=x", "is not a host name or address"),
        ("ansible_host='a b'", "is not a host name or address"),
        ("ansible_port='22 x'", "is not a TCP port"),
        ("ansible_port=70000", "is not a TCP port"),
        ("ansible_port=²", "is not a TCP port"),  # a digit to str.isdigit, not to int()
        ("ansible_port=٢٢", "is not a TCP port"),  # Arabic-Indic digits: int() takes them
        ("ansible_user='root x'", "is not a user name"),
        ("ansible_ssh_private_key_file='/k ProxyCommand x'", "cannot hold"),
        ("ansible_ssh_private_key_file=/k%d", "cannot hold"),
    ],
)
def test_what_cannot_be_honoured_is_one_line_naming_host_and_variable(
    tmp_path: Path, variables: str, message: str
) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(f"[edge]\nedge-1 {variables}\n")

    with pytest.raises(InputError) as caught:
        expand(["ansible://edge"], str(path), "", tmp_path)

    assert message in str(caught.value) and "'edge-1'" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "ssh_config").exists()


def test_a_value_with_a_newline_cannot_add_a_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text(
        'all:\n  hosts:\n    edge-1:\n      ansible_user: "root\\nProxyCommand touch /tmp/x"\n'
    )
    with pytest.raises(InputError, match="is not a user name"):
        expand(["ansible://all"], str(path), "", tmp_path)


@pytest.mark.parametrize(
    "target",
    ["/k\nProxyCommand touch /tmp/cc-inventory-ran", "/k ProxyCommand x", "/k%d", "/k#x"],
)
def test_a_key_file_is_checked_where_its_link_leads(tmp_path: Path, target: str) -> None:
    """A path that passes as written but links to one the config cannot hold is refused."""
    (tmp_path / "key").symlink_to(target)
    path = tmp_path / "hosts.ini"
    path.write_text(f"[edge]\nedge-1 ansible_ssh_private_key_file={tmp_path}/key\n")

    with pytest.raises(InputError) as caught:
        expand(["ansible://edge"], str(path), "", tmp_path)

    assert "resolves to" in str(caught.value) and "a path an ssh config cannot hold" in str(
        caught.value
    )
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "ssh_config").exists()


def test_a_key_file_in_a_loop_of_links_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    path = tmp_path / "hosts.ini"
    path.write_text(f"[edge]\nedge-1 ansible_ssh_private_key_file={tmp_path}/a\n")

    with pytest.raises(InputError, match="private key file cannot be found") as caught:
        expand(["ansible://edge"], str(path), "", tmp_path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("hosts", "source", "message"),
    [
        (["ansible://nowhere"], "hosts.ini", "no host or group of"),
        (["ansible://edge"], "missing.ini", "no such file"),
        (["ansible://edge"], "", "give the inventory (--ansible-inventory)"),
        (["ssh://a"], "hosts.ini", "--ansible-inventory is for --hosts ansible://PATTERN"),
    ],
)
def test_bad_inventory_use_is_one_line(
    inventory: Path, tmp_path: Path, hosts: list[str], source: str, message: str
) -> None:
    named = str(inventory.parent / source) if source else ""
    with pytest.raises(InputError) as caught:
        expand(hosts, named, "", tmp_path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_cli_refuses_bad_inventory_use_before_anything_runs(
    inventory: Path, tmp_path: Path
) -> None:
    scenarios = str(REPO / "scenarios")
    for args, message in (
        (["--hosts", "ansible://nowhere", "--ansible-inventory", str(inventory)], "no host or"),
        (["--ansible-inventory", str(inventory)], "are for --hosts"),
        (["--runtime", "bwrap", "--hosts", "ansible://edge", "--ansible-inventory",
          str(inventory)], "runs on this machine only"),
    ):  # fmt: skip
        done = run_cli(scenarios, *args, cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    leftovers = list(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}inventory-*"))
    assert leftovers == []  # the written config goes with the run, even a refused one
