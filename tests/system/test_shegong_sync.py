"""Two sources into one sandbox: the 志愿云 sample store (sql) and the fake agency (http,
projects_from = "haicang"). A social worker who is also a 志愿云 volunteer is one
national volunteer, whose hours are both sources' records."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.base import SourceAdapter
from adapters.http import open_http_source
from bridge import config as config_mod
from bridge import runtime
from bridge.national import NationalClient
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing.agency import AgencyServer, wire
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest
from mappings.checks import gb11643_check
from tests.system.helpers import ENV, cycle, ledger, make_config, state_rows

TOKEN = "shegong-demo-token"
CST = timedelta(hours=8)


@pytest.fixture
def agency(tmp_path: Path) -> Iterator[AgencyServer]:
    with AgencyServer(tmp_path / "agency.db", token=TOKEN) as server:
        yield server


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the lead wires into bridge.runtime.open_adapter for kind "http"."""
    real = runtime.open_adapter

    def open_adapter(cfg: config_mod.Config, src: config_mod.SourceConfig) -> SourceAdapter:
        if src.kind == "http":
            assert src.url is not None
            return open_http_source(src.url, src.token, mapping=src.mapping)
        return real(cfg, src)

    monkeypatch.setattr(runtime, "open_adapter", open_adapter)


def two_sources(tmp_path: Path, sandbox: SandboxProcess, store: Path,
                agency: AgencyServer) -> config_mod.Config:
    base = make_config(tmp_path, sandbox, store)
    raw: dict[str, Any] = {
        "state": {"path": str(base.state.path)},
        "log": {"path": base.log.path, "level": "debug"},
        "national": {**base.national.model_dump(mode="json"),
                     "app_secret": "${ZYBRIDGE_APP_SECRET}"},
        "sources": [
            {**base.sources[0].model_dump(mode="json", exclude_none=True)},
            {"name": "shegong", "kind": "http", "url": agency.url, "token": "${SHEGONG_TOKEN}",
             "mapping": "shegong", "projects_from": "haicang", "every": "10m",
             "lookback_s": 600, "page_size": 50}],
    }
    return config_mod.parse(raw, tmp_path, {**ENV, "SHEGONG_TOKEN": TOKEN})


def cert_no(store: Path, vol_id: int) -> str:
    conn = sqlite3.connect(store)
    try:
        return str(conn.execute("SELECT cert_no FROM zyy_volunteer WHERE vol_id = ?",
                                (vol_id,)).fetchone()[0])
    finally:
        conn.close()


def utc(days_ago: int, hhmm: str) -> str:
    """A local (UTC+08:00) time of `days_ago` days before today, as the agency writes it."""
    local = (datetime.now(UTC) + CST).replace(hour=int(hhmm[:2]), minute=int(hhmm[3:]),
                                              second=0, microsecond=0, tzinfo=None)
    return wire((local - timedelta(days=days_ago) - CST).replace(tzinfo=UTC))


def new_id() -> str:
    body = "35020519880808" + "777"
    return body + gb11643_check(body)


def log(log_id: str, worker: str, activity: str, start: str, end: str, hours: str,
        **kw: Any) -> dict[str, Any]:
    return {"logId": log_id, "workerId": worker, "activityCode": activity, "startTime": start,
            "endTime": end, "durationHours": hours, "summary": "社工入户探访",
            "approvedBy": "陈社工", "approvedAt": utc(1, "20:00"), "voided": False, **kw}


def fill(agency: AgencyServer, store: Path) -> None:
    person = {"gender": "M", "nation": "汉族", "phone": "13959230001", "districtCode": "350205",
              "certificateNo": "S-001", "registeredAt": "2020-05-01T02:00:00Z", "active": True}
    agency.put("workers", [
        {"workerId": "W1", "fullName": "林志贵", "idCard": cert_no(store, 1), **person},
        {"workerId": "W2", "fullName": "陈晓云", "idCard": new_id(), **person}])
    agency.put("service-logs", [
        log("L1", "W1", "1", utc(3, "10:00"), utc(3, "12:00"), "2.00"),
        log("L2", "W1", "1", utc(5, "22:00"), utc(4, "01:30"), "3.5"),
        log("L3", "W2", "1", utc(6, "09:00"), utc(6, "10:00"), "1"),
        log("L4", "W2", "99999", utc(7, "09:00"), utc(7, "10:00"), "1"),
        log("L5", "W2", "1", utc(8, "09:00"), utc(8, "10:00"), "1", voided=True),
        log("L6", "W2", "1", utc(9, "09:00"), utc(9, "10:00"), "1", approvedAt=None),
        log("L7", "W2", "1", utc(10, "09:00"), utc(10, "10:00"), "1.5")])


@pytest.fixture
def synced(tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
           agency: AgencyServer, wired: None) -> config_mod.Config:
    store, _ = sample
    fill(agency, store)
    cfg = two_sources(tmp_path, sandbox, store, agency)
    assert cycle(cfg).ok
    return cfg


def statuses(cfg: config_mod.Config) -> dict[tuple[str, str], str]:
    return {(r["entity"], r["local_id"]): r["status"] for r in state_rows(cfg)
            if r["source"] == "shegong"}


def test_a_worker_who_is_a_zhiyuanyun_volunteer_is_one_national_volunteer(
        synced: config_mod.Config) -> None:
    book = ledger(synced)
    assert book["shegong:volunteer:W1"]["status"] == "alias"
    assert book["shegong:volunteer:W1"]["national_id"] == \
        book["haicang:volunteer:1"]["national_id"]


def test_a_worker_only_at_the_agency_is_a_new_volunteer(synced: config_mod.Config) -> None:
    assert ledger(synced)["shegong:volunteer:W2"]["status"] == "synced"


def test_hours_of_the_shared_volunteer_add_both_sources(
        synced: config_mod.Config, sandbox: SandboxProcess) -> None:
    nid = ledger(synced)["haicang:volunteer:1"]["national_id"]
    client = NationalClient(sandbox.base_url, DEMO_APP_ID, DEMO_APP_SECRET)
    try:
        hours = client.get(f"/volunteers/{nid}/hours")
    finally:
        client.close()
    # 志愿云: record 1 (2.00 h) and overnight record 2 (2.00 + 2.00 h);
    # agency: L1 (2.00 h) and overnight L2 (2.00 + 1.50 h)
    assert hours is not None and hours["total_hours"] == pytest.approx(11.5)
    assert hours["records"] == 6


def test_each_agency_row_ends_with_its_status(synced: config_mod.Config) -> None:
    assert statuses(synced) == {
        ("volunteer", "W1"): "synced", ("volunteer", "W2"): "synced",
        ("service_record", "L1"): "synced", ("service_record", "L2"): "synced",
        ("service_record", "L3"): "synced", ("service_record", "L4"): "blocked",
        ("service_record", "L5"): "skipped", ("service_record", "L6"): "skipped",
        ("service_record", "L7"): "quarantined"}


def test_an_approval_later_sends_the_waiting_log(
        synced: config_mod.Config, agency: AgencyServer) -> None:
    agency.update("service-logs", "L6", approvedAt=utc(1, "21:00"))
    assert cycle(synced).ok
    assert statuses(synced)[("service_record", "L6")] == "synced"


def test_voiding_a_sent_log_revokes_it(synced: config_mod.Config,
                                       agency: AgencyServer) -> None:
    agency.update("service-logs", "L3", voided=True)
    assert cycle(synced).ok
    assert statuses(synced)[("service_record", "L3")] == "revoked"


def test_a_second_cycle_without_changes_sends_nothing(
        synced: config_mod.Config, sandbox: SandboxProcess) -> None:
    before = sandbox.stats()
    cycle(synced)
    after = sandbox.stats()
    assert {k: v for k, v in after.items() if "batch" in k or "revoke" in k} == \
        {k: v for k, v in before.items() if "batch" in k or "revoke" in k}
