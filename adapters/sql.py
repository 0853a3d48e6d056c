"""The SQL adapter: the 志愿云 tables (local-sources.md §A) read by keyset pagination, from
SQLite, PostgreSQL or MySQL/MariaDB (adapters/sqldialects.py: URLs, drivers, errors).

Read-only by construction: SQLite is opened with the URI `file:…?mode=ro` and
`PRAGMA query_only`; a server session is set read-only. Change reads page on
(gmt_modified, primary key…), never OFFSET, one bounded query per page, so memory stays
flat whatever the table size and rows tied on gmt_modified are neither lost nor repeated
across pages. No transaction spans two queries. A server that goes away mid-read fails
that read with TransientError (the engine keeps the cursor on the last staged page) and
the next read reconnects; every (re)connection checks the tables again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from adapters.base import Cursor, Page, SourceRow, Stream
from adapters.sqldialects import (
    CST,
    STAMP,
    Dialect,
    Server,
    plain,
    stamp_text,
)
from adapters.sqlurl import parse_url
from bridge.errors import ConfigError, TransientError

__all__ = ["SCHEMAS", "SqlSource", "Table", "lookback_start", "open_sql_source", "parse_url"]
SKEW_S = 300  # how far ahead of this machine's clock a source's stamp may be and count
MODIFIED = "gmt_modified"
ID_CHUNK = 500
log = structlog.get_logger("adapters.sql")


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


def open_sql_source(url: str, base_dir: Path, *, mapping: str = "zhiyuanyun") -> SqlSource:
    """Open a 志愿云 database read-only and check that it holds the expected tables.

    Wrong credentials, an unknown host or database and missing tables are ConfigError
    at once. A server that is merely down is not: the source opens, warns, and each read
    fails with TransientError until the server answers."""
    tables = SCHEMAS.get(mapping)
    if tables is None:
        raise ConfigError(f"the sql adapter knows no schema for mapping {mapping!r} "
                          f"(known: {', '.join(sorted(SCHEMAS))})")
    dialect, target = parse_url(url, base_dir)
    source = SqlSource(dialect, target, tables)
    try:
        source.connect()
    except TransientError as exc:
        log.warning("source database unreachable; every read tries again", error=str(exc))
    return source


def _check_tables(conn: Any, dialect: Dialect, tables: Sequence[Table], where: str) -> None:
    problems: list[str] = []
    for t in tables:
        try:
            cur = conn.cursor()
            try:
                cur.execute(f"SELECT * FROM {t.table} LIMIT 0")
                have = {str(d[0]).lower() for d in cur.description}
            finally:
                cur.close()
        except Exception as exc:
            if not dialect.missing_table(exc):
                raise
            problems.append(f"table {t.table} is missing")
            continue
        finally:
            conn.rollback()
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


def lookback_start(since: Cursor, lookback_s: int) -> str | None:
    """`since.modified` minus the look-back window, as 'YYYY-MM-DD HH:MM:SS'; None when
    the stored cursor is not such a time (a file written before cursors were checked)."""
    if lookback_s < 0:
        raise ValueError("lookback_s must not be negative")
    moment = _stamp(since.modified)
    return None if moment is None else (moment - timedelta(seconds=lookback_s)).strftime(STAMP)


_STAMP_TEXT = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})", re.ASCII)


def _stamp(text: str) -> datetime | None:
    """'YYYY-MM-DD HH:MM:SS' as a datetime; None for anything else (what strptime with
    STAMP accepts, without its cost per row)."""
    m = _STAMP_TEXT.fullmatch(text)
    if m is None:
        return None
    try:
        y, mo, d, h, mi, se = (int(g) for g in m.groups())
        return datetime(y, mo, d, h, mi, se)
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
        text = stamp_text(row[MODIFIED])
        if _stamp(text) is None or text > ceiling:
            continue
        position = Cursor(text, tuple(row[k] for k in table.key))
        trusted = position if trusted is None else max(trusted, position)
    return trusted


def _after(keys: Sequence[str], mark: str) -> str:
    """`(k1, k2…) > (?, ?…)` written out (k1 > ? OR k1 = ? AND k2 > ? …): every database
    seeks on it, where row values use an index in some and not in others."""
    terms = []
    for i, key in enumerate(keys):
        terms.append(" AND ".join([*(f"{k} = {mark}" for k in keys[:i]), f"{key} > {mark}"]))
    return "(" + " OR ".join(f"({t})" for t in terms) + ")"


def _after_params(values: Sequence[Any]) -> list[Any]:
    return [v for i in range(len(values)) for v in values[:i + 1]]


class SqlSource:
    """A `SourceAdapter` over the 志愿云 tables. Safe to share between threads: every
    query holds the lock for its connect, execute and fetch, and no transaction spans
    pages. The connection is made on first use and again after it was lost."""

    def __init__(self, dialect: Dialect, target: Path | Server, tables: Sequence[Table]
                 ) -> None:
        self._dialect = dialect
        self._target = target
        self._where = target.where if isinstance(target, Server) else str(target)
        self._secrets = target.secrets if isinstance(target, Server) else []
        self._tables = {t.stream: t for t in tables}
        self._conn: Any = None
        self._warned = False
        self._lock = threading.Lock()
        self._closed = False
        # the source's local time (UTC+08:00), for the cursor's ceiling; settable in tests
        self._clock: Callable[[], datetime] = lambda: datetime.now(CST).replace(tzinfo=None)

    @property
    def connection(self) -> Any:
        """The underlying read-only DB-API connection (for checks and diagnostics)."""
        with self._lock:
            return self._ensure()

    @property
    def where(self) -> str:
        """The database as error messages name it (never with credentials)."""
        return self._where

    def connect(self) -> None:
        """Connect now (and check the tables) rather than on the first read."""
        with self._lock:
            self._ensure()

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
            rows = self._query(*self._changes_sql(table, start, bound, page_size), raw=True)
            if not rows:
                return
            last = rows[-1]
            bound = (last[MODIFIED], *(last[k] for k in table.key))  # as the server has it
            rows = self._plain(rows)
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
                self._drop()

    # internals -----------------------------------------------------------------------
    def _ensure(self) -> Any:
        """The live connection, made (and its tables checked) when there is none."""
        if self._closed:
            raise ValueError("the source is closed")
        if self._conn is None:
            conn = self._dialect.connect(self._target)
            try:
                _check_tables(conn, self._dialect, list(self._tables.values()), self._where)
                if not self._warned:
                    _warn_unindexed(conn, self._dialect, list(self._tables.values()))
                    self._warned = True
            except self._dialect.errors as exc:
                _close_quietly(conn)
                raise self._dialect.translate(exc, self._where, self._secrets) from exc
            except BaseException:
                _close_quietly(conn)
                raise
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _close_quietly(conn)

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
        tie = f"{MODIFIED} = {mark} AND {_after(table.key, mark)}"
        sql = (f"SELECT * FROM (SELECT * FROM {src} WHERE {tie} ORDER BY {order} LIMIT {mark})"
               f" AS tie UNION ALL SELECT * FROM (SELECT * FROM {src} WHERE {MODIFIED} > {mark}"
               f" ORDER BY {order} LIMIT {mark}) AS later ORDER BY {order} LIMIT {mark}")
        return sql, [bound[0], *_after_params(bound[1:]), limit, bound[0], limit, limit]

    def _query(self, sql: str, params: Sequence[Any], *, raw: bool = False
               ) -> list[dict[str, Any]]:
        """One statement in its own transaction; a driver error drops the connection (the
        next query reconnects) and comes out translated."""
        with self._lock:
            conn = self._ensure()
            try:
                cur = conn.cursor()
                try:
                    cur.execute(sql, tuple(params))
                    names = [d[0] for d in cur.description]
                    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
                finally:
                    cur.close()
                conn.rollback()
            except self._dialect.errors as exc:
                self._drop()
                raise self._dialect.translate(exc, self._where, self._secrets) from exc
        return rows if raw else self._plain(rows)

    def _plain(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self._dialect.converts:
            return rows
        return [{k: plain(v) for k, v in row.items()} for row in rows]

    def _source_rows(self, table: Table, rows: list[dict[str, Any]]) -> list[SourceRow]:
        if table.table == MEMBERSHIP_TABLE:
            return self._members_to_volunteers(rows)
        if table.entity == "volunteer":
            self._attach_memberships(rows)
        (key,) = table.key
        return [SourceRow(table.entity, str(r[key]), stamp_text(r[MODIFIED]), r) for r in rows]

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


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # the connection is being thrown away: nothing more to do
        return


def _check_page_size(page_size: int) -> None:
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
