"""Each item's test report becomes a result record: the verdict, its evidence, its reason.

A claim's item decides its verdict in setup and makes it pytest's outcome
(:meth:`~container_claims.collect.ClaimItem._to_pytest`); this hook reads the verdict from the
item, in the phase it shows in, into a record that the session collects. It keeps pytest's
output short, without touching the outcome: what could not be observed is its one line, and a
skip points at the claim in its scenario file. Under xdist the record travels to the
controller with the report, through pytest's report serialization hooks.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

from container_claims.collect import SHOWN_AT, ClaimItem, InvalidScenario, input_error_record
from container_claims.errors import ClaimsError
from container_claims.report.reasons import check_words
from container_claims.report.text import plain_text, printable, truncate, value_text
from container_claims.results import ERROR, FAIL, NOT_APPLICABLE, UNEXPECTED
from container_claims.session import RECORD


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if isinstance(item, InvalidScenario) and call.when == "setup":
        report.longrepr = printable(str(item.error))  # the one line, not a traceback
        setattr(report, RECORD, input_error_record(item.error, item.path))
    elif (
        isinstance(item, ClaimItem)
        and item.verdict is not None
        and SHOWN_AT[item.verdict] == call.when
    ):
        _in_few_words(item, call, report)
        record = _record(item, report)
        setattr(report, RECORD, record)
        _for_junit(item, record)
    return report


def _for_junit(item: ClaimItem, record: dict[str, Any]) -> None:
    """JUnit readers (GitHub's, GitLab's) show a test's properties and its system-out: the
    verdict, runtime and reason as properties, the evidence as text. pytest writes both from
    the item's teardown report, which carries the item's properties and report sections."""
    expectation = record.get("expectation") or {}
    why = record["message"] or _failing_check(record) or ""
    item.user_properties += [
        ("claim", record["claim"]),
        ("runtime", record["runtime"]),
        ("verdict", record["verdict"]),
        *([("reason", why)] if why else []),
        *(
            [("expected", f"{expectation['status']}: {expectation['reason']}")]
            if expectation
            else []
        ),
    ]
    if item.config.getoption("xmlpath", None):
        item.add_report_section("call", "stdout", evidence_text(record))


def _failing_check(record: dict[str, Any]) -> str:
    for check in record["evidence"].get("checks") or []:
        if isinstance(check, dict) and not check.get("ok", True):
            return printable(
                f"{check_words(check)}: expected {value_text(check.get('expected'))}, "
                f"observed {value_text(check.get('observed'))}"
            )[:500]
    return ""


def evidence_text(record: dict[str, Any], limit: int = 64 << 10) -> str:
    """A claim's verdict and evidence as plain text (JUnit's system-out)."""
    lines = [
        f"claim {record['claim']} on {record['runtime']}: {record['verdict']}",
        f"says: {record['says']}",
        f"at: {record['file']}:{record['line']}",
    ]
    if record.get("message"):
        lines.append(f"message: {record['message']}")
    if record.get("expectation"):
        entry = record["expectation"]
        lines.append(f"expectation ({entry['where']}): {entry['status']}: {entry['reason']}")
    evidence = record["evidence"]
    for key in ("checks", "steps", "stopped"):
        if evidence.get(key):
            lines.append(f"{key}:\n{plain_text(evidence[key], '  ')}")
    return truncate(printable("\n".join(lines)), limit) + "\n"


def _in_few_words(item: ClaimItem, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    """pytest's report shows the claim's words, not our frames: a skip at the claim's line,
    what could not be observed (or is no longer as expected) as its one line. A defect of
    ours keeps its traceback."""
    excinfo = call.excinfo
    if item.verdict == NOT_APPLICABLE and report.skipped:
        report.longrepr = (os.fspath(item.path), item.claim.line, printable(item.reason))
    elif excinfo is not None and report.failed and call.when == "setup":
        if isinstance(excinfo.value, ClaimsError):
            report.longrepr = item.could_not_observe(excinfo.value)
        elif isinstance(excinfo.value, pytest.fail.Exception) and not excinfo.value.pytrace:
            report.longrepr = excinfo.value.msg
    expectation = item.expectation or {}
    if expectation.get("status") == UNEXPECTED and item.verdict in (FAIL, ERROR):
        # It fails as it is; beside its own words, those of the entry that expected otherwise.
        report.sections.append(("container-claims", item.no_longer_as_expected()))


def _record(item: ClaimItem, report: pytest.TestReport) -> dict[str, Any]:
    evidence = item.evidence
    transcript = None
    if "transcript_ref" in evidence and item.result is not None:
        transcript = item.session_state.transcript_once(
            evidence["transcript_ref"], item.result.transcript
        )
    return {
        "scenario": item.scenario.name,
        "source": item.scenario.source,  # where the claim comes from: an article, a manual
        "file": item.relative_file(),
        "line": item.claim.line,
        "claim": item.claim.id,
        "says": item.claim.says,
        "section": item.claim.section,
        "runtime": item.runtime_name,
        "verdict": item.verdict,
        "duration_s": round(report.duration, 3),
        "scenario_duration_s": item.result.duration_s if item.result else None,
        "message": item.reason,
        "evidence": evidence,
        "runtime_info": item.runtime_info or {"name": item.runtime_name},
        **({"transcript": transcript} if transcript else {}),
        **({"expectation": item.expectation} if item.expectation is not None else {}),
    }


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(
    config: pytest.Config, report: pytest.TestReport
) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
    """To the xdist controller: the record under its own key, said so, not left to chance."""
    data = yield
    if data is not None and hasattr(report, RECORD):
        data[RECORD] = getattr(report, RECORD)
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(
    config: pytest.Config, data: dict[str, Any]
) -> Generator[None, Any, Any]:
    report = yield
    if report is not None and RECORD in data:
        setattr(report, RECORD, data[RECORD])
    return report
