from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mappings
from adapters.base import SourceRow
from bridge.errors import ConfigError
from mappings.checks import gb11643_check
from mappings.result import Deferred, MapContext, Mapped, MapResult, Quarantined, Skipped
from mappings.zhiyuanyun import map_row

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 6, 20, 12, 0, tzinfo=CST)
CTX = MapContext(source="haicang", now=NOW)


def mainland(body: str) -> str:
    return body + gb11643_check(body)


ID_F = mainland("35020519900101122")    # a woman born 1990-01-01
ID_M = mainland("35020519850505123")    # a man born 1985-05-05


def team(**over: Any) -> dict[str, Any]:
    row = {"team_id": 3, "team_name": "海沧区青年志愿者协会", "team_kind": "志愿服务队",
           "credit_code": None, "parent_team_id": None, "area_code": "350205",
           "address": "海沧街道", "service_types": "环保、社区服务", "linkman": "王老师",
           "link_phone": "0592-6051234", "found_date": "2016/8/8", "state": 1,
           "gmt_modified": "2026-06-01 10:00:00"}
    return row | over


def volunteer(**over: Any) -> dict[str, Any]:
    row = {"vol_id": 1001, "real_name": "林志贵", "sex": "女", "cert_type": "身份证",
           "cert_no": ID_F, "birthday": "1990-01-01", "nation": "汉族", "politics": "团员",
           "edu": "本科", "mobile": "13800000000", "email": "lin@example.cn",
           "area_code": "350205001", "skills": "急救、摄影", "vol_kind": "义工",
           "reg_time": "2016-08-08 09:00:00", "is_cancel": 0, "memberships": [],
           "gmt_modified": "2026-06-01 10:00:00"}
    return row | over


def activity(**over: Any) -> dict[str, Any]:
    row = {"act_id": 77, "team_id": 3, "title": "海沧湾净滩", "service_type": "环保",
           "area_code": "350205", "address": "海沧湾公园", "begin_time": "2026-06-01 08:00",
           "end_time": "2026-06-30 18:00", "plan_num": 30, "intro": "清理海滩垃圾\r\n分类回收",
           "linkman": "王老师", "link_phone": "13900000000", "status": 4,
           "gmt_modified": "2026-06-01 10:00:00"}
    return row | over


def record(**over: Any) -> dict[str, Any]:
    row = {"rec_id": 9, "act_id": 77, "vol_id": 1001, "begin_time": "2026-06-10 09:00:00",
           "end_time": "2026-06-10 11:00:00", "service_minutes": 120, "content": "净滩",
           "recorder": "王老师", "record_time": "2026-06-11 08:00:00", "record_way": 1,
           "audit_state": 1, "is_del": 0, "gmt_modified": "2026-06-10 12:00:00"}
    return row | over


def run(entity: str, data: dict[str, Any], ctx: MapContext = CTX) -> MapResult:
    return map_row(SourceRow(entity, "1", "2026-06-01 10:00:00", data), ctx)


def mapped(entity: str, data: dict[str, Any], ctx: MapContext = CTX) -> Mapped:
    result = run(entity, data, ctx)
    assert isinstance(result, Mapped), result
    return result


def payload(entity: str, data: dict[str, Any], ctx: MapContext = CTX) -> dict[str, Any]:
    parts = mapped(entity, data, ctx).parts
    assert [p.suffix for p in parts] == [""]
    return dict(parts[0].payload)


def refusals(entity: str, data: dict[str, Any], ctx: MapContext = CTX) -> set[tuple[str, str]]:
    result = run(entity, data, ctx)
    assert isinstance(result, Quarantined), result
    return {(r.field, r.code) for r in result.reasons}


def warned(result: MapResult) -> set[tuple[str, str]]:
    assert isinstance(result, Mapped | Quarantined)
    return {(w.field, w.code) for w in result.warnings}


# --- registry -------------------------------------------------------------------------

def test_the_registry_finds_zhiyuanyun() -> None:
    mapping = mappings.get("zhiyuanyun")
    assert isinstance(mapping.map_row(SourceRow("organization", "3", "", team()), CTX), Mapped)


def test_an_unknown_mapping_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        mappings.get("nope")


def test_an_unknown_entity_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        run("membership", {})


def test_the_base_ref_is_source_entity_and_local_id() -> None:
    result = map_row(SourceRow("volunteer", "1001", "", volunteer()), CTX)
    assert result.base_ref == "haicang:volunteer:1001"


# --- organization ---------------------------------------------------------------------

def test_a_team_maps_to_an_organization() -> None:
    assert payload("organization", team(parent_team_id=1)) == {
        "name": "海沧区青年志愿者协会", "org_type": "1",
        "parent_external_ref": "haicang:organization:1",
        "area_code": "350205000000000000", "address": "海沧街道",
        "service_categories": ["0006", "0001"], "contact_name": "王老师",
        "contact_phone": "0592-6051234", "established_on": "2016-08-08", "status": "active"}


def test_a_dissolved_team_maps_with_its_status() -> None:
    assert payload("organization", team(state=3))["status"] == "dissolved"


@pytest.mark.parametrize("state", [2, None, "x"])
def test_a_team_state_other_than_1_or_3_is_refused(state: object) -> None:
    assert {f for f, _ in refusals("organization", team(state=state))} == {"status"}


@pytest.mark.parametrize("kind", ["志愿服务组织", "其他"])
def test_registered_kinds_need_a_credit_code(kind: str) -> None:
    assert refusals("organization", team(team_kind=kind)) == {("uscc", "REQUIRED")}


def test_a_registered_organization_sends_its_credit_code() -> None:
    data = team(team_kind="志愿服务组织", credit_code=" 91440300708461136t ")
    assert payload("organization", data)["uscc"] == "91440300708461136T"
    assert payload("organization", data)["org_type"] == "2"


def test_a_wrong_credit_code_check_character_refuses_a_registered_organization() -> None:
    data = team(team_kind="志愿服务组织", credit_code="91440300708461136A")
    assert refusals("organization", data) == {("uscc", "CHECKSUM_MISMATCH")}


def test_a_bad_optional_credit_code_is_dropped_with_a_warning() -> None:
    result = run("organization", team(credit_code="12345"))
    assert isinstance(result, Mapped) and "uscc" not in result.parts[0].payload
    assert warned(result) == {("uscc", "INVALID_FORMAT")}


def test_an_unknown_team_kind_is_an_invalid_code() -> None:
    assert refusals("organization", team(team_kind="协会")) == {("org_type", "INVALID_CODE")}


def test_categories_are_deduplicated_in_source_order() -> None:
    data = team(service_types="助老,助残、环保，关爱特殊群体")
    assert payload("organization", data)["service_categories"] == ["0017", "0006"]


def test_more_than_four_categories_keep_the_first_four_with_a_warning() -> None:
    result = run("organization", team(service_types="环保、助老、义诊、支教、普法"))
    assert isinstance(result, Mapped)
    assert result.parts[0].payload["service_categories"] == ["0006", "0017", "0004", "0003"]
    assert warned(result) == {("service_categories", "INVALID_FORMAT")}


def test_an_unknown_category_is_dropped_with_a_warning() -> None:
    result = run("organization", team(service_types="环保、唱歌"))
    assert isinstance(result, Mapped) and result.parts[0].payload["service_categories"] == ["0006"]
    assert warned(result) == {("service_categories", "INVALID_CODE")}


def test_no_known_category_refuses_the_team() -> None:
    assert refusals("organization", team(service_types="唱歌")) == {
        ("service_categories", "INVALID_CODE")}
    assert refusals("organization", team(service_types="")) == {
        ("service_categories", "REQUIRED")}


def test_a_long_address_is_dropped_with_a_warning_never_truncated() -> None:
    result = run("organization", team(address="路" * 51))
    assert isinstance(result, Mapped) and "address" not in result.parts[0].payload
    assert warned(result) == {("address", "INVALID_FORMAT")}


def test_missing_contacts_refuse_the_team() -> None:
    assert refusals("organization", team(linkman=None, link_phone="")) == {
        ("contact_name", "REQUIRED"), ("contact_phone", "REQUIRED")}


def test_a_future_founding_date_is_dropped_with_a_warning() -> None:
    result = run("organization", team(found_date="2027-01-01"))
    assert isinstance(result, Mapped) and "established_on" not in result.parts[0].payload
    assert warned(result) == {("established_on", "OUT_OF_RANGE")}


def test_a_team_cannot_be_its_own_parent() -> None:
    assert "parent_external_ref" not in payload("organization", team(parent_team_id=3))


def test_an_area_outside_the_jurisdiction_is_forbidden() -> None:
    ctx = MapContext(source="haicang", now=NOW, jurisdiction="3502")
    assert refusals("organization", team(area_code="350102"), ctx) == {
        ("area_code", "FORBIDDEN_REGION")}


def test_an_area_not_in_the_region_table_is_an_invalid_code() -> None:
    assert refusals("organization", team(area_code="350299")) == {("area_code", "INVALID_CODE")}


def test_every_problem_of_a_team_is_reported_at_once() -> None:
    data = team(team_name="", area_code="12", service_types=None, link_phone="abc", state=9)
    assert {f for f, _ in refusals("organization", data)} == {
        "name", "area_code", "service_categories", "contact_phone", "status"}


# --- volunteer ------------------------------------------------------------------------

def test_a_volunteer_maps_with_identity_from_the_id_number() -> None:
    data = volunteer(memberships=[{"team_id": 10, "state": 1, "join_time": None},
                                  {"team_id": 3, "state": 1}, {"team_id": 3, "state": "1"},
                                  {"team_id": 4, "state": 2}, {"team_id": 5, "state": 4}])
    assert payload("volunteer", data) == {
        "name": "林志贵", "id_type": "01", "id_number": ID_F, "gender": "2",
        "birth_date": "1990-01-01", "nationality": "156", "ethnicity": "01",
        "political_status": "03", "education": "20", "mobile": "13800000000",
        "email": "lin@example.cn", "area_code": "350205001000000000",
        "organization_external_refs": ["haicang:organization:10", "haicang:organization:3"],
        "skills": ["急救", "摄影"], "registered_at": "2016-08-08T09:00:00+08:00",
        "status": "active"}


def test_a_cancelled_volunteer_maps_as_inactive() -> None:
    assert payload("volunteer", volunteer(is_cancel=1))["status"] == "inactive"


def test_optional_fields_without_value_are_omitted() -> None:
    data = volunteer(politics=None, edu="", email=None, skills=None, memberships=None)
    assert not {"political_status", "education", "email", "skills",
                "organization_external_refs"} & set(payload("volunteer", data))


def test_local_sex_and_birthday_that_disagree_with_the_id_are_warnings() -> None:
    result = run("volunteer", volunteer(sex="男", birthday="1990-02-02"))
    assert isinstance(result, Mapped)
    assert result.parts[0].payload["gender"] == "2"
    assert result.parts[0].payload["birth_date"] == "1990-01-01"
    assert warned(result) == {("gender", "ID_MISMATCH"), ("birth_date", "ID_MISMATCH")}


def test_messy_id_numbers_are_normalized() -> None:
    full = ID_F[:6].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    messy = f" {full} {ID_F[6:]}"
    assert payload("volunteer", volunteer(cert_no=messy))["id_number"] == ID_F


def test_a_lower_case_x_is_upper_cased() -> None:
    number = next(mainland(f"350205199001011{i:02d}") for i in range(100)
                  if mainland(f"350205199001011{i:02d}").endswith("X"))
    assert payload("volunteer", volunteer(cert_no=number.lower()))["id_number"] == number


def test_a_15_digit_id_number_is_upgraded() -> None:
    data = volunteer(cert_no="110105491231002", sex="女", birthday="1949-12-31")
    assert payload("volunteer", data)["id_number"] == "11010519491231002X"


def test_a_wrong_check_digit_is_a_checksum_mismatch() -> None:
    bad = ID_F[:17] + ("0" if ID_F[17] != "0" else "1")
    assert refusals("volunteer", volunteer(cert_no=bad)) == {("id_number", "CHECKSUM_MISMATCH")}


@pytest.mark.parametrize(("prefix", "nationality"), [("810000", "344"), ("820000", "446"),
                                                    ("830000", "158")])
def test_a_residence_permit_takes_nationality_from_its_prefix(prefix: str,
                                                              nationality: str) -> None:
    data = volunteer(cert_type="居住证", cert_no=mainland(prefix + "19900101122"), nation=None)
    body = payload("volunteer", data)
    assert (body["id_type"], body["nationality"]) == ("01", nationality)
    assert "ethnicity" not in body


def test_a_taiwan_compatriot_permit_is_04_and_158_with_sex_from_the_column() -> None:
    data = volunteer(cert_type="台胞证", cert_no="12345678", sex="男", birthday="1980/3/4",
                     nation=None, mobile="0912-345-678")
    body = payload("volunteer", data)
    assert (body["id_type"], body["nationality"], body["gender"], body["birth_date"]) == (
        "04", "158", "1", "1980-03-04")
    assert body["mobile"] == "+886912345678"


def test_without_an_id_number_behind_them_sex_and_birthday_are_required() -> None:
    data = volunteer(cert_type="台胞证", cert_no="12345678", sex="", birthday=None)
    assert refusals("volunteer", data) == {("gender", "REQUIRED"), ("birth_date", "REQUIRED")}


@pytest.mark.parametrize(("number", "nationality"), [("H12345678", "344"), ("M12345678", "446")])
def test_a_hk_macau_permit_takes_nationality_from_its_letter(number: str, nationality: str) -> None:
    data = volunteer(cert_type="港澳通行证", cert_no=number, nation=None)
    body = payload("volunteer", data)
    assert (body["id_type"], body["nationality"]) == ("08", nationality)


def test_a_hk_macau_permit_without_h_or_m_is_refused() -> None:
    data = volunteer(cert_type="港澳通行证", cert_no="C12345678")
    assert refusals("volunteer", data) == {("nationality", "REQUIRED")}


def test_a_passport_has_no_known_nationality() -> None:
    data = volunteer(cert_type="护照", cert_no="E12345678")
    assert refusals("volunteer", data) == {("nationality", "REQUIRED")}


def test_an_18_digit_foreign_permit_is_01_without_nationality() -> None:
    # the 9-series' first six digits are no GB/T 2260 code: the platform refuses them too
    result = run("volunteer", volunteer(cert_type="外国人永久居留证",
                                        cert_no=mainland("93315619900101122")))
    assert isinstance(result, Quarantined)
    assert {(r.field, r.code) for r in result.reasons} == {
        ("id_number", "INVALID_CODE"), ("nationality", "REQUIRED")}


def test_an_older_foreign_permit_is_08_without_nationality() -> None:
    data = volunteer(cert_type="外国人永久居留证", cert_no="USA110090010188")
    assert refusals("volunteer", data) == {("nationality", "REQUIRED")}


def test_a_mainland_id_under_another_cert_type_is_sent_as_01() -> None:
    result = run("volunteer", volunteer(cert_type="护照"))
    assert isinstance(result, Mapped)
    assert result.parts[0].payload["id_type"] == "01"
    assert warned(result) == {("id_type", "INVALID_CODE")}


def test_an_unknown_cert_type_is_an_invalid_code() -> None:
    data = volunteer(cert_type="驾驶证", cert_no="X1234567")
    assert ("id_type", "INVALID_CODE") in refusals("volunteer", data)


def test_a_mainland_volunteer_needs_an_ethnicity() -> None:
    assert refusals("volunteer", volunteer(nation=None)) == {("ethnicity", "REQUIRED")}
    assert refusals("volunteer", volunteer(nation="火星")) == {("ethnicity", "INVALID_CODE")}


def test_ethnicity_reads_with_or_without_zu() -> None:
    assert payload("volunteer", volunteer(nation="畲"))["ethnicity"] == "22"


def test_unknown_politics_and_education_are_dropped_with_warnings() -> None:
    result = run("volunteer", volunteer(politics="某党", edu="大学肄业"))
    assert isinstance(result, Mapped)
    assert not {"political_status", "education"} & set(result.parts[0].payload)
    assert warned(result) == {("political_status", "INVALID_CODE"), ("education", "INVALID_CODE")}


def test_a_bad_email_is_dropped_with_a_warning() -> None:
    result = run("volunteer", volunteer(email="not-an-email"))
    assert isinstance(result, Mapped) and "email" not in result.parts[0].payload
    assert warned(result) == {("email", "INVALID_FORMAT")}


@pytest.mark.parametrize("raw", ["+86 138-0000-0000", "138 0000 0000", "１３８００００００００"])
def test_messy_mainland_mobiles_are_normalized(raw: str) -> None:
    assert payload("volunteer", volunteer(mobile=raw))["mobile"] == "13800000000"


def test_a_missing_or_bad_mobile_refuses_the_volunteer() -> None:
    assert refusals("volunteer", volunteer(mobile=None)) == {("mobile", "REQUIRED")}
    assert refusals("volunteer", volunteer(mobile="12345")) == {("mobile", "INVALID_FORMAT")}


def test_names_are_cleaned_and_checked() -> None:
    assert payload("volunteer", volunteer(real_name="林 志 贵"))["name"] == "林志贵"
    assert refusals("volunteer", volunteer(real_name="林A贵")) == {("name", "INVALID_FORMAT")}


def test_skills_keep_ten_of_at_most_twenty_characters() -> None:
    many = "、".join(f"技能{i}" for i in range(12)) + "," + "长" * 21
    result = run("volunteer", volunteer(skills=many))
    assert isinstance(result, Mapped)
    assert result.parts[0].payload["skills"] == [f"技能{i}" for i in range(10)]
    assert warned(result) == {("skills", "INVALID_FORMAT")}


def test_a_future_registration_is_out_of_range() -> None:
    assert refusals("volunteer", volunteer(reg_time="2026-06-20 12:00:01")) == {
        ("registered_at", "OUT_OF_RANGE")}


def test_a_person_over_120_is_out_of_range() -> None:
    data = volunteer(cert_no=mainland("35020519000101122"), birthday=None)
    assert refusals("volunteer", data) == {("birth_date", "OUT_OF_RANGE")}


def test_quarantine_messages_never_hold_the_id_number_phone_or_name() -> None:
    data = volunteer(cert_type="港澳通行证", cert_no="C12345678", mobile="1380000000",
                     real_name="林A贵", email="x")
    result = run("volunteer", data)
    assert isinstance(result, Quarantined)
    text = " ".join(r.message for r in result.reasons + result.warnings)
    assert "C12345678" not in text and "1380000000" not in text and "林A贵" not in text


# --- project --------------------------------------------------------------------------

def test_an_activity_maps_to_a_project() -> None:
    assert payload("project", activity()) == {
        "name": "海沧湾净滩", "organization_external_ref": "haicang:organization:3",
        "service_categories": ["0006"], "area_code": "350205000000000000",
        "address": "海沧湾公园", "start_at": "2026-06-01T08:00:00+08:00",
        "end_at": "2026-06-30T18:00:00+08:00", "recruit_count": 30,
        "description": "清理海滩垃圾\n分类回收", "contact_name": "王老师",
        "contact_phone": "13900000000", "status": "running"}


@pytest.mark.parametrize(("status", "word"), [(3, "recruiting"), (4, "running"), (5, "finished"),
                                              (6, "finished"), (7, "cancelled")])
def test_activity_status_maps(status: int, word: str) -> None:
    assert payload("project", activity(status=status))["status"] == word


def test_nullable_required_activity_columns_refuse_when_empty() -> None:
    data = activity(title=None, address="", intro=None, linkman=None, link_phone=None,
                    plan_num=None)
    assert refusals("project", data) == {
        ("name", "REQUIRED"), ("address", "REQUIRED"), ("description", "REQUIRED"),
        ("contact_name", "REQUIRED"), ("contact_phone", "REQUIRED"), ("recruit_count", "REQUIRED")}


def test_a_project_must_end_after_it_starts() -> None:
    data = activity(end_time="2026-06-01 08:00")
    assert refusals("project", data) == {("end_at", "OUT_OF_RANGE")}


def test_recruit_count_is_bounded() -> None:
    assert refusals("project", activity(plan_num=1_000_000)) == {("recruit_count", "OUT_OF_RANGE")}
    assert payload("project", activity(plan_num="0"))["recruit_count"] == 0


def test_a_long_project_address_refuses_the_project() -> None:
    assert refusals("project", activity(address="路" * 51)) == {("address", "INVALID_FORMAT")}


# --- service record -------------------------------------------------------------------

def test_a_record_maps_to_one_whole_part() -> None:
    assert payload("service_record", record()) == {
        "volunteer_external_ref": "haicang:volunteer:1001",
        "project_external_ref": "haicang:project:77", "start_at": "2026-06-10T09:00:00+08:00",
        "end_at": "2026-06-10T11:00:00+08:00", "hours": 2.0, "content": "净滩",
        "recorder": "王老师", "recorded_at": "2026-06-11T08:00:00+08:00", "entry_method": "1"}


@pytest.mark.parametrize(("minutes", "hours"), [(50, 0.83), (10, 0.16), (120, 2.0)])
def test_minutes_become_floored_hours(minutes: int, hours: float) -> None:
    assert payload("service_record", record(service_minutes=minutes))["hours"] == hours


def test_a_deleted_record_is_skipped_as_deleted() -> None:
    result = run("service_record", record(is_del=1, audit_state=0))
    assert isinstance(result, Skipped) and result.why == "deleted"


@pytest.mark.parametrize("state", [0, 2, None])
def test_an_unapproved_record_is_skipped_as_ineligible(state: object) -> None:
    result = run("service_record", record(audit_state=state, end_time="2027-01-01 00:00"))
    assert isinstance(result, Skipped) and result.why == "ineligible"


def test_a_record_ending_in_the_future_is_deferred_until_its_end() -> None:
    result = run("service_record", record(begin_time="2026-06-20 11:00",
                                          end_time="2026-06-20 13:00", service_minutes=500))
    assert isinstance(result, Deferred)
    assert result.until == datetime(2026, 6, 20, 13, tzinfo=CST)


def test_an_overnight_record_is_split_at_midnight() -> None:
    result = mapped("service_record", record(begin_time="2026-06-10 23:00",
                                             end_time="2026-06-11 02:00", service_minutes=180))
    assert [(p.suffix, p.payload["start_at"], p.payload["end_at"], p.payload["hours"])
            for p in result.parts] == [
        (".d1", "2026-06-10T23:00:00+08:00", "2026-06-11T00:00:00+08:00", 1.0),
        (".d2", "2026-06-11T00:00:00+08:00", "2026-06-11T02:00:00+08:00", 2.0)]


def test_split_parts_share_every_other_field() -> None:
    result = mapped("service_record", record(begin_time="2026-06-10 22:00",
                                             end_time="2026-06-11 02:00", service_minutes=200))
    rest = [{k: v for k, v in p.payload.items() if k not in ("start_at", "end_at", "hours")}
            for p in result.parts]
    assert rest[0] == rest[1] and rest[0]["content"] == "净滩"


def test_a_part_left_with_no_minutes_is_dropped_and_suffixes_keep_their_position() -> None:
    result = mapped("service_record", record(begin_time="2026-06-10 23:59",
                                             end_time="2026-06-11 02:00", service_minutes=2))
    assert [(p.suffix, p.payload["hours"]) for p in result.parts] == [(".d2", 0.03)]


def test_a_tie_gives_the_minute_to_the_earlier_day() -> None:
    result = mapped("service_record", record(begin_time="2026-06-10 23:00",
                                             end_time="2026-06-11 01:00", service_minutes=1))
    assert [(p.suffix, p.payload["hours"]) for p in result.parts] == [(".d1", 0.01)]


def test_an_end_at_midnight_is_not_split() -> None:
    result = mapped("service_record", record(begin_time="2026-06-10 22:00",
                                             end_time="2026-06-11 00:00", service_minutes=120))
    assert [p.suffix for p in result.parts] == [""]


def test_more_minutes_than_the_span_are_refused_never_capped() -> None:
    assert refusals("service_record", record(service_minutes=121)) == {("hours", "OUT_OF_RANGE")}


@pytest.mark.parametrize("minutes", [0, -5])
def test_no_minutes_are_refused(minutes: int) -> None:
    assert refusals("service_record", record(service_minutes=minutes)) == {
        ("hours", "OUT_OF_RANGE")}


def test_a_record_ending_before_it_starts_is_refused() -> None:
    data = record(begin_time="2026-06-10 11:00", end_time="2026-06-10 11:00")
    assert ("end_at", "OUT_OF_RANGE") in refusals("service_record", data)


def test_a_record_entered_before_it_ended_is_refused() -> None:
    assert refusals("service_record", record(record_time="2026-06-10 10:59")) == {
        ("recorded_at", "OUT_OF_RANGE")}


def test_an_unknown_record_way_is_an_invalid_code() -> None:
    assert refusals("service_record", record(record_way=3)) == {("entry_method", "INVALID_CODE")}


def test_every_missing_record_column_is_reported_at_once() -> None:
    data = record(content=None, recorder="", record_time=None, service_minutes=None)
    assert refusals("service_record", data) == {
        ("content", "REQUIRED"), ("recorder", "REQUIRED"), ("recorded_at", "REQUIRED"),
        ("hours", "REQUIRED")}


def test_record_ways_map_to_entry_methods() -> None:
    assert [payload("service_record", record(record_way=w))["entry_method"]
            for w in (1, 2, 4)] == ["1", "2", "4"]


# --- fuzz: any column values give one of the four results -----------------------------

COLUMNS = sorted(set(team()) | set(volunteer()) | set(activity()) | set(record()))
values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40),
    st.text(st.characters(max_codepoint=0x3100), max_size=300),
    st.sampled_from(["", " ", "\u3000", "\x00", "2026-06-10 25:00", "9" * 5000, ID_F, "1",
                     "2026-02-30", "汉", "环保、" * 50]),
    st.lists(st.dictionaries(st.sampled_from(["team_id", "state"]),
                             st.one_of(st.none(), st.integers(), st.text(max_size=5))),
             max_size=3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["organization", "volunteer", "project", "service_record"]),
       st.dictionaries(st.sampled_from(COLUMNS), values))
def test_arbitrary_column_values_never_raise(entity: str, data: dict[str, Any]) -> None:
    result = run(entity, data)
    assert isinstance(result, Mapped | Quarantined | Skipped | Deferred)
    if isinstance(result, Quarantined):
        assert result.reasons


def test_huge_white_space_runs_do_not_stall_the_mapping() -> None:
    huge = "林" + " " * 50_000 + "贵"
    start = time.perf_counter()
    for entity, row in [("organization", team()), ("volunteer", volunteer()),
                        ("project", activity()), ("service_record", record())]:
        run(entity, dict.fromkeys(row, huge))
    assert time.perf_counter() - start < 5


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({k: st.one_of(st.just(v), values)
                              for k, v in record().items()}))
def test_near_valid_records_never_raise_and_are_deterministic(data: dict[str, Any]) -> None:
    assert run("service_record", data) == run("service_record", data)
