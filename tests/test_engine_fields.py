"""The engine's JSON answers in the format's fields (runtimes/engine_fields.py), no engine."""

from __future__ import annotations

from container_claims.runtimes import engine_fields

INSPECT = {
    "Id": "c0ffee",
    "Image": "sha256:abc",
    "State": {"Running": True, "Status": "running", "ExitCode": 0, "Pid": 4242},
    "Config": {"Hostname": "box", "Labels": {"a": "1"}},
    "NetworkSettings": {
        "Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}], "53/udp": None}
    },
    "GraphDriver": {
        "Name": "overlay2",
        "Data": {"UpperDir": "/u", "LowerDir": "/l1:/l2", "MergedDir": "/m"},
    },
    "Mounts": [{"Type": "volume", "Source": "/v"}, {"Type": "bind", "Source": "/b"}],
}


def test_a_container_has_its_layers_volumes_ports_and_sizes() -> None:
    fields = engine_fields.container("main", INSPECT, {"SizeRw": 5, "SizeRootFs": 9})

    assert fields["host_pid"] == 4242 and fields["ports"] == {"80": 49153}
    assert (fields["size_rw"], fields["size_root_fs"]) == (5, 9)
    assert fields["lower_dirs"] == ["/l1", "/l2"]
    assert fields["storage_dirs"] == ["/u", "/v"]


def test_a_driver_without_layers_gives_no_storage_dirs() -> None:
    fields = engine_fields.container("main", {**INSPECT, "GraphDriver": {"Name": "vfs"}}, {})

    assert (fields["upper_dir"], fields["storage_dirs"], fields["size_rw"]) == ("", [], None)


def test_the_oci_runtime_is_the_run_arguments_one_else_the_engine_default() -> None:
    info = {"DefaultRuntime": "runc"}

    assert engine_fields.oci_runtime(info, []) == "runc"
    assert engine_fields.oci_runtime(info, ["--runtime", "runsc"]) == "runsc"
    assert engine_fields.oci_runtime(info, ["--runtime=crun"]) == "crun"
    components = [{"Name": "runsc", "Version": "2024"}]
    assert engine_fields.reported_version("runsc", components) == "runsc: runsc version 2024"
    assert engine_fields.reported_version("crun", components) == "crun (version unknown)"
