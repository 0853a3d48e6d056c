from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from bridge.errors import LockHeld, StateError
from state.lock import StateLock, holder
from state.store import StateStore


def test_state_file_is_created_private_with_wal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.db"
    store = StateStore.open(path)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    journal = store.conn.execute("PRAGMA journal_mode").fetchone()[0]
    store.close()
    assert mode == 0o600
    assert journal == "wal"


def test_a_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO migrations VALUES (999, 'later')")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="newer than this bridge knows"):
        StateStore.open(path)


def test_a_corrupted_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="unreadable"):
        StateStore.open(path)


def test_a_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = StateStore.open(path)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(StateError):
        store = StateStore.open(path)
        store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()


def test_readonly_open_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore.open(path).close()
    before = path.read_bytes()
    store = StateStore.open(path, readonly=True)
    with pytest.raises(sqlite3.OperationalError):
        store.conn.execute("INSERT INTO runs (kind, sources, pid, started_at, status) "
                           "VALUES ('x', '[]', 1, 'now', 'x')")
    store.close()
    assert path.read_bytes() == before


def test_a_second_holder_is_refused_with_the_pid(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateLock(path):
        assert holder(path) == os.getpid()
        with pytest.raises(LockHeld) as err:
            StateLock(path).acquire()
        assert err.value.pid == os.getpid()
        assert str(os.getpid()) in str(err.value)
    assert holder(path) is None


def test_a_stale_lock_file_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    (tmp_path / "state.db.lock").write_text("999999")
    with StateLock(path):
        assert holder(path) == os.getpid()
