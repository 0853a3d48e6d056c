"""What people really send in sheet cells (local-sources.md §C "What people really send"),
told apart before the mapping reads the values.

- An ID number typed as a number: Excel keeps 15 significant digits. A numeric XLSX
  cell in 证件号码 with more than 15 significant digits, a value in scientific notation,
  and, in a file where two or more 18-digit numbers end in `000`, every 18-digit number
  ending in `000`, is PRECISION_LOST: the row is keyed by its file and row number and
  never sent. A numeric cell that kept its digits is read as its digits.
- A bare number where a date or time is expected (an Excel serial), a time-only cell, a
  formula without a saved value: the cell is emptied and its problem named, so the
  reason says exactly that, not "empty".
- A row that is a total (合计, 小计, 总计) is not a record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from mappings.normalize import nfkc, text

ID_HEADER = "证件号码"
DATE_HEADERS = ("出生日期", "注册日期", "服务开始时间", "服务结束时间", "记录时间")
PROBLEMS = "cell_problems"        # row data key: {header: catalogue code}
PRECISION = "precision_lost"      # row data key: True
_SCIENTIFIC = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?[eE][+-]?[0-9]+", re.ASCII)
_SERIAL = re.compile(r"[0-9]{1,6}(?:\.[0-9]+)?", re.ASCII)   # 8 digits is 20160808
_CLOCK = re.compile(r"[0-9]{1,2}[:：][0-9]{2}(?:[:：][0-9]{2})?", re.ASCII)
_TOTAL = re.compile(r"(?:合\s*计|小\s*计|总\s*计)[:：]?")
_PLACEHOLDERS = frozenset({"-", "--", "—", "——", "/", "无", "暂无", "N/A", "NA", "NULL",
                           "NONE", "X", "?", "？"})


class Unsaved:
    """A formula cell whose value was never saved (a file written by a program, not
    opened in Excel since)."""

    def __repr__(self) -> str:
        return "<formula without a saved value>"

    __str__ = __repr__


UNSAVED = Unsaved()


def significant_digits(value: int | float | Decimal) -> int:
    """The significant digits of a number as the cell stores it (trailing zeros of an
    integer are not significant)."""
    raw = repr(value) if isinstance(value, float) else str(value)
    try:
        digits = Decimal(raw).normalize().as_tuple().digits
    except InvalidOperation:
        return 0
    return len(digits)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def id_digits(value: object) -> object:
    """A numeric 证件号码 cell as its digits (`350205199006075000`); other values as given."""
    if not _is_number(value):
        return value
    assert isinstance(value, int | float | Decimal)
    try:
        exact = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        return value
    if not exact.is_finite() or exact != exact.to_integral_value() or exact < 0:
        return value
    return str(int(exact))


def lost_in_cell(value: object) -> bool:
    """A numeric cell of more than 15 significant digits, or a value in scientific
    notation: digits Excel has dropped. An XLSX number read as a float was stored with a
    point or an exponent (Excel writes an 18-digit number as `3.50205199006075E+17`), so
    a float of ID length is scientific notation too."""
    if isinstance(value, float):
        return abs(value) >= 1e15 or significant_digits(value) > 15
    if _is_number(value):
        assert isinstance(value, int | Decimal)
        return significant_digits(value) > 15
    s = text(value)
    return s is not None and _SCIENTIFIC.fullmatch("".join(nfkc(s).split())) is not None


def _zeros(value: object) -> bool:
    s = text(id_digits(value))
    flat = "".join(nfkc(s).split()) if s is not None else ""
    return len(flat) == 18 and flat.isascii() and flat.isdigit() and flat.endswith("000")


def cell_problem(header: str, value: object) -> str | None:
    """The catalogue code of a cell that cannot be read as what its column holds."""
    if value is UNSAVED:
        return "FORMULA_NO_VALUE"
    if header not in DATE_HEADERS:
        return None
    if isinstance(value, time):
        return "TIME_ONLY"
    if _is_number(value):
        return None if isinstance(value, int) and 19_000_101 <= value <= 21_001_231 \
            else "DATE_IS_NUMBER"
    s = text(value)
    if s is None or isinstance(value, datetime):
        return None
    flat = "".join(nfkc(s).split())
    if _SERIAL.fullmatch(flat):
        return "DATE_IS_NUMBER"
    return "TIME_ONLY" if _CLOCK.fullmatch(flat) else None


def prepare(cells: Mapping[str, Any]) -> dict[str, Any]:
    """A row's cells as the mapping reads them: problem cells emptied and named, a
    numeric date `20160808` as text, the ID number's precision judged."""
    out: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for header, value in cells.items():
        code = cell_problem(header, value)
        if code is not None:
            problems[header] = code
            out[header] = None
        elif header in DATE_HEADERS and isinstance(value, int) and not isinstance(value, bool):
            out[header] = str(value)
        else:
            out[header] = value
    raw = cells.get(ID_HEADER)
    if raw is not None and raw is not UNSAVED:
        if lost_in_cell(raw):
            out[PRECISION] = True
        out[ID_HEADER] = id_digits(raw)
    if problems:
        out[PROBLEMS] = problems
    return out


def settle(rows: Sequence[dict[str, Any]]) -> None:
    """In a file where two or more 18-digit numbers end in `000`, each of them lost its
    last digits: mark them (in place)."""
    zeros = [row for row in rows if _zeros(row.get(ID_HEADER))]
    if len(zeros) >= 2:
        for row in zeros:
            row[PRECISION] = True


def is_total(cells: Mapping[str, Any]) -> bool:
    """A 合计 / 小计 / 总计 row (a cell that says only that)."""
    for value in cells.values():
        s = text(value) if isinstance(value, str) else None
        if s is not None and _TOTAL.fullmatch(nfkc(s).strip()):
            return True
    return False


def placeholder(value: object) -> bool:
    """A cell that stands for "none" (`-`, `/`, 无, N/A…) rather than a value."""
    s = text(value) if isinstance(value, str) else None
    return s is not None and "".join(nfkc(s).split()).upper() in _PLACEHOLDERS
