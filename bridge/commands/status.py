"""`zybridge status` (per source and entity: counts, outbox, last run, daemon, lock) and
`zybridge runs` (the run history)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bridge.commands.render import Sub
from bridge.ops.status import STATUSES, status_document
from bridge.runtime import load_config


def register(sub: Sub) -> None:
    st = sub.add_parser("status", help="per source and entity: cursor, counts, last run",
                        description="Counts per status add up to the source's rows.")
    st.add_argument("--json", action="store_true", help="one JSON object")
    st.set_defaults(func=cmd_status)

    r = sub.add_parser("runs", help="run history", description="The most recent runs first.")
    r.add_argument("--limit", type=int, default=20)
    r.add_argument("--json", action="store_true")
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
    print(f"{'id':>5}  {'kind':<8} {'status':<12} {'started':<27} sources")
    for r in runs:
        print(f"{r['id']:>5}  {r['kind']:<8} {r['status']:<12} {r['started_at']:<27} "
              f"{','.join(r['sources'])}")
    return 0


def print_status(doc: dict[str, Any]) -> None:
    header = f"{'source':<12} {'entity':<15}" + "".join(f"{s:>14}" for s in STATUSES)
    print(header)
    for name, src in doc["sources"].items():
        for entity, counts in src["entities"].items():
            print(f"{name:<12} {entity:<15}" + "".join(f"{counts[s]:>14}" for s in STATUSES))
    for name, src in doc["sources"].items():
        if src.get("paused"):
            print(f"\n{name} is PAUSED by a safety stop: {src['paused']}")
    out = doc["outbox"]
    print(f"\noutbox: {out['pending_items']} items, {out['pending_batches']} open batches")
    run = doc["last_run"]
    if run:
        print(f"last run: #{run['id']} {run['kind']} {run['status']} "
              f"started {run['started_at']} finished {run['finished_at'] or '-'}")
    daemon = doc.get("daemon")
    if daemon and daemon["running"]:
        print(f"daemon: pid {daemon['pid']}, started {daemon['started_at']}")
        for job, when in sorted(daemon["next_runs"].items()):
            print(f"  next {job}: {when}")
    lock = doc["lock"]
    print(f"lock: held by pid {lock['pid']}" if lock["held"] else "lock: free")
