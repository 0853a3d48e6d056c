"""`zybridge state …`: keep the state file safe (docs/reliability.md).

- `state backup FILE`   a consistent copy made with SQLite's backup API, safe while a
                        daemon runs; written beside FILE, checked, then renamed into place.
- `state restore FILE`  refuses while another process holds the lock or when FILE is not
                        a healthy state file; keeps the current file aside first.
- `state check [FILE]`  `PRAGMA integrity_check`, foreign keys, the schema version and the
                        audit chain: exit 0 healthy, 2 broken (with what to do).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bridge.errors import ConfigError, StateError
from state import migrations
from state import seal as seals
from state.lock import StateLock

OK, BROKEN = 0, 2
AUDIT_KEY_ENV = "ZYBRIDGE_AUDIT_KEY"
WHAT_TO_DO = ("stop the daemon, then `zybridge state restore BACKUP` with your latest good "
              "backup and run `zybridge sync` (docs/reliability.md, \"Recovery\")")


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


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    st = subparsers.add_parser("state", help="back up, restore or check the state file",
                               description="Keep the SQLite state file safe: backups, "
                                           "restores and an integrity check.")
    sub = st.add_subparsers(dest="state_command", metavar="ACTION", required=True)
    b = sub.add_parser("backup", help="a consistent copy of the state file (safe while a "
                                      "daemon runs)",
                       description="Copies the state file with SQLite's backup API into FILE "
                                   "(mode 0600), checks the copy, then renames it into place.")
    b.add_argument("file", help="where to write the backup")
    b.add_argument("--force", action="store_true", help="replace FILE if it exists")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="replace the state file with a backup",
                       description="Refuses while another zybridge process holds the state "
                                   "file, or when FILE is not a healthy state file. The "
                                   "current file is kept beside it as "
                                   "<state>.before-restore-<time>.")
    r.add_argument("file", help="the backup to restore")
    r.set_defaults(func=cmd_restore)
    c = sub.add_parser("check", help="integrity, foreign keys, schema version, audit chain",
                       description="Exit 0: healthy. Exit 2: broken, with what to do.")
    c.add_argument("file", nargs="?", help="a backup to check instead of the state file")
    c.set_defaults(func=cmd_check)


# commands ---------------------------------------------------------------------------------
def cmd_backup(args: argparse.Namespace) -> int:
    state = _state_path(args)
    target = Path(args.file)
    if not state.is_file():
        raise StateError(f"no state file at {state}: nothing to back up")
    if target.exists() and not args.force:
        raise ConfigError(f"{target} exists: choose another name, or pass --force")
    if target.resolve() == state.resolve():
        raise ConfigError("the backup cannot be the state file itself")
    health = backup(state, target)
    print(f"backed up {state} to {target}: schema version {health.version}, "
          f"{health.audit_entries} audit entries, integrity ok")
    return OK


def cmd_restore(args: argparse.Namespace) -> int:
    state = _state_path(args)
    source = Path(args.file)
    health = inspect(source)
    if not health.ok:
        _print_problems(health)
        print(f"zybridge: {source} is not a healthy state file: restore refused; "
              "try an older backup", flush=True)
        return BROKEN
    with StateLock(state):
        kept = restore(source, state)
    print(f"restored {source} into {state}")
    if kept is not None:
        print(f"the state file as it was is kept in {kept}")
    print("next: run `zybridge sync`; rows changed since the backup are sent again as "
          "updates (the platform upserts by external_ref, so nothing is doubled)")
    return OK


def cmd_check(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else _state_path(args)
    health = inspect(path)
    if health.ok:
        print(f"state file {path} is healthy: schema version {health.version}, "
              f"integrity ok, foreign keys ok, audit chain intact "
              f"({health.audit_entries} entries)")
        return OK
    _print_problems(health)
    print(f"what to do: {WHAT_TO_DO}")
    return BROKEN


# the work ---------------------------------------------------------------------------------
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
    verdict = seals.verify(conn, _audit_key())
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


# helpers ----------------------------------------------------------------------------------
def _state_path(args: argparse.Namespace) -> Path:
    from bridge.cli import load_config

    return load_config(args).state.path


def _open_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA query_only = ON")
    return conn


def _audit_key() -> bytes | None:
    value = os.environ.get(AUDIT_KEY_ENV, "")
    return value.encode("utf-8") if len(value) >= 16 else None


def _print_problems(health: Health) -> None:
    print(f"state file {health.path} is broken:")
    for problem in health.problems:
        print(f"  {problem}")


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
