"""The audit trail's retention, seals, filters and command line (issue #6), on real
SQLite files with synthetic entries."""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.commands import audit as auditlog
from bridge.errors import BridgeError, ConfigError
from bridge.ops import audit as ops_audit
from bridge.ops.audit import Filter, record_admin_action, select
from state import audit, auditfile
from state.audit import Entry
from state.migrations import MIGRATIONS
from state.store import StateStore

KEY = "k3y-for-the-audit-seal-0123456789"
DAYS = [f"2026-03-{d:02d}T01:00:00.000000+00:00" for d in range(1, 29)]


def day(n: int) -> str:
    return DAYS[n - 1]


def add(store: StateStore, at: str, entries: list[Entry], run_id: int | None = 1) -> None:
    with store.transaction() as conn:
        audit.append(conn, at, run_id, entries)


def sent(ref: str, key: str, status: str = "created", http: int = 200) -> list[Entry]:
    """A batch of one item, its attempt and its result, as push.py writes them."""
    return [Entry("batch", {"key": key, "path": "/volunteers/batch", "body_sha256": "b" * 64,
                            "items": 1}),
            Entry("request", {"key": key, "path": "/volunteers/batch", "attempt": 1,
                              "body_sha256": "b" * 64, "status": http, "duration_ms": 3.0}),
            Entry("result", {"batch_key": key, "op": "upsert", "status": status,
                             "national_id": "V350000261100001K", "payload_sha256": "p" * 64,
                             "errors": []}, ref=ref)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


def filled(store: StateStore, days: int = 6, per_day: int = 3) -> StateStore:
    for d in range(1, days + 1):
        add(store, day(d), [Entry("result", {"status": "created", "n": i},
                                  ref=f"h:volunteer:{d}") for i in range(per_day)], run_id=d)
    return store


def tamper(store: StateStore, *sql: str) -> audit.Verdict:
    conn = store.conn
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for statement in sql:
        conn.execute(statement)
    return audit.verify(conn)


def rehash(conn: sqlite3.Connection) -> None:
    """Rewrite every hash from the start (and what seals say of the head), as someone
    who edited the log would; only the seals' MACs cannot be redone without the key."""
    prev = audit.GENESIS
    for r in list(audit.records(conn)):
        data = r.data
        if r.kind == "seal":
            data = audit.canonical({**r.payload(), "head_hash": prev})
        digest = audit.entry_hash(prev, r.seq, r.at, r.run_id, r.kind, r.ref, data)
        conn.execute("UPDATE audit SET prev_hash = ?, hash = ?, data = ? WHERE seq = ?",
                     (prev, digest, data, r.seq))
        prev = digest


# archiving ----------------------------------------------------------------------------------
def test_archive_moves_the_leading_run_and_appends_a_checkpoint(
        store: StateStore, tmp_path: Path) -> None:
    filled(store)
    assert auditlog.archive(store, day(3), tmp_path / "a.jsonl.gz", None) == 0
    live = list(audit.records(store.conn))
    assert live[0].seq == 7 and live[-1].kind == "checkpoint"
    facts = live[-1].payload()
    assert (facts["from"], facts["through"], facts["entries"]) == (1, 6, 6)
    assert facts["file"] == "a.jsonl.gz" and len(facts["file_sha256"]) == 64


def test_a_chain_that_starts_at_a_checkpoint_verifies(store: StateStore,
                                                      tmp_path: Path) -> None:
    filled(store)
    auditlog.archive(store, day(3), tmp_path / "a.jsonl.gz", None)
    add(store, day(7), [Entry("result", {"status": "updated"}, ref="h:volunteer:1")])
    verdict = audit.verify(store.conn)
    assert verdict.ok and (verdict.first, verdict.checkpoint) == (7, 19)


def test_the_archive_file_holds_the_entries_as_they_were(store: StateStore,
                                                         tmp_path: Path) -> None:
    filled(store)
    before = list(audit.records(store.conn, "seq <= 6"))
    auditlog.archive(store, day(3), tmp_path / "a.jsonl.gz", None)
    header, rows = auditfile.read_file(tmp_path / "a.jsonl.gz")
    assert header["format"] == "zybridge-audit-archive" and list(rows) == before


def test_two_archives_chain_into_the_live_log(store: StateStore, tmp_path: Path) -> None:
    filled(store)
    auditlog.archive(store, day(2), tmp_path / "a1.jsonl.gz", None)
    auditlog.archive(store, day(5), tmp_path / "a2.jsonl.gz", None)
    lines = auditlog._check_archives(store, [tmp_path / "a2.jsonl.gz",
                                             tmp_path / "a1.jsonl.gz"], None)
    assert lines == ["a1.jsonl.gz: entries 1–3 intact", "a2.jsonl.gz: entries 4–12 intact",
                     "the live chain continues the files from entry 13"]


def test_an_archive_with_a_later_one_missing_does_not_join(store: StateStore,
                                                           tmp_path: Path) -> None:
    filled(store)
    auditlog.archive(store, day(2), tmp_path / "a1.jsonl.gz", None)
    auditlog.archive(store, day(5), tmp_path / "a2.jsonl.gz", None)
    result = auditlog._check_archives(store, [tmp_path / "a1.jsonl.gz"], None)
    assert isinstance(result, audit.Verdict) and result.broken_at == 4


def test_archive_refuses_a_broken_chain_and_deletes_nothing(store: StateStore,
                                                            tmp_path: Path) -> None:
    filled(store)
    tamper(store, "UPDATE audit SET data = '{}' WHERE seq = 2")
    assert auditlog.archive(store, day(3), tmp_path / "a.jsonl.gz", None) == 4
    assert store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 18
    assert not (tmp_path / "a.jsonl.gz").exists()


def test_archive_refuses_to_overwrite_a_file(store: StateStore, tmp_path: Path) -> None:
    filled(store)
    (tmp_path / "a.jsonl.gz").write_bytes(b"precious")
    with pytest.raises(ConfigError):
        auditlog.archive(store, day(3), tmp_path / "a.jsonl.gz", None)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == b"precious"
    assert store.conn.execute("SELECT MIN(seq) FROM audit").fetchone()[0] == 1


def test_archive_of_nothing_that_old_changes_nothing(store: StateStore,
                                                     tmp_path: Path) -> None:
    filled(store)
    assert auditlog.archive(store, day(1), tmp_path / "a.jsonl.gz", None) == 0
    assert not (tmp_path / "a.jsonl.gz").exists()
    assert audit.head(store.conn)[0] == 18


def test_an_archive_that_does_not_verify_deletes_nothing(
        store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    filled(store)
    real = auditfile.write_file

    def lossy(path: Path, header: dict[str, object], rows: Iterator[audit.Record]) -> str:
        return real(path, header, (r for r in rows if r.seq != 4))

    monkeypatch.setattr(auditfile, "write_file", lossy)
    with pytest.raises(BridgeError, match="nothing was deleted"):
        auditlog.archive(store, day(3), tmp_path / "a.jsonl.gz", None)
    assert audit.verify(store.conn).entries == 18 and not (tmp_path / "a.jsonl.gz").exists()


def test_a_cut_whose_last_entry_changed_since_archiving_deletes_nothing(
        store: StateStore) -> None:
    filled(store)
    with pytest.raises(ValueError, match="changed since"), store.transaction() as conn:
        audit.cut(conn, day(9), None, (1, 6), "f" * 64, {})
    assert audit.verify(store.conn).entries == 18


def test_archive_files_are_readable_by_their_owner_only(store: StateStore,
                                                        tmp_path: Path) -> None:
    auditlog.archive(filled(store), day(3), tmp_path / "a.jsonl.gz", None)
    assert (tmp_path / "a.jsonl.gz").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=st.integers(1, 8), cut=st.integers(1, 10), per_day=st.integers(1, 3))
def test_any_archive_leaves_a_chain_that_verifies_with_its_file(
        tmp_path_factory: pytest.TempPathFactory, days: int, cut: int, per_day: int) -> None:
    folder = tmp_path_factory.mktemp("prop")
    s = filled(StateStore.open(folder / "state.db"), days, per_day)
    try:
        auditlog.archive(s, day(cut), folder / "a.jsonl.gz", None)
        assert audit.verify(s.conn).ok
        if (folder / "a.jsonl.gz").exists():
            assert isinstance(auditlog._check_archives(s, [folder / "a.jsonl.gz"], None), list)
    finally:
        s.close()


# the delete trigger ---------------------------------------------------------------------------
def test_the_trigger_refuses_deleting_a_leading_entry_no_checkpoint_covers(
        store: StateStore) -> None:
    filled(store)
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("DELETE FROM audit WHERE seq = 1")


def test_the_trigger_refuses_deleting_past_what_the_checkpoint_covers(
        store: StateStore) -> None:
    filled(store)
    add(store, day(9), [Entry("checkpoint", {"through": 2})])
    store.conn.execute("DELETE FROM audit WHERE seq <= 2")
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("DELETE FROM audit WHERE seq = 3")


def test_the_trigger_refuses_deleting_an_entry_that_is_not_the_first(
        store: StateStore) -> None:
    filled(store)
    add(store, day(9), [Entry("checkpoint", {"through": 5})])
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("DELETE FROM audit WHERE seq = 3")


def test_a_state_file_of_schema_2_upgrades_with_its_chain_intact(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for number, script in MIGRATIONS[:2]:
        conn.executescript(script)
        conn.execute("INSERT INTO migrations VALUES (?, 'then')", (number,))
    audit.append(conn, day(1), 1, [Entry("result", {"i": i}, ref="h:volunteer:1")
                                   for i in range(4)])
    conn.close()
    s = StateStore.open(tmp_path / "old.db")
    assert audit.verify(s.conn).entries == 4
    s.close()


# what verify names ------------------------------------------------------------------------------
def test_deleting_the_first_entry_without_a_checkpoint_is_named(store: StateStore) -> None:
    verdict = tamper(filled(store), "DELETE FROM audit WHERE seq = 1")
    assert not verdict.ok and verdict.broken_at == 1


def test_deleting_the_first_live_entry_after_an_archive_is_named(
        store: StateStore, tmp_path: Path) -> None:
    auditlog.archive(filled(store), day(3), tmp_path / "a.jsonl.gz", None)
    verdict = tamper(store, "DELETE FROM audit WHERE seq = 7")
    assert not verdict.ok and verdict.broken_at == 7


def test_an_edited_checkpoint_is_named(store: StateStore, tmp_path: Path) -> None:
    auditlog.archive(filled(store), day(3), tmp_path / "a.jsonl.gz", None)
    verdict = tamper(store, "UPDATE audit SET data = json_set(data, '$.through', 3) "
                            "WHERE kind = 'checkpoint'")
    assert not verdict.ok and verdict.broken_at == 19


def test_an_edited_line_of_an_archive_file_is_named(store: StateStore,
                                                    tmp_path: Path) -> None:
    auditlog.archive(filled(store), day(3), tmp_path / "a.jsonl.gz", None)
    lines = gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()).decode().splitlines()
    lines[3] = lines[3].replace('"created"', '"updated"')
    (tmp_path / "b.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, verdict = auditfile.check_file(tmp_path / "b.jsonl")
    assert not verdict.ok and verdict.broken_at == 3


def test_an_archive_file_cut_short_is_refused(store: StateStore, tmp_path: Path) -> None:
    auditlog.archive(filled(store), day(3), tmp_path / "a.jsonl.gz", None)
    lines = gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()).decode().splitlines()
    (tmp_path / "b.jsonl").write_text("\n".join(lines[:-2]) + "\n", encoding="utf-8")
    _, verdict = auditfile.check_file(tmp_path / "b.jsonl")
    assert not verdict.ok and verdict.broken_at == 5


def test_a_gzip_file_cut_mid_stream_is_refused(store: StateStore, tmp_path: Path) -> None:
    auditlog.archive(filled(store), day(3), tmp_path / "a.jsonl.gz", None)
    data = (tmp_path / "a.jsonl.gz").read_bytes()
    (tmp_path / "b.jsonl.gz").write_bytes(data[: len(data) // 2])
    _, verdict = auditfile.check_file(tmp_path / "b.jsonl.gz")
    assert not verdict.ok and "unreadable" in verdict.problem


TAMPERING = {
    "edit data": "UPDATE audit SET data = '{\"status\":\"x\"}' WHERE seq = {i}",
    "edit time": "UPDATE audit SET at = '2030-01-01T00:00:00.000000+00:00' WHERE seq = {i}",
    "edit ref": "UPDATE audit SET ref = 'h:volunteer:999' WHERE seq = {i}",
    "edit run": "UPDATE audit SET run_id = 77 WHERE seq = {i}",
    "edit kind": "UPDATE audit SET kind = 'quarantine' WHERE seq = {i}",
    "delete": "DELETE FROM audit WHERE seq = {i}",
    "swap": "UPDATE audit SET seq = -1 WHERE seq = {i}; UPDATE audit SET seq = {i} WHERE seq = "
            "{j}; UPDATE audit SET seq = {j} WHERE seq = -1",
}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=st.integers(2, 4), how=st.sampled_from(sorted(TAMPERING)), data=st.data())
def test_any_edit_deletion_or_swap_is_named(tmp_path_factory: pytest.TempPathFactory,
                                            days: int, how: str, data: st.DataObject) -> None:
    s = filled(StateStore.open(tmp_path_factory.mktemp("tamper") / "state.db"), days)
    try:
        i = data.draw(st.integers(1, days * 3 - 1), label="entry")
        sql = TAMPERING[how].replace("{i}", str(i)).replace("{j}", str(i + 1))
        verdict = tamper(s, *sql.split("; "))
        assert not verdict.ok and verdict.broken_at == i, (how, i, verdict)
    finally:
        s.close()


# seals ----------------------------------------------------------------------------------------
def sealed(store: StateStore, key: str = KEY) -> StateStore:
    filled(store)
    with store.transaction() as conn:
        audit.seal(conn, day(9), None, key.encode())
    add(store, day(10), [Entry("result", {"status": "updated"}, ref="h:volunteer:2")])
    return store


def test_a_sealed_chain_verifies_with_its_key(store: StateStore) -> None:
    verdict = audit.verify(sealed(store).conn, KEY.encode())
    assert verdict.ok and verdict.sealed == 19


def test_a_whole_chain_rewrite_passes_the_hashes_but_not_the_seal(store: StateStore) -> None:
    sealed(store)
    tamper(store, "UPDATE audit SET data = '{\"status\":\"rejected\"}' WHERE seq = 4")
    rehash(store.conn)
    assert audit.verify(store.conn).ok
    verdict = audit.verify(store.conn, KEY.encode())
    assert not verdict.ok and verdict.broken_at == 19 and "rewritten" in verdict.problem


def test_a_rewrite_that_drops_the_seals_fails_when_the_key_is_set(store: StateStore) -> None:
    sealed(store)
    tamper(store, "DELETE FROM audit WHERE kind = 'seal'",
           "UPDATE audit SET seq = seq - 1 WHERE seq > 19")
    rehash(store.conn)
    verdict = audit.verify(store.conn, KEY.encode())
    assert not verdict.ok and "no seal" in verdict.problem


def test_a_latest_seal_made_with_another_key_is_named(store: StateStore) -> None:
    sealed(store, key="another-key-of-sixteen-chars")
    verdict = audit.verify(store.conn, KEY.encode())
    assert not verdict.ok and verdict.broken_at == 19 and "another key" in verdict.problem


def test_the_seal_reveals_nothing_of_its_key(store: StateStore) -> None:
    sealed(store)
    text = "".join(r.data for r in audit.records(store.conn))
    assert KEY not in text and KEY.encode().hex() not in text


# selecting ------------------------------------------------------------------------------------
def story(store: StateStore) -> StateStore:
    add(store, day(1), sent("h:volunteer:1", "k1") + sent("h:volunteer:10", "k2"))
    add(store, day(2), sent("h:service_record:5.d1", "k3") + sent("h:service_record:5.d2", "k4")
        + sent("h:service_record:50", "k5"), run_id=2)
    add(store, day(3), sent("h:volunteer:1", "k6", "updated") + sent("o:volunteer:1", "k7"),
        run_id=3)
    add(store, day(4), [Entry("quarantine", {"reasons": [{"field": "mobile",
                                                          "code": "REQUIRED"}]},
                              ref="h:volunteer:2")], run_id=4)
    return store


def refs_and_kinds(rows: list[audit.Record]) -> list[tuple[str, str | None]]:
    return [(r.kind, r.ref) for r in rows]


def test_a_ref_shows_its_batches_attempts_and_answers_in_order(store: StateStore) -> None:
    rows = select(story(store).conn, Filter(ref="h:volunteer:1"))
    assert refs_and_kinds(rows) == [("batch", None), ("request", None),
                                    ("result", "h:volunteer:1")] * 2
    assert [r.payload().get("key") or r.payload()["batch_key"] for r in rows] == \
        ["k1"] * 3 + ["k6"] * 3


def test_a_ref_matches_its_derived_refs_but_not_longer_ids(store: StateStore) -> None:
    rows = select(story(store).conn, Filter(ref="h:service_record:5", kinds=("result",)))
    assert [r.ref for r in rows] == ["h:service_record:5.d1", "h:service_record:5.d2"]


def test_a_derived_ref_matches_only_itself(store: StateStore) -> None:
    rows = select(story(store).conn, Filter(ref="h:service_record:5.d2", kinds=("result",)))
    assert [r.ref for r in rows] == ["h:service_record:5.d2"]


def test_a_source_picks_its_entries_and_their_batches(store: StateStore) -> None:
    rows = select(story(store).conn, Filter(source="o"))
    assert refs_and_kinds(rows) == [("batch", None), ("request", None),
                                    ("result", "o:volunteer:1")]


def test_status_matches_item_and_http_statuses(store: StateStore) -> None:
    story(store)
    assert [r.ref for r in select(store.conn, Filter(status="updated"))] == ["h:volunteer:1"]
    assert len(select(store.conn, Filter(status="200"))) == 7


def test_a_period_is_since_inclusive_until_exclusive(store: StateStore) -> None:
    rows = select(story(store).conn, Filter(since=day(2), until=day(3)))
    assert {r.at for r in rows} == {day(2)} and len(rows) == 9


def test_run_and_kind_filters_combine(store: StateStore) -> None:
    rows = select(story(store).conn, Filter(run=3, kinds=("result", "batch")))
    assert refs_and_kinds(rows) == [("batch", None), ("result", "h:volunteer:1"),
                                    ("batch", None), ("result", "o:volunteer:1")]


def test_naive_times_are_read_as_shanghai_time() -> None:
    assert auditlog._time("2026-03-02") == "2026-03-01T16:00:00.000000+00:00"
    assert auditlog._time("2026-03-02T09:00:00Z") == "2026-03-02T09:00:00.000000+00:00"


def test_an_age_counts_back_from_now() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 3, 10, tzinfo=UTC)
    assert auditlog._time("9d", now) == "2026-03-01T00:00:00.000000+00:00"


def test_a_time_that_is_not_one_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="not a time"):
        auditlog._time("last tuesday")


# admin actions -------------------------------------------------------------------------------
def test_an_admin_action_records_the_user_and_masked_arguments(
        store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops_audit, "_user", lambda: "ops")
    args = argparse.Namespace(command="dead-letters", func=print, refs=["h:volunteer:7"],
                              note="call 13859230002 about 350205199001011234", yes=True)
    record_admin_action(store, "dead-letters drop", vars(args))
    entry = next(audit.records(store.conn))
    d = entry.payload()
    assert (entry.kind, entry.ref, d["user"], d["refs"]) == ("admin", "h:volunteer:7", "ops",
                                                             ["h:volunteer:7"])
    assert "13859230002" not in entry.data and "350205199001011234" not in entry.data
    assert "138****0002" in d["args"]["note"] and "func" not in d["args"]


def test_a_resync_shows_in_the_story_of_the_rows_it_names(store: StateStore) -> None:
    story(store)
    record_admin_action(store, "resync", {"source": "h", "entity": ["volunteer"], "id": ["1"]})
    record_admin_action(store, "resync", {"source": "h", "entity": ["project"], "id": []})
    kinds = [r.kind for r in select(store.conn, Filter(ref="h:volunteer:1"))]
    assert kinds.count("admin") == 1
    assert [r.kind for r in select(store.conn, Filter(ref="h:volunteer:10"))].count(
        "admin") == 0


def test_an_admin_action_joins_the_callers_transaction(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        record_admin_action(store, "quarantine retry", {"refs": ["h:volunteer:2"]})
        raise RuntimeError("the action failed")
    assert audit.head(store.conn)[0] == 0


def test_a_dead_letter_entry_keeps_codes_and_drops_messages() -> None:
    entry = audit.dead_letter_entry("h:volunteer:3", batch_key="k", op="upsert",
                                    payload_sha256="p", errors=[
                                        {"field": "id_number", "code": "CHECKSUM_MISMATCH",
                                         "message": "350205199001011234 is wrong"}])
    assert entry.data["errors"] == [{"field": "id_number", "code": "CHECKSUM_MISMATCH"}]


# output ----------------------------------------------------------------------------------------
def test_jsonl_lines_are_entries_that_verify(store: StateStore) -> None:
    out = io.StringIO()
    auditlog.write_jsonl(select(story(store).conn, Filter()), out)
    rows = [audit.Record.from_json(json.loads(line)) for line in out.getvalue().splitlines()]
    assert audit.check(rows).ok and len(rows) == 22


def test_csv_has_a_header_and_one_row_per_entry(store: StateStore) -> None:
    out = io.StringIO()
    auditlog.write_csv(select(story(store).conn, Filter(kinds=("result",))), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 7 and rows[0]["status"] == "created" and rows[0]["ref"]


def test_the_table_says_what_each_entry_records(store: StateStore) -> None:
    out = io.StringIO()
    auditlog.write_table(select(story(store).conn, Filter(ref="h:volunteer:1")), out)
    text = out.getvalue()
    assert "k1 attempt 1: HTTP 200" in text and "upsert → updated V350000261100001K" in text
    assert "2026-03-03 09:00:00" in text


# the command line --------------------------------------------------------------------------------
def cli(tmp_path: Path, *argv: str) -> tuple[int, str]:
    config = tmp_path / "zybridge.toml"
    if not config.exists():
        config.write_text(
            '[state]\npath = "state.db"\n[log]\npath = "bridge.jsonl"\n'
            '[national]\nbase_url = "http://127.0.0.1:9/openapi/v1"\napp_id = "a"\n'
            'app_secret = "s3cret-s3cret"\n'
            '[[sources]]\nname = "h"\nkind = "sql"\nurl = "sqlite:///h.db"\n'
            'mapping = "zhiyuanyun"\n', encoding="utf-8")
    parser = argparse.ArgumentParser(prog="zybridge")
    parser.add_argument("--config")
    parser.add_argument("--debug", action="store_true")
    auditlog.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["--config", str(config), *argv])
    out = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(out):
        code = args.func(args)
    return int(code), out.getvalue()


def test_verify_prints_the_intact_line_and_exits_0(store: StateStore, tmp_path: Path) -> None:
    filled(store)
    code, text = cli(tmp_path, "audit", "verify")
    assert (code, text.splitlines()[0]) == (0, "audit log intact: 18 entries")


def test_verify_names_the_broken_entry_and_exits_4(store: StateStore, tmp_path: Path) -> None:
    tamper(filled(store), "UPDATE audit SET ref = 'h:volunteer:9' WHERE seq = 5")
    code, text = cli(tmp_path, "audit", "verify")
    assert code == 4 and text.startswith("audit log broken at entry 5: ")


def test_verify_with_the_key_checks_the_seal(store: StateStore, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auditlog.KEY_ENV, KEY)
    filled(store)
    assert cli(tmp_path, "audit", "sign")[0] == 0
    code, text = cli(tmp_path, "audit", "verify")
    assert code == 0 and "sealed through entry 18" in text


def test_verify_without_the_key_says_the_seals_went_unchecked(
        store: StateStore, tmp_path: Path) -> None:
    code, text = cli(tmp_path, "audit", "verify") if sealed(store) else (0, "")
    assert code == 0 and "1 seals not checked" in text


def test_sign_without_a_key_is_a_config_error(store: StateStore, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(auditlog.KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=auditlog.KEY_ENV):
        cli(tmp_path, "audit", "sign")


def test_a_short_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auditlog.KEY_ENV, "short")
    with pytest.raises(ConfigError, match="too short"):
        cli(tmp_path, "audit", "verify")


def test_export_and_verify_archive_join_the_live_chain(store: StateStore,
                                                       tmp_path: Path) -> None:
    filled(store)
    code, text = cli(tmp_path, "audit", "export", "--since", "2026-03-02T09:00:00+08:00",
                     "--until", "2026-03-04T09:00:00+08:00", "--out", str(tmp_path / "e.jsonl"))
    assert code == 0 and text.startswith("exported 6 entries")
    code, text = cli(tmp_path, "audit", "verify", "--archive", str(tmp_path / "e.jsonl"))
    assert code == 0 and "the files join the live chain at entry 9" in text


def test_an_export_no_longer_matching_the_live_chain_is_named(store: StateStore,
                                                              tmp_path: Path) -> None:
    filled(store)
    cli(tmp_path, "audit", "export", "--out", str(tmp_path / "e.jsonl"))
    tamper(store, "UPDATE audit SET hash = 'x' WHERE seq = 18")
    code, text = cli(tmp_path, "audit", "verify", "--archive", str(tmp_path / "e.jsonl"))
    assert code == 4 and text.startswith("audit log broken at entry 18")


def test_archive_then_verify_with_the_file(store: StateStore, tmp_path: Path) -> None:
    filled(store)
    out = tmp_path / "old.jsonl.gz"
    code, _ = cli(tmp_path, "audit", "archive", "--before", "2026-03-04", "--out", str(out))
    assert code == 0
    code, text = cli(tmp_path, "audit", "verify", "--archive", str(out))
    assert code == 0 and "entries 1–9 are archived" in text
    assert "old.jsonl.gz: entries 1–9 intact" in text


def test_log_prints_jsonl_for_a_ref(store: StateStore, tmp_path: Path) -> None:
    story(store)
    code, text = cli(tmp_path, "audit", "log", "--ref", "h:volunteer:2", "--format", "jsonl")
    assert code == 0 and [json.loads(x)["kind"] for x in text.splitlines()] == ["quarantine"]


@pytest.mark.parametrize("action", ["log", "export", "archive", "verify", "sign"])
def test_every_audit_command_has_help(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="zybridge")
    auditlog.register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["audit", action, "--help"])
    assert exit_.value.code == 0 and len(capsys.readouterr().out) > 100
