"""bench/map_rows.py: the mapping micro-benchmark times every row of the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.map_rows import ENTITIES, NOW, main, measure, read_rows, render
from bridge.testing.sample import build_sample_store


def test_the_table_has_every_entity_with_its_row_count(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    manifest = build_sample_store(store, volunteers=20, seed=3, now=NOW)
    table = measure(store, runs=1)
    assert [e for e in table if e in ENTITIES] == list(ENTITIES)
    for entity in ENTITIES:
        assert table[entity]["rows"] == manifest.counts[entity] == len(read_rows(store)[entity])
        assert table[entity]["us_per_row"] > 0
    assert table["total"]["rows"] == sum(manifest.counts.values())
    assert "service_record" in render(table) and "setup" in render(table)


def test_the_command_prints_one_json_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s.db"
    build_sample_store(store, volunteers=10, seed=3, now=NOW)
    assert main(["--store", str(store), "--runs", "1", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and '"total"' in out
