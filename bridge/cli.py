"""The `zybridge` command line (operator-interface.md). Errors become one clear line and
an exit code; tracebacks only with --debug."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bridge import admin, auditlog, logs, statecmd
from bridge import config as config_mod
from bridge.console import cli as console_cli
from bridge.errors import BridgeError, ConfigError, LockHeld
from bridge.report import print_status, status_document
from mappings.mask import redact

ENTITY_CHOICES = ("organization", "volunteer", "project", "service_record")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zybridge", description=(
        "Sync volunteer-service records from local 志愿云 systems to the national platform."))
    p.add_argument("--config", help="config file (default: $ZYBRIDGE_CONFIG or ./zybridge.toml)")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--no-wait", action="store_true",
                   help="when a daemon runs: hand the command over and return at once")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("sync", help="one cycle for the named (default: all) sources, then exit",
                       description="Pull what changed, map, stage, push and apply, once.")
    s.add_argument("--source", action="append", default=[], help="a source name (repeatable)")
    s.add_argument("--entity", action="append", default=[], choices=ENTITY_CHOICES,
                   help="limit to an entity (repeatable)")
    s.add_argument("--dry-run", action="store_true",
                   help="map and show what would be sent; send nothing, change nothing")
    s.add_argument("--force", action="store_true",
                   help="pass a safety stop (after reading why) and lift a daemon's pause")
    s.set_defaults(func=cmd_sync)

    rn = sub.add_parser("run", help="the daemon: every source on its schedule until SIGTERM",
                        description="Runs each source on its `every` or `cron` schedule; "
                                    "SIGTERM/SIGINT finish the batches in flight and exit 0.")
    rn.set_defaults(func=cmd_run)

    st = sub.add_parser("status", help="per source and entity: cursor, counts, last run",
                        description="Counts per status add up to the source's rows.")
    st.add_argument("--json", action="store_true", help="one JSON object")
    st.set_defaults(func=cmd_status)

    r = sub.add_parser("runs", help="run history", description="The most recent runs first.")
    r.add_argument("--limit", type=int, default=20)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_runs)

    auditlog.register(sub)
    admin.register(sub)
    statecmd.register(sub)
    console_cli.register(sub)

    d = sub.add_parser("demo", help="sample 志愿云 store → sandbox platform, one sync, a summary",
                       description="Builds a sample store, starts the sandbox, syncs twice.")
    d.add_argument("--dir", default="var/demo", help="working folder (default: var/demo)")
    d.add_argument("--volunteers", type=int, default=60)
    d.set_defaults(func=cmd_demo, needs_config=False)

    sb = sub.add_parser("sandbox", help="the national platform sandbox",
                        description="A real HTTP server implementing the national interface.")
    sb.add_argument("args", nargs=argparse.REMAINDER,
                    help="`serve [--host] [--port] [--apps FILE] [--db FILE] …`")
    sb.set_defaults(func=cmd_sandbox, needs_config=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The command line, creating every file 0600 (umask 077, issue 18); the caller's
    umask is given back at the end (tests and embedders call this in-process)."""
    previous = os.umask(0o077)
    os.umask(previous | 0o077)
    try:
        return _main(argv)
    finally:
        os.umask(previous)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        try:
            return func(args)
        except LockHeld as held:
            from bridge import handoff

            if not handoff.handed(args):
                raise
            cfg = load_config(args)
            return handoff.submit(cfg, list(argv if argv is not None else sys.argv[1:]), held,
                                  wait=not args.no_wait)
    except BridgeError as exc:
        if args.debug:
            raise
        print(f"zybridge: error: {logs.scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("zybridge: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"zybridge: unexpected error: {type(exc).__name__}: {redact(str(exc))} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1


def load_config(args: argparse.Namespace) -> config_mod.Config:
    cfg = config_mod.load(config_mod.find_config_path(args.config))
    try:
        logs.setup(cfg.log.path, cfg.log.level, max_bytes=cfg.log.max_bytes,
                   backups=cfg.log.backups)
    except OSError as exc:
        raise ConfigError(f"log.path: cannot write {cfg.log.path}: {exc.strerror or exc}; "
                          "give a writable file, or \"-\" for stderr") from exc
    return cfg


def cmd_sync(args: argparse.Namespace) -> int:
    from bridge.runtime import open_runtime

    cfg = load_config(args)
    for name in args.source:
        cfg.source(name)
    if args.dry_run:
        from bridge.dryrun import dry_run

        return dry_run(cfg, args.source or None, args.entity or None)
    with open_runtime(cfg) as rt:
        report = rt.engine.cycle(args.source or None, args.entity or None, force=args.force)
        push = report.push.as_dict() if report.push else {}
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


def cmd_run(args: argparse.Namespace) -> int:
    from bridge.daemon import Daemon

    return Daemon(load_config(args)).run()


def cmd_status(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    doc = status_document(cfg)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        print_status(doc)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from state.store import StateStore

    cfg = load_config(args)
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


def cmd_demo(args: argparse.Namespace) -> int:
    from bridge.demo import run_demo

    return run_demo(Path(args.dir), volunteers=args.volunteers)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bridge.sandbox.cli import main as sandbox_main

    rest: list[str] = list(args.args)
    if not rest:
        raise ConfigError("usage: zybridge sandbox serve [--host H] [--port P] [--apps FILE] …")
    return sandbox_main(rest)


