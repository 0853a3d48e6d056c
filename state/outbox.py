"""The outbox (items not yet acknowledged) and the batches that carry them."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from state import db
from state.base import Queries, RowKey, _marks, dumps


@dataclass(frozen=True)
class OutboxItem:
    id: int
    ref: str
    base_ref: str
    source: str
    entity: str
    local_id: str
    op: str
    text: str  # the payload as stored: dumps(payload), the bytes a batch carries
    hash: str
    ref_misses: int
    batch_id: int | None

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The payload, decoded when first asked for (applying a batch's results needs
        only the stored text and hash)."""
        value: dict[str, Any] = json.loads(self.text)
        return value


class OutboxRow(NamedTuple):
    """An upsert of a row never seen, as `enqueue_new` writes it."""

    ref: str
    base_ref: str
    key: RowKey
    op: str
    text: str
    hash: str


@dataclass(frozen=True)
class Batch:
    id: int
    key: str
    entity: str
    op: str
    path: str
    body: bytes
    body_sha256: str
    items: int
    attempts: int


def _outbox(r: Sequence[Any]) -> OutboxItem:
    return OutboxItem(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], int(r[9]),
                      r[10])



_ENQUEUE = (
    "INSERT INTO outbox (ref, base_ref, source, entity, local_id, op, payload, hash, "
    "force, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (ref) WHERE batch_id IS NULL DO UPDATE SET op = excluded.op, "
    "payload = excluded.payload, hash = excluded.hash, "
    "force = MAX(outbox.force, excluded.force), "
    "ref_misses = CASE WHEN outbox.hash = excluded.hash THEN outbox.ref_misses "
    "ELSE 0 END")


class OutboxQueries(Queries):
    def pending_upsert(self, ref: str) -> bool:
        return self.conn.execute("SELECT 1 FROM outbox WHERE ref = ? AND op = 'upsert'",
                                 (ref,)).fetchone() is not None

    def enqueue(self, ref: str, base_ref: str, key: RowKey, op: str,
                payload: dict[str, Any], digest: str, *, force: bool = False,
                text: str | None = None) -> None:
        """Add or replace the unsent outbox row of this ref (`text`: dumps(payload),
        when the caller has it already)."""
        self.conn.execute(_ENQUEUE, (ref, base_ref, *key, op, text or dumps(payload), digest,
                                     int(force), db.utcnow()))

    def enqueue_new(self, rows: Sequence[OutboxRow]) -> None:
        """enqueue (not forced) for many items at once."""
        now = db.utcnow()
        self.conn.executemany(_ENQUEUE, [(r.ref, r.base_ref, *r.key, r.op, r.text, r.hash, 0,
                                          now) for r in rows])

    def drop_unsent(self, ref: str) -> None:
        self.conn.execute("DELETE FROM outbox WHERE ref = ? AND batch_id IS NULL", (ref,))

    def unsent_for_base(self, base_ref: str) -> list[str]:
        cur = self.conn.execute("SELECT ref FROM outbox WHERE base_ref = ? AND batch_id IS NULL",
                                (base_ref,))
        return [r for (r,) in cur]

    def unsent(self, entity: str, op: str, limit: int, after_id: int = 0,
               sources: Sequence[str] | None = None, *,
               new_only: bool = False) -> list[OutboxItem]:
        """Unsent items of an entity and op, by id; only those of `sources` when given;
        only refs the platform has never been sent (no ledger row) with `new_only`."""
        return self._unsent(entity, op, "id > ?", (after_id,), sources, new_only,
                            " LIMIT ?", (limit,))

    def unsent_by_ids(self, entity: str, op: str, ids: Sequence[int],
                      sources: Sequence[str] | None = None, *,
                      new_only: bool = False) -> list[OutboxItem]:
        """Those of these items that are still unsent, with the filters of `unsent`."""
        return self._unsent(entity, op, f"id IN ({_marks(ids)})", tuple(ids), sources,
                            new_only)

    def _unsent(self, entity: str, op: str, which: str, which_params: tuple[Any, ...],
                sources: Sequence[str] | None, new_only: bool, tail: str = "",
                tail_params: tuple[Any, ...] = ()) -> list[OutboxItem]:
        where = ""
        params: tuple[Any, ...] = ()
        if sources is not None:
            where = f" AND source IN ({_marks(sources)})"
            params = tuple(sources)
        if new_only:
            where += " AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.ref = outbox.ref)"
        cur = self.conn.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE batch_id IS NULL AND entity = ? "
            f"AND op = ? AND {which}{where} ORDER BY id{tail}",
            (entity, op, *which_params, *params, *tail_params))
        return [_outbox(r) for r in cur]

    def outbox_holds(self, entities: Collection[str], after: dict[str, int]) -> bool:
        """Some creation of these entities is in an unacknowledged batch, or unsent with
        an id above after[entity] (those at or below it were looked at and held back)."""
        new = "NOT EXISTS (SELECT 1 FROM ledger l WHERE l.ref = o.ref)"
        for entity in entities:  # each query walks an index: in flight, or unsent by id
            if self.conn.execute(
                    f"SELECT 1 FROM outbox o WHERE batch_id > 0 AND entity = ? AND {new} "
                    "LIMIT 1", (entity,)).fetchone() is not None:
                return True
            if self.conn.execute(
                    "SELECT 1 FROM outbox o WHERE batch_id IS NULL AND entity = ? "
                    f"AND op = 'upsert' AND id > ? AND {new} LIMIT 1",
                    (entity, after.get(entity, 0))).fetchone() is not None:
                return True
        return False

    def batch_sources(self, batch_id: int) -> set[str]:
        cur = self.conn.execute("SELECT DISTINCT source FROM outbox WHERE batch_id = ?",
                                (batch_id,))
        return {s for (s,) in cur}

    def in_open_batch(self, ref: str) -> bool:
        return self.conn.execute("SELECT 1 FROM outbox WHERE ref = ? AND batch_id IS NOT NULL",
                                 (ref,)).fetchone() is not None

    def live_in_flight(self, base_ref: str) -> bool:
        """Some ref of this base sits in a batch that is not yet acknowledged."""
        return self.conn.execute("SELECT 1 FROM outbox WHERE base_ref = ? AND batch_id IS NOT "
                                 "NULL", (base_ref,)).fetchone() is not None

    def batch_items(self, batch_id: int) -> list[OutboxItem]:
        cur = self.conn.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE batch_id = ? ORDER BY id", (batch_id,))
        return [_outbox(r) for r in cur]

    def update_unsent(self, item_id: int, text: str, digest: str) -> None:
        """A new payload (its stored text) for an unsent item."""
        self.conn.execute("UPDATE outbox SET payload = ?, hash = ? WHERE id = ?",
                          (text, digest, item_id))

    def delete_outbox(self, item_id: int) -> None:
        self.conn.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

    def delete_outbox_many(self, item_ids: Sequence[int]) -> None:
        self.conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in item_ids])

    def release(self, item: OutboxItem, *, miss: bool = False) -> None:
        """Take an item out of its batch, back to unsent (unless a newer version waits)."""
        newer = self.conn.execute("SELECT 1 FROM outbox WHERE ref = ? AND batch_id IS NULL",
                                  (item.ref,)).fetchone()
        if newer:
            self.delete_outbox(item.id)
        else:
            self.conn.execute("UPDATE outbox SET batch_id = NULL, ref_misses = ref_misses + ? "
                              "WHERE id = ?", (int(miss), item.id))

    def outbox_depth(self) -> tuple[int, int]:
        items = self.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        batches = self.conn.execute(
            "SELECT COUNT(*) FROM batches WHERE state = 'open'").fetchone()[0]
        return int(items), int(batches)

    def create_batch(self, key: str, entity: str, op: str, path: str, body: bytes,
                     body_sha256: str, item_ids: Sequence[int]) -> int:
        cur = self.conn.execute(
            "INSERT INTO batches (key, entity, op, path, body, body_sha256, items, state, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?)",
            (key, entity, op, path, body, body_sha256, len(item_ids), db.utcnow()))
        batch_id = int(cur.lastrowid or 0)
        self.conn.executemany("UPDATE outbox SET batch_id = ? WHERE id = ?",
                              [(batch_id, i) for i in item_ids])
        return batch_id

    def open_batches(self) -> list[Batch]:
        cur = self.conn.execute("SELECT id, key, entity, op, path, body, body_sha256, items, "
                                "attempts FROM batches WHERE state = 'open' ORDER BY id")
        return [Batch(*r) for r in cur]

    def close_batch(self, batch_id: int, state: str, status: int | None, attempts: int,
                    error: str | None = None) -> None:
        self.conn.execute("UPDATE batches SET state = ?, last_status = ?, attempts = ?, "
                          "last_error = ?, done_at = ? WHERE id = ?",
                          (state, status, attempts, error, db.utcnow(), batch_id))

    def note_attempts(self, batch_id: int, attempts: int, status: int | None,
                      error: str | None) -> None:
        self.conn.execute("UPDATE batches SET attempts = ?, last_status = ?, last_error = ? "
                          "WHERE id = ?", (attempts, status, error, batch_id))

    def bases_in_outbox(self, base_refs: Collection[str]) -> set[str]:
        """Bases with some ref unsent or in an unacknowledged batch."""
        return self._bases_in("outbox", base_refs)

    def refs_in_open_batches(self, refs: Collection[str]) -> set[str]:
        return self._column_in("SELECT ref FROM outbox WHERE batch_id > 0 AND ref IN ({in})",
                               refs)

    def bases_revoking(self, base_refs: Collection[str]) -> set[str]:
        return self._column_in(
            "SELECT base_ref FROM outbox WHERE op = 'revoke' AND base_ref IN ({in})", base_refs)


    def outbox_rows(self) -> list[tuple[str, str, str, RowKey]]:
        """(ref, op, payload as stored, row key) of every outbox item, in queue order."""
        cur = self.conn.execute("SELECT ref, op, payload, source, entity, local_id FROM outbox "
                                "ORDER BY id")
        return [(ref, op, text, (s, e, i)) for ref, op, text, s, e, i in cur]

_OUTBOX_COLUMNS = ("id, ref, base_ref, source, entity, local_id, op, payload, hash, ref_misses, "
                   "batch_id")  # in OutboxItem's order (_outbox)
