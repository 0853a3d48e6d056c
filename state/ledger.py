"""The ledger (what the platform holds, by ref) and the dead letters (what it refused)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from state import db
from state.base import Queries, _chunks, _marks, dumps
from state.outbox import OutboxItem


@dataclass(frozen=True)
class LedgerEntry:
    ref: str
    national_id: str | None
    hash: str | None
    status: str
    payload: dict[str, Any] | None



class LedgerQueries(Queries):
    def ledger(self, ref: str) -> LedgerEntry | None:
        found = self.conn.execute("SELECT ref, national_id, hash, status, payload FROM ledger "
                                  "WHERE ref = ?", (ref,)).fetchone()
        if not found:
            return None
        return LedgerEntry(found[0], found[1], found[2], found[3],
                           json.loads(found[4]) if found[4] else None)

    def ledger_for_base(self, base_ref: str) -> list[LedgerEntry]:
        cur = self.conn.execute("SELECT ref, national_id, hash, status, payload FROM ledger "
                                "WHERE base_ref = ? ORDER BY ref", (base_ref,))
        return [LedgerEntry(r, n, h, s, json.loads(p) if p else None) for r, n, h, s, p in cur]

    def available(self, ref: str) -> bool:
        """The platform holds this ref (owner or alias) with a national id."""
        return self.conn.execute(
            "SELECT 1 FROM ledger WHERE ref = ? AND national_id IS NOT NULL "
            "AND status IN ('synced', 'alias')", (ref,)).fetchone() is not None

    def put_ledger(self, item: OutboxItem, *, national_id: str | None, status: str) -> None:
        self.put_ledger_many([(item, national_id, status)])

    def put_ledger_many(self, acks: Sequence[tuple[OutboxItem, str | None, str]]) -> None:
        """put_ledger for many (item, national_id, status) at once."""
        now = db.utcnow()
        self.conn.executemany(
            "INSERT INTO ledger (ref, base_ref, source, entity, local_id, national_id, hash, "
            "payload, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (ref) DO UPDATE SET national_id = COALESCE(excluded.national_id, "
            "ledger.national_id), hash = COALESCE(excluded.hash, ledger.hash), "
            "payload = COALESCE(excluded.payload, ledger.payload), status = excluded.status, "
            "updated_at = excluded.updated_at",
            [(i.ref, i.base_ref, i.source, i.entity, i.local_id, nid,
              i.hash if status in ("synced", "alias") else None,
              i.text if status in ("synced", "alias") else None, status,
              now)
             for i, nid, status in acks])

    def alias_refs(self, refs: Sequence[str]) -> set[str]:
        return self._column_in("SELECT ref FROM ledger WHERE status = 'alias' AND ref IN ({in})",
                               refs)

    def live_refs(self, base_ref: str) -> list[str]:
        """Refs of this base the platform holds live, or that are on their way there."""
        cur = self.conn.execute(
            "SELECT ref FROM ledger WHERE base_ref = ? AND status IN ('synced', 'alias') "
            "UNION SELECT ref FROM outbox WHERE base_ref = ? AND op = 'upsert'",
            (base_ref, base_ref))
        return sorted(r for (r,) in cur)

    def revoked_refs(self, refs: Sequence[str]) -> set[str]:
        marks = ",".join("?" * len(refs))
        cur = self.conn.execute(
            f"SELECT ref FROM ledger WHERE status = 'revoked' AND ref IN ({marks}) "
            f"UNION SELECT ref FROM outbox WHERE op = 'revoke' AND ref IN ({marks})",
            (*refs, *refs))
        return {r for (r,) in cur}

    def live_count(self, entity: str) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM ledger WHERE entity = ? AND status IN "
                                "('synced', 'alias')", (entity,)).fetchone()
        return int(row[0])

    def bases_in_ledger(self, base_refs: Collection[str]) -> set[str]:
        return self._bases_in("ledger", base_refs)

    def parent_states(self, refs: Collection[str]) -> dict[str, tuple[bool, bool]]:
        """ref → (available: the platform holds it, pending: an upsert of it is in the
        outbox), for many refs at once."""
        pending = self._column_in(
            "SELECT ref FROM outbox WHERE op = 'upsert' AND ref IN ({in})", refs)
        available = self._column_in(
            "SELECT ref FROM ledger WHERE ref IN ({in}) AND national_id IS NOT NULL "
            "AND status IN ('synced', 'alias')", refs)
        return {r: (r in available, r in pending) for r in refs}

    def add_dead(self, item: OutboxItem, errors: list[dict[str, str]]) -> None:
        now = db.utcnow()
        self.conn.execute(
            "INSERT INTO dead_letters (ref, base_ref, source, entity, local_id, op, hash, "
            "payload, errors, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (ref) DO UPDATE SET op = excluded.op, hash = excluded.hash, "
            "payload = excluded.payload, errors = excluded.errors, "
            "last_seen = excluded.last_seen, times = dead_letters.times + 1",
            (item.ref, item.base_ref, item.source, item.entity, item.local_id, item.op,
             item.hash, item.text, dumps(errors), now, now))

    def dead_hash(self, ref: str) -> str | None:
        row = self.conn.execute("SELECT hash FROM dead_letters WHERE ref = ?", (ref,)).fetchone()
        return str(row[0]) if row else None

    def clear_dead(self, ref: str) -> None:
        self.conn.execute("DELETE FROM dead_letters WHERE ref = ?", (ref,))

    def clear_dead_of_base(self, base_ref: str, keep: set[str] | None = None) -> None:
        """Forget dead letters of refs this base no longer produces (all, without keep)."""
        for ref in [r for (r,) in self.conn.execute(
                "SELECT ref FROM dead_letters WHERE base_ref = ?", (base_ref,))]:
            if keep is None or ref not in keep:
                self.clear_dead(ref)

    def clear_dead_many(self, refs: Sequence[str]) -> None:
        for chunk in _chunks(list(refs)):
            self.conn.execute(f"DELETE FROM dead_letters WHERE ref IN ({_marks(chunk)})", chunk)

    def bases_with_dead(self, base_refs: Collection[str]) -> set[str]:
        return self._bases_in("dead_letters", base_refs)

    def has_dead(self, base_ref: str) -> bool:
        return self.conn.execute("SELECT 1 FROM dead_letters WHERE base_ref = ?",
                                 (base_ref,)).fetchone() is not None

    # what the safety checks count ---------------------------------------------------------
    def live_of_sources(self, sources: Sequence[str]) -> int:
        """Records of these sources the platform holds (owner or alias); counted on the
        ledger_live index, not by reading every ledger row (every cycle asks)."""
        marks = ",".join("?" * len(sources))
        return int(self.conn.execute(
            f"SELECT COUNT(*) FROM ledger WHERE status IN ('synced', 'alias') "
            f"AND source IN ({marks})", tuple(sources)).fetchone()[0])

    def live_bases(self, source: str) -> int:
        """Source rows of `source` the platform holds some record of."""
        return int(self.conn.execute(
            "SELECT COUNT(DISTINCT base_ref) FROM ledger WHERE status IN ('synced', 'alias') "
            "AND source = ?", (source,)).fetchone()[0])

    def revokes_waiting(self, sources: Sequence[str]) -> int:
        """Revocations waiting in the outbox for these sources."""
        marks = ",".join("?" * len(sources))
        return int(self.conn.execute(
            f"SELECT COUNT(*) FROM outbox WHERE op = 'revoke' AND source IN ({marks})",
            tuple(sources)).fetchone()[0])

    def upserts_over_synced(self, sources: Sequence[str]
                            ) -> Iterator[tuple[str, str, str | None]]:
        """(entity, new payload, payload the platform holds) of every waiting upsert of an
        organization, volunteer or project the platform holds, for these sources."""
        marks = ",".join("?" * len(sources))
        yield from self.conn.execute(
            f"SELECT o.entity, o.payload, l.payload FROM outbox o JOIN ledger l "
            f"ON l.ref = o.ref WHERE o.op = 'upsert' AND o.entity != 'service_record' "
            f"AND o.source IN ({marks}) AND l.status = 'synced'", tuple(sources))
