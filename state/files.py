"""The state file as a file (docs/reliability.md): a consistent, checked backup made with
SQLite's backup API; a restore that keeps the current file aside first; and the health
check (integrity, foreign keys, schema version, audit chain) of a state file or a backup.
Read-only connections of its own: a damaged file must not be "repaired" by opening it."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bridge.errors import StateError
from state import migrations
from state import seal as seals
from state.keys import key_from_env


@dataclass(frozen=True)
class Health:
    """What `state check` found in one file."""

    path: Path
    version: int
    audit_entries: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


# backup, restore, check ---------------------------------------------------------------
def inspect(path: Path) -> Health:
    """Integrity, foreign keys, schema version and audit chain of a state file, read
    only. Never raises for a damaged file: the damage is in `problems`."""
    if not path.is_file():
        return Health(path, 0, 0, (f"{path} does not exist or is not a file",))
    try:
        with closing(_open_ro(path)) as conn:
            return _inspect(conn, path)
    except sqlite3.DatabaseError as exc:
        return Health(path, 0, 0, (f"{path} is not a readable SQLite database ({exc})",))


def _inspect(conn: sqlite3.Connection, path: Path) -> Health:
    problems: list[str] = []
    rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    if rows != ["ok"]:
        lines = [line for r in rows for line in r.splitlines() if "*** in database" not in line]
        more = [f"… and {len(lines) - 10} more"] if len(lines) > 10 else []
        return Health(path, 0, 0, tuple(f"integrity: {x}" for x in lines[:10]) + tuple(more))
    version = migrations.current_version_readonly(conn)
    if version == 0:
        return Health(path, 0, 0, (f"{path} is a SQLite file but not a zybridge state file",))
    if version > migrations.LATEST:
        problems.append(f"schema version {version} is newer than this zybridge knows "
                        f"({migrations.LATEST}): upgrade zhiyuan-bridge")
    bad_keys = conn.execute("PRAGMA foreign_key_check").fetchall()
    problems += [f"foreign key: {table} row {rowid} names a missing {parent}"
                 for table, rowid, parent, _ in bad_keys[:10]]
    verdict = seals.verify(conn, key_from_env())
    if not verdict.ok:
        problems.append(f"audit log broken at entry {verdict.broken_at}: {verdict.problem}")
    return Health(path, version, verdict.entries, tuple(problems))


def backup(state: Path, target: Path) -> Health:
    """Copy `state` to `target` (atomically, checked); StateError when it cannot."""
    partial = target.with_name(target.name + ".partial")
    try:
        _unlink(partial)
        _private(partial)
        with closing(_open_ro(state)) as src, closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
        os.chmod(partial, 0o600)
        health = inspect(partial)
        if not health.ok:
            raise StateError(f"the state file is damaged, so the backup would be too "
                             f"({health.problems[0]}); keep your last good backup and "
                             "run `zybridge state check`")
        _fsync(partial)
        os.replace(partial, target)
        _fsync(target.parent)
    except (OSError, sqlite3.Error) as exc:
        _unlink(partial)
        raise StateError(f"cannot write the backup {target}: {_why(exc)}") from exc
    except BaseException:
        _unlink(partial)
        raise
    return health


def restore(source: Path, state: Path) -> Path | None:
    """Make `state` a copy of `source` (the caller holds the lock). The current file is
    copied aside first and its path returned."""
    kept = _keep_aside(state) if state.exists() else None
    try:
        try:
            _copy_into(source, state)
        except sqlite3.DatabaseError:
            # the current file is beyond SQLite's repair: start from an empty one
            for extra in ("", "-wal", "-shm", "-journal"):
                _unlink(Path(f"{state}{extra}"))
            _copy_into(source, state)
        os.chmod(state, 0o600)
    except (OSError, sqlite3.Error) as exc:
        raise StateError(f"cannot restore into {state}: {_why(exc)}; the state file before "
                         f"the restore is kept in {kept}") from exc
    health = inspect(state)
    if not health.ok:
        raise StateError(f"the restored state file fails its check ({health.problems[0]}); "
                         f"the state file before the restore is kept in {kept}")
    return kept


def _copy_into(source: Path, state: Path) -> None:
    """SQLite's backup API writes the whole copy in one transaction of the destination,
    so a crash leaves either the old file or the new one (its WAL is handled by SQLite)."""
    with closing(_open_ro(source)) as src, closing(sqlite3.connect(state)) as dst:
        src.backup(dst)


def _keep_aside(state: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = state.with_name(f"{state.name}.before-restore-{stamp}")
    try:
        _private(aside)
        with closing(_open_ro(state)) as src, closing(sqlite3.connect(aside)) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.DatabaseError:
        # unreadable: keep its bytes as they are, WAL included
        _unlink(aside)
        for extra in ("", "-wal"):
            if Path(f"{state}{extra}").exists():
                Path(f"{aside}{extra}").write_bytes(Path(f"{state}{extra}").read_bytes())
    os.chmod(aside, 0o600)
    return aside


def _open_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA query_only = ON")
    return conn


def _why(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _private(path: Path) -> None:
    """An empty file, 0600, for SQLite to fill: never readable by others meanwhile."""
    os.close(os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Gauges:
    """What /metrics shows of the state file: outbox depth, open batches, cursors."""
    outbox_items: int
    open_batches: int
    cursors: list[tuple[str, str, str]]  # (source, stream, cursor as stored)


def gauges(path: Path) -> Gauges | None:
    """Read on a connection of its own, read only; None when the file cannot be read."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        items = int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        batches = int(conn.execute(
            "SELECT COUNT(*) FROM batches WHERE state = 'open'").fetchone()[0])
        cursors = [(str(s), str(t), str(c)) for s, t, c in conn.execute(
            "SELECT source, stream, cursor FROM cursors")]
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return Gauges(items, batches, cursors)
