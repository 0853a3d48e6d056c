"""Writing one receipt (bridge/receipts.py): text cells only, 0600, rewritten only when
its lines change; reasons in Chinese from the catalogue."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import openpyxl

from bridge.receipts import reason_text, write_receipt
from mappings import messages

LINE = ("服务记录", "2", "=1+1", "+86 138", "已隔离", "@SUM(A1)")


def test_cells_that_look_like_formulas_are_written_as_text(tmp_path: Path) -> None:
    path = tmp_path / "r" / "may.csv.receipt.xlsx"
    assert write_receipt(path, [LINE, ("", "", "-1", "", "", "=HYPERLINK(\"x\")")])
    sheet_xml = zipfile.ZipFile(io.BytesIO(path.read_bytes())).read(
        "xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml
    book = openpyxl.load_workbook(path)
    cells = [c for row in book.active.iter_rows() for c in row if c.value]
    assert all(c.data_type == "s" for c in cells)
    assert [c.value for c in cells][8:10] == ["=1+1", "+86 138"]


def test_a_receipt_is_private_to_the_bridge(tmp_path: Path) -> None:
    path = tmp_path / "may.csv.receipt.xlsx"
    write_receipt(path, [LINE])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_same_lines_are_not_written_again_but_new_ones_are(tmp_path: Path) -> None:
    path = tmp_path / "may.csv.receipt.xlsx"
    assert write_receipt(path, [LINE])
    assert not write_receipt(path, [LINE])
    assert write_receipt(path, [(*LINE[:4], "已同步", "")])


def test_a_reason_names_its_column_and_says_the_catalogue_text() -> None:
    said = reason_text({"field": "hours", "code": "OUT_OF_RANGE",
                        "message": "may.csv row 5: 服务时长(小时) is more than the span"})
    assert said == f"服务时长(小时)：{messages.text('OUT_OF_RANGE')}"


def test_a_reason_that_names_its_column_is_not_prefixed_twice() -> None:
    said = reason_text({"field": "id_number", "code": "PRECISION_LOST",
                        "message": f"may.csv row 5: {messages.text('PRECISION_LOST')}"})
    assert said == messages.text("PRECISION_LOST")


def test_a_cell_problem_said_in_chinese_is_kept_as_said() -> None:
    said = reason_text({"field": "start_at", "code": "INVALID_FORMAT",
                        "message": f"may.xlsx row 3: 服务开始时间：{messages.text('TIME_ONLY')}"})
    assert said == f"服务开始时间：{messages.text('TIME_ONLY')}"


def test_english_receipts_keep_the_detail_masked() -> None:
    said = reason_text({"field": "mobile", "code": "INVALID_FORMAT",
                        "message": "may.csv row 5: 13800138000 is not a mobile"}, "en")
    assert "13800138000" not in said and said.startswith("手机：the value is not")
