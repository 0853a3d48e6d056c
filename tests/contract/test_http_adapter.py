"""The HTTP adapter against the fake agency server over loopback (tests/agency_server.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from adapters.base import Cursor, Page
from adapters.http import HttpSource, RetryPolicy, instant, open_http_source
from bridge.errors import ConfigError, TransientError
from bridge.testing.agency import AgencyServer, wire

TOKEN = "agency-s3cret-token"
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[AgencyServer]:
    with AgencyServer(token=TOKEN) as agency:
        yield agency


@pytest.fixture
def agency(server: AgencyServer) -> AgencyServer:
    if not server.running:
        server.start()
    server.clear()
    return server


class Sleeps:
    """An injected sleep: records each wait, runs an optional hook instead of waiting."""

    def __init__(self, hook: Any = None) -> None:
        self.waits: list[float] = []
        self.hook = hook

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.hook is not None:
            self.hook()


def source(agency: AgencyServer, sleep: Sleeps | None = None, token: str = TOKEN,
           attempts: int = 6) -> HttpSource:
    return open_http_source(agency.url, token, sleep=sleep or Sleeps(),
                            retry=RetryPolicy(attempts=attempts))


def workers(agency: AgencyServer, n: int, *, same_time: bool = False) -> list[str]:
    ids = [f"W{i:03d}" for i in range(n)]
    agency.put("workers", [{"workerId": w, "fullName": "x",
                            "updatedAt": wire(BASE + timedelta(seconds=0 if same_time else i))}
                           for i, w in enumerate(ids)])
    return ids


def read(src: HttpSource, since: Cursor | None = None, lookback_s: int = 0,
         page_size: int = 7) -> list[Page]:
    return list(src.read_changes("volunteer", since, lookback_s, page_size))


def ids(pages: list[Page]) -> list[str]:
    return [row.local_id for page in pages for row in page.rows]


def test_a_read_pages_through_every_row_once_in_order(agency: AgencyServer) -> None:
    want = workers(agency, 25)
    pages = read(source(agency))
    assert ids(pages) == want
    assert max(len(p.rows) for p in pages) <= 7


def test_the_last_cursor_is_the_newest_updated_at(agency: AgencyServer) -> None:
    workers(agency, 25)
    last = read(source(agency))[-1].cursor
    assert last is not None and instant(last.modified) == BASE + timedelta(seconds=24)


def test_page_cursors_never_go_back(agency: AgencyServer) -> None:
    workers(agency, 25)
    cursors = [p.cursor for p in read(source(agency), page_size=3)]
    assert all(c is not None for c in cursors)
    assert cursors == sorted(c for c in cursors if c is not None)


def test_a_page_size_over_the_agency_limit_is_capped(agency: AgencyServer) -> None:
    want = workers(agency, 30)
    assert ids(read(source(agency), page_size=500)) == want


def test_a_tie_larger_than_a_page_is_read_whole(agency: AgencyServer) -> None:
    want = workers(agency, 30, same_time=True)
    assert sorted(ids(read(source(agency)))) == want


def test_rows_older_than_the_look_back_window_are_not_read_again(agency: AgencyServer) -> None:
    workers(agency, 25)
    since = Cursor((BASE + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    assert ids(read(source(agency), since, lookback_s=5)) == [f"W{i:03d}" for i in range(15, 25)]


def test_no_page_cursor_is_behind_the_stored_one(agency: AgencyServer) -> None:
    workers(agency, 25)
    since = Cursor((BASE + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    assert all(p.cursor is not None and p.cursor >= since
               for p in read(source(agency), since, lookback_s=3600))


def naive_offset_read(agency: AgencyServer) -> list[str]:
    """What a client that trusts the agency's cursor gets (proves the server shifts)."""
    seen: list[str] = []
    cursor = None
    with httpx.Client(base_url=agency.url,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        while True:
            params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
            body = http.get("/api/v2/workers", params=params).json()
            seen += [d["workerId"] for d in body["data"]]
            cursor = body["nextCursor"]
            if cursor is None:
                return seen


def test_the_fake_server_really_shifts_its_pages(agency: AgencyServer) -> None:
    want = workers(agency, 25)
    agency.set_faults(shift=True)
    assert set(naive_offset_read(agency)) != set(want)


def test_shifting_pages_lose_no_row(agency: AgencyServer) -> None:
    want = workers(agency, 25)
    agency.set_faults(shift=True)
    assert set(ids(read(source(agency)))) == set(want)


def test_a_cursor_never_passes_a_row_not_yet_seen(agency: AgencyServer) -> None:
    workers(agency, 25)
    agency.set_faults(shift=True)
    seen: set[tuple[str, str]] = set()
    for page in read(source(agency), page_size=4):
        seen |= {(r.local_id, r.modified) for r in page.rows}
        assert page.cursor is not None
        bound = instant(page.cursor.modified)
        assert bound is not None
        for doc in agency.docs("workers"):
            at = instant(doc["updatedAt"])
            assert at is not None
            if at < bound:
                assert (doc["workerId"], _stamp(at)) in seen


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_row_changed_between_pages_comes_again_in_its_new_version(
        agency: AgencyServer) -> None:
    workers(agency, 25)
    pages = source(agency).read_changes("volunteer", None, 0, 7)
    first = next(pages)
    agency.update("workers", first.rows[0].local_id, fullName="改过")
    later = [row for page in pages for row in page.rows]
    again = [r for r in later if r.local_id == first.rows[0].local_id]
    assert [r.data["fullName"] for r in again] == ["改过"]


def test_429_is_honoured_with_its_retry_after(agency: AgencyServer) -> None:
    want = workers(agency, 10)
    agency.set_faults(script=[429, 429])
    sleeps = Sleeps()
    assert ids(read(source(agency, sleeps))) == want
    assert sleeps.waits == [1.0, 1.0]


def test_polling_too_fast_is_slowed_down_not_failed(agency: AgencyServer) -> None:
    want = workers(agency, 10)
    agency.set_faults(min_interval_s=0.2)
    sleeps = Sleeps(hook=lambda: __import__("time").sleep(0.25))
    assert ids(read(source(agency, sleeps), page_size=4)) == want
    assert sleeps.waits and set(sleeps.waits) == {1.0}


def test_5xx_is_retried_with_doubling_waits(agency: AgencyServer) -> None:
    want = workers(agency, 5)
    agency.set_faults(script=[503, 500, 502])
    sleeps = Sleeps()
    assert ids(read(source(agency, sleeps))) == want
    assert sleeps.waits == [0.5, 1.0, 2.0]


def test_retries_are_bounded_then_transient(agency: AgencyServer) -> None:
    workers(agency, 5)
    agency.set_faults(script=[503] * 3)
    sleeps = Sleeps()
    with pytest.raises(TransientError, match="503"):
        read(source(agency, sleeps, attempts=3))
    assert len(sleeps.waits) == 2


def test_a_failure_mid_read_keeps_the_pages_before_it(agency: AgencyServer) -> None:
    workers(agency, 25)
    src = source(agency, attempts=2)
    pages = src.read_changes("volunteer", None, 0, 7)
    first = next(pages)
    agency.set_faults(script=[503, 503])
    with pytest.raises(TransientError):
        next(pages)
    assert len(first.rows) == 7 and first.cursor is not None


def test_a_server_restart_mid_page_resumes_the_read(agency: AgencyServer) -> None:
    want = workers(agency, 25)
    agency.set_faults(crash_after=1)
    sleeps = Sleeps(hook=agency.start)
    got = ids(read(source(agency, sleeps)))
    assert set(got) == set(want) and len(got) == len(want)
    assert sleeps.waits, "the cut page was retried"


def test_a_refused_cursor_restarts_the_tie_walk(agency: AgencyServer) -> None:
    want = workers(agency, 20, same_time=True)
    src = source(agency)
    real = src._client.get

    def tamper(path: str, params: dict[str, str]) -> httpx.Response:
        if "cursor" in params and not getattr(tamper, "done", False):
            tamper.done = True  # type: ignore[attr-defined]
            params = {**params, "cursor": base64.urlsafe_b64encode(b"{}").decode()}
        return real(path, params=params)

    src._client.get = tamper  # type: ignore[method-assign,assignment]
    assert sorted(ids(read(src))) == want


def test_a_wrong_token_is_a_config_error_without_the_token(agency: AgencyServer) -> None:
    workers(agency, 3)
    with pytest.raises(ConfigError, match="401") as caught:
        read(source(agency, token="wrong-token-value"))
    assert "wrong-token-value" not in str(caught.value)


def test_the_token_appears_in_no_log_line_nor_repr(agency: AgencyServer) -> None:
    workers(agency, 3)
    agency.set_faults(script=[503])
    src = source(agency)
    with capture_logs() as logs:
        read(src)
    assert logs and TOKEN not in json.dumps(logs, default=str) and TOKEN not in repr(src)


def test_a_missing_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="token"):
        open_http_source("http://127.0.0.1:9", None)


def test_read_by_ids_finds_current_rows(agency: AgencyServer) -> None:
    workers(agency, 12)
    agency.update("workers", "W003", fullName="新名")
    rows = source(agency).read_by_ids("volunteer", ["W003", "W010", "nope"])
    assert [(r.local_id, r.data["fullName"]) for r in rows] == [("W003", "新名"),
                                                                ("W010", "x")]


def test_scan_reads_every_row_without_a_cursor(agency: AgencyServer) -> None:
    want = workers(agency, 15)
    pages = list(source(agency).scan("volunteer", 4))
    assert ids(pages) == want and all(p.cursor is None for p in pages)


def test_entities_the_agency_has_not_scan_empty(agency: AgencyServer) -> None:
    workers(agency, 3)
    assert list(source(agency).scan("organization", 50)) == []


def test_service_logs_are_their_own_stream(agency: AgencyServer) -> None:
    agency.put("service-logs", [{"logId": "L1", "workerId": "W1"}])
    src = source(agency)
    assert [s.name for s in src.streams()] == ["volunteer", "service_record"]
    rows = [r for p in src.read_changes("service_record", None, 0, 50) for r in p.rows]
    assert [(r.entity, r.local_id) for r in rows] == [("service_record", "L1")]
