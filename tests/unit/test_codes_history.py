"""The code rules of issue 16 in the mapping (national-api.md §6, local-sources.md §A):
region history for 01 ID numbers and USCC characters 3–8, township digits of area ids
with the county-level fallback, and the ethnicity names of §A."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import SourceRow
from mappings import codes, shegong, zhiyuanyun
from mappings.checks import (
    RESIDENCE_PERMIT_REGIONS,
    area_problem,
    gb11643_check,
    gb32100_check,
    id_problem,
    is_mainland_id,
    uscc_problem,
)
from mappings.result import MapContext, Mapped, MapResult, Quarantined

CST = timezone(timedelta(hours=8))
CTX = MapContext(source="haicang", now=datetime(2026, 6, 20, 12, 0, tzinfo=CST),
                 jurisdiction="3502")
EVER = codes.regions_ever()
USCC_SET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

known_regions = st.sampled_from(sorted(EVER | RESIDENCE_PERMIT_REGIONS))
never_regions = st.integers(0, 999_999).map(lambda n: f"{n:06d}").filter(
    lambda c: c not in EVER and c not in RESIDENCE_PERMIT_REGIONS)
births = st.dates(date(1900, 1, 1), date(2026, 6, 20))
sequences = st.integers(0, 999).map(lambda n: f"{n:03d}")


def mainland(region: str, born: date = date(1990, 1, 1), seq: str = "122") -> str:
    body = f"{region}{born:%Y%m%d}{seq}"
    return body + gb11643_check(body)


def uscc(region: str, head: str = "51", org: str = "MJD123456") -> str:
    body = head + region + org
    return body + gb32100_check(body)


def vol_row(ctx: MapContext = CTX, **over: Any) -> MapResult:
    row = {"vol_id": 1, "real_name": "林志贵", "sex": "女", "cert_type": "身份证",
           "cert_no": mainland("350205"), "birthday": "1990-01-01", "nation": "汉族",
           "mobile": "13800000000", "area_code": "350205001", "reg_time": "2016-08-08",
           "is_cancel": 0, "memberships": [], "gmt_modified": "2026-06-01 10:00:00"}
    return zhiyuanyun.map_row(SourceRow("volunteer", "1", "", row | over), ctx)


def team_row(**over: Any) -> MapResult:
    row = {"team_id": 3, "team_name": "海沧区慈善志愿服务中心", "team_kind": "志愿服务组织",
           "credit_code": uscc("350205"), "area_code": "350205", "service_types": "环保",
           "linkman": "王老师", "link_phone": "0592-6051234", "state": 1,
           "gmt_modified": "2026-06-01 10:00:00"}
    return zhiyuanyun.map_row(SourceRow("organization", "3", "", row | over), CTX)


def reasons(result: MapResult) -> set[tuple[str, str]]:
    assert isinstance(result, Quarantined), result
    return {(r.field, r.code) for r in result.reasons}


# --- the tables ------------------------------------------------------------------------

def test_region_history_keeps_every_spell_of_a_renamed_code() -> None:
    spells = [s for s in codes.region_history() if s.code == "350205"]
    assert [(s.name, s.from_year, s.to_year) for s in spells] == [
        ("杏林区", 1983, 2002), ("海沧区", 2003, None)]


def test_retired_codes_are_in_the_history_but_not_among_the_counties() -> None:
    assert {"110103", "350202"} <= codes.regions_ever()
    assert not {"110103", "350202"} & codes.counties()


def test_townships_are_grouped_by_county() -> None:
    assert codes.townships()["350205"] == frozenset({"001", "002", "003", "004"})
    assert "110101" not in codes.townships()


# --- ID numbers -----------------------------------------------------------------------

@given(never_regions, births, sequences)
def test_an_id_whose_region_never_existed_is_an_invalid_code(
        region: str, born: date, seq: str) -> None:
    number = mainland(region, born, seq)
    problem = id_problem("01", number)
    assert problem is not None and problem[0] == "INVALID_CODE"
    assert number not in problem[1] and region not in problem[1]
    assert not is_mainland_id(number)


@given(known_regions, births, sequences)
def test_an_id_on_any_region_that_ever_existed_is_valid_whatever_the_birth_year(
        region: str, born: date, seq: str) -> None:
    assert id_problem("01", mainland(region, born, seq)) is None


def test_a_code_retired_before_the_birth_year_is_still_valid() -> None:
    # 崇文区 110103 ended in 2010: an ID keeps the code of where it was issued
    assert id_problem("01", mainland("110103", date(2015, 5, 5))) is None


@pytest.mark.parametrize("prefix", sorted(RESIDENCE_PERMIT_REGIONS))
def test_residence_permit_prefixes_are_valid_01_numbers(prefix: str) -> None:
    assert is_mainland_id(mainland(prefix))


def test_a_wrong_check_digit_is_reported_before_the_region() -> None:
    number = mainland("350299")
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    assert id_problem("01", wrong) == ("CHECKSUM_MISMATCH",
                                       "the GB 11643 check digit does not match")


def test_a_volunteer_whose_id_region_never_existed_is_quarantined_masked() -> None:
    number = mainland("350299")
    result = vol_row(cert_no=number)
    assert reasons(result) == {("id_number", "INVALID_CODE")}
    assert isinstance(result, Quarantined)
    assert all(number not in r.message and "350299" not in r.message for r in result.reasons)


def test_a_worker_whose_id_region_never_existed_is_quarantined() -> None:
    row = {"workerId": "W1", "fullName": "林志贵", "idCard": mainland("990000"),
           "gender": "F", "birthDate": "19900101", "nation": "汉族", "phone": "13800138000",
           "districtCode": "350205", "registeredAt": "2024-03-01T01:00:00Z", "active": True,
           "updatedAt": "2026-06-01T00:00:00Z"}
    result = shegong.map_row(SourceRow("volunteer", "W1", "", row), CTX)
    assert ("id_number", "INVALID_CODE") in reasons(result)


def test_a_number_of_a_region_that_never_existed_is_not_retyped_as_01() -> None:
    result = vol_row(cert_type="港澳通行证", cert_no=mainland("350299"))
    assert isinstance(result, Quarantined)
    assert ("id_type", "INVALID_CODE") not in {(w.field, w.code) for w in result.warnings}


# --- USCCs ----------------------------------------------------------------------------

@given(st.text("ABCDEFGHJKLMNPQRTUWXY", min_size=1, max_size=1), st.integers(0, 5),
       known_regions)
def test_a_uscc_with_a_letter_in_characters_3_to_8_is_an_invalid_format(
        letter: str, at: int, region: str) -> None:
    spoiled = region[:at] + letter + region[at + 1:]
    problem = uscc_problem(uscc(spoiled))
    assert problem is not None and problem[0] == "INVALID_FORMAT"


@given(never_regions.filter(lambda c: c != "100000"))
def test_a_uscc_whose_region_never_existed_is_an_invalid_format(region: str) -> None:
    problem = uscc_problem(uscc(region))
    assert problem is not None and problem[0] == "INVALID_FORMAT"


@given(st.sampled_from(sorted(EVER | {"100000"})),
       st.text(USCC_SET, min_size=2, max_size=2), st.text(USCC_SET, min_size=9, max_size=9))
def test_a_uscc_on_a_known_region_or_100000_is_valid(region: str, head: str, org: str) -> None:
    assert uscc_problem(uscc(region, head, org)) is None


def test_a_registered_team_with_a_letter_in_its_uscc_region_is_quarantined() -> None:
    assert reasons(team_row(credit_code=uscc("3502A5"))) == {
        ("uscc", "INVALID_FORMAT")}


def test_a_volunteer_team_with_a_bad_uscc_region_keeps_the_row_and_warns() -> None:
    result = team_row(team_kind="志愿服务队", credit_code=uscc("350299"))
    assert isinstance(result, Mapped)
    assert "uscc" not in result.parts[0].payload
    assert ("uscc", "INVALID_FORMAT") in {(w.field, w.code) for w in result.warnings}


# --- township digits ------------------------------------------------------------------

def test_an_unlisted_township_of_a_listed_county_is_an_invalid_code() -> None:
    problem = area_problem("350205999000000000", None)
    assert problem is not None and problem[0] == "INVALID_CODE"


@pytest.mark.parametrize("area", ["350205000000000000", "350205004000000000",
                                  "350205001123000000", "110101999000000000"])
def test_listed_townships_zero_and_unlisted_counties_are_accepted(area: str) -> None:
    assert area_problem(area, None) is None


@given(st.sampled_from(sorted(codes.townships())), st.integers(1, 999))
def test_the_mapping_sends_an_unknown_township_at_county_level(county: str, n: int) -> None:
    township = f"{n:03d}"
    result = vol_row(MapContext(source="haicang", now=CTX.now), area_code=f"{county}{township}")
    assert isinstance(result, Mapped)
    sent = result.parts[0].payload["area_code"]
    warned = {(w.field, w.code) for w in result.warnings}
    if township in codes.townships()[county]:
        assert sent == f"{county}{township}".ljust(18, "0") and not warned
    else:
        assert sent == county.ljust(18, "0")
        assert ("area_code", "COUNTY_FALLBACK") in warned


def test_the_fallback_warning_names_the_township_code() -> None:
    result = vol_row(area_code="350205999001")
    assert isinstance(result, Mapped)
    assert [w.message for w in result.warnings if w.code == "COUNTY_FALLBACK"] == [
        "area_code: township 350205999 is not in township.csv; sent at county level"]


def test_a_malformed_area_gets_no_fallback() -> None:
    assert ("area_code", "INVALID_FORMAT") in reasons(vol_row(area_code="3502059990"))


def test_the_fallback_still_checks_the_jurisdiction() -> None:
    assert reasons(vol_row(area_code="350102999")) == {("area_code", "FORBIDDEN_REGION")}


# --- ethnicity names ------------------------------------------------------------------

@pytest.mark.parametrize(("name", "code"), [
    ("维族", "05"), ("维", "05"), ("蒙族", "02"), ("蒙", "02"), ("毛难族", "36"),
    ("崩龙族", "46"), ("其他", "97"), ("其它", "97"), ("维吾尔族", "05")])
def test_short_and_old_ethnicity_names_map(name: str, code: str) -> None:
    assert codes.ethnicity(name) == code


@pytest.mark.parametrize("name", [
    "阿美族", "泰雅族", "排湾族", "布农族", "卑南族", "鲁凯族", "邹族", "赛夏族", "雅美族",
    "达悟族", "邵族", "噶玛兰族", "太鲁阁族", "撒奇莱雅族", "赛德克族",
    "拉阿鲁哇族", "卡那卡那富族", "阿美"])
def test_taiwan_indigenous_peoples_are_gaoshan(name: str) -> None:
    assert codes.ethnicity(name) == "23"


def test_a_volunteer_recorded_as_weizu_is_sent_as_uyghur() -> None:
    result = vol_row(nation=" 维族 ")
    assert isinstance(result, Mapped)
    assert result.parts[0].payload["ethnicity"] == "05"


def test_an_unknown_ethnicity_still_refuses_a_mainland_volunteer() -> None:
    assert ("ethnicity", "INVALID_CODE") in reasons(vol_row(nation="火星族"))
