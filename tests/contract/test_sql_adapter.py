"""The 志愿云 SQL adapter against real SQLite files (the sample store, or small tables)."""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
import threading
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from adapters.base import Cursor, Page, SourceRow
from adapters.sql import SqlSource, lookback_start, open_sql_source, parse_url
from bridge.errors import ConfigError
from bridge.testing.sample import (
    CST,
    INDEXES,
    SCHEMA,
    SampleManifest,
    build_sample_store,
    set_membership,
    touch_rows,
)

NOW = datetime(2026, 6, 20, 15, 30, tzinfo=CST)
ENTITY_STREAMS = ("organization", "volunteer", "project", "service_record")


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, SampleManifest]:
    path = tmp_path / "zyy.db"
    return path, build_sample_store(path, now=NOW)


@pytest.fixture
def source(sample: tuple[Path, SampleManifest]) -> Iterator[SqlSource]:
    src = open_sql_source(f"sqlite:///{sample[0].name}", sample[0].parent)
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


def tiny_store(path: Path, teams: list[tuple[int, str]]) -> Path:
    """A 志愿云 schema whose zyy_team holds (team_id, gmt_modified) rows."""
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.executemany("INSERT INTO zyy_team (team_id, team_name, gmt_modified) VALUES (?, 't', ?)",
                     teams)
    conn.commit()
    conn.close()
    return path


def test_streams_come_parents_first_and_memberships_feed_volunteers(source: SqlSource) -> None:
    assert [(s.name, s.entity) for s in source.streams()] == [
        ("organization", "organization"), ("volunteer", "volunteer"),
        ("membership", "volunteer"), ("project", "project"),
        ("service_record", "service_record")]


@pytest.mark.parametrize("stream", ENTITY_STREAMS)
def test_a_full_read_returns_every_row_exactly_once(
        source: SqlSource, sample: tuple[Path, SampleManifest], stream: str) -> None:
    got = ids(read_all(source, stream))
    assert Counter(got) == Counter(lid for e, lid in sample[1].expected if e == stream)


def test_rows_come_in_cursor_order_and_pages_are_bounded(source: SqlSource) -> None:
    pages = read_all(source, "service_record", page_size=13)
    keys = [(r.modified, int(r.local_id)) for p in pages for r in p.rows]
    assert keys == sorted(keys)
    assert all(len(p.rows) <= 13 for p in pages)
    assert pages[-1].cursor == Cursor(keys[-1][0], (keys[-1][1],))


def test_ties_on_gmt_modified_across_page_boundaries_lose_and_repeat_nothing(
        sample: tuple[Path, SampleManifest]) -> None:
    path, manifest = sample
    everyone = [lid for entity, lid in manifest.expected if entity == "service_record"]
    touch_rows(path, "service_record", everyone, modified="2026-06-01 08:00:00")
    src = open_sql_source(f"sqlite:///{path}", Path("/"))
    got = ids(read_all(src, "service_record", page_size=7))
    src.close()
    assert len(got) == len(set(got)) == manifest.counts["service_record"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stamps=st.lists(st.integers(0, 4), min_size=0, max_size=60),
       page_size=st.integers(1, 9))
def test_keyset_paging_reads_each_row_once_whatever_the_ties(
        stamps: list[int], page_size: int) -> None:
    rows = [(i + 1, f"2026-06-01 08:00:0{s}") for i, s in enumerate(stamps)]
    with tempfile.TemporaryDirectory() as tmp:
        src = open_sql_source("sqlite:///t.db", tiny_store(Path(tmp) / "t.db", rows).parent)
        pages = read_all(src, "organization", page_size=page_size)
        src.close()
    assert [int(i) for i in ids(pages)] == [k for k, _ in sorted(rows, key=lambda r: (r[1],
                                                                                      r[0]))]
    assert all(0 < len(p.rows) <= page_size for p in pages)
    cursors = [p.cursor for p in pages]
    assert cursors == sorted(cursors)  # type: ignore[type-var]


def test_lookback_rereads_a_row_back_dated_inside_the_window(
        sample: tuple[Path, SampleManifest], source: SqlSource) -> None:
    path, manifest = sample
    cursor = read_all(source, "volunteer")[-1].cursor
    assert cursor is not None
    vid = manifest.ids("volunteer", "synced")[0]
    touch_rows(path, "volunteer", [vid], modified=stamp(cursor.modified, -120))
    assert vid in ids(read_all(source, "volunteer", cursor, lookback_s=600))


def test_a_row_back_dated_beyond_the_window_is_not_reread(
        sample: tuple[Path, SampleManifest], source: SqlSource) -> None:
    path, manifest = sample
    cursor = read_all(source, "volunteer")[-1].cursor
    assert cursor is not None
    vid = manifest.ids("volunteer", "synced")[0]
    touch_rows(path, "volunteer", [vid], modified=stamp(cursor.modified, -3600))
    assert vid not in ids(read_all(source, "volunteer", cursor, lookback_s=600))


def test_the_start_bound_of_a_lookback_read_is_inclusive(tmp_path: Path) -> None:
    tiny_store(tmp_path / "t.db", [(1, "2026-06-01 07:50:00"), (2, "2026-06-01 07:49:59"),
                                   (3, "2026-06-01 08:00:00")])
    src = open_sql_source("sqlite:///t.db", tmp_path)
    got = ids(read_all(src, "organization", Cursor("2026-06-01 08:00:00", (3,)), 600))
    assert got == ["1", "3"]


def test_a_cursor_never_moves_back(sample: tuple[Path, SampleManifest],
                                   source: SqlSource) -> None:
    since = read_all(source, "service_record")[-1].cursor
    assert since is not None
    touch_rows(sample[0], "service_record", ["1", "2", "3"], modified=stamp(since.modified, -5))
    pages = read_all(source, "service_record", since, lookback_s=3600, page_size=2)
    assert pages and all(p.cursor is not None and p.cursor >= since for p in pages)


def test_lookback_start_subtracts_the_window_from_the_cursor() -> None:
    assert lookback_start(Cursor("2026-01-01 00:05:00", (9,)), 600) == "2025-12-31 23:55:00"


def test_a_membership_change_yields_the_volunteers_current_row(
        sample: tuple[Path, SampleManifest], source: SqlSource) -> None:
    since = read_all(source, "membership")[-1].cursor
    assert since is not None
    set_membership(sample[0], 3, 1, 4, modified=stamp(since.modified, 60))
    rows = {r.local_id: r for p in read_all(source, "membership", since) for r in p.rows}
    assert {r.entity for r in rows.values()} == {"volunteer"}
    assert {"team_id": 3, "state": 4, "join_time": "2020-01-01"} in rows["1"].data["memberships"]
    assert rows["1"].data["vol_id"] == 1 and "real_name" in rows["1"].data


def test_several_membership_changes_of_one_volunteer_yield_it_once_per_page(
        sample: tuple[Path, SampleManifest], source: SqlSource) -> None:
    since = read_all(source, "membership")[-1].cursor
    assert since is not None
    for team in (3, 4, 5):
        set_membership(sample[0], team, 2, 1, modified=stamp(since.modified, 60))
    (page,) = read_all(source, "membership", since, page_size=50)
    assert [r.local_id for r in page.rows].count("2") == 1


def test_volunteer_rows_carry_their_memberships_sorted_by_team(source: SqlSource) -> None:
    (row,) = source.read_by_ids("volunteer", ["21"])
    teams = [m["team_id"] for m in row.data["memberships"]]
    assert teams == sorted(teams) and len(teams) == 6
    assert {m["state"] for m in row.data["memberships"]} == {1, 2, 3, 4}
    assert set(row.data["memberships"][0]) == {"team_id", "state", "join_time"}


def test_a_volunteer_without_memberships_carries_an_empty_list(source: SqlSource) -> None:
    (row,) = source.read_by_ids("volunteer", ["5"])
    assert row.data["memberships"] == []


def test_every_row_carries_its_entity_id_modified_and_all_columns(source: SqlSource) -> None:
    row = next(iter(read_all(source, "project")[0].rows))
    assert isinstance(row, SourceRow) and row.entity == "project"
    assert row.local_id == str(row.data["act_id"]) and row.modified == row.data["gmt_modified"]
    assert {"title", "begin_time", "plan_num", "status", "team_id"} <= set(row.data)


def test_read_by_ids_returns_present_rows_and_ignores_absent_ones(source: SqlSource) -> None:
    rows = source.read_by_ids("service_record", ["3", "1", "424242", "x", "1"])
    assert [r.local_id for r in rows] == ["1", "3"]


def test_read_by_ids_reads_more_than_one_chunk(tmp_path: Path) -> None:
    tiny_store(tmp_path / "t.db", [(i, "2026-06-01 08:00:00") for i in range(1, 1301)])
    src = open_sql_source("sqlite:///t.db", tmp_path)
    assert len(src.read_by_ids("organization", [str(i) for i in range(1, 1400)])) == 1300


def test_scan_pages_every_row_by_primary_key_without_a_cursor(
        source: SqlSource, sample: tuple[Path, SampleManifest]) -> None:
    pages = list(source.scan("volunteer", 10))
    got = [int(r.local_id) for p in pages for r in p.rows]
    assert got == sorted(got) and len(got) == sample[1].counts["volunteer"]
    assert all(p.cursor is None and len(p.rows) <= 10 for p in pages)
    assert all("memberships" in r.data for p in pages for r in p.rows)


def test_the_connection_refuses_writes_and_the_file_is_unchanged(
        sample: tuple[Path, SampleManifest]) -> None:
    before = hashlib.sha256(sample[0].read_bytes()).hexdigest()
    src = open_sql_source(f"sqlite:///{sample[0]}", Path("/"))
    for stream in ("organization", "volunteer", "membership", "project", "service_record"):
        read_all(src, stream, page_size=50)
    with pytest.raises(sqlite3.OperationalError):
        src.connection.execute("UPDATE zyy_team SET team_name = 'x'")
    with pytest.raises(sqlite3.OperationalError):
        src.connection.execute("CREATE TABLE intruder (x)")
    src.close()
    assert hashlib.sha256(sample[0].read_bytes()).hexdigest() == before


def test_a_relative_url_is_relative_to_the_base_dir(tmp_path: Path) -> None:
    _, path = parse_url("sqlite:///var/zyy.db", tmp_path)
    assert path == tmp_path / "var" / "zyy.db"
    assert parse_url("sqlite:////srv/data/zyy.db", tmp_path)[1] == Path("/srv/data/zyy.db")


@pytest.mark.parametrize("url", ["zyy.db", "sqlite://", "sqlite:///", "sqlite://host/zyy.db",
                                 "sqlite:///zyy.db?mode=rw", "http://x/y.db"])
def test_a_malformed_or_unsupported_url_is_a_config_error_without_credentials(
        tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as err:
        open_sql_source(url, tmp_path)
    assert "s3cr3t" not in str(err.value) and "sqlite:///" in str(err.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        open_sql_source("sqlite:///absent.db", tmp_path)
    assert not (tmp_path / "absent.db").exists()


def test_a_file_that_is_not_a_database_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="cannot be"):
        open_sql_source("sqlite:///junk.db", tmp_path)


def test_a_missing_table_is_a_config_error_naming_it(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "part.db")
    conn.executescript(SCHEMA + "DROP TABLE zyy_activity;")
    conn.close()
    with pytest.raises(ConfigError, match="zyy_activity"):
        open_sql_source("sqlite:///part.db", tmp_path)


def test_a_missing_key_column_is_a_config_error(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.executescript(SCHEMA + "ALTER TABLE zyy_team DROP COLUMN gmt_modified;")
    conn.close()
    with pytest.raises(ConfigError, match=r"zyy_team\.gmt_modified"):
        open_sql_source("sqlite:///old.db", tmp_path)


def test_a_table_without_an_index_on_gmt_modified_is_reported_once(tmp_path: Path) -> None:
    tiny_store(tmp_path / "t.db", [(1, "2026-06-01 08:00:00")])
    with capture_logs() as logs:
        open_sql_source("sqlite:///t.db", tmp_path).close()
    flagged = {(e["table"], e["column"]) for e in logs if e["log_level"] == "warning"}
    assert ("zyy_team", "gmt_modified") in flagged and ("zyy_team_member", "vol_id") in flagged


def test_an_indexed_store_opens_without_warnings(sample: tuple[Path, SampleManifest]) -> None:
    with capture_logs() as logs:
        open_sql_source(f"sqlite:///{sample[0]}", Path("/")).close()
    assert not logs


def test_an_unknown_mapping_is_a_config_error(sample: tuple[Path, SampleManifest]) -> None:
    with pytest.raises(ConfigError, match="schema"):
        open_sql_source(f"sqlite:///{sample[0]}", Path("/"), mapping="shegong")


def test_an_unknown_stream_or_a_bad_page_size_is_refused(source: SqlSource) -> None:
    with pytest.raises(ValueError):
        read_all(source, "zyy_team")
    with pytest.raises(ValueError):
        read_all(source, "volunteer", page_size=0)
    with pytest.raises(ValueError):
        source.read_by_ids("membership", ["1"])


def test_close_is_idempotent_and_a_closed_source_reads_nothing(source: SqlSource) -> None:
    source.close()
    source.close()
    with pytest.raises(ValueError):
        read_all(source, "volunteer")


def test_a_source_opened_in_one_thread_reads_in_another(source: SqlSource) -> None:
    out: list[int] = []
    worker = threading.Thread(target=lambda: out.append(len(ids(read_all(source, "project")))))
    worker.start()
    worker.join()
    assert out and out[0] > 0


def test_memory_stays_flat_reading_fifty_thousand_rows(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "big.db")
    conn.executescript(SCHEMA + INDEXES)
    filler = "厦门市海沧区滨湖北路" * 4
    conn.executemany(
        "INSERT INTO zyy_volunteer (vol_id, real_name, cert_no, mobile, email, skills, "
        "gmt_modified) VALUES (?, '林志贵', '350205199001011234', '13800000000', ?, ?, ?)",
        ((i, f"v{i}@example.org", filler, f"2026-06-01 0{i % 10}:00:00")
         for i in range(1, 50_001)))
    conn.executemany("INSERT INTO zyy_team_member VALUES (?, ?, '2020-01-01', 1, "
                     "'2026-06-01 00:00:00')", ((i % 50, i) for i in range(1, 50_001)))
    conn.commit()
    conn.close()
    src = open_sql_source("sqlite:///big.db", tmp_path)
    tracemalloc.start()
    seen = sum(len(page.rows) for page in src.read_changes("volunteer", None, 0, 500))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    src.close()
    assert seen == 50_000
    assert peak < 6 * 2**20, f"peak {peak / 2**20:.1f} MiB reading 50k rows by pages of 500"
