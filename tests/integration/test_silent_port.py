"""Published ports whose servers accept and send nothing, on Docker behind docker-proxy.

Silence is no reply, not a reply that differs: a claim on what came back is an error that
says no reply came, while what was observed of the connection (it was made, it stayed open)
still gives verdicts. A server that closes at once gave a reply, empty and whole: a claim on
its content fails, with how it ended in the evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import RUN_LABEL, Run, docker, run_suite

#: Two servers behind published ports: one holds each connection open and silent, one closes
#: it at once; a third claim rests only on what was observed of the silent one.
SILENT = """\
scenario: silent-port
section: Silent ports
steps:
  - run:
      detach: true
      name: silent
      network: bridge
      ports: [8080]
      command:
        - perl
        - -MIO::Socket::INET
        - -e
        - "{server}"
  - probe: engine.container
    with: {{name: silent}}
    save: silent_info
  - probe: host.tcp_read
    with: {{port: "{{{{ silent_info.ports.8080 }}}}"}}
    save: silent_read
  - run:
      detach: true
      name: closer
      network: bridge
      ports: [8080]
      command:
        - perl
        - -MIO::Socket::INET
        - -e
        - "{closer}"
  - probe: engine.container
    with: {{name: closer}}
    save: closer_info
  - probe: host.tcp_read
    with: {{port: "{{{{ closer_info.ports.8080 }}}}"}}
    save: closer_read
claims:
  - id: silent-port-replies
    says: The silent server's port replies.
    expect:
      - that: silent_read.connected
        equals: true
      - that: silent_read.received
        equals: hello
  - id: closing-port-replies
    says: The closing server's port replies.
    expect:
      - that: closer_read.connected
        equals: true
      - that: closer_read.received
        equals: hello
  - id: silent-port-stays-open
    says: The silent server's port accepts and keeps the connection open, saying nothing.
    expect:
      - that: silent_read.connected
        equals: true
      - that: silent_read.timed_out
        equals: true
      - that: silent_read.closed_by_peer
        equals: false
  - id: silent-port-closes
    says: The silent server's port closes the connection itself.
    expect:
      - that: silent_read.closed_by_peer
        equals: true
"""
_ACCEPT = "my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die;"
#: Keeps every connection it accepts, open and silent.
SERVER = _ACCEPT + " my @held; while (my $c = $s->accept) { push @held, $c }"
#: Closes every connection it accepts, without a byte.
CLOSER = _ACCEPT + " while (my $c = $s->accept) { close $c }"


#: Docker with its host read here, and read through the engine (a container of a moment in
#: the host's network namespace relays the connection).
RUNTIMES = ["docker", "docker-reader"]


@pytest.fixture(scope="module")
def silent_run(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("silent")
    scenario = folder / "silent.yaml"
    scenario.write_text(SILENT.format(server=SERVER, closer=CLOSER))
    runtimes = folder / "runtimes.yaml"
    runtimes.write_text(
        "runtimes:\n  - {name: docker, kind: docker}\n"
        "  - {name: docker-reader, kind: docker, host: engine}\n"
    )
    chosen = [arg for name in RUNTIMES for arg in ("--runtime", name)]
    return run_suite(str(scenario), "--runtimes-file", str(runtimes), *chosen, tmp=Path(folder))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_claim_on_a_reply_that_never_came_is_an_error_saying_so(
    silent_run: Run, runtime: str
) -> None:
    record = silent_run.record("silent-port-replies", runtime)
    assert record["verdict"] == "error", record
    assert "silent_read.received was not observed: no reply came within " in record["message"]
    assert record["message"].endswith(" s: the port accepted and sent nothing")
    connected, received = record["evidence"]["checks"]
    assert connected["ok"] is True and "error" not in connected
    assert received["observed"] is None and "no reply came" in received["error"]
    (read,) = [s for s in record["evidence"]["steps"] if s["step"].startswith("probe host.tcp")]
    assert read["value"]["received"] == ""  # kept for the evidence, as it was
    assert read["value"]["timed_out"] is True


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_port_closed_without_a_byte_gave_an_empty_reply_that_fails(
    silent_run: Run, runtime: str
) -> None:
    record = silent_run.record("closing-port-replies", runtime)
    assert record["verdict"] == "fail", record
    connected, received = record["evidence"]["checks"]
    assert connected["ok"] is True
    assert (received["ok"], received["observed"], "error" in received) == (False, "", False)
    (read,) = [s for s in record["evidence"]["steps"] if s["step"].startswith("probe host.tcp")]
    assert read["value"]["closed_by_peer"] is True


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_what_was_observed_of_a_silent_port_still_gives_verdicts(
    silent_run: Run, runtime: str
) -> None:
    assert silent_run.verdict("silent-port-stays-open", runtime) == "pass"
    closes = silent_run.record("silent-port-closes", runtime)
    assert closes["verdict"] == "fail", closes  # observed: it kept the connection open
    assert [c["observed"] for c in closes["evidence"]["checks"]] == [False]
    run = f"{RUN_LABEL}={silent_run.data['run_id']}"
    assert docker("ps", "-aq", "--filter", f"label={run}") == ""  # the servers are gone
