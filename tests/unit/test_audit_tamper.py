"""Tampering that keeps every entry's own hash right: only the links between entries
(each entry's prev_hash is the hash of the one before) and the unbroken sequence show it.
A verify without its link check let an edited entry with a recomputed hash pass."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from state import audit
from state.store import StateStore


def fill(tmp_path: Path, n: int = 6) -> Path:
    path = tmp_path / "state.db"
    store = StateStore.open(path)
    with store.transaction():
        store.audit([audit.Entry("result", {"status": "created", "i": i}, ref=f"r:{i}")
                     for i in range(n)])
    store.close()
    return path


def _open_untriggered(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    return conn


def _get(conn: sqlite3.Connection, seq: int) -> audit.Record:
    return next(audit.records(conn, "seq = ?", (seq,)))


def _rewrite(conn: sqlite3.Connection, old_seq: int, r: audit.Record) -> None:
    """Store `r` in place of entry `old_seq`, its hash recomputed so that it holds."""
    digest = audit.entry_hash(r.prev_hash, r.seq, r.at, r.run_id, r.kind, r.ref, r.data)
    conn.execute("UPDATE audit SET seq = ?, data = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                 (r.seq, r.data, r.prev_hash, digest, old_seq))


def _verify(path: Path, conn: sqlite3.Connection) -> audit.Verdict:
    conn.commit()
    conn.close()
    store = StateStore.open(path)
    try:
        return audit.verify(store.conn)
    finally:
        store.close()


def test_an_entry_edited_with_its_hash_recomputed_breaks_the_next_link(
        tmp_path: Path) -> None:
    path = fill(tmp_path)
    conn = _open_untriggered(path)
    r = _get(conn, 3)
    _rewrite(conn, 3, audit.Record(r.seq, r.at, r.run_id, r.kind, r.ref,
                                   audit.canonical({"status": "revoked", "i": 2}),
                                   r.prev_hash, r.hash))
    verdict = _verify(path, conn)
    assert (verdict.ok, verdict.broken_at) == (False, 4)
    assert verdict.problem == "entry 4 does not link to the entry before it"


def test_an_entry_removed_with_the_next_relinked_is_named_missing(tmp_path: Path) -> None:
    path = fill(tmp_path)
    conn = _open_untriggered(path)
    before, after = _get(conn, 2), _get(conn, 4)
    conn.execute("DELETE FROM audit WHERE seq = 3")
    _rewrite(conn, 4, audit.Record(4, after.at, after.run_id, after.kind, after.ref,
                                   after.data, before.hash, after.hash))
    verdict = _verify(path, conn)
    assert (verdict.ok, verdict.broken_at) == (False, 3)
    assert verdict.problem == "entry 3 is missing (next is 4)"


def test_an_entry_removed_and_the_next_renumbered_and_relinked_breaks_the_link_after(
        tmp_path: Path) -> None:
    """The gap closed too: entry 4 becomes entry 3, linked and hashed anew; entry 5 (now
    4) still links to the old entry 4."""
    path = fill(tmp_path)
    conn = _open_untriggered(path)
    before, moved = _get(conn, 2), _get(conn, 4)
    conn.execute("DELETE FROM audit WHERE seq = 3")
    _rewrite(conn, 4, audit.Record(3, moved.at, moved.run_id, moved.kind, moved.ref,
                                   moved.data, before.hash, moved.hash))
    for seq in (5, 6):
        conn.execute("UPDATE audit SET seq = ? WHERE seq = ?", (seq - 1, seq))
    verdict = _verify(path, conn)
    assert (verdict.ok, verdict.broken_at) == (False, 4)
    assert verdict.problem == "entry 4 does not link to the entry before it"


def test_a_chain_rehashed_from_a_start_other_than_the_genesis_is_named(
        tmp_path: Path) -> None:
    """Every entry links and holds; only the first entry's link to the start shows it."""
    path = fill(tmp_path)
    conn = _open_untriggered(path)
    prev = "f" * 64
    for r in list(audit.records(conn)):
        _rewrite(conn, r.seq, audit.Record(r.seq, r.at, r.run_id, r.kind, r.ref, r.data,
                                           prev, r.hash))
        prev = _get(conn, r.seq).hash
    verdict = _verify(path, conn)
    assert (verdict.ok, verdict.broken_at) == (False, 1)
    assert verdict.problem == "entry 1 does not link to the start of the chain"


# --- named exactly (survivors of make mutate) -----------------------------------------

def test_an_entry_edited_without_its_hash_is_named_altered(tmp_path: Path) -> None:
    path = fill(tmp_path)
    conn = _open_untriggered(path)
    conn.execute("UPDATE audit SET data = '{\"status\":\"x\"}' WHERE seq = 3")
    verdict = _verify(path, conn)
    assert (verdict.ok, verdict.broken_at) == (False, 3)
    assert verdict.problem == "entry 3 was altered (its hash does not match)"


def test_a_segment_checked_from_the_genesis_must_link_to_it(tmp_path: Path) -> None:
    store = StateStore.open(fill(tmp_path))
    try:
        verdict = audit.check(list(audit.records(store.conn))[1:])
    finally:
        store.close()
    assert (verdict.ok, verdict.broken_at) == (False, 2)
    assert verdict.problem == "entry 2 does not link to the entry before it"


def test_leading_entries_gone_without_a_checkpoint_are_named(tmp_path: Path) -> None:
    path = fill(tmp_path)
    conn = _open_untriggered(path)
    conn.execute("DELETE FROM audit WHERE seq <= 2")
    verdict = _verify(path, conn)
    assert (verdict.ok, verdict.broken_at) == (False, 1)
    assert verdict.problem == "entries 1–2 are missing and no checkpoint accounts for them"


def archived(tmp_path: Path) -> Path:
    """Entries 1–3 cut behind a checkpoint (entry 7); 4–7 live."""
    path = fill(tmp_path)
    store = StateStore.open(path)
    try:
        with store.transaction() as conn:
            last = next(audit.records(conn, "seq = 3"))
            audit.cut(conn, "2026-01-02T00:00:00Z", None, (1, 3), last.hash, {})
        assert audit.verify(store.conn).ok
    finally:
        store.close()
    return path


def test_entries_missing_after_a_checkpoint_are_named_with_its_range(tmp_path: Path) -> None:
    path = archived(tmp_path)
    conn = _open_untriggered(path)
    conn.execute("DELETE FROM audit WHERE seq = 4")
    verdict = _verify(path, conn)
    assert (verdict.ok, verdict.broken_at) == (False, 4)
    assert verdict.problem == ("entries 4–4 are missing (the checkpoint at entry 7 archived "
                               "only up to entry 3)")


def test_a_live_chain_rehashed_away_from_its_checkpoint_is_named(tmp_path: Path) -> None:
    path = archived(tmp_path)
    conn = _open_untriggered(path)
    prev = "e" * 64
    for r in list(audit.records(conn)):
        _rewrite(conn, r.seq, audit.Record(r.seq, r.at, r.run_id, r.kind, r.ref, r.data,
                                           prev, r.hash))
        prev = _get(conn, r.seq).hash
    verdict = _verify(path, conn)
    assert (verdict.ok, verdict.broken_at) == (False, 4)
    assert verdict.problem == ("entry 4 does not continue the archived chain that the "
                               "checkpoint at entry 7 describes")


def test_a_key_without_any_seal_in_the_chain_fails(tmp_path: Path) -> None:
    store = StateStore.open(fill(tmp_path))
    try:
        verdict = audit.verify(store.conn, b"k3y-for-the-audit-seal-0123456789")
    finally:
        store.close()
    assert verdict.ok is False and verdict.broken_at == 6
    assert verdict.problem.startswith("ZYBRIDGE_AUDIT_KEY is set but the chain holds no seal")
