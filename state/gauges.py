"""What the daemon's /metrics shows of the state file (bridge/metrics.py turns it into
Prometheus gauges), read at scrape time on a read-only connection of its own."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CYCLE_KINDS = ("sync", "daemon", "reconcile")   # runs that read a whole source
READ_COMPLETE = ("ok", "undelivered")           # the read finished; sending may not have


@dataclass(frozen=True)
class Gauges:
    rows: list[tuple[str, str, str, int]]       # (source, entity, status, count)
    paused: frozenset[str]
    last_success: dict[str, str]                # source → finished_at of its last ok cycle
    outbox_items: int
    oldest_outbox: str | None                   # created_at of the oldest outbox item
    open_batches: int
    cursors: list[tuple[str, str, str]]         # (source, stream, cursor as stored)
    read_complete: dict[str, bool]              # source → its last cycle read it through


def gauges(path: Path) -> Gauges | None:
    """None when the file cannot be read (no state yet, or not a state file)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return _read(conn)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _read(conn: sqlite3.Connection) -> Gauges:
    rows = [(str(s), str(e), str(st), int(n)) for s, e, st, n in conn.execute(
        "SELECT source, entity, status, COUNT(*) FROM rows GROUP BY source, entity, status")]
    paused = frozenset(str(s) for (s,) in conn.execute("SELECT source FROM paused"))
    count, oldest = conn.execute("SELECT COUNT(*), MIN(created_at) FROM outbox").fetchone()
    batches = int(conn.execute(
        "SELECT COUNT(*) FROM batches WHERE state = 'open'").fetchone()[0])
    cursors = [(str(s), str(t), str(c)) for s, t, c in conn.execute(
        "SELECT source, stream, cursor FROM cursors")]
    return Gauges(rows, paused, _last_success(conn), int(count), oldest, batches, cursors,
                  _read_complete(conn))


def _last_success(conn: sqlite3.Connection) -> dict[str, str]:
    return {str(source): str(finished) for source, finished in conn.execute(
        "SELECT j.value, MAX(r.finished_at) FROM runs r, json_each(r.sources) j "
        f"WHERE r.status = 'ok' AND r.kind IN ({_marks(CYCLE_KINDS)}) GROUP BY j.value",
        CYCLE_KINDS)}


def _read_complete(conn: sqlite3.Connection) -> dict[str, bool]:
    """Per source: did its last finished cycle read the source through?"""
    out: dict[str, bool] = {}
    for source, status in conn.execute(
            "SELECT j.value, r.status FROM runs r, json_each(r.sources) j "
            f"WHERE r.finished_at IS NOT NULL AND r.kind IN ({_marks(CYCLE_KINDS)}) "
            "ORDER BY r.id", CYCLE_KINDS):
        out[str(source)] = status in READ_COMPLETE
    return out


def _marks(values: Sequence[str]) -> str:
    return ", ".join("?" * len(values))
