"""Queries and small writes the admin commands need (`zybridge quarantine …`,
`dead-letters …`, `resync --with-children`), on top of a StateStore.

Read-only methods never open a transaction; `mark_dropped` must be called inside one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from state.store import RowKey, StateStore

# the payload field of a child that names its parent, per (parent, child) entity
CHILD_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "organization": (("project", "organization_external_ref"),),
    "volunteer": (("service_record", "volunteer_external_ref"),),
    "project": (("service_record", "project_external_ref"),),
}
DROPPED = "dropped"


@dataclass(frozen=True)
class Problem:
    """One quarantined row or one dead letter, as `list` shows it."""

    external_ref: str
    source: str
    entity: str
    local_id: str
    reasons: list[dict[str, str]]
    first_seen: str
    last_seen: str
    status: str
    times: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"external_ref": self.external_ref, "source": self.source,
                "entity": self.entity, "local_id": self.local_id, "reasons": self.reasons,
                "first_seen": self.first_seen, "last_seen": self.last_seen,
                "status": self.status, "times": self.times}


@dataclass(frozen=True)
class RowDetail:
    """Everything the state file holds about one source row (unmasked: mask to show)."""

    key: RowKey
    base_ref: str
    state: str
    status: str
    why: str | None
    generation: int
    parts: list[tuple[str, dict[str, Any]]]
    reasons: list[dict[str, str]]
    warnings: list[dict[str, str]]
    source_row: Any
    modified: str | None
    first_seen: str
    last_seen: str


def _reasons(errors: Any) -> list[dict[str, str]]:
    return [{"field": str(e.get("field") or ""), "code": str(e.get("code") or ""),
             "message": str(e.get("message") or "")} for e in errors or []
            if isinstance(e, dict)]


def _where(source: str | None, entity: str | None, prefix: str = "") -> tuple[str, list[str]]:
    clauses, params = [], []
    for column, value in (("source", source), ("entity", entity)):
        if value is not None:
            clauses.append(f"{prefix}{column} = ?")
            params.append(value)
    return (" AND ".join(clauses) or "1"), params


class AdminQueries:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.conn: sqlite3.Connection = store.conn

    # listing ----------------------------------------------------------------------------
    def quarantined(self, source: str | None = None,
                    entity: str | None = None) -> list[Problem]:
        where, params = _where(source, entity)
        cur = self.conn.execute(
            "SELECT base_ref, source, entity, local_id, reasons, first_seen, last_seen, status "
            f"FROM rows WHERE state = 'quarantined' AND {where} "
            "ORDER BY source, entity, CAST(local_id AS INTEGER), local_id", params)
        return [Problem(r[0], r[1], r[2], r[3], _reasons(json.loads(r[4] or "[]")), r[5], r[6],
                        r[7]) for r in cur]

    def dead_letters(self, source: str | None = None,
                     entity: str | None = None) -> list[Problem]:
        where, params = _where(source, entity, "d.")
        cur = self.conn.execute(
            "SELECT d.ref, d.source, d.entity, d.local_id, d.errors, d.first_seen, "
            "d.last_seen, COALESCE(r.status, 'dead_lettered'), d.times FROM dead_letters d "
            "LEFT JOIN rows r ON r.source = d.source AND r.entity = d.entity "
            f"AND r.local_id = d.local_id WHERE {where} "
            "ORDER BY d.source, d.entity, CAST(d.local_id AS INTEGER), d.ref", params)
        return [Problem(r[0], r[1], r[2], r[3], _reasons(json.loads(r[4] or "[]")), r[5], r[6],
                        r[7], int(r[8])) for r in cur]

    def dead_letter(self, ref: str) -> dict[str, Any] | None:
        found = self.conn.execute(
            "SELECT ref, base_ref, source, entity, local_id, op, hash, payload, errors, "
            "first_seen, last_seen, times FROM dead_letters WHERE ref = ?", (ref,)).fetchone()
        if found is None:
            return None
        cols = ("ref", "base_ref", "source", "entity", "local_id", "op", "hash", "payload",
                "errors", "first_seen", "last_seen", "times")
        out = dict(zip(cols, found, strict=True))
        out["payload"] = json.loads(out["payload"])
        out["errors"] = _reasons(json.loads(out["errors"]))
        return out

    def dead_refs_of(self, key: RowKey) -> list[str]:
        cur = self.conn.execute("SELECT ref FROM dead_letters WHERE source = ? AND entity = ? "
                                "AND local_id = ? ORDER BY ref", key)
        return [r for (r,) in cur]

    # one row ----------------------------------------------------------------------------
    def resolve(self, ref: str) -> RowKey | None:
        """The source row an external_ref (base or derived: .g2, .d1) belongs to."""
        found = self.conn.execute("SELECT source, entity, local_id FROM dead_letters "
                                  "WHERE ref = ?", (ref,)).fetchone()
        if found is None:
            found = self.conn.execute("SELECT source, entity, local_id FROM rows "
                                      "WHERE base_ref = ?", (ref.split(".")[0],)).fetchone()
        return (found[0], found[1], found[2]) if found else None

    def detail(self, key: RowKey) -> RowDetail | None:
        found = self.conn.execute(
            "SELECT base_ref, state, status, why, generation, parts, reasons, warnings, "
            "source_row, modified, first_seen, last_seen FROM rows "
            "WHERE source = ? AND entity = ? AND local_id = ?", key).fetchone()
        if found is None:
            return None
        parts = [(str(s), dict(p)) for s, p in json.loads(found[5] or "[]")]
        return RowDetail(key, found[0], found[1], found[2], found[3], int(found[4]), parts,
                         _reasons(json.loads(found[6] or "[]")),
                         _reasons(json.loads(found[7] or "[]")),
                         json.loads(found[8]) if found[8] else None, found[9], found[10],
                         found[11])

    # cascades and estimates -------------------------------------------------------------
    def children(self, keys: Iterable[RowKey]) -> list[RowKey]:
        """Rows that name one of these rows as their parent (transitively): a project's
        service records, an organization's projects and their records, a volunteer's
        records; as far as the state file knows them (their last mapping, or a wait)."""
        seen: set[RowKey] = set(keys)
        todo = list(seen)
        out: list[RowKey] = []
        while todo:
            source, entity, local_id = todo.pop()
            parent = self.conn.execute("SELECT base_ref FROM rows WHERE source = ? AND "
                                       "entity = ? AND local_id = ?",
                                       (source, entity, local_id)).fetchone()
            if parent is None:
                continue
            for child_entity, field in CHILD_FIELDS.get(entity, ()):
                for key in self._naming(child_entity, field, parent[0]):
                    if key not in seen:
                        seen.add(key)
                        out.append(key)
                        todo.append(key)
        return out

    def _naming(self, entity: str, field: str, ref: str) -> list[RowKey]:
        needle = json.dumps({field: ref}, ensure_ascii=False, separators=(",", ":"))[1:-1]
        cur = self.conn.execute(
            "SELECT source, entity, local_id FROM rows WHERE entity = ? AND instr(parts, ?) > 0 "
            "UNION SELECT source, entity, local_id FROM waits WHERE entity = ? "
            "AND parent_ref = ?", (entity, needle, entity, ref))
        return sorted(((a, b, c) for a, b, c in cur), key=lambda k: (k[0], k[1], _num(k[2])))

    def row_count(self, source: str, entities: Sequence[str],
                  since_modified: str | None = None) -> int:
        marks = ",".join("?" * len(entities))
        sql = f"SELECT COUNT(*) FROM rows WHERE source = ? AND entity IN ({marks})"
        params: list[Any] = [source, *entities]
        if since_modified is not None:
            sql += " AND modified >= ?"
            params.append(since_modified)
        return int(self.conn.execute(sql, params).fetchone()[0])

    def live_rows(self, source: str, entity: str) -> int:
        """Source rows of which the platform holds a live record (the safety baseline)."""
        row = self.conn.execute("SELECT COUNT(DISTINCT base_ref) FROM ledger WHERE source = ? "
                                "AND entity = ? AND status IN ('synced', 'alias')",
                                (source, entity)).fetchone()
        return int(row[0])

    # writes (inside the caller's transaction) -------------------------------------------
    def mark_dropped(self, key: RowKey) -> list[str]:
        """An admin gave up on this row's current version: its dead letters and unsent
        upserts go, and it counts as skipped (why: dropped) until the source changes it.
        What the platform already holds is left as it is. Returns the dead refs removed."""
        dead = self.dead_refs_of(key)
        self.conn.execute("DELETE FROM dead_letters WHERE source = ? AND entity = ? "
                          "AND local_id = ?", key)
        self.conn.execute("DELETE FROM outbox WHERE source = ? AND entity = ? AND local_id = ? "
                          "AND batch_id IS NULL AND op = 'upsert'", key)
        self.conn.execute("DELETE FROM waits WHERE source = ? AND entity = ? AND local_id = ?",
                          key)
        self.conn.execute("UPDATE rows SET state = 'skipped', status = 'skipped', why = ? "
                          "WHERE source = ? AND entity = ? AND local_id = ?", (DROPPED, *key))
        return dead


def _num(local_id: str) -> tuple[int, str]:
    return (int(local_id), "") if local_id.isdecimal() else (0, local_id)
