"""The look-back window against the stored cursor: an incremental cycle pulls the rows
changed since the cursor plus the window before it, and a row re-read there whose
content did not change sends nothing. Without the ledger's content-hash skip a
re-stamped row was sent every cycle; an engine ignoring the cursor pulled everything."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from bridge.config import Config
from bridge.sync import CycleReport
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import STAMP, SampleManifest, touch_rows, update_rows
from state.store import StateStore
from tests.system.helpers import cycle, make_config

K = 3


def stored_pulled(cfg: Config) -> dict[str, int]:
    """The pulled counts the last run recorded in the state file."""
    store = StateStore.open(cfg.state.path, readonly=True)
    try:
        return dict(store.runs(1)[0]["stats"]["pulled"])
    finally:
        store.close()


def outside_window(cfg: Config, store: Path, manifest: SampleManifest) -> list[str]:
    """K synced volunteers stamped before the volunteer stream's window (cursor − look-back)."""
    state = StateStore.open(cfg.state.path, readonly=True)
    try:
        cursor = state.cursors("haicang")["volunteer"]["modified"]
    finally:
        state.close()
    start = (datetime.strptime(cursor, STAMP)
             - timedelta(seconds=cfg.sources[0].lookback_s)).strftime(STAMP)
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        old = {str(v) for (v,) in conn.execute(
            "SELECT vol_id FROM zyy_volunteer WHERE gmt_modified < ?", (start,))}
    finally:
        conn.close()
    ids = [v for v in manifest.ids("volunteer", "synced") if v in old][:K]
    assert len(ids) == K
    return ids


def settle(tmp_path: Path, sandbox: SandboxProcess, store: Path) -> tuple[Config, CycleReport]:
    """The backfill, then one quiet cycle: what the window alone pulls."""
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    quiet = cycle(cfg)
    sandbox.reset_stats()
    return cfg, quiet


def test_a_quiet_cycle_pulls_only_the_window(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg, quiet = settle(tmp_path, sandbox, store)
    assert 0 < sum(quiet.pulled.values()) < len(manifest.expected) // 10
    assert stored_pulled(cfg) == dict(quiet.pulled)


def test_re_stamped_unchanged_rows_send_nothing_over_two_cycles(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg, quiet = settle(tmp_path, sandbox, store)
    touch_rows(store, "volunteer", outside_window(cfg, store, manifest))
    first, second = cycle(cfg), cycle(cfg)
    assert first.pulled["volunteer"] == quiet.pulled["volunteer"] + K
    assert sandbox.stats()["total"] == 0, "a re-stamped row with unchanged content was sent"
    assert first.ok and second.ok
    assert second.outcomes["mapped"] == 0, "rows settled in the window were mapped again"


def test_a_k_row_change_pulls_k_rows_plus_the_window_and_sends_k(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg, quiet = settle(tmp_path, sandbox, store)
    ids = outside_window(cfg, store, manifest)
    for vid in ids:
        update_rows(store, "volunteer", [vid], {"email": f"changed{vid}@example.cn"})
    report = cycle(cfg)
    expected = {**quiet.pulled, "volunteer": quiet.pulled["volunteer"] + K}
    assert dict(report.pulled) == expected
    assert stored_pulled(cfg) == expected
    assert sandbox.stats()["items"] == K
    assert report.push is not None and report.push.items == {"updated": K}
