from __future__ import annotations

from pathlib import Path

import pytest

from mappings import codes

SPEC = Path(__file__).parents[2].parent / "shared" / "spec" / "codes"
PACKAGED = Path(codes.__file__).parent


def test_packaged_code_tables_are_byte_identical_to_the_spec() -> None:
    if not SPEC.is_dir():
        pytest.skip("spec/codes is not beside the repository")
    spec = sorted(p.name for p in SPEC.glob("*.csv"))
    assert spec == sorted(p.name for p in PACKAGED.glob("*.csv"))
    for name in spec:
        assert (PACKAGED / name).read_bytes() == (SPEC / name).read_bytes(), name


@pytest.mark.parametrize("name", codes.TABLES)
def test_every_table_loads_with_string_codes(name: str) -> None:
    table = codes.table(name)
    assert table and all(isinstance(c, str) and c for c in table)


def test_codes_keep_their_leading_zeros() -> None:
    assert codes.table("ethnicity")["01"] == "汉族"
    assert "0006" in codes.table("service_category")


def test_an_unknown_table_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        codes.table("nope")


def test_counties_exclude_provinces_and_cities() -> None:
    assert "350205" in codes.counties()
    assert not {"350000", "350200", "810000", "710000"} & codes.counties()


@pytest.mark.parametrize(("name", "code"), [("汉族", "01"), ("汉", "01"), ("畲", "22"),
                                             ("畲族", "22"), ("蒙古", "02"), (" 回 族 ", "03")])
def test_ethnicity_by_name_with_or_without_zu(name: str, code: str) -> None:
    assert codes.ethnicity(name) == code


def test_an_unknown_ethnicity_is_none() -> None:
    assert codes.ethnicity("火星族") is None


@pytest.mark.parametrize(("name", "code"), [
    ("中共党员", "01"), ("党员", "01"), ("预备党员", "02"), ("共青团员", "03"), ("团员", "03"),
    ("无党派", "12"), ("群众", "13"), ("中国共产党党员", "01")])
def test_political_status_by_local_name(name: str, code: str) -> None:
    assert codes.political_status(name) == code


@pytest.mark.parametrize("name", ["其他", "民革党员", "中国民主同盟盟员", "某党"])
def test_other_political_statuses_map_to_nothing(name: str) -> None:
    assert codes.political_status(name) is None


@pytest.mark.parametrize(("name", "code"), [
    ("博士", "11"), ("硕士", "14"), ("研究生", "14"), ("本科", "20"), ("大专", "30"),
    ("中专", "40"), ("技校", "50"), ("高中", "60"), ("初中", "70"), ("小学", "80"), ("其他", "99")])
def test_education_by_local_name(name: str, code: str) -> None:
    assert codes.education(name) == code


@pytest.mark.parametrize(("name", "code"), [
    ("环保", "0006"), ("助老", "0017"), ("助残", "0017"), ("义诊", "0004"), ("支教", "0003"),
    ("普法", "0005"), ("交通劝导", "0011"), ("禁毒", "0014"), ("文明实践", "0010"),
    ("两岸交流", "0099"), ("社区服务", "0001"), ("关爱特殊群体", "0017"), ("0018", "0018")])
def test_service_categories_by_name_or_synonym(name: str, code: str) -> None:
    assert codes.service_category(name) == code


@pytest.mark.parametrize(("cert", "code"), [("身份证", "01"), ("居住证", "01"), ("台胞证", "04"),
                                             ("港澳通行证", "08"), ("护照", "05")])
def test_cert_types_by_local_name(cert: str, code: str) -> None:
    assert codes.id_type(cert) == code


def test_a_foreign_permit_has_no_fixed_id_type() -> None:
    assert codes.id_type("外国人永久居留证") is None
    assert codes.is_foreign_permit("外国人永久居留证")


@pytest.mark.parametrize(("table", "local"), [
    ("political_status", codes.POLITICS), ("education", codes.EDUCATION),
    ("service_category", codes.SERVICE_SYNONYMS), ("id_type", codes.CERT_TYPES),
    ("gender", codes.GENDER_BY_SEX), ("org_type", codes.ORG_TYPE_BY_KIND),
    ("entry_method", codes.ENTRY_METHOD_BY_WAY),
])
def test_every_local_table_maps_to_national_codes(table: str, local: dict[str, str]) -> None:
    assert set(local.values()) <= set(codes.table(table))
