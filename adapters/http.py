"""The HTTP adapter: a social-work agency's system (local-sources.md §B), paged JSON over
httpx with a bearer token.

Streams `volunteer` (GET /api/v2/workers) and `service_record` (GET /api/v2/service-logs).
A stored cursor is (updatedAt, ()) in UTC; a read asks for rows updated after the
cursor minus the look-back window.

The agency's `cursor` is opaque and its pages shift while a sync reads them (a row updated
between two pages moves to the end; with an offset cursor the row behind it is skipped).
So every page is asked for afresh by time, `updatedAfter` = just before the last instant
already in hand: one response is a consistent prefix of the ordered rows, so everything
before its last instant is seen, and the page's cursor goes no further than that instant
(rows tied on it are read again next time). The opaque cursor is followed only through a
tie: more rows on one instant than a page holds. Rows are deduplicated within a read by
(id, updatedAt); a row changed during the read comes again with its new updatedAt.

429 (with Retry-After), 5xx, timeouts and broken connections (a server restarting mid-page)
are retried with tenacity, bounded, with an injectable sleep; then the read fails with
TransientError (nothing of the failed page is staged; the cursor stays on the last staged
page). 401/403 are ConfigError (the token is wrong). The token is never logged.

It is another organization's server (§B): each request has an overall deadline
(`timeout_s`, however slowly the bytes arrive: the body is streamed, the deadline checked
between chunks, and a watchdog shuts the socket when it passes while a read waits) and a
size cap (`max_page_mb`, counted on the decoded bytes as they stream: a larger body is
never read whole). A request past either, or a body nested too deep for the parser, fails
the read at once with TransientError, not retried: the engine counts it against this
source and goes on with the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from adapters.base import Cursor, Page, SourceRow, Stream
from adapters.httpbody import MB, Budget, NotJson, parse_json, read_body
from bridge.errors import ConfigError, TransientError

log = structlog.get_logger("adapters.http")
MAX_LIMIT = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)
SKEW = timedelta(seconds=300)  # how far ahead of this machine's clock a stamp may be
MAX_TIE_PAGES = 10_000
TIE_WALKS = 4
Batch = tuple[list[SourceRow], datetime]


@dataclass(frozen=True)
class Endpoint:
    """One stream: its path, the entity its rows feed and the id field."""

    stream: str
    entity: str
    path: str
    key: str


ENDPOINTS: dict[str, tuple[Endpoint, ...]] = {
    "shegong": (Endpoint("volunteer", "volunteer", "/api/v2/workers", "workerId"),
                Endpoint("service_record", "service_record", "/api/v2/service-logs", "logId")),
}


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of one request: `attempts` in all; waits of `base_s` doubling up to
    `cap_s`, or the server's Retry-After (at most `max_retry_after_s`)."""

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 10.0
    max_retry_after_s: float = 60.0

    def wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        return float(min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class _BadCursor(Exception):
    """The server refused its own cursor (it restarted, or the cursor expired)."""


# --- times ----------------------------------------------------------------------------

def instant(value: object) -> datetime | None:
    """An RFC 3339 time as aware UTC; None when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("z", "Z")
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def stamp(moment: datetime) -> str:
    """The cursor's text: UTC, microseconds, `Z` (sorts as time)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lookback_start(since: Cursor | None, lookback_s: int) -> datetime:
    """The first instant a read must cover (the epoch for a first read)."""
    if lookback_s < 0:
        raise ValueError("lookback_s must not be negative")
    if since is None:
        return EPOCH
    moment = instant(since.modified)
    if moment is None:
        raise ConfigError(f"stored cursor {since.modified!r} is not an RFC 3339 time: "
                          "reset this source's cursor")
    return max(EPOCH, moment - timedelta(seconds=lookback_s))


# --- opening --------------------------------------------------------------------------

def open_http_source(url: str, token: SecretStr | str | None, *, mapping: str = "shegong",
                     timeout_s: float = 30.0, max_page_mb: float = 16.0,
                     retry: RetryPolicy | None = None,
                     sleep: Callable[[float], None] = time.sleep,
                     transport: httpx.BaseTransport | None = None) -> HttpSource:
    """An agency source at `url` (scheme and host, e.g. http://127.0.0.1:8760). Opening
    sends nothing; the first read does."""
    endpoints = ENDPOINTS.get(mapping)
    if endpoints is None:
        raise ConfigError(f"the http adapter knows no endpoints for mapping {mapping!r} "
                          f"(known: {', '.join(sorted(ENDPOINTS))})")
    secret = token.get_secret_value() if isinstance(token, SecretStr) else token
    if not secret:
        raise ConfigError("an http source needs token (e.g. token = \"${SHEGONG_TOKEN}\")")
    base = url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError("an http source's url must start with http:// or https://")
    client = httpx.Client(base_url=base, timeout=timeout_s, transport=transport,
                          headers={"Authorization": f"Bearer {secret}",
                                   "Accept": "application/json"})
    return HttpSource(client, endpoints, retry or RetryPolicy(), sleep,
                      Budget(timeout_s, int(max_page_mb * MB)))


class HttpSource:
    """A `SourceAdapter` over the agency API. Entities it does not serve (organization,
    project) read as empty."""

    def __init__(self, client: httpx.Client, endpoints: Sequence[Endpoint],
                 retry: RetryPolicy, sleep: Callable[[float], None],
                 budget: Budget | None = None) -> None:
        self._client = client
        self._endpoints = {e.stream: e for e in endpoints}
        self._retry = retry
        self._sleep = sleep
        self._budget = budget or Budget()

    def __repr__(self) -> str:   # never show the token
        return f"HttpSource({self._client.base_url!s})"

    def streams(self) -> Sequence[Stream]:
        return [Stream(e.stream, e.entity) for e in self._endpoints.values()]

    def read_changes(self, stream: str, since: Cursor | None, lookback_s: int,
                     page_size: int) -> Iterator[Page]:
        endpoint = self._endpoints.get(stream)
        if endpoint is None:
            raise ValueError(f"unknown stream {stream!r} (known: {', '.join(self._endpoints)})")
        limit = _limit(page_size)
        start = lookback_start(since, lookback_s)
        floor = since
        ceiling = datetime.now(UTC) + SKEW
        for rows, moment in self._read(endpoint, start, limit):
            # a row stamped in the future (a typo's 2099) must not carry the cursor past
            # every later change: such a page is read again next cycle (no request: its
            # rows are unchanged)
            cursor = Cursor(stamp(moment), ()) if moment <= ceiling else floor
            if cursor is None:
                yield Page(rows, None)
                continue
            cursor = cursor if floor is None else max(floor, cursor)
            if rows or cursor != floor:
                yield Page(rows, cursor)
            floor = cursor

    def read_by_ids(self, entity: str, local_ids: Sequence[str]) -> list[SourceRow]:
        """The agency has no read by id: a full read, filtered (O(rows) per call; the
        engine calls it only for deferred rows whose time has come)."""
        wanted = {str(i) for i in local_ids}
        latest: dict[str, SourceRow] = {}
        for page in self.scan(entity, MAX_LIMIT):
            for row in page.rows:
                if row.local_id in wanted:
                    latest[row.local_id] = row
        return [latest[i] for i in sorted(latest)]

    def scan(self, entity: str, page_size: int) -> Iterator[Page]:
        """Every row of the entity, in updatedAt order (the API has no order by id); a row
        changed during the scan comes again, later, in its new version."""
        limit = _limit(page_size)
        for endpoint in self._endpoints.values():
            if endpoint.entity == entity:
                for rows, _ in self._read(endpoint, EPOCH, limit):
                    if rows:
                        yield Page(rows, None)

    def close(self) -> None:
        self._client.close()

    # the read ---------------------------------------------------------------------------
    def _read(self, endpoint: Endpoint, start: datetime, limit: int) -> Iterator[Batch]:
        """(new rows, the instant before which everything is seen) page by page."""
        seen: set[tuple[str, str]] = set()
        after, safe = start - TICK, start
        tie_exit: datetime | None = None
        while True:
            docs, nxt = self._page(endpoint, after, None, limit)
            rows = self._fresh(endpoint, docs, seen)
            times = [t for t in (instant(d.get("updatedAt")) for d in docs) if t is not None]
            if not times or nxt is None:
                yield rows, max([safe, *times])
                return
            first, last = min(times), max(times)
            if tie_exit is not None and first <= tie_exit:   # the server reads "after" as ≥
                after, tie_exit = tie_exit + TICK, None
                yield rows, safe
                continue
            safe = max(safe, last)
            yield rows, safe
            if last > first:
                after, tie_exit = last - TICK, None
                continue
            if not (yield from self._tie(endpoint, last, after, nxt, limit, seen)):
                log.warning("rows kept changing while a tie was read; the rest waits for the "
                            "next read", path=endpoint.path)
                return
            after = tie_exit = last

    def _tie(self, endpoint: Endpoint, moment: datetime, after: datetime, nxt: str,
             limit: int, seen: set[tuple[str, str]]) -> Generator[Batch, None, bool]:
        """More rows on one instant than a page holds: walk them with the server's cursor
        until a later instant shows, the stored cursor staying on the tie's instant. An
        offset cursor can skip a row of the tie when another one changes meanwhile, so the
        tie is walked again from its start until a walk finds nothing new (at most
        TIE_WALKS times); False when it never settled."""
        cursor: str | None = nxt
        for walk in range(TIE_WALKS):
            found = False
            for _ in range(MAX_TIE_PAGES):
                try:
                    docs, cursor = self._page(endpoint, after, cursor, limit)
                except _BadCursor:
                    log.warning("the agency refused its own cursor; walking the tie again",
                                path=endpoint.path)
                    docs, cursor = self._page(endpoint, after, None, limit)
                rows = self._fresh(endpoint, docs, seen)
                found = found or any(instant(r.data.get("updatedAt")) == moment for r in rows)
                yield rows, moment
                if cursor is None or any((t := instant(d.get("updatedAt"))) is not None
                                         and t > moment for d in docs):
                    break
            else:
                raise TransientError(f"agency source: more than {MAX_TIE_PAGES} pages of "
                                     f"{endpoint.path} share one updatedAt")
            if walk > 0 and not found:
                return True
            cursor = None
        return False

    def _fresh(self, endpoint: Endpoint, docs: list[dict[str, Any]],
               seen: set[tuple[str, str]]) -> list[SourceRow]:
        rows: list[SourceRow] = []
        unreadable = 0
        for doc in docs:
            local, moment = doc.get(endpoint.key), instant(doc.get("updatedAt"))
            if local is None or isinstance(local, bool | dict | list) or moment is None:
                unreadable += 1
                continue
            key = (str(local), stamp(moment))
            if key not in seen:
                seen.add(key)
                rows.append(SourceRow(endpoint.entity, key[0], key[1], doc))
        if unreadable:
            log.warning("agency rows without an id or updatedAt left out", path=endpoint.path,
                        count=unreadable, key=endpoint.key)
        return rows

    # one request ------------------------------------------------------------------------
    def _page(self, endpoint: Endpoint, after: datetime, cursor: str | None,
              limit: int) -> tuple[list[dict[str, Any]], str | None]:
        params = {"updatedAfter": stamp(max(after, EPOCH)), "limit": str(limit)}
        if cursor is not None:
            params["cursor"] = cursor
        retrying = Retrying(stop=stop_after_attempt(self._retry.attempts), wait=self._wait,
                            retry=retry_if_exception_type(_Retryable), sleep=self._sleep,
                            reraise=True)
        try:
            body = retrying(self._get, endpoint.path, params, cursor is not None)
        except _Retryable as exc:
            raise TransientError(f"agency source: {endpoint.path}: {exc} "
                                 f"(after {self._retry.attempts} attempts)",
                                 retry_after=exc.retry_after, status=exc.status) from None
        return _page_of(body, endpoint.path)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = exc.retry_after if isinstance(exc, _Retryable) else None
        seconds = self._retry.wait(state.attempt_number, retry_after)
        log.info("agency request retried", attempt=state.attempt_number, wait_s=seconds,
                 reason=str(exc))
        return seconds

    def _get(self, path: str, params: Mapping[str, str], with_cursor: bool) -> Any:
        deadline = time.monotonic() + self._budget.timeout_s
        try:
            with self._client.stream("GET", path, params=params) as response:
                self._check(response, path, with_cursor)
                data = read_body(response, path, self._budget, deadline)
        except httpx.TransportError as exc:   # connect, timeout, a connection cut mid-page
            if time.monotonic() >= deadline:
                raise self._budget.late(path) from None
            raise _Retryable(type(exc).__name__) from None
        try:
            return parse_json(data, path)
        except NotJson as exc:
            raise _Retryable(str(exc)) from None

    def _check(self, response: httpx.Response, path: str, with_cursor: bool) -> None:
        status = response.status_code
        if status in (401, 403):
            raise ConfigError(f"agency source: HTTP {status} on {path}: the token is wrong "
                              "or lacks access")
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", _retry_after(response), status)
        if status == 400 and with_cursor:
            raise _BadCursor
        if status == 404:
            raise ConfigError(f"agency source: HTTP 404 on {path}: is url the agency API's "
                              "root?")
        if status != 200:
            raise TransientError(f"agency source: HTTP {status} on {path}", status=status)

def _page_of(body: Any, path: str) -> tuple[list[dict[str, Any]], str | None]:
    data = body.get("data") if isinstance(body, dict) else None
    nxt = body.get("nextCursor") if isinstance(body, dict) else None
    if not isinstance(data, list) or not (nxt is None or isinstance(nxt, str)):
        raise TransientError(f"agency source: {path} answered something that is not a page")
    return [d for d in data if isinstance(d, dict)], nxt or None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _limit(page_size: int) -> int:
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    return min(page_size, MAX_LIMIT)
