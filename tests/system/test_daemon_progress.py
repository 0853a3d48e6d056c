"""Issue 17: a long cycle of the daemon logs a progress line every 10 s (rows read, items
sent, the rate), the daemon being a real `zybridge run` against a slow sandbox."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import build_sample_store
from tests.system import helpers
from tests.system.test_daemon import wait_for, zybridge


def _progress(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines() if x]
    return [e for e in lines if e.get("event") == "progress"]


def test_a_long_daemon_cycle_logs_progress_every_ten_seconds(tmp_path: Path) -> None:
    build_sample_store(tmp_path / "haicang.db", volunteers=200, seed=3)
    log = tmp_path / "bridge.jsonl"
    with SandboxProcess(db_path=tmp_path / "sb.db",
                        extra_args=["--rate-per-s", "0", "--latency-ms", "250"]) as sb:
        config = helpers.write_config(
            tmp_path / "zybridge.toml",
            {"base_url": sb.base_url, "app_id": "haicang-demo",
             "app_secret": "${ZYBRIDGE_APP_SECRET}", "rate_per_s": 200.0, "batch_size": 5,
             "max_in_flight": 2},
            [{"name": "haicang", "kind": "sql", "url": "sqlite:///haicang.db",
              "mapping": "zhiyuanyun", "every": "1h", "reconcile_cron": ""}],
            log={"path": "bridge.jsonl", "level": "info"})
        proc = zybridge(config, "run")
        try:
            wait_for(lambda: len(_progress(log)) >= 2, timeout=90)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=90)
    first, second = _progress(log)[:2]
    assert first["source"] == "haicang" and first["rows_read"] and "rows_per_s" in first
    assert sum(second["items_sent"].values()) > 0
    assert second["elapsed_s"] - first["elapsed_s"] >= 10.0
