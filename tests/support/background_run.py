"""A run of the suite in the background, for the tests that end it in the middle of a
scenario: started, waited on until what it does shows on the host, ended by its PID, and
reaped whatever happens."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]

Found = TypeVar("Found")


@contextlib.contextmanager
def background_run(*args: str, **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """``container-claims run -q ARGS`` started from the repository, its output kept (unless
    ``popen`` says otherwise); killed and reaped on the way out if it still runs."""
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, **popen}
    process = subprocess.Popen(
        [sys.executable, "-m", "container_claims", "run", "-q", *args],
        cwd=REPO,
        text=True,
        **options,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()  # the run we started, by its PID
            process.wait()


def wait_for(
    what: str,
    found: Callable[[], Found | None],
    process: subprocess.Popen[str],
    timeout: float = 120,
    every: float = 0.1,
) -> Found:
    """What ``found`` returns once it is true (not None, False or empty); the test fails,
    naming ``what`` (with the run's output), if the run ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = found()
        if value:
            return value
        if process.poll() is not None:
            output = process.communicate()[0] or ""
            pytest.fail(f"the run ended before {what}: {output[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: did not happen within {timeout:g} s")
        time.sleep(every)


def kill(process: subprocess.Popen[str], timeout: float = 30) -> None:
    """SIGKILL, which nothing in the run can catch: what it started must be found by others."""
    os.kill(process.pid, signal.SIGKILL)  # the run we started, by its PID
    process.wait(timeout=timeout)
