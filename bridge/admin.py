"""The admin commands of `zybridge` (operator-interface.md; docs/admin.md): `resync`,
`quarantine list|show|retry|drop`, `dead-letters list|show|retry|drop` and `check`.

Everything shown is masked (ID numbers, phones, names); `--json` prints one document a
script may read; errors are one line and an exit code (bridge/cli.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

from bridge import auditlog, handoff, logs
from bridge.errors import BridgeError, ConfigError, TransientError
from bridge.resync import ActionReport, Outcome, Planned, Progress, Selection, Staged, show_document
from state.admin import AdminQueries
from state.store import RowKey, StateStore

ENTITY_CHOICES = ("organization", "volunteer", "project", "service_record")
CONFIRM_OVER = 100
KINDS = {"quarantine": "quarantined rows", "dead-letters": "dead letters"}
Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(subparsers: Sub) -> None:
    """Add `resync`, `quarantine …`, `dead-letters …` and `check` to the parser."""
    _resync_parser(subparsers)
    for kind in KINDS:
        _problem_parser(subparsers, kind)
    c = subparsers.add_parser("check", help="config, sources, platform health and a signed read",
                              description="Validates the config, opens every source, calls "
                              "the platform's health and one signed read; prints each "
                              "problem on its own line with what to do. Exit 0 all well, "
                              "1 the platform is unreachable, 2 a config or source problem.")
    c.add_argument("--json", action="store_true", help="one JSON object")
    c.set_defaults(func=cmd_check)


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
    rt.add_argument("--json", action="store_true", help="one JSON object")
    rt.set_defaults(func=cmd_retry, kind=kind)
    dr = sub.add_parser("drop", help="give up on records (needs --yes; audited)",
                        description="Removes them from the list: the row counts as skipped "
                        "(dropped) until its source changes it. What the platform holds is "
                        "left as it is. Recorded in the audit log with your user name.")
    dr.add_argument("refs", nargs="+", metavar="REF", help="external_refs")
    dr.add_argument("--yes", action="store_true", help="really drop them")
    dr.set_defaults(func=cmd_drop, kind=kind)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="only this source")
    p.add_argument("--entity", choices=ENTITY_CHOICES, help="only this entity")


# resync -----------------------------------------------------------------------------------
def cmd_resync(args: argparse.Namespace) -> int:
    from bridge.resync import dry_resync, estimate, parse_since, resync

    cfg = _config(args)
    cfg.source(args.source)
    sel = Selection(args.source, args.entity, tuple(args.id),
                    parse_since(args.since) if args.since else None, args.with_children)
    if args.dry_run:
        staged, plan, rows = dry_resync(cfg, sel, force=args.force)
        _print_dry(staged, plan, rows, args.json)
        return 0
    with handoff.admin_runtime(cfg) as rt:
        total = estimate(rt.store, sel)
        _confirm(total, f"resync about {total} rows of {sel.source}", args.yes)
        with _progress(total, "resync") as advance:
            report = resync(rt, sel, vars(args), force=args.force, progress=advance)
    return _print_report(report, "resynced", args.json)


def _confirm(total: int, what: str, yes: bool) -> None:
    if yes or total <= CONFIRM_OVER:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"{what}: more than {CONFIRM_OVER} rows; pass --yes to go ahead")
    answer = input(f"{what}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise ConfigError("stopped: nothing was sent")


@contextmanager
def _progress(total: int, label: str) -> Iterator[Progress]:
    """A rich progress bar (count, rate, ETA) on stderr when it is a terminal."""
    import rich.progress as rp
    from rich.console import Console

    console = Console(stderr=True)
    bar = rp.Progress(rp.TextColumn("{task.description}"), rp.BarColumn(),
                      rp.MofNCompleteColumn(), rp.TaskProgressColumn(),
                      rp.TextColumn("{task.fields[rate]}"), rp.TimeRemainingColumn(),
                      console=console, disable=not console.is_terminal)
    with bar:
        task = bar.add_task(label, total=max(total, 1), rate="")

        def advance(n: int) -> None:
            bar.advance(task, n)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:.0f} rows/s" if speed else "")

        yield advance


def _print_dry(staged: Staged, plan: list[Planned], rows: list[Outcome], as_json: bool) -> None:
    sending = {p.ref.split(".")[0] for p in plan}
    others = [o for o in rows if o.ref not in sending]
    if as_json:
        print(json.dumps({"dry_run": True, "rows": len(staged.keys),
                          "items": [p.to_json() for p in plan],
                          "not_sent": [o.to_json() for o in others],
                          "missing": [list(k) for k in staged.missing]},
                         ensure_ascii=False, indent=2))
        return
    for p in plan:
        print(f"{p.verb:<7} {p.ref}")
        for line in p.changes:
            print(f"          {line}")
    for o in others:
        print(f"{o.status:<7} {o.ref}  {_codes(o.reasons)}".rstrip())
    for s, e, i in staged.missing:
        print(f"missing {s}:{e}:{i} (not in the source)")
    print(f"{len(plan)} item(s) would be sent for {len(staged.keys)} row(s); nothing was sent")


def _print_report(report: ActionReport, verb: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _table(("external_ref", "status", "reasons"),
               [(o.ref, o.status, _codes(o.reasons)) for o in report.outcomes])
        for s, e, i in report.staged.missing:
            print(f"missing {s}:{e}:{i} (not in the source: nothing done)")
        tally = Counter(o.status for o in report.outcomes)
        push = report.push or {}
        print(f"run {report.run_id}: {verb} {len(report.staged.keys)} row(s) "
              f"({', '.join(f'{n} {s}' for s, n in sorted(tally.items())) or 'none'}); "
              f"{push.get('requests', 0)} requests, items {push.get('items', {})}")
    if report.undelivered:
        print(f"zybridge: {report.undelivered} batches undelivered after their attempts; "
              "they stay in the outbox for the next cycle", file=sys.stderr)
        return 1
    return 0


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
    _table(("external_ref", "status", "reasons", "last_seen"),
           [(p.external_ref, p.status, _codes(p.reasons), auditlog.local_time(p.last_seen))
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
        _print_show(doc)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from bridge.resync import retry

    cfg = _config(args)
    with handoff.admin_runtime(cfg) as rt:
        keys = _targets(AdminQueries(rt.store), args)
        if not keys:
            print(f"no {KINDS[args.kind]} to retry")
            return 0
        with _progress(len(keys), "retry") as advance:
            report = retry(rt, keys, f"{args.kind} retry", vars(args),
                           force=args.kind == "dead-letters", progress=advance)
    return _print_report(report, "retried", args.json)


def cmd_drop(args: argparse.Namespace) -> int:
    from bridge.resync import drop

    cfg = _config(args)
    if not args.yes:
        raise ConfigError(f"{args.kind} drop: pass --yes to drop {len(args.refs)} record(s); "
                          "the action is recorded in the audit log")
    store = StateStore.open(cfg.state.path, readonly=True)
    try:
        keys = _targets(AdminQueries(store), args)
    finally:
        store.close()
    drop(cfg, keys, f"{args.kind} drop", vars(args))
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


def _print_show(doc: dict[str, Any]) -> None:
    print(f"{doc['external_ref']}  {doc['status']}  ({doc['entity']} {doc['local_id']} of "
          f"{doc['source']}; first seen {auditlog.local_time(doc['first_seen'])}, last seen "
          f"{auditlog.local_time(doc['last_seen'])})")
    _section("reasons", [f"{r['field'] or '-'}: {r['code']}  {_m(r['message'])}"
                         for r in doc["reasons"]])
    _section("warnings", [f"{r['field'] or '-'}: {r['code']}  {_m(r['message'])}"
                          for r in doc["warnings"]])
    for d in doc["dead_letters"]:
        _section(f"refused by the platform: {d['external_ref']} ({d['times']} time(s))",
                 [f"{e['field'] or '-'}: {e['code']}  {_m(e['message'])}" for e in d["errors"]])
    _section("source row (masked)", _lines(doc["source_row"]))
    for part in doc["payloads"]:
        _section(f"mapped payload{part['suffix']} (masked)", _lines(part["payload"]))
    _section("the platform holds", [f"{e['external_ref']}: {e['status']} {e['national_id']}"
                                    for e in doc["ledger"]])
    _section("history", [f"{h['seq']:>6}  {auditlog.local_time(h['at'])}  {h['kind']:<11} "
                         f"{h['what']}" for h in doc["history"]])


def _section(title: str, lines: Sequence[str]) -> None:
    if lines:
        print(f"\n{title}:")
        for line in lines:
            print(f"  {line}")


def _lines(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [] if value is None else [str(value)]
    return [f"{k}: {json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v}"
            for k, v in value.items()]


# check ------------------------------------------------------------------------------------
Check = tuple[str, str | None, str, int]   # what, problem (None: ok), detail or fix, exit


def cmd_check(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
    except ConfigError as exc:
        lines = getattr(exc, "problems", None) or [str(exc)]
        checks: list[Check] = [("config", _m(x), "fix the config file (see config.example."
                                "toml) or set the environment variable it names", 2)
                               for x in lines]
        return _print_checks(checks, args.json)
    from bridge.runtime import secrets_of

    logs.register_secrets(secrets_of(cfg))
    checks = [("config", None, f"{len(cfg.sources)} source(s)", 0), *_check_machine(cfg),
              _check_state(cfg)]
    if cfg.unset_env:   # what `run` and `sync` would refuse; the rest needs the secrets
        return _print_checks(checks, args.json)
    checks += [_check_source(cfg, src) for src in cfg.sources]
    checks += _check_platform(cfg)
    return _print_checks(checks, args.json)


def _check_machine(cfg: Any) -> list[Check]:
    """The checks `run` makes at start-up: secrets set, files writable, listen free."""
    from bridge import configcheck
    from bridge.config import unset_message
    from state.lock import holder

    found = [unset_message(k, v) for k, v in cfg.unset_env]
    found += configcheck.problems(cfg, listen=holder(cfg.state.path) is None)
    return [("config", _m(x), "fix the config file or the environment", 2) for x in found]


def _check_state(cfg: Any) -> Check:
    from state.lock import holder

    if not cfg.state.path.exists():
        return ("state", None, f"no state file yet at {cfg.state.path}: the first sync "
                "creates it", 0)
    try:
        StateStore.open(cfg.state.path, readonly=True).close()
    except BridgeError as exc:
        return ("state", _m(str(exc)), "restore the state file from a backup", 2)
    pid = holder(cfg.state.path)
    return ("state", None, f"{cfg.state.path}" + (f", locked by pid {pid}" if pid else ""), 0)


def _check_source(cfg: Any, src: Any) -> Check:
    from adapters.base import ENTITIES
    from bridge.runtime import open_adapter

    what = f"source {src.name}"
    try:
        adapter = open_adapter(cfg, src)
        try:
            for entity in ENTITIES:
                next(iter(adapter.scan(entity, 1)), None)
        finally:
            adapter.close()
    except Exception as exc:  # any failure to open or read is the finding
        return (what, _m(f"{type(exc).__name__}: {exc}"),
                f"check sources.{src.name} (url or path) and that it is readable", 2)
    return (what, None, f"{src.kind}, every entity readable", 0)


def _check_platform(cfg: Any) -> list[Check]:
    from bridge.national import NationalClient

    n = cfg.national
    client = NationalClient(n.base_url, n.app_id, n.app_secret.get_secret_value(),
                            timeout_s=n.timeout_s, tls=n.tls)
    try:
        try:
            healthy = client.health()
        except TransientError as exc:
            return [("platform health", _m(str(exc)), f"check national.base_url ({n.base_url})"
                     " and the network", 1)]
        if not healthy:
            return [("platform health", "the health check did not answer 200",
                     "the platform is down or base_url is wrong; try again later", 1)]
        return [("platform health", None, n.base_url, 0), _signed_read(client, n.app_id)]
    finally:
        client.close()


def _signed_read(client: Any, app_id: str) -> Check:
    try:
        client.get("/volunteers", {"external_ref": "zybridge-check:volunteer:0"})
    except ConfigError as exc:
        return ("signed read", _m(str(exc)), "fix national.app_id / app_secret", 2)
    except BridgeError as exc:
        return ("signed read", _m(str(exc)), "the platform refused a read; try again later", 1)
    return ("signed read", None, f"app {app_id} accepted", 0)


def _print_checks(checks: list[Check], as_json: bool) -> int:
    code = max(c[3] for c in checks)
    if as_json:
        print(json.dumps({"ok": code == 0, "exit_code": code, "checks": [
            {"check": w, "ok": p is None, "problem": p, "detail" if p is None else "fix": d}
            for w, p, d, _ in checks]}, ensure_ascii=False, indent=2))
        return code
    for what, problem, detail, _ in checks:
        print(f"ok    {what}: {detail}" if problem is None
              else f"FAIL  {what}: {problem} (what to do: {detail})")
    return code


# helpers ----------------------------------------------------------------------------------
def _m(text: str) -> str:
    return logs.scrub(text)


def _masked_problem(doc: dict[str, Any]) -> dict[str, Any]:
    doc["reasons"] = [{**r, "message": _m(r["message"])} for r in doc["reasons"]]
    return doc


def _codes(reasons: Sequence[dict[str, str]]) -> str:
    return ", ".join(f"{r.get('field') or '-'}:{r.get('code')}" for r in reasons)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Aligned columns; the last one is not padded."""
    widths = [max([len(h), *(len(str(r[i])) for r in rows)]) for i, h in enumerate(headers)]
    for line in (headers, *rows):
        cells = [str(c).ljust(w) for c, w in zip(line[:-1], widths, strict=False)]
        print("  ".join([*cells, str(line[-1])]).rstrip())


def _config(args: argparse.Namespace) -> Any:
    return handoff.admin_config(args)


def _readonly(args: argparse.Namespace) -> StateStore:
    return StateStore.open(_config(args).state.path, readonly=True)

