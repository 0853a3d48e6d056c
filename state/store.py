"""StateStore: the one object that reads and writes the state file, made of one part per
concern (state/rows.py: cursors, source rows and waits; state/outbox.py: outbox and
batches; state/ledger.py: ledger and dead letters; state/runs.py: runs, the daemon's
heartbeat, handed-over requests and paused sources; state/audit.py: the audit chain).

Nothing else touches the state file. Writers call the methods inside
`store.transaction()`; one process writes at a time (state/lock.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from state import audit, db
from state.base import RowKey, dumps
from state.ledger import LedgerEntry, LedgerQueries
from state.outbox import Batch, OutboxItem, OutboxQueries, OutboxRow
from state.rows import NewRow, RowQueries, RowState, SourceText, source_text
from state.runs import RunQueries

__all__ = ["Batch", "LedgerEntry", "NewRow", "OutboxItem", "OutboxRow", "RowKey", "RowState",
           "SourceText",
           "StateStore", "dumps", "source_text"]


class StateStore(RowQueries, OutboxQueries, LedgerQueries, RunQueries):
    def __init__(self, conn: sqlite3.Connection, path: Path | None = None) -> None:
        self.conn = conn
        self.path = path
        self.run_id: int | None = None

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> StateStore:
        return cls(db.connect(path, readonly=readonly), path)

    def close(self) -> None:
        self.conn.close()

    def audit(self, entries: Iterable[audit.Entry]) -> None:
        audit.append(self.conn, db.utcnow(), self.run_id, entries)
