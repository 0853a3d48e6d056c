from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from state import audit
from state.store import StateStore


def fill(tmp_path: Path, n: int = 5) -> Path:
    path = tmp_path / "state.db"
    store = StateStore.open(path)
    with store.transaction():
        store.audit([audit.Entry("result", {"status": "created", "i": i}, ref=f"r:{i}")
                     for i in range(n)])
    store.close()
    return path


def test_an_untouched_chain_verifies(tmp_path: Path) -> None:
    store = StateStore.open(fill(tmp_path))
    verdict = audit.verify(store.conn)
    assert verdict.ok and verdict.entries == 5


def test_updates_and_deletes_are_refused_by_triggers(tmp_path: Path) -> None:
    store = StateStore.open(fill(tmp_path))
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("UPDATE audit SET data = '{}' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("DELETE FROM audit WHERE seq = 2")


def _tamper(path: Path, *sql: str) -> audit.Verdict:
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for statement in sql:
        conn.execute(statement)
    conn.commit()
    conn.close()
    store = StateStore.open(path)
    return audit.verify(store.conn)


def test_an_edited_entry_is_named(tmp_path: Path) -> None:
    verdict = _tamper(fill(tmp_path), "UPDATE audit SET data = '{\"status\":\"x\"}' WHERE seq = 3")
    assert not verdict.ok and verdict.broken_at == 3


def test_a_deleted_entry_is_named(tmp_path: Path) -> None:
    verdict = _tamper(fill(tmp_path), "DELETE FROM audit WHERE seq = 3")
    assert not verdict.ok and verdict.broken_at == 3


def test_two_swapped_entries_break_the_chain(tmp_path: Path) -> None:
    verdict = _tamper(
        fill(tmp_path),
        "UPDATE audit SET seq = -1 WHERE seq = 2", "UPDATE audit SET seq = 2 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = -1")
    assert not verdict.ok and verdict.broken_at == 2


@given(st.text(), st.integers(1, 2**62), st.text(min_size=1), st.one_of(st.none(), st.text()),
       st.one_of(st.none(), st.integers(0, 2**62)), st.text())
def test_an_entry_hash_is_the_hash_of_the_entry_s_canonical_json(
        at: str, seq: int, kind: str, ref: str | None, run_id: int | None, data: str) -> None:
    """entry_hash writes the canonical JSON out by hand; it must be canonical()'s, byte
    for byte, or every chain written before would stop verifying."""
    content = audit.canonical({"seq": seq, "at": at, "run_id": run_id, "kind": kind,
                               "ref": ref, "data": data})
    try:
        expected = hashlib.sha256(f"{audit.GENESIS}\n{content}".encode()).hexdigest()
    except UnicodeEncodeError:  # a lone surrogate: neither form can be hashed
        with pytest.raises(UnicodeEncodeError):
            audit.entry_hash(audit.GENESIS, seq, at, run_id, kind, ref, data)
        return
    assert audit.entry_hash(audit.GENESIS, seq, at, run_id, kind, ref, data) == expected
