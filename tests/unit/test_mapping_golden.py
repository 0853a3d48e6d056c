"""Golden differential test of the mappings: every row of a fixed corpus (a sample 志愿云
store and seeded messy rows of all three sources; tests/unit/golden_rows.py) maps to
exactly what it mapped to when tests/unit/data/mapping_golden.json was written: the same
payloads in the same order, refs, warnings, quarantine reasons and their messages,
skips and deferrals. A change to what a mapping makes must rewrite the file on purpose:
`python -m tests.unit.test_mapping_golden --write`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.unit.golden_rows import digests

GOLDEN = Path(__file__).parent / "data" / "mapping_golden.json"


@pytest.fixture(scope="module")
def current(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return digests(tmp_path_factory.mktemp("golden"))


def test_the_golden_file_covers_every_group(current: dict[str, dict[str, Any]]) -> None:
    golden = json.loads(GOLDEN.read_text("utf-8"))
    assert sorted(golden) == sorted(current)


def test_every_group_maps_to_its_golden_results(current: dict[str, dict[str, Any]]) -> None:
    golden = json.loads(GOLDEN.read_text("utf-8"))
    changed = {name: (golden.get(name), got) for name, got in current.items()
               if golden.get(name) != got}
    assert not changed, f"mapping results changed: {changed}"


def test_the_corpus_reaches_every_kind_of_result(current: dict[str, dict[str, Any]]) -> None:
    kinds = {kind for group in current.values() for kind in group["kinds"]}
    assert {"Mapped", "Quarantined", "Skipped", "Deferred"} <= kinds
    assert all(group["count"] > 0 for group in current.values())


def write() -> None:
    with tempfile.TemporaryDirectory() as folder:
        found = digests(Path(folder))
    GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", "utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    write()
