"""Every step of the flow crashed deterministically: a bridge run with `$ZYB_CRASH_AT`
kills itself (SIGKILL) right after the named step, a plain run follows, and the platform
ends as if nothing had happened: no duplicate, nothing lost, every row's content current
(tests/system/oracle.py). Random kills stay in the soak (make soak)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.crashpoints import ENV, POINTS
from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import build_sample_store, soft_delete, update_rows
from tests.system.helpers import cycle, make_config
from tests.system.oracle import check_converged, state_intact

ROOT = Path(__file__).resolve().parents[2]
PASS = 2  # the second pass of each point: something of the run is done before it


def write_config(folder: Path, sandbox: SandboxProcess, store: Path) -> Path:
    """The file make_config's Config reads too (the same state file), for `zybridge`."""
    path = folder / "zybridge.toml"
    path.write_text(f"""
[state]
path = "state.db"
[log]
path = "bridge.jsonl"
[national]
base_url = "{sandbox.base_url}"
app_id = "haicang-demo"
app_secret = "${{ZYBRIDGE_APP_SECRET}}"
jurisdiction = "3502"
rate_per_s = 500.0
batch_size = 25
retry_base_s = 0.05
retry_cap_s = 0.2
[[sources]]
name = "haicang"
kind = "sql"
url = "sqlite:///{store}"
mapping = "zhiyuanyun"
page_size = 40
""", encoding="utf-8")
    return path


def sync(config: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["ZYBRIDGE_APP_SECRET"] = DEMO_APP_SECRET
    if crash_at:
        env[ENV] = crash_at
    return subprocess.run([sys.executable, "-m", "bridge", "--config", str(config), "sync"],
                          cwd=ROOT, env=env, capture_output=True, timeout=300, check=False)


def crash_then_recover(config: Path, point: str) -> None:
    crashed = sync(config, f"{point}:{PASS}")
    assert crashed.returncode == -signal.SIGKILL, \
        f"the run did not die at {point}:{PASS}: {crashed.stderr.decode()[-800:]}"
    done = sync(config)
    assert done.returncode == 0, done.stderr.decode()[-800:]


def change_rows(store: Path) -> None:
    """Updates of volunteers and service records, and deletions (revocations)."""
    conn = sqlite3.connect(store)
    try:
        recs = [r for (r,) in conn.execute("SELECT rec_id FROM zyy_service_time ORDER BY 1")]
        vols = [v for (v,) in conn.execute("SELECT vol_id FROM zyy_volunteer ORDER BY 1")]
    finally:
        conn.close()
    rng = random.Random(5)
    changed = rng.sample(recs, 54)
    update_rows(store, "volunteer", rng.sample(vols, 40), {"email": "crash@example.org"})
    update_rows(store, "service_record", changed[:50], {"content": "社区巡逻与环境整治（更新）"})
    soft_delete(store, "service_record", changed[50:])


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    store = tmp_path / "haicang.db"
    build_sample_store(store, volunteers=80, seed=3)
    return store, tmp_path


@pytest.mark.parametrize("point", POINTS)
def test_a_backfill_crashed_at_each_point_converges_on_restart(
        point: str, world: tuple[Path, Path], sandbox: SandboxProcess) -> None:
    store, folder = world
    config = write_config(folder, sandbox, store)
    crash_then_recover(config, point)
    cfg = make_config(folder, sandbox, store)
    state_intact(cfg)
    check_converged(cfg, sandbox, store)


@pytest.mark.parametrize("point", POINTS)
def test_an_incremental_cycle_crashed_at_each_point_converges_on_restart(
        point: str, world: tuple[Path, Path], sandbox: SandboxProcess) -> None:
    store, folder = world
    config = write_config(folder, sandbox, store)
    assert cycle(make_config(folder, sandbox, store)).ok
    change_rows(store)
    crash_then_recover(config, point)
    cfg = make_config(folder, sandbox, store)
    state_intact(cfg)
    check_converged(cfg, sandbox, store)
