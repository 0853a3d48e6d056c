"""What `zybridge status` shows: counts per source, entity and status (invariant 1)."""

from __future__ import annotations

from typing import Any

from adapters.base import ENTITIES
from bridge import safety
from bridge.config import Config
from state.lock import holder
from state.store import StateStore

STATUSES = ("synced", "revoked", "pending", "blocked", "skipped", "quarantined",
            "dead_lettered")


def status_document(cfg: Config) -> dict[str, Any]:
    exists = cfg.state.path.exists()
    store = StateStore.open(cfg.state.path, readonly=True) if exists else None
    try:
        counts = store.status_counts() if store else {}
        stopped = safety.paused(store) if store else {}
        sources: dict[str, Any] = {}
        for src in cfg.sources:
            entities = {}
            for entity in ENTITIES:
                found = counts.get(src.name, {}).get(entity, {})
                entities[entity] = {s: int(found.get(s, 0)) for s in STATUSES}
            sources[src.name] = {"cursor": store.cursors(src.name) if store else {},
                                 "entities": entities,
                                 "paused": stopped.get(src.name)}
        items, batches = store.outbox_depth() if store else (0, 0)
        runs = store.runs(1) if store else []
        daemon = store.daemon() if store else None
    finally:
        if store:
            store.close()
    pid = holder(cfg.state.path)
    return {"sources": sources,
            "outbox": {"pending_items": items, "pending_batches": batches},
            "last_run": runs[0] if runs else None,
            "lock": {"held": pid is not None, "pid": pid},
            "daemon": daemon_row(daemon, pid)}


def daemon_row(row: dict[str, Any] | None, holder_pid: int | None) -> dict[str, Any] | None:
    if row is None:
        return None
    running = row["pid"] == holder_pid and row["stopped_at"] is None
    return {"running": running, "pid": row["pid"], "started_at": row["started_at"],
            "heartbeat_at": row["heartbeat_at"], "stopped_at": row["stopped_at"],
            "next_runs": row["jobs"] if running else {}}
