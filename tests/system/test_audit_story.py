"""The audit trail auditors can trust (issue #6), end to end: the sample 志愿云 store,
the real sandbox, two sync cycles (the second with injected 5xx), then `zybridge audit …`
on the state file — the story of a record checked against the platform's own records,
tampering named, archives and seals."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sqlite3
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.commands import audit as auditlog
from bridge.ops import audit as ops_audit
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, build_sample_store, update_rows
from state import audit, db
from state.store import StateStore
from tests.system import helpers
from tests.system.helpers import ENV, cycle, platform_by_ref

KEY = "an-audit-seal-key-kept-elsewhere"
VOLUNTEER = "haicang:volunteer:1001"


@dataclass(frozen=True)
class Synced:
    folder: Path
    store: Path
    manifest: SampleManifest
    held: dict[str, dict[str, Any]]       # the platform's records by external_ref
    stats: dict[str, Any]                 # the sandbox's request counts
    between: str                          # an instant between the two cycles


def write_config(folder: Path, base_url: str, store: Path) -> Path:
    return helpers.write_config(
        folder / "zybridge.toml",
        {"base_url": base_url, "app_id": DEMO_APP_ID, "app_secret": "${ZYBRIDGE_APP_SECRET}",
         "jurisdiction": "3502", "rate_per_s": 500.0, "retry_base_s": 0.02,
         "retry_cap_s": 0.1, "timeout_s": 5.0},
        [{"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}", "mapping": "zhiyuanyun",
          "every": "5m",
          "page_size": 50}],
        log={"path": "bridge.jsonl", "level": "debug"})


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Synced:
    folder = tmp_path_factory.mktemp("story")
    store = folder / "haicang.db"
    manifest = build_sample_store(store)
    with SandboxProcess(db_path=folder / "sandbox.db", extra_args=["--rate-per-s", "0"]) as sb:
        cfg = config_mod.load(write_config(folder, sb.base_url, store), ENV)
        assert cycle(cfg).ok
        time.sleep(0.01)
        between = db.utcnow()
        update_rows(store, "volunteer", [1001], {"email": "changed@volunteers.example.org"})
        state = StateStore.open(cfg.state.path)
        ops_audit.record_admin_action(state, "resync", {"source": "haicang",
                                                       "entity": ["volunteer"], "id": ["1001"]})
        state.close()
        sb.set_faults(pre_error_rate=0.5, seed=1)
        assert cycle(cfg).ok
        return Synced(folder, store, manifest, platform_by_ref(sb), sb.stats(), between)


@pytest.fixture
def copy(synced: Synced, tmp_path: Path) -> Path:
    """A private copy of the synced state file and a config that points at it."""
    src = sqlite3.connect(synced.folder / "state.db")
    dst = sqlite3.connect(tmp_path / "state.db")
    src.backup(dst)
    src.close()
    dst.close()
    shutil.copy(synced.folder / "zybridge.toml", tmp_path / "zybridge.toml")
    return tmp_path


def cli(folder: Path, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="zybridge")
    parser.add_argument("--config")
    parser.add_argument("--debug", action="store_true")
    auditlog.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["--config", str(folder / "zybridge.toml"), *argv])
    out = StringIO()
    with redirect_stdout(out):
        code = args.func(args)
    return int(code), out.getvalue()


def story(folder: Path, ref: str) -> list[dict[str, Any]]:
    code, text = cli(folder, "audit", "log", "--ref", ref, "--format", "jsonl")
    assert code == 0
    return [json.loads(line) for line in text.splitlines()]


def tampered(folder: Path, *sql: str) -> tuple[int, str]:
    conn = sqlite3.connect(folder / "state.db")
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for statement in sql:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return cli(folder, "audit", "verify")


def seq_of(folder: Path, where: str) -> int:
    conn = sqlite3.connect(folder / "state.db")
    try:
        return int(conn.execute(f"SELECT MIN(seq) FROM audit WHERE {where}").fetchone()[0])
    finally:
        conn.close()


# the story of a record ---------------------------------------------------------------------------
def test_a_volunteers_story_is_every_version_sent_and_every_answer(synced: Synced) -> None:
    assert synced.manifest.expected[("volunteer", "1001")] == "synced"
    entries = story(synced.folder, VOLUNTEER)
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    answers = [e["data"] for e in entries if e["kind"] == "result"]
    held = synced.held[VOLUNTEER]
    assert [a["status"] for a in answers] == ["created", "updated"]
    assert len(answers) == held["version"], "one answer per version the platform holds"
    assert {a["national_id"] for a in answers} == {held["national_id"]}
    assert answers[0]["payload_sha256"] != answers[1]["payload_sha256"]


def test_each_answer_follows_its_batch_and_attempts(synced: Synced) -> None:
    entries = story(synced.folder, VOLUNTEER)
    for i, e in enumerate(entries):
        if e["kind"] != "result":
            continue
        key = e["data"]["batch_key"]
        before = [x for x in entries[:i] if x["data"].get("key") == key]
        assert before[0]["kind"] == "batch" and before[0]["data"]["path"] == "/volunteers/batch"
        attempts = [x["data"] for x in before if x["kind"] == "request"]
        assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
        assert attempts[-1]["status"] == 200
        assert all(a["status"] >= 500 for a in attempts[:-1])


def test_the_last_answer_carries_the_hash_the_ledger_holds(synced: Synced) -> None:
    conn = sqlite3.connect(synced.folder / "state.db")
    digest = conn.execute("SELECT hash FROM ledger WHERE ref = ?", (VOLUNTEER,)).fetchone()[0]
    conn.close()
    answers = [e for e in story(synced.folder, VOLUNTEER) if e["kind"] == "result"]
    assert answers[-1]["data"]["payload_sha256"] == digest


def test_the_admin_action_is_in_the_story(synced: Synced) -> None:
    admin = [e for e in story(synced.folder, VOLUNTEER) if e["kind"] == "admin"]
    assert len(admin) == 1 and admin[0]["data"]["action"] == "resync"
    assert admin[0]["data"]["user"]


def test_a_split_records_story_holds_its_parts_and_nothing_else(synced: Synced) -> None:
    answers = [e for e in story(synced.folder, "haicang:service_record:2")
               if e["kind"] == "result"]
    assert sorted(e["ref"] for e in answers) == ["haicang:service_record:2.d1",
                                                 "haicang:service_record:2.d2"]
    for e in answers:
        assert e["data"]["national_id"] == synced.held[e["ref"]]["national_id"]


def test_a_quarantined_rows_story_names_its_codes_and_sends_nothing(synced: Synced) -> None:
    entries = story(synced.folder, "haicang:volunteer:30")
    assert [e["kind"] for e in entries] == ["quarantine"]
    codes = {r["code"] for r in entries[0]["data"]["reasons"]}
    assert synced.manifest.quarantine_codes[("volunteer", "30")] <= codes


def test_every_request_the_platform_saw_is_in_the_log(synced: Synced) -> None:
    code, text = cli(synced.folder, "audit", "log", "--kind", "request", "--format", "jsonl")
    statuses = Counter(str(json.loads(line)["data"]["status"]) for line in text.splitlines())
    posts = sum(n for route, n in synced.stats["by_route"].items() if route.startswith("POST"))
    assert code == 0 and sum(statuses.values()) == posts
    failed = {k: v for k, v in synced.stats["by_status"].items() if k != "200"}
    assert {k: v for k, v in statuses.items() if k != "200"} == failed
    assert any(s.startswith("5") for s in statuses), "the injected errors are in the log"


def test_every_item_the_platform_holds_has_its_answer_in_the_log(synced: Synced) -> None:
    code, text = cli(synced.folder, "audit", "log", "--kind", "result", "--format", "jsonl")
    last: dict[str, str] = {}
    for line in text.splitlines():
        e = json.loads(line)
        last[e["ref"]] = e["data"]["national_id"]
    mine = {ref: r for ref, r in synced.held.items() if ref.startswith("haicang:")}
    assert code == 0 and mine and {ref: last.get(ref) for ref in mine} == {
        ref: r["national_id"] for ref, r in mine.items()}


def test_the_log_and_export_hold_no_id_number_or_mobile(synced: Synced, copy: Path) -> None:
    _, table = cli(copy, "audit", "log")
    _, csv_text = cli(copy, "audit", "log", "--format", "csv")
    cli(copy, "audit", "export", "--out", str(copy / "period.jsonl"))
    flat = normalized(table + csv_text + (copy / "period.jsonl").read_text(encoding="utf-8"))
    leaks = [v for v in pii_of(synced.store) if v in flat]
    assert len(flat) > 10_000 and not leaks, f"{len(leaks)} ID numbers or mobiles in clear"


def normalized(value: str) -> str:
    return re.sub(r"[\s\-+]", "", unicodedata.normalize("NFKC", value)).upper()


def pii_of(store: Path) -> set[str]:
    conn = sqlite3.connect(store)
    values = {normalized(cert) for (cert,) in conn.execute("SELECT cert_no FROM zyy_volunteer")
              if cert and len(normalized(cert)) >= 8}
    values |= {normalized(m)[-11:] for (m,) in conn.execute("SELECT mobile FROM zyy_volunteer")
               if m and len(normalized(m)) >= 8}
    conn.close()
    return values


# tampering ------------------------------------------------------------------------------------
def test_the_synced_log_verifies(copy: Path) -> None:
    code, text = cli(copy, "audit", "verify")
    assert code == 0 and re.match(r"audit log intact: \d{3,} entries", text)


def test_an_edited_answer_is_named(copy: Path) -> None:
    seq = seq_of(copy, f"kind = 'result' AND ref = '{VOLUNTEER}'")
    code, text = tampered(copy, "UPDATE audit SET data = replace(data, '\"created\"', "
                                f"'\"rejected\"') WHERE seq = {seq}")
    assert code == 4 and text.startswith(f"audit log broken at entry {seq}: ")


def test_a_deleted_request_is_named(copy: Path) -> None:
    seq = seq_of(copy, "kind = 'request' AND seq > 40")
    code, text = tampered(copy, f"DELETE FROM audit WHERE seq = {seq}")
    assert code == 4 and text.startswith(f"audit log broken at entry {seq}: ")


def test_two_reordered_entries_are_named(copy: Path) -> None:
    seq = seq_of(copy, "kind = 'result' AND seq > 100")
    code, text = tampered(copy, f"UPDATE audit SET seq = -1 WHERE seq = {seq}",
                          f"UPDATE audit SET seq = {seq} WHERE seq = {seq + 1}",
                          f"UPDATE audit SET seq = {seq + 1} WHERE seq = -1")
    assert code == 4 and text.startswith(f"audit log broken at entry {seq}: ")


# retention and seals ------------------------------------------------------------------------
def test_archive_keeps_the_rest_provable_and_the_file_joins_it(synced: Synced,
                                                               copy: Path) -> None:
    out = copy / "first-cycle.jsonl.gz"
    code, text = cli(copy, "audit", "archive", "--before", synced.between, "--out", str(out))
    assert code == 0 and text.startswith("archived entries 1–")
    code, text = cli(copy, "audit", "verify", "--archive", str(out))
    assert code == 0 and "the live chain continues the files" in text
    answers = [e["data"]["status"] for e in story(copy, VOLUNTEER) if e["kind"] == "result"]
    assert answers == ["updated"], "the first version's answer went to the archive"


def test_the_seal_catches_a_rewrite_of_the_whole_chain(
        copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auditlog.KEY_ENV, KEY)
    assert cli(copy, "audit", "sign")[0] == 0
    monkeypatch.delenv(auditlog.KEY_ENV)
    seq = seq_of(copy, f"kind = 'result' AND ref = '{VOLUNTEER}'")
    conn = sqlite3.connect(copy / "state.db")
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute(f"UPDATE audit SET data = replace(data, '\"created\"', '\"rejected\"') "
                 f"WHERE seq = {seq}")
    rewrite(conn)
    conn.commit()
    conn.close()
    assert cli(copy, "audit", "verify")[0] == 0, "the hashes alone cannot see a full rewrite"
    monkeypatch.setenv(auditlog.KEY_ENV, KEY)
    code, text = cli(copy, "audit", "verify")
    assert code == 4 and "rewritten" in text


def rewrite(conn: sqlite3.Connection) -> None:
    prev = audit.GENESIS
    for r in list(audit.records(conn)):
        data = audit.canonical({**r.payload(), "head_hash": prev}) if r.kind == "seal" \
            else r.data
        digest = audit.entry_hash(prev, r.seq, r.at, r.run_id, r.kind, r.ref, data)
        conn.execute("UPDATE audit SET prev_hash = ?, hash = ?, data = ? WHERE seq = ?",
                     (prev, digest, data, r.seq))
        prev = digest


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    monkeypatch.delenv(auditlog.KEY_ENV, raising=False)
    yield
