"""state/retention.py on a real SQLite state file: only batches answered before the
cutoff lose their bodies; an open batch (unanswered, to be resent with its idempotency
key) never does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from state import retention
from state.store import StateStore

BODY = b'{"items":[{"idNumber":"350205199001011234","mobile":"13800000000"}]}'
CUTOFF = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


def batch(store: StateStore, key: str, state: str, done_at: str | None) -> int:
    with store.transaction() as conn:
        batch_id = store.create_batch(key, "volunteer", "upsert", "/volunteers/batch", BODY,
                                      "a" * 64, [])
        conn.execute("UPDATE batches SET state = ?, done_at = ?, created_at = ? WHERE id = ?",
                     (state, done_at, "2026-01-01T00:00:00.000000+00:00", batch_id))
    return batch_id


def body(store: StateStore, batch_id: int) -> bytes:
    return bytes(store.conn.execute("SELECT body FROM batches WHERE id = ?",
                                    (batch_id,)).fetchone()[0])


def strip(store: StateStore) -> int:
    with store.transaction() as conn:
        return retention.strip_sent_bodies(conn, CUTOFF)


def test_a_batch_answered_before_the_cutoff_keeps_only_its_hash(store: StateStore) -> None:
    old = batch(store, "k1", "done", "2026-05-01T00:00:00.000000+00:00")
    assert strip(store) == 1
    assert body(store, old) == retention.stripped_body("a" * 64)


def test_a_batch_answered_after_the_cutoff_keeps_its_body(store: StateStore) -> None:
    recent = batch(store, "k1", "done", "2026-06-02T00:00:00.000000+00:00")
    assert strip(store) == 0 and body(store, recent) == BODY


def test_an_open_batch_is_never_stripped_however_old(store: StateStore) -> None:
    unanswered = batch(store, "k1", "open", None)
    assert strip(store) == 0
    assert [b.body for b in store.open_batches() if b.id == unanswered] == [BODY]


def test_an_abandoned_batch_is_not_stripped(store: StateStore) -> None:
    given_up = batch(store, "k1", "abandoned", "2026-05-01T00:00:00.000000+00:00")
    assert strip(store) == 0 and body(store, given_up) == BODY


def test_stripping_again_changes_nothing(store: StateStore) -> None:
    batch(store, "k1", "done", "2026-05-01T00:00:00.000000+00:00")
    strip(store)
    assert strip(store) == 0
