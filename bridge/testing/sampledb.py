"""The sample 志愿云 store on a database server: the §A tables created in PostgreSQL or
MySQL/MariaDB and filled with the rows of a SQLite store (bridge/testing/sample.py), for the
tests, the demo of a production set-up and the benchmarks; and the helpers that change
rows there the way 志愿云's users would (the server twins of bridge/testing/sample.py's).

`typed=False` keeps the spec's DDL (TEXT gmt_modified; in MySQL a VARCHAR(64), since a
TEXT column cannot lead an index there); `typed=True` makes gmt_modified a TIMESTAMP
(PostgreSQL) or DATETIME (MySQL) and every INTEGER a BIGINT, as production schemas do.
Either way the indexes of bridge/testing/sample.py INDEXES are created, (gmt_modified, key…) first.

These connections write: they are not the adapter's (adapters/sql.py reads read-only).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pymysql

from adapters.sqldialects import Server, mysql_kwargs, pg_kwargs
from adapters.sqlurl import parse_url
from bridge.errors import ConfigError
from bridge.testing.sample import COLUMNS, INDEXES, SCHEMA, SOFT, TABLES, local_stamp

CHUNK = 2000


def _server(url: str) -> Server:
    _, target = parse_url(url, Path("."))
    if not isinstance(target, Server):
        raise ConfigError("sampledb works on a PostgreSQL or MySQL/MariaDB URL, not sqlite")
    return target


@contextmanager
def connect(url: str, *, autocommit: bool = False) -> Iterator[Any]:
    """A read-write driver connection to the server of `url`, committed on success
    (`autocommit` for statements that run outside a transaction, e.g. CREATE DATABASE)."""
    server = _server(url)
    conn: Any
    if server.dialect == "postgresql":
        conn = psycopg.connect(**pg_kwargs(server), autocommit=autocommit)
        conn.execute("SET lock_timeout = '10s'")
    else:
        conn = pymysql.connect(**{**mysql_kwargs(server), "read_timeout": None,
                                  "autocommit": autocommit,
                                  "client_flag": pymysql.constants.CLIENT.FOUND_ROWS})
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def schema_sql(dialect: str, *, typed: bool) -> list[str]:
    """The §A CREATE TABLE statements and their indexes for one server dialect (MySQL:
    inside CREATE TABLE, where each CREATE INDEX would rebuild the table)."""
    ddl = SCHEMA
    if typed:
        stamp = "TIMESTAMP" if dialect == "postgresql" else "DATETIME"
        ddl = ddl.replace("gmt_modified TEXT", f"gmt_modified {stamp}")
        ddl = re.sub(r"\bINTEGER\b", "BIGINT", ddl)
    elif dialect == "mysql":
        ddl = ddl.replace("gmt_modified TEXT", "gmt_modified VARCHAR(64)")
    tables = [s.strip() for s in ddl.split(";") if s.strip()]
    indexes = re.findall(r"CREATE INDEX (\w+) ON (\w+) (\([^)]*\))", INDEXES)
    if dialect != "mysql":
        return tables + [f"CREATE INDEX {name} ON {table} {cols}"
                         for name, table, cols in indexes]
    out = []
    for statement in tables:
        table = statement.split()[2]
        keys = "".join(f", INDEX {name} {cols}" for name, on, cols in indexes if on == table)
        out.append(f"{statement[:-1]}{keys}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
    return out


def execute(url: str, statements: Sequence[str] | str, params: Sequence[Any] = (), *,
            autocommit: bool = False) -> None:
    """Run statements (each with `params`) in one transaction: the tests' own DDL/DML."""
    todo = [statements] if isinstance(statements, str) else list(statements)
    with connect(url, autocommit=autocommit) as conn:
        cur = conn.cursor()
        for sql in todo:
            cur.execute(sql, tuple(params) or None)
        cur.close()


def copy_store(sqlite_path: Path, url: str, *, typed: bool = False) -> None:
    """Drop and create the §A tables at `url`, then copy every row of the SQLite store."""
    dialect = _server(url).dialect
    source = sqlite3.connect(f"file:{Path(sqlite_path)}?mode=ro", uri=True)
    try:
        with connect(url) as conn:
            cur = conn.cursor()
            cur.execute(f"DROP TABLE IF EXISTS {', '.join(COLUMNS)}")
            for statement in schema_sql(dialect, typed=typed):
                cur.execute(statement)
            for table, cols in COLUMNS.items():
                rows = source.execute(f"SELECT {', '.join(cols)} FROM {table}")
                if dialect == "postgresql":
                    _copy_pg(cur, table, cols, rows)
                else:
                    _insert_mysql(cur, table, cols, rows)
            if dialect == "postgresql":
                cur.execute("ANALYZE")
            cur.close()
    finally:
        source.close()


def _copy_pg(cur: Any, table: str, cols: Sequence[str], rows: sqlite3.Cursor) -> None:
    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        while chunk := rows.fetchmany(CHUNK):
            for row in chunk:
                copy.write_row(row)


def _insert_mysql(cur: Any, table: str, cols: Sequence[str], rows: sqlite3.Cursor) -> None:
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
    while chunk := rows.fetchmany(CHUNK):
        cur.executemany(sql, chunk)


# helpers that change a server store the way 志愿云's users would ---------------------------
def update_rows(url: str, entity: str, ids: Iterable[int | str], values: dict[str, Any],
                *, modified: str | None = None) -> None:
    """Set columns of the rows with these primary keys, and their gmt_modified (default:
    now, local time)."""
    table, key = TABLES[entity]
    unknown = set(values) - set(COLUMNS[table])
    if unknown:
        raise ValueError(f"{table} has no column {sorted(unknown)}")
    sets = {**values, "gmt_modified": modified or local_stamp()}
    sql = f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in sets)} WHERE {key} = %s"
    with connect(url) as conn:
        cur = conn.cursor()
        cur.executemany(sql, [(*sets.values(), int(i)) for i in ids])
        cur.close()


def touch_rows(url: str, entity: str, ids: Iterable[int | str], *,
               modified: str | None = None) -> None:
    """Set gmt_modified (default: now; a past value back-dates the rows)."""
    update_rows(url, entity, ids, {}, modified=modified)


def soft_delete(url: str, entity: str, ids: Iterable[int | str], *,
                modified: str | None = None) -> None:
    """is_del = 1, is_cancel = 1, a team's state 3 or an activity's status 7."""
    column, dead, _ = SOFT[entity]
    update_rows(url, entity, ids, {column: dead}, modified=modified)


def revive(url: str, entity: str, ids: Iterable[int | str], *,
           modified: str | None = None) -> None:
    """Undo `soft_delete` (an activity comes back as running)."""
    column, _, live = SOFT[entity]
    update_rows(url, entity, ids, {column: live}, modified=modified)


def set_membership(url: str, team_id: int, vol_id: int, state: int, *,
                   join_time: str = "2020-01-01", modified: str | None = None) -> None:
    """Insert or update one zyy_team_member row."""
    stamp = modified or local_stamp()
    with connect(url) as conn:
        cur = conn.cursor()
        cur.execute("UPDATE zyy_team_member SET state = %s, gmt_modified = %s "
                    "WHERE team_id = %s AND vol_id = %s", (state, stamp, team_id, vol_id))
        if cur.rowcount == 0:
            cur.execute("INSERT INTO zyy_team_member (team_id, vol_id, join_time, state, "
                        "gmt_modified) VALUES (%s, %s, %s, %s, %s)",
                        (team_id, vol_id, join_time, state, stamp))
        cur.close()
