"""The engine reads from the stored cursor: a second pull of an unchanged source reads
only the look-back window, and k re-stamped rows add k rows to it. An engine that
ignored the cursor read every row every cycle. Pulls only (no platform): a real SQLite
source and a real state file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bridge import config as config_mod
from bridge.runtime import Runtime, open_runtime
from bridge.sync import CycleReport
from bridge.testing.sample import STAMP, build_sample_store, touch_rows

K = 4


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[tuple[Runtime, Path]]:
    store = tmp_path / "haicang.db"
    build_sample_store(store, volunteers=60, seed=8)
    cfg = config_mod.parse({
        "state": {"path": str(tmp_path / "state.db")},
        "national": {"base_url": "http://127.0.0.1:9/openapi/v1", "app_id": "a",
                     "app_secret": "s", "jurisdiction": "3502"},
        "sources": [{"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}",
                     "mapping": "zhiyuanyun", "lookback_s": 600, "page_size": 50}],
    }, tmp_path, {})
    with open_runtime(cfg) as rt:
        yield rt, store


def pull(rt: Runtime) -> int:
    report = CycleReport()
    rt.engine.pull(rt.cfg.sources[0], None, report)
    return sum(report.pulled.values())


def test_a_second_pull_reads_only_the_window(runtime: tuple[Runtime, Path]) -> None:
    rt, _ = runtime
    everything = pull(rt)
    window = pull(rt)
    assert 0 < window < everything // 10


def test_k_re_stamped_rows_add_k_rows_to_the_window(runtime: tuple[Runtime, Path]) -> None:
    rt, store = runtime
    pull(rt)
    window = pull(rt)
    cursor = rt.store.cursors("haicang")["volunteer"]["modified"]
    start = (datetime.strptime(cursor, STAMP) - timedelta(seconds=600)).strftime(STAMP)
    old = [lid for lid in ("1000", "1001", "1002", "1003", "1004", "1005")
           if rt.store.conn.execute(
               "SELECT 1 FROM rows WHERE entity = 'volunteer' AND local_id = ? AND "
               "modified < ?", (lid, start)).fetchone()][:K]
    assert len(old) == K
    touch_rows(store, "volunteer", old)
    assert pull(rt) == window + K
