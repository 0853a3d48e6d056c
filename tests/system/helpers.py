"""Shared pieces of the system tests: config for a sandbox, cycles, the invariant oracle."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge import config as config_mod
from bridge.runtime import open_runtime
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.sync import CycleReport
from bridge.testing.harness import SandboxProcess

SOURCE_TABLES = {"organization": "zyy_team", "volunteer": "zyy_volunteer",
                 "project": "zyy_activity", "service_record": "zyy_service_time"}
PLATFORM = {"organization": "organizations", "volunteer": "volunteers",
            "project": "projects", "service_record": "service-records"}
ENV = {"ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET}


def make_config(tmp_path: Path, sandbox: SandboxProcess, store: Path,
                **national: Any) -> config_mod.Config:
    raw = {
        "state": {"path": str(tmp_path / "state.db")},
        "log": {"path": str(tmp_path / "bridge.jsonl"), "level": "debug"},
        "national": {"base_url": sandbox.base_url, "app_id": DEMO_APP_ID,
                     "app_secret": "${ZYBRIDGE_APP_SECRET}", "jurisdiction": "3502",
                     "rate_per_s": 500.0, "retry_base_s": 0.05, "retry_cap_s": 0.5,
                     "timeout_s": 5.0, **national},
        "sources": [{"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}",
                     "mapping": "zhiyuanyun", "every": "5m", "lookback_s": 600,
                     "page_size": 50}],
    }
    return config_mod.parse(raw, tmp_path, ENV)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def write_config(path: Path, national: Mapping[str, Any],
                 sources: Sequence[Mapping[str, Any]], *, state: str = "state.db",
                 log: Mapping[str, Any] | None = None,
                 **tables: Mapping[str, Any]) -> Path:
    """A zybridge.toml at `path` (the one writer the system tests share): [state],
    [log] when given, [national], the other tables, then one [[sources]] each."""
    doc: dict[str, Mapping[str, Any]] = {"state": {"path": state}}
    if log is not None:
        doc["log"] = log
    doc = {**doc, "national": national, **tables}
    lines = []
    for name, table in doc.items():
        lines += [f"[{name}]", *(f"{k} = {toml_value(v)}" for k, v in table.items())]
    for source in sources:
        lines += ["[[sources]]", *(f"{k} = {toml_value(v)}" for k, v in source.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cycle(cfg: config_mod.Config) -> CycleReport:
    with open_runtime(cfg) as rt:
        return rt.engine.cycle()


def state_rows(cfg: config_mod.Config) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{cfg.state.path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM rows")]
    finally:
        conn.close()


def ledger(cfg: config_mod.Config) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(f"file:{cfg.state.path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return {r["ref"]: dict(r) for r in conn.execute("SELECT * FROM ledger")}
    finally:
        conn.close()


def source_counts(store: Path) -> Counter[str]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return Counter({entity: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                        for entity, table in SOURCE_TABLES.items()})
    finally:
        conn.close()


def platform_by_ref(sandbox: SandboxProcess) -> dict[str, dict[str, Any]]:
    """Every external_ref the platform knows → its record (aliases included)."""
    out: dict[str, dict[str, Any]] = {}
    for entity, path in PLATFORM.items():
        for record in sandbox.records(path):
            for ref in record["external_refs"]:
                assert ref not in out, f"{ref} is held twice on the platform"
                out[ref] = {**record, "_entity": entity}
    return out


def check_invariants(cfg: config_mod.Config, sandbox: SandboxProcess, store: Path,
                     source: str = "haicang") -> None:
    """DESIGN.md invariants 1 and 2, judged against the sandbox's own records."""
    rows = [r for r in state_rows(cfg) if r["source"] == source]
    per_entity = Counter(r["entity"] for r in rows)
    assert per_entity == source_counts(store), "every source row has exactly one status"
    held = platform_by_ref(sandbox)
    book = ledger(cfg)
    for r in rows:
        refs = [ref for ref in book if book[ref]["base_ref"] == r["base_ref"]]
        live = [ref for ref in refs if ref in held and not held[ref].get("revoked")]
        if r["status"] == "synced":
            assert live, f"{r['base_ref']} is synced but the platform holds no live record"
            for ref in live:
                assert book[ref]["status"] in ("synced", "alias"), ref
                assert held[ref]["national_id"] == book[ref]["national_id"], ref
        if r["status"] in ("quarantined", "skipped"):
            assert not any(ref in held and not held[ref].get("revoked") for ref in refs
                           if book[ref]["status"] != "synced"), r["base_ref"]
        if r["status"] == "revoked":
            assert not live, f"{r['base_ref']} is revoked but still live: {live}"
    live_by_base: dict[str, set[str]] = {}
    for ref, v in held.items():
        if v["_entity"] == "service_record" and not v.get("revoked"):
            live_by_base.setdefault(_base(ref), set()).add(_gen(ref))
    for base, gens in live_by_base.items():
        assert len(gens) == 1, f"{base} is live under two generations: {sorted(gens)}"
    known = {r["base_ref"] for r in rows}
    strays = [base for base in live_by_base
              if base.startswith(f"{source}:") and base not in known]
    assert not strays, f"the platform holds live records no source row accounts for: {strays[:5]}"


def _base(ref: str) -> str:
    parts = ref.split(":")
    return ":".join([*parts[:2], parts[2].split(".")[0]])


def _gen(ref: str) -> str:
    tail = ref.split(":")[2].split(".")[1:]
    return next((t for t in tail if t.startswith("g")), "g1")
