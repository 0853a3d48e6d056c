"""Hostile input for the 志愿云 SQL adapter and mapping (issue #7, part 2): wrong types,
NULLs everywhere, 10 MB text, control characters and emoji, SQL-looking strings, dates
like 0000-00-00 and 2099-13-45, negative minutes… Each row ends quarantined with a
precise reason or correctly mapped; the cycle never crashes; nothing else is lost."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.testing import agency as agency_db
from bridge.testing.agency import AgencyServer
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, local_stamp, update_rows
from tests.fixtures.sheets import HEADERS, write_csv, write_xlsx
from tests.system import fedoracle as fed
from tests.system.helpers import (
    check_invariants,
    cycle,
    make_config,
    platform_by_ref,
    state_rows,
)
from tests.system.oracle import check_no_duplicates

BIG = "长" * (10 * 1024 * 1024 // 3)
SQLISH = "'); DROP TABLE zyy_volunteer; --"
CONTROL = "社区\x00服务\x07\x1b[31m\u202e\ufeff🧹🌊"
# service records: (column → hostile value); the rest is a valid record of volunteer 1000
RECORDS: list[dict[str, Any]] = [
    {"begin_time": "0000-00-00 00:00:00"}, {"end_time": "2099-13-45 25:61:00"},
    {"begin_time": None, "end_time": None}, {"service_minutes": -120},
    {"service_minutes": "一百二十"}, {"service_minutes": 10**15}, {"service_minutes": 1.5e300},
    {"content": BIG}, {"content": CONTROL}, {"content": SQLISH}, {"content": ""},
    {"content": b"\xff\xfe\x00binary"}, {"recorder": None, "record_time": None},
    {"record_time": "2099-13-45"}, {"record_way": "app"}, {"record_way": 99},
    {"audit_state": "1"}, {"audit_state": None}, {"is_del": "yes"}, {"vol_id": "abc"},
    {"act_id": -1}, {"act_id": "x"}, {"begin_time": "2025-03-01 10:00:00",
                                       "end_time": "2025-03-01 09:00:00"},
    {"begin_time": 20250301, "end_time": 20250302}, {"content": " " * 40},
]
VOLUNTEERS: list[dict[str, Any]] = [
    {"real_name": None, "cert_no": None, "mobile": None}, {"cert_no": "0000-00-00"},
    {"cert_no": SQLISH}, {"cert_no": 350205199001011234}, {"real_name": BIG},
    {"real_name": CONTROL}, {"birthday": "0000-00-00"}, {"birthday": "2099-13-45"},
    {"mobile": "+86 ☎️ 138-0000-0000"}, {"mobile": 13800000000}, {"sex": "🚹"},
    {"nation": SQLISH}, {"area_code": "99999999999999999999"}, {"area_code": -350205},
    {"email": BIG}, {"skills": CONTROL * 100}, {"is_cancel": "nope"},
    {"cert_type": b"\x00\x01"}, {"reg_time": "2099-13-45 99:99:99"},
]
ENTITY_OF = {"zyy_service_time": ("service_record", "rec_id"),
             "zyy_volunteer": ("volunteer", "vol_id")}
TEMPLATE_OF = {"zyy_service_time": 1000, "zyy_volunteer": 1000}


def insert_hostile(store: Path, table: str, corpus: list[dict[str, Any]]) -> list[str]:
    key = ENTITY_OF[table][1]
    conn = sqlite3.connect(store)
    try:
        cols = [d[1] for d in conn.execute(f"PRAGMA table_info({table})")]
        template = dict(zip(cols, conn.execute(f"SELECT * FROM {table} WHERE {key} = ?",
                                                (TEMPLATE_OF[table],)).fetchone(), strict=True))
        ids = []
        with conn:
            for n, hostile in enumerate(corpus):
                row = {**template, key: 900_000 + n, "gmt_modified": local_stamp(), **hostile}
                conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES "
                             f"({', '.join('?' * len(row))})", list(row.values()))
                ids.append(str(900_000 + n))
        return ids
    finally:
        conn.close()


def outcome(cfg: Any, entity: str, local_id: str) -> tuple[str, set[str]]:
    found = [r for r in state_rows(cfg) if r["entity"] == entity and r["local_id"] == local_id]
    assert len(found) == 1, f"{entity} {local_id} has {len(found)} statuses"
    return found[0]["status"], {x["code"] for x in json.loads(found[0]["reasons"] or "[]")}


@pytest.mark.parametrize("table,corpus", [("zyy_service_time", RECORDS),
                                          ("zyy_volunteer", VOLUNTEERS)])
def test_hostile_rows_end_quarantined_with_a_reason_or_mapped_and_lose_nothing(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        table: str, corpus: list[dict[str, Any]]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    ids = insert_hostile(store, table, corpus)
    report = cycle(cfg)
    assert report.ok
    check_invariants(cfg, sandbox, store)
    check_no_duplicates(sandbox)
    entity = ENTITY_OF[table][0]
    for local_id, hostile in zip(ids, corpus, strict=True):
        status, codes = outcome(cfg, entity, local_id)
        assert status in ("quarantined", "synced", "skipped", "blocked", "dead_lettered"), \
            (sorted(hostile), status)
        if status == "quarantined":
            assert codes and "MAPPING_ERROR" not in codes, (sorted(hostile), codes)
    statuses = {(r["entity"], r["local_id"]): r["status"] for r in state_rows(cfg)}
    lost = {k: (statuses.get(k), want) for k, want in manifest.expected.items()
            if statuses.get(k) != {"deferred": "skipped"}.get(want, want)}
    assert not lost, f"ordinary rows disturbed by hostile neighbours: {lost}"
    assert cycle(cfg).push.requests == 0  # type: ignore[union-attr]


def test_a_10_mb_required_text_is_quarantined_as_too_long(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = make_config(tmp_path, sandbox, store)
    (local_id,) = insert_hostile(store, "zyy_service_time", [{"content": BIG}])
    cycle(cfg)
    status, codes = outcome(cfg, "service_record", local_id)
    assert status == "quarantined" and codes - {"REQUIRED"}, codes


def test_sql_looking_text_is_carried_as_text(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    update_rows(store, "service_record", [1001], {"content": SQLISH})
    cycle(cfg)
    assert outcome(cfg, "service_record", "1001")[0] == "synced"
    held = {r["external_refs"][0]: r for r in sandbox.records("service-records")}
    assert held["haicang:service_record:1001"]["content"] == SQLISH
    conn = sqlite3.connect(store)
    assert conn.execute("SELECT COUNT(*) FROM zyy_volunteer").fetchone()[0] > 0
    conn.close()


def test_a_row_stamped_in_the_future_does_not_hide_later_changes(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = make_config(tmp_path, sandbox, store)
    insert_hostile(store, "zyy_service_time", [{"gmt_modified": "2099-12-31 23:59:59"}])
    cycle(cfg)
    update_rows(store, "service_record", [1001], {"content": "之后的修改"})
    cycle(cfg)
    held = {r["external_refs"][0]: r for r in sandbox.records("service-records")}
    assert held["haicang:service_record:1001"]["content"] == "之后的修改"


def test_a_row_with_a_garbage_modified_stamp_does_not_stop_later_cycles(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = make_config(tmp_path, sandbox, store)
    insert_hostile(store, "zyy_service_time", [{"gmt_modified": "garbage"}])
    cycle(cfg)
    assert cycle(cfg).ok


# --- the agency (http) and the sheets (files), issue #8 -------------------------------
MB = "长" * (1024 * 1024 // 3)           # 1 MB of UTF-8
LONG = "长" * 100_000                      # under the csv module's default field limit
HOSTILE_WORKERS: list[dict[str, Any]] = [
    {"fullName": None, "idCard": None, "phone": None}, {"idCard": 350205199001011234},
    {"idCard": "0000-00-00"}, {"idCard": SQLISH}, {"fullName": MB}, {"fullName": CONTROL},
    {"fullName": ["林", "志贵"]}, {"gender": 5, "birthDate": "0000-00-00"},
    {"nation": {"name": "汉族"}}, {"nation": "🧹"}, {"phone": "+86 ☎️ 138-0000-0000"},
    {"phone": 13800000000}, {"districtCode": 350205}, {"districtCode": "9" * 20},
    {"registeredAt": "2099-13-45T25:61:00Z"}, {"registeredAt": 1700000000},
    {"active": "yes"}, {"active": None}, {"certificateNo": MB},
]
HOSTILE_LOGS: list[dict[str, Any]] = [
    {"durationHours": "-2"}, {"durationHours": -1.5}, {"durationHours": "NaN"},
    {"durationHours": float("inf")}, {"durationHours": "1e309"}, {"durationHours": "99"},
    {"durationHours": None}, {"durationHours": True}, {"durationHours": [2]},
    {"startTime": "0000-00-00T00:00:00Z"}, {"endTime": "2099-13-45T25:61:00Z"},
    {"startTime": None, "endTime": None}, {"startTime": 1700000000}, {"summary": MB},
    {"summary": CONTROL}, {"summary": ""}, {"summary": " " * 40}, {"approvedBy": None},
    {"approvedAt": "garbage"}, {"voided": "maybe"}, {"voided": None},
    {"activityCode": {"a": 1}}, {"activityCode": None}, {"activityCode": SQLISH},
    {"workerId": None}, {"workerId": 12345}, {"workerId": "NOBODY"},
]
# rows the adapter cannot key: no id, an id that is not a scalar, a garbage updatedAt
UNKEYED: list[tuple[str, dict[str, Any]]] = [
    ("workers", {"fullName": "无编号"}), ("workers", {"workerId": True}),
    ("workers", {"workerId": {"x": 1}}), ("workers", {"workerId": "HWX", "updatedAt": "垃圾"}),
    ("service-logs", {"summary": "无编号"})]
SHEET_CELLS: list[dict[str, Any]] = [
    {"姓名": None, "证件号码": None, "手机": None}, {"证件号码": "0000-00-00"},
    {"证件号码": SQLISH}, {"姓名": LONG}, {"服务内容": LONG}, {"姓名": CONTROL},
    {"服务内容": CONTROL}, {"服务内容": SQLISH}, {"服务开始时间": "0000-00-00 00:00:00"},
    {"服务结束时间": "2099-13-45 25:61:00"}, {"记录时间": "garbage"},
    {"服务时长(小时)": "-2"}, {"服务时长(小时)": "两小时"}, {"服务时长(小时)": "1e309"},
    {"服务时长(小时)": "NaN"}, {"证件类型": "🧹"}, {"手机": "+886 ☎️ 0912"},
    {"服务区域": "9" * 20}, {"活动编号": SQLISH}, {"注册日期": "2099-13-45"}, {"性别": "🚹"},
    {"出生日期": "0000-00-00"}, {"姓名": "", "证件类型": "", "证件号码": ""},
]
# an XLSX holds typed cells: numbers, booleans, dates where text belongs, a formula with
# no cached value, and a 1 MB string
XLSX_CELLS: list[dict[str, Any]] = [
    {"姓名": 12345}, {"证件号码": 60_000_001}, {"服务开始时间": True},
    {"服务时长(小时)": datetime(2026, 1, 1)}, {"出生日期": 3.5}, {"手机": None},
    {"服务内容": MB}, {"服务结束时间": "=NOW()"}, {"记录时间": -1},
]
ALLOWED = ("quarantined", "synced", "skipped", "blocked", "dead_lettered")


def three_source_config(tmp_path: Path, sandbox: SandboxProcess, store: Path,
                        agency: AgencyServer) -> Any:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    return fed.three_sources(tmp_path, sandbox, store, agency, inbox)


def put_unkeyed(agency: AgencyServer, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Rows stored as the agency's own table holds them, whatever their fields."""
    conn = agency_db.connect(agency.db_path)
    try:
        for n, (kind, doc) in enumerate(rows):
            conn.execute("INSERT INTO rows (kind, id, updated, doc) VALUES (?, ?, ?, ?)",
                         (kind, f"raw{n}", agency_db.column(agency_db.now_ms()),
                          json.dumps(doc, ensure_ascii=False)))
    finally:
        conn.close()


def fill_hostile_agency(agency: AgencyServer) -> tuple[list[str], list[str]]:
    slots = fed.Slots()
    workers = [fed.worker(f"HW{n}", fed.mainland_id(n), **hostile)
               for n, hostile in enumerate(HOSTILE_WORKERS, start=1)]
    workers.append({"workerId": "HWB"})                 # every other field missing
    agency.put("workers", [fed.worker("HW0", fed.mainland_id(0)), *workers])
    logs = [fed.service_log(f"HL{n}", "HW0", slots.take(), **hostile)
            for n, hostile in enumerate(HOSTILE_LOGS, start=1)]
    logs.append({"logId": "HLB"})
    agency.put("service-logs", [fed.service_log("HL0", "HW0", slots.take()), *logs])
    put_unkeyed(agency, UNKEYED)
    return [w["workerId"] for w in workers], [x["logId"] for x in logs]


def assert_each_ends_with_a_status(cfg: Any, entity: str, ids: list[str]) -> None:
    for local_id in ids:
        status, codes = outcome(cfg, entity, local_id)
        assert status in ALLOWED, (entity, local_id, status)
        if status == "quarantined":
            assert codes and "MAPPING_ERROR" not in codes, (entity, local_id, codes)


def test_a_hostile_agency_page_ends_each_row_with_a_status_and_loses_nothing(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    with AgencyServer(tmp_path / "agency.db", token=fed.TOKEN) as agency:
        workers, logs = fill_hostile_agency(agency)
        cfg = three_source_config(tmp_path, sandbox, store, agency)
        assert cycle(cfg).ok
        check_invariants(cfg, sandbox, store)
        check_no_duplicates(sandbox)
        assert_each_ends_with_a_status(cfg, "volunteer", workers)
        assert_each_ends_with_a_status(cfg, "service_record", logs)
        shegong = {r["local_id"]: r["status"] for r in state_rows(cfg)
                   if r["source"] == "shegong"}
        assert len(shegong) == 2 + len(workers) + len(logs), "an unkeyed row got a status"
        assert shegong["HW0"] == shegong["HL0"] == "synced", "the valid rows went through"
        statuses = {(r["entity"], r["local_id"]): r["status"] for r in state_rows(cfg)
                    if r["source"] == "haicang"}
        assert all(statuses[k] == {"deferred": "skipped"}.get(v, v)
                   for k, v in manifest.expected.items()), "志愿云 rows disturbed"
        assert cycle(cfg).push.requests == 0  # type: ignore[union-attr]


def test_a_hostile_sheet_ends_each_row_with_a_status_and_loses_nothing(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    with AgencyServer(tmp_path / "agency.db", token=fed.TOKEN) as agency:
        cfg = three_source_config(tmp_path, sandbox, store, agency)
        folder, slots = fed.Folder(tmp_path / "inbox"), fed.Slots()
        rows = [fed.sheet_record(fed.sheet_person(f"{70_000_000 + n:08d}"), slots.take(),
                                 **cells) for n, cells in enumerate([{}, *SHEET_CELLS])]
        folder.csv("hostile.csv", rows)
        short = [fed.sheet_record(fed.sheet_person(f"{71_000_000 + n:08d}"), slots.take())
                 for n in range(3)]
        write_csv(tmp_path / "inbox" / "no-recorder.csv", short,
                  headers=[h for h in HEADERS if h not in ("记录人", "服务内容")])
        typed = [fed.sheet_record(fed.sheet_person(f"{72_000_000 + n:08d}"), slots.take(),
                                  **cells) for n, cells in enumerate(XLSX_CELLS)]
        write_xlsx(tmp_path / "inbox" / "typed.xlsx", typed)
        assert cycle(cfg).ok
        check_no_duplicates(sandbox)
        taibao = [r for r in state_rows(cfg) if r["source"] == "taibao"]
        n = len(rows) + len(short) + len(typed)
        assert Counter(r["entity"] for r in taibao) == {"volunteer": n, "service_record": n}
        for r in taibao:
            codes = {x["code"] for x in json.loads(r["reasons"] or "[]")}
            assert r["status"] in ALLOWED, r["base_ref"]
            assert r["status"] != "quarantined" or (codes and "MAPPING_ERROR" not in codes)
        valid = fed.sheet_rows([fed.SheetFile("hostile.csv", 0, tuple(rows[:1]), 2)],
                               fed.REF_KEY.encode("utf-8"))
        assert {r["status"] for r in taibao if r["local_id"] in
                {v.local_id for v in valid}} == {"synced"}, "the valid row went through"
        assert cycle(cfg).push.requests == 0  # type: ignore[union-attr]


def test_a_1_mb_csv_cell_is_quarantined_not_a_crash(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    with AgencyServer(tmp_path / "agency.db", token=fed.TOKEN) as agency:
        cfg = three_source_config(tmp_path, sandbox, store, agency)
        slots = fed.Slots()
        write_csv(tmp_path / "inbox" / "big.csv", [
            fed.sheet_record(fed.sheet_person("70000001"), slots.take()),
            fed.sheet_record(fed.sheet_person("70000002"), slots.take(), 服务内容=MB)])
        assert cycle(cfg).ok
        statuses = Counter(r["status"] for r in state_rows(cfg)
                           if r["source"] == "taibao" and r["entity"] == "service_record")
        assert statuses == {"synced": 1, "quarantined": 1}


def test_an_agency_row_stamped_in_the_future_does_not_hide_later_changes(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    slots = fed.Slots()
    with AgencyServer(tmp_path / "agency.db", token=fed.TOKEN) as agency:
        agency.put("workers", [fed.worker("W1", fed.mainland_id(1))])
        agency.put("service-logs", [
            fed.service_log("L1", "W1", slots.take()),
            fed.service_log("L2", "W1", slots.take(), updatedAt="2099-12-31T00:00:00Z")])
        cfg = three_source_config(tmp_path, sandbox, store, agency)
        assert cycle(cfg).ok
        agency.update("service-logs", "L1", summary="之后的修改")
        assert cycle(cfg).ok
        held = platform_by_ref(sandbox)
        assert held["shegong:service_record:L1"]["content"] == "之后的修改"
