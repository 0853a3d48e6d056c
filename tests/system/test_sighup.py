"""Issue 17: SIGHUP to a real `zybridge run` reopens the log file (logrotate) and reloads
the configuration at the next cycle boundary; a configuration that fails validation is
logged as an error and the old one keeps running; SIGTERM still stops it with exit 0
(operator-interface.md "The daemon under a service manager")."""

from __future__ import annotations

import json
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import build_sample_store
from tests.system import helpers
from tests.system.helpers import platform_by_ref
from tests.system.test_daemon import wait_for, zybridge


def _config(folder: Path, sandbox: SandboxProcess, haicang_every: str) -> Path:
    return helpers.write_config(
        folder / "zybridge.toml",
        {"base_url": sandbox.base_url, "app_id": "haicang-demo",
         "app_secret": "${ZYBRIDGE_APP_SECRET}", "rate_per_s": 200.0},
        [{"name": name, "kind": "sql", "url": f"sqlite:///{name}.db", "mapping": "zhiyuanyun",
          "every": every, "reconcile_cron": ""}
         for name, every in (("haicang", haicang_every), ("xinyang", "1s"))],
        log={"path": "bridge.jsonl", "level": "info"})


def _events(log: Path, event: str) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines() if x]
    return [e for e in lines if e.get("event") == event]


def _runs(state: Path, source: str) -> int:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM runs WHERE sources LIKE ?",
                                (f"%{source}%",)).fetchone()[0])
    finally:
        conn.close()


def _next_run(config: Path, job: str) -> datetime | None:
    out, _ = zybridge(config, "status", "--json").communicate(timeout=30)
    when = json.loads(out)["daemon"]["next_runs"].get(job)
    return None if when is None else datetime.fromisoformat(when)


def test_sighup_reloads_the_config_keeps_the_old_on_error_and_reopens_the_log(
        tmp_path: Path) -> None:
    build_sample_store(tmp_path / "haicang.db", volunteers=10, seed=1)
    build_sample_store(tmp_path / "xinyang.db", volunteers=5, seed=2)
    log, state = tmp_path / "bridge.jsonl", tmp_path / "state.db"
    with SandboxProcess(db_path=tmp_path / "sb.db", extra_args=["--rate-per-s", "0"]) as sb:
        config = _config(tmp_path, sb, "1s")
        proc = zybridge(config, "run")
        try:
            wait_for(lambda: any(r.startswith("haicang:") for r in platform_by_ref(sb)))
            # a changed schedule: reloaded, haicang's next cycle an hour away
            _config(tmp_path, sb, "1h")
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: _events(log, "SIGHUP: configuration reloaded"))
            reloaded = _events(log, "SIGHUP: configuration reloaded")[-1]
            assert reloaded["sources"] == {"haicang": "1h", "xinyang": "1s"}
            later = datetime.now(UTC) + timedelta(minutes=30)
            wait_for(lambda: (_next_run(config, "sync:haicang") or later) >= later)
            # a broken config: an error logged, the old one keeps running and syncing
            config.write_text(config.read_text().replace('"1h"', '"soon"'))
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: _events(log, "SIGHUP: the new configuration is not valid; "
                                          "the old one keeps running"))
            error = _events(log, "SIGHUP: the new configuration is not valid; the old one "
                                 "keeps running")[-1]
            assert error["level"] == "error" and "every" in error["error"]
            runs = _runs(state, "xinyang")
            wait_for(lambda: _runs(state, "xinyang") >= runs + 2)
            assert proc.poll() is None
            # logrotate moved the file away: SIGHUP opens a new one at the path
            log.rename(tmp_path / "bridge.jsonl.1")
            _config(tmp_path, sb, "1h")
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: _events(log, "SIGHUP: configuration reloaded"))
            assert (log.stat().st_mode & 0o777) == 0o600
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert _events(log, "daemon stopped")
