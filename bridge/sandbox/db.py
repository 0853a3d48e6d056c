"""The sandbox's own SQLite file: records, refs, memberships, the idempotency store and
recent nonces. A sandbox restarted on the same file keeps everything."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
  national_id TEXT PRIMARY KEY, entity TEXT NOT NULL, data TEXT NOT NULL,
  version INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, revoke_reason TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  identity TEXT, volunteer_id TEXT, start_at TEXT, end_at TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS records_identity ON records(identity)
  WHERE identity IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_span ON records(volunteer_id, start_at)
  WHERE volunteer_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_updated ON records(entity, updated_at, national_id);
CREATE TABLE IF NOT EXISTS refs (
  app_id TEXT NOT NULL, entity TEXT NOT NULL, ref TEXT NOT NULL,
  national_id TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (app_id, entity, ref));
CREATE INDEX IF NOT EXISTS refs_national ON refs(national_id);
CREATE TABLE IF NOT EXISTS memberships (
  app_id TEXT NOT NULL, ref TEXT NOT NULL, national_id TEXT NOT NULL, org_id TEXT NOT NULL,
  PRIMARY KEY (app_id, ref, org_id));
CREATE INDEX IF NOT EXISTS memberships_national ON memberships(national_id);
CREATE TABLE IF NOT EXISTS idempotency (
  app_id TEXT NOT NULL, key TEXT NOT NULL, body_sha256 TEXT NOT NULL,
  status INTEGER NOT NULL, response BLOB NOT NULL, stored_at REAL NOT NULL,
  PRIMARY KEY (app_id, key));
CREATE TABLE IF NOT EXISTS nonces (
  app_id TEXT NOT NULL, nonce TEXT NOT NULL, seen REAL NOT NULL,
  PRIMARY KEY (app_id, nonce));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


_TABLES = ("records", "refs", "memberships", "idempotency", "nonces", "counters")


@dataclass(frozen=True)
class Row:
    national_id: str
    entity: str
    data: dict[str, Any]
    version: int
    revoked: bool
    revoke_reason: str | None
    updated_at: str
    identity: str | None


@dataclass(frozen=True)
class Stored:
    body_sha256: str
    status: int
    response: bytes


_ROW = ("SELECT national_id, entity, data, version, revoked, revoke_reason, updated_at, "
        "identity FROM records")


def _row(r: tuple[Any, ...]) -> Row:
    return Row(r[0], r[1], json.loads(r[2]), r[3], bool(r[4]), r[5], r[6], r[7])


def private_file(path: Path) -> None:
    """Create the file 0600 if it is missing, or make it 0600."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    path.chmod(0o600)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        private_file(path)  # before SQLite opens it: its -wal and -shm take its mode
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.executescript(SCHEMA)
        path.chmod(0o600)

    def close(self) -> None:
        self.conn.close()

    def clear(self) -> None:
        """Empty every table in one transaction: records, refs, memberships, idempotency
        keys, nonces and the national-id counters, as in a new file."""
        with self.transaction():
            for table in _TABLES:
                self.conn.execute(f"DELETE FROM {table}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> Any:
        found = self.conn.execute(sql, args).fetchone()
        return None if found is None else found[0]

    # records ----------------------------------------------------------------------
    def next_value(self, name: str) -> int:
        self.conn.execute("INSERT INTO counters VALUES (?, 1) ON CONFLICT(name) "
                          "DO UPDATE SET value = value + 1", (name,))
        return int(self._one("SELECT value FROM counters WHERE name = ?", name))

    def record(self, national_id: str) -> Row | None:
        found = self.conn.execute(_ROW + " WHERE national_id = ?", (national_id,)).fetchone()
        return None if found is None else _row(found)

    def exists(self, entity: str, national_id: str) -> bool:
        return self._one("SELECT 1 FROM records WHERE national_id = ? AND entity = ?",
                         national_id, entity) is not None

    def by_identity(self, identity: str) -> str | None:
        found = self._one("SELECT national_id FROM records WHERE identity = ?", identity)
        return None if found is None else str(found)

    def insert(self, row: Row, *, volunteer_id: str | None = None,
               span: tuple[str, str] | None = None) -> None:
        start, end = span or (None, None)
        self.conn.execute(
            "INSERT INTO records (national_id, entity, data, version, created_at, updated_at, "
            "identity, volunteer_id, start_at, end_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.national_id, row.entity, _dump(row.data), row.version, row.updated_at,
             row.updated_at, row.identity, volunteer_id, start, end))

    def update(self, national_id: str, data: dict[str, Any], updated_at: str, *,
               volunteer_id: str | None = None, span: tuple[str, str] | None = None) -> None:
        start, end = span or (None, None)
        self.conn.execute(
            "UPDATE records SET data = ?, version = version + 1, updated_at = ?, "
            "volunteer_id = ?, start_at = ?, end_at = ? WHERE national_id = ?",
            (_dump(data), updated_at, volunteer_id, start, end, national_id))

    def touch(self, national_id: str, updated_at: str) -> None:
        self.conn.execute("UPDATE records SET version = version + 1, updated_at = ? "
                          "WHERE national_id = ?", (updated_at, national_id))

    def revoke(self, national_id: str, reason: str, updated_at: str) -> None:
        self.conn.execute("UPDATE records SET revoked = 1, revoke_reason = ?, "
                          "version = version + 1, updated_at = ? WHERE national_id = ?",
                          (reason, updated_at, national_id))

    def span(self, national_id: str) -> tuple[str, str] | None:
        found = self.conn.execute("SELECT start_at, end_at FROM records WHERE national_id = ?",
                                  (national_id,)).fetchone()
        return None if found is None or found[0] is None else (found[0], found[1])

    def overlaps(self, volunteer_id: str, start: str, end: str, exclude: str | None) -> bool:
        return self._one(
            "SELECT 1 FROM records WHERE volunteer_id = ? AND revoked = 0 AND start_at < ? "
            "AND end_at > ? AND national_id != ? LIMIT 1",
            volunteer_id, end, start, exclude or "") is not None

    def live_hours(self, volunteer_id: str) -> list[str]:
        rows = self.conn.execute("SELECT data FROM records WHERE volunteer_id = ? AND "
                                 "revoked = 0", (volunteer_id,)).fetchall()
        return [json.loads(r[0])["hours"] for r in rows]

    # refs and memberships -------------------------------------------------------------
    def ref(self, app_id: str, entity: str, ref: str) -> tuple[str, str] | None:
        found = self.conn.execute("SELECT national_id, role FROM refs WHERE app_id = ? AND "
                                  "entity = ? AND ref = ?", (app_id, entity, ref)).fetchone()
        return None if found is None else (found[0], found[1])

    def add_ref(self, app_id: str, entity: str, ref: str, national_id: str, role: str) -> None:
        self.conn.execute("INSERT INTO refs VALUES (?, ?, ?, ?, ?)",
                          (app_id, entity, ref, national_id, role))

    def refs_of(self, national_id: str) -> list[tuple[str, str, str]]:
        """(app_id, ref, role) of a record, the owner first, then aliases as they came."""
        return [(r[0], r[1], r[2]) for r in self.conn.execute(
            "SELECT app_id, ref, role FROM refs WHERE national_id = ? "
            "ORDER BY role != 'owner', rowid", (national_id,))]

    def memberships(self, app_id: str, ref: str) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT org_id FROM memberships WHERE app_id = ? AND ref = ? ORDER BY org_id",
            (app_id, ref))]

    def set_memberships(self, app_id: str, ref: str, national_id: str,
                        orgs: list[str]) -> None:
        self.conn.execute("DELETE FROM memberships WHERE app_id = ? AND ref = ?", (app_id, ref))
        self.conn.executemany("INSERT INTO memberships VALUES (?, ?, ?, ?)",
                              [(app_id, ref, national_id, org) for org in orgs])

    def union_memberships(self, national_id: str) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT org_id FROM memberships WHERE national_id = ? ORDER BY org_id",
            (national_id,))]

    # reads ------------------------------------------------------------------------------
    def page(self, entity: str, app_id: str, since: str, after: tuple[str, str] | None,
             limit: int) -> list[Row]:
        last = after or ("", "")
        rows = self.conn.execute(
            _ROW + " WHERE entity = ? AND updated_at >= ? AND (updated_at, national_id) > "
            "(?, ?) AND EXISTS (SELECT 1 FROM refs f WHERE f.national_id = records.national_id "
            "AND f.app_id = ?) ORDER BY updated_at, national_id LIMIT ?",
            (entity, since, last[0], last[1], app_id, limit)).fetchall()
        return [_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """How many records of each entity the platform holds (revoked ones included)."""
        rows = self.conn.execute("SELECT entity, COUNT(*) FROM records GROUP BY entity")
        return {str(entity): int(n) for entity, n in rows}

    def all_of(self, entity: str) -> list[Row]:
        rows = self.conn.execute(_ROW + " WHERE entity = ? ORDER BY national_id", (entity,))
        return [_row(r) for r in rows]

    # idempotency and nonces ----------------------------------------------------------
    def stored(self, app_id: str, key: str) -> Stored | None:
        found = self.conn.execute("SELECT body_sha256, status, response FROM idempotency "
                                  "WHERE app_id = ? AND key = ?", (app_id, key)).fetchone()
        return None if found is None else Stored(found[0], found[1], bytes(found[2]))

    def store(self, app_id: str, key: str, stored: Stored, now: float) -> None:
        self.conn.execute("INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
                          (app_id, key, stored.body_sha256, stored.status, stored.response, now))

    def add_nonce(self, app_id: str, nonce: str, seen: float) -> None:
        self.conn.execute("INSERT OR REPLACE INTO nonces VALUES (?, ?, ?)",
                          (app_id, nonce, seen))

    def recent_nonces(self, since: float) -> list[tuple[str, str, float]]:
        self.conn.execute("DELETE FROM nonces WHERE seen < ?", (since,))
        return [(r[0], r[1], r[2]) for r in self.conn.execute(
            "SELECT app_id, nonce, seen FROM nonces ORDER BY seen")]


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
