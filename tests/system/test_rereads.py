"""Re-reads of the look-back window: rows whose mapping cannot change are left out before
mapping; a row whose outcome depends on the clock is mapped again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.runtime import open_runtime
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, local_stamp, update_rows
from tests.system.helpers import make_config, state_rows


def test_a_row_quarantined_by_the_clock_is_mapped_again_when_its_time_comes(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    vid = manifest.ids("volunteer", "synced")[0]
    update_rows(store, "volunteer", [vid], {"reg_time": local_stamp()})
    cfg = make_config(tmp_path, sandbox, store)
    with open_runtime(cfg) as rt:
        rt.engine.now = lambda: datetime.now(UTC) - timedelta(days=2)  # a clock behind
        rt.engine.cycle()
        status = {r["local_id"]: r for r in state_rows(cfg) if r["entity"] == "volunteer"}
        assert status[vid]["status"] == "quarantined"
        rt.engine.now = lambda: datetime.now(UTC)
        report = rt.engine.cycle()   # the row is inside the look-back window, unchanged
    status = {r["local_id"]: r for r in state_rows(cfg) if r["entity"] == "volunteer"}
    assert status[vid]["status"] == "synced"
    assert report.outcomes["unchanged"] > 0, "settled rows of the window were mapped again"
