"""A stricter oracle on top of helpers.check_invariants, judged against the sandbox's own
records: no person twice, no pending work after a clean cycle, and every synced row's
platform record equal to what the mapping makes of the source row *now* (a lost update
is a lost row)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.sql import open_sql_source
from bridge import config as config_mod
from bridge.refs import REF_FIELDS, compose
from bridge.testing.harness import SandboxProcess
from mappings import get as get_mapping
from mappings.result import MapContext, Mapped
from tests.system.helpers import check_invariants, ledger, platform_by_ref, state_rows

SKIP_FIELDS = {"external_ref", "national_id", "version", "updated_at", "external_refs",
               "refs", "revoked", "revoke_reason", "_entity"}


def check_no_duplicates(sandbox: SandboxProcess) -> dict[str, dict[str, Any]]:
    """Invariant 2 on the platform alone: one record per ref, one live volunteer per
    person, one live generation per service record."""
    held = platform_by_ref(sandbox)  # asserts no ref is held twice
    people = Counter((v["id_type"], v["id_number"]) for v in sandbox.records("volunteers")
                     if not v.get("revoked"))
    twice = [n for n in people.values() if n > 1]
    assert not twice, f"{len(twice)} people are held as two national volunteers"
    live: dict[str, set[str]] = {}
    for ref, rec in held.items():
        if rec["_entity"] == "service_record" and not rec.get("revoked"):
            base, _, tail = ref.partition(".")
            gen = next((t for t in tail.split(".") if t.startswith("g")), "g1")
            live.setdefault(base, set()).add(gen)
    doubled = {b: g for b, g in live.items() if len(g) > 1}
    assert not doubled, f"service records live under two generations: {doubled}"
    return held


def check_converged(cfg: config_mod.Config, sandbox: SandboxProcess, store: Path) -> None:
    """After a clean, complete cycle: invariants 1-2, nothing pending, content current."""
    check_invariants(cfg, sandbox, store)
    held = check_no_duplicates(sandbox)
    rows = state_rows(cfg)
    pending = [r["base_ref"] for r in rows if r["status"] == "pending"]
    assert not pending, f"rows still pending after a clean cycle: {pending[:5]}"
    check_content(cfg, store, rows, held)


def check_content(cfg: config_mod.Config, store: Path, rows: list[dict[str, Any]],
                  held: dict[str, dict[str, Any]]) -> None:
    src = cfg.sources[0]
    mapping = get_mapping(src.mapping)
    ctx = MapContext(source=src.name, now=datetime.now(UTC),
                     jurisdiction=cfg.national.jurisdiction)
    book = ledger(cfg)
    adapter = open_sql_source(f"sqlite:///{store}", store.parent, mapping=src.mapping)
    try:
        for entity in REF_FIELDS:
            synced = {r["local_id"]: r for r in rows
                      if r["entity"] == entity and r["status"] == "synced"}
            for row in adapter.read_by_ids(entity, list(synced)):
                result = mapping.map_row(row, ctx)
                assert isinstance(result, Mapped), f"{result.base_ref} is synced but maps to " \
                    f"{type(result).__name__}"
                state = synced[row.local_id]
                for part in result.parts:
                    ref = compose(result.base_ref, int(state["generation"]), part.suffix)
                    if book.get(ref, {}).get("status") != "synced":
                        continue  # an alias, or a 0.00-hour part that is not sent
                    _same_content(ref, entity, dict(part.payload), held[ref], book)
    finally:
        adapter.close()


def _same_content(ref: str, entity: str, payload: dict[str, Any], record: dict[str, Any],
                  book: dict[str, dict[str, Any]]) -> None:
    assert not record.get("revoked"), f"{ref} is synced but revoked on the platform"
    if len(record["external_refs"]) > 1:
        return  # one person, several local rows (aliases): the last upsert wins by design
    refs = dict(REF_FIELDS[entity])
    for field, value in payload.items():
        if field in SKIP_FIELDS or field in refs:
            continue
        assert same_value(record.get(field), value), \
            f"{ref}.{field}: the platform holds a stale value"
    for field, required in refs.items():
        parent = payload.get(field)
        if required and isinstance(parent, str):
            want = book.get(parent, {}).get("national_id")
            have = record.get(field.replace("_external_ref", "_national_id"))
            assert have == want, f"{ref}.{field}: the platform names another parent"


def same_value(a: object, b: object) -> bool:
    """Equal as the platform compares: datetimes as instants, lists as sets, numbers by
    value."""
    if isinstance(a, str) and isinstance(b, str) and "T" in a and "T" in b:
        try:
            return datetime.fromisoformat(a) == datetime.fromisoformat(b)
        except ValueError:
            return a == b
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(a - b) < 1e-9
    return a == b


def state_intact(cfg: config_mod.Config) -> None:
    """The state file passes SQLite's own check (nothing half-written after a kill)."""
    if not cfg.state.path.exists():
        return
    conn = sqlite3.connect(f"file:{cfg.state.path}?mode=ro", uri=True)
    try:
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc):
                raise
            # killed while writing the WAL index: a read-only connection cannot rebuild
            # it; the next writer (as the next bridge start) recovers it, then checks
            conn.close()
            conn = sqlite3.connect(cfg.state.path)
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        assert verdict == "ok"
    finally:
        conn.close()
