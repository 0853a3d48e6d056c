"""Safety stops: a bad day at the source must not revoke or deactivate the platform."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bridge.cli import main
from bridge.config import Config
from bridge.errors import SafetyStop
from bridge.ops.resync import Selection, resync
from bridge.runtime import open_runtime
from bridge.sandbox import DEMO_APP_SECRET
from bridge.sync import CycleReport
from bridge.testing import agency as agency_db
from bridge.testing.agency import AgencyServer
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, soft_delete, update_rows
from tests.system import fedoracle as fed
from tests.system import helpers
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
    config = helpers.write_config(
        tmp_path / "zybridge.toml",
        {"base_url": sandbox.base_url, "app_id": "haicang-demo",
         "app_secret": "${ZYBRIDGE_APP_SECRET}", "rate_per_s": 500.0},
        [{"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}", "mapping": "zhiyuanyun"}])
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    assert main(["--config", str(config), "sync"]) == 0
    soft_delete(store, "service_record", synced_records(store, manifest)[:120])
    assert main(["--config", str(config), "sync"]) == 3
    assert "--force" in capsys.readouterr().err
    assert main(["--config", str(config), "sync", "--force"]) == 0


# --- the agency (http) and the sheets (files), issue #8 -------------------------------
def agency_synced(tmp_path: Path, sandbox: SandboxProcess, store: Path, agency: AgencyServer,
                  workers: int, logs: int) -> Config:
    """Three sources synced, the agency holding these many workers and logs."""
    slots = fed.Slots()
    agency.put("workers", [fed.worker(f"W{n}", fed.mainland_id(n)) for n in range(workers)])
    agency.put("service-logs", [fed.service_log(f"L{n}", f"W{n % workers}", slots.take())
                                for n in range(logs)])
    (tmp_path / "inbox").mkdir(exist_ok=True)
    cfg = fed.three_sources(tmp_path, sandbox, store, agency, tmp_path / "inbox")
    assert cycle(cfg).ok
    sandbox.reset_stats()
    return cfg


def sync_source(cfg: Config, source: str, **options: Any) -> CycleReport:
    """`zybridge sync --source S` (or a reconcile of S with full=True)."""
    with open_runtime(cfg) as rt:
        return rt.engine.cycle([source], **options)


def live_on_platform(sandbox: SandboxProcess, source: str) -> int:
    return sum(1 for ref, r in platform_by_ref(sandbox).items()
               if ref.startswith(f"{source}:") and not r.get("revoked"))


def test_mass_voiding_at_the_agency_stops_before_sending_until_forced(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    with AgencyServer(tmp_path / "agency.db", token=fed.TOKEN) as agency:
        cfg = agency_synced(tmp_path, sandbox, sample[0], agency, workers=3, logs=90)
        agency.put("service-logs", [{**{k: v for k, v in doc.items() if k != "updatedAt"},
                                     "voided": True} for doc in agency.docs("service-logs")[:80]])
        with pytest.raises(SafetyStop, match=r"would revoke or deactivate 80 of"):
            sync_source(cfg, "shegong")
        assert sandbox.stats()["total"] == 0, "nothing was sent"
        with pytest.raises(SafetyStop):
            cycle(cfg)          # every source at once: the stop holds
        sync_source(cfg, "shegong", force=True)
        assert revoked_on_platform(sandbox) == 80


def test_mass_deactivation_of_agency_workers_stops(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    with AgencyServer(tmp_path / "agency.db", token=fed.TOKEN) as agency:
        cfg = agency_synced(tmp_path, sandbox, sample[0], agency, workers=60, logs=0)
        for n in range(55):
            agency.update("workers", f"W{n}", active=False)
        with pytest.raises(SafetyStop, match=r"would revoke or deactivate 55 of"):
            sync_source(cfg, "shegong")
        assert sandbox.stats()["total"] == 0, "nothing was sent"
        assert all(v["status"] == "active" for v in sandbox.records("volunteers")
                   if v["external_refs"][0].startswith("shegong:"))


def test_an_agency_answering_5_percent_of_its_rows_stops_a_full_read_not_a_sync(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    with AgencyServer(tmp_path / "agency.db", token=fed.TOKEN) as agency:
        cfg = agency_synced(tmp_path, sandbox, sample[0], agency, workers=40, logs=40)
        conn = agency_db.connect(agency.db_path)
        conn.execute("DELETE FROM rows WHERE id NOT IN ('W0', 'W1', 'L0', 'L1')")
        conn.close()
        report = sync_source(cfg, "shegong")
        assert report.ok and report.push is not None and report.push.requests == 0, \
            "an incremental read that finds little is a quiet cycle"
        with pytest.raises(SafetyStop, match="full read of source shegong saw 4 rows"):
            sync_source(cfg, "shegong", full=True, kind="reconcile")
        assert sandbox.stats()["total"] == 0
        assert live_on_platform(sandbox, "shegong") == 80


def test_an_emptied_sheets_folder_stops_a_full_read_and_a_resync(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    with AgencyServer(tmp_path / "agency.db", token=fed.TOKEN) as agency:
        cfg = agency_synced(tmp_path, sandbox, sample[0], agency, workers=1, logs=0)
        slots, folder = fed.Slots(), fed.Folder(tmp_path / "inbox")
        folder.csv("2026-10.csv", [fed.sheet_record(fed.sheet_person(f"{70_000_000 + n:08d}"),
                                                    slots.take()) for n in range(12)])
        assert cycle(cfg).ok
        (tmp_path / "inbox" / "2026-10.csv").unlink()
        sandbox.reset_stats()
        report = sync_source(cfg, "taibao")
        assert report.ok and report.pulled == {}, "a folder with no new file is a quiet cycle"
        with pytest.raises(SafetyStop, match="full read of source taibao saw 0 rows"):
            sync_source(cfg, "taibao", full=True, kind="reconcile")
        with open_runtime(cfg) as rt, pytest.raises(SafetyStop, match="min_read_share"):
            resync(rt, Selection("taibao"), {})
        assert sandbox.stats()["total"] == 0
        assert live_on_platform(sandbox, "taibao") == 24
