"""The audit chain read for people: select the entries a filter picks (a record's whole
story: its entries, the batches and attempts that carried them, the admin actions on it),
export a period to a verifiable file, the first live entry. state/audit.py keeps the chain."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError
from state import audit, auditfile, db
from state.audit import Record


def first_seq(conn: sqlite3.Connection) -> int | None:
    """The first entry of the live chain (None when it is empty)."""
    found = conn.execute("SELECT MIN(seq) FROM audit").fetchone()[0]
    return None if found is None else int(found)


def export(conn: sqlite3.Connection, out: Path, since: str | None,
           until: str | None) -> tuple[int, str]:
    """The contiguous run of entries from the first at or after `since` to the last
    before `until`, to a verifiable file; (entries, file sha256)."""
    conn.execute("BEGIN")
    try:
        lo = conn.execute("SELECT MIN(seq) FROM audit WHERE at >= ?",
                          (since or "",)).fetchone()[0]
        hi = conn.execute("SELECT MAX(seq) FROM audit WHERE at < ?",
                          (until or "\uffff",)).fetchone()[0]
        span = (lo, hi) if lo is not None and hi is not None and lo <= hi else (0, -1)
        header: dict[str, Any] = {
            "format": "zybridge-audit-export", "version": 1, "since": since, "until": until,
            "from": span[0] or None, "through": span[1] if span[1] >= 0 else None,
            "entries": span[1] - span[0] + 1, "created_at": db.utcnow()}
        sha = auditfile.write_file(out, header, audit.records(conn, "seq BETWEEN ? AND ?", span))
    except FileExistsError as exc:
        raise ConfigError(f"{out} already exists: choose another --out") from exc
    finally:
        conn.execute("COMMIT")
    return int(header["entries"]), sha


@dataclass(frozen=True)
class Filter:
    ref: str | None = None
    source: str | None = None
    run: int | None = None
    since: str | None = None
    until: str | None = None
    kinds: tuple[str, ...] = ()
    status: str | None = None

    def plain(self) -> tuple[str, list[Any]]:
        """The SQL condition of every filter but the subject (ref or source)."""
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (("run_id = ?", self.run), ("at >= ?", self.since),
                              ("at < ?", self.until),
                              ("CAST(json_extract(data, '$.status') AS TEXT) = ?",
                               self.status)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if self.kinds:
            clauses.append(f"kind IN ({','.join('?' * len(self.kinds))})")
            params.extend(self.kinds)
        return " AND ".join(clauses) or "1", params

    def owns(self, ref: str) -> bool:
        """A ref of the subject: REF, its derived refs and its ancestors; or the source's."""
        if self.ref is not None:
            return ref == self.ref or ref.startswith(f"{self.ref}.") \
                or self.ref.startswith(f"{ref}.")
        return self.source is not None and ref.startswith(f"{self.source}:")

    def covers(self, scope: Mapping[str, Any]) -> bool:
        """An admin action's scope (sources, entities, ids) reaches the subject."""
        sources = scope.get("sources") or []
        if self.source is not None:
            return self.source in sources
        source, entity, local = ([*str(self.ref).split(":", 2), "", ""])[:3]
        base = local.split(".")[0]
        return (source in sources and entity in (scope.get("entities") or [entity])
                and base in (scope.get("ids") or [base]))


def select(conn: sqlite3.Connection, f: Filter) -> list[Record]:
    """The entries the filter picks, in chain order. With a subject (ref or source): its
    own entries, the batches and attempts that carried them, and admin actions on it."""
    plain, params = f.plain()
    if f.ref is None and f.source is None:
        return list(audit.records(conn, plain, params))
    if f.ref is not None:
        own, own_params = "(ref = ? OR (ref >= ? AND ref < ?))", [f.ref, f.ref + ".",
                                                                   f.ref + "/"]
    else:
        own, own_params = "(ref >= ? AND ref < ?)", [f"{f.source}:", f"{f.source};"]
    found = {r.seq: r for r in audit.records(conn, f"{own} AND {plain}", own_params + params)}
    keys = [k for (k,) in conn.execute(
        f"SELECT DISTINCT json_extract(data, '$.batch_key') FROM audit WHERE {own} "
        "AND kind IN ('result', 'dead_letter')", own_params) if k]
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        where = (f"kind IN ('batch', 'request') AND json_extract(data, '$.key') IN "
                 f"({','.join('?' * len(chunk))}) AND {plain}")
        found.update((r.seq, r) for r in audit.records(conn, where, chunk + params))
    for r in audit.records(conn, f"kind = 'admin' AND {plain}", params):
        d = r.payload()
        if any(f.owns(str(x)) for x in d.get("refs") or []) or f.covers(d.get("scope") or {}):
            found[r.seq] = r
    return [found[seq] for seq in sorted(found)]
