"""The code tables of the national interface, read as data from the packaged CSVs.

Only the files are shared with `mappings/`; no mapping code is imported.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

TABLES = ("education", "entry_method", "ethnicity", "gender", "id_type", "nationality",
          "org_type", "political_status", "region", "service_category")


@dataclass(frozen=True)
class Codes:
    tables: Mapping[str, frozenset[str]]
    counties: frozenset[str]

    def has(self, table: str, code: str) -> bool:
        return code in self.tables[table]


def _read(name: str) -> frozenset[str]:
    text = resources.files("mappings").joinpath("codes", f"{name}.csv").read_text("utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return frozenset(row["code"] for row in rows if row.get("code"))


@functools.cache
def load() -> Codes:
    tables = {name: _read(name) for name in TABLES}
    counties = frozenset(c for c in tables["region"] if len(c) == 6 and c[4:6] != "00")
    return Codes(tables, counties)
