"""A process held in a reader container (:mod:`.reader`): a host process in the host's PID
namespace, for the probes that look for one, ended by its PID through the reader."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any

from container_claims import ledger, processes
from container_claims.errors import RuntimeUnavailable
from container_claims.probes.reader_backends import READING_TIMEOUT
from container_claims.processes import end_child, last_line
from container_claims.runtimes.remote import HELD_PROCESS, PID_LINE

if TYPE_CHECKING:
    from container_claims.probes.reader import HostReader


class HeldInReader:
    """:meth:`HostReader.hold_process`: bash's ``exec -a NAME sleep`` in the reader,
    started by a ``BINARY exec`` of ours that says its PID; :meth:`stop` ends it by that PID
    through the reader. A run killed outright leaves it in the reader, which the next run's
    sweep removes with every process in it."""

    def __init__(self, reader: HostReader, name: str, seconds: int) -> None:
        self.reader, self.name, self.seconds = reader, name, seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = 0

    def start(self) -> int:
        reader = self.reader
        # The image's bash (the host may have none): the process is the host's all the same.
        argv = [
            reader.config.binary, "exec", reader.name,
            "bash", "-c", HELD_PROCESS, self.name, str(int(self.seconds)),
        ]  # fmt: skip
        with tempfile.TemporaryFile() as out:
            self.process = processes.start(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=reader.env,
            )
            ledger.record_process(self.process.pid, f"exec holding a process in {reader.name}")
            deadline = time.monotonic() + READING_TIMEOUT
            while not (found := PID_LINE.search(_said(out))):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    said = _said(out).decode(errors="replace")
                    self.stop()
                    raise RuntimeUnavailable(
                        f"could not hold a process in {reader.name}: {last_line(said) or 'nothing'}"
                    )
                time.sleep(0.05)
        self.pid = int(found[1])
        self._until_it_is_the_sleep(deadline)
        return self.pid

    def _until_it_is_the_sleep(self, deadline: float) -> None:
        """bash says its PID before it becomes the named ``sleep``: a reading of the process
        meanwhile would find bash. Returns once the host sees the sleep."""
        reader = self.reader
        comm = [reader.config.binary, "exec", reader.name, "cat", f"/proc/{self.pid}/comm"]
        while True:
            left = deadline - time.monotonic()
            try:
                if left > 0 and reader.cli(comm, left, "").strip() == "sleep":
                    return
            except RuntimeUnavailable:
                pass  # gone, or the time is up: said below
            if left <= 0 or (self.process is not None and self.process.poll() is not None):
                self.stop()
                raise RuntimeUnavailable(
                    f"could not hold a process in {reader.name}: it never slept"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.pid:
            with contextlib.suppress(RuntimeUnavailable):
                self.reader.cli(
                    [
                        self.reader.config.binary,
                        "exec",
                        self.reader.name,
                        "sh",
                        "-c",
                        'kill "$1"',
                        "sh",
                        str(self.pid),
                    ],
                    READING_TIMEOUT,
                    f"could not end process {self.pid}",
                )
            self.pid = 0
        if self.process is not None:
            end_child(self.process)
            self.process = None


def _said(out: Any) -> bytes:
    out.seek(0)
    return bytes(out.read(65536))
