"""The admin commands of `zybridge` (operator-interface.md; docs/admin.md): `resync`,
`quarantine list|show|retry|drop`, `dead-letters list|show|retry|drop` and `check`.

Everything shown is masked (ID numbers, phones, names); `--json` prints one document a
script may read; errors are one line and an exit code (bridge/cli.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from bridge.commands import check
from bridge.commands.adminout import (
    PER_ROW_UP_TO,
    print_dry,
    print_report,
    print_show,
    progress_bar,
)
from bridge.commands.render import Sub, codes, local_time, scrub, table
from bridge.config import Config
from bridge.errors import ConfigError
from bridge.ops import handoff
from bridge.ops.show import show_document
from bridge.runtime import Runtime, load_config
from state.admin import AdminQueries
from state.store import RowKey, StateStore

if TYPE_CHECKING:  # the operations import the engine: only when a command runs
    pass

ENTITY_CHOICES = ("organization", "volunteer", "project", "service_record")
CONFIRM_OVER = 100
KINDS = {"quarantine": "quarantined rows", "dead-letters": "dead letters"}


def register(subparsers: Sub) -> None:
    """Add `resync`, `quarantine …`, `dead-letters …` and `check` to the parser."""
    _resync_parser(subparsers)
    for kind in KINDS:
        _problem_parser(subparsers, kind)
    check.register(subparsers)


def _resync_parser(subparsers: Sub) -> None:
    r = subparsers.add_parser(
        "resync", help="re-read and re-push a selection whether or not it changed",
        description="Re-reads what it names from the source and re-pushes it even when its "
        "hash is unchanged; the live cursor never moves. A full read (no --id, no --since) "
        "stops (exit 3) when the source shows fewer rows than safety.min_read_share of the "
        "platform's live records; --force passes that stop.")
    r.add_argument("--source", required=True, help="the source name")
    r.add_argument("--entity", choices=ENTITY_CHOICES, help="one entity (needed with --id)")
    r.add_argument("--id", action="append", default=[], metavar="LOCAL_ID",
                   help="a local id (repeatable)")
    r.add_argument("--since", metavar="DATE", help="rows changed at or after DATE "
                   "(a date or ISO-8601 time, +08:00 unless it says otherwise)")
    r.add_argument("--with-children", action="store_true",
                   help="also what depends on it: a project's service records, an "
                   "organization's projects, a volunteer's records")
    r.add_argument("--dry-run", action="store_true",
                   help="map and print what would be sent and its diff; send nothing")
    r.add_argument("--yes", action="store_true",
                   help=f"do not ask before resyncing more than {CONFIRM_OVER} rows")
    r.add_argument("--force", action="store_true", help="pass the read-share safety stop")
    r.add_argument("--json", action="store_true", help="one JSON object")
    _verbose(r)
    _no_wait(r)
    r.set_defaults(func=cmd_resync)


def _problem_parser(subparsers: Sub, kind: str) -> None:
    what = KINDS[kind]
    refused = "our mapping refused" if kind == "quarantine" else "the platform rejected"
    p = subparsers.add_parser(kind, help=f"{what}: records {refused}, with reasons",
                              description=f"List, show, retry or drop {what}.")
    sub = p.add_subparsers(dest=f"{kind.replace('-', '_')}_command", metavar="ACTION",
                           required=True)
    ls = sub.add_parser("list", help=f"the {what}, filtered",
                        description=f"Every {what[:-1]} with its reasons, oldest id first.")
    _filters(ls)
    ls.add_argument("--code", help="only those with this reason code")
    ls.add_argument("--json", action="store_true", help="a JSON array")
    ls.set_defaults(func=cmd_list, kind=kind)
    sh = sub.add_parser("show", help="one record: masked source row, payload, reasons, "
                        "history", description="The masked source row, the mapped payload, "
                        "every reason and the record's audit history.")
    sh.add_argument("ref", metavar="REF", help="an external_ref")
    sh.add_argument("--json", action="store_true", help="one JSON object")
    sh.set_defaults(func=cmd_show, kind=kind)
    rt = sub.add_parser("retry", help="re-map from the current source row, then push",
                        description="Reads each row from its source again, maps it with the "
                        "current mapping and pushes what maps. After a mapping fix, "
                        "`retry --all` clears what the fix fixed.")
    rt.add_argument("refs", nargs="*", metavar="REF", help="external_refs")
    rt.add_argument("--all", action="store_true", help=f"every one of the {what}")
    _filters(rt)
    rt.add_argument("--yes", action="store_true",
                    help=f"do not ask before retrying more than {CONFIRM_OVER} records")
    rt.add_argument("--json", action="store_true", help="one JSON object")
    _verbose(rt)
    _no_wait(rt)
    rt.set_defaults(func=cmd_retry, kind=kind)
    dr = sub.add_parser("drop", help="give up on records (needs --yes; audited)",
                        description="Removes them from the list: the row counts as skipped "
                        "(dropped) until its source changes it. What the platform holds is "
                        "left as it is. Recorded in the audit log with your user name.")
    dr.add_argument("refs", nargs="+", metavar="REF", help="external_refs")
    dr.add_argument("--yes", action="store_true", help="really drop them")
    _no_wait(dr)
    dr.set_defaults(func=cmd_drop, kind=kind)


def _verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", "-v", action="store_true",
                   help=f"one line per row even above {PER_ROW_UP_TO} rows (otherwise: "
                   "counts per status)")


def _no_wait(p: argparse.ArgumentParser) -> None:
    """`--no-wait` after the command as well as before it (operator-interface.md "Also");
    SUPPRESS keeps the root parser's value when it is given before."""
    p.add_argument("--no-wait", action="store_true", default=argparse.SUPPRESS,
                   help="when a daemon runs: hand the command over and return at once")


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="only this source")
    p.add_argument("--entity", choices=ENTITY_CHOICES, help="only this entity")


# resync -----------------------------------------------------------------------------------
def cmd_resync(args: argparse.Namespace, daemon: Runtime | None = None) -> int:
    from bridge.ops.resync import Selection, dry_resync, estimate, parse_since, resync

    cfg = _config(args, daemon)
    cfg.source(args.source)
    sel = Selection(args.source, args.entity, tuple(args.id),
                    parse_since(args.since) if args.since else None, args.with_children)
    if args.dry_run:
        staged, plan, rows = dry_resync(cfg, sel, force=args.force)
        print_dry(staged, plan, rows, args.json)
        return 0
    with handoff.admin_runtime(cfg, daemon) as rt:
        total = estimate(rt.store, sel)
        _confirm(total, f"resync about {total} rows of {sel.source}", args.yes)
        with progress_bar(total, "resync", None if daemon else rt.engine) as advance:
            report = resync(rt, sel, vars(args), force=args.force, progress=advance)
    return print_report(report, "resynced", args.json, getattr(args, "verbose", False))


def _confirm(total: int, what: str, yes: bool) -> None:
    if yes or total <= CONFIRM_OVER:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"{what}: more than {CONFIRM_OVER} rows; pass --yes to go ahead")
    answer = input(f"{what}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise ConfigError("stopped: nothing was sent")


# quarantine and dead letters --------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    store = _readonly(args)
    try:
        q = AdminQueries(store)
        fetch = q.quarantined if args.kind == "quarantine" else q.dead_letters
        found = [p for p in fetch(args.source, args.entity)
                 if not args.code or any(r["code"] == args.code for r in p.reasons)]
    finally:
        store.close()
    if args.json:
        print(json.dumps([_masked_problem(p.to_json()) for p in found], ensure_ascii=False,
                         indent=2))
        return 0
    table(("external_ref", "status", "reasons", "last_seen"),
           [(p.external_ref, p.status, codes(p.reasons), local_time(p.last_seen))
            for p in found])
    print(f"{len(found)} {KINDS[args.kind]}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _readonly(args)
    try:
        key = _target(AdminQueries(store), args.kind, args.ref)
        doc = show_document(AdminQueries(store), key, args.ref, args.kind)
    finally:
        store.close()
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        print_show(doc)
    return 0


def cmd_retry(args: argparse.Namespace, daemon: Runtime | None = None) -> int:
    from bridge.ops.resync import retry

    cfg = _config(args, daemon)
    with handoff.admin_runtime(cfg, daemon) as rt:
        keys = _targets(AdminQueries(rt.store), args)
        if not keys:
            print(f"no {KINDS[args.kind]} to retry")
            return 0
        _confirm(len(keys), f"retry {len(keys)} {KINDS[args.kind]}", args.yes)
        with progress_bar(len(keys), "retry", None if daemon else rt.engine) as advance:
            report = retry(rt, keys, f"{args.kind} retry", vars(args),
                           force=args.kind == "dead-letters", progress=advance)
    return print_report(report, "retried", args.json, getattr(args, "verbose", False))


def cmd_drop(args: argparse.Namespace, daemon: Runtime | None = None) -> int:
    from bridge.ops.resync import drop

    cfg = _config(args, daemon)
    if not args.yes:
        raise ConfigError(f"{args.kind} drop: pass --yes to drop {len(args.refs)} record(s); "
                          "the action is recorded in the audit log")
    store = StateStore.open(cfg.state.path, readonly=True)
    try:
        keys = _targets(AdminQueries(store), args)
    finally:
        store.close()
    drop(cfg, keys, f"{args.kind} drop", vars(args), locked=daemon is not None)
    print(f"dropped {len(keys)} record(s): {', '.join(args.refs)}; recorded in the audit log")
    return 0


def _targets(q: AdminQueries, args: argparse.Namespace) -> list[RowKey]:
    """The rows the REFs (or --all with its filters) name; unknown REFs are an error."""
    refs: list[str] = list(args.refs)
    if getattr(args, "all", False):
        fetch = q.quarantined if args.kind == "quarantine" else q.dead_letters
        refs += [p.external_ref for p in fetch(args.source, args.entity)]
    elif not refs:
        raise ConfigError(f"{args.kind} retry: name REFs or pass --all")
    keys: list[RowKey] = []
    unknown = []
    for ref in dict.fromkeys(refs):
        key = _target(q, args.kind, ref)
        if key is None:
            unknown.append(ref)
        elif key not in keys:
            keys.append(key)
    if unknown:
        raise ConfigError(f"not among the {KINDS[args.kind]}: {', '.join(unknown)} "
                          f"(see `zybridge {args.kind} list`)")
    return keys


def _target(q: AdminQueries, kind: str, ref: str) -> RowKey | None:
    key = q.resolve(ref)
    if key is None:
        return None
    detail = q.detail(key)
    if kind == "quarantine":
        return key if detail is not None and detail.state == "quarantined" else None
    return key if q.dead_refs_of(key) else None


# helpers ----------------------------------------------------------------------------------
def _masked_problem(doc: dict[str, Any]) -> dict[str, Any]:
    doc["reasons"] = [{**r, "message": scrub(r["message"])} for r in doc["reasons"]]
    return doc


def _config(args: argparse.Namespace, daemon: Runtime | None = None) -> Config:
    """The daemon's config when the daemon runs the command, else the command line's."""
    return daemon.cfg if daemon is not None else load_config(args.config)


def _readonly(args: argparse.Namespace) -> StateStore:
    return StateStore.open(_config(args).state.path, readonly=True)


# run by the daemon: the commands handed to it while it holds the state file --------------
HANDED = {"resync": cmd_resync, "quarantine retry": cmd_retry, "quarantine drop": cmd_drop,
          "dead-letters retry": cmd_retry, "dead-letters drop": cmd_drop}


def handed_request(args: argparse.Namespace) -> handoff.Request | None:
    """The request a running daemon runs for this command line, or None (not handed)."""
    action = getattr(args, f"{str(args.command).replace('-', '_')}_command", None)
    kind = str(args.command) if action is None else f"{args.command} {action}"
    if kind not in HANDED:
        return None
    return handoff.Request(kind, {k: v for k, v in vars(args).items() if k != "func"})


def confirm_handed(args: argparse.Namespace) -> None:
    """Ask, before a command is handed to the running daemon, exactly what it asks when it
    runs itself (more than CONFIRM_OVER rows needs --yes or a "y"; a drop always needs
    --yes): a refusal queues nothing. The state file is only read (the daemon holds it)."""
    from bridge.ops.resync import Selection, estimate, parse_since

    kind = str(args.command)
    if kind == "resync" and args.dry_run:
        return
    cfg = load_config(args.config)
    store = StateStore.open(cfg.state.path, readonly=True)
    try:
        if kind == "resync":
            cfg.source(args.source)
            sel = Selection(args.source, args.entity, tuple(args.id),
                            parse_since(args.since) if args.since else None,
                            args.with_children)
            total = estimate(store, sel)
            _confirm(total, f"resync about {total} rows of {sel.source}", args.yes)
        elif getattr(args, f"{kind.replace('-', '_')}_command", None) == "retry":
            keys = _targets(AdminQueries(store), args)
            _confirm(len(keys), f"retry {len(keys)} {KINDS[kind]}", args.yes)
        elif not args.yes:
            raise ConfigError(f"{kind} drop: pass --yes to drop {len(args.refs)} record(s); "
                              "the action is recorded in the audit log")
    finally:
        store.close()


def run_request(request: handoff.Request, daemon: Runtime) -> int:
    """Run a handed-over request in the daemon's runtime, as its command line would."""
    # the person confirmed at the command line; the daemon's own config is the one used
    args = argparse.Namespace(**{**request.args, "config": None, "no_wait": False,
                                 "yes": True})
    return HANDED[request.kind](args, daemon)
