"""The files adapter and the sheet mapping on what people really send (local-sources.md
§C): ID numbers Excel kept as numbers, hidden worksheets, total rows, bare numbers and
times in date columns, formulas without saved values, `-` as a mobile, and files past the
limits. The files are made with openpyxl the way Excel writes them (tests/fixtures)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters import files
from adapters.base import Cursor, SourceRow
from adapters.files import FilesSource, Limits, open_files_source
from mappings import messages, taiwan_sheets
from mappings.result import MapContext, Mapped, Quarantined
from tests.fixtures.sheets import (
    as_excel_number,
    as_excel_text,
    hostile_xlsx,
    ids_ending_000,
    mainland_id,
    sheet_row,
    write_csv,
)

KEY = "corpus-ref-key"
CTX = MapContext(source="taibao", now=datetime(2026, 6, 1, tzinfo=UTC), projects_from="haicang",
                 ref_key=KEY.encode())


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def source(folder: Path, **limits: Any) -> FilesSource:
    return open_files_source(folder, folder.parent, mapping="taiwan_sheets", ref_key=KEY,
                             limits=Limits(**limits))


def read(src: FilesSource, stream: str = "volunteer",
         since: Cursor | None = None) -> tuple[list[SourceRow], Cursor | None]:
    pages = list(src.read_changes(stream, since, 600, 500))
    return [r for p in pages for r in p.rows], (pages[-1].cursor if pages else since)


def mainland(number: object, n: int = 0) -> dict[str, Any]:
    """A mainland volunteer's row (身份证), service on day `n`."""
    return sheet_row(f"2026-05-{1 + n % 28:02d} 09:00:00", f"2026-05-{1 + n % 28:02d} 11:30:00",
                     证件类型="身份证", 证件号码=number, 手机="13800138000", 民族="汉族",
                     出生日期="", 性别="")


def excel_ids(n: int) -> list[str]:
    """`n` valid ID numbers, in groups of ten sharing their first 15 digits (so their
    damaged forms agree)."""
    out: list[str] = []
    for i in range(10 * n):
        number = mainland_id(f"19{60 + i // 280:02d}{1 + i // 10 % 12:02d}{1 + i % 28:02d}",
                             f"5{i % 10}{i % 7}")
        if not number.endswith("X"):      # Excel cannot take an X as a number
            out.append(number)
    return out[:n]


def codes(result: object) -> list[str]:
    assert isinstance(result, Quarantined), result
    return [f"{r.field}:{r.code}" for r in result.reasons]


# --- precision lost -------------------------------------------------------------------------

def test_xlsx_numbers_of_15_digits_are_each_their_own_refused_row(inbox: Path) -> None:
    ids = excel_ids(60)
    rows = [mainland(as_excel_number(n), i) for i, n in enumerate(ids)]
    (inbox / "may.xlsx").write_bytes(hostile_xlsx(rows))
    vols, _ = read(source(inbox))
    assert len(vols) == 60 and len({v.local_id for v in vols}) == 60
    assert all(v.local_id.startswith("row-") for v in vols)
    results = [taiwan_sheets.map_row(v, CTX) for v in vols]
    assert all(codes(r)[0] == "id_number:PRECISION_LOST" for r in results)
    assert not [r for r in results if isinstance(r, Mapped)]


def test_a_refused_row_says_in_chinese_how_to_fix_it(inbox: Path) -> None:
    (inbox / "may.xlsx").write_bytes(hostile_xlsx([mainland(as_excel_number(mainland_id()))]))
    (vol,) = read(source(inbox))[0]
    result = taiwan_sheets.map_row(vol, CTX)
    assert isinstance(result, Quarantined)
    assert messages.text("PRECISION_LOST") in result.reasons[0].message
    assert "may.xlsx [服务记录] row 2" in result.reasons[0].message


def test_scientific_notation_in_a_csv_is_refused_row_by_row(inbox: Path) -> None:
    ids = excel_ids(300)
    write_csv(inbox / "may.csv", [mainland(as_excel_text(n), i) for i, n in enumerate(ids)])
    records, _ = read(source(inbox), "service_record")
    assert len({r.local_id for r in records}) == 300
    assert all(codes(taiwan_sheets.map_row(r, CTX))[0] == "id_number:PRECISION_LOST"
               for r in records)


def test_zeroed_digits_in_a_csv_refuse_every_number_ending_000(inbox: Path) -> None:
    damaged = [as_excel_text(n, zero_format=True) for n in excel_ids(20)]
    fine = mainland_id("19851111", "123")
    write_csv(inbox / "may.csv", [mainland(n, i) for i, n in enumerate([*damaged, fine])])
    vols, _ = read(source(inbox))
    results = {v.data["row"]: taiwan_sheets.map_row(v, CTX) for v in vols}
    assert len(results) == 21
    assert all(codes(results[row])[0] == "id_number:PRECISION_LOST" for row in range(2, 22))
    assert isinstance(results[22], Mapped)


def test_a_real_id_ending_000_alone_in_its_file_still_maps(inbox: Path) -> None:
    (number,) = ids_ending_000(1)
    write_csv(inbox / "may.csv", [mainland(number), mainland(mainland_id("19851111", "123"))])
    vols, _ = read(source(inbox))
    assert all(isinstance(taiwan_sheets.map_row(v, CTX), Mapped) for v in vols)
    assert not any(v.local_id.startswith("row-") for v in vols)


def test_two_real_ids_ending_000_in_one_file_are_both_refused(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [mainland(n, i) for i, n in enumerate(ids_ending_000(2))])
    vols, _ = read(source(inbox))
    assert [codes(taiwan_sheets.map_row(v, CTX))[0] for v in vols] == [
        "id_number:PRECISION_LOST"] * 2


def test_an_xlsx_number_of_18_significant_digits_is_refused(inbox: Path) -> None:
    (inbox / "may.xlsx").write_bytes(hostile_xlsx([mainland(int(mainland_id()))]))
    (vol,) = read(source(inbox))[0]
    assert codes(taiwan_sheets.map_row(vol, CTX))[0] == "id_number:PRECISION_LOST"


# --- workbooks ------------------------------------------------------------------------------

def test_a_hidden_worksheet_is_not_read_and_is_named_as_skipped(inbox: Path) -> None:
    old = [mainland(mainland_id("19700101", "111"))]
    (inbox / "may.xlsx").write_bytes(hostile_xlsx([sheet_row()], hidden=old))
    src = source(inbox)
    vols, _ = read(src)
    assert [v.data["sheet"] for v in vols] == ["服务记录"]
    ((_, outcome),) = src.outcomes()
    assert [(s.sheet, s.code) for s in outcome.skips] == [("旧数据", "SHEET_HIDDEN")]


def test_total_and_blank_rows_are_not_records(inbox: Path) -> None:
    (inbox / "may.xlsx").write_bytes(hostile_xlsx([sheet_row()], totals=True, title="五月"))
    src = source(inbox)
    vols, _ = read(src)
    assert [v.data["row"] for v in vols] == [3]
    ((_, outcome),) = src.outcomes()
    assert [(s.row, s.code) for s in outcome.skips] == [(4, "ROW_TOTAL"), (6, "ROW_TOTAL")]


@pytest.mark.parametrize(("value", "code"), [
    (45413, "DATE_IS_NUMBER"), (45413.375, "DATE_IS_NUMBER"),
    (datetime(2026, 5, 3, 9, 0).time(), "TIME_ONLY")])
def test_a_date_column_says_exactly_what_is_wrong_with_its_cell(
        inbox: Path, value: object, code: str) -> None:
    (inbox / "may.xlsx").write_bytes(hostile_xlsx([sheet_row(服务开始时间=value)]))
    (record,) = read(source(inbox), "service_record")[0]
    result = taiwan_sheets.map_row(record, CTX)
    assert codes(result)[0] == "start_at:INVALID_FORMAT"
    assert messages.text(code) in result.reasons[0].message  # type: ignore[union-attr]
    assert "empty" not in result.reasons[0].message  # type: ignore[union-attr]


def test_a_time_only_text_in_a_csv_is_named_as_such(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row(服务结束时间="11:30")])
    (record,) = read(source(inbox), "service_record")[0]
    result = taiwan_sheets.map_row(record, CTX)
    assert codes(result) == ["end_at:INVALID_FORMAT"]


def test_a_formula_without_a_saved_value_is_not_called_empty(inbox: Path) -> None:
    (inbox / "may.xlsx").write_bytes(hostile_xlsx([sheet_row(**{"服务时长(小时)": "=2.5*1"})]))
    (record,) = read(source(inbox), "service_record")[0]
    result = taiwan_sheets.map_row(record, CTX)
    assert isinstance(result, Quarantined)
    assert [r.field for r in result.reasons] == ["hours"]
    assert messages.text("FORMULA_NO_VALUE") in result.reasons[0].message


def test_a_dash_as_a_mobile_is_a_missing_mobile_not_a_white_space_error(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row(手机="-")])
    (vol,) = read(source(inbox))[0]
    result = taiwan_sheets.map_row(vol, CTX)
    assert codes(result) == ["mobile:REQUIRED"]
    assert messages.text("MOBILE_PLACEHOLDER") in result.reasons[0].message  # type: ignore[union-attr]


# --- limits -----------------------------------------------------------------------------------

def test_a_merged_range_bomb_is_refused_whole_once(inbox: Path) -> None:
    (inbox / "bomb.xlsx").write_bytes(hostile_xlsx([sheet_row()], merged="A1:XFD1048576"))
    src = source(inbox)
    with capture_logs() as logs:
        rows, cursor = read(src)
        again, _ = read(src, since=cursor)
    assert rows == [] and again == [] and cursor is not None and len(cursor.key) == 2
    refused = [e for e in logs if e.get("code") == "MERGED_TOO_BIG"]
    assert len(refused) == 1
    assert read(source(inbox), since=cursor)[0] == []      # a new process: still once


def test_a_refused_file_is_read_again_when_its_content_changes(inbox: Path) -> None:
    path = inbox / "bomb.xlsx"
    path.write_bytes(hostile_xlsx([sheet_row()], merged="A1:XFD1048576"))
    src = source(inbox)
    _, cursor = read(src)
    path.write_bytes(hostile_xlsx([sheet_row()]))
    os.utime(path, (2_000_000_000, 2_000_000_000))
    assert len(read(src, since=cursor)[0]) == 1


def test_a_file_over_max_file_mb_is_refused_without_being_read(
        inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_csv(inbox / "big.csv", [sheet_row()] * 4000)
    assert (inbox / "big.csv").stat().st_size > 0.5 * 2**20
    monkeypatch.setattr(files, "snapshot", lambda path: pytest.fail("the big file was read"))
    src = source(inbox, max_file_mb=0.5)
    rows, cursor = read(src)
    assert rows == [] and cursor is not None
    ((_, outcome),) = src.outcomes()
    assert outcome.refusal is not None and outcome.refusal.code == "FILE_TOO_BIG"
    assert "0.5 MB" in outcome.refusal.text("en")


def test_a_file_over_max_rows_is_refused_whole(inbox: Path) -> None:
    write_csv(inbox / "may.csv", [sheet_row(证件号码=f"1023{i:04d}") for i in range(11)])
    src = source(inbox, max_rows=10)
    assert read(src)[0] == []
    ((_, outcome),) = src.outcomes()
    assert outcome.refusal is not None and outcome.refusal.code == "TOO_MANY_ROWS"


def test_symlinks_and_pipes_in_the_inbox_are_skipped_with_a_warning(
        inbox: Path, tmp_path: Path) -> None:
    outside = write_csv(tmp_path / "secret.csv", [sheet_row()])
    (inbox / "link.csv").symlink_to(outside)
    os.mkfifo(inbox / "pipe.csv")
    write_csv(inbox / "may.csv", [sheet_row(证件号码="10234599")])
    with capture_logs() as logs:
        vols, _ = read(source(inbox))
    assert [v.data["file"] for v in vols] == ["may.csv"]
    warned = sorted(e["event"] for e in logs if e["log_level"] == "warning")
    assert warned == ["a symbolic link in the inbox: skipped",
                      "not a regular file in the inbox: skipped"]
