"""Each item's test report becomes a result record: the verdict, its evidence, its reason.

The verdicts map onto pytest's outcomes (pass: passed, fail: failed, not applicable:
skipped, error: error in setup); this hook reads them back into a record that the session
collects, and keeps pytest's own output short: a setup error of ours is its one line, and a
skip points at the claim in its scenario file. Under xdist the record travels to the
controller with the report, through pytest's report serialization hooks.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

from container_claims.collect import ClaimItem, InvalidScenario, input_error_record
from container_claims.errors import ClaimsError
from container_claims.report.model import check_words, plain_text, printable, truncate, value_text
from container_claims.results import ERROR, EXPECTED, FAIL, NOT_APPLICABLE, PASS
from container_claims.session import RECORD


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if isinstance(item, InvalidScenario) and call.when == "setup":
        report.longrepr = printable(str(item.error))  # the one line, not a traceback
        setattr(report, RECORD, input_error_record(item.error, item.path))
    elif isinstance(item, ClaimItem) and (
        call.when == "call" or (call.when == "setup" and not report.passed)
    ):
        message = _one_line(item, call, report)
        record = _record(item, call, report, message)
        expectation = item.session_state.expectations.judge(
            record["claim"], record["runtime"], record["verdict"]
        )
        if expectation is not None:
            record["expectation"] = expectation
            _as_expected(report, record, expectation)
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


def _as_expected(
    report: pytest.TestReport, record: dict[str, Any], expectation: dict[str, Any]
) -> None:
    """The report as pytest's xfail would make it: an expected fail or error is an xfail with
    the entry's reason; a claim no longer as expected fails, as a strict XPASS does, so -rx,
    -rX, JUnit and --lf read it as they read pytest's own."""
    entry = f"expected {expectation['verdict']}, {expectation['where']}"
    if expectation["status"] == EXPECTED:
        report.outcome = "skipped"
        report.wasxfail = printable(f"{expectation['reason']} ({entry})")
        return
    verdict = record["verdict"]
    words = printable(f"no longer as expected: {verdict} where {entry}; update the file")
    if verdict == PASS:
        report.outcome, report.longrepr = "failed", f"[XPASS(strict)] {words}"
    elif verdict == NOT_APPLICABLE:
        report.outcome = "failed"
        report.longrepr = f"{words} ({printable(record['message'])})"
    else:  # a fail where an error was expected, or the other way round: it fails as it is
        report.sections.append(("container-claims", words))


def _one_line(item: ClaimItem, call: pytest.CallInfo[None], report: pytest.TestReport) -> str:
    """The reason of a skip or an error of ours, and pytest's report made to show just that."""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        shown = printable(reason)
        report.longrepr = (os.fspath(item.path), item.claim.line, shown)  # the claim's line
        return reason
    if call.excinfo is not None:
        if call.when == "setup" and isinstance(call.excinfo.value, ClaimsError):
            report.longrepr = item.could_not_observe(call.excinfo.value)
        return str(call.excinfo.value)
    return ""


def _record(
    item: ClaimItem, call: pytest.CallInfo[None], report: pytest.TestReport, message: str
) -> dict[str, Any]:
    if call.when == "setup":
        verdict = NOT_APPLICABLE if report.skipped else ERROR
    else:
        verdict = PASS if report.passed else FAIL
    evidence = item.evidence()
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
        "verdict": verdict,
        "duration_s": round(report.duration, 3),
        "scenario_duration_s": item.result.duration_s if item.result else None,
        "message": message if verdict in (ERROR, NOT_APPLICABLE) else "",
        "evidence": evidence,
        "runtime_info": item.runtime_info or {"name": item.runtime_name},
        **({"transcript": transcript} if transcript else {}),
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
