"""The national code tables (the CSVs beside this file, copied byte for byte from
spec/codes and read with importlib.resources: no code is retyped here) and the tables
that turn local names into those codes (local-sources.md §A, "How 志愿云 values map").

Besides the `code,name` tables: `region_history.csv` (every GB/T 2260 code ever issued,
with the years it was in force: what an ID number's and a USCC's region digits are
checked against) and `township.csv` (the 9-digit township codes of 福建省: what an area
id's township digits are checked against).

Local-name lookups ignore white space and full-width forms (NFKC). A name the tables do
not know gives None: the mapping decides whether that refuses the row or drops the value.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from types import MappingProxyType

TABLES: tuple[str, ...] = (
    "education", "entry_method", "ethnicity", "gender", "id_type", "nationality",
    "org_type", "political_status", "region", "service_category")


HISTORY_HEADER = ["code", "name", "from_year", "to_year"]


def _rows(name: str, header: list[str]) -> list[list[str]]:
    """The data rows of codes/<name>.csv, after checking its header and every row's width."""
    raw = resources.files(__name__).joinpath(f"{name}.csv").read_text("utf-8")
    rows = list(csv.reader(io.StringIO(raw.lstrip("\ufeff"))))
    if not rows or rows[0] != header:
        raise ValueError(f"codes/{name}.csv: the header must be {','.join(header)}")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"codes/{name}.csv line {line}: {len(row)} fields, "
                             f"not {len(header)}")
    return rows[1:]


@cache
def table(name: str) -> Mapping[str, str]:
    """code → national name, in file order. KeyError for a table that does not exist."""
    if name not in TABLES:
        raise KeyError(name)
    return MappingProxyType({code: title for code, title in _rows(name, ["code", "name"])})


@dataclass(frozen=True)
class Spell:
    """One line of region_history.csv: a code under one name, from_year to to_year
    (None: open at that end)."""

    code: str
    name: str
    from_year: int | None
    to_year: int | None


def _year(value: str, where: str) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) == 4):
        raise ValueError(f"codes/region_history.csv: {where}: {value!r} is not a year")
    return int(value)


@cache
def region_history() -> tuple[Spell, ...]:
    """Every line of region_history.csv, in file order."""
    spells = []
    for code, title, start, end in _rows("region_history", HISTORY_HEADER):
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise ValueError(f"codes/region_history.csv: {code!r} is not six digits")
        spells.append(Spell(code, title, _year(start, code), _year(end, code)))
    return tuple(spells)


@cache
def regions_ever() -> frozenset[str]:
    """The GB/T 2260 codes that existed at any time (region_history.csv)."""
    return frozenset(s.code for s in region_history())


@cache
def townships() -> Mapping[str, frozenset[str]]:
    """County code → the three township digits township.csv lists for it. A county
    not here has no list: its township digits are not checked."""
    by_county: dict[str, set[str]] = {}
    for code, _title in _rows("township", ["code", "name"]):
        if not (len(code) == 9 and code.isascii() and code.isdigit()):
            raise ValueError(f"codes/township.csv: {code!r} is not nine digits")
        by_county.setdefault(code[:6], set()).add(code[6:])
    return MappingProxyType({c: frozenset(t) for c, t in by_county.items()})


@cache
def counties() -> frozenset[str]:
    """County-level codes of region.csv: six digits whose fifth and sixth are not 00."""
    return frozenset(c for c in table("region") if len(c) == 6 and c[4:] != "00")


@lru_cache(maxsize=4096)
def key(value: str) -> str:
    """The form local names are looked up by: NFKC, no white space. Cached: a column holds
    a handful of distinct local names (the tables stay uncached: a fix to one is seen at
    once)."""
    return "".join(unicodedata.normalize("NFKC", value).split())


@cache
def _by_name(name: str) -> Mapping[str, str]:
    return MappingProxyType({key(title): code for code, title in table(name).items()})


def _lookup(name: str, local: Mapping[str, str], value: str) -> str | None:
    k = key(value)
    return local.get(k) or _by_name(name).get(k)


# --- 志愿云 local names → national codes (local-sources.md §A) -------------------------

ORG_TYPE_BY_KIND: Mapping[str, str] = MappingProxyType(
    {"志愿服务组织": "2", "志愿服务队": "1", "其他": "3"})
ORG_STATUS_BY_STATE: Mapping[int, str] = MappingProxyType({1: "active", 3: "dissolved"})
VOLUNTEER_STATUS_BY_CANCEL: Mapping[int, str] = MappingProxyType({0: "active", 1: "inactive"})
PROJECT_STATUS_BY_STATE: Mapping[int, str] = MappingProxyType(
    {3: "recruiting", 4: "running", 5: "finished", 6: "finished", 7: "cancelled"})
ENTRY_METHOD_BY_WAY: Mapping[int, str] = MappingProxyType({1: "1", 2: "2", 4: "4"})

GENDER_BY_SEX: Mapping[str, str] = MappingProxyType(
    {"男": "1", "女": "2", "男性": "1", "女性": "2", "M": "1", "F": "2", "m": "1", "f": "2",
     "1": "1", "2": "2"})

# cert_type → id_type. 外国人永久居留证 is not here: it is 01 or 08 by its number.
CERT_TYPES: Mapping[str, str] = MappingProxyType({
    "身份证": "01", "居民身份证": "01", "居住证": "01", "港澳台居民居住证": "01",
    "台胞证": "04", "台湾居民来往大陆通行证": "04",
    "港澳通行证": "08", "港澳居民来往内地通行证": "08",
    "护照": "05",
})
FOREIGN_PERMITS: frozenset[str] = frozenset({"外国人永久居留证", "外国人永久居留身份证"})

# §A: these five and nothing else (besides their national names); the rest is dropped.
POLITICS: Mapping[str, str] = MappingProxyType({
    "中共党员": "01", "党员": "01", "预备党员": "02", "中共预备党员": "02",
    "共青团员": "03", "团员": "03", "无党派": "12", "无党派人士": "12", "群众": "13",
})

EDUCATION: Mapping[str, str] = MappingProxyType({
    "博士": "11", "硕士": "14", "研究生": "14", "本科": "20", "大专": "30", "专科": "30",
    "中专": "40", "技校": "50", "高中": "60", "初中": "70", "小学": "80", "其他": "99",
})

SERVICE_SYNONYMS: Mapping[str, str] = MappingProxyType({
    "环保": "0006", "助老": "0017", "助残": "0017", "义诊": "0004", "支教": "0003",
    "普法": "0005", "交通劝导": "0011", "禁毒": "0014", "文明实践": "0010", "两岸交流": "0099",
})


# §A: the common short and old names, and Taiwan's indigenous peoples (高山族, 23).
ETHNICITY_ALIASES: Mapping[str, str] = MappingProxyType({
    "维族": "05", "蒙族": "02", "毛难族": "36", "崩龙族": "46", "其他": "97", "其它": "97",
    **dict.fromkeys((
        "阿美族", "泰雅族", "排湾族", "布农族", "卑南族", "鲁凯族", "邹族", "赛夏族", "雅美族",
        "达悟族", "邵族", "噶玛兰族", "太鲁阁族", "撒奇莱雅族", "赛德克族", "拉阿鲁哇族",
        "卡那卡那富族"), "23"),
})


def ethnicity(value: str) -> str | None:
    """GB/T 3304 code by the name in ethnicity.csv or an alias of §A, with or without the
    trailing 族 (汉 and 汉族 are 01; 维族 05; 阿美族 23)."""
    k = key(value)
    names = _by_name("ethnicity")
    for name in (k, k + "族"):
        code = names.get(name) or ETHNICITY_ALIASES.get(name)
        if code is not None:
            return code
    return None


def political_status(value: str) -> str | None:
    code = _lookup("political_status", POLITICS, value)
    return code if code in set(POLITICS.values()) else None


def education(value: str) -> str | None:
    return _lookup("education", EDUCATION, value)


def service_category(value: str) -> str | None:
    """By the national name, a local synonym, or the code itself."""
    k = key(value)
    if k in table("service_category"):
        return k
    return _lookup("service_category", SERVICE_SYNONYMS, value)


def gender(value: str) -> str | None:
    return GENDER_BY_SEX.get(key(value))


def id_type(cert_type: str) -> str | None:
    """01, 04, 05 or 08 for a known local cert_type; None for a foreign permit or unknown."""
    return CERT_TYPES.get(key(cert_type))


_NATIONALITY_BY_PREFIX = {"810000": "344", "820000": "446", "830000": "158"}


def nationality_of_id(number: str) -> str | None:
    """The nationality an 18-digit `01` number gives by its prefix (居住证 810000 → 344,
    820000 → 446, 830000 → 158; else 156); None for a 9-series permanent residence ID,
    which does not tell it (local-sources.md §A)."""
    if number.startswith("9"):
        return None
    return _NATIONALITY_BY_PREFIX.get(number[:6], "156")


def is_foreign_permit(cert_type: str) -> bool:
    return key(cert_type) in FOREIGN_PERMITS


def org_type(team_kind: str) -> str | None:
    return ORG_TYPE_BY_KIND.get(key(team_kind))
