"""What the benchmarks share: running a command to its end with its wall time and peak memory,
and saying which machine the figures were measured on."""

from __future__ import annotations

import atexit
import functools
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: GNU time, to measure a child's peak memory from a small process (see :func:`run`).
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


@dataclass
class Run:
    seconds: float
    max_rss_kib: int
    status: int
    output: str
    cpu_seconds: float  # user and system, of the command and what it ran


@functools.cache
def child_env() -> dict[str, str]:
    """The environment of the commands measured: this one, with Python's bytecode cached (in
    a folder of the benchmark's, written by the first run and removed at its end) even where
    it says not to (``PYTHONDONTWRITEBYTECODE``, as this machine's does). An installed copy
    runs from bytecode; without it every process compiles the suite's modules, and pytest
    rewrites their asserts, again: 0.2 s of each command here, which no user pays."""
    folder = tempfile.mkdtemp(prefix="cc-bench-bytecode-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    env = {**os.environ, "PYTHONPYCACHEPREFIX": folder}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(command: list[str], cwd: Path) -> Run:
    """Run ``command`` to its end: wall time, max RSS, exit status, output (stdout and stderr),
    CPU time, in :func:`child_env`. On a machine others share, the CPU time is the steadier
    figure: the wall time counts what waited for a core.

    The max RSS is GNU time's (``/usr/bin/time -f %M``): a child forked from this process and
    then exec'd inherits this process's own peak in the kernel's accounting, so ``wait4`` on
    a child of ours would report at least this process's size; time is small. Where it is
    missing (Debian's package ``time``), ``wait4``'s figure stands: an upper bound."""
    with tempfile.TemporaryDirectory(prefix="cc-bench-run-") as scratch:
        rss = Path(scratch) / "rss"
        if GNU_TIME:
            command = [GNU_TIME, "-f", "%M", "-o", str(rss), *command]
        with open(Path(scratch) / "output", "w+b") as sink:
            began = time.perf_counter()
            process = subprocess.Popen(
                command, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, env=child_env()
            )
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - began
            process.returncode = os.waitstatus_to_exitcode(status)
            sink.seek(0)
            output = sink.read().decode(errors="replace")
        max_rss = usage.ru_maxrss
        if GNU_TIME:  # its last line; a line before it tells a non-zero exit
            max_rss = int(rss.read_text().split()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, max_rss, process.returncode, output, cpu)


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it ("" when it does not)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine_words() -> str:
    """``2 cores, AMD EPYC, kernel 6.18.44``: the machine, in one line."""
    return (
        f"{len(os.sched_getaffinity(0))} cores, {cpu_model() or platform.machine()}, "
        f"kernel {platform.release()}"
    )
