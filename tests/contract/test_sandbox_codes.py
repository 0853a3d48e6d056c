"""The code rules of issue 16 at the sandbox (the oracle: its own loading of the CSVs, its
own checks), and the bridge's mapping against it: what the mapping quarantines, the
sandbox refuses with the same field and code when it is sent anyway; what the mapping
sends, the sandbox accepts (no wasted request). Region history of 01 numbers and USCC
characters 3–8, township digits of area ids (the mapping's county-level fallback)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import SourceRow
from bridge.sandbox import checks as oracle
from bridge.sandbox.codes import load
from mappings import checks, zhiyuanyun
from mappings.result import MapContext, Mapped, MapResult, Quarantined
from tests.contract.conftest import AREA, Api, codes, org, volunteer

CST = timezone(timedelta(hours=8))
USCC_SET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_WEIGHTS = tuple(3 ** i % 31 for i in range(17))


def id18(body: str) -> str:
    """The test's own GB 11643 arithmetic."""
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS,
                                                                 strict=True)) % 11]


def uscc(body: str) -> str:
    """The test's own GB 32100 arithmetic."""
    total = sum(USCC_SET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + USCC_SET[(31 - total % 31) % 31]


def errors(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["field"], e["code"]) for e in result["errors"]}


# --- the sandbox alone --------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ("35029919900101001", {("id_number", "INVALID_CODE")}),   # 350299 never existed
    ("99000019900101001", {("id_number", "INVALID_CODE")}),
    ("11010320150505001", set()),    # 崇文区, retired in 2010: still a valid 01 number
    ("35020519900101001", set()),
])
def test_the_sandbox_checks_an_id_numbers_region_history(
        api: Api, uid: str, body: str, expected: set[tuple[str, str]]) -> None:
    result = api.one("/volunteers/batch", volunteer(f"{uid}:v:1", id18(body)))
    assert errors(result) == expected


def test_the_sandbox_takes_a_taiwan_residence_permit_as_01(api: Api, uid: str) -> None:
    item = volunteer(f"{uid}:v:1", id18("83000019900305122"), nationality="158")
    item.pop("ethnicity")
    assert api.one("/volunteers/batch", item)["status"] == "created"


def test_an_18_digit_number_of_no_region_is_not_taken_for_a_mainland_id(
        api: Api, uid: str) -> None:
    item = volunteer(f"{uid}:v:1", id18("35029919900101001"), id_type="08",
                     nationality="344")
    assert api.one("/volunteers/batch", item)["status"] == "created"


@pytest.mark.parametrize(("body", "expected"), [
    ("513502A5MJD123456", {("uscc", "INVALID_FORMAT")}),   # a letter in characters 3-8
    ("51350299MJD123456", {("uscc", "INVALID_FORMAT")}),   # a region that never existed
    ("51100000MJD123456", set()),                         # a national authority
    ("N2350205MJD123456", set()),                         # a letter authority
])
def test_the_sandbox_checks_a_usccs_region(
        api: Api, uid: str, body: str, expected: set[tuple[str, str]]) -> None:
    result = api.one("/organizations/batch", org(f"{uid}:o:1", org_type="2", uscc=uscc(body)))
    assert errors(result) == expected


@pytest.mark.parametrize(("area", "expected"), [
    ("350205999000000000", {("area_code", "INVALID_CODE")}),
    ("350205005000000000", {("area_code", "INVALID_CODE")}),
    ("350205004000000000", set()),
    ("350205001123000000", set()),
])
def test_the_sandbox_checks_township_digits(
        api: Api, uid: str, area: str, expected: set[tuple[str, str]]) -> None:
    result = api.one("/organizations/batch", org(f"{uid}:o:1", area_code=area))
    assert errors(result) == expected


# --- the mapping's checks and the sandbox's, side by side (no HTTP) -------------------

TABLES = load()
regions = st.one_of(st.sampled_from(sorted(TABLES.regions_ever)),
                    st.integers(0, 999_999).map(lambda n: f"{n:06d}"),
                    st.sampled_from(["810000", "820000", "830000", "100000"]))


@given(regions, st.dates(date(1900, 1, 1), date(2025, 12, 31)), st.integers(0, 999),
       st.sampled_from([None, *"0123456789X"]))
def test_both_judge_every_id_number_alike(region: str, born: date, seq: int,
                                          last: str | None) -> None:
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    number = id18(body) if last is None else body + last
    mine = checks.id_problem("01", number)
    assert (mine and mine[0]) == oracle.mainland_id_problem(number, TABLES.regions_ever)


@given(st.text(USCC_SET, min_size=2, max_size=2),
       st.one_of(regions, st.text(USCC_SET, min_size=6, max_size=6)),
       st.text(USCC_SET, min_size=9, max_size=9), st.booleans())
def test_both_judge_every_uscc_alike(head: str, region: str, tail: str, right: bool) -> None:
    code = uscc(head + region + tail)
    code = code if right else code[:17] + ("0" if code[17] != "0" else "1")
    mine = checks.uscc_problem(code)
    assert (mine and mine[0]) == oracle.uscc_problem(code, TABLES.regions_ever)


@given(st.sampled_from(sorted(TABLES.counties)), st.integers(0, 999), st.integers(0, 999))
def test_both_judge_every_area_id_alike(county: str, township: int, village: int) -> None:
    area = f"{county}{township:03d}{village:03d}000000"
    mine = checks.area_problem(area, "35")
    assert (mine and mine[0]) == oracle.area_problem(area, TABLES.counties, TABLES.townships,
                                                     "35")


# --- the mapping against the sandbox --------------------------------------------------

def _ctx() -> MapContext:
    return MapContext(source="haicang", now=datetime.now(CST), jurisdiction="3502")


def _vol_row(n: int, **over: Any) -> MapResult:
    row = {"vol_id": n, "real_name": "林志贵", "sex": "", "cert_type": "身份证",
           "nation": "汉族", "mobile": "13800000000", "area_code": "350205",
           "reg_time": "2024-03-01", "is_cancel": 0, "memberships": [],
           "gmt_modified": "2026-06-01 10:00:00"} | over
    return zhiyuanyun.map_row(SourceRow("volunteer", str(n), "", row), _ctx())


def _team_row(n: int, credit_code: str) -> MapResult:
    row = {"team_id": n, "team_name": "海沧区慈善志愿服务中心", "team_kind": "志愿服务组织",
           "credit_code": credit_code, "area_code": "350205", "service_types": "环保",
           "linkman": "王老师", "link_phone": "0592-6051234", "state": 1,
           "gmt_modified": "2026-06-01 10:00:00"}
    return zhiyuanyun.map_row(SourceRow("organization", str(n), "", row), _ctx())


def _id_corpus(rng: random.Random, n: int) -> list[str]:
    """Half on random six digits (most never existed), half on 3502 counties old and new."""
    regions = ["350205", "350203", "350202", "350204", "350211", "350213", "350299"]
    numbers = []
    for i in range(n):
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(25_000))
        region = f"{rng.randrange(10 ** 6):06d}" if i % 2 else rng.choice(regions)
        numbers.append(id18(f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"))
    return numbers


def _sent(result: MapResult, ref: str) -> dict[str, Any]:
    assert isinstance(result, Mapped), result
    return {"external_ref": ref, **result.parts[0].payload}


def _refused(result: MapResult) -> set[tuple[str, str]]:
    assert isinstance(result, Quarantined), result
    return {(r.field, r.code) for r in result.reasons}


def test_the_mapping_quarantines_exactly_the_ids_the_sandbox_refuses(
        api: Api, uid: str) -> None:
    numbers = _id_corpus(random.Random(16), 100)
    mapped = [_vol_row(i, cert_no=number) for i, number in enumerate(numbers)]
    items = [_sent(m, f"{uid}:v:{i}") if isinstance(m, Mapped)
             else volunteer(f"{uid}:v:{i}", number, area_code=AREA)
             for i, (m, number) in enumerate(zip(mapped, numbers, strict=True))]
    results = api.batch("/volunteers/batch", *items)
    for m, result in zip(mapped, results, strict=True):
        if isinstance(m, Mapped):
            assert result["status"] in ("created", "matched"), result
        else:   # (a 9… number's nationality the mapping cannot tell: not the point here)
            assert result["status"] == "rejected"
            assert _on("id_number", errors(result)) == _on("id_number", _refused(m)) != set()
    assert 0 < sum(isinstance(m, Quarantined) for m in mapped) < len(mapped)


def _on(field: str, problems: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {p for p in problems if p[0] == field}


def test_the_mapping_quarantines_exactly_the_usccs_the_sandbox_refuses(
        api: Api, uid: str) -> None:
    rng = random.Random(16)
    regions = ["350205", "100000", "3502A5", "350299", "110103", "X10000"]
    codes_ = [uscc(rng.choice("159NY") + rng.choice("123") + rng.choice(regions)
                   + "".join(rng.choice(USCC_SET) for _ in range(9))) for _ in range(60)]
    mapped = [_team_row(i, code) for i, code in enumerate(codes_)]
    items = [_sent(m, f"{uid}:o:{i}") if isinstance(m, Mapped)
             else org(f"{uid}:o:{i}", org_type="2", uscc=code)
             for i, (m, code) in enumerate(zip(mapped, codes_, strict=True))]
    results = api.batch("/organizations/batch", *items)
    for m, result in zip(mapped, results, strict=True):
        if isinstance(m, Mapped):
            assert result["status"] == "created", result
        else:
            assert result["status"] == "rejected" and errors(result) == _refused(m)
    assert 0 < sum(isinstance(m, Quarantined) for m in mapped) < len(mapped)


def test_an_unknown_township_is_sent_at_county_level_where_the_raw_one_is_refused(
        api: Api, uid: str) -> None:
    rng = random.Random(16)
    areas = [f"{rng.choice(['350203', '350205', '350206', '350211'])}"
             f"{rng.randrange(20):03d}{rng.randrange(3):03d}" for _ in range(40)]
    mapped = [_vol_row(i, cert_no=id18(f"35020519900101{i:03d}"), area_code=a)
              for i, a in enumerate(areas)]
    sent = api.batch("/volunteers/batch", *(_sent(m, f"{uid}:v:{i}")
                                            for i, m in enumerate(mapped)))
    assert all(r["status"] in ("created", "matched") for r in sent), sent
    raw = api.batch("/organizations/batch", *(org(f"{uid}:o:{i}", area_code=a.ljust(18, "0"))
                                              for i, a in enumerate(areas)))
    for m, result in zip(mapped, raw, strict=True):
        assert isinstance(m, Mapped)
        fell_back = any(w.code == "COUNTY_FALLBACK" for w in m.warnings)
        assert fell_back == (codes(result) == {("area_code", "INVALID_CODE")}), result
    assert 0 < sum(r["status"] == "rejected" for r in raw) < len(raw)
