"""The append-only audit log and its hash chain (DESIGN.md invariant 6).

Every entry carries the SHA-256 of its own content chained to the previous entry's
hash; triggers in the schema refuse UPDATE and DELETE. Entries hold hashes, statuses,
codes and national ids, never a payload or PII in clear.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def entry_hash(prev_hash: str, seq: int, at: str, run_id: int | None, kind: str,
               ref: str | None, data: str) -> str:
    content = canonical({"seq": seq, "at": at, "run_id": run_id, "kind": kind,
                         "ref": ref, "data": data})
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    kind: str
    data: Mapping[str, Any]
    ref: str | None = None


def append(conn: sqlite3.Connection, at: str, run_id: int | None,
           entries: Iterable[Entry]) -> None:
    """Append entries in order; call inside the transaction that makes the change."""
    head = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    rows = []
    for entry in entries:
        seq += 1
        data = canonical(dict(entry.data))
        digest = entry_hash(prev, seq, at, run_id, entry.kind, entry.ref, data)
        rows.append((seq, at, run_id, entry.kind, entry.ref, data, prev, digest))
        prev = digest
    conn.executemany("INSERT INTO audit (seq, at, run_id, kind, ref, data, prev_hash, hash) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    broken_at: int | None = None
    problem: str = ""


def verify(conn: sqlite3.Connection) -> Verdict:
    """Walk the chain in seq order; report the first entry whose link does not hold."""
    prev = GENESIS
    expected_seq: int | None = None
    count = 0
    cur = conn.execute("SELECT seq, at, run_id, kind, ref, data, prev_hash, hash "
                       "FROM audit ORDER BY seq")
    for seq, at, run_id, kind, ref, data, prev_hash, digest in cur:
        count += 1
        if expected_seq is not None and seq != expected_seq:
            return Verdict(False, count, expected_seq,
                           f"entry {expected_seq} is missing (next is {seq})")
        if prev_hash != prev:
            return Verdict(False, count, seq, f"entry {seq} does not link to the entry before it")
        if entry_hash(prev_hash, seq, at, run_id, kind, ref, data) != digest:
            return Verdict(False, count, seq, f"entry {seq} was altered (its hash does not match)")
        prev = digest
        expected_seq = seq + 1
    return Verdict(True, count)
