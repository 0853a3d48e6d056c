"""Hostile input for the 志愿云 SQL adapter and mapping (issue #7, part 2): wrong types,
NULLs everywhere, 10 MB text, control characters and emoji, SQL-looking strings, dates
like 0000-00-00 and 2099-13-45, negative minutes… Each row ends quarantined with a
precise reason or correctly mapped; the cycle never crashes; nothing else is lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bridge.sample import SampleManifest, local_stamp, update_rows
from bridge.sandbox.harness import SandboxProcess
from tests.system.helpers import check_invariants, cycle, make_config, state_rows
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
