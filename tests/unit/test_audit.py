from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

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
