"""`zybridge run` as ops run it: a subprocess, two sources on short schedules, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess, free_port
from bridge.testing.sample import build_sample_store
from tests.system import helpers
from tests.system.helpers import platform_by_ref

ROOT = Path(__file__).resolve().parents[2]
CST = timezone(timedelta(hours=8))


def write_config(folder: Path, sandbox: SandboxProcess, metrics_port: int) -> Path:
    return helpers.write_config(
        folder / "zybridge.toml",
        {"base_url": sandbox.base_url, "app_id": "haicang-demo",
         "app_secret": "${ZYBRIDGE_APP_SECRET}", "rate_per_s": 200.0},
        [{"name": name, "kind": "sql", "url": f"sqlite:///{name}.db", "mapping": "zhiyuanyun",
          "every": "1s", "reconcile_cron": ""} for name in ("haicang", "xinyang")],
        log={"path": "bridge.jsonl", "level": "debug"},
        metrics={"listen": f"127.0.0.1:{metrics_port}"})


def zybridge(config: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET}
    return subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(config), *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def test_daemon_syncs_changes_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    build_sample_store(tmp_path / "haicang.db", volunteers=20, seed=1)
    build_sample_store(tmp_path / "xinyang.db", volunteers=20, seed=2)
    with SandboxProcess(db_path=tmp_path / "sb.db", extra_args=["--rate-per-s", "0"]) as sb:
        port = free_port()
        config = write_config(tmp_path, sb, port)
        proc = zybridge(config, "run")
        try:
            wait_for(lambda: all(any(r.startswith(f"{name}:service_record:")
                                     for r in platform_by_ref(sb))
                                 for name in ("haicang", "xinyang")))
            conn = sqlite3.connect(tmp_path / "haicang.db")
            vid = conn.execute("SELECT vol_id FROM zyy_volunteer WHERE vol_id IN "
                               "(SELECT vol_id FROM zyy_volunteer) ORDER BY vol_id").fetchall()
            stamp = datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")
            changed = [v for (v,) in vid if f"haicang:volunteer:{v}" in platform_by_ref(sb)][:3]
            for v in changed:
                conn.execute("UPDATE zyy_volunteer SET email = ?, gmt_modified = ? "
                             "WHERE vol_id = ?", (f"d{v}@example.org", stamp, v))
            conn.commit()
            conn.close()
            wait_for(lambda: all(platform_by_ref(sb)[f"haicang:volunteer:{v}"].get("email")
                                 == f"d{v}@example.org" for v in changed))
            second = zybridge(config, "run")
            _, err = second.communicate(timeout=30)
            assert second.returncode == 2
            assert f"pid {proc.pid}" in err.decode()
            status = zybridge(config, "status", "--json")
            out, _ = status.communicate(timeout=30)
            doc = json.loads(out)
            assert doc["daemon"]["running"] and doc["daemon"]["pid"] == proc.pid
            assert "sync:haicang" in doc["daemon"]["next_runs"]
            scrape = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            assert 'zybridge_items_total{entity="volunteer",status="created"}' in scrape
            assert "zybridge_outbox_items 0.0" in scrape
            assert 'zybridge_cursor_lag_seconds{source="haicang"' in scrape
            resync = zybridge(config, "resync", "--source", "haicang", "--entity", "volunteer",
                              "--id", str(changed[0]),
                              "--yes")
            out, err = resync.communicate(timeout=60)
            assert resync.returncode == 0, err.decode()
            assert f"handed to the running daemon (pid {proc.pid})" in out.decode()
            assert "resynced" in out.decode()
            later = zybridge(config, "--no-wait", "dead-letters", "retry", "--all")
            out, err = later.communicate(timeout=30)
            assert later.returncode == 0 and "as request" in out.decode(), err.decode()
            after = zybridge(config, "quarantine", "retry", "--all", "--no-wait")
            out, err = after.communicate(timeout=30)  # --no-wait after the command too
            assert after.returncode == 0 and "as request" in out.decode(), err.decode()
            conn = sqlite3.connect(tmp_path / "state.db")
            kinds = {k for (k,) in conn.execute("SELECT kind FROM runs")}
            conn.close()
            assert "resync" in kinds
            argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
            assert DEMO_APP_SECRET.encode() not in argv
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        platform_by_ref(sb)  # asserts that no ref is held twice


def test_sigterm_mid_cycle_checkpoints_and_a_later_sync_converges(tmp_path: Path) -> None:
    from tests.system.helpers import check_invariants, cycle, make_config

    build_sample_store(tmp_path / "haicang.db", volunteers=250, seed=5)
    build_sample_store(tmp_path / "xinyang.db", volunteers=5, seed=6)
    with SandboxProcess(db_path=tmp_path / "sb.db",
                        extra_args=["--rate-per-s", "0", "--latency-ms", "60"]) as sb:
        config = write_config(tmp_path, sb, free_port())
        proc = zybridge(config, "run")
        try:
            wait_for(lambda: sb.stats()["applied"] > 100)
        except AssertionError:
            proc.kill()
            raise AssertionError(proc.communicate()[1].decode()[-3000:]) from None
        assert sb.stats()["applied"] < 1000, "the cycle was still running"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        assert time.monotonic() - started < 30
        cfg = make_config(tmp_path, sb, tmp_path / "haicang.db")
        cfg = cfg.model_copy(update={"state": cfg.state.model_copy(
            update={"path": tmp_path / "state.db"})})
        cycle(cfg)
        check_invariants(cfg, sb, tmp_path / "haicang.db")


def test_a_safety_stop_pauses_only_its_source_until_a_forced_resync(tmp_path: Path) -> None:
    from bridge.testing.sample import soft_delete

    manifest = build_sample_store(tmp_path / "haicang.db", volunteers=20, seed=1)
    build_sample_store(tmp_path / "xinyang.db", volunteers=5, seed=2)
    records = [lid for (e, lid), out in manifest.expected.items()
               if e == "service_record" and out == "synced"]
    with SandboxProcess(db_path=tmp_path / "sb.db", extra_args=["--rate-per-s", "0"]) as sb:
        config = write_config(tmp_path, sb, free_port())
        proc = zybridge(config, "run")
        try:
            wait_for(lambda: sum(1 for r in platform_by_ref(sb)
                                 if r.startswith("haicang:service_record:")) >= 60)
            soft_delete(tmp_path / "haicang.db", "service_record", records[:80])

            def paused() -> bool:
                out, _ = zybridge(config, "status", "--json").communicate(timeout=30)
                return json.loads(out)["sources"]["haicang"]["paused"] is not None

            wait_for(paused)
            held = platform_by_ref(sb)
            assert not any(held[f"haicang:service_record:{r}"].get("revoked")
                           for r in records[:80] if f"haicang:service_record:{r}" in held)
            forced = zybridge(config, "resync", "--source", "haicang", "--entity",
                              "service_record", "--force", "--yes")
            out, err = forced.communicate(timeout=120)
            assert forced.returncode == 0, (out + err).decode()
            wait_for(lambda: not paused())
            wait_for(lambda: sum(1 for r in platform_by_ref(sb).values()
                                 if r.get("revoked")) >= 60)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        assert proc.returncode == 0
