"""The code rules of issue 16 end to end: a 志愿云 store whose rows break them, synced to the
real sandbox. What the sandbox would refuse is quarantined and never sent (no wasted
request: every item the sandbox receives is applied); an unknown township is sent at
county level with a warning."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import COLUMNS, SCHEMA, id_check, make_uscc
from tests.system.helpers import cycle, make_config, platform_by_ref, state_rows

STAMP = "2026-06-01 10:00:00"


def _id(body: str) -> str:
    return body + id_check(body)


def _team(team_id: int, kind: str, credit_code: str | None) -> dict[str, object]:
    return {"team_id": team_id, "team_name": "海沧区慈善志愿服务中心", "team_kind": kind,
            "credit_code": credit_code, "area_code": "350205", "service_types": "环保",
            "linkman": "王老师", "link_phone": "0592-6051234", "state": 1,
            "gmt_modified": STAMP}


def _volunteer(vol_id: int, cert_type: str, cert_no: str, area: str,
               nation: str = "汉族") -> dict[str, object]:
    return {"vol_id": vol_id, "real_name": "林志贵", "cert_type": cert_type,
            "cert_no": cert_no, "nation": nation, "mobile": "13800000000",
            "area_code": area, "reg_time": "2024-03-01", "is_cancel": 0,
            "gmt_modified": STAMP}


def _store(path: Path) -> None:
    bad_region = make_uscc("51", "350299", 2)            # a region that never existed
    letter = make_uscc("52", "350205", 3)
    letter = letter[:5] + "A" + letter[6:]               # then a letter in characters 3-8
    rows = {
        "zyy_team": [_team(1, "志愿服务队", None), _team(2, "志愿服务组织", bad_region),
                     _team(3, "其他", letter)],
        "zyy_volunteer": [
            _volunteer(1, "身份证", _id("35020519900101122"), "350205999"),   # township
            _volunteer(2, "身份证", _id("35029919900101122"), "350205"),      # never existed
            _volunteer(3, "居住证", _id("83000019880305122"), "350205001", ""),
            _volunteer(4, "身份证", _id("11010320150505121"), "350205", "维族")],  # retired
    }
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SCHEMA)
        for table, items in rows.items():
            for row in items:
                cols = [c for c in COLUMNS[table] if c in row]
                conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                             f"({', '.join('?' * len(cols))})", [row[c] for c in cols])
        conn.commit()
    finally:
        conn.close()


def test_rows_breaking_the_code_rules_are_quarantined_and_never_sent(
        tmp_path: Path, sandbox: SandboxProcess) -> None:
    store = tmp_path / "haicang.db"
    _store(store)
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    rows = {(r["entity"], r["local_id"]): r for r in state_rows(cfg)}
    refused = {key: {(x["field"], x["code"]) for x in json.loads(r["reasons"] or "[]")}
               for key, r in rows.items() if r["state"] == "quarantined"}
    assert refused == {("organization", "2"): {("uscc", "INVALID_FORMAT")},
                       ("organization", "3"): {("uscc", "INVALID_FORMAT")},
                       ("volunteer", "2"): {("id_number", "INVALID_CODE")}}
    stats = sandbox.stats()
    assert stats["items"] == stats["applied"] == 4


def test_an_unknown_township_reaches_the_platform_at_county_level(
        tmp_path: Path, sandbox: SandboxProcess) -> None:
    store = tmp_path / "haicang.db"
    _store(store)
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    held = platform_by_ref(sandbox)
    assert held["haicang:volunteer:1"]["area_code"] == "350205000000000000"
    warned = json.loads(next(r["warnings"] for r in state_rows(cfg)
                             if (r["entity"], r["local_id"]) == ("volunteer", "1")))
    assert [w["code"] for w in warned] == ["COUNTY_FALLBACK"]
    assert held["haicang:volunteer:4"]["ethnicity"] == "05"
    assert "haicang:volunteer:2" not in held
