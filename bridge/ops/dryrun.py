"""`zybridge sync --dry-run`: map and stage on a throw-away copy of the state file, then
say what would be sent and the field-level diff against what the ledger says the
platform holds. Nothing is sent; the real state file is only read."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.config import Config
from mappings.mask import mask_field
from state import db
from state.store import StateStore


@dataclass(frozen=True)
class DryItem:
    """One item a sync would send: create, update or revoke, and the masked field diff."""
    verb: str
    ref: str
    changes: list[str]


def dry_run(cfg: Config, sources: Sequence[str] | None,
            entities: Sequence[str] | None) -> list[DryItem]:
    from bridge.runtime import open_adapter
    from bridge.sync import CycleReport, SyncEngine

    with tempfile.TemporaryDirectory(prefix="zybridge-dry-") as tmp:
        copy = Path(tmp) / "state.db"
        copy_state(cfg.state.path, copy)
        store = StateStore.open(copy)
        adapters = {s.name: open_adapter(cfg, s) for s in cfg.sources}
        try:
            engine = SyncEngine(cfg, store, None, adapters)
            report = CycleReport()
            for name in sources or [s.name for s in cfg.sources]:
                engine.pull(cfg.source(name), entities, report)
            return _plan(store)
        finally:
            store.close()
            for a in adapters.values():
                a.close()


def copy_state(src: Path, dst: Path) -> None:
    """A consistent copy of the state file (SQLite's online backup), if it exists."""
    if not src.exists():
        return
    source = db.connect(src, readonly=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _plan(store: StateStore) -> list[DryItem]:
    items = []
    for ref, op, payload_text, _ in store.outbox_rows():
        payload: dict[str, Any] = json.loads(payload_text)
        ledger = store.ledger(ref)
        old = ledger.payload if ledger and ledger.payload else None
        verb = "revoke" if op == "revoke" else ("update" if old else "create")
        items.append(DryItem(verb, ref, diff(old or {}, payload) if op == "upsert" else []))
    return items


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    for key in sorted(set(old) | set(new)):
        if key == "external_ref" or old.get(key) == new.get(key):
            continue
        lines.append(f"{key}: {_show(key, old.get(key))} → {_show(key, new.get(key))}")
    return lines


def _show(key: str, value: Any) -> str:
    """A payload value as the diff shows it: masked unless its field is on the allow-list
    of non-personal fields (mappings/mask.py)."""
    if value is None:
        return "∅"
    shown = mask_field(key, value)
    return json.dumps(shown, ensure_ascii=False) if isinstance(shown, list | dict) else str(shown)
