"""Cursors, source rows (their state, status, parts and reasons) and the waits of rows on
their parents."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from adapters.base import Cursor
from state import db
from state.base import Queries, RowKey, _by_kind, _list, dumps


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


class NewRow(NamedTuple):
    """A mapped row the state file has never seen, as `put_rows_new` writes it."""

    key: RowKey
    base_ref: str
    status: str
    parts: list[tuple[str, dict[str, Any]]]
    warnings: list[Any]
    source_row: Any
    modified: str | None


_SOURCE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                           default=str)


class SourceText(str):
    """A source row already serialized the way the state file stores it (dumps with
    `default=str`): stored and compared as is, never serialized twice."""

    @classmethod
    def of(cls, data: Any) -> SourceText:
        return cls(_SOURCE.encode(data))


def source_text(source_row: Any) -> str:
    return source_row if isinstance(source_row, SourceText) else dumps(source_row)



_PUT_ROW = (
    "INSERT INTO rows (source, entity, local_id, base_ref, state, status, why, "
    "generation, parts, reasons, warnings, source_row, not_before, modified, "
    "first_seen, last_seen) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (source, entity, local_id) DO UPDATE SET base_ref = excluded.base_ref, "
    "state = excluded.state, why = excluded.why, generation = excluded.generation, "
    "parts = excluded.parts, reasons = excluded.reasons, warnings = excluded.warnings, "
    "source_row = excluded.source_row, not_before = excluded.not_before, "
    "modified = excluded.modified, last_seen = excluded.last_seen")


class RowQueries(Queries):
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
        self.conn.execute(_PUT_ROW, (*key, base_ref, state, status, why, generation,
                                     _list(parts), _list(reasons), _list(warnings),
                                     source_text(source_row), not_before, modified, now, now))

    def put_rows_new(self, rows: Sequence[NewRow]) -> None:
        """put_row(state="mapped", generation=1) for many rows at once."""
        now = db.utcnow()
        self.conn.executemany(_PUT_ROW, [
            (*r.key, r.base_ref, "mapped", r.status, None, 1, _list(r.parts), "[]",
             _list(r.warnings), source_text(r.source_row), None, r.modified, now, now)
            for r in rows])

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

    def deferred_due(self, source: str, now: str, limit: int = 10_000) -> list[RowKey]:
        cur = self.conn.execute(
            "SELECT source, entity, local_id FROM rows WHERE state = 'deferred' "
            "AND not_before IS NOT NULL AND not_before <= ? AND source = ? LIMIT ?",
            (now, source, limit))
        return [(a, b, c) for a, b, c in cur]

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

    def set_waits(self, key: RowKey, waits: Iterable[tuple[str, bool]]) -> None:
        self.conn.execute("DELETE FROM waits WHERE source = ? AND entity = ? AND local_id = ?",
                          key)
        self.conn.executemany(
            "INSERT OR REPLACE INTO waits (source, entity, local_id, parent_ref, required) "
            "VALUES (?, ?, ?, ?, ?)", [(*key, parent, int(req)) for parent, req in waits])

    def add_waits(self, waits: Sequence[tuple[RowKey, str, bool]]) -> None:
        """add_wait for many (key, parent, required) at once."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO waits (source, entity, local_id, parent_ref, required) "
            "VALUES (?, ?, ?, ?, ?)", [(*k, parent, int(req)) for k, parent, req in waits])

    def add_wait(self, key: RowKey, parent: str, required: bool) -> None:
        self.add_waits([(key, parent, required)])

    def blocked(self, key: RowKey) -> bool:
        return self.conn.execute("SELECT 1 FROM waits WHERE source = ? AND entity = ? "
                                 "AND local_id = ? AND required = 1", key).fetchone() is not None

    def status_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        cur = self.conn.execute("SELECT source, entity, status, COUNT(*) FROM rows "
                                "GROUP BY source, entity, status")
        for source, entity, status, n in cur:
            out.setdefault(source, {}).setdefault(entity, {})[status] = int(n)
        return out
