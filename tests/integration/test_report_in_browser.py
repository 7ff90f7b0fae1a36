"""The HTML report in a real browser: headless Chromium, driven over the DevTools protocol.

The page made from ``tests/data/sample-results.json`` (three runtimes, 87 results) must
render without script errors and without fetching anything, show every cell with its
verdict's word, open a cell's evidence from the keyboard, and open the cell named in the
URL's fragment. Chromium is Debian's (``scripts/setup`` installs it); it runs as a child of
the test with a fresh profile, listens on loopback only, and is ended by its process id.

The DevTools protocol is spoken with the standard library only: a WebSocket client of a few
dozen lines (:class:`DevTools`) is enough for request/response and events.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from container_claims.cli import main
from container_claims.report.html import LABELS, cell_id

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample-results.json"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
TIMEOUT = 30.0


class DevTools:
    """One WebSocket connection to a DevTools target: ``call`` methods, collect events."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname == "127.0.0.1", url  # loopback only
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv_some()
        response, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert response.split(b"\r\n")[0].split()[1] == b"101", response
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._receive())
            if message.get("id") == self.next_id:
                assert "error" not in message, f"{method}: {message['error']}"
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_for(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for message in self.events:
                if message.get("method") == event:
                    self.events.remove(message)
                    return message
            self.events.append(json.loads(self._receive()))
        raise AssertionError(f"no {event} within {TIMEOUT} s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page; a thrown error fails the test."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def press(self, key: str, code: int) -> None:
        """A real key press, as the keyboard sends it (not a synthetic DOM event)."""
        text = "\r" if key == "Enter" else ""
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=key,
                windowsVirtualKeyCode=code,
                nativeVirtualKeyCode=code,
                **({"text": text} if kind == "keyDown" and text else {}),
            )

    def close(self) -> None:
        self.sock.close()

    def _recv_some(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("DevTools closed the connection")
        return data

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.buffer += self._recv_some()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _send(self, text: str, opcode: int = 0x1) -> None:
        payload = text.encode()
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
        mask = os.urandom(4)  # a client masks every frame (RFC 6455, 5.3)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _receive(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read(8))
            mask = self._read(4) if second & 0x80 else b""
            payload = self._read(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the connection")
            if opcode == 0x9:  # ping
                self._send(payload.decode(), opcode=0xA)
                continue
            message += payload
            if first & 0x80:  # the last fragment
                return message.decode()


class Chromium:
    """Headless Chromium as a child process with its own fresh profile."""

    def __init__(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="cc-chromium-"))
        self.log = (self.profile.parent / f"{self.profile.name}.log").open("wb")
        self.process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,  # its helpers share its process group, ended with it
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise AssertionError(f"Chromium did not start: {self._log_text()}")
            time.sleep(0.05)
        self.port = int(port_file.read_text().split()[0])

    def new_page(self) -> tuple[DevTools, str]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT"
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            target = json.load(response)
        return DevTools(target["webSocketDebuggerUrl"]), target["id"]

    def close_page(self, target: str) -> None:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.port}/json/close/{target}", timeout=TIMEOUT
        ):
            pass

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        # Helpers (network, GPU) that outlive the browser: the group we started, by its id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()
        deadline = time.monotonic() + 10
        while self.profile.exists() and time.monotonic() < deadline:  # a helper may still write
            shutil.rmtree(self.profile, ignore_errors=True)
            time.sleep(0.1)
        Path(self.log.name).unlink(missing_ok=True)

    def _log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-2000:]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/setup first", pytrace=False)
    browser = Chromium()
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of the sample results, made through the command line."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(SAMPLE), "--html", str(path)]) == 0
    return path


@pytest.fixture
def page(chromium: Chromium) -> Iterator[DevTools]:
    devtools, target = chromium.new_page()
    for domain in ("Page", "Runtime", "Network", "Log"):
        devtools.call(f"{domain}.enable")
    devtools.call("Page.bringToFront")  # the focused tab gets the key presses
    devtools.call(
        "Emulation.setDeviceMetricsOverride",
        width=1400,
        height=1000,
        deviceScaleFactor=1,
        mobile=False,
    )
    yield devtools
    devtools.close()
    chromium.close_page(target)


def load(page: DevTools, url: str) -> None:
    page.call("Page.navigate", url=url)
    page.wait_for("Page.loadEventFired")
    assert page.evaluate("document.documentElement.dataset.ready") == "yes"


def problems(page: DevTools) -> list[str]:
    """Script errors, console errors and browser log errors seen so far."""
    found = []
    for event in page.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(json.dumps(params.get("args"))[:500])
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append(params["entry"].get("text", ""))
    return found


def sample_cells() -> dict[tuple[str, str], str]:
    data = json.loads(SAMPLE.read_text())
    return {(r["claim"], r["runtime"]): r["verdict"] for r in data["results"]}


def test_page_renders_every_cell_without_errors_or_fetches(page: DevTools, report: Path) -> None:
    load(page, report.as_uri())

    cells = page.evaluate(
        """Array.from(document.querySelectorAll("button.cell")).map(b => [
            b.dataset.claim, b.dataset.runtime, b.dataset.verdict,
            b.querySelector(".badge").innerText, b.getBoundingClientRect().height,
            getComputedStyle(document.getElementById(b.getAttribute("popovertarget"))).display])"""
    )
    shown = {(claim, runtime): verdict for claim, runtime, verdict, *_ in cells}
    assert shown == sample_cells()
    assert len(cells) == 87
    for claim, runtime, verdict, label, height, panel_display in cells:
        assert label.lower().endswith(LABELS[verdict][1]), (claim, runtime, label)
        assert height > 20, (claim, runtime)  # laid out, not hidden
        assert panel_display == "none", (claim, runtime)  # evidence waits for a click
    assert problems(page) == []
    requested = [
        event["params"]["request"]["url"]
        for event in page.events
        if event.get("method") == "Network.requestWillBeSent"
    ]
    assert requested == [report.as_uri()]  # the page itself, and nothing else


def test_verdict_labels_are_legible(page: DevTools, report: Path) -> None:
    load(page, report.as_uri())

    ratios = page.evaluate(
        """(() => {
          const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
          const lum = c => { const [r, g, b] = c.map(v => { v /= 255;
            return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
          const out = {};
          for (const v of ["pass", "fail", "not-applicable", "error"]) {
            const badge = document.querySelector(".legend .badge." + v);
            const style = getComputedStyle(badge);
            const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))];
            out[v] = [(Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), badge.innerText];
          }
          return out; })()"""
    )
    assert set(ratios) == set(LABELS)
    for verdict, (ratio, label) in ratios.items():
        assert ratio >= 4.5, f"{verdict}: contrast {ratio:.2f} is below WCAG AA"
        assert label.lower().endswith(LABELS[verdict][1])  # a word, not colour alone


STATE = """(() => {
  const panel = document.getElementById(%s);
  const box = panel.getBoundingClientRect();
  const active = document.activeElement;
  return {open: panel.matches(":popover-open"), width: box.width, height: box.height,
          text: panel.innerText, focus: active ? active.className : null,
          focusIn: panel.contains(active), outline: active ? getComputedStyle(active).outlineStyle : null};
})()"""


def test_keyboard_opens_and_closes_a_cells_evidence(page: DevTools, report: Path) -> None:
    load(page, report.as_uri())
    target = cell_id("shell-is-pid-1", "docker-init")  # fails: docker-init's shell is PID 7
    page.evaluate(
        f"document.querySelector('button.cell[popovertarget={json.dumps(target)}]').focus()"
    )

    page.press("Enter", 13)

    state = page.evaluate(STATE % json.dumps(target))
    assert state["open"] is True
    assert state["width"] > 600 and state["height"] > 600  # a wide panel, not a cramped cell
    assert state["focus"] == "cell fail" and state["outline"] != "none"  # focus stays, visibly
    text = state["text"]
    assert "shell_pid equals" in text
    assert re.search(r"expected\s+1\s+observed\s+7\b", text), text[:600]
    assert "echo $$" in text  # the step that observed it
    assert "TERMINAL TRANSCRIPT" in text.upper()
    assert "/sbin/docker-init -- /bin/bash" in text  # from the transcript: why not PID 1

    page.press("Tab", 9)  # into the panel, whose first control is Close

    assert page.evaluate(STATE % json.dumps(target))["focusIn"] is True

    page.press("Escape", 27)

    state = page.evaluate(STATE % json.dumps(target))
    assert state["open"] is False
    assert state["focus"] == "cell fail"  # back where the reader was
    assert problems(page) == []


def test_evidence_leads_to_the_same_claim_on_another_runtime(page: DevTools, report: Path) -> None:
    load(page, report.as_uri())
    first = cell_id("shell-is-pid-1", "docker-init")
    other = cell_id("shell-is-pid-1", "docker-gvisor")
    page.evaluate(
        f"document.querySelector('button.cell[popovertarget={json.dumps(first)}]').click()"
    )
    page.evaluate(
        f"document.getElementById({json.dumps(first)})"
        f".querySelector('button.other[popovertarget={json.dumps(other)}]').focus()"
    )

    page.press("Enter", 13)

    state = page.evaluate(STATE % json.dumps(other))
    assert state["open"] is True
    assert re.search(r"expected\s+1\s+observed\s+1\b", state["text"])  # gVisor: PID 1
    assert problems(page) == []


def test_fragment_opens_the_named_cell(page: DevTools, report: Path, tmp_path: Path) -> None:
    target = cell_id("changes-vanish-after-exit", "docker-no-stdin")  # an error, with a reason

    load(page, f"{report.as_uri()}#{target}")

    state = page.evaluate(STATE % json.dumps(target))
    assert state["open"] is True
    assert state["focusIn"] is True  # Tab walks the evidence, Escape closes it
    assert page.evaluate("document.querySelectorAll(':popover-open').length") == 1
    assert "WHY NO VERDICT" in state["text"].upper()
    assert "got no reply within 30 s" in state["text"]
    shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "report.png").write_bytes(shot)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack("!II", shot[16:24]) == (1400, 1000)  # IHDR: the viewport's size

    page.press("Escape", 27)

    state = page.evaluate(STATE % json.dumps(target))
    assert state["open"] is False
    assert state["focus"] == "cell error"  # the panel's own cell, in the matrix
    assert problems(page) == []
