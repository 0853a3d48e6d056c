"""`zybridge status` (per source and entity: counts, outbox, last run, daemon, lock) and
`zybridge runs` (the run history)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bridge.commands.render import Sub, local_time, table
from bridge.ops.status import STATUSES, status_document
from bridge.runtime import load_config


def register(sub: Sub) -> None:
    st = sub.add_parser("status", help="per source and entity: cursor, counts, last run",
                        description="Counts per status add up to the source's rows.")
    st.add_argument("--json", action="store_true", help="one JSON object")
    st.set_defaults(func=cmd_status)

    r = sub.add_parser("runs", help="run history", description="The most recent runs first.")
    r.add_argument("--limit", type=int, default=20, help="how many runs (default: 20)")
    r.add_argument("--json", action="store_true", help="a JSON array, as the state file "
                   "keeps each run (its statistics included)")
    r.set_defaults(func=cmd_runs)


def cmd_status(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    doc = status_document(cfg)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        print_status(doc)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from state.store import StateStore

    cfg = load_config(args.config)
    store = StateStore.open(cfg.state.path, readonly=True)
    try:
        runs = store.runs(args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps(runs, ensure_ascii=False, indent=2))
        return 0
    print_runs(runs)
    return 0


RUN_COUNTS = ("pulled", "sent", "rejected", "quarantined")


def print_runs(runs: list[dict[str, Any]]) -> None:
    """One aligned line per run: when, how long, and what it moved."""
    rows = [[str(r["id"]), r["kind"], r["status"], local_time(r["started_at"]),
             _took(r["started_at"], r["finished_at"]),
             *(str(n) for n in run_counts(r["stats"])), ",".join(r["sources"])]
            for r in runs]
    aligned(["id", "kind", "status", "started", "took", *RUN_COUNTS, "sources"], rows,
            right=(0, 4, 5, 6, 7, 8))


def aligned(headers: list[str], rows: list[list[str]], right: Sequence[int]) -> None:
    """render.table with the columns `right` (numbers) right-aligned, header included."""
    for col in right:
        width = max(len(line[col]) for line in [headers, *rows])
        for line in (headers, *rows):
            line[col] = line[col].rjust(width)
    table(headers, rows)


def run_counts(stats: dict[str, Any] | None) -> tuple[int, int, int, int]:
    """(pulled, sent, rejected, quarantined) of a run's statistics: a sync's rows pulled
    or a resync's rows read; the items the platform answered; those it refused; the rows
    our mapping refused."""
    stats = stats or {}
    pulled = stats.get("pulled")
    read = sum(pulled.values()) if isinstance(pulled, dict) else int(stats.get("rows") or 0)
    items: dict[str, int] = (stats.get("push") or {}).get("items") or {}
    outcomes: dict[str, int] = stats.get("outcomes") or {}
    return (read, sum(items.values()), int(items.get("rejected", 0)),
            int(outcomes.get("quarantined", 0)))


def _took(started: str | None, finished: str | None) -> str:
    """A run's duration as `0.7s`, `2m05s` or `1h02m`; `running` while it runs."""
    if not started or not finished:
        return "running"
    seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes}m{sec:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def print_status(doc: dict[str, Any]) -> None:
    rows = [[name, entity, *(str(counts[s]) for s in STATUSES), ""]
            for name, src in doc["sources"].items()
            for entity, counts in src["entities"].items()]
    aligned(["source", "entity", *STATUSES, ""], rows, right=range(2, 2 + len(STATUSES)))
    for name, src in doc["sources"].items():
        if src.get("paused"):
            print(f"\n{name} is PAUSED by a safety stop: {src['paused']}")
    out = doc["outbox"]
    print(f"\noutbox: {out['pending_items']} items, {out['pending_batches']} open batches")
    run = doc["last_run"]
    if run:
        print(f"last run: #{run['id']} {run['kind']} {run['status']} "
              f"started {local_time(run['started_at'])} "
              f"finished {local_time(run['finished_at'])}")
    daemon = doc.get("daemon")
    if daemon and daemon["running"]:
        print(f"daemon: pid {daemon['pid']}, started {local_time(daemon['started_at'])}")
        for job, when in sorted(daemon["next_runs"].items()):
            print(f"  next {job}: {local_time(when)}")
    lock = doc["lock"]
    print(f"lock: held by pid {lock['pid']}" if lock["held"] else "lock: free")
