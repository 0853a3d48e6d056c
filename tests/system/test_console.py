"""The web console (issue 19) against a real state file: two sources synced to the sandbox
platform, then served by the console in-process (Starlette's TestClient) or as
`zybridge console serve` with no platform secret in its environment."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from bridge import config as config_mod
from bridge.console import accounts, data
from bridge.console.app import create_app
from bridge.console.pages import safe_cell
from bridge.console.security import IDLE_S, current_user
from bridge.sample import build_sample_store
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.sandbox.harness import SandboxProcess, free_port
from tests.system.helpers import cycle

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("haicang", "xinyang")
USERS = {"shenji": ("auditor", "auditor-pass-1"), "guanli": ("admin", "admin-pass-12")}
GET_PAGES = ("/", "/runs", "/quarantine", "/dead-letters", "/record", "/person", "/charts",
             "/chain", "/export")


@dataclass
class World:
    folder: Path
    config: Path
    sandbox: SandboxProcess
    person: str        # an ID number with service records in both sources
    ids: set[str]      # every ID number in the sources
    mobiles: set[str]  # every mobile in the sources


def write_config(folder: Path, sandbox: SandboxProcess, every: str = "1s") -> Path:
    sources = "".join(f"""
[[sources]]
name = "{name}"
kind = "sql"
url = "sqlite:///{folder / name}.db"
mapping = "zhiyuanyun"
every = "{every}"
reconcile_cron = ""
""" for name in SOURCES)
    path = folder / "zybridge.toml"
    path.write_text(f"""
[state]
path = "state.db"
[log]
path = "bridge.jsonl"
[national]
base_url = "{sandbox.base_url}"
app_id = "{DEMO_APP_ID}"
app_secret = "${{ZYBRIDGE_APP_SECRET}}"
jurisdiction = "3502"
rate_per_s = 500.0
[console]
listen = "127.0.0.1:0"
users_file = "console-users.toml"
{sources}""", encoding="utf-8")
    return path


def build_world(folder: Path, sandbox: SandboxProcess) -> World:
    """Two sources with the same people (seed), one sync, two console accounts."""
    for name in SOURCES:
        build_sample_store(folder / f"{name}.db", volunteers=30, seed=3, invalid_share=0.1)
    config = write_config(folder, sandbox)
    cfg = config_mod.load(config, {"ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET})
    assert cycle(cfg).ok
    for name, (role, password) in USERS.items():
        accounts.add(folder / "console-users.toml", name, role, password)
    ids, mobiles = set(), set()
    for name in SOURCES:
        conn = sqlite3.connect(folder / f"{name}.db")
        for cert, mobile in conn.execute("SELECT cert_no, mobile FROM zyy_volunteer"):
            ids |= {str(cert).strip().upper()} if cert and len(str(cert)) >= 15 else set()
            mobiles |= {str(mobile).strip()} if mobile and len(str(mobile)) >= 11 else set()
        conn.close()
    return World(folder, config, sandbox, _person_in_both(folder / "state.db"), ids, mobiles)


def _person_in_both(state: Path) -> str:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT json_extract(v.parts, '$[0][1].id_number') FROM rows v JOIN rows r "
            "ON json_extract(r.parts, '$[0][1].volunteer_external_ref') = v.base_ref "
            "WHERE v.entity = 'volunteer' AND r.entity = 'service_record' "
            "AND v.status = 'synced' GROUP BY 1 HAVING COUNT(DISTINCT r.source) = 2 "
            "LIMIT 1").fetchone()
    finally:
        conn.close()
    return str(row[0])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("console")
    with SandboxProcess(db_path=folder / "sandbox.db", extra_args=["--rate-per-s", "0"]) as sb:
        yield build_world(folder, sb)


@pytest.fixture
def client(world: World, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.delenv("ZYBRIDGE_APP_SECRET", raising=False)
    return TestClient(create_app(data.load_config(world.config)))


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found[1]


def login(client: TestClient, name: str, password: str | None = None) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "name": name,
                                       "password": password or USERS[name][1]},
                       follow_redirects=False)


def audit_actions(world: World) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{world.folder / 'state.db'}?mode=ro", uri=True)
    try:
        return [(a, u) for a, u in conn.execute(
            "SELECT json_extract(data, '$.action'), json_extract(data, '$.user') FROM audit "
            "WHERE kind = 'admin' ORDER BY seq")]
    finally:
        conn.close()


# access -------------------------------------------------------------------------------
@pytest.mark.parametrize("page", [*GET_PAGES, "/export.csv?since=2020-01-01&until=2030-01-01",
                                  "/record?ref=haicang:volunteer:1"])
def test_a_page_without_a_session_redirects_to_login(client: TestClient, page: str) -> None:
    answer = client.get(page, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_a_post_without_the_csrf_token_is_refused(client: TestClient) -> None:
    assert login(client, "guanli").status_code == 303
    for path, form in (("/person", {"id_number": "x"}),
                       ("/actions/retry", {"kind": "quarantine", "all": "yes"})):
        answer = client.post(path, data=form)
        assert answer.status_code == 403 and "表单令牌" in answer.text


def test_a_login_without_the_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    answer = client.post("/login", data={"name": "guanli", "password": USERS["guanli"][1]})
    assert answer.status_code == 403 and client.get("/", follow_redirects=False).is_redirect


def test_an_auditor_gets_403_for_an_admin_action(client: TestClient) -> None:
    login(client, "shenji")
    token = csrf_of(client.get("/").text)
    answer = client.post("/actions/retry", data={"csrf": token, "kind": "quarantine",
                                                 "all": "yes"})
    assert answer.status_code == 403 and "无权" in answer.text


def test_without_a_daemon_an_admin_is_told_so_and_offered_no_action(client: TestClient) -> None:
    login(client, "guanli")
    page = client.get("/quarantine").text
    assert 'id="no-daemon"' in page and "/actions/retry" not in page
    answer = client.post("/actions/retry", data={"csrf": csrf_of(page), "kind": "quarantine",
                                                 "all": "yes"})
    assert answer.status_code == 409 and "守护进程未运行" in answer.text


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for answer in (client.get("/login"), client.get("/static/console.css"),
                   client.get("/", follow_redirects=False)):
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"


def test_the_session_cookie_is_httponly_and_samesite_strict(client: TestClient) -> None:
    cookie = login(client, "shenji").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_a_session_idle_for_eight_hours_is_logged_out() -> None:
    request = SimpleNamespace(session={"user": {"name": "a", "role": "auditor"},
                                       "seen": 1000.0})
    assert current_user(request, now=1000.0 + IDLE_S - 1) is not None  # type: ignore[arg-type]
    assert current_user(request, now=1000.0 + IDLE_S * 3) is None  # type: ignore[arg-type]
    assert request.session == {}


def test_five_wrong_passwords_lock_the_name_even_for_the_right_one(client: TestClient) -> None:
    for _ in range(4):
        assert login(client, "shenji", "wrong password").status_code == 401
    fifth = login(client, "shenji", "wrong password")
    assert fifth.status_code == 401 and "锁定" in fifth.text
    answer = login(client, "shenji")
    assert answer.status_code == 403 and "锁定" in answer.text


def test_login_and_logout_are_audit_entries(world: World, client: TestClient) -> None:
    login(client, "guanli")
    client.post("/logout", data={"csrf": csrf_of(client.get("/").text)})
    actions = audit_actions(world)
    assert actions[-2:] == [("console login", "guanli"), ("console logout", "guanli")]
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


# pages --------------------------------------------------------------------------------
def test_the_overview_counts_each_source_and_entity_by_status(client: TestClient) -> None:
    login(client, "shenji")
    page = client.get("/").text
    assert all(name in page for name in SOURCES)
    assert "已同步" in page and "审计链" in page and "未运行" in page


def test_a_person_found_by_id_number_shows_records_from_both_sources(
        world: World, client: TestClient) -> None:
    login(client, "shenji")
    page = client.post("/person", data={"csrf": csrf_of(client.get("/person").text),
                                        "id_number": world.person}).text
    records = page.split('id="person-records"')[1]
    assert "haicang:service_record:" in records and "xinyang:service_record:" in records
    assert world.person not in page
    assert ("console person lookup", "shenji") in audit_actions(world)


def test_quarantine_filters_by_code_and_shows_reasons_in_chinese(client: TestClient) -> None:
    login(client, "shenji")
    page = client.get("/quarantine?code=REQUIRED").text
    rows = page.split("<tbody>")[1].split("</tbody>")[0]
    assert "必填项为空" in rows and rows.count("<tr>") >= 1
    assert "INVALID_CODE" not in rows


def test_english_is_a_choice(client: TestClient) -> None:
    login(client, "shenji")
    page = client.get("/lang?to=en&next=/quarantine").text
    assert "Quarantine" in page and "隔离区" not in page


def test_a_records_story_shows_its_audit_entries_and_national_id(client: TestClient) -> None:
    login(client, "shenji")
    page = client.get("/record?ref=haicang:volunteer:1").text
    history = page.split('id="history"')[1]
    assert "result" in history and re.search(r"<td>[A-Za-z0-9-]{6,}</td><td>synced", page)


def test_the_charts_are_svg_drawn_on_the_server(client: TestClient) -> None:
    login(client, "shenji")
    page = client.get("/charts").text
    assert page.count("<svg") == 3 and "<script" not in page and "<rect" in page


def test_no_page_holds_a_full_id_number_or_mobile(world: World, client: TestClient) -> None:
    login(client, "guanli")
    pages = [client.get(p).text for p in GET_PAGES]
    pages += [client.get(f"/record?ref={s}:volunteer:{i}").text
              for s in SOURCES for i in (1, 2, 3, 4, 1000)]
    pages += [client.get(f"{p}?page=2").text for p in ("/quarantine", "/dead-letters")]
    pages.append(client.post("/person", data={"csrf": csrf_of(pages[0]),
                                              "id_number": world.person}).text)
    pages.append(client.get("/export.csv?since=2020-01-01&until=2030-01-01").text)
    text = "\n".join(pages)
    assert world.ids and world.mobiles
    leaked = [x for x in world.ids | world.mobiles if x in text]
    assert leaked == []


def test_the_audit_export_is_csv_with_formula_safe_cells(client: TestClient) -> None:
    login(client, "shenji")
    answer = client.get("/export.csv?since=2020-01-01&until=2030-01-01")
    assert answer.headers["content-type"].startswith("text/csv")
    lines = answer.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("seq,at,run_id,kind") and len(lines) > 10
    assert [safe_cell(v) for v in ("=1+1", "+3", "-2", "@SUM(A1)", "ok")] == [
        "'=1+1", "'+3", "'-2", "'@SUM(A1)", "ok"]


def test_an_export_holds_only_the_entries_of_its_period(client: TestClient) -> None:
    login(client, "shenji")
    today = (datetime.now(UTC) + timedelta(hours=8)).date()
    before = client.get(f"/export.csv?since=2020-01-01&until={today - timedelta(days=1)}")
    assert before.text.lstrip("\ufeff").splitlines()[1:] == []
    now = client.get(f"/export.csv?since={today}&until={today}").text.splitlines()
    assert len(now) > 10 and all(f",{today.year}-" in line for line in now[1:])


def test_an_export_of_a_period_that_ends_before_it_starts_is_refused(
        client: TestClient) -> None:
    login(client, "shenji")
    answer = client.get("/export.csv?since=2026-06-02&until=2026-06-01")
    assert answer.status_code == 400 and "时间段无效" in answer.text


# the process and its accounts ---------------------------------------------------------
def _env_without_secrets() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("ZYBRIDGE_APP_SECRET", "ZYBRIDGE_AUDIT_KEY")}


def test_the_console_serves_with_no_platform_secret_in_its_environment(world: World) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(world.config),
                             "console", "serve", "--listen", f"127.0.0.1:{port}"],
                            cwd=ROOT, env=_env_without_secrets(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    page = http.get("/login")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline, "the console did not start"
                    time.sleep(0.2)
            answer = http.post("/login", data={"csrf": csrf_of(page.text), "name": "shenji",
                                               "password": USERS["shenji"][1]})
            assert answer.status_code == 200 and 'id="overview-title"' in answer.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _zybridge(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "--config", str(config), *args],
                          cwd=ROOT, env=_env_without_secrets(), input=stdin, text=True,
                          capture_output=True, timeout=60)


def test_user_add_reads_the_password_from_stdin_and_keeps_only_an_scrypt_hash(
        tmp_path: Path, world: World) -> None:
    config = tmp_path / "zybridge.toml"
    config.write_text(world.config.read_text().replace(
        'users_file = "console-users.toml"', f'users_file = "{tmp_path / "u.toml"}"'))
    added = _zybridge(config, "console", "user", "add", "lina", "--role", "admin",
                      stdin="a-long-password-9\n")
    assert added.returncode == 0, added.stderr
    users = tmp_path / "u.toml"
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert "a-long-password-9" not in users.read_text() and "scrypt$" in users.read_text()
    assert accounts.authenticate(accounts.load(users), "lina", "a-long-password-9")
    assert "lina" in _zybridge(config, "console", "user", "list").stdout
    assert _zybridge(config, "console", "user", "remove", "lina").returncode == 0
    assert accounts.load(users) == {}


def test_user_add_refuses_a_short_password(tmp_path: Path, world: World) -> None:
    config = tmp_path / "zybridge.toml"
    config.write_text(world.config.read_text().replace(
        'users_file = "console-users.toml"', f'users_file = "{tmp_path / "u.toml"}"'))
    added = _zybridge(config, "console", "user", "add", "lina", "--role", "auditor",
                      stdin="short\n")
    assert added.returncode == 2 and "too short" in added.stderr
    assert not (tmp_path / "u.toml").exists()


def test_every_word_a_template_uses_is_in_the_catalogue_in_both_languages() -> None:
    from bridge.console import messages

    folder = ROOT / "bridge" / "console" / "templates"
    used = {k for f in folder.glob("*.html")
            for k in re.findall(r"\bt\('([a-z_]+)'", f.read_text(encoding="utf-8"))}
    families = {"st_": ("synced", "revoked", "pending", "blocked", "skipped", "quarantined",
                        "dead_lettered"),
                "en_": ("organization", "volunteer", "project", "service_record"),
                "request_": ("queued", "running", "done", "failed"),
                "role_": accounts.ROLES}
    assert {k for k in used if k.endswith("_")} == set(families)
    used = {k for k in used if not k.endswith("_")}
    used |= {prefix + v for prefix, values in families.items() for v in values}
    assert used <= set(messages.UI)
    assert all(zh and en and zh != en for zh, en in messages.UI.values())


def test_the_cache_serves_the_last_value_while_a_new_one_is_computed() -> None:
    cache = data.Cache(ttl_s=0.0)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        time.sleep(1.0)
        return len(calls)

    assert cache.get("k", compute)[0] == 1  # the first call waits for its value
    started = time.monotonic()
    assert cache.get("k", compute)[0] == 1  # stale: served at once, refreshed behind
    assert time.monotonic() - started < 0.5
    deadline = time.monotonic() + 5
    while cache.get("k", compute)[0] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_removed_account_loses_its_open_session(world: World, client: TestClient) -> None:
    users = world.folder / "console-users.toml"
    kept = users.read_bytes()
    accounts.add(users, "temp", "auditor", "temporary-pass-1")
    try:
        login(client, "temp", "temporary-pass-1")
        assert client.get("/runs", follow_redirects=False).status_code == 200
        accounts.remove(users, "temp")
        assert client.get("/runs", follow_redirects=False).headers["location"] == "/login"
    finally:
        users.write_bytes(kept)


# with a daemon: the hand-off (kept last: the daemon changes the shared state file) ------
def _wait_for(predicate: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_resync_of_more_than_100_rows_asks_first_then_goes_to_the_daemon(
        world: World, client: TestClient) -> None:
    env = {**_env_without_secrets(), "ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET}
    daemon = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(world.config),
                               "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        cfg = data.load_config(world.config)
        _wait_for(lambda: data.daemon_running(cfg), "the daemon")
        login(client, "guanli")
        form = {"csrf": csrf_of(client.get("/").text), "source": "haicang",
                "entity": "service_record", "since": ""}
        asked = client.post("/actions/resync", data=form)
        assert 'id="confirm-text"' in asked.text and "超过 100 行" in asked.text
        done = client.post("/actions/resync", data={**form, "confirmed": "yes"},
                           follow_redirects=False)
        request_id = int(done.headers["location"].rsplit("/", 1)[1])
        row = _wait_for(lambda: (r := data.request(cfg, request_id)) and
                        r["status"] in ("done", "failed") and r, "the daemon's answer")
        assert row["argv"] == ["resync", "--source", "haicang", "--entity", "service_record"]
        assert row["requested_by"] == "console:guanli" and row["status"] == "done"
        assert ("console resync", "guanli") in audit_actions(world)
        assert "已完成" in client.get(f"/requests/{request_id}").text
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
