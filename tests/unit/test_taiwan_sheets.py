"""The Taiwan sheets mapping (local-sources.md §C): refs, the volunteer, the record."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mappings
from adapters.base import SourceRow
from bridge.errors import ConfigError
from mappings.normalize import apportion, hundredth_cap
from mappings.result import Deferred, MapContext, Mapped, MapResult, Quarantined
from mappings.taiwan_sheets import (
    HEADERS,
    Where,
    digest16,
    header_name,
    hundredths,
    map_row,
    person,
    source_rows,
)
from tests.fixtures.sheets import residence_id, sheet_row

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 6, 20, 12, 0, tzinfo=CST)
KEY = b"test-ref-key"
CTX = MapContext(source="taibao", now=NOW, jurisdiction="3502", projects_from="haicang",
                 ref_key=KEY)
WHERE = Where("taibao-2026-05.csv", 7)


def rows(**over: Any) -> tuple[SourceRow, SourceRow]:
    start = over.pop("start", "2026-05-03 09:00:00")
    end = over.pop("end", "2026-05-03 11:30:00")
    return source_rows(sheet_row(start, end, **over), WHERE, "2026-06-01T00:00:00+00:00", KEY)


def volunteer(**over: Any) -> MapResult:
    return map_row(rows(**over)[0], CTX)


def record(**over: Any) -> MapResult:
    return map_row(rows(**over)[1], CTX)


def payload(result: MapResult, part: int = 0) -> dict[str, Any]:
    assert isinstance(result, Mapped), result
    return dict(result.parts[part].payload)


def codes(result: MapResult) -> set[tuple[str, str]]:
    assert isinstance(result, Quarantined), result
    return {(r.field, r.code) for r in result.reasons}


def spec_hmac(message: str) -> str:
    return hmac.new(KEY, message.encode(), hashlib.sha256).hexdigest()[:16]


# --- refs -----------------------------------------------------------------------------

def test_volunteer_ref_is_the_keyed_hash_of_type_and_number() -> None:
    vol, _ = rows()
    assert vol.local_id == spec_hmac("04:10234567")
    assert map_row(vol, CTX).base_ref == f"taibao:volunteer:{spec_hmac('04:10234567')}"


def test_record_ref_adds_the_start_in_local_time() -> None:
    _, rec = rows(start="2026/5/3 9:00", end="2026/5/3 11:30")
    assert rec.local_id == spec_hmac("04:10234567:2026-05-03 09:00:00")


def test_the_ref_uses_the_normalized_number() -> None:
    plain = rows(证件类型="居住证", 证件号码=residence_id())[0].local_id
    messy = rows(证件类型="居住证", 证件号码=" " + residence_id().replace("0", "０"))[0].local_id
    assert plain == messy == spec_hmac(f"01:{residence_id()}")


def test_a_row_without_a_readable_person_gets_a_row_id() -> None:
    vol, rec = rows(证件号码="")
    assert vol.local_id == rec.local_id and vol.local_id.startswith("row-")


def test_a_row_without_a_readable_start_gets_a_row_id_for_its_record_only() -> None:
    vol, rec = rows(start="someday")
    assert not vol.local_id.startswith("row-") and rec.local_id.startswith("row-")


@settings(max_examples=200, deadline=None)
@given(number=st.from_regex(r"[0-9]{8}", fullmatch=True), key=st.binary(min_size=1))
def test_refs_are_stable_and_never_hold_the_number(number: str, key: bytes) -> None:
    cells = sheet_row(证件号码=number)
    first = source_rows(cells, WHERE, "m", key)
    again = source_rows(dict(cells), Where("other.csv", 99), "n", key)
    assert [r.local_id for r in first] == [r.local_id for r in again]
    for row in first:
        assert number not in row.local_id and "陈美玲" not in row.local_id
        assert len(row.local_id) == 16


def test_digest16_is_lower_case_hex_of_hmac_sha256() -> None:
    assert digest16(b"k", "04:12345678") == hmac.new(
        b"k", b"04:12345678", hashlib.sha256).hexdigest()[:16]


def test_person_is_the_national_type_and_number() -> None:
    assert person(sheet_row()) == ("04", "10234567")
    assert person(sheet_row(证件类型="居住证", 证件号码=residence_id())) == ("01", residence_id())
    assert person(sheet_row(证件类型="军官证")) is None


# --- the volunteer --------------------------------------------------------------------

def test_a_taiwan_compatriot_permit_is_04_with_nationality_158() -> None:
    got = payload(volunteer())
    assert (got["id_type"], got["id_number"], got["nationality"]) == ("04", "10234567", "158")
    assert (got["gender"], got["birth_date"]) == ("2", "1990-03-05")


def test_a_residence_permit_is_01_and_the_number_gives_gender_and_birth() -> None:
    got = payload(volunteer(证件类型="居住证", 证件号码=residence_id("19851111", "131"),
                            性别="", 出生日期=""))
    assert (got["id_type"], got["nationality"]) == ("01", "158")
    assert (got["gender"], got["birth_date"]) == ("1", "1985-11-11")


def test_volunteer_fields_are_normalized() -> None:
    got = payload(volunteer(姓名="陈 美玲", 手机="0912-345-678", 服务区域="350205",
                            注册日期="2023/1/5"))
    assert got == got | {"name": "陈美玲", "mobile": "+886912345678",
                         "area_code": "350205000000000000",
                         "registered_at": "2023-01-05T00:00:00+08:00", "status": "active"}


def test_a_mobile_stored_as_a_number_gets_its_leading_zero_back() -> None:
    assert payload(volunteer(手机=912345678))["mobile"] == "+886912345678"


def test_ethnicity_is_optional_for_taiwan_and_sent_when_known() -> None:
    assert "ethnicity" not in payload(volunteer(民族=""))
    assert payload(volunteer(民族="高山族"))["ethnicity"] == "23"


def test_a_bad_volunteer_is_quarantined_with_every_reason() -> None:
    got = codes(volunteer(姓名="", 手机="12345", 服务区域="350102"))
    assert got == {("name", "REQUIRED"), ("mobile", "INVALID_FORMAT"),
                   ("area_code", "FORBIDDEN_REGION")}


def test_reasons_name_the_file_and_row_in_sheet_terms_never_the_number() -> None:
    result = volunteer(证件类型="居住证", 证件号码=residence_id()[:-1] + "0")
    assert isinstance(result, Quarantined)
    (reason,) = result.reasons
    assert reason.message.startswith("taibao-2026-05.csv row 7: ")
    assert residence_id()[:-1] not in reason.message and "陈美玲" not in reason.message


def test_identity_messages_use_the_sheet_headers() -> None:
    result = volunteer(证件类型="")
    assert isinstance(result, Quarantined)
    assert any("证件类型 is empty" in r.message for r in result.reasons)


# --- the service record ---------------------------------------------------------------

def test_record_refers_to_its_volunteer_and_the_projects_source() -> None:
    vol, rec = rows(活动编号="1023")
    got = payload(map_row(rec, CTX))
    assert got["volunteer_external_ref"] == f"taibao:volunteer:{vol.local_id}"
    assert got["project_external_ref"] == "haicang:project:1023"


def test_record_fields() -> None:
    got = payload(record())
    assert got == {"volunteer_external_ref": got["volunteer_external_ref"],
                   "project_external_ref": "haicang:project:1",
                   "start_at": "2026-05-03T09:00:00+08:00", "end_at": "2026-05-03T11:30:00+08:00",
                   "hours": 2.5, "content": "两岸青年社区环保宣传", "recorder": "王老师",
                   "recorded_at": "2026-05-03T13:30:00+08:00", "entry_method": "1"}


@pytest.mark.parametrize(("cell", "hours"), [
    ("2.567", 2.56), ("1.999", 1.99), (2.4999999999999996, 2.5), ("２.５小时", 2.5), (2, 2.0),
    (Decimal("0.83"), 0.83)])
def test_hours_are_floored_to_two_decimals(cell: object, hours: float) -> None:
    got = payload(record(end="2026-05-03 12:00:00", **{"服务时长(小时)": cell}))
    assert got["hours"] == hours


@pytest.mark.parametrize("cell", ["0", "-1", "0.004"])
def test_hours_not_above_zero_are_quarantined(cell: str) -> None:
    assert codes(record(**{"服务时长(小时)": cell})) == {("hours", "OUT_OF_RANGE")}


def test_more_hours_than_the_span_are_quarantined() -> None:
    assert codes(record(**{"服务时长(小时)": "2.51"})) == {("hours", "OUT_OF_RANGE")}


def test_hours_that_are_not_a_number_are_quarantined() -> None:
    assert codes(record(**{"服务时长(小时)": "两个半"})) == {("hours", "INVALID_FORMAT")}


def test_an_overnight_record_is_split_at_midnight() -> None:
    result = record(start="2026-05-03 22:00:00", end="2026-05-04 02:00:00",
                    **{"服务时长(小时)": "4"})
    assert isinstance(result, Mapped)
    assert [(p.suffix, p.payload["start_at"], p.payload["end_at"], p.payload["hours"])
            for p in result.parts] == [
        (".d1", "2026-05-03T22:00:00+08:00", "2026-05-04T00:00:00+08:00", 2.0),
        (".d2", "2026-05-04T00:00:00+08:00", "2026-05-04T02:00:00+08:00", 2.0)]


def test_split_hours_go_by_largest_remainder() -> None:
    result = record(start="2026-05-03 23:00:00", end="2026-05-04 02:00:00",
                    **{"服务时长(小时)": "2.5"})
    assert isinstance(result, Mapped)
    assert [p.payload["hours"] for p in result.parts] == [0.83, 1.67]


def test_an_end_not_after_the_start_is_quarantined() -> None:
    assert ("end_at", "OUT_OF_RANGE") in codes(record(end="2026-05-03 09:00:00"))


def test_a_record_ending_in_the_future_waits_for_its_end() -> None:
    result = record(start="2026-06-20 11:00:00", end="2026-06-20 14:00:00")
    assert isinstance(result, Deferred)
    assert result.until == datetime(2026, 6, 20, 14, tzinfo=CST)


def test_a_record_whose_person_is_unreadable_is_quarantined() -> None:
    assert ("volunteer_external_ref", "REQUIRED") in codes(record(证件号码=""))


def test_an_activity_id_outside_the_ref_alphabet_is_quarantined() -> None:
    assert codes(record(活动编号="五月活动")) == {("project_external_ref", "INVALID_FORMAT")}


def test_required_record_fields_are_quarantined_when_empty() -> None:
    assert codes(record(服务内容="", 记录人=" ", 记录时间="")) == {
        ("content", "REQUIRED"), ("recorder", "REQUIRED"), ("recorded_at", "REQUIRED")}


def test_an_undecodable_row_is_quarantined_with_its_place() -> None:
    vol, rec = source_rows(None, WHERE, "m", KEY)
    for row in (vol, rec):
        result = map_row(row, CTX)
        assert isinstance(result, Quarantined)
        assert result.reasons[0].message.startswith("taibao-2026-05.csv row 7: ")


# --- configuration --------------------------------------------------------------------

def test_a_missing_ref_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ref_key"):
        map_row(rows()[0], MapContext(source="taibao", now=NOW, projects_from="haicang"))


def test_a_missing_projects_from_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="projects_from"):
        map_row(rows()[1], MapContext(source="taibao", now=NOW, ref_key=KEY))


def test_an_unknown_entity_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        map_row(SourceRow("project", "1", "m", {}), CTX)


def test_the_registry_knows_the_mapping() -> None:
    assert mappings.get("taiwan_sheets").map_row(rows()[0], CTX).entity == "volunteer"


# --- helpers --------------------------------------------------------------------------

@pytest.mark.parametrize(("cell", "name"), [
    ("证件号码", "证件号码"), (" *手机号 ", "手机"), ("服务时长（小时）", "服务时长(小时)"),
    ("服务 开始 时间", "服务开始时间"), ("备注", None), (None, None)])
def test_header_names(cell: object, name: str | None) -> None:
    assert header_name(cell) == name


def test_every_spec_header_is_its_own_name() -> None:
    assert [header_name(h) for h in HEADERS] == list(HEADERS)


@pytest.mark.parametrize(("cell", "want"), [
    ("2.5", 250), (" 3 ", 300), ("0.999", 99), (2.9999999999999996, 300), ("", None),
    (None, None)])
def test_hundredths(cell: object, want: int | None) -> None:
    assert hundredths(cell) == want


@pytest.mark.parametrize("cell", ["abc", True, "1e400", float("nan")])
def test_hundredths_refuses_what_is_not_a_number(cell: object) -> None:
    with pytest.raises(ValueError):
        hundredths(cell)


@given(total=st.integers(1, 5000), weights=st.lists(st.integers(1, 86400), min_size=1,
                                                    max_size=4))
def test_hundredths_are_divided_within_each_span(total: int, weights: list[int]) -> None:
    shares = apportion(total, weights, hundredth_cap)
    assert sum(shares) == total
    if total <= sum(w // 36 for w in weights):
        assert all(s * 36 <= w for s, w in zip(shares, weights, strict=True))


CELL_VALUES = st.one_of(
    st.none(), st.text(max_size=30), st.integers(-10**20, 10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.dates(), st.decimals(allow_nan=False, allow_infinity=False, places=3))


@settings(max_examples=300, deadline=None)
@given(cells=st.fixed_dictionaries({}, optional={h: CELL_VALUES for h in HEADERS}),
       undecodable=st.booleans())
def test_the_mapping_never_raises_on_cell_data(cells: dict[str, Any],
                                               undecodable: bool) -> None:
    for row in source_rows(None if undecodable else cells, WHERE, "m", KEY):
        result = map_row(row, CTX)
        assert result.entity == row.entity and result.local_id == row.local_id


@settings(max_examples=100, deadline=None)
@given(start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2026, 5, 1)),
       minutes=st.integers(1, 60 * 72), share=st.floats(0.01, 1.0))
def test_mapped_parts_are_one_day_each_and_add_up(start: datetime, minutes: int,
                                                  share: float) -> None:
    end = start + timedelta(minutes=minutes)
    total = f"{minutes / 60 * share:.2f}"
    result = record(start=start.strftime("%Y-%m-%d %H:%M:%S"),
                    end=end.strftime("%Y-%m-%d %H:%M:%S"), **{"服务时长(小时)": total})
    if isinstance(result, Mapped):
        parts = [p.payload for p in result.parts]
        assert round(sum(p["hours"] for p in parts), 2) == float(total)
        for p in parts:
            a, b = datetime.fromisoformat(p["start_at"]), datetime.fromisoformat(p["end_at"])
            assert (b - timedelta(seconds=1)).date() == a.date()
            assert p["hours"] * 3600 <= (b - a).total_seconds() + 1e-6
    else:
        assert isinstance(result, Quarantined)


def test_birth_dates_come_back_as_dates() -> None:
    assert date.fromisoformat(payload(volunteer())["birth_date"]) == date(1990, 3, 5)
