"""Schema migrations, recorded in the state file itself (table `migrations`)."""

from __future__ import annotations

import sqlite3

from bridge.errors import StateError

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
CREATE TABLE cursors (
  source TEXT NOT NULL, stream TEXT NOT NULL, cursor TEXT NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (source, stream));
CREATE TABLE rows (
  source TEXT NOT NULL, entity TEXT NOT NULL, local_id TEXT NOT NULL,
  base_ref TEXT NOT NULL,
  state TEXT NOT NULL,            -- mapped | quarantined | skipped | deferred
  status TEXT NOT NULL,           -- the invariant-1 status, kept current by the engine
  why TEXT,
  generation INTEGER NOT NULL DEFAULT 1,
  parts TEXT,                     -- JSON [[suffix, payload]] of the last mapping
  reasons TEXT,                   -- JSON [{field, code, message}]
  warnings TEXT,
  source_row TEXT,                -- JSON of the raw row (state file is 0600)
  not_before TEXT,                -- deferred: UTC instant to map again
  modified TEXT,
  first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
  PRIMARY KEY (source, entity, local_id));
CREATE INDEX rows_base_ref ON rows(base_ref);
CREATE INDEX rows_deferred ON rows(not_before) WHERE state = 'deferred';
CREATE INDEX rows_status ON rows(source, entity, status);
CREATE TABLE ledger (
  ref TEXT PRIMARY KEY,
  base_ref TEXT NOT NULL, source TEXT NOT NULL, entity TEXT NOT NULL, local_id TEXT NOT NULL,
  national_id TEXT,
  hash TEXT, payload TEXT,
  status TEXT NOT NULL,           -- synced | alias | revoked | absent
  updated_at TEXT NOT NULL);
CREATE INDEX ledger_base ON ledger(base_ref);
CREATE TABLE batches (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  entity TEXT NOT NULL, op TEXT NOT NULL, path TEXT NOT NULL,
  body BLOB NOT NULL, body_sha256 TEXT NOT NULL, items INTEGER NOT NULL,
  state TEXT NOT NULL,            -- open | done | abandoned
  attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT,
  created_at TEXT NOT NULL, done_at TEXT);
CREATE INDEX batches_open ON batches(state) WHERE state = 'open';
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  ref TEXT NOT NULL, base_ref TEXT NOT NULL,
  source TEXT NOT NULL, entity TEXT NOT NULL, local_id TEXT NOT NULL,
  op TEXT NOT NULL,               -- upsert | revoke
  payload TEXT NOT NULL, hash TEXT NOT NULL,
  force INTEGER NOT NULL DEFAULT 0,
  ref_misses INTEGER NOT NULL DEFAULT 0,
  batch_id INTEGER REFERENCES batches(id),
  created_at TEXT NOT NULL);
CREATE UNIQUE INDEX outbox_unsent ON outbox(ref) WHERE batch_id IS NULL;
CREATE INDEX outbox_batch ON outbox(batch_id);
CREATE INDEX outbox_base ON outbox(base_ref);
CREATE INDEX outbox_entity ON outbox(entity, op) WHERE batch_id IS NULL;
CREATE TABLE dead_letters (
  ref TEXT PRIMARY KEY,
  base_ref TEXT NOT NULL, source TEXT NOT NULL, entity TEXT NOT NULL, local_id TEXT NOT NULL,
  op TEXT NOT NULL, hash TEXT NOT NULL, payload TEXT NOT NULL, errors TEXT NOT NULL,
  first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, times INTEGER NOT NULL DEFAULT 1);
CREATE INDEX dead_base ON dead_letters(base_ref);
CREATE TABLE waits (
  source TEXT NOT NULL, entity TEXT NOT NULL, local_id TEXT NOT NULL,
  parent_ref TEXT NOT NULL, required INTEGER NOT NULL,
  PRIMARY KEY (source, entity, local_id, parent_ref));
CREATE INDEX waits_parent ON waits(parent_ref);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, sources TEXT NOT NULL, pid INTEGER NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL, stats TEXT, error TEXT);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL, run_id INTEGER, kind TEXT NOT NULL, ref TEXT, data TEXT NOT NULL,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_ref ON audit(ref);
CREATE INDEX audit_run ON audit(run_id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""),
    (2, """
CREATE TABLE daemon (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pid INTEGER NOT NULL, started_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL,
  stopped_at TEXT, jobs TEXT NOT NULL);
"""),
    (3, """
CREATE INDEX audit_checkpoints ON audit(seq) WHERE kind = 'checkpoint';
CREATE INDEX audit_seals ON audit(seq) WHERE kind = 'seal';
CREATE INDEX audit_admin ON audit(seq) WHERE kind = 'admin';
CREATE INDEX audit_batch_key ON audit(json_extract(data, '$.key'))
  WHERE kind IN ('batch', 'request');
DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  WHEN OLD.seq <> (SELECT MIN(seq) FROM audit)
    OR NOT EXISTS (SELECT 1 FROM audit AS c WHERE c.kind = 'checkpoint' AND c.seq > OLD.seq
                   AND json_extract(c.data, '$.through') >= OLD.seq)
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""),
    (4, """
CREATE INDEX outbox_ref ON outbox(ref, op);
"""),
    (5, """
CREATE TABLE paused (
  source TEXT PRIMARY KEY, reason TEXT NOT NULL, at TEXT NOT NULL);
"""),
    (6, """
CREATE TABLE requests (
  id INTEGER PRIMARY KEY, argv TEXT NOT NULL, requested_by TEXT NOT NULL,
  created_at TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT, finished_at TEXT,
  exit_code INTEGER, output TEXT);
CREATE INDEX requests_queued ON requests(id) WHERE status = 'queued';
"""),
    (7, """
CREATE INDEX ledger_live ON ledger(source, status, base_ref);
"""),
    (8, """
CREATE INDEX batches_done ON batches(done_at) WHERE state = 'done';
"""),
    (9, """
-- the web console's read paths (state/views.py): a person's volunteer rows by ID number,
-- the service records that name a volunteer, the quarantine list
CREATE INDEX rows_person ON rows(json_extract(parts, '$[0][1].id_number'))
  WHERE entity = 'volunteer';
CREATE INDEX rows_volunteer_ref ON rows(json_extract(parts, '$[0][1].volunteer_external_ref'))
  WHERE entity = 'service_record';
CREATE INDEX rows_quarantined ON rows(source, entity, local_id) WHERE state = 'quarantined';
"""),
)

LATEST = MIGRATIONS[-1][0]


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS migrations ("
                 "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM migrations").fetchone()
    return int(row[0] or 0)


def current_version_readonly(conn: sqlite3.Connection) -> int:
    """The schema version without creating anything (read-only connections)."""
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                          "AND name = 'migrations'").fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, now: str) -> int:
    """Apply what is missing, each migration in its own transaction. Refuses a file
    written by a newer version of the bridge."""
    version = current_version(conn)
    if version > LATEST:
        raise StateError(
            f"the state file has schema version {version}, newer than this bridge knows "
            f"({LATEST}): upgrade zhiyuan-bridge, or restore a backup made by this version")
    for number, script in MIGRATIONS:
        if number <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if current_version(conn) >= number:  # another process got there first
                conn.execute("COMMIT")
                continue
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("INSERT INTO migrations (version, applied_at) VALUES (?, ?)",
                         (number, now))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
                conn.execute("ROLLBACK")
            raise
    return LATEST


def _statements(script: str) -> list[str]:
    """Split a script on statement ends, keeping trigger bodies whole."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
