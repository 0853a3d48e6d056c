"""Opening the state file: WAL, busy timeout, foreign keys, mode 0600, migrations."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bridge.errors import StateError
from state import migrations


def utcnow() -> str:
    """The current instant as UTC ISO-8601 with microseconds (sortable as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (and for writers create and migrate) the state file.

    A file that is not a SQLite database, is truncated or comes from a newer version
    raises StateError with what to do."""
    if readonly:
        if not path.exists():
            raise StateError(f"no state file at {path}: run `zybridge sync` first")
        uri = f"file:{path}?mode=ro"
        conn = _open(uri, uri=True)
    else:
        _prepare(path)
        conn = _open(str(path), uri=False)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # checkpoint the WAL every ~40 MiB, not every 4 MiB: a backfill's commits
            # touch index pages all over the file, and each checkpoint copies them back
            conn.execute("PRAGMA wal_autocheckpoint = 10000")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            migrations.migrate(conn, utcnow())
        else:
            version = migrations.current_version_readonly(conn)
            if version > migrations.LATEST:
                raise StateError(f"the state file has schema version {version}, newer than "
                                 f"this bridge knows ({migrations.LATEST})")
    except sqlite3.OperationalError as exc:
        conn.close()
        if any(word in str(exc) for word in ("full", "readonly", "read-only", "locked")):
            raise write_error(exc) from exc
        raise StateError(f"the state file {path} is unreadable ({exc}): run "
                         "`zybridge state check`, or restore it from a backup") from exc
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StateError(f"the state file {path} is unreadable ({exc}): run "
                         "`zybridge state check`, or restore it from a backup") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise StateError(f"cannot create the state file {path}: {exc.strerror}") from exc


def _open(target: str, *, uri: bool) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(target, uri=uri, isolation_level=None, timeout=30.0,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
    except sqlite3.Error as exc:
        raise StateError(f"cannot open the state file: {exc}") from exc
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception (nothing half-written).
    SQLite's own failures (disk full, read-only file) become one clear StateError."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise write_error(exc) from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):
            raise write_error(exc) from exc
        raise


def write_error(exc: sqlite3.Error) -> StateError:
    text = str(exc)
    if "full" in text:
        return StateError(f"the disk holding the state file is full ({text}); nothing was "
                          "half-written: free some space and run again")
    if "readonly" in text or "read-only" in text:
        return StateError(f"the state file cannot be written ({text}): check that its folder "
                          "is writable; nothing was changed")
    if "locked" in text or "busy" in text:
        return StateError(f"the state file stayed busy ({text}): another process writes it")
    return StateError(f"the state file could not be written: {text}")
