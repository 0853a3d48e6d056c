"""The sample 志愿云 store: a SQLite file with the schema of local-sources.md §A, filled with
realistic, messy rows (every quirk of §A at least once), deterministic by seed, and a
manifest of the outcome the spec expects for every row (for `zybridge demo`, the tests
and the benchmarks); and the helpers that change a store the way 志愿云's users would.

The schema, check digits and the manifest are in samplebase.py, the rows in
samplerows.py.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge.testing.samplebase import (
    COLUMNS,
    CST,
    INDEXES,
    OUTCOMES,
    SCHEMA,
    SOFT,
    STAMP,
    TABLES,
    USCC_CHARS,
    Builder,
    SampleManifest,
    fmt_date,
    fmt_time,
    id_check,
    local_stamp,
    make_uscc,
    org_code_check,
    uscc_check,
)
from bridge.testing.samplerows import (
    bulk_activity,
    bulk_members,
    bulk_records,
    bulk_team,
    bulk_volunteer,
    fixed_activities,
    fixed_records,
    fixed_teams,
    fixed_volunteers,
)

__all__ = ["COLUMNS", "CST", "INDEXES", "OUTCOMES", "SCHEMA", "SOFT", "STAMP", "TABLES",
           "USCC_CHARS", "SampleManifest", "build_sample_store", "fmt_date", "fmt_time",
           "id_check", "local_stamp", "make_uscc", "org_code_check", "revive",
           "set_membership", "soft_delete", "touch_rows", "update_rows", "uscc_check"]

def build_sample_store(path: Path, *, volunteers: int = 60, seed: int = 7,
                       now: datetime | None = None, invalid_share: float = 0.01
                       ) -> SampleManifest:
    """Create (or replace) a sample 志愿云 SQLite store at `path`; see the module docstring."""
    moment = (now or datetime.now(CST))
    local = (moment.astimezone(CST) if moment.tzinfo else moment).replace(tzinfo=None)
    path = Path(path)
    for extra in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        conn.execute("BEGIN")
        b = Builder(conn, seed, local)
        _fill(b, volunteers, invalid_share)
        for table in COLUMNS:
            b.flush(table)
        for statement in filter(str.strip, INDEXES.split(";")):
            conn.execute(statement)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    counts = Counter(entity for entity, _ in b.expected)
    return SampleManifest(path, seed, local.replace(tzinfo=CST), b.expected, b.codes,
                          {e: counts[e] for e in TABLES}, b.members, b.notes)


def _fill(b: Builder, volunteers: int, share: float) -> None:
    teams = range(1000, 1000 + max(3, volunteers // 15))
    fixed_teams(b)
    for tid in teams:
        bulk_team(b, tid, teams.start, share)
    fixed_activities(b)
    acts = [aid for i, aid in enumerate(range(1000, 1000 + max(4, volunteers // 8)))
            if bulk_activity(b, aid, i, teams, share) in (4, 5, 6)]
    fixed_volunteers(b)
    fixed_records(b)
    for i in range(volunteers):
        vid = 1000 + i
        bulk_volunteer(b, vid, share)
        bulk_members(b, vid, teams)
        bulk_records(b, vid, 1000 + 5 * i, acts, share)


# helpers for tests and demos that change a store the way 志愿云's users would -------------
def update_rows(path: Path, entity: str, ids: Iterable[int | str], values: dict[str, Any],
                *, modified: str | None = None) -> None:
    """Set columns of the rows with these primary keys, and their gmt_modified (default:
    now, local time)."""
    table, key = TABLES[entity]
    unknown = set(values) - set(COLUMNS[table])
    if unknown:
        raise ValueError(f"{table} has no column {sorted(unknown)}")
    sets = {**values, "gmt_modified": modified or local_stamp()}
    sql = f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in sets)} WHERE {key} = ?"
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany(sql, [(*sets.values(), int(i)) for i in ids])
    finally:
        conn.close()


def touch_rows(path: Path, entity: str, ids: Iterable[int | str], *,
               modified: str | None = None) -> None:
    """Set gmt_modified (default: now; a past value back-dates the rows)."""
    update_rows(path, entity, ids, {}, modified=modified)


def soft_delete(path: Path, entity: str, ids: Iterable[int | str], *,
                modified: str | None = None) -> None:
    """is_del = 1, is_cancel = 1, a team's state 3 or an activity's status 7."""
    column, dead, _ = SOFT[entity]
    update_rows(path, entity, ids, {column: dead}, modified=modified)


def revive(path: Path, entity: str, ids: Iterable[int | str], *,
           modified: str | None = None) -> None:
    """Undo `soft_delete` (an activity comes back as running)."""
    column, _, live = SOFT[entity]
    update_rows(path, entity, ids, {column: live}, modified=modified)


def set_membership(path: Path, team_id: int, vol_id: int, state: int, *,
                   join_time: str = "2020-01-01", modified: str | None = None) -> None:
    """Insert or update one zyy_team_member row."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute("INSERT INTO zyy_team_member (team_id, vol_id, join_time, state, "
                         "gmt_modified) VALUES (?, ?, ?, ?, ?) ON CONFLICT (team_id, vol_id) "
                         "DO UPDATE SET state = excluded.state, "
                         "gmt_modified = excluded.gmt_modified",
                         (team_id, vol_id, join_time, state, modified or local_stamp()))
    finally:
        conn.close()
