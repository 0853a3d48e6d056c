"""Item validation (national-api.md §5–§6): every item error code, field by field."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.contract.conftest import Api, World, codes, id_number, org, project, record, volunteer

DROP = object()
CST = timezone(timedelta(hours=8))
TOMORROW = (datetime.now(CST) + timedelta(days=2)).date().isoformat()
VALID_USCC = "91110108551385082Q"


def _apply(item: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    for key, value in changes.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _mainland(body17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body17 + "10X98765432"[sum(int(c) * w for c, w in zip(body17, weights,
                                                                    strict=True)) % 11]


ORG_CASES = [
    ({"name": DROP}, ("name", "REQUIRED")),
    ({"name": ""}, ("name", "REQUIRED")),
    ({"name": None}, ("name", "REQUIRED")),
    ({"name": "海" * 51}, ("name", "INVALID_FORMAT")),
    ({"name": " 海沧"}, ("name", "INVALID_FORMAT")),
    ({"name": "海沧\u3000"}, ("name", "INVALID_FORMAT")),
    ({"name": "\ufeff海沧"}, ("name", "INVALID_FORMAT")),
    ({"name": "海\x07沧"}, ("name", "INVALID_FORMAT")),
    ({"name": "海\n沧"}, ("name", "INVALID_FORMAT")),
    ({"name": "\u3000\u3000"}, ("name", "INVALID_FORMAT")),
    ({"name": 123}, ("name", "INVALID_FORMAT")),
    ({"org_type": "9"}, ("org_type", "INVALID_CODE")),
    ({"org_type": 1}, ("org_type", "INVALID_FORMAT")),
    ({"org_type": "2"}, ("uscc", "REQUIRED")),
    ({"org_type": "3", "uscc": "91110108551385082R"}, ("uscc", "CHECKSUM_MISMATCH")),
    ({"uscc": "91110108551385082"}, ("uscc", "INVALID_FORMAT")),
    ({"uscc": "9111010855138508IQ"}, ("uscc", "INVALID_FORMAT")),
    ({"area_code": "350205"}, ("area_code", "INVALID_FORMAT")),
    ({"area_code": "350205000000000001"}, ("area_code", "INVALID_FORMAT")),
    ({"area_code": "350299000000000000"}, ("area_code", "INVALID_CODE")),
    ({"area_code": "350200000000000000"}, ("area_code", "INVALID_CODE")),
    ({"area_code": "350102000000000000"}, ("area_code", "FORBIDDEN_REGION")),
    ({"area_code": "110101000000000000"}, ("area_code", "FORBIDDEN_REGION")),
    ({"address": "x" * 51}, ("address", "INVALID_FORMAT")),
    ({"address": ""}, ("address", "INVALID_FORMAT")),
    ({"service_categories": []}, ("service_categories", "REQUIRED")),
    ({"service_categories": ["0001", "0002", "0003", "0004", "0005"]},
     ("service_categories", "INVALID_FORMAT")),
    ({"service_categories": ["0001", "0001"]}, ("service_categories", "INVALID_FORMAT")),
    ({"service_categories": ["9999"]}, ("service_categories", "INVALID_CODE")),
    ({"service_categories": "0001"}, ("service_categories", "INVALID_FORMAT")),
    ({"contact_name": "陈" * 21}, ("contact_name", "INVALID_FORMAT")),
    ({"contact_phone": "12345"}, ("contact_phone", "INVALID_FORMAT")),
    ({"contact_phone": "+8613800138000"}, ("contact_phone", "INVALID_FORMAT")),
    ({"contact_phone": "0592-605123"}, ("contact_phone", "INVALID_FORMAT")),
    ({"contact_phone": "１３８００１３８０００"}, ("contact_phone", "INVALID_FORMAT")),
    ({"established_on": "2025-02-30"}, ("established_on", "INVALID_FORMAT")),
    ({"established_on": "2025/01/01"}, ("established_on", "INVALID_FORMAT")),
    ({"established_on": "1899-12-31"}, ("established_on", "OUT_OF_RANGE")),
    ({"established_on": TOMORROW}, ("established_on", "OUT_OF_RANGE")),
    ({"status": "closed"}, ("status", "INVALID_CODE")),
    ({"status": DROP}, ("status", "REQUIRED")),
    ({"parent_national_id": "O999999999999"}, ("parent_national_id", "REF_NOT_FOUND")),
    ({"parent_external_ref": "nowhere:organization:1"}, ("parent_external_ref",
                                                         "REF_NOT_FOUND")),
    ({"parent_external_ref": "a:b", "parent_national_id": "O1"},
     ("parent_external_ref", "INVALID_FORMAT")),
    ({"external_ref": "has space"}, ("external_ref", "INVALID_FORMAT")),
    ({"external_ref": "x" * 129}, ("external_ref", "INVALID_FORMAT")),
]


@pytest.mark.parametrize(("changes", "expected"), ORG_CASES)
def test_an_organization_error_is_reported(api: Api, uid: str, changes: dict[str, Any],
                                           expected: tuple[str, str]) -> None:
    result = api.one("/organizations/batch", _apply(org(f"{uid}:o:1"), changes))
    assert result["status"] == "rejected" and result["national_id"] is None
    assert expected in codes(result)


@pytest.mark.parametrize("changes", [
    {"name": "海" * 50}, {"org_type": "2", "uscc": VALID_USCC},
    {"area_code": "350205001002000000"}, {"contact_phone": "059-1234567"},
    {"established_on": "1900-01-01"}, {"service_categories": ["0099", "0001", "0002", "0003"]},
    {"address": "海沧街道 1 号"}, {"name": "𠀀海沧"},
])
def test_an_organization_at_the_edge_of_the_rules_is_accepted(
        api: Api, uid: str, changes: dict[str, Any]) -> None:
    result = api.one("/organizations/batch", org(f"{uid}:o:1", **changes))
    assert result["status"] == "created", result


def test_an_area_in_the_apps_own_jurisdiction_is_accepted(api: Api, uid: str) -> None:
    item = org(f"{uid}:o:1", area_code="350102000000000000")
    assert api.as_app("app-fz").one("/organizations/batch", item)["status"] == "created"


VOLUNTEER_CASES = [
    ({"name": "林1"}, ("name", "INVALID_FORMAT")),
    ({"name": "·林"}, ("name", "INVALID_FORMAT")),
    ({"name": "林 贵"}, ("name", "INVALID_FORMAT")),
    ({"name": "Li 伟"}, ("name", "INVALID_FORMAT")),
    ({"name": "林" * 21}, ("name", "INVALID_FORMAT")),
    ({"id_type": "06"}, ("id_type", "INVALID_CODE")),
    ({"id_number": DROP}, ("id_number", "REQUIRED")),
    ({"mobile": "12800000000"}, ("mobile", "INVALID_FORMAT")),
    ({"mobile": "+8521234567"}, ("mobile", "INVALID_FORMAT")),
    ({"mobile": "+88612345678"}, ("mobile", "INVALID_FORMAT")),
    ({"email": "a" * 45 + "@x.com"}, ("email", "INVALID_FORMAT")),
    ({"nationality": "999"}, ("nationality", "INVALID_CODE")),
    ({"ethnicity": DROP}, ("ethnicity", "REQUIRED")),
    ({"ethnicity": "99"}, ("ethnicity", "INVALID_CODE")),
    ({"political_status": "99"}, ("political_status", "INVALID_CODE")),
    ({"education": "77"}, ("education", "INVALID_CODE")),
    ({"gender": "9"}, ("gender", "INVALID_CODE")),
    ({"skills": ["急救"] * 11}, ("skills", "INVALID_FORMAT")),
    ({"skills": ["急" * 21]}, ("skills", "INVALID_FORMAT")),
    ({"skills": [" 急救"]}, ("skills", "INVALID_FORMAT")),
    ({"registered_at": "2024-03-01 09:00:00"}, ("registered_at", "INVALID_FORMAT")),
    ({"registered_at": "2024-03-01T09:00:00"}, ("registered_at", "INVALID_FORMAT")),
    ({"registered_at": "2024-02-30T09:00:00+08:00"}, ("registered_at", "INVALID_FORMAT")),
    ({"registered_at": "2024-03-01T24:00:00+08:00"}, ("registered_at", "INVALID_FORMAT")),
    ({"registered_at": f"{TOMORROW}T09:00:00+08:00"}, ("registered_at", "OUT_OF_RANGE")),
    ({"registered_at": "1899-12-31T09:00:00+08:00"}, ("registered_at", "OUT_OF_RANGE")),
    ({"status": "deleted"}, ("status", "INVALID_CODE")),
    ({"area_code": "350102000000000000"}, ("area_code", "FORBIDDEN_REGION")),
    ({"organization_external_refs": ["nowhere:organization:1"]},
     ("organization_external_refs", "REF_NOT_FOUND")),
    ({"organization_external_refs": "x:y"}, ("organization_external_refs", "INVALID_FORMAT")),
    ({"organization_external_refs": [], "organization_national_ids": []},
     ("organization_external_refs", "INVALID_FORMAT")),
]


@pytest.mark.parametrize(("changes", "expected"), VOLUNTEER_CASES)
def test_a_volunteer_error_is_reported(api: Api, uid: str, changes: dict[str, Any],
                                       expected: tuple[str, str]) -> None:
    result = api.one("/volunteers/batch", _apply(volunteer(f"{uid}:v:1"), changes))
    assert result["status"] == "rejected"
    assert expected in codes(result)


def test_a_wrong_id_check_digit_is_a_checksum_mismatch(api: Api, uid: str) -> None:
    good = id_number()
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    result = api.one("/volunteers/batch", volunteer(f"{uid}:v:1", bad))
    assert codes(result) == {("id_number", "CHECKSUM_MISMATCH")}


@pytest.mark.parametrize("number", ["35020519900101123", "350205199013011234",
                                    "35020519900101123x", "3502051990010112 3"])
def test_a_malformed_mainland_id_is_invalid_format(api: Api, uid: str, number: str) -> None:
    item = volunteer(f"{uid}:v:1", birth_date="1990-01-01", gender="1")
    item["id_number"] = number
    assert ("id_number", "INVALID_FORMAT") in codes(api.one("/volunteers/batch", item))


def test_gender_and_birth_date_must_agree_with_the_id(api: Api, uid: str) -> None:
    number = id_number(date(1985, 5, 5), male=True)
    item = volunteer(f"{uid}:v:1", number, gender="2", birth_date="1985-05-06")
    assert codes(api.one("/volunteers/batch", item)) == {("gender", "ID_MISMATCH"),
                                                         ("birth_date", "ID_MISMATCH")}


def test_a_lower_case_x_is_not_upper_case(api: Api, uid: str) -> None:
    number = next(n for n in (id_number() for _ in range(200)) if n.endswith("X"))
    item = volunteer(f"{uid}:v:1", number.lower())
    assert ("id_number", "INVALID_FORMAT") in codes(api.one("/volunteers/batch", item))


@pytest.mark.parametrize("born", [date(1900, 1, 2), date.today() + timedelta(days=3)])
def test_a_birth_date_outside_0_to_120_years_is_out_of_range(api: Api, uid: str,
                                                              born: date) -> None:
    item = volunteer(f"{uid}:v:1", id_number(born))
    assert ("birth_date", "OUT_OF_RANGE") in codes(api.one("/volunteers/batch", item))


@pytest.mark.parametrize(("id_type", "number", "nationality", "mobile"), [
    ("02", "A1234567", "344", "+85212345678"), ("02", "AB9876543", "344", "+85298765432"),
    ("03", "12345678", "446", "+85361234567"), ("04", "12345678", "158", "+886912345678"),
    ("04", "A123456789", "158", "+886912345678"), ("05", "E12345678", "840", "13800138000"),
    ("08", "H12345678", "344", "+85212345678"),
])
def test_each_id_type_format_is_accepted(api: Api, uid: str, id_type: str, number: str,
                                         nationality: str, mobile: str) -> None:
    item = volunteer(f"{uid}:v:1", id_type=id_type, nationality=nationality, mobile=mobile,
                     gender="1", birth_date="1980-01-01")
    item = _apply(item, {"id_number": number, "ethnicity": DROP})
    result = api.one("/volunteers/batch", item)
    assert result["status"] in ("created", "matched"), result


@pytest.mark.parametrize(("id_type", "number"), [
    ("02", "A123456B"), ("03", "2345678"), ("03", "22345678"), ("04", "1234567"),
    ("04", "A323456789"), ("05", "E12"), ("08", "H1234"), ("05", "e12345678"),
])
def test_a_number_not_of_its_id_type_format_is_invalid(api: Api, uid: str, id_type: str,
                                                       number: str) -> None:
    item = volunteer(f"{uid}:v:1", id_type=id_type, gender="1", birth_date="1980-01-01")
    item["id_number"] = number
    assert ("id_number", "INVALID_FORMAT") in codes(api.one("/volunteers/batch", item))


@pytest.mark.parametrize("id_type", ["05", "08"])
def test_a_valid_mainland_id_is_accepted_only_as_01(api: Api, uid: str, id_type: str) -> None:
    item = volunteer(f"{uid}:v:1", id_type=id_type)
    assert ("id_type", "INVALID_CODE") in codes(api.one("/volunteers/batch", item))


def test_a_residence_permit_number_is_sent_as_01(api: Api, uid: str) -> None:
    number = _mainland("81000019800101123")
    item = volunteer(f"{uid}:v:1", number, nationality="344")
    item = _apply(item, {"ethnicity": DROP})
    assert api.one("/volunteers/batch", item)["status"] in ("created", "matched")


@pytest.mark.parametrize("name", ["Li Wei", "买买提·艾力", "𠀀林", "林志贵", "Anna  Smith"])
def test_names_of_either_script_are_accepted(api: Api, uid: str, name: str) -> None:
    assert api.one("/volunteers/batch", volunteer(f"{uid}:v:1", name=name))["status"] == \
        "created"


def test_every_error_of_an_item_is_reported_together(api: Api, uid: str) -> None:
    item = volunteer(f"{uid}:v:1", name="林1", mobile="123", area_code="350299000000000000",
                     status="gone")
    assert codes(api.one("/volunteers/batch", item)) == {
        ("name", "INVALID_FORMAT"), ("mobile", "INVALID_FORMAT"),
        ("area_code", "INVALID_CODE"), ("status", "INVALID_CODE")}


PROJECT_CASES = [
    ({"end_at": "2025-01-01T00:00:00+08:00"}, ("end_at", "OUT_OF_RANGE")),
    ({"end_at": "2024-12-31T16:00:00Z"}, ("end_at", "OUT_OF_RANGE")),
    ({"recruit_count": -1}, ("recruit_count", "OUT_OF_RANGE")),
    ({"recruit_count": 1_000_000}, ("recruit_count", "OUT_OF_RANGE")),
    ({"recruit_count": "5"}, ("recruit_count", "INVALID_FORMAT")),
    ({"recruit_count": 5.0}, ("recruit_count", "INVALID_FORMAT")),
    ({"recruit_count": True}, ("recruit_count", "INVALID_FORMAT")),
    ({"description": "x" * 2001}, ("description", "INVALID_FORMAT")),
    ({"description": "a\tb"}, ("description", "INVALID_FORMAT")),
    ({"description": "a\r\nb"}, ("description", "INVALID_FORMAT")),
    ({"address": DROP}, ("address", "REQUIRED")),
    ({"organization_external_ref": DROP}, ("organization_national_id", "REQUIRED")),
    ({"organization_national_id": "O1"}, ("organization_external_ref", "INVALID_FORMAT")),
    ({"status": "paused"}, ("status", "INVALID_CODE")),
    ({"start_at": "2025-13-01T00:00:00+08:00"}, ("start_at", "INVALID_FORMAT")),
    ({"start_at": "2025-01-01T00:00:00+25:00"}, ("start_at", "INVALID_FORMAT")),
]


@pytest.mark.parametrize(("changes", "expected"), PROJECT_CASES)
def test_a_project_error_is_reported(api: Api, world: World, changes: dict[str, Any],
                                     expected: tuple[str, str]) -> None:
    item = _apply(project(f"{world.uid}:p:2", world.org), changes)
    assert expected in codes(api.one("/projects/batch", item))


def test_a_project_may_lie_in_the_future(api: Api, world: World) -> None:
    item = project(f"{world.uid}:p:2", world.org, start_at="2031-01-01T00:00:00+08:00",
                   end_at="2031-02-01T00:00:00+08:00", description="x" * 2000)
    assert api.one("/projects/batch", item)["status"] == "created"


RECORD_CASES = [
    ({"end_at": "2025-06-02T01:00:00+08:00", "hours": 2}, ("end_at", "OUT_OF_RANGE")),
    ({"start_at": "2025-06-01T15:00:00Z", "end_at": "2025-06-01T17:00:00Z"},
     ("end_at", "OUT_OF_RANGE")),
    ({"hours": 2.005}, ("hours", "INVALID_FORMAT")),
    ({"hours": "2"}, ("hours", "INVALID_FORMAT")),
    ({"hours": 0}, ("hours", "OUT_OF_RANGE")),
    ({"hours": -1}, ("hours", "OUT_OF_RANGE")),
    ({"hours": 2.01}, ("hours", "OUT_OF_RANGE")),
    ({"recorded_at": "2025-06-01T10:59:59+08:00"}, ("recorded_at", "OUT_OF_RANGE")),
    ({"recorded_at": f"{TOMORROW}T10:00:00+08:00"}, ("recorded_at", "OUT_OF_RANGE")),
    ({"start_at": f"{TOMORROW}T09:00:00+08:00", "end_at": f"{TOMORROW}T11:00:00+08:00",
      "recorded_at": f"{TOMORROW}T12:00:00+08:00"}, ("end_at", "OUT_OF_RANGE")),
    ({"start_at": "2024-12-31T09:00:00+08:00", "end_at": "2024-12-31T11:00:00+08:00"},
     ("start_at", "OUT_OF_RANGE")),
    ({"entry_method": "7"}, ("entry_method", "INVALID_CODE")),
    ({"content": "x" * 501}, ("content", "INVALID_FORMAT")),
    ({"recorder": DROP}, ("recorder", "REQUIRED")),
    ({"volunteer_external_ref": DROP}, ("volunteer_national_id", "REQUIRED")),
    ({"volunteer_external_ref": "nobody:volunteer:1"},
     ("volunteer_external_ref", "REF_NOT_FOUND")),
    ({"project_external_ref": DROP, "project_national_id": "P999999999999"},
     ("project_national_id", "REF_NOT_FOUND")),
]


@pytest.mark.parametrize(("changes", "expected"), RECORD_CASES)
def test_a_service_record_error_is_reported(api: Api, world: World, changes: dict[str, Any],
                                            expected: tuple[str, str]) -> None:
    item = _apply(record(f"{world.uid}:r:1", world.volunteer, world.project), changes)
    result = api.one("/service-records/batch", item)
    assert result["status"] == "rejected" and expected in codes(result), result


@pytest.mark.parametrize("changes", [
    {"start_at": "2025-06-01T22:00:00+08:00", "end_at": "2025-06-02T00:00:00+08:00",
     "recorded_at": "2025-06-02T00:00:00+08:00"},
    {"start_at": "2025-06-01T00:00:00+08:00", "end_at": "2025-06-02T00:00:00+08:00",
     "recorded_at": "2025-06-02T08:00:00+08:00"},
    {"start_at": "2025-06-01T01:00:00Z", "end_at": "2025-06-01T03:00:00Z"},
    {"hours": 1.5}, {"hours": 2.00}, {"hours": 0.01}, {"content": "上午\n下午"},
])
def test_a_service_record_at_the_edge_of_the_rules_is_accepted(
        api: Api, world: World, changes: dict[str, Any]) -> None:
    item = _apply(record(f"{world.uid}:r:1", world.volunteer, world.project), changes)
    result = api.one("/service-records/batch", item)
    assert result["status"] == "created", result
