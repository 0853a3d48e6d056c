"""The Taiwan teams' sheets end to end: the sample 志愿云 store and a folder with one CSV
and one XLSX, both sources syncing into one sandbox over loopback (local-sources.md §C,
"Identity across sources")."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.base import SourceAdapter
from adapters.files import open_files_source
from bridge import config as config_mod
from bridge import runtime
from bridge.runtime import open_runtime
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest
from mappings.normalize import CST
from tests.fixtures.sheets import set_mtime, sheet_row, write_csv, write_xlsx
from tests.system.helpers import ENV, cycle, ledger, make_config, platform_by_ref, state_rows

REF_KEY = "taibao-test-ref-key"
ACTIVITY = "1"      # 海沧湾公园环保行: synced, spanning the 400 days before the sample's today


@pytest.fixture(autouse=True)
def files_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open `files` sources (until bridge.runtime wires them itself)."""
    real = runtime.open_adapter

    def open_adapter(cfg: config_mod.Config, src: config_mod.SourceConfig) -> SourceAdapter:
        if src.kind != "files":
            return real(cfg, src)
        assert src.path is not None
        key = src.ref_key.get_secret_value() if src.ref_key else None
        return open_files_source(src.path, cfg.base_dir, mapping=src.mapping, ref_key=key)

    monkeypatch.setattr(runtime, "open_adapter", open_adapter)


def two_sources(tmp_path: Path, sandbox: SandboxProcess, store: Path,
                inbox: Path) -> config_mod.Config:
    base = make_config(tmp_path, sandbox, store)
    raw: dict[str, Any] = {
        "state": {"path": str(base.state.path)},
        "log": {"path": str(tmp_path / "bridge.jsonl"), "level": "debug"},
        "national": {**{k: v for k, v in base.national.model_dump().items()
                        if k != "app_secret"}, "app_secret": "${ZYBRIDGE_APP_SECRET}"},
        "sources": [
            {"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}",
             "mapping": "zhiyuanyun", "every": "5m", "page_size": 50},
            {"name": "taibao", "kind": "files", "path": str(inbox), "mapping": "taiwan_sheets",
             "projects_from": "haicang", "ref_key": "${TAIBAO_REF_KEY}", "every": "1h",
             "page_size": 3}],
    }
    return config_mod.parse(raw, tmp_path, {**ENV, "TAIBAO_REF_KEY": REF_KEY})


def volunteer_nine(store: Path) -> str:
    """The 居住证 number of sample volunteer 9, a Taiwan resident."""
    conn = sqlite3.connect(store)
    try:
        (number,) = conn.execute("SELECT cert_no FROM zyy_volunteer WHERE vol_id = 9").fetchone()
    finally:
        conn.close()
    return str(number)


def service(manifest: SampleManifest, days_ago: int, hour: int = 19) -> tuple[datetime, datetime]:
    day = manifest.now.astimezone(CST).replace(hour=hour, minute=0, second=0, microsecond=0,
                                               tzinfo=None) - timedelta(days=days_ago)
    return day, day + timedelta(hours=2)


def drop_sheets(inbox: Path, manifest: SampleManifest, store: Path) -> dict[str, int]:
    """May as CSV (GB18030) and June as XLSX; returns how many rows are valid / bad."""
    def row(days_ago: int, number: str, **over: Any) -> dict[str, Any]:
        return sheet_row(*service(manifest, days_ago), 证件号码=number, 活动编号=ACTIVITY,
                         **{"服务时长(小时)": "2", **over})

    may = [row(210, "10234567"), row(209, "10234568", 姓名="林志贵"),
           row(208, volunteer_nine(store), 证件类型="居住证", 姓名="张雅婷", 性别=""),
           row(207, "10234569", **{"服务时长(小时)": "2.5"})]          # more than the span
    june = [row(180, "10234567"), row(179, "10234570", 手机=912000111),
            row(178, "10234568", 姓名="林志贵")]
    write_csv(inbox / "2026-05.csv", may, encoding="gb18030", title="台胞志工队五月",
              mtime=datetime.now().timestamp() - 7200)
    write_xlsx(inbox / "2026-06.xlsx", june, title="台胞志工队六月",
               mtime=datetime.now().timestamp() - 3600)
    return {"valid": 6, "bad": 1}


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def taibao_rows(cfg: config_mod.Config) -> list[dict[str, Any]]:
    return [r for r in state_rows(cfg) if r["source"] == "taibao"]


def test_every_valid_sheet_row_reaches_the_platform(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        inbox: Path) -> None:
    store, manifest = sample
    drop_sheets(inbox, manifest, store)
    cfg = two_sources(tmp_path, sandbox, store, inbox)
    assert cycle(cfg).ok
    rows = taibao_rows(cfg)
    records = [r for r in rows if r["entity"] == "service_record"]
    assert sorted(r["status"] for r in records) == ["quarantined"] + ["synced"] * 6
    assert sorted(r["status"] for r in rows if r["entity"] == "volunteer") == ["synced"] * 5
    held = platform_by_ref(sandbox)
    for r in rows:
        if r["status"] == "synced":
            assert r["base_ref"] in held, r["base_ref"]
            assert r["base_ref"].split(":")[2].isalnum()


def test_a_sheet_person_who_is_a_zhiyuanyun_volunteer_is_one_national_volunteer(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        inbox: Path) -> None:
    store, manifest = sample
    drop_sheets(inbox, manifest, store)
    cfg = two_sources(tmp_path, sandbox, store, inbox)
    cycle(cfg)
    number = volunteer_nine(store)
    people = [v for v in sandbox.records("volunteers") if v["id_number"] == number]
    assert len(people) == 1
    refs = people[0]["external_refs"]
    assert "haicang:volunteer:9" in refs
    (alias,) = [r for r in refs if r.startswith("taibao:volunteer:")]
    assert ledger(cfg)[alias]["status"] == "alias"
    hours = [s for s in sandbox.records("service-records")
             if s["external_refs"][0].startswith("taibao:")
             and s.get("volunteer_national_id") == people[0]["national_id"]]
    assert len(hours) == 1


def test_a_redropped_file_sends_nothing(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        inbox: Path) -> None:
    store, manifest = sample
    drop_sheets(inbox, manifest, store)
    cfg = two_sources(tmp_path, sandbox, store, inbox)
    cycle(cfg)
    shutil.copy(inbox / "2026-05.csv", inbox / "2026-05 (copy).csv")
    shutil.copy(inbox / "2026-06.xlsx", inbox / "2026-06-again.xlsx")
    with open_runtime(cfg) as rt:
        report = rt.engine.cycle(["taibao"])
    assert report.push is not None and report.push.requests == 0
    assert report.pulled == {}


def test_a_corrected_file_sends_only_what_it_changes(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        inbox: Path) -> None:
    store, manifest = sample
    drop_sheets(inbox, manifest, store)
    cfg = two_sources(tmp_path, sandbox, store, inbox)
    cycle(cfg)
    before = len(sandbox.records("service-records"))
    fixed = [sheet_row(*service(manifest, 210), 证件号码="10234567", 活动编号=ACTIVITY,
                       **{"服务时长(小时)": "2"}),
             sheet_row(*service(manifest, 207), 证件号码="10234569", 活动编号=ACTIVITY,
                       **{"服务时长(小时)": "2"})]
    set_mtime(write_csv(inbox / "2026-05-fixed.csv", fixed), datetime.now().timestamp())
    report = cycle(cfg)
    assert report.push is not None and report.push.items.get("created", 0) == 1
    assert len(sandbox.records("service-records")) == before + 1
    assert all(r["status"] == "synced" for r in taibao_rows(cfg)
               if r["entity"] == "service_record")
