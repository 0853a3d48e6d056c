"""The files adapter on real sheet files in temporary folders (local-sources.md §C)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters import files
from adapters.base import Cursor, Page, SourceRow
from adapters.files import FilesSource, decode, open_files_source, snapshot
from bridge.errors import ConfigError
from tests.fixtures.sheets import (
    cell,
    csv_bytes,
    half_written_csv,
    half_written_xlsx,
    residence_id,
    set_mtime,
    sheet_row,
    write_csv,
    write_csv_with_bad_row,
    write_xlsx,
)

KEY = "test-ref-key"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def source(folder: Path) -> FilesSource:
    return open_files_source(folder, folder.parent, mapping="taiwan_sheets", ref_key=KEY)


def read(src: FilesSource, stream: str, since: Cursor | None = None,
         page_size: int = 500) -> tuple[list[SourceRow], Cursor | None, list[Page]]:
    pages = list(src.read_changes(stream, since, 600, page_size))
    rows = [r for p in pages for r in p.rows]
    return rows, (pages[-1].cursor if pages else since), pages


def cells(rows: Sequence[SourceRow], header: str) -> list[Any]:
    return [r.data.get(header) for r in rows]


# --- shape --------------------------------------------------------------------------------

def test_streams_are_volunteers_then_service_records(inbox: Path) -> None:
    assert [(s.name, s.entity) for s in source(inbox).streams()] == [
        ("volunteer", "volunteer"), ("service_record", "service_record")]


def test_each_row_yields_a_volunteer_and_a_record_with_file_and_row(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row(), sheet_row(证件号码="10234568")])
    src = source(inbox)
    vols, _, _ = read(src, "volunteer")
    recs, _, _ = read(src, "service_record")
    assert [(r.data["file"], r.data["row"]) for r in vols] == [("may.csv", 2), ("may.csv", 3)]
    assert [(r.data["file"], r.data["row"]) for r in recs] == [("may.csv", 2), ("may.csv", 3)]
    assert {r.entity for r in recs} == {"service_record"}


def test_local_ids_are_16_hex_digits_without_the_number(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row(证件类型="居住证", 证件号码=residence_id())])
    src = source(inbox)
    for stream in ("volunteer", "service_record"):
        (row,), _, _ = read(src, stream)
        assert len(row.local_id) == 16 and set(row.local_id) <= set("0123456789abcdef")
        assert residence_id() not in row.local_id


def test_gb18030_and_utf8_bom_files_read_the_same(tmp_path: Path) -> None:
    rows = [sheet_row(姓名="蔡依林", 服务内容="两岸青年社区环保宣传，垃圾分类")]
    seen = []
    for encoding in ("utf-8-sig", "gb18030"):
        folder = tmp_path / encoding
        folder.mkdir()
        write_csv(folder / "may.csv", rows, encoding=encoding)
        (row,), _, _ = read(source(folder), "volunteer")
        seen.append((row.local_id, row.data["姓名"], row.data["服务内容"]))
    assert seen[0] == seen[1] == (seen[0][0], "蔡依林", "两岸青年社区环保宣传，垃圾分类")


def test_title_lines_above_the_header_are_passed_over(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row()], title="海沧台胞志工队 2026年5月服务记录")
    (row,), _, _ = read(source(inbox), "volunteer")
    assert (row.data["row"], row.data["姓名"]) == (3, "陈美玲")


def test_xlsx_gives_merged_cells_to_every_row_they_span(inbox: Path) -> None:
    rows = [sheet_row(), sheet_row(证件号码="10234568", 服务内容=None)]
    write_xlsx(inbox / "may.xlsx", rows, title="5月", merge=[
        f"{cell('服务内容', 1, title=True)}:{cell('服务内容', 2, title=True)}"])
    vols, _, _ = read(source(inbox), "volunteer")
    assert cells(vols, "服务内容") == ["两岸青年社区环保宣传"] * 2
    assert [r.data["row"] for r in vols] == [3, 4]


def test_xlsx_formulas_read_as_their_cached_values(inbox: Path) -> None:
    formulas = {cell("服务时长(小时)", 1): ("=(L2-K2)*24", 2.4999999999999996)}
    write_xlsx(inbox / "may.xlsx", [sheet_row()], formulas=formulas)
    (row,), _, _ = read(source(inbox), "service_record")
    assert row.data["服务时长(小时)"] == pytest.approx(2.5)


def test_xlsx_dates_numbers_and_sheets_without_headers(inbox: Path) -> None:
    row = sheet_row(服务开始时间=datetime(2026, 5, 3, 9), 服务结束时间=datetime(2026, 5, 3, 11),
                    手机=912345678, 活动编号=7)
    write_xlsx(inbox / "may.xlsx", [row], extra_sheet=True)
    (got,), _, _ = read(source(inbox), "service_record")
    assert got.data["服务开始时间"] == datetime(2026, 5, 3, 9)
    assert (got.data["手机"], got.data["活动编号"], got.data["sheet"]) == (912345678, 7, "服务记录")


# --- order, duplicates, the cursor --------------------------------------------------------

def test_the_later_file_wins_for_a_person(inbox: Path) -> None:
    write_csv(inbox / "b.csv", [sheet_row(手机="0912-000-002")], mtime=2_000_000)
    write_csv(inbox / "a.csv", [sheet_row(手机="0912-000-001")], mtime=1_000_000)
    (row,), _, _ = read(source(inbox), "volunteer")
    assert (row.data["file"], row.data["手机"]) == ("b.csv", "0912-000-002")


def test_same_time_files_go_by_name(inbox: Path) -> None:
    write_csv(inbox / "b.csv", [sheet_row(手机="0912-000-002")], mtime=1_000_000)
    write_csv(inbox / "a.csv", [sheet_row(手机="0912-000-001")], mtime=1_000_000)
    (row,), _, _ = read(source(inbox), "volunteer")
    assert row.data["file"] == "b.csv"


def test_a_ref_repeated_within_a_file_is_yielded_once_in_its_last_version(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row(服务内容="初稿"), sheet_row(证件号码="10234568"),
                                  sheet_row(服务内容="定稿")])
    recs, _, _ = read(source(inbox), "service_record")
    assert cells(recs, "服务内容") == ["定稿", "两岸青年社区环保宣传"]


def test_nothing_new_after_the_cursor_yields_no_page(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row()])
    src = source(inbox)
    _, cursor, _ = read(src, "volunteer")
    assert read(src, "volunteer", cursor)[2] == []


def test_a_redropped_identical_file_is_not_read_again(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row()])
    src = source(inbox)
    _, cursor, _ = read(src, "service_record")
    shutil.copy(inbox / "may.csv", inbox / "may (1).csv")
    set_mtime(inbox / "may (1).csv", datetime.now().timestamp() + 60)
    assert read(src, "service_record", cursor)[2] == []


def test_a_corrected_file_repeats_the_same_refs(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row()], mtime=1_000_000)
    src = source(inbox)
    first, cursor, _ = read(src, "service_record")
    write_csv(inbox / "may-fixed.csv", [sheet_row(), sheet_row(证件号码="10234568")],
              mtime=2_000_000)
    again, _, _ = read(src, "service_record", cursor)
    assert [r.local_id for r in again][:1] == [first[0].local_id] and len(again) == 2


def test_the_cursor_holds_the_newest_file_and_every_content_hash(inbox: Path) -> None:
    write_csv(inbox / "a.csv", [sheet_row()], mtime=1_000_000)
    write_csv(inbox / "b.csv", [sheet_row(证件号码="10234568")], mtime=2_000_000)
    _, cursor, _ = read(source(inbox), "volunteer")
    assert cursor is not None
    assert cursor.modified.startswith("1970-01-24T03:33:20")
    assert cursor.key[0] == "b.csv" and len(cursor.key) == 3
    assert all(len(h) == 32 for h in cursor.key[1:])
    assert Cursor.from_json(cursor.to_json()) == cursor


def test_only_the_last_page_carries_the_cursor(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row(证件号码=f"1023456{i}") for i in range(5)])
    _, _, pages = read(source(inbox), "volunteer", page_size=2)
    assert [len(p.rows) for p in pages] == [2, 2, 1]
    assert [p.cursor is not None for p in pages] == [False, False, True]


def test_a_file_of_only_headers_is_marked_read_by_an_empty_page(inbox: Path) -> None:
    write_csv(inbox / "empty.csv", [])
    _, _, pages = read(source(inbox), "volunteer")
    assert len(pages) == 1 and pages[0].rows == [] and pages[0].cursor is not None


def test_a_time_cursor_reads_files_modified_since(inbox: Path) -> None:
    write_csv(inbox / "old.csv", [sheet_row()], mtime=datetime(2026, 4, 1).timestamp())
    write_csv(inbox / "new.csv", [sheet_row(证件号码="10234568")],
              mtime=datetime(2026, 5, 2).timestamp())
    rows, _, _ = read(source(inbox), "volunteer", Cursor("2026-05-01"))
    assert cells(rows, "file") == ["new.csv"]


# --- files still being written, bad files, bad rows ---------------------------------------

def test_a_csv_cut_in_its_last_row_waits_for_the_next_cycle(inbox: Path) -> None:
    half_written_csv(inbox / "may.csv", [sheet_row()])
    src = source(inbox)
    assert read(src, "volunteer")[2] == []
    write_csv(inbox / "may.csv", [sheet_row(), sheet_row(证件号码="10234568")])
    assert len(read(src, "volunteer")[0]) == 2


def test_a_csv_cut_inside_a_quoted_cell_waits(inbox: Path) -> None:
    half_written_csv(inbox / "may.csv", [sheet_row()], inside_quotes=True)
    assert read(source(inbox), "volunteer")[2] == []


def test_a_half_written_xlsx_waits_and_other_files_go(inbox: Path) -> None:
    half_written_xlsx(inbox / "june.xlsx", [sheet_row()])
    write_csv(inbox / "may.csv", [sheet_row(证件号码="10234568")])
    src = source(inbox)
    rows, cursor, _ = read(src, "volunteer")
    assert cells(rows, "file") == ["may.csv"]
    write_xlsx(inbox / "june.xlsx", [sheet_row()])
    assert cells(read(src, "volunteer", cursor)[0], "file") == ["june.xlsx"]


def test_a_file_growing_while_read_waits(inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_csv(inbox / "may.csv", [sheet_row()])
    monkeypatch.setattr(files, "snapshot", lambda path: None)
    assert read(source(inbox), "volunteer")[2] == []


def test_an_unchanged_file_is_not_read_again_to_be_listed(
        inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_csv(inbox / "may.csv", [sheet_row()])
    src = source(inbox)
    _, cursor, _ = read(src, "volunteer")
    looks: list[Path] = []
    monkeypatch.setattr(files, "snapshot", lambda path: looks.append(path))
    assert read(src, "volunteer", cursor)[2] == [] and looks == []
    assert len(read(src, "service_record")[0]) == 1 and looks == []


def test_a_file_changed_in_place_is_read_again(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row()], mtime=1_000_000)
    src = source(inbox)
    _, cursor, _ = read(src, "volunteer")
    write_csv(inbox / "may.csv", [sheet_row(), sheet_row(证件号码="10234568")], mtime=2_000_000)
    assert len(read(src, "volunteer", cursor)[0]) == 2


def test_snapshot_sees_a_size_change_between_two_looks(tmp_path: Path) -> None:
    path = tmp_path / "may.csv"
    path.write_bytes(b"abc")
    sizes = iter([3, 5])

    class Stat:
        def __init__(self) -> None:
            self.st_size = next(sizes)
            self.st_mtime_ns = 1

    assert snapshot(path, lambda p: Stat()) is None
    assert snapshot(path) == (hashlib.sha256(b"abc").hexdigest()[:32], path.stat().st_mtime_ns)


def test_a_file_without_a_header_row_is_not_marked_read(inbox: Path) -> None:
    (inbox / "notes.csv").write_text("随便写写\n没有表头\n", encoding="utf-8")
    write_csv(inbox / "may.csv", [sheet_row()])
    _, cursor, _ = read(source(inbox), "volunteer")
    assert cursor is not None and len(cursor.key) == 2


def test_an_undecodable_row_is_marked_and_the_rest_goes_through(inbox: Path) -> None:
    write_csv_with_bad_row(inbox / "may.csv", [sheet_row(), sheet_row(证件号码="10234568")], 0)
    rows, _, _ = read(source(inbox), "service_record")
    assert [(r.data["row"], bool(r.data.get("undecodable"))) for r in rows] == [
        (2, True), (3, False)]
    assert rows[0].local_id.startswith("row-") and "姓名" not in rows[0].data
    assert rows[1].data["证件号码"] == "10234568"


def test_decode_prefers_utf8_when_only_a_few_bytes_are_bad() -> None:
    data = csv_bytes([sheet_row()] * 3, encoding="utf-8") + b"\xff\r\n"
    assert "陈美玲" in decode(data)
    assert "陈美玲" in decode(csv_bytes([sheet_row()], encoding="gb18030"))


def test_lock_files_hidden_files_and_other_suffixes_are_ignored(inbox: Path) -> None:
    body = csv_bytes([sheet_row()])
    for name in ("~$may.xlsx", ".may.csv", "may.csv.part", "may.txt"):
        (inbox / name).write_bytes(body)
    assert read(source(inbox), "volunteer")[2] == []


# --- full reads ---------------------------------------------------------------------------

def test_scan_folds_every_file_in_the_folder(inbox: Path) -> None:
    write_csv(inbox / "a.csv", [sheet_row(手机="0912-000-001")], mtime=1_000_000)
    write_csv(inbox / "b.csv", [sheet_row(手机="0912-000-002"), sheet_row(证件号码="10234568")],
              mtime=2_000_000)
    pages = list(source(inbox).scan("volunteer", 500))
    assert cells([r for p in pages for r in p.rows], "手机") == ["0912-000-002", "0912-345-678"]
    assert all(p.cursor is None for p in pages)


def test_scan_of_an_entity_the_sheets_do_not_hold_is_empty(inbox: Path) -> None:
    write_csv(inbox / "a.csv", [sheet_row()])
    assert list(source(inbox).scan("organization", 500)) == []


def test_read_by_ids_finds_rows_by_their_keyed_ids(inbox: Path) -> None:
    write_csv(inbox / "a.csv", [sheet_row(), sheet_row(证件号码="10234568")])
    src = source(inbox)
    recs, _, _ = read(src, "service_record")
    found = src.read_by_ids("service_record", [recs[1].local_id, "0000000000000000"])
    assert [r.local_id for r in found] == [recs[1].local_id]


# --- opening ------------------------------------------------------------------------------

def test_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        open_files_source(Path("nowhere"), tmp_path, mapping="taiwan_sheets", ref_key=KEY)


def test_a_missing_ref_key_is_a_config_error(inbox: Path) -> None:
    with pytest.raises(ConfigError, match="ref_key"):
        open_files_source(inbox, inbox, mapping="taiwan_sheets", ref_key=None)


def test_a_mapping_without_a_sheet_schema_is_a_config_error(inbox: Path) -> None:
    with pytest.raises(ConfigError, match="zhiyuanyun"):
        open_files_source(inbox, inbox, mapping="zhiyuanyun", ref_key=KEY)


def test_a_relative_folder_is_found_from_the_base_dir(inbox: Path) -> None:
    write_csv(inbox / "a.csv", [sheet_row()])
    src = open_files_source(Path("inbox"), inbox.parent, mapping="taiwan_sheets", ref_key=KEY)
    assert len(read(src, "volunteer")[0]) == 1


def test_an_unknown_stream_is_refused(inbox: Path) -> None:
    with pytest.raises(ValueError, match="unknown stream"):
        list(source(inbox).read_changes("project", None, 0, 10))
