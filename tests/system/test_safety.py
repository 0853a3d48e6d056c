"""Safety stops: a bad day at the source must not revoke or deactivate the platform."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.errors import SafetyStop
from bridge.runtime import open_runtime
from bridge.sample import SampleManifest, soft_delete, update_rows
from bridge.sandbox import DEMO_APP_SECRET
from bridge.sandbox.harness import SandboxProcess
from tests.system.helpers import cycle, make_config, platform_by_ref


def synced_records(store: Path, manifest: SampleManifest) -> list[str]:
    return [lid for (e, lid), out in manifest.expected.items()
            if e == "service_record" and out == "synced"]


def revoked_on_platform(sandbox: SandboxProcess) -> int:
    return sum(1 for r in platform_by_ref(sandbox).values()
               if r["_entity"] == "service_record" and r.get("revoked"))


def test_mass_revocation_stops_before_sending_until_forced(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    ids = synced_records(store, manifest)[:120]
    soft_delete(store, "service_record", ids)
    sandbox.reset_stats()
    with pytest.raises(SafetyStop, match=r"would revoke or deactivate 1[0-9][0-9] of"):
        cycle(cfg)
    assert sandbox.stats()["total"] == 0, "nothing was sent"
    with pytest.raises(SafetyStop):
        cycle(cfg)  # the stop holds until an admin forces it
    with open_runtime(cfg) as rt:
        rt.engine.cycle(force=True)
    assert revoked_on_platform(sandbox) >= len(ids)


def test_a_few_revocations_pass(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    soft_delete(store, "service_record", synced_records(store, manifest)[:5])
    assert cycle(cfg).ok
    assert revoked_on_platform(sandbox) >= 5


def test_mass_deactivation_of_volunteers_stops(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    cfg = cfg.model_copy(update={"safety": cfg.safety.model_copy(
        update={"max_revoke_min": 10, "max_revoke_share": 0.05})})
    cycle(cfg)
    vols = [lid for (e, lid), out in manifest.expected.items()
            if e == "volunteer" and out == "synced"]
    update_rows(store, "volunteer", vols[:40], {"is_cancel": 1})
    with pytest.raises(SafetyStop):
        cycle(cfg)


def test_a_full_read_that_sees_too_little_stops_and_an_empty_incremental_read_is_quiet(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    assert cycle(cfg).ok  # nothing changed: quiet, not a stop
    conn = sqlite3.connect(store)
    for table in ("zyy_service_time", "zyy_team_member", "zyy_volunteer"):
        conn.execute(f"DELETE FROM {table}")
    conn.commit()
    conn.close()
    assert cycle(cfg).ok  # an incremental read that finds nothing is never a stop
    with open_runtime(cfg) as rt, pytest.raises(SafetyStop, match="full read"):
        rt.engine.cycle(full=True, kind="reconcile")


def test_the_cli_exits_3_on_a_safety_stop(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store, manifest = sample
    config = tmp_path / "zybridge.toml"
    config.write_text(f"""
[state]
path = "state.db"
[national]
base_url = "{sandbox.base_url}"
app_id = "haicang-demo"
app_secret = "${{ZYBRIDGE_APP_SECRET}}"
rate_per_s = 500.0
[[sources]]
name = "haicang"
kind = "sql"
url = "sqlite:///{store}"
mapping = "zhiyuanyun"
""", encoding="utf-8")
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    assert main(["--config", str(config), "sync"]) == 0
    soft_delete(store, "service_record", synced_records(store, manifest)[:120])
    assert main(["--config", str(config), "sync"]) == 3
    assert "--force" in capsys.readouterr().err
    assert main(["--config", str(config), "sync", "--force"]) == 0
