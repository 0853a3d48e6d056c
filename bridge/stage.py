"""Staging: a mapping result becomes source-row state, outbox rows and waits.

Called inside the page's transaction (the transactional outbox: the row's state, its
outbox rows and the advanced cursor commit together). Pure decisions on top of the
store; no network.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC
from enum import Enum
from typing import Any

from bridge.refs import REF_FIELDS, canonical, compose, parent_refs, payload_hash, text_hash
from mappings.result import Deferred, Mapped, MapResult, Quarantined, Skipped
from state.audit import Entry
from state.store import NewRow, OutboxRow, RowKey, StateStore, source_text

REVOKE_REASONS = {
    "deleted": "记录已在本地系统删除",
    "ineligible": "记录在本地系统不再处于已生效状态",
    "replaced": "记录已被新版本取代",
}


class Verdict(Enum):
    OK = "ok"
    HOLD = "hold"          # a required parent is on its way: wait for this round
    BLOCKED = "blocked"    # a required parent is not synced and not on its way


def effective(store: StateStore, entity: str, payload: dict[str, Any], *, strict: bool,
              batch_refs: Collection[str] = (), hold_pending: bool = False,
              known: Mapping[str, tuple[bool, bool]] | None = None,
              ) -> tuple[dict[str, Any], list[tuple[str, bool]], Verdict]:
    """The payload as it can be sent now: optional references to records the platform
    does not hold are left out (and waited on); a missing required parent blocks.

    Lenient (staging): a parent pending in the outbox counts as there. Strict (forming a
    batch): only the ledger, or an item earlier in the same batch, counts; a pending
    required parent holds the item back, a pending optional one is left out and waited
    on (two teams naming each other as parent must not hold each other forever).
    `hold_pending` (strict, while the cycle is still staging) holds an item back for a
    pending optional parent too, rather than send it without the reference now and
    again with it later. `known` answers parent states already looked up in bulk
    (StateStore.parent_states) and is read before the store."""
    out = dict(payload)
    waits: list[tuple[str, bool]] = []
    verdict = Verdict.OK
    for field, required in REF_FIELDS.get(entity, ()):
        value = out.get(field)
        if value is None:
            continue
        if isinstance(value, list):
            keep = []
            for ref in value:
                state = _parent_state(store, str(ref), strict, batch_refs, known, hold_pending)
                if state == "pending" and hold_pending:
                    verdict = _worst(verdict, Verdict.HOLD)
                if state == "ok":
                    keep.append(ref)
                else:  # an optional parent not there yet: left out, and waited on
                    waits.append((str(ref), False))
            if keep:
                out[field] = keep
            else:
                del out[field]
            continue
        state = _parent_state(store, str(value), strict, batch_refs, known, hold_pending)
        if state == "pending" and (required or hold_pending):
            verdict = _worst(verdict, Verdict.HOLD)
        elif state != "ok":
            waits.append((str(value), required))
            if required:
                verdict = Verdict.BLOCKED
            else:
                del out[field]
    return out, waits, verdict


def _worst(a: Verdict, b: Verdict) -> Verdict:
    order = [Verdict.OK, Verdict.HOLD, Verdict.BLOCKED]
    return a if order.index(a) >= order.index(b) else b


def _parent_state(store: StateStore, ref: str, strict: bool, batch_refs: Collection[str],
                  known: Mapping[str, tuple[bool, bool]] | None = None,
                  hold: bool = False) -> str:
    """"ok" | "pending" | "missing"; `known` answers (available, pending) for refs looked
    up in bulk (StateStore.parent_states), the store the others."""
    if ref in batch_refs:
        return "ok"
    flags = known.get(ref) if known is not None else None
    if flags is None:
        pending_now = store.pending_upsert(ref) if hold else None
        if pending_now:
            return "pending"
        if store.available(ref):
            return "ok"
        pending = pending_now if pending_now is not None else store.pending_upsert(ref)
    else:
        available, pending = flags
        if hold and pending:
            return "pending"  # an update of the parent goes first (a project's new window)
        if available:
            return "ok"
    if pending:
        return "pending" if strict else "ok"
    return "missing"


class _Fresh:
    """The writes of a page's never-seen rows, made in a few statements."""

    def __init__(self) -> None:
        self.rows: list[NewRow] = []
        self.outbox: list[OutboxRow] = []
        self.waits: list[tuple[RowKey, str, bool]] = []

    def write(self, store: StateStore) -> None:
        if self.outbox:
            store.enqueue_new(self.outbox)
        if self.rows:
            store.put_rows_new(self.rows)
        if self.waits:
            store.add_waits(self.waits)
        self.rows, self.outbox, self.waits = [], [], []


class Stager:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def stage_many(self, source: str, staged: Sequence[tuple[MapResult, Any, str | None]],
                   *, force: bool = False) -> None:
        """Stage a page of (result, source row, modified). Rows the state file has never
        seen (a backfill's every row) take a short path of a few statements each, with
        their parents looked up once for the page; every other row goes through stage()."""
        keys = [(source, r.entity, r.local_id) for r, _, _ in staged]
        known = self.store.row_brief(keys)
        in_ledger = self.store.bases_in_ledger({r.base_ref for r, _, _ in staged})
        parents = self.store.parent_states({ref for r, _, _ in staged if isinstance(r, Mapped)
                                            for p in r.parts
                                            for ref, _ in parent_refs(r.entity, dict(p.payload))})
        seen: set[RowKey] = set()
        fresh = _Fresh()
        for key, (result, source_row, modified) in zip(keys, staged, strict=True):
            if force or key in known or key in seen or result.base_ref in in_ledger:
                fresh.write(self.store)  # the slow path reads what came before it
                self.stage(source, result, source_row, modified, force=force)
                parents.clear()  # the slow path may have changed the outbox
            else:
                self._new(key, result, source_row, modified, parents, fresh)
            seen.add(key)
        fresh.write(self.store)

    def _new(self, key: RowKey, res: MapResult, source_row: Any, modified: str | None,
             parents: dict[str, tuple[bool, bool]], fresh: _Fresh) -> None:
        """A row never seen: nothing of its base is in the outbox, the ledger or the dead
        letters, so staging it is writing it (and its outbox rows and waits) once; the
        writes of a page's new rows go in a few statements (`fresh`)."""
        if not isinstance(res, Mapped):
            self._new_other(key, res, source_row, modified)
            return
        waits: list[tuple[str, bool]] = []
        queued = 0
        parts = [(p.suffix, dict(p.payload)) for p in res.parts]
        for suffix, payload in parts:
            eff, part_waits, verdict = effective(self.store, res.entity, payload, strict=False,
                                                 known=parents)
            waits.extend(part_waits)
            if verdict is Verdict.BLOCKED:
                continue
            ref = compose(res.base_ref, 1, suffix)
            eff["external_ref"] = ref
            text = canonical(eff)
            fresh.outbox.append(OutboxRow(ref, res.base_ref, key, "upsert", text,
                                          text_hash(text)))
            parents[ref] = (False, True)
            queued += 1
        blocked = any(required for _, required in waits)
        status = "pending" if queued else ("blocked" if blocked else "synced")
        fresh.rows.append(NewRow(key, res.base_ref, status, parts,
                                 [w.to_json() for w in res.warnings], source_row, modified))
        if waits:
            fresh.waits.extend((key, parent, required) for parent, required in waits)

    def _new_other(self, key: RowKey, res: MapResult, source_row: Any,
                   modified: str | None) -> None:
        if isinstance(res, Quarantined):
            self.store.put_row(key, base_ref=res.base_ref, state="quarantined", generation=1,
                               reasons=[r.to_json() for r in res.reasons],
                               warnings=[w.to_json() for w in res.warnings],
                               source_row=source_row, modified=modified, status="quarantined")
            self.store.audit([Entry("quarantine", {
                "reasons": [{"field": r.field, "code": r.code} for r in res.reasons]},
                ref=res.base_ref)])
        elif isinstance(res, Skipped):
            self.store.put_row(key, base_ref=res.base_ref, state="skipped", generation=1,
                               why=res.why, source_row=source_row, modified=modified,
                               status="skipped")
        elif isinstance(res, Deferred):
            until = (res.until.astimezone(UTC).isoformat(timespec="microseconds")
                     if res.until else None)
            self.store.put_row(key, base_ref=res.base_ref, state="deferred", generation=1,
                               why=res.detail or "not yet eligible", source_row=source_row,
                               not_before=until, modified=modified, status="skipped")

    def stage(self, source: str, result: MapResult, source_row: Any = None,
              modified: str | None = None, *, force: bool = False) -> None:
        key: RowKey = (source, result.entity, result.local_id)
        dropped = self.store.dropped_source_row(key)
        if dropped is not None and not force and dropped == source_text(source_row):
            return  # an admin dropped this version; it comes back only when it changes
        if isinstance(result, Mapped):
            self._mapped(key, result, source_row, modified, force)
        elif isinstance(result, Quarantined):
            self._quarantined(key, result, source_row, modified)
        elif isinstance(result, Skipped):
            self._skipped(key, result, source_row, modified)
        elif isinstance(result, Deferred):
            self._deferred(key, result, source_row, modified)
        self.refresh_status(key)

    def _mapped(self, key: RowKey, res: Mapped, source_row: Any, modified: str | None,
                force: bool) -> None:
        prev = self.store.row(key)
        gen = prev.generation if prev else 1
        parts = [(p.suffix, dict(p.payload)) for p in res.parts]
        if res.entity == "service_record":
            while self.store.revoked_refs([compose(res.base_ref, gen, s) for s, _ in parts]):
                gen += 1
        self.store.put_row(key, base_ref=res.base_ref, state="mapped", generation=gen,
                           parts=parts, warnings=[w.to_json() for w in res.warnings],
                           source_row=source_row, modified=modified)
        self.plan(key, force=force)

    def plan(self, key: RowKey, *, force: bool = False) -> None:
        """Bring the outbox in line with the row's stored mapping and the ledger."""
        row = self.store.row(key)
        if row is None or row.state != "mapped":
            return
        wanted = {compose(row.base_ref, row.generation, s): p for s, p in row.parts}
        for ref in self.store.live_refs(row.base_ref):
            if ref not in wanted:
                self._retire(key, row.base_ref, ref, "replaced")
        all_waits: list[tuple[str, bool]] = []
        for ref, payload in wanted.items():
            eff, waits, verdict = effective(self.store, row.entity, payload, strict=False)
            all_waits.extend(waits)
            if verdict is Verdict.BLOCKED:
                self.store.drop_unsent(ref)
                continue
            full = {**eff, "external_ref": ref}
            digest = payload_hash(full)
            ledger = self.store.ledger(ref)
            # another version of this ref in an unacknowledged batch may still land: then
            # the ledger's hash says nothing of what the platform will hold
            settled = not self.store.in_open_batch(ref)
            same = (settled and ledger is not None and ledger.hash == digest
                    and ledger.status != "revoked")
            if force or not (same or (settled and self.store.dead_hash(ref) == digest)):
                self.store.enqueue(ref, row.base_ref, key, "upsert", full, digest, force=force)
            else:
                self.store.drop_unsent(ref)
        self.store.set_waits(key, all_waits)
        self.store.clear_dead_of_base(row.base_ref, keep=set(wanted))

    def _retire(self, key: RowKey, base_ref: str, ref: str, why: str) -> None:
        ledger = self.store.ledger(ref)
        if (ledger and ledger.status in ("synced", "alias")) or self.store.in_open_batch(ref):
            payload = {"external_ref": ref, "reason": REVOKE_REASONS[why]}
            self.store.enqueue(ref, base_ref, key, "revoke", payload, payload_hash(payload))
        else:
            self.store.drop_unsent(ref)
        self.store.clear_dead(ref)

    def _quarantined(self, key: RowKey, res: Quarantined, source_row: Any,
                     modified: str | None) -> None:
        prev = self.store.row(key)
        self.store.put_row(key, base_ref=res.base_ref, state="quarantined",
                           generation=prev.generation if prev else 1,
                           parts=prev.parts if prev else (),
                           reasons=[r.to_json() for r in res.reasons],
                           warnings=[w.to_json() for w in res.warnings],
                           source_row=source_row, modified=modified)
        self._drop_unsent_upserts(res.base_ref)
        self.store.set_waits(key, [])
        if not prev or prev.state != "quarantined" or prev.reasons != [
                r.to_json() for r in res.reasons]:
            self.store.audit([Entry("quarantine", {
                "reasons": [{"field": r.field, "code": r.code} for r in res.reasons]},
                ref=res.base_ref)])

    def _skipped(self, key: RowKey, res: Skipped, source_row: Any, modified: str | None) -> None:
        prev = self.store.row(key)
        self.store.put_row(key, base_ref=res.base_ref, state="skipped",
                           generation=prev.generation if prev else 1,
                           parts=prev.parts if prev else (), why=res.why,
                           source_row=source_row, modified=modified)
        self._drop_unsent_upserts(res.base_ref)
        self.store.set_waits(key, [])
        if res.entity == "service_record":
            for ref in self.store.live_refs(res.base_ref):
                self._retire(key, res.base_ref, ref, res.why if res.why in REVOKE_REASONS
                             else "ineligible")
        self.store.clear_dead_of_base(res.base_ref)

    def _deferred(self, key: RowKey, res: Deferred, source_row: Any,
                  modified: str | None) -> None:
        prev = self.store.row(key)
        until = res.until.astimezone(UTC).isoformat(timespec="microseconds") if res.until else None
        self.store.put_row(key, base_ref=res.base_ref, state="deferred",
                           generation=prev.generation if prev else 1,
                           parts=prev.parts if prev else (), why=res.detail or "not yet eligible",
                           source_row=source_row, not_before=until, modified=modified)
        self._drop_unsent_upserts(res.base_ref)
        self.store.set_waits(key, [])
        if res.entity == "service_record":  # not eligible now: off the platform until it is
            for ref in self.store.live_refs(res.base_ref):
                self._retire(key, res.base_ref, ref, "ineligible")
        self.store.clear_dead_of_base(res.base_ref)

    def _drop_unsent_upserts(self, base_ref: str) -> None:
        for ref in self.store.unsent_for_base(base_ref):
            if self.store.pending_upsert(ref) and not self.store.in_open_batch(ref):
                self.store.drop_unsent(ref)

    def refresh_many(self, keys: Collection[RowKey]) -> None:
        """refresh_status for many rows, with the outbox, dead letters and waits looked
        up once; rows whose status needs the ledger go one by one."""
        brief = self.store.row_brief(keys)
        bases = {base for _, base in brief.values()}
        busy = self.store.bases_in_outbox(bases)
        dead = self.store.bases_with_dead(bases)
        blocked = self.store.blocked_keys([k for k, (st, _) in brief.items() if st == "mapped"])
        statuses: list[tuple[RowKey, str]] = []
        for key in keys:
            state, base = brief.get(key, ("", ""))
            if state == "quarantined":
                statuses.append((key, "quarantined"))
            elif state and base in busy:
                statuses.append((key, "pending"))
            elif state and base in dead:
                statuses.append((key, "dead_lettered"))
            elif state == "mapped":
                statuses.append((key, "blocked" if key in blocked else "synced"))
            else:
                self.refresh_status(key)
        self.store.set_status_many(statuses)

    def refresh_status(self, key: RowKey) -> None:
        self.store.set_status(key, self.status_of(key))

    def status_of(self, key: RowKey) -> str:
        row = self.store.row(key)
        if row is None:
            return "skipped"
        if row.state == "quarantined":
            return "quarantined"
        if self.store.unsent_for_base(row.base_ref) or self.store.live_in_flight(row.base_ref):
            return "pending"
        if self.store.has_dead(row.base_ref):
            return "dead_lettered"
        if row.state == "mapped":
            return "blocked" if self.store.blocked(key) else "synced"
        if any(e.status == "revoked" for e in self.store.ledger_for_base(row.base_ref)):
            return "revoked"
        return "skipped"
