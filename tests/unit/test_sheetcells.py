"""What people really send in sheet cells (mappings/sheetcells.py): ID numbers Excel
kept as numbers, serial numbers and times in date columns, formulas without values,
total rows, placeholders."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bridge.testing.sample import id_check
from mappings.sheetcells import (
    PRECISION,
    PROBLEMS,
    UNSAVED,
    cell_problem,
    id_digits,
    is_total,
    lost_in_cell,
    placeholder,
    prepare,
    settle,
)

bodies = st.from_regex(r"[1-6][0-9]{5}(19[5-9][0-9]|200[0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])"
                       r"[0-9]{3}", fullmatch=True)


def excel(number: str) -> float:
    return float(f"{float(number):.14e}")


@given(bodies)
def test_any_id_number_excel_kept_as_a_number_is_precision_lost(body: str) -> None:
    number = body + id_check(body)
    if number.endswith("X"):
        return
    assert lost_in_cell(excel(number))
    assert prepare({"证件号码": excel(number)})[PRECISION] is True


@given(st.integers(10**15, 10**18 - 1))
def test_an_integer_cell_of_more_than_15_significant_digits_is_precision_lost(n: int) -> None:
    assert lost_in_cell(n) == (len(str(n).rstrip("0")) > 15)


@given(bodies)
def test_an_id_number_typed_as_text_is_never_precision_lost(body: str) -> None:
    assert not lost_in_cell(body + id_check(body))


def test_scientific_notation_in_text_is_precision_lost_in_any_width() -> None:
    for value in ("3.50205E+17", "3.50205e17", "３.５０２０５Ｅ＋１７", " 3.50205199006075E+17 "):
        assert lost_in_cell(value), value


def test_a_numeric_id_cell_reads_as_its_digits() -> None:
    assert id_digits(3.50205199006075e17) == "350205199006075000"
    assert id_digits(10234567) == "10234567"
    assert id_digits(Decimal("12.5")) == Decimal("12.5")


def test_one_number_ending_000_in_a_file_is_believed() -> None:
    rows = [{"证件号码": "350205198001011000"}, {"证件号码": "350205199006075008"}]
    settle(rows)
    assert not any(PRECISION in r for r in rows)


def test_two_numbers_ending_000_in_a_file_are_both_doubted_and_only_they() -> None:
    rows = [{"证件号码": "350205198001011000"}, {"证件号码": 350205198001038000},
            {"证件号码": "350205199006075008"}]
    settle(rows)
    assert [PRECISION in r for r in rows] == [True, True, False]


def test_date_columns_name_serials_times_and_formulas() -> None:
    assert cell_problem("服务开始时间", 45413) == "DATE_IS_NUMBER"
    assert cell_problem("服务开始时间", "45413.375") == "DATE_IS_NUMBER"
    assert cell_problem("服务开始时间", time(9, 30)) == "TIME_ONLY"
    assert cell_problem("服务开始时间", "9:30") == "TIME_ONLY"
    assert cell_problem("服务时长(小时)", UNSAVED) == "FORMULA_NO_VALUE"


def test_real_dates_are_not_problems() -> None:
    for value in (datetime(2026, 5, 3, 9, 0), "2026-05-03 09:00", 20260503, "20260503", None):
        assert cell_problem("服务开始时间", value) is None, value
    assert cell_problem("服务时长(小时)", 2.5) is None


def test_a_problem_cell_is_emptied_and_named() -> None:
    cells = prepare({"出生日期": 33000, "注册日期": 20230105, "姓名": "陈美玲"})
    assert cells["出生日期"] is None and cells[PROBLEMS] == {"出生日期": "DATE_IS_NUMBER"}
    assert cells["注册日期"] == "20230105" and cells["姓名"] == "陈美玲"


def test_total_rows_are_told_apart_from_records() -> None:
    assert is_total({"姓名": "合计", "服务时长(小时)": 12})
    assert is_total({"姓名": None, "服务内容": "小 计："})
    assert not is_total({"姓名": "陈美玲", "服务内容": "合计发放物资"})


def test_placeholders_stand_for_nothing() -> None:
    assert all(placeholder(v) for v in ("-", "—", "/", "无", "n/a", " - "))
    assert not any(placeholder(v) for v in ("0912-345-678", "13800138000", None, 0))
