"""state/seal.py on real SQLite state files with synthetic entries: seals at the end of
work, checkpoint MACs, the anchor, and what verify makes of each."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from bridge.commands import audit as auditlog
from state import audit, keys, seal
from state.audit import Entry
from state.store import StateStore

KEY = b"k3y-for-the-audit-seal-0123456789"
AT = "2026-03-01T01:00:00.000000+00:00"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


def work(store: StateStore, n: int = 3, *, finished: bool = True) -> int:
    """A run that writes n entries, finished or still running."""
    run_id = store.start_run("sync", ["haicang"])
    with store.transaction() as conn:
        audit.append(conn, AT, run_id, [Entry("result", {"status": "created", "n": i},
                                              ref=f"h:volunteer:{i}") for i in range(n)])
    if finished:
        store.finish_run(run_id, "ok", {}, None)
    return run_id


def cycle(store: StateStore, anchor: Path | None = None, *, key: bytes | None = KEY) -> None:
    run_id = work(store)
    seal.end_of_cycle(store, run_id, key=key, anchor=anchor, keep_days=30)


def cut(store: StateStore, after: int) -> None:
    store.conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    store.conn.execute("DELETE FROM audit WHERE seq > ?", (after,))


def count(store: StateStore, kind: str) -> int:
    return int(store.conn.execute("SELECT COUNT(*) FROM audit WHERE kind = ?",
                                  (kind,)).fetchone()[0])


def test_a_seal_of_an_empty_chain_verifies(store: StateStore) -> None:
    seal.end_of_cycle(store, None, key=KEY, anchor=None, keep_days=30)
    assert count(store, "seal") == 1 and seal.verify(store.conn, KEY).ok


def test_nothing_new_since_the_last_seal_adds_no_seal(store: StateStore) -> None:
    cycle(store)
    seal.end_of_cycle(store, None, key=KEY, anchor=None, keep_days=30)
    assert count(store, "seal") == 1


def test_without_a_key_nothing_is_sealed(store: StateStore) -> None:
    cycle(store, key=None)
    assert count(store, "seal") == 0


def test_a_version_1_seal_made_before_the_upgrade_still_verifies(store: StateStore) -> None:
    work(store)
    with store.transaction() as conn:
        seq, digest = audit.head(conn)
        audit.append(conn, AT, None, [Entry("seal", {
            "head_seq": seq, "head_hash": digest, "key_id": keys.key_id(KEY),
            "mac": keys.seal_mac(KEY, seq, digest)})])
    assert seal.verify(store.conn, KEY).ok


def test_entries_of_a_cycle_still_running_after_the_seal_are_no_break(
        store: StateStore) -> None:
    cycle(store)
    work(store, finished=False)
    assert seal.verify(store.conn, KEY).ok


def test_entries_of_a_finished_run_after_the_last_seal_are_named(store: StateStore) -> None:
    cycle(store)
    work(store)
    verdict = seal.verify(store.conn, KEY)
    assert not verdict.ok and "the tail was truncated or left unsealed" in verdict.problem


def test_an_archive_with_the_key_gives_its_checkpoint_a_mac(store: StateStore,
                                                           tmp_path: Path) -> None:
    cycle(store)
    cycle(store)
    assert auditlog.archive(store, "9999", tmp_path / "a.jsonl.gz", KEY) == 0
    checkpoint = audit.latest(store.conn, "checkpoint")
    assert checkpoint is not None and keys.checkpoint_holds(KEY, checkpoint.payload())
    assert seal.verify(store.conn, KEY).ok


def test_an_archive_without_the_key_leaves_an_unsealed_checkpoint(
        store: StateStore, tmp_path: Path) -> None:
    cycle(store)
    assert auditlog.archive(store, "9999", tmp_path / "a.jsonl.gz", None) == 0
    cycle(store)
    verdict = seal.verify(store.conn, KEY)
    assert not verdict.ok and "forged or unsealed checkpoint" in verdict.problem, \
        "a later seal does not vouch for a checkpoint without its own MAC"


def test_each_seal_is_appended_to_the_anchor_without_payload(store: StateStore,
                                                             tmp_path: Path) -> None:
    cycle(store, tmp_path / "anchor.jsonl")
    cycle(store, tmp_path / "anchor.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "anchor.jsonl").read_text().splitlines()]
    seals = list(audit.records(store.conn, "kind = 'seal'"))
    assert [(x["seq"], x["hash"]) for x in lines] == [(r.seq, r.hash) for r in seals]
    assert all("status" not in x and "ref" not in x for x in lines)


def test_a_chain_that_lost_the_anchored_seal_is_not_sealed_again(
        store: StateStore, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.jsonl"
    cycle(store, anchor)
    cycle(store, anchor)
    cut(store, 4)
    cycle(store, anchor)
    assert count(store, "seal") == 1, "a new seal would launder the truncation"
    verdict = seal.verify(store.conn, None, seal.read_anchor(anchor))
    assert not verdict.ok and "truncated" in verdict.problem


def test_an_anchor_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "anchor.jsonl").write_text('{"kind": "seal"}\n')
    with pytest.raises(ValueError, match="line 1"):
        seal.read_anchor(tmp_path / "anchor.jsonl")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cycles=st.integers(1, 4), back=st.integers(1, 20))
def test_any_truncation_is_named_against_the_anchor_without_the_key(
        tmp_path_factory: pytest.TempPathFactory, cycles: int, back: int) -> None:
    folder = tmp_path_factory.mktemp("cut")
    s = StateStore.open(folder / "state.db")
    try:
        for _ in range(cycles):
            cycle(s, folder / "anchor.jsonl")
        last = audit.head(s.conn)[0]
        cut(s, max(0, last - back))
        verdict = seal.verify(s.conn, None, seal.read_anchor(folder / "anchor.jsonl"))
        assert not verdict.ok and "truncated" in verdict.problem
    finally:
        s.close()


def test_verify_without_key_or_anchor_says_what_it_cannot_detect(store: StateStore) -> None:
    cycle(store)
    verdict = seal.verify(store.conn)
    assert verdict.ok and seal.describe(verdict, None, None) == [seal.NO_KEY_NOTE]


def test_state_check_reads_the_seals_through_a_plain_connection(store: StateStore) -> None:
    cycle(store)
    conn = sqlite3.connect(store.path)  # type: ignore[arg-type]
    try:
        assert seal.verify(conn, KEY).ok
    finally:
        conn.close()


def test_an_anchor_that_cannot_be_written_is_logged_and_the_seal_stays(
        store: StateStore, tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    with capture_logs() as lines:
        cycle(store, tmp_path / "not-a-folder" / "anchor.jsonl")
    assert count(store, "seal") == 1 and seal.verify(store.conn, KEY).ok
    assert [x["log_level"] for x in lines if x["event"] == "audit seal or retention failed"
            ] == ["error"]
