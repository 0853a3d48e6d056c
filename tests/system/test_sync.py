"""The sync core end to end: the sample 志愿云 store, the real sandbox over loopback,
real SQLite files (issue: sync core, "Done when")."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest
from tests.system.helpers import (
    check_invariants,
    cycle,
    ledger,
    make_config,
    platform_by_ref,
    state_rows,
)
from tests.system.oracle import same_value

CST = timezone(timedelta(hours=8))


def local(dt: datetime) -> str:
    return dt.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def execute(store: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(store)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def synced_ids(manifest: SampleManifest, entity: str) -> list[str]:
    return sorted((lid for (e, lid), outcome in manifest.expected.items()
                   if e == entity and outcome == "synced"), key=int)


def test_full_sync_puts_every_valid_row_on_the_platform(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    report = cycle(cfg)
    assert report.ok
    check_invariants(cfg, sandbox, store)
    statuses = {(r["entity"], r["local_id"]): r["status"] for r in state_rows(cfg)}
    wrong = {k: (statuses.get(k), want) for k, want in manifest.expected.items()
             if statuses.get(k) != {"deferred": "skipped"}.get(want, want)}
    assert not wrong, f"rows whose status is not the expected one: {wrong}"


def test_quarantined_rows_carry_the_expected_reasons(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    reasons = {(r["entity"], r["local_id"]): {x["code"] for x in json.loads(r["reasons"])}
               for r in state_rows(cfg) if r["status"] == "quarantined"}
    for key, codes in manifest.quarantine_codes.items():
        assert codes <= reasons.get(key, set()), (key, codes, reasons.get(key))


def test_the_platform_holds_exactly_what_the_ledger_says_was_acknowledged(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    held = platform_by_ref(sandbox)
    for ref, entry in ledger(cfg).items():
        if entry["status"] != "synced":
            continue
        record = held[ref]
        sent = json.loads(entry["payload"])
        for field, value in sent.items():
            if field.endswith("_external_ref") or field.endswith("_external_refs") \
                    or field == "external_ref":
                continue
            assert same_value(record.get(field), value), (ref, field, record.get(field), value)


def test_split_records_keep_their_minutes(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    hours: dict[str, float] = defaultdict(float)
    for ref, record in platform_by_ref(sandbox).items():
        if record["_entity"] == "service_record" and ".d" in ref:
            hours[ref.split(".d")[0]] += float(record["hours"])
            start = datetime.fromisoformat(record["start_at"]).astimezone(CST)
            end = datetime.fromisoformat(record["end_at"]).astimezone(CST)
            assert (end - timedelta(microseconds=1)).date() == start.date()
    assert hours, "the sample store has overnight records"
    conn = sqlite3.connect(store)
    for base, total in hours.items():
        minutes = conn.execute("SELECT service_minutes FROM zyy_service_time WHERE rec_id = ?",
                               (base.rsplit(":", 1)[1],)).fetchone()[0]
        assert total <= minutes / 60 + 1e-9
        assert total >= minutes / 60 - 0.01 * 4


def test_a_cycle_with_no_change_sends_no_request(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    sandbox.reset_stats()
    report = cycle(cfg)
    assert sandbox.stats()["total"] == 0
    assert report.push is not None and report.push.requests == 0


def test_changing_k_rows_sends_only_those(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    sandbox.reset_stats()
    now = local(datetime.now(CST))
    changed = synced_ids(manifest, "volunteer")[:5]
    for vid in changed:
        execute(store, "UPDATE zyy_volunteer SET email = ?, gmt_modified = ? WHERE vol_id = ?",
                f"v{vid}@example.org", now, int(vid))
    cycle(cfg)
    stats = sandbox.stats()
    assert stats["items"] == len(changed)
    held = platform_by_ref(sandbox)
    for vid in changed:
        assert held[f"haicang:volunteer:{vid}"]["email"] == f"v{vid}@example.org"
    check_invariants(cfg, sandbox, store)


def test_a_back_dated_row_inside_the_lookback_window_is_synced(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    conn = sqlite3.connect(store)
    newest = conn.execute("SELECT MAX(gmt_modified) FROM zyy_volunteer").fetchone()[0]
    conn.close()
    back = local(datetime.strptime(newest, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)
                 - timedelta(seconds=120))
    vid = synced_ids(manifest, "volunteer")[-1]
    execute(store, "UPDATE zyy_volunteer SET email = 'late@example.org', gmt_modified = ? "
                   "WHERE vol_id = ?", back, int(vid))
    cycle(cfg)
    assert platform_by_ref(sandbox)[f"haicang:volunteer:{vid}"]["email"] == "late@example.org"


def test_ties_on_gmt_modified_across_pages_lose_nothing(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    stamp = local(datetime.now(CST) - timedelta(minutes=1))
    execute(store, "UPDATE zyy_service_time SET gmt_modified = ?", stamp)
    cfg = make_config(tmp_path, sandbox, store)
    cfg = cfg.model_copy(update={"sources": (cfg.sources[0].model_copy(
        update={"page_size": 7}),)})
    cycle(cfg)
    check_invariants(cfg, sandbox, store)
    rows = Counter(r["entity"] for r in state_rows(cfg))
    assert rows["service_record"] == sum(1 for e, _ in manifest.expected
                                         if e == "service_record")


def test_a_record_leaving_the_approved_state_is_revoked_and_returns_under_a_new_ref(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    rid = next(lid for lid in synced_ids(manifest, "service_record")
               if f"haicang:service_record:{lid}" in ledger(cfg))
    ref = f"haicang:service_record:{rid}"
    execute(store, "UPDATE zyy_service_time SET audit_state = 2, gmt_modified = ? "
                   "WHERE rec_id = ?", local(datetime.now(CST)), int(rid))
    cycle(cfg)
    held = platform_by_ref(sandbox)
    assert held[ref]["revoked"] is True
    statuses = {(r["entity"], r["local_id"]): r["status"] for r in state_rows(cfg)}
    assert statuses[("service_record", rid)] == "revoked"
    execute(store, "UPDATE zyy_service_time SET audit_state = 1, gmt_modified = ? "
                   "WHERE rec_id = ?", local(datetime.now(CST) + timedelta(seconds=1)), int(rid))
    cycle(cfg)
    held = platform_by_ref(sandbox)
    assert held[f"{ref}.g2"]["revoked"] is False
    assert held[ref]["revoked"] is True
    check_invariants(cfg, sandbox, store)


def test_a_record_of_an_unknown_activity_is_blocked_until_the_activity_exists(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    rid = synced_ids(manifest, "service_record")[0]
    conn = sqlite3.connect(store)
    conn.row_factory = sqlite3.Row
    rec = dict(conn.execute("SELECT * FROM zyy_service_time WHERE rec_id = ?",
                            (int(rid),)).fetchone())
    act = dict(conn.execute("SELECT * FROM zyy_activity WHERE act_id = ?",
                            (rec["act_id"],)).fetchone())
    conn.close()
    now = datetime.now(CST)
    new_rec = {**rec, "rec_id": 990001, "act_id": 99001, "gmt_modified": local(now)}
    _insert(store, "zyy_service_time", new_rec)
    cycle(cfg)
    statuses = {(r["entity"], r["local_id"]): r["status"] for r in state_rows(cfg)}
    assert statuses[("service_record", "990001")] == "blocked"
    _insert(store, "zyy_activity", {**act, "act_id": 99001,
                                    "gmt_modified": local(now + timedelta(seconds=1))})
    execute(store, "UPDATE zyy_service_time SET is_del = 1, gmt_modified = ? WHERE rec_id = ?",
            local(now + timedelta(seconds=1)), int(rid))
    cycle(cfg)
    statuses = {(r["entity"], r["local_id"]): r["status"] for r in state_rows(cfg)}
    assert statuses[("service_record", "990001")] == "synced"
    assert statuses[("service_record", rid)] == "revoked"
    check_invariants(cfg, sandbox, store)


def _insert(store: Path, table: str, row: dict[str, object]) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" * len(row))
    execute(store, f"INSERT INTO {table} ({cols}) VALUES ({marks})", *row.values())
