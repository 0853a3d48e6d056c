"""The code tables of the national interface, read as data from the packaged CSVs.

Only the files are shared with `mappings/`; no mapping code is imported. Besides the
`code,name` tables: the region codes that ever existed (`region_history.csv`, which ID
numbers' and USCCs' region digits are checked against) and the townships of each listed
county (`township.csv`, which area ids' township digits are checked against).
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

TABLES = ("education", "entry_method", "ethnicity", "gender", "id_type", "nationality",
          "org_type", "political_status", "region", "service_category")


@dataclass(frozen=True)
class Codes:
    tables: Mapping[str, frozenset[str]]
    counties: frozenset[str]
    regions_ever: frozenset[str]
    townships: Mapping[str, frozenset[str]]

    def has(self, table: str, code: str) -> bool:
        return code in self.tables[table]


def _rows(name: str) -> Iterator[dict[str, str]]:
    text = resources.files("mappings").joinpath("codes", f"{name}.csv").read_text("utf-8")
    yield from csv.DictReader(io.StringIO(text))


def _read(name: str) -> frozenset[str]:
    return frozenset(row["code"] for row in _rows(name) if row.get("code"))


def _townships() -> Mapping[str, frozenset[str]]:
    """county (6 digits) → its township digits (7–9)."""
    found: dict[str, set[str]] = {}
    for code in _read("township"):
        found.setdefault(code[:6], set()).add(code[6:9])
    return MappingProxyType({county: frozenset(t) for county, t in found.items()})


@functools.cache
def load() -> Codes:
    tables = {name: _read(name) for name in TABLES}
    counties = frozenset(c for c in tables["region"] if len(c) == 6 and c[4:6] != "00")
    return Codes(tables, counties, _read("region_history"), _townships())
