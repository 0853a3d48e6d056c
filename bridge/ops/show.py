"""One quarantined row or dead letter as `quarantine show` / `dead-letters show` give it:
its masked source row and payloads, reasons, what the platform holds, its audit history."""

from __future__ import annotations

from typing import Any

from bridge.errors import ConfigError
from bridge.ops.audit import Filter, select, summary
from mappings.mask import mask_field
from state.admin import AdminQueries
from state.store import RowKey


def masked(value: Any) -> Any:
    """A source row or payload fit to show: each field on the allow-list of non-personal
    fields as it is (free text redacted), every other one masked (mappings/mask.py)."""
    return mask_field("", value)


def show_document(q: AdminQueries, key: RowKey | None, ref: str, kind: str) -> dict[str, Any]:
    """One record as `quarantine show` / `dead-letters show` print it, masked."""
    key = key or q.resolve(ref)
    detail = q.detail(key) if key else None
    if key is None or detail is None:
        raise ConfigError(f"no record {ref} in the state file (see `zybridge {kind} list`)")
    dead = [q.dead_letter(r) or {} for r in q.dead_refs_of(key)]
    history = select(q.conn, Filter(ref=detail.base_ref))
    return {
        "external_ref": detail.base_ref, "source": key[0], "entity": key[1],
        "local_id": key[2], "state": detail.state, "status": detail.status,
        "why": detail.why, "reasons": detail.reasons, "warnings": detail.warnings,
        "first_seen": detail.first_seen, "last_seen": detail.last_seen,
        "modified": detail.modified, "source_row": masked(detail.source_row),
        "payloads": [{"suffix": s, "payload": masked(p)} for s, p in detail.parts],
        "dead_letters": [{"external_ref": d.get("ref"), "op": d.get("op"),
                          "errors": d.get("errors"), "times": d.get("times"),
                          "first_seen": d.get("first_seen"), "last_seen": d.get("last_seen"),
                          "payload": masked(d.get("payload"))} for d in dead],
        "ledger": [{"external_ref": e.ref, "national_id": e.national_id, "status": e.status}
                   for e in q.store.ledger_for_base(detail.base_ref)],
        "history": [{"seq": r.seq, "at": r.at, "run_id": r.run_id, "kind": r.kind,
                     "ref": r.ref, "what": summary(r)} for r in history],
    }
