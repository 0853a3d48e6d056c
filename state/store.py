"""StateStore: cursors, source rows, ledger, outbox, batches, dead letters, waits, runs.

Nothing else touches the state file. Writers call the methods inside
`store.transaction()`; one process writes at a time (state/lock.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from adapters.base import Cursor
from state import audit, db

RowKey = tuple[str, str, str]  # (source, entity, local_id)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class SourceText(str):
    """A source row already serialized the way the state file stores it (dumps with
    `default=str`): stored and compared as is, never serialized twice."""

    @classmethod
    def of(cls, data: Any) -> SourceText:
        return cls(json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              default=str))


def source_text(source_row: Any) -> str:
    return source_row if isinstance(source_row, SourceText) else dumps(source_row)


@dataclass(frozen=True)
class RowState:
    source: str
    entity: str
    local_id: str
    base_ref: str
    state: str
    status: str
    generation: int
    parts: list[tuple[str, dict[str, Any]]]
    reasons: list[dict[str, str]]


@dataclass(frozen=True)
class LedgerEntry:
    ref: str
    national_id: str | None
    hash: str | None
    status: str
    payload: dict[str, Any] | None


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


class StateStore:
    def __init__(self, conn: sqlite3.Connection, path: Path | None = None) -> None:
        self.conn = conn
        self.path = path
        self.run_id: int | None = None

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> StateStore:
        return cls(db.connect(path, readonly=readonly), path)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with db.transaction(self.conn) as conn:
            yield conn

    def audit(self, entries: Iterable[audit.Entry]) -> None:
        audit.append(self.conn, db.utcnow(), self.run_id, entries)

    # cursors -----------------------------------------------------------------
    def cursor(self, source: str, stream: str) -> Cursor | None:
        row = self.conn.execute("SELECT cursor FROM cursors WHERE source = ? AND stream = ?",
                                (source, stream)).fetchone()
        return Cursor.from_json(json.loads(row[0])) if row else None

    def set_cursor(self, source: str, stream: str, cursor: Cursor) -> None:
        self.conn.execute(
            "INSERT INTO cursors (source, stream, cursor, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (source, stream) DO UPDATE SET cursor = excluded.cursor, "
            "updated_at = excluded.updated_at",
            (source, stream, dumps(cursor.to_json()), db.utcnow()))

    def cursors(self, source: str) -> dict[str, dict[str, Any]]:
        cur = self.conn.execute("SELECT stream, cursor FROM cursors WHERE source = ?", (source,))
        return {stream: json.loads(text) for stream, text in cur}

    # source rows ---------------------------------------------------------------
    def row(self, key: RowKey) -> RowState | None:
        found = self.conn.execute(
            "SELECT source, entity, local_id, base_ref, state, status, generation, parts, "
            "reasons FROM rows WHERE source = ? AND entity = ? AND local_id = ?", key).fetchone()
        if not found:
            return None
        parts = [(s, p) for s, p in json.loads(found[7] or "[]")]
        return RowState(found[0], found[1], found[2], found[3], found[4], found[5],
                        int(found[6]), parts, json.loads(found[8] or "[]"))

    def put_row(self, key: RowKey, *, base_ref: str, state: str, generation: int,
                parts: Sequence[tuple[str, dict[str, Any]]] = (), reasons: Sequence[Any] = (),
                warnings: Sequence[Any] = (), why: str | None = None,
                source_row: Any = None, not_before: str | None = None,
                modified: str | None = None, status: str = "pending") -> None:
        now = db.utcnow()
        self.conn.execute(
            "INSERT INTO rows (source, entity, local_id, base_ref, state, status, why, "
            "generation, parts, reasons, warnings, source_row, not_before, modified, "
            "first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source, entity, local_id) DO UPDATE SET base_ref = excluded.base_ref, "
            "state = excluded.state, why = excluded.why, generation = excluded.generation, "
            "parts = excluded.parts, reasons = excluded.reasons, warnings = excluded.warnings, "
            "source_row = excluded.source_row, not_before = excluded.not_before, "
            "modified = excluded.modified, last_seen = excluded.last_seen",
            (*key, base_ref, state, status, why, generation, _list(parts), _list(reasons),
             _list(warnings), source_text(source_row), not_before, modified, now, now))

    def set_status(self, key: RowKey, status: str) -> None:
        self.conn.execute("UPDATE rows SET status = ? WHERE source = ? AND entity = ? "
                          "AND local_id = ?", (status, *key))

    def dropped_source_row(self, key: RowKey) -> str | None:
        """The stored source row of a row an admin dropped, else None."""
        found = self.conn.execute(
            "SELECT source_row FROM rows WHERE source = ? AND entity = ? AND local_id = ? "
            "AND state = 'skipped' AND why = 'dropped'", key).fetchone()
        return str(found[0]) if found else None

    def settled_source_rows(self, source: str, entity: str,
                            local_ids: Sequence[str]) -> dict[str, str]:
        """local_id → stored source row (as stored) of rows whose mapping does not
        depend on the clock: skipped, or mapped without warnings (a quarantine or a
        warning may be "in the future" today and fine tomorrow; deferred rows wait for
        their time)."""
        out: dict[str, str] = {}
        rows = self._rows_in(
            "SELECT local_id, source_row FROM rows WHERE source = ? AND entity = ? "
            "AND local_id IN ({in}) "
            "AND (state = 'skipped' OR (state = 'mapped' AND warnings = '[]'))",
            local_ids, (source, entity))
        out.update({str(i): str(r) for i, r in rows if r is not None})
        return out

    def bases_in_ledger(self, base_refs: Collection[str]) -> set[str]:
        return self._bases_in("ledger", base_refs)

    def parent_states(self, refs: Collection[str]) -> dict[str, tuple[bool, bool]]:
        """ref → (available: the platform holds it, pending: an upsert of it is in the
        outbox), for many refs at once."""
        pending = self._column_in(
            "SELECT ref FROM outbox WHERE op = 'upsert' AND ref IN ({in})", refs)
        available = self._column_in(
            "SELECT ref FROM ledger WHERE ref IN ({in}) AND national_id IS NOT NULL "
            "AND status IN ('synced', 'alias')", refs)
        return {r: (r in available, r in pending) for r in refs}

    def refs_in_open_batches(self, refs: Collection[str]) -> set[str]:
        return self._column_in("SELECT ref FROM outbox WHERE batch_id > 0 AND ref IN ({in})",
                               refs)

    def bases_revoking(self, base_refs: Collection[str]) -> set[str]:
        return self._column_in(
            "SELECT base_ref FROM outbox WHERE op = 'revoke' AND base_ref IN ({in})", base_refs)

    def deferred_due(self, source: str, now: str, limit: int = 10_000) -> list[RowKey]:
        cur = self.conn.execute(
            "SELECT source, entity, local_id FROM rows WHERE state = 'deferred' "
            "AND not_before IS NOT NULL AND not_before <= ? AND source = ? LIMIT ?",
            (now, source, limit))
        return [(a, b, c) for a, b, c in cur]

    def row_keys_by_base(self, base_ref: str) -> RowKey | None:
        found = self.conn.execute("SELECT source, entity, local_id FROM rows "
                                  "WHERE base_ref = ?", (base_ref,)).fetchone()
        return (found[0], found[1], found[2]) if found else None

    def row_known(self, base_ref: str) -> bool:
        return self.conn.execute("SELECT 1 FROM rows WHERE base_ref = ?",
                                 (base_ref,)).fetchone() is not None

    # ledger --------------------------------------------------------------------
    def ledger(self, ref: str) -> LedgerEntry | None:
        found = self.conn.execute("SELECT ref, national_id, hash, status, payload FROM ledger "
                                  "WHERE ref = ?", (ref,)).fetchone()
        if not found:
            return None
        return LedgerEntry(found[0], found[1], found[2], found[3],
                           json.loads(found[4]) if found[4] else None)

    def ledger_for_base(self, base_ref: str) -> list[LedgerEntry]:
        cur = self.conn.execute("SELECT ref, national_id, hash, status, payload FROM ledger "
                                "WHERE base_ref = ? ORDER BY ref", (base_ref,))
        return [LedgerEntry(r, n, h, s, json.loads(p) if p else None) for r, n, h, s, p in cur]

    def available(self, ref: str) -> bool:
        """The platform holds this ref (owner or alias) with a national id."""
        return self.conn.execute(
            "SELECT 1 FROM ledger WHERE ref = ? AND national_id IS NOT NULL "
            "AND status IN ('synced', 'alias')", (ref,)).fetchone() is not None

    def put_ledger(self, item: OutboxItem, *, national_id: str | None, status: str) -> None:
        self.put_ledger_many([(item, national_id, status)])

    def put_ledger_many(self, acks: Sequence[tuple[OutboxItem, str | None, str]]) -> None:
        """put_ledger for many (item, national_id, status) at once."""
        now = db.utcnow()
        self.conn.executemany(
            "INSERT INTO ledger (ref, base_ref, source, entity, local_id, national_id, hash, "
            "payload, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (ref) DO UPDATE SET national_id = COALESCE(excluded.national_id, "
            "ledger.national_id), hash = COALESCE(excluded.hash, ledger.hash), "
            "payload = COALESCE(excluded.payload, ledger.payload), status = excluded.status, "
            "updated_at = excluded.updated_at",
            [(i.ref, i.base_ref, i.source, i.entity, i.local_id, nid,
              i.hash if status in ("synced", "alias") else None,
              i.text if status in ("synced", "alias") else None, status,
              now)
             for i, nid, status in acks])

    def alias_refs(self, refs: Sequence[str]) -> set[str]:
        return self._column_in("SELECT ref FROM ledger WHERE status = 'alias' AND ref IN ({in})",
                               refs)

    def live_refs(self, base_ref: str) -> list[str]:
        """Refs of this base the platform holds live, or that are on their way there."""
        cur = self.conn.execute(
            "SELECT ref FROM ledger WHERE base_ref = ? AND status IN ('synced', 'alias') "
            "UNION SELECT ref FROM outbox WHERE base_ref = ? AND op = 'upsert'",
            (base_ref, base_ref))
        return sorted(r for (r,) in cur)

    def revoked_refs(self, refs: Sequence[str]) -> set[str]:
        marks = ",".join("?" * len(refs))
        cur = self.conn.execute(
            f"SELECT ref FROM ledger WHERE status = 'revoked' AND ref IN ({marks}) "
            f"UNION SELECT ref FROM outbox WHERE op = 'revoke' AND ref IN ({marks})",
            (*refs, *refs))
        return {r for (r,) in cur}

    def live_count(self, entity: str) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM ledger WHERE entity = ? AND status IN "
                                "('synced', 'alias')", (entity,)).fetchone()
        return int(row[0])

    # outbox --------------------------------------------------------------------
    def pending_upsert(self, ref: str) -> bool:
        return self.conn.execute("SELECT 1 FROM outbox WHERE ref = ? AND op = 'upsert'",
                                 (ref,)).fetchone() is not None

    def enqueue(self, ref: str, base_ref: str, key: RowKey, op: str,
                payload: dict[str, Any], digest: str, *, force: bool = False,
                text: str | None = None) -> None:
        """Add or replace the unsent outbox row of this ref (`text`: dumps(payload),
        when the caller has it already)."""
        self.conn.execute(
            "INSERT INTO outbox (ref, base_ref, source, entity, local_id, op, payload, hash, "
            "force, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (ref) WHERE batch_id IS NULL DO UPDATE SET op = excluded.op, "
            "payload = excluded.payload, hash = excluded.hash, "
            "force = MAX(outbox.force, excluded.force), "
            "ref_misses = CASE WHEN outbox.hash = excluded.hash THEN outbox.ref_misses "
            "ELSE 0 END",
            (ref, base_ref, *key, op, text or dumps(payload), digest, int(force), db.utcnow()))

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

    # batches -------------------------------------------------------------------
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

    # dead letters ---------------------------------------------------------------
    def add_dead(self, item: OutboxItem, errors: list[dict[str, str]]) -> None:
        now = db.utcnow()
        self.conn.execute(
            "INSERT INTO dead_letters (ref, base_ref, source, entity, local_id, op, hash, "
            "payload, errors, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (ref) DO UPDATE SET op = excluded.op, hash = excluded.hash, "
            "payload = excluded.payload, errors = excluded.errors, "
            "last_seen = excluded.last_seen, times = dead_letters.times + 1",
            (item.ref, item.base_ref, item.source, item.entity, item.local_id, item.op,
             item.hash, item.text, dumps(errors), now, now))

    def dead_hash(self, ref: str) -> str | None:
        row = self.conn.execute("SELECT hash FROM dead_letters WHERE ref = ?", (ref,)).fetchone()
        return str(row[0]) if row else None

    def clear_dead(self, ref: str) -> None:
        self.conn.execute("DELETE FROM dead_letters WHERE ref = ?", (ref,))

    def clear_dead_of_base(self, base_ref: str, keep: set[str] | None = None) -> None:
        """Forget dead letters of refs this base no longer produces (all, without keep)."""
        for ref in [r for (r,) in self.conn.execute(
                "SELECT ref FROM dead_letters WHERE base_ref = ?", (base_ref,))]:
            if keep is None or ref not in keep:
                self.clear_dead(ref)

    def clear_dead_many(self, refs: Sequence[str]) -> None:
        for chunk in _chunks(list(refs)):
            self.conn.execute(f"DELETE FROM dead_letters WHERE ref IN ({_marks(chunk)})", chunk)

    # look-ups of many keys: `{in}` in the SQL stands for a chunk of them -----------------
    def _rows_in(self, sql: str, values: Collection[Any],
                 before: Sequence[Any] = ()) -> Iterator[Any]:
        """The rows of `sql` run once per chunk of `values` (SQLite caps the parameters
        of one statement); `before` are the parameters ahead of the chunk."""
        for chunk in _chunks(list(values)):
            yield from self.conn.execute(sql.format(**{"in": _marks(chunk)}),
                                         (*before, *chunk))

    def _column_in(self, sql: str, values: Collection[Any]) -> set[Any]:
        return {value for (value,) in self._rows_in(sql, values)}

    def _bases_in(self, table: str, base_refs: Collection[str]) -> set[str]:
        return self._column_in(f"SELECT DISTINCT base_ref FROM {table} WHERE base_ref IN ({{in}})",
                               base_refs)

    def bases_in_outbox(self, base_refs: Collection[str]) -> set[str]:
        """Bases with some ref unsent or in an unacknowledged batch."""
        return self._bases_in("outbox", base_refs)

    def bases_with_dead(self, base_refs: Collection[str]) -> set[str]:
        return self._bases_in("dead_letters", base_refs)

    def row_brief(self, keys: Collection[RowKey]) -> dict[RowKey, tuple[str, str]]:
        """key → (state, base_ref), for many rows (one query per source and entity)."""
        out: dict[RowKey, tuple[str, str]] = {}
        for (source, entity), ids in _by_kind(keys).items():
            rows = self._rows_in("SELECT local_id, state, base_ref FROM rows WHERE source = ? "
                                 "AND entity = ? AND local_id IN ({in})", ids, (source, entity))
            out.update(((source, entity, str(i)), (st, b)) for i, st, b in rows)
        return out

    def blocked_keys(self, keys: Collection[RowKey]) -> set[RowKey]:
        out: set[RowKey] = set()
        for (source, entity), ids in _by_kind(keys).items():
            rows = self._rows_in("SELECT DISTINCT local_id FROM waits WHERE source = ? AND "
                                 "entity = ? AND required = 1 AND local_id IN ({in})", ids,
                                 (source, entity))
            out.update((source, entity, str(i)) for (i,) in rows)
        return out

    def waiting_on_many(self, parent_refs: Sequence[str]) -> list[RowKey]:
        return [(a, b, c) for a, b, c in self._rows_in(
            "SELECT DISTINCT source, entity, local_id FROM waits WHERE parent_ref IN ({in})",
            parent_refs)]

    def set_status_many(self, statuses: Sequence[tuple[RowKey, str]]) -> None:
        self.conn.executemany("UPDATE rows SET status = ? WHERE source = ? AND entity = ? "
                              "AND local_id = ?", [(st, *k) for k, st in statuses])

    def has_dead(self, base_ref: str) -> bool:
        return self.conn.execute("SELECT 1 FROM dead_letters WHERE base_ref = ?",
                                 (base_ref,)).fetchone() is not None

    # waits ----------------------------------------------------------------------
    def set_waits(self, key: RowKey, waits: Iterable[tuple[str, bool]]) -> None:
        self.conn.execute("DELETE FROM waits WHERE source = ? AND entity = ? AND local_id = ?",
                          key)
        self.conn.executemany(
            "INSERT OR REPLACE INTO waits (source, entity, local_id, parent_ref, required) "
            "VALUES (?, ?, ?, ?, ?)", [(*key, parent, int(req)) for parent, req in waits])

    def add_wait(self, key: RowKey, parent: str, required: bool) -> None:
        self.conn.execute("INSERT OR REPLACE INTO waits (source, entity, local_id, parent_ref, "
                          "required) VALUES (?, ?, ?, ?, ?)", (*key, parent, int(required)))

    def blocked(self, key: RowKey) -> bool:
        return self.conn.execute("SELECT 1 FROM waits WHERE source = ? AND entity = ? "
                                 "AND local_id = ? AND required = 1", key).fetchone() is not None

    # runs -----------------------------------------------------------------------
    def start_run(self, kind: str, sources: Sequence[str]) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO runs (kind, sources, pid, started_at, status) "
                "VALUES (?, ?, ?, ?, 'running')", (kind, dumps(list(sources)), os.getpid(),
                                                   db.utcnow()))
        self.run_id = int(cur.lastrowid or 0)
        return self.run_id

    def finish_run(self, run_id: int, status: str, stats: dict[str, Any],
                   error: str | None = None) -> None:
        with self.transaction():
            self.conn.execute("UPDATE runs SET finished_at = ?, status = ?, stats = ?, "
                              "error = ? WHERE id = ?",
                              (db.utcnow(), status, dumps(stats), error, run_id))

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT id, kind, sources, pid, started_at, finished_at, status, "
                                "stats, error FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        cols = ("id", "kind", "sources", "pid", "started_at", "finished_at", "status", "stats",
                "error")
        out = []
        for r in cur:
            d = dict(zip(cols, r, strict=True))
            d["sources"] = json.loads(d["sources"])
            d["stats"] = json.loads(d["stats"]) if d["stats"] else None
            out.append(d)
        return out

    def daemon(self) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT pid, started_at, heartbeat_at, stopped_at, jobs "
                                "FROM daemon WHERE id = 1").fetchone()
        if row is None:
            return None
        return {"pid": row[0], "started_at": row[1], "heartbeat_at": row[2],
                "stopped_at": row[3], "jobs": json.loads(row[4])}

    # status -----------------------------------------------------------------------
    def status_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        cur = self.conn.execute("SELECT source, entity, status, COUNT(*) FROM rows "
                                "GROUP BY source, entity, status")
        for source, entity, status, n in cur:
            out.setdefault(source, {}).setdefault(entity, {})[status] = int(n)
        return out


_OUTBOX_COLUMNS = ("id, ref, base_ref, source, entity, local_id, op, payload, hash, ref_misses, "
                   "batch_id")  # in OutboxItem's order (_outbox)


def _outbox(r: Sequence[Any]) -> OutboxItem:
    return OutboxItem(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], int(r[9]),
                      r[10])


def _by_kind(keys: Iterable[RowKey]) -> dict[tuple[str, str], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for source, entity, local_id in keys:
        groups.setdefault((source, entity), []).append(local_id)
    return groups


def _list(values: Sequence[Any]) -> str:
    return dumps(list(values)) if values else "[]"


def _chunks(items: list[str], size: int = 400) -> Iterator[list[str]]:
    for at in range(0, len(items), size):
        yield items[at:at + size]


def _marks(chunk: Sequence[Any]) -> str:
    return ",".join("?" * len(chunk))
