"""`zybridge sync` (one cycle, or a dry run) and `zybridge run` (the daemon)."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from typing import TYPE_CHECKING

from bridge import logs
from bridge.commands.progress import bars
from bridge.commands.render import Sub
from bridge.runtime import load_config

if TYPE_CHECKING:
    from bridge.ops.dryrun import DryItem

ENTITY_CHOICES = ("organization", "volunteer", "project", "service_record")


def register(sub: Sub) -> None:
    s = sub.add_parser("sync", help="one cycle for the named (default: all) sources, then exit",
                       description="Pull what changed, map, stage, push and apply, once.")
    s.add_argument("--source", action="append", default=[], help="a source name (repeatable)")
    s.add_argument("--entity", action="append", default=[], choices=ENTITY_CHOICES,
                   help="limit to an entity (repeatable)")
    s.add_argument("--dry-run", action="store_true",
                   help="map and show what would be sent; send nothing, change nothing")
    s.add_argument("--force", action="store_true",
                   help="pass a safety stop (after reading why) and lift a daemon's pause")
    s.add_argument("--json", action="store_true", help="one JSON object: the run's report "
                   "(with --dry-run: the items that would be sent)")
    s.set_defaults(func=cmd_sync)

    rn = sub.add_parser("run", help="the daemon: every source on its schedule until SIGTERM",
                        description="Runs each source on its `every` or `cron` schedule; "
                                    "SIGTERM/SIGINT finish the batches in flight and exit 0.")
    rn.set_defaults(func=cmd_run)


def cmd_sync(args: argparse.Namespace) -> int:
    from bridge.runtime import open_runtime

    cfg = load_config(args.config)
    for name in args.source:
        cfg.source(name)
    if args.dry_run:
        from bridge.ops.dryrun import dry_run

        _print_dry(dry_run(cfg, args.source or None, args.entity or None), args.json)
        return 0
    with open_runtime(cfg) as rt, bars() as progress:
        rt.engine.progress = progress   # rich bars when stderr is a terminal
        report = rt.engine.cycle(args.source or None, args.entity or None, force=args.force)
        push = report.push.as_dict() if report.push else {}
        if args.json:
            doc = {"ok": report.ok, **report.as_dict(),
                   "failed_sources": {n: logs.scrub(w) for n, w in report.failed.items()}}
            print(json.dumps(doc, ensure_ascii=False, indent=2))
        else:
            print(f"run {report.run_id}: pulled {sum(report.pulled.values())} rows, "
                  f"{push.get('requests', 0)} requests, items {push.get('items', {})}, "
                  f"{report.seconds:.1f} s")
        for name, why in report.failed.items():
            print(f"zybridge: source {name} failed, the others synced: {logs.scrub(why)}",
                  file=sys.stderr)
        if not report.ok and report.failed and push.get("undelivered_batches", 0) == 0:
            return 1
        if not report.ok:
            print(f"zybridge: {push.get('undelivered_batches')} batches undelivered after their "
                  "attempts; they stay in the outbox for the next cycle", file=sys.stderr)
            return 1
    return 0


def _print_dry(items: list[DryItem], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"dry_run": True, "items": [
            {"external_ref": i.ref, "action": i.verb, "changes": i.changes} for i in items]},
            ensure_ascii=False, indent=2))
        return
    for item in items:
        print(f"{item.verb:<7} {item.ref}")
        for line in item.changes:
            print(f"          {line}")
    print(f"{len(items)} item(s) would be sent; nothing was sent")


def cmd_run(args: argparse.Namespace) -> int:
    """The daemon, handed the function that runs the admin requests queued while it holds
    the state file (the daemon itself knows nothing of commands)."""
    from bridge.commands.admin import run_request
    from bridge.config import find_config_path
    from bridge.daemon import Daemon
    from bridge.ops import handoff

    return Daemon(load_config(args.config), requests=partial(handoff.serve, run=run_request),
                  config_path=find_config_path(args.config)).run()
