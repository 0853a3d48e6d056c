"""A fake social-work agency system (local-sources.md §B): a real HTTP server on
127.0.0.1 for the tests and the demo, and `AgencyServer`, which runs it as a child process.

    with AgencyServer(token="t0ken") as agency:
        agency.put("workers", [{"workerId": "W1", "fullName": "林志贵", ...}])
        source = open_http_source(agency.url, "t0ken")

It serves `GET /api/v2/workers` and `GET /api/v2/service-logs` (`updatedAfter`, strictly
after; an opaque `cursor`; `limit` 1-200) as `{"data": [...], "nextCursor": ...}` behind a
bearer token, ordered by (updatedAt, id). Like the systems it imitates, its cursor is an
*offset* (base64 JSON), so pages shift when rows change during a read. Rows live in a
SQLite file that the harness writes directly, so a test changes rows while a read runs.
Faults (POST /_agency/faults): `script` (statuses to answer next, e.g. [429, 503]),
`min_interval_s` (429 with Retry-After when polled faster), `shift` (after each page that
has a next one, the page's first row is updated: it moves to the end), `crash_after` (after
that many more pages, the next page is cut off mid-body and the process exits), `hostile`
(every page is, instead: `{"drip_s": 5}` a body that sends one byte every 5 s and never
ends, `{"nested": 100000}` JSON nested that deep, `{"huge_mb": 400}` a body that large).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bridge.testing.process import ChildServer, free_port

KINDS = {"workers": "workerId", "service-logs": "logId"}
TOKEN_ENV = "AGENCY_TOKEN"
ROOT = Path(__file__).resolve().parents[1]
SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (kind TEXT NOT NULL, id TEXT NOT NULL, updated TEXT NOT NULL,
                                 doc TEXT NOT NULL, PRIMARY KEY (kind, id));
CREATE INDEX IF NOT EXISTS rows_order ON rows (kind, updated, id);
"""


# --- time -----------------------------------------------------------------------------

def instant(text: str) -> datetime:
    """An RFC 3339 time (`Z` or an offset) as an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment.astimezone(UTC)


def column(moment: datetime) -> str:
    """The sortable text of the `updated` column: UTC, microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wire(moment: datetime) -> str:
    """How the agency writes a time: UTC, milliseconds, `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# --- the data -------------------------------------------------------------------------

def connect(path: Path) -> sqlite3.Connection:
    if str(path) != ":memory:":
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # -wal/-shm take its mode
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn


def store(conn: sqlite3.Connection, kind: str, docs: Iterable[Mapping[str, Any]]) -> None:
    """Insert or replace rows; a doc without `updatedAt` is stamped now."""
    key = KINDS[kind]
    rows = []
    for doc in docs:
        moment = instant(doc["updatedAt"]) if doc.get("updatedAt") else now_ms()
        full = {**doc, "updatedAt": wire(moment)}
        rows.append((kind, str(doc[key]), column(moment), json.dumps(full, ensure_ascii=False)))
    with conn:
        conn.executemany("INSERT OR REPLACE INTO rows (kind, id, updated, doc) VALUES "
                         "(?, ?, ?, ?)", rows)


def touch(conn: sqlite3.Connection, kind: str, row_id: str, **fields: Any) -> dict[str, Any]:
    """Change fields of one row and stamp it now (it moves to the end of the order)."""
    found = conn.execute("SELECT doc FROM rows WHERE kind = ? AND id = ?",
                         (kind, row_id)).fetchone()
    if found is None:
        raise KeyError(row_id)
    doc = {**json.loads(found[0]), **fields}
    doc.pop("updatedAt", None)
    store(conn, kind, [doc])
    return doc


# --- the server -----------------------------------------------------------------------

class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.script: list[int] = []
        self.min_interval_s = 0.0
        self.shift = False
        self.crash_after: int | None = None
        self.hostile: dict[str, float] = {}
        self.last_poll = 0.0
        self.stats: dict[str, int] = {"requests": 0, "pages": 0, "rate_limited": 0,
                                      "unauthorized": 0, "scripted": 0}

    def update(self, body: Mapping[str, Any]) -> None:
        with self.lock:
            if "script" in body:
                self.script = [int(s) for s in body["script"]]
            if "min_interval_s" in body:
                self.min_interval_s = float(body["min_interval_s"])
            if "shift" in body:
                self.shift = bool(body["shift"])
            if "hostile" in body:
                self.hostile = {str(k): float(v) for k, v in (body["hostile"] or {}).items()}
            if "crash_after" in body:
                self.crash_after = None if body["crash_after"] is None else int(
                    body["crash_after"])

    def gate(self) -> tuple[int, float] | None:
        """A status to answer instead of the page, with its Retry-After (or 0)."""
        with self.lock:
            self.stats["requests"] += 1
            if self.script:
                self.stats["scripted"] += 1
                status = self.script.pop(0)
                return status, (1.0 if status == 429 else 0.0)
            now = time.monotonic()
            wait = self.min_interval_s - (now - self.last_poll)
            if wait > 0:
                self.stats["rate_limited"] += 1
                return 429, wait
            self.last_poll = now
            return None

    def crash_now(self) -> bool:
        with self.lock:
            if self.crash_after is None:
                return False
            if self.crash_after <= 0:
                return True
            self.crash_after -= 1
            return False


def _error(status: int, message: str, retry_after: float = 0.0) -> Response:
    headers = {"Retry-After": str(max(1, int(retry_after + 0.999)))} if status == 429 else {}
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _query(conn: sqlite3.Connection, kind: str, params: Mapping[str, str]
           ) -> tuple[list[str], list[str], str | None]:
    """(docs, ids, nextCursor) of one page; ValueError for a bad parameter."""
    limit = int(params.get("limit", "50"))
    if not 1 <= limit <= 200:
        raise ValueError("limit must be 1-200")
    after = column(instant(params["updatedAfter"])) if params.get("updatedAfter") else ""
    offset = 0
    if params.get("cursor"):
        try:
            state = json.loads(base64.urlsafe_b64decode(params["cursor"].encode()))
            after, offset = str(state["a"]), int(state["o"])
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise ValueError("bad cursor") from exc
    found = conn.execute("SELECT doc, id FROM rows WHERE kind = ? AND updated > ? "
                         "ORDER BY updated, id LIMIT ? OFFSET ?",
                         (kind, after, limit + 1, offset)).fetchall()
    more = len(found) > limit
    found = found[:limit]
    nxt = None
    if more:
        nxt = base64.urlsafe_b64encode(json.dumps({"a": after, "o": offset + limit}).encode()
                                       ).decode()
    return [d for d, _ in found], [i for _, i in found], nxt


def build_app(db: Path, token: str) -> Starlette:
    faults = Faults()

    def page(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in KINDS:
            return _error(404, "no such collection")
        if request.headers.get("authorization") != f"Bearer {token}":
            faults.stats["unauthorized"] += 1
            return _error(401, "unauthorized")
        if faults.hostile:
            return _hostile(faults.hostile)
        gated = faults.gate()
        if gated is not None:
            return _error(gated[0], "scripted failure" if gated[1] == 0 else "too fast",
                          gated[1])
        conn = connect(db)
        try:
            docs, ids, nxt = _query(conn, kind, request.query_params)
            if faults.shift and nxt is not None and ids:
                touch(conn, kind, ids[0])
        except ValueError as exc:
            return _error(400, str(exc))
        finally:
            conn.close()
        faults.stats["pages"] += 1
        body = ('{"data": [' + ", ".join(docs) + '], "nextCursor": '
                + json.dumps(nxt) + "}").encode()
        if faults.crash_now():
            return StreamingResponse(_cut(body), media_type="application/json")
        return Response(body, media_type="application/json")

    async def set_faults(request: Request) -> Response:
        faults.update(await request.json())
        return JSONResponse({"ok": True})

    def stats(request: Request) -> Response:
        return JSONResponse(dict(faults.stats))

    def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/api/v2/{kind}", page),
                             Route("/_agency/faults", set_faults, methods=["POST"]),
                             Route("/_agency/stats", stats),
                             Route("/_agency/health", health)])


def _hostile(mode: Mapping[str, float]) -> Response:
    """A page that breaks the agency's limits (local-sources.md §B)."""
    if "nested" in mode:
        depth = int(mode["nested"])
        return Response(b"[" * depth + b"]" * depth, media_type="application/json")
    if "huge_mb" in mode:
        return StreamingResponse(_huge(int(mode["huge_mb"])), media_type="application/json")
    return StreamingResponse(_drip(mode.get("drip_s", 5.0)), media_type="application/json")


async def _huge(mb: int) -> AsyncIterator[bytes]:
    yield b'{"data": ["'
    block = b"x" * (1 << 20)
    for _ in range(mb):
        yield block
    yield b'"], "nextCursor": null}'


async def _drip(every_s: float) -> AsyncIterator[bytes]:
    yield b"{"
    while True:
        await asyncio.sleep(every_s)
        yield b" "


async def _cut(body: bytes) -> AsyncIterator[bytes]:
    """Half the page, then the process dies (a crash mid-page)."""
    yield body[: len(body) // 2]
    await asyncio.sleep(0.1)
    os._exit(3)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="a fake social-work agency server")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        parser.error(f"set {TOKEN_ENV}")
    connect(args.db).close()
    uvicorn.run(build_app(args.db, token), host=args.host, port=args.port,
                log_level="warning", access_log=False)


# --- the child process ---------------------------------------------------------------

class AgencyServer(ChildServer):
    """The fake agency as a child process on 127.0.0.1 (like SandboxProcess)."""

    what = "the agency server"

    def __init__(self, db_path: Path | str | None = None, *, token: str = "agency-token",
                 host: str = "127.0.0.1", port: int | None = None,
                 startup_timeout_s: float = 20.0) -> None:
        # the port is known before the start: a source's url names it
        super().__init__(host=host, port=port or free_port(host),
                         startup_timeout_s=startup_timeout_s,
                         tmp_prefix=None if db_path is not None else "zy-agency-")
        # absolute: the server process runs in another folder
        self.db_path = (Path(db_path) if db_path is not None
                        else Path(self._tmp or ".") / "a.db").resolve()
        self.token = token
        connect(self.db_path).close()

    @property
    def url(self) -> str:
        return self.root_url

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bridge.testing.agency", "--db", str(self.db_path),
                "--host", self.host, "--port", str(self.port)]

    def health_url(self) -> str:
        return self.url + "/_agency/health"

    def child_env(self) -> dict[str, str]:
        return {TOKEN_ENV: self.token}

    def child_cwd(self) -> Path:
        return ROOT

    # rows and faults -------------------------------------------------------------------
    def put(self, kind: str, docs: Iterable[Mapping[str, Any]]) -> None:
        """Insert or replace rows (`workers` or `service-logs`); no `updatedAt`: now."""
        conn = connect(self.db_path)
        try:
            store(conn, kind, docs)
        finally:
            conn.close()

    def update(self, kind: str, row_id: str, **fields: Any) -> dict[str, Any]:
        """Change one row's fields; its updatedAt becomes now."""
        conn = connect(self.db_path)
        try:
            return touch(conn, kind, row_id, **fields)
        finally:
            conn.close()

    def clear(self) -> None:
        """Remove every row and every fault."""
        conn = connect(self.db_path)
        try:
            conn.execute("DELETE FROM rows")
        finally:
            conn.close()
        if self.running:
            self.set_faults(script=[], min_interval_s=0, shift=False, crash_after=None)

    def docs(self, kind: str) -> list[dict[str, Any]]:
        conn = connect(self.db_path)
        try:
            return [json.loads(d) for (d,) in conn.execute(
                "SELECT doc FROM rows WHERE kind = ? ORDER BY updated, id", (kind,))]
        finally:
            conn.close()

    def set_faults(self, **settings: Any) -> None:
        self._http.post(self.url + "/_agency/faults", json=settings).raise_for_status()

    def stats(self) -> dict[str, int]:
        return dict(self._http.get(self.url + "/_agency/stats").json())


if __name__ == "__main__":
    main()
