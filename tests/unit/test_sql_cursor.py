"""The SQL adapter's look-back start from a stored cursor: a negative window is refused
by name, and a cursor that is not a 'YYYY-MM-DD HH:MM:SS' time gives None (the adapter
then reads the stream again from the start, with a warning) instead of failing; and
the cursor stored after a page: the last row stamped with a real time not beyond the
clock's skew. Survivors of make mutate in adapters.sql."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.base import Cursor
from adapters.sql import STAMP, SqlSource, Table, _trusted, lookback_start, open_sql_source
from bridge.testing.sample import build_sample_store


def test_a_negative_window_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^lookback_s must not be negative$"):
        lookback_start(Cursor("2026-01-01 00:05:00", (9,)), -1)


@pytest.mark.parametrize("text", ["2026-01-01T00:05:00Z", "garbage", "2026-02-30 00:00:00"])
def test_a_cursor_that_is_not_a_local_time_gives_no_start(text: str) -> None:
    assert lookback_start(Cursor(text, (9,)), 600) is None


def test_a_zero_window_starts_at_the_cursor() -> None:
    assert lookback_start(Cursor("2026-01-01 00:05:07", (9,)), 0) == "2026-01-01 00:05:07"


# --- the cursor stored after a page (adapters.sql._trusted) ---------------------------

TABLE = Table("volunteer", "volunteer", "zyy_volunteer", ("vol_id",))
NOW = datetime(2026, 3, 1, 12, 0, 0)


def row(vol_id: int, stamp: str) -> dict[str, Any]:
    return {"vol_id": vol_id, "gmt_modified": stamp}


def test_a_row_stamped_a_little_ahead_of_the_clock_moves_the_cursor() -> None:
    ahead = (NOW + timedelta(seconds=100)).strftime(STAMP)
    assert _trusted(TABLE, [row(1, ahead)], None, NOW) == Cursor(ahead, (1,))


def test_a_row_stamped_beyond_the_skew_leaves_the_cursor() -> None:
    start = Cursor("2026-03-01 11:00:00", (5,))
    later = (NOW + timedelta(seconds=400)).strftime(STAMP)
    assert _trusted(TABLE, [row(1, later)], start, NOW) == start


@pytest.mark.parametrize("stamp", ["0000-00-00 00:00:00", "2026-02-30 10:00:00", "soon"])
def test_a_row_whose_stamp_is_no_time_leaves_the_cursor(stamp: str) -> None:
    assert _trusted(TABLE, [row(1, stamp)], None, NOW) is None


def test_a_row_stamped_exactly_at_the_skew_moves_the_cursor() -> None:
    edge = (NOW + timedelta(seconds=300)).strftime(STAMP)
    assert _trusted(TABLE, [row(1, edge)], None, NOW) == Cursor(edge, (1,))


def test_a_row_without_a_time_does_not_hide_the_rows_after_it() -> None:
    rows = [row(1, "0000-00-00 00:00:00"), row(2, "2026-03-01 11:00:00")]
    assert _trusted(TABLE, rows, None, NOW) == Cursor("2026-03-01 11:00:00", (2,))


# --- read_changes from a stored cursor that is not a time ------------------------------

@pytest.fixture
def source(tmp_path: Path) -> Iterator[SqlSource]:
    build_sample_store(tmp_path / "s.db", volunteers=5)
    src = open_sql_source(f"sqlite:///{tmp_path / 's.db'}", tmp_path)
    yield src
    src.close()


def read(src: SqlSource, since: Cursor | None) -> tuple[int, Cursor | None]:
    pages = list(src.read_changes("volunteer", since, 600, 10))
    return sum(len(p.rows) for p in pages), pages[-1].cursor


def test_a_cursor_that_is_not_a_time_reads_the_stream_again_from_the_start(
        source: SqlSource) -> None:
    assert read(source, Cursor("garbage", (999,))) == read(source, None)


def test_a_cursor_that_is_not_a_time_is_named_in_a_warning(source: SqlSource) -> None:
    with capture_logs() as logs:
        read(source, Cursor("garbage", (999,)))
    assert [(e["event"], e["log_level"], e["stream"]) for e in logs] == [
        ("stored cursor is not a time: reading the stream again from the start", "warning",
         "volunteer")]
