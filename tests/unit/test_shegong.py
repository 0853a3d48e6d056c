"""The social-work agency mapping (local-sources.md §B): workers and service logs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import SourceRow
from bridge.errors import ConfigError
from mappings import get as get_mapping
from mappings.checks import gb11643_check
from mappings.normalize import apportion, hundredth_cap
from mappings.result import Deferred, MapContext, Mapped, Quarantined, Skipped
from mappings.shegong import map_row

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
CTX = MapContext(source="shegong", now=NOW, jurisdiction="3502", projects_from="haicang")


def id_no(body: str = "35020519900101123") -> str:
    return body + gb11643_check(body)


def worker(**kw: Any) -> dict[str, Any]:
    return {"workerId": "W1", "fullName": "林志贵", "idCard": id_no(), "gender": "M",
            "birthDate": "19900101", "nation": "汉族", "phone": "13800138000",
            "districtCode": "350205", "certificateNo": "S2019-35-00123",
            "registeredAt": "2024-03-01T01:00:00Z", "active": True,
            "updatedAt": "2026-06-01T00:00:00Z", **kw}


def log(**kw: Any) -> dict[str, Any]:
    return {"logId": "L1", "workerId": "W1", "activityCode": "7",
            "startTime": "2026-06-10T01:00:00Z", "endTime": "2026-06-10T03:00:00Z",
            "durationHours": "2.00", "summary": "入户探访独居老人", "approvedBy": "陈社工",
            "approvedAt": "2026-06-10T08:00:00Z", "voided": False,
            "updatedAt": "2026-06-10T08:00:00Z", **kw}


def vol(ctx: MapContext = CTX, **kw: Any) -> Any:
    return map_row(SourceRow("volunteer", "W1", "", worker(**kw)), ctx)


def rec(ctx: MapContext = CTX, **kw: Any) -> Any:
    return map_row(SourceRow("service_record", "L1", "", log(**kw)), ctx)


def codes(result: Any) -> set[tuple[str, str]]:
    assert isinstance(result, Quarantined), result
    return {(r.field, r.code) for r in result.reasons}


# --- workers ----------------------------------------------------------------------------

def test_mapping_is_registered_under_shegong() -> None:
    assert get_mapping("shegong").map_row(SourceRow("volunteer", "W1", "", worker()),
                                          CTX) == vol()


def test_worker_becomes_a_volunteer_with_a_01_identity() -> None:
    result = vol()
    assert isinstance(result, Mapped)
    assert result.base_ref == "shegong:volunteer:W1"
    assert dict(result.parts[0].payload) == {
        "name": "林志贵", "id_type": "01", "id_number": id_no(), "gender": "1",
        "birth_date": "1990-01-01", "nationality": "156", "ethnicity": "01",
        "mobile": "13800138000", "area_code": "350205000000000000",
        "registered_at": "2024-03-01T09:00:00+08:00", "status": "active"}


def test_certificate_number_is_not_sent() -> None:
    result = vol()
    assert isinstance(result, Mapped)
    assert "S2019-35-00123" not in str(result.parts[0].payload)


def test_inactive_worker_is_sent_inactive() -> None:
    result = vol(active=False)
    assert isinstance(result, Mapped) and result.parts[0].payload["status"] == "inactive"


@pytest.mark.parametrize(("prefix", "nationality"),
                         [("810000", "344"), ("820000", "446"), ("830000", "158")])
def test_residence_permit_prefix_gives_the_nationality(prefix: str, nationality: str) -> None:
    result = vol(idCard=id_no(prefix + "19900101123"), nation=None)
    assert isinstance(result, Mapped), result
    assert result.parts[0].payload["nationality"] == nationality


def test_gender_and_birth_date_come_from_the_number_with_a_warning() -> None:
    result = vol(gender="F", birthDate="19850505")
    assert isinstance(result, Mapped)
    assert result.parts[0].payload["gender"] == "1"
    assert result.parts[0].payload["birth_date"] == "1990-01-01"
    assert {(w.field, w.code) for w in result.warnings} == {("gender", "ID_MISMATCH"),
                                                            ("birth_date", "ID_MISMATCH")}


def test_id_number_with_a_wrong_check_digit_is_quarantined_without_the_number() -> None:
    bad = id_no()[:-1] + ("0" if id_no()[-1] != "0" else "1")
    result = vol(idCard=bad)
    assert ("id_number", "CHECKSUM_MISMATCH") in codes(result)
    assert bad not in str(result)


def test_lower_case_x_and_spaces_in_the_id_number_are_normalized() -> None:
    number = next(n for i in range(100) if (n := id_no(f"350205199001011{i:02d}")).endswith("X"))
    result = vol(idCard=" " + number[:6] + " " + number[6:].lower())
    assert isinstance(result, Mapped) and result.parts[0].payload["id_number"] == number


def test_nation_without_a_code_is_quarantined_for_a_mainland_worker() -> None:
    assert ("ethnicity", "INVALID_CODE") in codes(vol(nation="火星族"))


def test_nation_name_without_zu_maps_like_zhiyuanyun() -> None:
    result = vol(nation="畲")
    assert isinstance(result, Mapped) and result.parts[0].payload["ethnicity"] == "22"


def test_district_outside_the_jurisdiction_is_forbidden_region() -> None:
    assert ("area_code", "FORBIDDEN_REGION") in codes(vol(districtCode="350102"))


def test_missing_phone_and_name_are_required() -> None:
    assert {("mobile", "REQUIRED"), ("name", "REQUIRED")} <= codes(vol(phone="",
                                                                        fullName=None))


def test_registration_in_the_future_is_out_of_range() -> None:
    assert ("registered_at", "OUT_OF_RANGE") in codes(vol(registeredAt="2027-01-01T00:00:00Z"))


def test_missing_active_flag_is_required() -> None:
    assert ("status", "REQUIRED") in codes(vol(active=None))


def test_quarantine_messages_hold_no_personal_data() -> None:
    result = vol(idCard=id_no()[:-1] + "Y", phone="12345", fullName="林1贵")
    text = str(result)
    assert "12345" not in text and "林1贵" not in text and id_no()[:-1] not in text


# --- logs -------------------------------------------------------------------------------

def test_log_becomes_a_service_record_in_utc_plus_8() -> None:
    result = rec()
    assert isinstance(result, Mapped)
    assert dict(result.parts[0].payload) == {
        "volunteer_external_ref": "shegong:volunteer:W1",
        "project_external_ref": "haicang:project:7",
        "start_at": "2026-06-10T09:00:00+08:00", "end_at": "2026-06-10T11:00:00+08:00",
        "hours": 2.0, "content": "入户探访独居老人", "recorder": "陈社工",
        "recorded_at": "2026-06-10T16:00:00+08:00", "entry_method": "1"}


def test_project_ref_names_the_projects_from_source() -> None:
    ctx = MapContext(source="shegong", now=NOW, projects_from="xiamen")
    result = rec(ctx)
    assert isinstance(result, Mapped)
    assert result.parts[0].payload["project_external_ref"] == "xiamen:project:7"


def test_log_without_projects_from_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="projects_from"):
        rec(MapContext(source="shegong", now=NOW))


@pytest.mark.parametrize(("value", "hours"), [("1.999", 1.99), ("0.5", 0.5), (1.256, 1.25),
                                               ("２", 2.0)])
def test_duration_is_floored_to_two_decimals(value: Any, hours: float) -> None:
    result = rec(durationHours=value)
    assert isinstance(result, Mapped) and result.parts[0].payload["hours"] == hours


@pytest.mark.parametrize("value", ["0", "0.004", "-1"])
def test_duration_not_above_zero_is_out_of_range(value: str) -> None:
    assert ("hours", "OUT_OF_RANGE") in codes(rec(durationHours=value))


def test_duration_longer_than_the_span_is_out_of_range() -> None:
    assert ("hours", "OUT_OF_RANGE") in codes(rec(durationHours="2.01"))


def test_duration_that_is_not_a_number_is_invalid_format() -> None:
    assert ("hours", "INVALID_FORMAT") in codes(rec(durationHours="两小时"))


def test_voided_log_is_skipped_as_deleted() -> None:
    result = rec(voided=True)
    assert isinstance(result, Skipped) and result.why == "deleted"


def test_unapproved_log_waits_until_it_changes() -> None:
    result = rec(approvedAt=None, approvedBy=None)
    assert isinstance(result, Deferred) and result.until is None


def test_log_ending_in_the_future_waits_for_its_end() -> None:
    end = NOW + timedelta(hours=1)
    result = rec(startTime="2026-06-20T11:30:00Z", endTime="2026-06-20T13:00:00Z",
                 durationHours="1")
    assert isinstance(result, Deferred) and result.until == end


def test_approval_before_the_end_is_out_of_range() -> None:
    assert ("recorded_at", "OUT_OF_RANGE") in codes(rec(approvedAt="2026-06-10T02:00:00Z"))


def test_end_before_start_is_out_of_range() -> None:
    assert ("end_at", "OUT_OF_RANGE") in codes(rec(endTime="2026-06-10T00:30:00Z"))


def test_missing_summary_and_approver_are_required() -> None:
    assert {("content", "REQUIRED"), ("recorder", "REQUIRED")} <= codes(
        rec(summary="  ", approvedBy=""))


def test_missing_activity_code_is_required() -> None:
    assert ("project_external_ref", "REQUIRED") in codes(rec(activityCode=None))


def test_overnight_log_is_split_at_midnight_plus_8() -> None:
    # 22:00-01:30 +08:00 = 14:00-17:30Z; 3.5 h over 2 h and 1.5 h of span
    result = rec(startTime="2026-06-10T14:00:00Z", endTime="2026-06-10T17:30:00Z",
                 durationHours="3.5", approvedAt="2026-06-10T18:00:00Z")
    assert isinstance(result, Mapped)
    assert [(p.suffix, p.payload["start_at"], p.payload["end_at"], p.payload["hours"])
            for p in result.parts] == [
        (".d1", "2026-06-10T22:00:00+08:00", "2026-06-11T00:00:00+08:00", 2.0),
        (".d2", "2026-06-11T00:00:00+08:00", "2026-06-11T01:30:00+08:00", 1.5)]


def test_split_parts_add_up_to_the_logs_hours() -> None:
    result = rec(startTime="2026-06-10T15:00:00Z", endTime="2026-06-10T17:00:00Z",
                 durationHours="1.01", approvedAt="2026-06-10T18:00:00Z")
    assert isinstance(result, Mapped)
    assert round(sum(p.payload["hours"] for p in result.parts), 2) == 1.01


@given(st.integers(0, 10_000), st.lists(st.integers(1, 86_400), min_size=1, max_size=5))
def test_split_hours_divides_exactly_and_never_overfills_a_part(
        total: int, weights: list[int]) -> None:
    total = min(total, sum(weights) // 36)
    shares = apportion(total, weights, hundredth_cap)
    assert sum(shares) == total
    if sum(w // 36 for w in weights) >= total:   # a division that fits exists
        assert all(s * 36 <= w for s, w in zip(shares, weights, strict=True))


@given(st.integers(1, 2_000), st.integers(1, 48 * 60), st.integers(0, 23 * 60))
def test_every_mapped_log_stays_within_its_span_per_day(
        hundredths: int, span_min: int, start_min: int) -> None:
    start = datetime(2026, 6, 9, 16, 0, tzinfo=UTC) + timedelta(minutes=start_min)
    end = start + timedelta(minutes=span_min)
    result = rec(startTime=start.isoformat(), endTime=end.isoformat(),
                 durationHours=f"{hundredths / 100:.2f}",
                 approvedAt=(end + timedelta(minutes=1)).isoformat())
    if hundredths * 36 > span_min * 60:
        assert ("hours", "OUT_OF_RANGE") in codes(result)
        return
    assert isinstance(result, Mapped)
    total = 0
    for part in result.parts:
        a = datetime.fromisoformat(part.payload["start_at"])
        b = datetime.fromisoformat(part.payload["end_at"])
        assert part.payload["hours"] * 3600 <= (b - a).total_seconds() + 1e-6
        assert a.date() == (b - timedelta(seconds=1)).date()
        total += round(part.payload["hours"] * 100)
    assert total == hundredths


def test_unknown_entity_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        map_row(SourceRow("project", "1", "", {}), CTX)


def test_birth_date_makes_the_worker_too_old() -> None:
    old = id_no("35020518800101123")
    assert date(1880, 1, 1).year == 1880
    assert ("birth_date", "OUT_OF_RANGE") in codes(vol(idCard=old))
