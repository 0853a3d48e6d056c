"""The console in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by Selenium): an auditor's and an admin's day, against a running daemon and the
sandbox platform. Skips, saying what to install, where chromium is missing; fails where
it is present but broken.

`CONSOLE_SCREENSHOTS=DIR` keeps screenshots of the main pages in DIR (docs/img)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess, free_port
from tests.system.consoleworld import ROOT, USERS, World, build_world

CHROMIUM, DRIVER = shutil.which("chromium"), "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=zh-CN")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or not Path(DRIVER).exists(),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
           "chromium-driver; .ci/run installs them)")


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen([sys.executable, "-m", "bridge", *args], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT)


def _wait(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    """The world, a daemon (`zybridge run`) and the console (`zybridge console serve`,
    without the platform secret)."""
    folder = tmp_path_factory.mktemp("browser")
    with SandboxProcess(db_path=folder / "sandbox.db", extra_args=["--rate-per-s", "0"]) as sb:
        world = build_world(folder, sb)
        config = world.config
        config.write_text(config.read_text().replace('every = "1s"', 'every = "1h"'))
        plain = {k: v for k, v in os.environ.items() if k != "ZYBRIDGE_APP_SECRET"}
        daemon = _start(["--config", str(config), "run"],
                        {**plain, "ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET}, folder / "run.log")
        port = free_port()
        console = _start(["--config", str(config), "console", "serve", "--listen",
                          f"127.0.0.1:{port}"], plain, folder / "console.log")
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(lambda: _up(f"{base}/login"), "the console")
            _wait(lambda: _daemon_beats(folder / "state.db"), "the daemon")
            yield world, base
        finally:
            for proc in (console, daemon):
                proc.terminate()
                proc.wait(timeout=30)


def _daemon_beats(state: Path) -> bool:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT stopped_at FROM daemon WHERE id = 1").fetchone()
        return row is not None and row[0] is None
    finally:
        conn.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.implicitly_wait(10)  # an element of the next page may take a moment to appear
    downloads = tmp_path_factory.mktemp("downloads")
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The browser and the console's address, with the few moves the tests make."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver, self.base = driver, base

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def by_id(self, element_id: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, element_id)

    def text(self) -> str:
        return str(self.driver.find_element("tag name", "body").text)

    def login(self, name: str, password: str) -> None:
        self.open("/login")
        self.by_id("name").send_keys(name)
        self.by_id("password").send_keys(password)
        self.by_id("login-submit").click()

    def logout(self) -> None:
        self.by_id("logout").click()
        _wait(lambda: self.driver.current_url == f"{self.base}/login", "the login page")

    def shot(self, name: str) -> None:
        folder = os.environ.get("CONSOLE_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(Path(folder) / f"console-{name}.png"))


def _quarantined_team(state: Path) -> str:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT local_id FROM rows WHERE source = 'haicang' AND entity = 'organization' "
            "AND state = 'quarantined' AND reasons LIKE '%contact_name%' "
            "AND json_array_length(reasons) = 1 ORDER BY local_id LIMIT 1").fetchone()
    finally:
        conn.close()
    assert row, "the sample store has no team quarantined for its linkman alone"
    return str(row[0])


def test_an_auditor_reads_finds_a_person_exports_and_is_refused_an_action(
        running: tuple[World, str], browser: Any) -> None:
    world, base = running
    page = Page(browser, base)
    page.open("/")
    _wait(lambda: browser.current_url == f"{base}/login", "the redirect to the login page")
    page.shot("login")
    page.login("shenji", USERS["shenji"][1])
    assert "概览" in page.by_id("overview-title").text
    assert "运行中" in page.by_id("daemon-state").text
    page.shot("overview")
    page.by_id("nav-person").click()
    page.by_id("id_number").send_keys(world.person)
    page.by_id("person-find").click()
    records = page.by_id("person-records").text
    assert "haicang:service_record:" in records and "xinyang:service_record:" in records
    assert world.person not in browser.page_source
    assert browser.current_url == f"{base}/person"  # posted: the number is in no URL
    page.shot("person")
    page.open("/export")
    page.by_id("export-csv").click()
    exported = _wait(lambda: list(browser.downloads.glob("zybridge-audit-*.csv")), "the export")
    assert exported[0].read_text(encoding="utf-8-sig").startswith("seq,at,run_id,kind")
    page.open("/quarantine")
    assert "retry-all" not in browser.page_source
    browser.execute_script(
        "const f = document.createElement('form'); f.method = 'post';"
        "f.action = '/actions/retry';"
        "for (const [k, v] of [['csrf', arguments[0]], ['kind', 'quarantine'], "
        "['all', 'yes']]) { const i = document.createElement('input'); i.name = k; "
        "i.value = v; f.appendChild(i); } document.body.appendChild(f); f.submit();",
        browser.find_element("css selector", "input[name=csrf]").get_attribute("value"))
    _wait(lambda: "/actions/retry" in browser.current_url, "the refused action")
    assert "您的角色无权执行此操作" in page.by_id("error").text
    for path in ("/", "/charts", "/quarantine", "/dead-letters", "/runs"):
        page.open(path)
    refused = [e["message"] for e in browser.get_log("browser")
               if "Content Security Policy" in e["message"]]
    assert refused == []  # nothing on any page needed what the policy forbids
    page.logout()


def test_an_admin_retries_a_fixed_row_and_sees_it_synced(
        running: tuple[World, str], browser: Any) -> None:
    world, base = running
    page = Page(browser, base)
    team = _quarantined_team(world.folder / "state.db")
    source = sqlite3.connect(world.folder / "haicang.db")
    with source:
        source.execute("UPDATE zyy_team SET linkman = '王建国' WHERE team_id = ?", (team,))
    source.close()
    page.login("guanli", USERS["guanli"][1])
    page.open("/quarantine?source=haicang&entity=organization")
    page.shot("quarantine")
    ref = f"haicang:organization:{team}"
    browser.find_element("css selector", f"input[name=ref][value='{ref}']").click()
    page.by_id("retry-selected").click()
    _wait(lambda: "/requests/" in browser.current_url, "the request page")
    _wait(lambda: (browser.refresh() or True) and "已完成" in page.by_id("request-status").text,
          "the daemon to run the request", timeout=60)
    page.shot("request")
    page.open(f"/record?ref={ref}")
    assert page.by_id("record-status").text == "已同步"
    page.shot("record")
    page.open("/charts")
    page.shot("charts")
    page.logout()


def test_five_wrong_passwords_lock_the_name(running: tuple[World, str], browser: Any) -> None:
    _, base = running
    page = Page(browser, base)
    for _ in range(5):
        page.login("guanli", "not the password")
    assert "锁定" in page.by_id("login-error").text
    page.login("guanli", USERS["guanli"][1])  # the right password, while locked
    page.open("/")
    _wait(lambda: browser.current_url == f"{base}/login", "the refusal")
    assert "nav-overview" not in browser.page_source
