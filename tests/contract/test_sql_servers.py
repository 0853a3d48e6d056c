"""The 志愿云 SQL adapter against real PostgreSQL and MariaDB servers (tests/dbservers.py):
the SQLite contract where a server can differ (keyset paging, look-back, memberships,
reads by id, scans), read-only sessions, typed production columns, the same payloads as
SQLite over the whole sample store, and the errors (URLs, credentials, a server that dies)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from adapters.base import Cursor, Page
from adapters.sql import SqlSource, open_sql_source
from bridge.errors import ConfigError, TransientError
from bridge.testing import sampledb
from bridge.testing.sample import CST, SampleManifest, build_sample_store
from mappings.result import MapContext
from mappings.zhiyuanyun import map_row
from tests.dbservers import PASSWORD, DbServer, free_port

NOW = datetime(2026, 6, 20, 15, 30, tzinfo=CST)
STREAMS = ("organization", "volunteer", "membership", "project", "service_record")
ENTITIES = ("organization", "volunteer", "project", "service_record")
KINDS = ("postgresql", "mysql")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleManifest]:
    path = tmp_path_factory.mktemp("sample") / "zyy.db"
    return path, build_sample_store(path, now=NOW)


@pytest.fixture(params=KINDS)
def server(request: pytest.FixtureRequest) -> DbServer:
    fixture = "pg_server" if request.param == "postgresql" else "mysql_server"
    db: DbServer = request.getfixturevalue(fixture)
    return db


@pytest.fixture
def typed() -> bool:
    """The spec's TEXT gmt_modified; tests marked TYPED_TOO also run on TIMESTAMP/DATETIME."""
    return False


TYPED_TOO = pytest.mark.parametrize("typed", [False, True], ids=["text", "typed"])


@pytest.fixture
def url(server: DbServer, sample: tuple[Path, SampleManifest], typed: bool) -> str:
    sampledb.copy_store(sample[0], server.url, typed=typed)
    return server.url


@pytest.fixture
def source(url: str) -> Iterator[SqlSource]:
    src = open_sql_source(url, Path("."))
    yield src
    src.close()


def read_all(src: SqlSource, stream: str, since: Cursor | None = None, lookback_s: int = 0,
             page_size: int = 7) -> list[Page]:
    return list(src.read_changes(stream, since, lookback_s, page_size))


def ids(pages: list[Page]) -> list[str]:
    return [row.local_id for page in pages for row in page.rows]


def stamp(text: str, seconds: int) -> str:
    return (datetime.fromisoformat(text) + timedelta(seconds=seconds)).strftime(
        "%Y-%m-%d %H:%M:%S")


def everything(src: SqlSource) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    return {s: [(r.local_id, r.modified, dict(r.data)) for p in read_all(src, s, page_size=50)
                for r in p.rows] for s in STREAMS}


# --- the SQLite contract, on a server -------------------------------------------------

@TYPED_TOO
def test_a_full_read_returns_every_row_of_every_stream_exactly_once(
        source: SqlSource, sample: tuple[Path, SampleManifest]) -> None:
    for stream in ("organization", "volunteer", "project", "service_record"):
        got = ids(read_all(source, stream))
        assert Counter(got) == Counter(lid for e, lid in sample[1].expected if e == stream)


@TYPED_TOO
def test_rows_come_in_cursor_order_with_text_stamps_and_bounded_pages(
        source: SqlSource) -> None:
    pages = read_all(source, "service_record", page_size=13)
    keys = [(r.modified, int(r.local_id)) for p in pages for r in p.rows]
    assert keys == sorted(keys) and all(len(p.rows) <= 13 for p in pages)
    assert pages[-1].cursor == Cursor(keys[-1][0], (keys[-1][1],))
    row = pages[0].rows[0]
    assert isinstance(row.data["gmt_modified"], str) and row.modified == row.data["gmt_modified"]
    assert isinstance(row.data["rec_id"], int) and isinstance(row.data["audit_state"], int)


@TYPED_TOO
def test_ties_on_gmt_modified_across_page_boundaries_lose_and_repeat_nothing(
        url: str, source: SqlSource, sample: tuple[Path, SampleManifest]) -> None:
    everyone = [lid for entity, lid in sample[1].expected if entity == "service_record"]
    sampledb.touch_rows(url, "service_record", everyone, modified="2026-06-01 08:00:00")
    got = ids(read_all(source, "service_record", page_size=7))
    assert len(got) == len(set(got)) == sample[1].counts["service_record"]


def test_membership_ties_on_a_two_column_key_lose_nothing(url: str, source: SqlSource) -> None:
    sampledb.execute(url, "UPDATE zyy_team_member SET gmt_modified = %s",
                     ["2026-06-01 08:00:00"])
    members = {r.local_id for p in source.scan("volunteer", 100) for r in p.rows
               if r.data["memberships"]}
    pages = read_all(source, "membership", page_size=7)
    cursors = [p.cursor for p in pages]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)  # type: ignore[type-var]
    assert {r.local_id for p in pages for r in p.rows} == members


@TYPED_TOO
def test_lookback_rereads_a_row_back_dated_inside_the_window(
        url: str, source: SqlSource, sample: tuple[Path, SampleManifest]) -> None:
    cursor = read_all(source, "volunteer")[-1].cursor
    assert cursor is not None
    vid = sample[1].ids("volunteer", "synced")[0]
    sampledb.touch_rows(url, "volunteer", [vid], modified=stamp(cursor.modified, -120))
    assert vid in ids(read_all(source, "volunteer", cursor, lookback_s=600))
    sampledb.touch_rows(url, "volunteer", [vid], modified=stamp(cursor.modified, -3600))
    assert vid not in ids(read_all(source, "volunteer", cursor, lookback_s=600))


@TYPED_TOO
def test_a_cursor_never_moves_back(url: str, source: SqlSource) -> None:
    since = read_all(source, "service_record")[-1].cursor
    assert since is not None
    sampledb.touch_rows(url, "service_record", ["1", "2", "3"], modified=stamp(since.modified, -5))
    pages = read_all(source, "service_record", since, lookback_s=3600, page_size=2)
    assert pages and all(p.cursor is not None and p.cursor >= since for p in pages)


def test_a_membership_change_yields_the_volunteers_current_row(
        url: str, source: SqlSource) -> None:
    since = read_all(source, "membership")[-1].cursor
    assert since is not None
    sampledb.set_membership(url, 3, 1, 4, modified=stamp(since.modified, 60))
    rows = {r.local_id: r for p in read_all(source, "membership", since) for r in p.rows}
    assert {r.entity for r in rows.values()} == {"volunteer"}
    assert {"team_id": 3, "state": 4, "join_time": "2020-01-01"} in rows["1"].data["memberships"]


def test_read_by_ids_returns_present_rows_and_scan_pages_by_key(
        source: SqlSource, sample: tuple[Path, SampleManifest]) -> None:
    rows = source.read_by_ids("service_record", ["3", "1", "424242", "x", "1"])
    assert [r.local_id for r in rows] == ["1", "3"]
    pages = list(source.scan("volunteer", 10))
    got = [int(r.local_id) for p in pages for r in p.rows]
    assert got == sorted(got) and len(got) == sample[1].counts["volunteer"]
    assert all(p.cursor is None and len(p.rows) <= 10 for p in pages)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(stamps=st.lists(st.integers(0, 4), min_size=0, max_size=40),
       page_size=st.integers(1, 9))
def test_keyset_paging_reads_each_row_once_whatever_the_ties(
        url: str, source: SqlSource, stamps: list[int], page_size: int) -> None:
    rows = [(i + 1, f"2026-06-01 08:00:0{s}") for i, s in enumerate(stamps)]
    values = ", ".join(f"({k}, 't', '{s}')" for k, s in rows)
    sampledb.execute(url, ["DELETE FROM zyy_team"] + (
        [f"INSERT INTO zyy_team (team_id, team_name, gmt_modified) VALUES {values}"]
        if rows else []))
    pages = read_all(source, "organization", page_size=page_size)
    assert [int(i) for i in ids(pages)] == [k for k, _ in sorted(rows, key=lambda r: (r[1],
                                                                                      r[0]))]
    assert all(0 < len(p.rows) <= page_size for p in pages)


# --- read-only, typed columns, same payloads ------------------------------------------

def test_the_adapters_connection_refuses_writes(source: SqlSource, server: DbServer) -> None:
    errors = (psycopg.Error,) if server.kind == "postgresql" else (pymysql.err.Error,)
    for sql in ("INSERT INTO zyy_team (team_id, team_name, gmt_modified) VALUES "
                "(99999, 'x', '2026-06-01 08:00:00')", "UPDATE zyy_team SET team_name = 'x'"):
        cur = source.connection.cursor()
        with pytest.raises(errors, match=r"(?i)read.only"):
            cur.execute(sql)
        source.connection.rollback()
    assert not source.read_by_ids("organization", ["99999"])
    assert all(r.data["team_name"] != "x" for p in source.scan("organization", 50)
               for r in p.rows)


def test_a_typed_schema_reads_the_same_rows_as_the_text_schema(
        server: DbServer, sample: tuple[Path, SampleManifest]) -> None:
    seen = []
    for typed in (False, True):
        sampledb.copy_store(sample[0], server.url, typed=typed)
        src = open_sql_source(server.url, Path("."))
        try:
            seen.append(everything(src))
        finally:
            src.close()
    assert seen[0] == seen[1]


@TYPED_TOO
def test_every_row_maps_to_the_same_result_as_from_sqlite(
        source: SqlSource, sample: tuple[Path, SampleManifest]) -> None:
    """The whole default sample store: SQLite → server, read both, map both, equal."""
    lite = open_sql_source(f"sqlite:///{sample[0]}", Path("/"))
    try:
        theirs, ours = mapped(source), mapped(lite)
    finally:
        lite.close()
    assert sum(len(v) for v in ours.values()) > sum(sample[1].counts.values())
    assert theirs == ours


def mapped(src: SqlSource) -> dict[str, list[Any]]:
    """Every row's mapping result, by scan and by each change stream."""
    ctx = MapContext(source="haicang", now=NOW, jurisdiction="3502")
    out = {f"scan {e}": [map_row(r, ctx) for p in src.scan(e, 40) for r in p.rows]
           for e in ENTITIES}
    out.update({f"stream {s}": [map_row(r, ctx) for p in read_all(src, s, page_size=50)
                                for r in p.rows] for s in STREAMS})
    return out


def _odd_team_table(server: DbServer) -> list[str]:
    """zyy_team with the column types production systems use, and one row."""
    pg = server.kind == "postgresql"
    ddl = ("CREATE TABLE zyy_team (team_id BIGINT PRIMARY KEY, team_name "
           f"{'BYTEA' if pg else 'VARBINARY(200)'} NOT NULL, team_kind TEXT, "
           "credit_code TEXT, parent_team_id NUMERIC(12,0), area_code TEXT, address TEXT, "
           f"service_types TEXT, linkman TEXT, link_phone TEXT, found_date DATE, "
           f"state {'BOOLEAN' if pg else 'DECIMAL(4,2)'}, "
           f"gmt_modified {'TIMESTAMPTZ' if pg else 'DATETIME(6)'} NOT NULL)")
    when = "'2026-06-01 00:00:00.75+00'" if pg else "'2026-06-01 08:00:00.75'"
    state = "TRUE" if pg else "1.50"
    return ["DROP TABLE zyy_team", ddl,
            "INSERT INTO zyy_team VALUES (7, 'ab海沧', NULL, NULL, 1, '350205', NULL, NULL, "
            f"NULL, NULL, '2016-08-08', {state}, {when})"]


def test_production_column_types_reach_the_mapping_as_sqlite_values(
        url: str, server: DbServer) -> None:
    sampledb.execute(url, _odd_team_table(server))
    src = open_sql_source(url, Path("."))
    try:
        (row,) = [r for p in read_all(src, "organization") for r in p.rows]
    finally:
        src.close()
    assert row.modified == row.data["gmt_modified"] == "2026-06-01 08:00:00"
    assert row.data["found_date"] == "2016-08-08" and row.data["team_name"] == "ab海沧"
    assert row.data["parent_team_id"] == 1 and type(row.data["parent_team_id"]) is int
    assert row.data["state"] == (1 if server.kind == "postgresql" else 1.5)


@pytest.mark.parametrize("typed", [True], ids=["typed"])
def test_sub_second_stamps_tied_on_the_second_lose_and_repeat_nothing(
        url: str, server: DbServer) -> None:
    alter = ("ALTER COLUMN gmt_modified TYPE TIMESTAMP(6)" if server.kind == "postgresql"
             else "MODIFY gmt_modified DATETIME(6)")
    sampledb.execute(url, ["DELETE FROM zyy_team", f"ALTER TABLE zyy_team {alter}"])
    for i in range(1, 13):
        sampledb.execute(url, "INSERT INTO zyy_team (team_id, team_name, gmt_modified) VALUES "
                              "(%s, 't', %s)", [i, f"2026-06-01 08:00:00.{(13 - i) * 7:06d}"])
    src = open_sql_source(url, Path("."))
    try:
        pages = read_all(src, "organization", page_size=2)
    finally:
        src.close()
    assert sorted(int(i) for i in ids(pages)) == list(range(1, 13))
    assert {r.modified for p in pages for r in p.rows} == {"2026-06-01 08:00:00"}


# --- URLs and errors ------------------------------------------------------------------

def test_url_aliases_and_a_unix_socket_reach_the_same_database(
        url: str, server: DbServer) -> None:
    body = url.split("://", 1)[1]
    schemes = ("postgres", "postgresql+psycopg") if server.kind == "postgresql" else (
        "mariadb", "mysql+pymysql")
    forms = [f"{scheme}://{body}" for scheme in schemes]
    if server.socket_dir is not None:  # no host (MySQL: no port either): only the socket
        pg = server.kind == "postgresql"
        credentials, rest = body.split("@", 1)
        forms.append(f"{server.kind}://{credentials}@{f':{server.port}' if pg else ''}/"
                     f"{rest.split('/', 1)[1]}?{'host' if pg else 'unix_socket'}="
                     f"{quote(server.socket_dir)}&connect_timeout=5")
    for form in forms:
        src = open_sql_source(form, Path("."))
        try:
            assert len(src.read_by_ids("organization", ["1", "2"])) == 2, form
        finally:
            src.close()


def password_of(url: str) -> str:
    return unquote(urlsplit(url).password or "")


def no_secret(err: pytest.ExceptionInfo[BaseException], url: str) -> str:
    """The error's text, asserted to hold neither the URL nor its password."""
    text, password = str(err.value), password_of(url)
    assert url not in text
    assert not password or (password not in text and quote(password, safe="") not in text)
    return text


def test_a_wrong_password_is_a_config_error_without_the_password(server: DbServer) -> None:
    parts = urlsplit(server.url)
    wrong = quote(password_of(server.url) + "x", safe="")
    host = parts.netloc.rsplit("@", 1)[1]
    bad = urlunsplit(parts._replace(netloc=f"{parts.username}:{wrong}@{host}"))
    with pytest.raises(ConfigError) as err:
        open_sql_source(bad, Path("."))
    text = no_secret(err, bad)
    assert PASSWORD not in text and f"{server.kind}://{parts.hostname}" in text


def test_an_unknown_database_or_a_missing_table_is_a_config_error_naming_it(
        url: str, server: DbServer) -> None:
    head = url.rsplit("/", 1)[0]
    with pytest.raises(ConfigError) as err:
        open_sql_source(f"{head}/no_such_db", Path("."))
    assert "no_such_db" in no_secret(err, url)
    sampledb.execute(url, "DROP TABLE zyy_activity")
    with pytest.raises(ConfigError, match="zyy_activity") as err:
        open_sql_source(url, Path("."))
    no_secret(err, url)


@pytest.mark.parametrize("bad", [
    "postgresql://u:s3cr3t@127.0.0.1:5432/", "postgresql://u:s3cr3t@127.0.0.1:port/zyb",
    "mysql://u:s3cr3t@127.0.0.1/zyb?sslmode=require", "mysql://u:s3cr3t@127.0.0.1/a/b",
    "postgresql://u:s3cr3t@127.0.0.1/zyb?invalid_option=1", "oracle://u:s3cr3t@h/zyb"])
def test_a_malformed_url_is_a_config_error_without_credentials(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        open_sql_source(bad, Path("."))
    assert "s3cr3t" not in str(err.value) and bad not in str(err.value)


def test_a_server_down_at_open_fails_each_read_with_a_transient_error() -> None:
    port = free_port()
    with capture_logs() as logs:
        src = open_sql_source(f"postgresql://u:s3cr3t@127.0.0.1:{port}/zyb", Path("."))
    try:
        with pytest.raises(TransientError) as err:
            read_all(src, "volunteer")
    finally:
        src.close()
    assert f"postgresql://127.0.0.1:{port}/zyb" in str(err.value)
    assert "s3cr3t" not in str(err.value) and "s3cr3t" not in repr(logs)
    assert any(e["log_level"] == "warning" for e in logs)


def test_a_store_without_indexes_is_reported_and_an_indexed_one_is_not(
        url: str, sample: tuple[Path, SampleManifest]) -> None:
    with capture_logs() as logs:
        open_sql_source(url, Path(".")).close()
    assert not logs
    sampledb.execute(url, ["DROP TABLE zyy_team", "CREATE TABLE zyy_team (team_id BIGINT "
                           "PRIMARY KEY, team_name TEXT, gmt_modified VARCHAR(32) NOT NULL)"])
    with capture_logs() as logs:
        open_sql_source(url, Path(".")).close()
    assert {(e["table"], e["column"]) for e in logs} == {("zyy_team", "gmt_modified")}


def test_a_server_killed_mid_read_fails_the_read_and_the_next_read_reconnects(
        url: str, server: DbServer, sample: tuple[Path, SampleManifest]) -> None:
    if server.restart is None:
        pytest.skip("the server is not this session's own (ZYB_TEST_*_URL): it cannot be killed")
    src = open_sql_source(url, Path("."))
    try:
        pages = src.read_changes("service_record", None, 0, 25)
        first = next(pages)
        server.restart()
        with pytest.raises(TransientError) as err:
            list(pages)
        assert "reconnects" in no_secret(err, url)
        rest = read_all(src, "service_record", first.cursor, 0, page_size=25)
    finally:
        src.close()
    got = set(ids([first])) | set(ids(rest))
    assert len(got) == sample[1].counts["service_record"]
