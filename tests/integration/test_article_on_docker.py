"""The whole catalogue of the article on the article's own system: Docker with runc."""

from __future__ import annotations

import re

import pytest

from .conftest import REPO, CountedRun, Run

#: The claim ids of each scenario pack: the article's (CLAIMS.md), docker run's options, and
#: Docker's storage documentation (volumes, bind mounts, tmpfs).
PACKS = {
    "article": REPO / "tests" / "claims.txt",
    "docker-run": REPO / "tests" / "claims-docker-run.txt",
    "volumes": REPO / "tests" / "claims-volumes.txt",
}


def catalogue(*packs: str) -> list[str]:
    """The claim ids of the named packs (all of them when none is named)."""
    return [
        line.split()[0]
        for pack in packs or tuple(PACKS)
        for line in PACKS[pack].read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


@pytest.fixture(scope="module")
def docker_run(docker_catalogue: CountedRun) -> Run:
    return docker_catalogue.run


def test_catalogue_matches_the_claims_file() -> None:
    """tests/claims.txt is the CLAIMS.md list; when ../shared is beside the repo, they agree."""
    shared = REPO.parent / "shared" / "CLAIMS.md"
    if not shared.exists():
        pytest.skip("../shared/CLAIMS.md is not beside the repository")
    ids = re.findall(r"^\| `([a-z0-9-]+)` \|", shared.read_text(), flags=re.MULTILINE)
    assert sorted(ids) == sorted(catalogue("article"))


def test_every_claim_has_a_verdict_on_docker(docker_run: Run) -> None:
    seen = {r["claim"] for r in docker_run.data["results"] if r["runtime"] == "docker"}
    assert seen == set(catalogue()), docker_run.output[-3000:]


@pytest.mark.parametrize("claim", [c for c in catalogue() if c != "confined-by-chroot"])
def test_claim_holds_on_docker(docker_run: Run, claim: str) -> None:
    record = docker_run.record(claim, "docker")
    assert record["verdict"] == "pass", record


def test_confinement_is_pivot_root_not_chroot(docker_run: Run) -> None:
    """The article says chroot; runc uses pivot_root. The verdict is fail, and says why."""
    record = docker_run.record("confined-by-chroot", "docker")
    assert record["verdict"] == "fail"
    observed = [check["observed"] for check in record["evidence"]["checks"]]
    assert observed == ["pivot_root"]


def test_run_exit_code_says_a_claim_failed(docker_run: Run) -> None:
    assert docker_run.returncode == 1  # confined-by-chroot fails on runc


def test_results_record_what_makes_them_trustworthy(docker_run: Run) -> None:
    data = docker_run.data
    (runtime,) = data["runtimes"]
    assert runtime["name"] == "docker" and runtime["kind"] == "docker"
    assert runtime["version"]["engine"] and runtime["version"]["oci_runtime"].startswith("runc")
    assert runtime["image"]["id"].startswith("sha256:")
    assert data["host"]["kernel"]
    for record in data["results"]:
        assert record["duration_s"] >= 0
        assert record["evidence"]["checks"], record["claim"]


def test_parallel_run_gives_the_same_verdicts(
    docker_run: Run, docker_catalogue_in_two: CountedRun
) -> None:
    parallel = docker_catalogue_in_two.run
    verdicts = {(r["claim"], r["verdict"]) for r in docker_run.data["results"]}
    assert {(r["claim"], r["verdict"]) for r in parallel.data["results"]} == verdicts
