"""Issue 8 end to end: the three local systems federated into one sandbox over loopback —
志愿云 (on SQLite, on PostgreSQL, on MariaDB), the social-work agency (the fake agency
server) and the Taiwan teams' sheets (a folder with one CSV and one XLSX)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.errors import TransientError
from bridge.national import NationalClient
from bridge.runtime import open_adapter, open_runtime
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing import sampledb
from bridge.testing.agency import AgencyServer
from bridge.testing.demo_sources import fill_agency
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, build_sample_store
from mappings import get as get_mapping
from mappings.normalize import CST
from mappings.result import MapContext, Mapped
from tests.dbservers import DbServer
from tests.fixtures.sheets import set_mtime, sheet_row, write_csv, write_xlsx
from tests.system.helpers import ENV, cycle, platform_by_ref
from tests.system.oracle import check_converged, check_no_duplicates

TOKEN = "shegong-e2e-token"
REF_KEY = "taibao-e2e-ref-key"
SECRETS = {**ENV, "SHEGONG_TOKEN": TOKEN, "TAIBAO_REF_KEY": REF_KEY}
TAIWANESE = "10234567"          # a 台胞证 holder only the sheets know
CSV, XLSX = "2026-05-台胞志工队.csv", "2026-06-台胞志工队.xlsx"


def config(tmp_path: Path, sandbox: SandboxProcess, zyy_url: str,
           agency: AgencyServer | None = None, inbox: Path | None = None
           ) -> config_mod.Config:
    sources: list[dict[str, Any]] = [
        {"name": "haicang", "kind": "sql", "url": zyy_url, "mapping": "zhiyuanyun",
         "every": "5m", "lookback_s": 600, "page_size": 50}]
    if agency is not None:
        sources.append({"name": "shegong", "kind": "http", "url": agency.url,
                        "token": "${SHEGONG_TOKEN}", "mapping": "shegong",
                        "projects_from": "haicang", "every": "10m", "page_size": 50})
    if inbox is not None:
        sources.append({"name": "taibao", "kind": "files", "path": str(inbox),
                        "mapping": "taiwan_sheets", "projects_from": "haicang",
                        "ref_key": "${TAIBAO_REF_KEY}", "every": "1h", "page_size": 3})
    raw = {"state": {"path": str(tmp_path / "state.db")},
           "log": {"path": str(tmp_path / "bridge.jsonl"), "level": "debug"},
           "national": {"base_url": sandbox.base_url, "app_id": DEMO_APP_ID,
                        "app_secret": "${ZYBRIDGE_APP_SECRET}", "jurisdiction": "3502",
                        "rate_per_s": 500.0, "retry_base_s": 0.05, "retry_cap_s": 0.5,
                        "timeout_s": 5.0},
           "sources": sources}
    return config_mod.parse(raw, tmp_path, SECRETS)


def cert_no(store: Path, vol_id: int) -> str:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return str(conn.execute("SELECT cert_no FROM zyy_volunteer WHERE vol_id = ?",
                                (vol_id,)).fetchone()[0])
    finally:
        conn.close()


def drop_sheets(inbox: Path, manifest: SampleManifest, store: Path) -> None:
    """May as CSV, June as XLSX: a Taiwan volunteer only the sheets know, and sample
    volunteer 9 (a 居住证 holder of the 志愿云 store), two hours each time."""
    def row(days_ago: int, **over: Any) -> dict[str, Any]:
        start = manifest.now.astimezone(CST).replace(hour=19, minute=0, second=0,
                                                     microsecond=0, tzinfo=None)
        start -= timedelta(days=days_ago)
        return sheet_row(start, start + timedelta(hours=2), 活动编号="1",
                         **{"服务时长(小时)": "2", **over})

    nine = {"证件类型": "居住证", "证件号码": cert_no(store, 9), "姓名": "张雅婷", "性别": ""}
    write_csv(inbox / CSV, [row(210, 证件号码=TAIWANESE), row(205, **nine)],
              mtime=datetime.now().timestamp() - 7200)
    write_xlsx(inbox / XLSX, [row(180, 证件号码=TAIWANESE), row(175, **nine)],
               mtime=datetime.now().timestamp() - 3600)


@dataclass(frozen=True)
class Federation:
    cfg: config_mod.Config
    sandbox: SandboxProcess
    store: Path
    inbox: Path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def federation(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Federation]:
    """One sync of the three sources into a fresh sandbox; 志愿云 on the SQLite file or on
    its PostgreSQL copy (TIMESTAMP gmt_modified, BIGINT columns)."""
    tmp = tmp_path_factory.mktemp(f"federation-{request.param}")
    store = tmp / "haicang.db"
    manifest = build_sample_store(store)
    zyy_url = f"sqlite:///{store}"
    if request.param == "postgresql":
        zyy_url = request.getfixturevalue("pg_url")
        sampledb.copy_store(store, zyy_url, typed=True)
    inbox = tmp / "inbox"
    inbox.mkdir()
    drop_sheets(inbox, manifest, store)
    with SandboxProcess(db_path=tmp / "sandbox.db", extra_args=["--rate-per-s", "0"]) as sb, \
            AgencyServer(tmp / "agency.db", token=TOKEN) as agency:
        fill_agency(agency, store)
        cfg = config(tmp, sb, zyy_url, agency, inbox)
        assert cycle(cfg).ok
        yield Federation(cfg, sb, store, inbox)


def person(sandbox: SandboxProcess, ref: str) -> dict[str, Any]:
    (one,) = [v for v in sandbox.records("volunteers") if ref in v["external_refs"]]
    return one


def valid_hours(cfg: config_mod.Config, refs: set[str], projects: set[str]
                ) -> dict[str, Decimal]:
    """Per source, the hours of the service records its mapping sends for these
    volunteer refs: every part of every record that maps and whose project is on the
    platform (a record of a blocked project waits)."""
    out: dict[str, Decimal] = {}
    for src in cfg.sources:
        adapter = open_adapter(cfg, src)
        ctx = MapContext(source=src.name, now=datetime.now(UTC), jurisdiction="3502",
                         projects_from=src.projects_from, ref_key=REF_KEY.encode())
        try:
            rows = [r for p in adapter.scan("service_record", 100) for r in p.rows]
        finally:
            adapter.close()
        results = [get_mapping(src.mapping).map_row(r, ctx) for r in rows]
        out[src.name] = sum((Decimal(str(part.payload["hours"])) for m in results
                             if isinstance(m, Mapped) for part in m.parts
                             if part.payload.get("volunteer_external_ref") in refs
                             and part.payload.get("project_external_ref") in projects),
                            Decimal())
    return out


def hours_on_platform(sandbox: SandboxProcess, national_id: str) -> Decimal:
    client = NationalClient(sandbox.base_url, DEMO_APP_ID, DEMO_APP_SECRET)
    try:
        data = client.get(f"/volunteers/{national_id}/hours")
    finally:
        client.close()
    assert data is not None
    return Decimal(str(data["total_hours"]))


@pytest.mark.parametrize(("ref", "other"), [("haicang:volunteer:1", "shegong"),
                                            ("haicang:volunteer:9", "taibao")])
def test_a_person_in_two_sources_is_one_volunteer_with_the_hours_of_both(
        federation: Federation, ref: str, other: str) -> None:
    held = person(federation.sandbox, ref)
    refs = set(held["external_refs"])
    assert {r.split(":")[0] for r in refs} == {"haicang", other}
    projects = {r for r, rec in platform_by_ref(federation.sandbox).items()
                if rec["_entity"] == "project"}
    expected = valid_hours(federation.cfg, refs, projects)
    assert expected["haicang"] > 0 and expected[other] > 0
    assert hours_on_platform(federation.sandbox, held["national_id"]) == sum(expected.values())


def test_the_shared_volunteer_has_both_sources_hours(federation: Federation) -> None:
    """志愿云: record 1 (2.00 h), overnight record 2 (2.00 + 2.00 h); agency: L1 (2.00 h),
    overnight L2 (2.00 + 1.50 h)."""
    held = person(federation.sandbox, "haicang:volunteer:1")
    assert hours_on_platform(federation.sandbox, held["national_id"]) == Decimal("11.5")


def test_the_platform_holds_one_record_per_ref_and_every_row_converged(
        federation: Federation) -> None:
    check_no_duplicates(federation.sandbox)
    check_converged(federation.cfg, federation.sandbox, federation.store)
    taiwanese = [v for v in federation.sandbox.records("volunteers")
                 if v["id_number"] == TAIWANESE]
    assert len(taiwanese) == 1 and taiwanese[0]["external_refs"][0].startswith("taibao:")


def test_a_redropped_file_and_a_renamed_copy_send_nothing(federation: Federation) -> None:
    inbox, sandbox = federation.inbox, federation.sandbox
    held = len(platform_by_ref(sandbox))
    (inbox / CSV).write_bytes((inbox / CSV).read_bytes())
    set_mtime(inbox / CSV, datetime.now().timestamp())
    shutil.copy(inbox / XLSX, inbox / "2026-06-台胞志工队 (1).xlsx")
    report = cycle(federation.cfg)
    assert report.push is not None and report.push.requests == 0
    assert not report.push.items and len(platform_by_ref(sandbox)) == held
    check_no_duplicates(sandbox)
    check_converged(federation.cfg, sandbox, federation.store)


# --- MariaDB, and a database server that goes away --------------------------------------

def comparable(sandbox: SandboxProcess) -> dict[str, dict[str, Any]]:
    """Every ref's record, with the platform's own ids replaced by the owner's ref."""
    held = platform_by_ref(sandbox)
    owner = {rec["national_id"]: sorted(rec["external_refs"])[0] for rec in held.values()}

    def same(value: Any) -> Any:
        if isinstance(value, list):
            return sorted(map(str, (same(v) for v in value)))
        return owner.get(value, value) if isinstance(value, str) else value
    return {ref: {k: same(v) for k, v in rec.items()
                  if k not in ("national_id", "version", "updated_at", "refs")}
            for ref, rec in held.items()}


def test_the_zhiyuanyun_store_on_mariadb_reaches_the_same_national_result_as_sqlite(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        mysql_url: str) -> None:
    store = sample[0]
    sampledb.copy_store(store, mysql_url, typed=True)
    (tmp_path / "maria").mkdir()
    maria = config(tmp_path / "maria", sandbox, mysql_url)
    assert cycle(maria).ok
    check_converged(maria, sandbox, store)
    with SandboxProcess(db_path=tmp_path / "lite.db", extra_args=["--rate-per-s", "0"]) as lite:
        (tmp_path / "lite").mkdir()
        assert cycle(config(tmp_path / "lite", lite, f"sqlite:///{store}")).ok
        assert comparable(sandbox) == comparable(lite)


def test_a_source_server_restarted_mid_read_fails_its_cycle_and_the_next_cycle_resumes(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        pg_server: DbServer) -> None:
    if pg_server.restart is None:
        pytest.skip("the server is not this session's own (ZYB_TEST_PG_URL): it cannot be killed")
    restart = pg_server.restart
    sampledb.copy_store(sample[0], pg_server.url)
    cfg = config(tmp_path, sandbox, pg_server.url)
    with open_runtime(cfg) as rt:
        real, pages = rt.engine.stage_page, []

        def stage_then_kill(*args: Any, **kwargs: Any) -> None:
            real(*args, **kwargs)
            pages.append(args[2])
            if pages.count("service_record") == 2:
                restart()
        rt.engine.stage_page = stage_then_kill  # type: ignore[method-assign]
        with pytest.raises(TransientError, match="reconnects") as err:
            rt.engine.cycle()
        assert "postgresql://127.0.0.1" in str(err.value)
        kept = rt.store.cursor("haicang", "service_record")
        rt.engine.stage_page = real  # type: ignore[method-assign]
        assert kept is not None and rt.engine.cycle().ok
        assert rt.store.cursor("haicang", "service_record") > kept  # type: ignore[operator]
    check_converged(cfg, sandbox, sample[0])
