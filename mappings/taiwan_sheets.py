"""The Taiwan teams' spreadsheet mapping (local-sources.md §C): one sheet row is a
volunteer and one service record, keyed by refs made from the person's certificate.

Sheets carry no row ids, and a name or an ID number must never show in a ref, even hashed
without a key, so the local ids are HMAC-SHA256 under the source's `ref_key` (first 16 hex
digits): of `id_type:id_number` for the volunteer, of `id_type:id_number:start` for the
record (`start` the service start as `YYYY-MM-DD HH:MM:SS` in UTC+08:00). The files
adapter computes them with `source_rows`, so that `ref(source, entity, local_id)` is the
spec's ref; a row whose person or start cannot be read gets a `row-` id keyed by its file
and row number instead, and is quarantined under it.

`map_row` is pure and total on cell values: every reason names the file and the row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from adapters.base import SourceRow
from bridge.errors import ConfigError
from mappings import codes, messages
from mappings.checks import Fields, age_problem, mobile_problem, name_problem
from mappings.fields import local_id, put_area, put_datetime, put_named_code, service_parts
from mappings.mask import redact
from mappings.normalize import (
    CST,
    id_number,
    mobile,
    multiline,
    nfkc,
    person_name,
    text,
    to_datetime,
)
from mappings.result import (
    Deferred,
    MapContext,
    Mapped,
    MapResult,
    Part,
    Quarantined,
    Reason,
    ref,
)
from mappings.sheetcells import PRECISION, PROBLEMS, placeholder
from mappings.zhiyuanyun import identity

Row = Mapping[str, Any]
HOURS = "服务时长(小时)"
HEADERS: tuple[str, ...] = (
    "姓名", "性别", "证件类型", "证件号码", "出生日期", "民族", "手机", "服务区域", "注册日期",
    "活动编号", "服务开始时间", "服务结束时间", HOURS, "服务内容", "记录人", "记录时间")
_ALIASES = {"证件号": "证件号码", "出生年月日": "出生日期", "手机号": "手机", "手机号码": "手机",
            "服务时长": HOURS, "时长(小时)": HOURS, "服务时长(h)": HOURS}
_CANONICAL = {**{h: h for h in HEADERS}, **_ALIASES}
# a row with none of these is not a record (a blank line, a 合计 line)
_IDENTIFYING = ("姓名", "证件号码", "服务开始时间", "服务结束时间")
_ZYY_COLUMNS = {"cert_type": "证件类型", "cert_no": "证件号码", "sex": "性别",
                "birthday": "出生日期"}
_ZYY_WORDS = re.compile(r"\b(" + "|".join(_ZYY_COLUMNS) + r")\b", re.ASCII)
_REF_CHARS = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)
ENTITIES = ("volunteer", "service_record")
# the sheet column a national field comes from (receipts, reasons of problem cells)
FIELD_HEADERS: dict[str, str] = {
    "name": "姓名", "gender": "性别", "id_type": "证件类型", "id_number": "证件号码",
    "nationality": "证件类型", "birth_date": "出生日期", "ethnicity": "民族", "mobile": "手机",
    "area_code": "服务区域", "registered_at": "注册日期", "project_external_ref": "活动编号",
    "volunteer_external_ref": "证件号码", "start_at": "服务开始时间", "end_at": "服务结束时间",
    "hours": HOURS, "content": "服务内容", "recorder": "记录人", "recorded_at": "记录时间"}
_HEADER_FIELDS: dict[str, tuple[str, ...]] = {}
for _field, _header in FIELD_HEADERS.items():
    _HEADER_FIELDS[_header] = (*_HEADER_FIELDS.get(_header, ()), _field)
_ENTITY_FIELDS = {
    "volunteer": frozenset({"name", "gender", "id_type", "id_number", "nationality",
                            "birth_date", "ethnicity", "mobile", "area_code",
                            "registered_at"}),
    "service_record": frozenset({"volunteer_external_ref", "project_external_ref", "start_at",
                                 "end_at", "hours", "content", "recorder", "recorded_at"})}
_IDENTITY_FIELDS = frozenset({"id_number", "id_type", "gender", "birth_date", "nationality",
                              "volunteer_external_ref"})


# --- headers and refs (used by the files adapter) -------------------------------------

def header_name(cell: object) -> str | None:
    """The spec's header a header cell stands for (full-width, spaces and a leading or
    trailing `*` forgiven), or None."""
    s = text(cell)
    if s is None:
        return None
    return _CANONICAL.get("".join(nfkc(s).split()).strip("*※"))


def is_blank(cells: Row) -> bool:
    """Whether a row holds nothing that could identify a record."""
    return all(text(cells.get(h)) is None for h in _IDENTIFYING)


def digest16(key: bytes, message: str) -> str:
    """The first 16 lower-case hex digits of HMAC-SHA256(key, message as UTF-8)."""
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def person(cells: Row) -> tuple[str, str] | None:
    """(national id_type, normalized id_number) as the mapping sends them, or None when
    证件类型 or 证件号码 gives none."""
    number = id_number(cells.get("证件号码"))
    if number is None:
        return None
    f = Fields()
    identity(_zyy(cells), f)
    id_type = f.payload.get("id_type")
    return None if id_type is None else (str(id_type), number)


def start_stamp(cells: Row) -> str | None:
    """服务开始时间 as `YYYY-MM-DD HH:MM:SS` in UTC+08:00, or None when unreadable."""
    try:
        start = to_datetime(cells.get("服务开始时间"))
    except ValueError:
        return None
    return None if start is None else start.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def volunteer_id(key: bytes, who: tuple[str, str]) -> str:
    return digest16(key, f"{who[0]}:{who[1]}")


def record_id(key: bytes, who: tuple[str, str], start: str) -> str:
    return digest16(key, f"{who[0]}:{who[1]}:{start}")


def row_id(key: bytes, file: str, sheet: str | None, row: int) -> str:
    """The id of a row whose person or start cannot be read: its place, keyed."""
    return "row-" + digest16(key, f"row:{file}:{sheet or ''}:{row}")


@dataclass(frozen=True)
class Where:
    """A row's place: the file's name, the worksheet (XLSX), the row number as a
    spreadsheet shows it."""

    file: str
    row: int
    sheet: str | None = None

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "row": self.row}
        if self.sheet is not None:
            out["sheet"] = self.sheet
        return out


def source_rows(cells: Row | None, where: Where, modified: str,
                key: bytes) -> tuple[SourceRow, SourceRow]:
    """The volunteer and the service record of one sheet row; `cells` None is a row that
    could not be decoded."""
    fallback = row_id(key, where.file, where.sheet, where.row)
    if cells is None:
        data = {**where.data(), "undecodable": True}
        return (SourceRow("volunteer", fallback, modified, data),
                SourceRow("service_record", fallback, modified, data))
    data = {**where.data(), **cells}
    who = None if cells.get(PRECISION) else person(cells)
    start = start_stamp(cells)
    vol = fallback if who is None else volunteer_id(key, who)
    rec = fallback if who is None or start is None else record_id(key, who, start)
    return (SourceRow("volunteer", vol, modified, data),
            SourceRow("service_record", rec, modified, data))


# --- the volunteer --------------------------------------------------------------------

def _zyy(cells: Row) -> dict[str, Any]:
    """The identity cells under the 志愿云 column names `identity` reads."""
    return {zyy: cells.get(sheet) for zyy, sheet in _ZYY_COLUMNS.items()}


def sheet_mobile(value: object) -> str | None:
    """A mobile as `mobile` normalizes it; a Taiwan mobile whose leading 0 a spreadsheet
    dropped (`912345678`, stored as a number) gets it back."""
    s = text(value)
    if s is not None and re.fullmatch(r"9[0-9]{8}", nfkc(s), re.ASCII):
        s = "0" + nfkc(s)
    return mobile(s)


def _volunteer(cells: Row, ctx: MapContext, f: Fields) -> None:
    today = ctx.now.astimezone(CST).date()
    f.string("name", person_name(cells.get("姓名")), 1, 20, required=True, source="姓名",
             rule=name_problem)
    who = identity(_zyy(cells), f)
    if who.birth_date is not None and (problem := age_problem(who.birth_date, today)):
        f.refuse("birth_date", *problem)
    put_named_code(f, "ethnicity", cells.get("民族"), codes.ethnicity, "民族",
                   required=who.nationality == "156")
    if placeholder(cells.get("手机")):
        f.refuse("mobile", "REQUIRED", messages.text("MOBILE_PLACEHOLDER"))
    else:
        f.string("mobile", sheet_mobile(cells.get("手机")), 1, 20, required=True,
                 source="手机", rule=mobile_problem)
    put_area(f, cells.get("服务区域"), "服务区域", ctx.jurisdiction)
    put_datetime(f, "registered_at", cells.get("注册日期"), "注册日期", required=True,
                 now=ctx.now)
    f.put("status", "active")


# --- the service record ---------------------------------------------------------------

def hundredths(value: object) -> int | None:
    """服务时长(小时) in whole hundredths of an hour, floored; None when absent, ValueError
    when not a number. The value is first rounded to 9 decimals, so a spreadsheet
    formula's 2.9999999999999996 counts as the 3 it shows."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int | float | Decimal):
        raw = repr(value) if isinstance(value, float) else str(value)
    else:
        s = text(value)
        if s is None:
            return None
        raw = re.sub(r"(?:小时|h|H)$", "", "".join(nfkc(s).split()))
        if not re.fullmatch(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", raw, re.ASCII):
            raise ValueError("not a number")
    try:
        amount = Decimal(raw).quantize(Decimal("1e-9"), ROUND_HALF_EVEN)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not amount.is_finite() or abs(amount) > 10**6:
        raise ValueError("not a number of hours")
    return int((amount * 100).to_integral_value(ROUND_FLOOR))


def _hours(f: Fields, value: object) -> int | None:
    try:
        amount = hundredths(value)
    except ValueError:
        f.refuse("hours", "INVALID_FORMAT", f"{HOURS} is not a number")
        return None
    if amount is None:
        f.missing("hours", HOURS, required=True)
        return None
    if amount <= 0:
        f.refuse("hours", "OUT_OF_RANGE", f"{HOURS} is not more than 0 (after flooring to "
                                          "two decimals)")
        return None
    return amount


def _project(f: Fields, value: object, projects_from: str) -> None:
    activity = local_id(value)
    if activity is None:
        f.missing("project_external_ref", "活动编号", required=True)
    elif not _REF_CHARS.fullmatch(activity):
        f.refuse("project_external_ref", "INVALID_FORMAT",
                 "活动编号 is not 1-64 letters, digits or _ . : -")
    else:
        f.put("project_external_ref", ref(projects_from, "project", activity))


def _service_record(cells: Row, ctx: MapContext, key: bytes, f: Fields) -> tuple[Part, ...]:
    if ctx.projects_from is None:
        raise ConfigError(f"source {ctx.source}: the taiwan_sheets mapping needs "
                          "projects_from (the source whose projects 活动编号 names)")
    who = person(cells)
    if who is None:
        f.refuse("volunteer_external_ref", "REQUIRED",
                 "证件类型 and 证件号码 do not identify the volunteer")
    else:
        f.put("volunteer_external_ref", ref(ctx.source, "volunteer", volunteer_id(key, who)))
    _project(f, cells.get("活动编号"), ctx.projects_from)
    start = put_datetime(f, "start_at", cells.get("服务开始时间"), "服务开始时间", required=True)
    end = put_datetime(f, "end_at", cells.get("服务结束时间"), "服务结束时间", required=True,
                       now=ctx.now)
    total = _hours(f, cells.get(HOURS))
    f.string("content", multiline(cells.get("服务内容")), 1, 500, required=True,
             source="服务内容", multiline=True)
    f.string("recorder", text(cells.get("记录人")), 1, 20, required=True, source="记录人")
    recorded = put_datetime(f, "recorded_at", cells.get("记录时间"), "记录时间",
                            required=True, now=ctx.now)
    if recorded is not None and end is not None and recorded < end:
        f.refuse("recorded_at", "OUT_OF_RANGE", "记录时间 is before 服务结束时间")
    f.put("entry_method", "1")
    return service_parts(f, _local(start), _local(end), total, unit="hundredths")


def _ends_later(cells: Row, ctx: MapContext) -> datetime | None:
    """The end time when it is still in the future (the record waits for it)."""
    try:
        end = to_datetime(cells.get("服务结束时间"))
    except ValueError:
        return None
    return end if end is not None and end > ctx.now else None


# --- the entry point ------------------------------------------------------------------

def place(data: Row) -> str:
    """`file row n` (or `file [sheet] row n`), digit runs that look like an ID number or
    a phone masked."""
    sheet = text(data.get("sheet"))
    inside = f" [{sheet}]" if sheet else ""
    return redact(f"{text(data.get('file')) or '?'}{inside} row {data.get('row', '?')}")


def _located(where: str, reasons: list[Reason]) -> tuple[Reason, ...]:
    """The reasons with the row's place in front and 志愿云 column names in sheet terms."""
    return tuple(Reason(r.field, r.code, f"{where}: {_ZYY_WORDS.sub(_sheet_word, r.message)}")
                 for r in reasons)


def _sheet_word(match: re.Match[str]) -> str:
    return _ZYY_COLUMNS[match[1]]


def map_row(row: SourceRow, ctx: MapContext) -> MapResult:
    """One sheet row's volunteer or service record → its national record(s), or why not.
    Never raises on cell data; a missing `ref_key` or `projects_from`, or an entity this
    mapping does not know, is a ConfigError."""
    if ctx.ref_key is None:
        raise ConfigError(f"source {ctx.source}: the taiwan_sheets mapping needs ref_key")
    if row.entity not in ENTITIES:
        raise ConfigError(f"the taiwan_sheets mapping has no entity {row.entity!r}")
    base = ref(ctx.source, row.entity, row.local_id)
    data: Row = row.data if isinstance(row.data, Mapping) else {}
    where = place(data)
    f = Fields()
    if data.get("undecodable"):
        f.refuse("", "INVALID_FORMAT", "the row is neither UTF-8 nor GB18030 text")
        parts: tuple[Part, ...] = ()
    elif row.entity == "volunteer":
        _volunteer(data, ctx, f)
        parts = (Part("", f.payload),)
    else:
        until = _ends_later(data, ctx)
        if until is not None:
            return Deferred(row.entity, row.local_id, base, until,
                            f"{where}: 服务结束时间 is in the future")
        parts = _service_record(data, ctx, ctx.ref_key, f)
    reasons = _sheet_reasons(data, row.entity, f.reasons)
    warnings = _located(where, f.warnings)
    if reasons:
        return Quarantined(row.entity, row.local_id, base, _located(where, reasons), warnings)
    return Mapped(row.entity, row.local_id, base, parts, warnings)


def _sheet_reasons(data: Row, entity: str, reasons: list[Reason]) -> list[Reason]:
    """The reasons with what the cells themselves say first: PRECISION_LOST for the ID
    number, a cell's problem (a bare number, a time-only cell, a formula without a value)
    in place of the "empty" or "not a date" its emptied cell would give."""
    problems = data.get(PROBLEMS)
    cells = problems if isinstance(problems, Mapping) else {}
    mine = _ENTITY_FIELDS[entity]
    cells = {h: p for h, p in cells.items()
             if any(f in mine for f in _HEADER_FIELDS.get(str(h), ()))}
    replaced = {f for header in cells for f in _HEADER_FIELDS.get(str(header), ())}
    own: list[Reason] = []
    if data.get(PRECISION):
        replaced |= _IDENTITY_FIELDS
        own.append(Reason("id_number", "PRECISION_LOST", messages.text("PRECISION_LOST")))
    code_of = {"FORMULA_NO_VALUE": "REQUIRED"}
    for header, problem in cells.items():
        name = next(f for f in _HEADER_FIELDS[str(header)] if f in mine)
        own.append(Reason(name, code_of.get(str(problem), "INVALID_FORMAT"),
                          f"{header}：{messages.text(str(problem))}"))
    return own + [r for r in reasons if r.field not in replaced] if own else list(reasons)


def _local(moment: datetime | None) -> datetime | None:
    """Days are counted in UTC+08:00 (a record splits at the local midnight)."""
    return moment.astimezone(CST) if moment is not None else None
