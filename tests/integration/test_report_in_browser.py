"""The HTML report in a real browser, used the way a reader uses it.

The page made from ``tests/data/sample-results.json`` (three runtimes, 87 results) must
render every cell with its verdict's word, without script errors and without fetching
anything; its verdict labels must be legible; a click or the keyboard (Tab, Enter) opens a
cell's evidence and Escape closes it, giving focus back to the cell; the evidence leads to the
same claim on another runtime; and the cell named in the URL's fragment opens by itself.

The browser is Debian's headless Chromium, driven by Selenium through Debian's chromedriver
(``scripts/setup`` installs both). Both binaries are named, so Selenium Manager never runs
and nothing is downloaded; chromedriver and Chromium talk over loopback; Chromium gets a
fresh profile, and one browser serves the module and is quit when the module ends.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import ActionChains, Chrome, ChromeOptions, ChromeService, Keys
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

from container_claims.cli import main
from container_claims.report.html import cell_id
from container_claims.report.verdict_words import VERDICT_WORDS
from tests.support.wide_results import DOWN, DOWN_REASON, WIDE, wide_results

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample-results.json"
FAMILIES = ["Docker engine", "Podman", "plain namespaces", "containerd", "lxc", "nspawn"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,1000",
]
TIMEOUT = 30.0


def _running_with(profile: str) -> list[int]:
    """Processes whose command line names the profile: Chromium and its helpers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if profile.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:  # it ended while we looked
                continue
    return found


@pytest.fixture(scope="module")
def driver() -> Iterator[Chrome]:
    # Missing is a failure, not a skip: scripts/setup installs both, and a report no browser
    # looked at must not pass CI.
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} missing: run scripts/setup (chromium, chromium-driver)"
        )
    with (
        tempfile.TemporaryDirectory(prefix="cc-chromium-", ignore_cleanup_errors=True) as profile,
        pytest.MonkeyPatch.context() as env,
    ):
        # Selenium Manager is skipped when the driver is named; should it run anyway, it
        # must neither download nor report usage.
        env.setenv("SE_OFFLINE", "true")
        env.setenv("SE_AVOID_STATS", "true")
        options = ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in [*FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        # Console and script errors, and every request the page makes (DevTools' Network).
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        service = ChromeService(executable_path=str(CHROMEDRIVER))
        browser = Chrome(options=options, service=service)
        try:
            yield browser
        finally:
            browser.quit()
            # quit() ends chromedriver, which closes Chromium; its helpers go with it.
            deadline = time.monotonic() + 10
            while _running_with(profile) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _running_with(profile) == [], "Chromium outlived the test module"
            assert service.process.poll() is not None, "chromedriver outlived the test module"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of the sample results, made through the command line."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(SAMPLE), "--html", str(path)]) == 0
    return path


@pytest.fixture
def page(driver: Chrome) -> Chrome:
    """The shared browser on a blank page, with the logs of earlier tests drained."""
    driver.get("about:blank")  # so the next load is a real load, even with only a new fragment
    log(driver, "browser")
    log(driver, "performance")
    return driver


def load(driver: Chrome, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, TIMEOUT).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_dom_attribute("data-ready") == "yes",
        "the page's script did not run",
    )


def log(driver: Chrome, kind: str) -> list[dict[str, Any]]:
    """The entries of one of chromedriver's logs since the last call (reading drains it)."""
    entries: list[dict[str, Any]] = driver.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


def severe(driver: Chrome) -> list[str]:
    """Script errors and console errors since the last call."""
    return [str(entry["message"]) for entry in log(driver, "browser") if entry["level"] == "SEVERE"]


def requested(driver: Chrome) -> list[str]:
    """The URL of every request the browser sent since the last call."""
    urls = []
    for entry in log(driver, "performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(str(message["params"]["request"]["url"]))
    return urls


def press(driver: Chrome, key: str) -> None:
    """A key press on whatever has focus, as the keyboard sends it."""
    ActionChains(driver).send_keys(key).perform()


def attr(element: WebElement, name: str) -> str:
    return str(element.get_dom_attribute(name))


def focused(driver: Chrome) -> WebElement:
    return driver.switch_to.active_element


def cell_button(driver: Chrome, claim: str, runtime: str) -> WebElement:
    return driver.find_element(
        By.CSS_SELECTOR, f'button.cell[data-claim="{claim}"][data-runtime="{runtime}"]'
    )


def open_panel(driver: Chrome, claim: str, runtime: str) -> WebElement:
    """The evidence panel of a cell, once it is on screen."""
    panel = driver.find_element(By.ID, cell_id(claim, runtime))
    return WebDriverWait(driver, TIMEOUT).until(
        ec.visibility_of(panel), f"the evidence of {claim} on {runtime} did not open"
    )


def close_with_escape(driver: Chrome, panel: WebElement) -> None:
    press(driver, Keys.ESCAPE)
    WebDriverWait(driver, TIMEOUT).until(
        ec.invisibility_of_element(panel), "Escape did not close the evidence"
    )


def assert_names_its_cell(panel: WebElement, claim: str, runtime: str, verdict: str) -> None:
    """The panel's heading says which claim, on which runtime, and the verdict in words."""
    heading = panel.find_element(By.CSS_SELECTOR, ".ev-head h3")
    assert heading.text.startswith(f"{claim} on {runtime}"), heading.text
    label = heading.find_element(By.CSS_SELECTOR, ".badge").text
    assert label.lower().endswith(VERDICT_WORDS[verdict].label), label


def sample_cells() -> dict[tuple[str, str], str]:
    data = json.loads(SAMPLE.read_text())
    return {(r["claim"], r["runtime"]): r["verdict"] for r in data["results"]}


def test_page_renders_every_cell_without_errors_or_fetches(page: Chrome, report: Path) -> None:
    load(page, report.as_uri())

    cells = page.find_elements(By.CSS_SELECTOR, "button.cell")
    shown = {
        (attr(c, "data-claim"), attr(c, "data-runtime")): attr(c, "data-verdict") for c in cells
    }
    assert shown == sample_cells()
    assert len(cells) == 87  # one button per result, none twice
    for cell in cells:
        claim, runtime, verdict = (attr(cell, f"data-{k}") for k in ("claim", "runtime", "verdict"))
        assert cell.is_displayed(), (claim, runtime)
        label = cell.find_element(By.CSS_SELECTOR, ".badge").text  # "" if not rendered
        assert label.lower().endswith(VERDICT_WORDS[verdict].label), (claim, runtime, label)
        panel = page.find_element(By.ID, attr(cell, "popovertarget"))
        assert not panel.is_displayed(), (claim, runtime)  # evidence waits for a click
    assert severe(page) == []
    # The page itself, and nothing else: as DevTools saw it, and as the page saw it.
    assert requested(page) == [report.as_uri()]
    assert page.execute_script("return performance.getEntriesByType('resource').length") == 0


def _luminance(css_colour: str) -> float:
    """Relative luminance (WCAG 2) of an opaque ``rgb(...)``/``rgba(...)`` colour."""
    red, green, blue, *alpha = (float(v) for v in re.findall(r"[\d.]+", css_colour))
    assert alpha in ([], [1.0]), f"{css_colour} is not opaque: its contrast depends on the page"
    linear = [
        v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        for v in (red / 255, green / 255, blue / 255)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_verdict_labels_are_legible(page: Chrome, report: Path, scheme: str) -> None:
    # The stylesheet has colours for both schemes; the reader's system picks one.
    page.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    try:
        load(page, report.as_uri())
        dark = page.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches")
        assert dark is (scheme == "dark")  # the emulation took

        for verdict, words in VERDICT_WORDS.items():
            word = words.label
            badge = page.find_element(By.CSS_SELECTOR, f".legend .badge.{verdict}")
            fg = _luminance(badge.value_of_css_property("color"))
            bg = _luminance(badge.value_of_css_property("background-color"))
            ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
            assert ratio >= 4.5, f"{scheme} {verdict}: contrast {ratio:.2f} is below WCAG AA"
            assert badge.text.lower().endswith(word), badge.text  # a word, not colour alone
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_click_shows_a_cells_evidence_and_escape_returns_to_the_cell(
    page: Chrome, report: Path
) -> None:
    load(page, report.as_uri())
    claim, runtime = "shell-is-pid-1", "docker-init"  # fails: docker-init's shell is PID 7
    cell = cell_button(page, claim, runtime)

    cell.click()

    panel = open_panel(page, claim, runtime)
    assert_names_its_cell(panel, claim, runtime, "fail")
    assert panel.size["width"] > 600 and panel.size["height"] > 600  # not a cramped cell
    text = panel.text
    assert "shell_pid equals" in text
    assert re.search(r"expected\s+1\s+observed\s+7\b", text), text[:600]
    assert "echo $$" in text  # the step that observed it
    assert "TERMINAL TRANSCRIPT" in text.upper()
    assert "/sbin/docker-init -- /bin/bash" in text  # from the transcript: why not PID 1

    close_with_escape(page, panel)

    assert focused(page) == cell  # back where the reader was
    assert severe(page) == []


def test_keyboard_alone_opens_and_closes_a_cells_evidence(page: Chrome, report: Path) -> None:
    load(page, report.as_uri())
    first_cell = page.find_element(By.CSS_SELECTOR, "button.cell")

    # From the top of the page, Tab until a verdict has focus; the first is the matrix's first.
    for _ in range(100):
        press(page, Keys.TAB)
        if "cell" in attr(focused(page), "class").split():
            break
    cell = focused(page)
    assert cell == first_cell, cell.get_attribute("outerHTML")
    assert cell.value_of_css_property("outline-style") != "none"  # focus is visible
    claim, runtime = attr(cell, "data-claim"), attr(cell, "data-runtime")
    assert attr(cell, "popovertarget") == cell_id(claim, runtime)

    press(page, Keys.ENTER)

    panel = open_panel(page, claim, runtime)
    assert_names_its_cell(panel, claim, runtime, attr(cell, "data-verdict"))
    press(page, Keys.TAB)  # the panel follows its cell in the tab order: Close comes first
    assert focused(page) == panel.find_element(By.CSS_SELECTOR, "button.close")

    close_with_escape(page, panel)

    assert focused(page) == cell
    assert cell.value_of_css_property("outline-style") != "none"
    assert severe(page) == []


def test_evidence_leads_to_the_same_claim_on_another_runtime(page: Chrome, report: Path) -> None:
    load(page, report.as_uri())
    claim = "shell-is-pid-1"
    cell_button(page, claim, "docker-init").click()
    panel = open_panel(page, claim, "docker-init")
    others = {b.text.split()[0]: b for b in panel.find_elements(By.CSS_SELECTOR, "button.other")}
    assert set(others) == {"docker-gvisor", "docker-no-stdin"}  # every other runtime, not itself

    others["docker-gvisor"].click()

    other = open_panel(page, claim, "docker-gvisor")
    assert_names_its_cell(other, claim, "docker-gvisor", "pass")
    assert re.search(r"expected\s+1\s+observed\s+1\b", other.text)  # gVisor: PID 1
    assert severe(page) == []


def test_fragment_opens_the_named_cell(page: Chrome, report: Path) -> None:
    claim, runtime = "changes-vanish-after-exit", "docker-no-stdin"  # an error, with a reason

    load(page, f"{report.as_uri()}#{cell_id(claim, runtime)}")

    panel = open_panel(page, claim, runtime)
    assert_names_its_cell(panel, claim, runtime, "error")
    assert page.find_elements(By.CSS_SELECTOR, ":popover-open") == [panel]  # only that one
    assert page.execute_script("return arguments[0].contains(document.activeElement)", panel)
    assert "WHY NO VERDICT" in panel.text.upper()
    assert "got no reply within 30 s" in panel.text

    close_with_escape(page, panel)

    assert focused(page) == cell_button(page, claim, runtime)  # its cell, in the matrix
    assert severe(page) == []


@pytest.fixture(scope="module")
def report_with_expectations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample, run as if against an expectations file: one fail accepted, one pass that
    its entry says should fail (no longer as expected)."""
    data = json.loads(SAMPLE.read_text())
    failed = next(r for r in data["results"] if r["verdict"] == "fail")
    passed = next(r for r in data["results"] if r["verdict"] == "pass")
    entry = {"verdict": "fail", "where": "known.yaml:2", "link": "https://example.org/why"}
    failed["expectation"] = {**entry, "status": "expected", "reason": "Known here, <b>why</b>."}
    passed["expectation"] = {**entry, "status": "unexpected", "reason": "Was known."}
    folder = tmp_path_factory.mktemp("expected")
    (folder / "results.json").write_text(json.dumps(data))
    path = folder / "report.html"
    assert main(["report", str(folder / "results.json"), "--html", str(path)]) == 0
    return path


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_expected_verdicts_are_legible_and_say_so_in_words(
    page: Chrome, report_with_expectations: Path, scheme: str
) -> None:
    page.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    try:
        load(page, report_with_expectations.as_uri())
        for css, words in (("expected", "· expected"), ("unexpected", "no longer as expected")):
            badge = page.find_element(By.CSS_SELECTOR, f".legend .badge.{css}")
            fg = _luminance(badge.value_of_css_property("color"))
            bg = _luminance(badge.value_of_css_property("background-color"))
            ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
            assert ratio >= 4.5, f"{scheme} {css}: contrast {ratio:.2f} is below WCAG AA"
            assert badge.text.endswith(words), badge.text
        cell = page.find_element(By.CSS_SELECTOR, "button.cell.expected")
        assert "expected: Known here, <b>why</b>." in cell.text  # the reason, as text
        cell.click()
        panel = page.find_element(By.ID, attr(cell, "popovertarget"))
        assert "EXPECTED\nfail: Known here, <b>why</b>. known.yaml:2 why" in panel.text, panel.text
        link = panel.find_element(By.CSS_SELECTOR, ".expectation a")
        assert link.get_attribute("href") == "https://example.org/why"
        assert severe(page) == []
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


# -- a dozen runtimes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wide_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page of twelve runtimes in six families and one that could not run."""
    folder = tmp_path_factory.mktemp("wide")
    (folder / "wide.json").write_text(json.dumps(wide_results()))
    path = folder / "wide.html"
    assert main(["report", str(folder / "wide.json"), "--html", str(path)]) == 0
    return path


def box(element: WebElement) -> dict[str, float]:
    """Where an element is in the window, in CSS pixels."""
    rect: dict[str, float] = element.parent.execute_script(
        "var r = arguments[0].getBoundingClientRect();"
        "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};",
        element,
    )
    return rect


def on_top(driver: Chrome, element: WebElement) -> bool:
    """Whether the reader sees ``element`` at its middle: nothing else is drawn over it."""
    seen: bool = driver.execute_script(
        "var r = arguments[0].getBoundingClientRect();"
        "var hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
        "return hit !== null && arguments[0].contains(hit);",
        element,
    )
    return seen


def scroll_sideways_to_the_end(driver: Chrome, element: WebElement) -> None:
    """Scroll the page to its right end, with ``element`` in the window."""
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'});"
        "window.scrollTo(document.documentElement.scrollWidth, window.scrollY);",
        element,
    )
    assert driver.execute_script("return window.scrollX") > 1000, "the page did not scroll"


def test_the_claim_column_stays_in_view_when_scrolled_sideways(
    page: Chrome, wide_report: Path
) -> None:
    load(page, wide_report.as_uri())
    claim = page.find_element(By.CSS_SELECTOR, 'th.claim[id="r-shell-is-pid-1"]')
    last = cell_button(page, "shell-is-pid-1", "nspawn")  # the last column

    scroll_sideways_to_the_end(page, claim)

    assert last.is_displayed() and box(last)["right"] <= page.execute_script(
        "return document.documentElement.clientWidth"
    )
    assert abs(box(claim)["left"]) < 1  # stuck to the window's left edge
    assert on_top(page, claim), "a cell is drawn over the claim"
    assert "shell-is-pid-1" in claim.text
    head = page.find_element(By.CSS_SELECTOR, "#matrix th.claim-head")
    assert abs(box(head)["left"]) < 1 and on_top(page, head)
    # The control: without the stylesheet's sticky column, the same scroll takes it away.
    page.execute_script(
        "document.querySelectorAll('th.claim').forEach(function (t) {"
        "t.style.position = 'static'; });"
    )
    assert box(claim)["right"] < 0
    assert severe(page) == []


def test_runtimes_are_grouped_under_their_families(page: Chrome, wide_report: Path) -> None:
    load(page, wide_report.as_uri())
    table = page.find_element(By.ID, "matrix")
    families = table.find_elements(By.CSS_SELECTOR, "thead th.family")
    runtimes = table.find_elements(By.CSS_SELECTOR, "thead th.runtime")

    assert [f.text.lower() for f in families] == [f.lower() for f in FAMILIES]
    names = [r.find_element(By.CSS_SELECTOR, ".rt-name").text for r in runtimes]
    assert names == [n for family in FAMILIES for n, (_, f) in WIDE.items() if f == family]
    # Each family's head stands over exactly its runtimes' columns.
    for family in families:
        label = family.get_attribute("textContent")  # as written: the page shows it in capitals
        members = [r for r, n in zip(runtimes, names, strict=True) if WIDE[n][1] == label]
        assert members, label
        assert abs(box(family)["left"] - box(members[0])["left"]) < 1, label
        assert abs(box(family)["right"] - box(members[-1])["right"]) < 1, label
    assert severe(page) == []


def test_a_box_hides_a_runtimes_column_and_shows_it_again(page: Chrome, wide_report: Path) -> None:
    load(page, wide_report.as_uri())
    boxes = page.find_element(By.ID, "columns")
    assert boxes.is_displayed()
    gvisor = boxes.find_element(By.XPATH, ".//label[normalize-space()='gvisor']/input")
    docker_engine = page.find_element(By.CSS_SELECTOR, "#matrix th.family")
    wide_before = box(page.find_element(By.ID, "matrix"))

    gvisor.click()

    gone = page.find_elements(By.CSS_SELECTOR, '[data-runtime="gvisor"]')
    assert gone and not any(cell.is_displayed() for cell in gone)
    assert all(
        th.text.split("\n")[0] != "gvisor"
        for th in page.find_elements(By.CSS_SELECTOR, "#matrix thead th.runtime")
        if th.is_displayed()
    )
    assert cell_button(page, "shell-is-pid-1", "docker").is_displayed()  # its neighbours stay
    assert docker_engine.get_attribute("colspan") == "3"
    runtimes = [
        th
        for th in page.find_elements(By.CSS_SELECTOR, "#matrix thead th.runtime")
        if th.is_displayed()
    ]
    assert abs(box(docker_engine)["right"] - box(runtimes[2])["right"]) < 1  # still over its own
    narrower = box(page.find_element(By.ID, "matrix"))
    assert narrower["right"] - narrower["left"] < wide_before["right"] - wide_before["left"]

    gvisor.click()

    assert all(
        cell.is_displayed()
        for cell in page.find_elements(By.CSS_SELECTOR, 'button.cell[data-runtime="gvisor"]')
    )
    assert docker_engine.get_attribute("colspan") == "4"
    assert severe(page) == []


def test_without_script_every_column_shows(page: Chrome, wide_report: Path) -> None:
    page.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        page.get(wide_report.as_uri())
        WebDriverWait(page, TIMEOUT).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        assert not page.find_element(By.ID, "columns").is_displayed()  # boxes that could not work
        cells = page.find_elements(By.CSS_SELECTOR, "#matrix td[data-col]")
        assert cells and all(cell.is_displayed() for cell in cells)
    finally:
        page.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_a_runtime_that_could_not_run_is_one_line(page: Chrome, wide_report: Path) -> None:
    load(page, wide_report.as_uri())

    lines = page.find_elements(By.CSS_SELECTOR, "ul.set-aside li")
    assert [line.text for line in lines] == [f"{DOWN} (Podman) could not run here: {DOWN_REASON}"]
    assert page.find_elements(By.CSS_SELECTOR, f'[data-runtime="{DOWN}"]') == []
    assert severe(page) == []
