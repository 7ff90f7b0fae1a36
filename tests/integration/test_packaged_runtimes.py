"""The whole catalogue on every runtime of the packaged runtimes file, in one invocation,
gated as CI gates it: on the expectations shipped for this machine (expectations/debian12.yaml)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from container_claims.scenario.fields import BUILT, COMMAND, COMMIT, STOP, WAIT
from container_claims.scenario.probes import PROBES
from tests.support.shapes import mismatches

from .conftest import EXPECTATIONS, REPO, RUNTIMES, Run, run_suite
from .test_article_on_docker import catalogue

#: The article's own scenarios (the top of scenarios/): the runs that check how runtimes are
#: scheduled (one at a time, over workers) take these, and are held to the same files' verdicts
#: of the one run of the whole catalogue; what they check does not grow with the packs.
ARTICLE_FILES = sorted(str(p.relative_to(REPO)) for p in (REPO / "scenarios").glob("*.yaml"))


def reported(junit: Path, files: list[str] | None = None) -> list[str]:
    """The claims in the order they reported, as JUnit lists them (of ``files`` only)."""
    classes = None if files is None else {f.replace("/", ".") for f in files}
    return [
        case.get("name", "")
        for case in ET.parse(junit).getroot().iter("testcase")
        if classes is None or case.get("classname") in classes
    ]


def verdicts(run: Run, files: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(claim, runtime, verdict) in the order of the results (of ``files`` only)."""
    return [
        (r["claim"], r["runtime"], r["verdict"])
        for r in run.data["results"]
        if files is None or r["file"] in files
    ]


def test_side_by_side_gives_what_one_at_a_time_gives_in_the_same_order(
    all_runtimes: Run, five: Path
) -> None:
    args = [arg for name in RUNTIMES for arg in ("--runtime", name)]
    one_at_a_time = run_suite(
        *ARTICLE_FILES, *args, "--expect", str(EXPECTATIONS), "--one-runtime-at-a-time",
        "--junitxml", str(five / "serial.xml"), tmp=five,
    )  # fmt: skip

    assert verdicts(one_at_a_time) == verdicts(all_runtimes, ARTICLE_FILES) != []
    assert reported(five / "serial.xml") == reported(five / "side.xml", ARTICLE_FILES)
    assert len(reported(five / "side.xml")) == len(verdicts(all_runtimes))


def test_scenarios_of_each_runtime_side_by_side_give_the_same_verdicts_in_the_same_order(
    all_runtimes: Run, five: Path
) -> None:
    """The default (--jobs auto: several scenarios of each engine at once, one for the
    engine-less kinds) against --jobs 1: one scenario of each runtime at a time."""
    args = [arg for name in RUNTIMES for arg in ("--runtime", name)]
    one_each = run_suite(
        *ARTICLE_FILES, *args, "--jobs", "1", "--junitxml", str(five / "jobs.xml"), tmp=five
    )

    assert verdicts(one_each) == verdicts(all_runtimes, ARTICLE_FILES) != []
    assert reported(five / "jobs.xml") == reported(five / "side.xml", ARTICLE_FILES)


def test_nothing_moved_from_the_shipped_expectations(all_runtimes: Run) -> None:
    """The gate CI runs: every claim holds, or gives exactly the verdict its entry accepts,
    and every entry still speaks of a claim of the catalogue. When this fails, a verdict moved
    on this machine: the output names it and the entry to update."""
    moved = [
        (r["claim"], r["runtime"], r["verdict"])
        for r in all_runtimes.data["results"]
        if r["verdict"] in ("fail", "error")
        and "expectation" not in r
        or r.get("expectation", {}).get("status") == "unexpected"
    ]
    assert moved == [], all_runtimes.output[-4000:]
    assert all_runtimes.data["expectations"]["stale"] == []
    # Side by side, what a runtime's thread started (Podman's API service) served to the end.
    assert "could not remove" not in all_runtimes.output, all_runtimes.output[-3000:]
    assert all_runtimes.returncode == 0, all_runtimes.output[-4000:]
    assert sum(all_runtimes.data["summary"]["expected"].values()) > 0  # the gate had work to do


def test_every_runtime_has_a_verdict_for_every_claim(all_runtimes: Run) -> None:
    cells = {(r["claim"], r["runtime"]) for r in all_runtimes.data["results"]}
    assert cells == {(claim, runtime) for claim in catalogue() for runtime in RUNTIMES}


def test_every_claim_was_observed_or_is_not_applicable_with_a_reason(all_runtimes: Run) -> None:
    errors = [r for r in all_runtimes.data["results"] if r["verdict"] == "error"]
    assert errors == [], [(r["claim"], r["runtime"], r["message"]) for r in errors]
    for record in all_runtimes.data["results"]:
        if record["verdict"] == "not-applicable":
            assert record["message"].startswith(f"not applicable on {record['runtime']}: it has no")


def test_not_applicable_only_where_the_runtime_lacks_a_capability(all_runtimes: Run) -> None:
    capabilities = {r["name"]: set(r["capabilities"]) for r in all_runtimes.data["runtimes"]}
    for record in all_runtimes.data["results"]:
        if record["verdict"] == "not-applicable":
            missing = record["message"].split("it has no ", 1)[1].split(", ")
            assert not set(missing) & capabilities[record["runtime"]], record


def test_each_runtime_says_what_it_is(all_runtimes: Run) -> None:
    runtimes = {r["name"]: r for r in all_runtimes.data["runtimes"]}
    assert set(runtimes) == set(RUNTIMES)
    assert runtimes["gvisor"]["version"]["oci_runtime"].startswith("runsc")
    assert runtimes["podman"]["kind"] == "podman"
    assert runtimes["unshare"]["image"]["rootfs"]


def test_a_real_chroot_passes_the_chroot_claim(all_runtimes: Run) -> None:
    """The check can pass: unshare + chroot is confined by chroot, and says so."""
    record = all_runtimes.record("confined-by-chroot", "unshare")
    assert record["verdict"] == "pass", record["evidence"]


def test_parallel_run_of_all_runtimes_gives_the_same_verdicts(
    all_runtimes: Run, tmp_path: Path
) -> None:
    args = [arg for name in RUNTIMES for arg in ("--runtime", name)]
    parallel = run_suite(*ARTICLE_FILES, *args, "-n", "2", tmp=tmp_path)
    assert set(verdicts(parallel)) == set(verdicts(all_runtimes, ARTICLE_FILES)) != set()
    # What makes verdicts trustworthy travels from the workers too.
    assert {r["name"] for r in parallel.data["runtimes"] if r["version"]} == set(RUNTIMES)


def test_every_observation_has_the_fields_the_format_declares(all_runtimes: Run) -> None:
    """The loader checks each `that:` against the declared fields; here the real probes and
    commands of the whole catalogue on every packaged runtime are held to those declarations."""
    checked: set[str] = set()
    problems = []
    for record in all_runtimes.data["results"]:
        for step in record["evidence"].get("steps", []):
            words = step["step"].split()
            if "value" not in step or not words or words[0] == "started" or words[0] == "ended":
                continue
            shape = (
                PROBES[words[1]].yields
                if words[0] == "probe"
                else {"stop": STOP, "wait": WAIT, "commit": COMMIT, "build": BUILT}.get(
                    words[0].rstrip(":"), COMMAND
                )
            )
            checked.add(words[1] if words[0] == "probe" else words[0].rstrip(":"))
            where = f"{record['runtime']} line {step['line']} {step['save']}"
            problems += [f"{where}: {m}" for m in mismatches(step["value"], shape)]
    assert problems == []
    assert {
        "typed",
        "run",
        "stop",
        "wait",
        "commit",
        "engine.container",
        "host.find_process",
    } <= checked


def test_the_gate_goes_red_when_a_verdict_moves(engine: None, tmp_path: Path) -> None:
    """The same expectations, but "docker" now shares the host's PID namespace: the claims
    about its own PID namespace move, and the run fails naming exactly those."""
    runtimes = tmp_path / "runtimes.yaml"
    runtimes.write_text("runtimes:\n  - {name: docker, kind: docker, run_args: ['--pid=host']}\n")
    moved = run_suite(
        "scenarios/process-namespace.yaml",
        "--runtimes-file",
        str(runtimes),
        "--runtime",
        "docker",
        "--expect",
        str(EXPECTATIONS),
        tmp=tmp_path,
    )

    assert moved.returncode == 1, moved.output[-3000:]
    failed = {r["claim"] for r in moved.data["results"] if r["verdict"] == "fail"}
    assert {"host-pid-1-is-init", "host-pid-differs", "pid-in-both-namespaces"} <= failed
    assert all("expectation" not in r for r in moved.data["results"] if r["verdict"] == "fail")
    for claim in failed:
        assert f"FAILED scenarios/process-namespace.yaml::{claim}[docker]" in moved.output
