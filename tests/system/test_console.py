"""The web console (issue 19) against a real state file (tests/system/consoleworld.py),
served in-process by Starlette's TestClient: access, pages, masking, export."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from bridge.commands.render import csv_cell
from bridge.console import accounts, data
from bridge.console.security import IDLE_S, current_user
from tests.system.consoleworld import (
    GET_PAGES,
    ROOT,
    SOURCES,
    USERS,
    World,
    audit_actions,
    client,
    csrf_of,
    login,
    world,
)

__all__ = ["client", "world"]  # fixtures


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


def test_a_filter_value_is_shown_escaped_never_as_markup(client: TestClient) -> None:
    login(client, "shenji")
    page = client.get('/quarantine?code="><script>alert(1)</script>').text
    assert "<script>" not in page and "&lt;script&gt;" in page


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
    assert [csv_cell(v) for v in ("=1+1", "+3", "-2", "@SUM(A1)", "ok")] == [
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


