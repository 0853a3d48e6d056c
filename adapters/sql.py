"""The SQL adapter: the 志愿云 tables (local-sources.md §A) read by keyset pagination.

Read-only by construction: SQLite is opened with the URI `file:…?mode=ro` and
`PRAGMA query_only`. Change reads page on (gmt_modified, primary key…), never OFFSET, one
bounded query per page, so memory stays flat whatever the table size
and rows tied on gmt_modified are neither lost nor repeated across pages. A small dialect
layer (placeholders, connect-by-URL) keeps the door open for PostgreSQL and MySQL; only
SQLite is wired in this version.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import structlog

from adapters.base import Cursor, Page, SourceRow, Stream
from bridge.errors import ConfigError

STAMP = "%Y-%m-%d %H:%M:%S"
CST = timezone(timedelta(hours=8))
SKEW_S = 300  # how far ahead of this machine's clock a source's stamp may be and count
MODIFIED = "gmt_modified"
ID_CHUNK = 500
log = structlog.get_logger("adapters.sql")
URL_FORMS = "sqlite:///relative/path.db or sqlite:////absolute/path.db"


@dataclass(frozen=True)
class Table:
    """One change stream: a table, its primary key and the entity its rows feed."""

    stream: str
    entity: str
    table: str
    key: tuple[str, ...]


SCHEMAS: dict[str, tuple[Table, ...]] = {
    "zhiyuanyun": (
        Table("organization", "organization", "zyy_team", ("team_id",)),
        Table("volunteer", "volunteer", "zyy_volunteer", ("vol_id",)),
        Table("membership", "volunteer", "zyy_team_member", ("team_id", "vol_id")),
        Table("project", "project", "zyy_activity", ("act_id",)),
        Table("service_record", "service_record", "zyy_service_time", ("rec_id",)),
    ),
}
MEMBERSHIP_TABLE = "zyy_team_member"
MEMBERSHIP_FIELDS = ("team_id", "state", "join_time")


@dataclass(frozen=True)
class Dialect:
    """What differs between databases for the few queries this adapter runs."""

    name: str
    placeholder: str
    connect: Callable[[Path], Any]
    leads_an_index: Callable[[Any, str, str], bool]

    def marks(self, n: int) -> str:
        return ", ".join([self.placeholder] * n)


def _connect_sqlite(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ConfigError(f"source database {path} does not exist or is not a file")
    uri = f"file:{quote(path.as_posix(), safe='/')}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise ConfigError(f"source database {path} cannot be opened read-only: {exc}") from exc
    return conn


def _sqlite_leads_an_index(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether some index of `table` starts with `column` (so a keyset page is a seek)."""
    for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
        quoted = '"' + str(index[1]).replace('"', '""') + '"'
        first = conn.execute(f"PRAGMA index_info({quoted})").fetchone()
        if first is not None and first[2] == column:
            return True
    return False


DIALECTS: dict[str, Dialect] = {
    "sqlite": Dialect("sqlite", "?", _connect_sqlite, _sqlite_leads_an_index)}
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)", re.DOTALL)


def parse_url(url: str, base_dir: Path) -> tuple[Dialect, Path]:
    """The dialect and the database file of a source URL. Error messages name only the
    scheme, never the URL (a server URL may carry a password)."""
    match = _URL.fullmatch(url.strip())
    if match is None:
        raise ConfigError(f"source database URL is malformed: write {URL_FORMS}")
    scheme, rest = match["scheme"].lower(), match["rest"]
    dialect = DIALECTS.get(scheme)
    if dialect is None:
        raise ConfigError(f"source database URL scheme {scheme!r} is not supported by this "
                          f"version of zhiyuan-bridge (only 'sqlite'): write {URL_FORMS}")
    if not rest.startswith("/"):
        raise ConfigError(f"a sqlite URL names no host: write {URL_FORMS}")
    if "?" in rest or "#" in rest:
        raise ConfigError(f"a sqlite URL takes no query or fragment: write {URL_FORMS}")
    raw = unquote(rest[1:])
    if not raw or raw.endswith("/"):
        raise ConfigError(f"the sqlite URL names no database file: write {URL_FORMS}")
    path = Path(raw)
    return dialect, path if path.is_absolute() else Path(base_dir) / path


def open_sql_source(url: str, base_dir: Path, *, mapping: str = "zhiyuanyun") -> SqlSource:
    """Open a 志愿云 database read-only and check that it holds the expected tables."""
    tables = SCHEMAS.get(mapping)
    if tables is None:
        raise ConfigError(f"the sql adapter knows no schema for mapping {mapping!r} "
                          f"(known: {', '.join(sorted(SCHEMAS))})")
    dialect, path = parse_url(url, base_dir)
    conn = dialect.connect(path)
    try:
        _check_tables(conn, tables, str(path))
        _warn_unindexed(conn, dialect, tables)
    except BaseException:
        conn.close()
        raise
    return SqlSource(conn, dialect, tables)


def _check_tables(conn: Any, tables: Sequence[Table], where: str) -> None:
    problems: list[str] = []
    for t in tables:
        try:
            cur = conn.execute(f"SELECT * FROM {t.table} LIMIT 0")
        except sqlite3.DatabaseError as exc:
            if "no such table" not in str(exc):
                raise ConfigError(f"source database {where} cannot be read: {exc}") from exc
            problems.append(f"table {t.table} is missing")
            continue
        have = {d[0] for d in cur.description}
        need = [*t.key, MODIFIED] + (["state", "join_time"] if t.table == MEMBERSHIP_TABLE
                                     else [])
        problems += [f"{t.table}.{c} is missing" for c in need if c not in have]
    if problems:
        raise ConfigError(f"source database {where} is not a 志愿云 database: "
                          + "; ".join(problems))


def _warn_unindexed(conn: Any, dialect: Dialect, tables: Sequence[Table]) -> None:
    """Reads work without indexes, but every page then scans its table: say so once."""
    needs = [(t.table, MODIFIED, ", ".join((MODIFIED, *t.key))) for t in tables]
    needs.append((MEMBERSHIP_TABLE, "vol_id", "vol_id"))
    for table, column, advice in needs:
        if not dialect.leads_an_index(conn, table, column):
            log.warning("source table has no index starting with the column it is read by: "
                        "every page scans the table", table=table, column=column,
                        create_index_on=f"({advice})")


def _text(value: Any) -> str:
    return value.strftime(STAMP) if isinstance(value, datetime) else str(value)


def lookback_start(since: Cursor, lookback_s: int) -> str | None:
    """`since.modified` minus the look-back window, as 'YYYY-MM-DD HH:MM:SS'; None when
    the stored cursor is not such a time (a file written before cursors were checked)."""
    if lookback_s < 0:
        raise ValueError("lookback_s must not be negative")
    moment = _stamp(since.modified)
    return None if moment is None else (moment - timedelta(seconds=lookback_s)).strftime(STAMP)


def _stamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, STAMP)
    except ValueError:
        return None


def _trusted(table: Table, rows: Sequence[dict[str, Any]], trusted: Cursor | None,
             now: datetime) -> Cursor | None:
    """The cursor to store after these rows: the last row whose gmt_modified is a real
    time not ahead of now (+300 s of skew). A row stamped in the future (a typo's 2099)
    or with garbage would otherwise carry the cursor past every later change; such rows
    sort last and are simply read again each cycle (their hash unchanged: no request)."""
    ceiling = (now + timedelta(seconds=SKEW_S)).strftime(STAMP)
    for row in rows:
        text = _text(row[MODIFIED])
        if _stamp(text) is None or text > ceiling:
            continue
        position = Cursor(text, tuple(row[k] for k in table.key))
        trusted = position if trusted is None else max(trusted, position)
    return trusted


class SqlSource:
    """A `SourceAdapter` over the 志愿云 tables. Safe to share between threads: every
    query holds the lock for its execute and fetch, and no transaction spans pages."""

    def __init__(self, conn: Any, dialect: Dialect, tables: Sequence[Table]) -> None:
        self._conn = conn
        self._dialect = dialect
        self._tables = {t.stream: t for t in tables}
        self._lock = threading.Lock()
        self._closed = False
        # the source's local time (UTC+08:00), for the cursor's ceiling; settable in tests
        self._clock: Callable[[], datetime] = lambda: datetime.now(CST).replace(tzinfo=None)

    @property
    def connection(self) -> Any:
        """The underlying read-only DB-API connection (for checks and diagnostics)."""
        return self._conn

    def streams(self) -> Sequence[Stream]:
        return [Stream(t.stream, t.entity) for t in self._tables.values()]

    def read_changes(self, stream: str, since: Cursor | None, lookback_s: int,
                     page_size: int) -> Iterator[Page]:
        table = self._table(stream)
        _check_page_size(page_size)
        start = lookback_start(since, lookback_s) if since is not None else None
        if since is not None and start is None:
            log.warning("stored cursor is not a time: reading the stream again from the start",
                        stream=stream)
            since = None
        trusted = since
        bound: tuple[Any, ...] | None = None
        while True:
            rows = self._query(*self._changes_sql(table, start, bound, page_size))
            if not rows:
                return
            last = rows[-1]
            bound = (last[MODIFIED], *(last[k] for k in table.key))
            trusted = _trusted(table, rows, trusted, self._clock())
            yield Page(self._source_rows(table, rows), trusted)
            if len(rows) < page_size:
                return

    def read_by_ids(self, entity: str, local_ids: Sequence[str]) -> list[SourceRow]:
        table = self._entity_table(entity)
        (key,) = table.key
        wanted = sorted({int(i) for i in local_ids if str(i).isascii() and str(i).isdecimal()})
        rows: list[dict[str, Any]] = []
        for lo in range(0, len(wanted), ID_CHUNK):
            chunk = wanted[lo:lo + ID_CHUNK]
            rows += self._query(f"SELECT * FROM {table.table} WHERE {key} IN "
                                f"({self._dialect.marks(len(chunk))}) ORDER BY {key}", chunk)
        return self._source_rows(table, rows)

    def scan(self, entity: str, page_size: int) -> Iterator[Page]:
        table = self._entity_table(entity)
        _check_page_size(page_size)
        (key,) = table.key
        after: Any = None
        while True:
            where = "" if after is None else f"WHERE {key} > {self._dialect.placeholder} "
            params = ([] if after is None else [after]) + [page_size]
            rows = self._query(f"SELECT * FROM {table.table} {where}ORDER BY {key} LIMIT "
                               f"{self._dialect.placeholder}", params)
            if not rows:
                return
            after = rows[-1][key]
            yield Page(self._source_rows(table, rows), None)
            if len(rows) < page_size:
                return

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    # internals -----------------------------------------------------------------------
    def _table(self, stream: str) -> Table:
        table = self._tables.get(stream)
        if table is None:
            raise ValueError(f"unknown stream {stream!r} (known: {', '.join(self._tables)})")
        return table

    def _entity_table(self, entity: str) -> Table:
        table = self._tables.get(entity)
        if table is None or table.entity != entity:
            raise ValueError(f"unknown entity {entity!r}")
        return table

    def _changes_sql(self, table: Table, start: str | None, bound: tuple[Any, ...] | None,
                     limit: int) -> tuple[str, list[Any]]:
        """`(gmt_modified, key…) > bound` is written as its two halves (the rest of the
        tie on gmt_modified, then what follows it), each an index range: SQLite does not
        seek on a row value whose last column is the rowid, and rescanning a large tie
        on every page would make a read quadratic."""
        order = ", ".join((MODIFIED, *table.key))
        mark, src = self._dialect.placeholder, table.table
        if bound is None:
            where, params = ("", []) if start is None else (f"WHERE {MODIFIED} >= {mark} ",
                                                            [start])
            return f"SELECT * FROM {src} {where}ORDER BY {order} LIMIT {mark}", [*params, limit]
        keys = ", ".join(table.key)
        tie = f"{MODIFIED} = {mark} AND ({keys}) > ({self._dialect.marks(len(table.key))})"
        sql = (f"SELECT * FROM (SELECT * FROM {src} WHERE {tie} ORDER BY {order} LIMIT {mark})"
               f" AS tie UNION ALL SELECT * FROM (SELECT * FROM {src} WHERE {MODIFIED} > {mark}"
               f" ORDER BY {order} LIMIT {mark}) AS later ORDER BY {order} LIMIT {mark}")
        return sql, [*bound, limit, bound[0], limit, limit]

    def _query(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self._lock:
            if self._closed:
                raise ValueError("the source is closed")
            cur = self._conn.execute(sql, tuple(params))
            try:
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            finally:
                cur.close()

    def _source_rows(self, table: Table, rows: list[dict[str, Any]]) -> list[SourceRow]:
        if table.table == MEMBERSHIP_TABLE:
            return self._members_to_volunteers(rows)
        if table.entity == "volunteer":
            self._attach_memberships(rows)
        (key,) = table.key
        return [SourceRow(table.entity, str(r[key]), _text(r[MODIFIED]), r) for r in rows]

    def _members_to_volunteers(self, members: list[dict[str, Any]]) -> list[SourceRow]:
        """A page of changed memberships yields each volunteer's current row once."""
        order = list(dict.fromkeys(m["vol_id"] for m in members))
        found = {row.local_id: row for row in
                 self.read_by_ids("volunteer", [str(v) for v in order])}
        return [found[str(v)] for v in order if str(v) in found]

    def _attach_memberships(self, rows: list[dict[str, Any]]) -> None:
        by_vol: dict[Any, list[dict[str, Any]]] = {r["vol_id"]: [] for r in rows}
        ids = list(by_vol)
        cols = ", ".join(("vol_id", *MEMBERSHIP_FIELDS))
        for lo in range(0, len(ids), ID_CHUNK):
            chunk = ids[lo:lo + ID_CHUNK]
            for m in self._query(f"SELECT {cols} FROM {MEMBERSHIP_TABLE} WHERE vol_id IN "
                                 f"({self._dialect.marks(len(chunk))}) ORDER BY vol_id, "
                                 "team_id", chunk):
                by_vol[m.pop("vol_id")].append(m)
        for r in rows:
            r["memberships"] = by_vol[r["vol_id"]]


def _check_page_size(page_size: int) -> None:
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
