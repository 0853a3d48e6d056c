"""Retention of what the bridge sent (operator-interface.md "Personal data the bridge
keeps", `[retention] sent_bodies_days`).

A sent batch's body holds full ID numbers and mobiles. Once its answer is applied the
bridge never reads it again (only open batches are resent, with their stored body and
idempotency key), so after the retention it is replaced by its hash: the ledger keeps
what the platform holds, the audit log keeps the hashes. An open batch (sent or not,
answered or not) is never touched.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

STRIPPED_PREFIX = b"sha256:"


def stripped_body(body_sha256: str) -> bytes:
    """What a stripped batch holds instead of its body."""
    return STRIPPED_PREFIX + body_sha256.encode("ascii")


def strip_sent_bodies(conn: sqlite3.Connection, answered_before: datetime) -> int:
    """Replace by their hash the bodies of the batches answered (state `done`) before
    the given instant; the number of batches stripped. Call inside a transaction."""
    cutoff = answered_before.astimezone(UTC).isoformat(timespec="microseconds")
    # through the batches_done index: a scan would walk every body's overflow pages to
    # reach the columns after it
    cur = conn.execute(
        "UPDATE batches SET body = CAST(? || body_sha256 AS BLOB) "
        "WHERE id IN (SELECT id FROM batches INDEXED BY batches_done "
        "             WHERE state = 'done' AND done_at < ?) "
        "AND substr(body, 1, ?) <> CAST(? AS BLOB)",
        (STRIPPED_PREFIX.decode(), cutoff, len(STRIPPED_PREFIX), STRIPPED_PREFIX.decode()))
    return int(cur.rowcount)
