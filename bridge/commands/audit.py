"""`zybridge audit …`: the audit trail for auditors (DESIGN.md invariant 6, "Audit
retention") — `log`, `export`, `archive`, `verify`, `sign` — and `record_admin_action`,
which admin commands call so that every admin action is in the log.

Times given on the command line (`--since`, `--until`, `--before`) are ISO-8601 dates
or instants, read as Asia/Shanghai time when they carry no offset, or an age such as
`90d`, `12h`. The log's table shows instants in +08:00; jsonl and csv keep them as
stored (UTC).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bridge import logs
from bridge.commands.render import CST, Sub, csv_cell, local_time
from bridge.errors import BridgeError, ConfigError
from bridge.ops.audit import Filter, export, select, summary
from bridge.runtime import load_config
from state import audit, auditfile, db, keys
from state import seal as seals
from state.audit import Record, Verdict
from state.store import StateStore
from state.trail import first_seq

KINDS = ("batch", "request", "result", "quarantine", "dead_letter", "admin", "checkpoint",
         "seal")
KEY_ENV = "ZYBRIDGE_AUDIT_KEY"
BROKEN = 4
_AGE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def register(subparsers: Sub) -> None:
    """Add `audit log|export|archive|verify|sign` to the `zybridge` parser."""
    a = subparsers.add_parser("audit", help="the audit trail",
                              description="The append-only, hash-chained audit log.")
    sub = a.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    lg = sub.add_parser("log", help="entries, filtered; --ref tells one record's story",
                        description="Entries in order. --ref REF shows every version of "
                        "the record sent (its batches and attempts), every answer and every "
                        "admin action on it; REF matches its derived refs (.g2, .d1…).")
    lg.add_argument("--ref", help="an external_ref (its derived refs match too)")
    lg.add_argument("--source", help="entries of one source, with their batches")
    lg.add_argument("--run", type=int, help="a run id (see `zybridge runs`)")
    lg.add_argument("--kind", action="append", default=[], choices=KINDS)
    lg.add_argument("--status", help="an item status (created, rejected…) or an HTTP status")
    _period(lg)
    lg.add_argument("--format", choices=("table", "jsonl", "csv"), default="table")
    lg.set_defaults(func=cmd_log)
    ex = sub.add_parser("export", help="a period of the chain to a verifiable JSONL file",
                        description="Writes the entries of a period (a contiguous run of "
                        "the chain, hashes included; gzip when FILE ends in .gz). "
                        "`audit verify --archive FILE` checks it against the live chain.")
    _period(ex)
    ex.add_argument("--out", required=True, metavar="FILE")
    ex.set_defaults(func=cmd_export)
    ar = sub.add_parser("archive", help="move the entries before T to a file, keep a checkpoint",
                        description="Writes the leading run of the chain before T to a "
                        "compressed JSONL file, verifies it, then deletes exactly those "
                        "entries and appends a checkpoint holding the last archived hash.")
    ar.add_argument("--before", required=True, metavar="T")
    ar.add_argument("--out", required=True, metavar="FILE.jsonl.gz")
    ar.set_defaults(func=cmd_archive)
    ve = sub.add_parser("verify", help="check the hash chain (exit 0 intact, 4 broken)",
                        description="Walk the hash chain and name the first broken entry. "
                        f"With ${KEY_ENV} set, the seals and the checkpoints' MACs are checked "
                        "too (a rewrite, a truncated tail, a forged checkpoint); --anchor FILE "
                        "checks that the chain still holds every entry the anchor names. "
                        "Without either, only edits can be detected.")
    ve.add_argument("--archive", action="append", default=[], metavar="FILE",
                    help="an archive or export file that must continue into the live chain "
                         "(repeatable, any order)")
    ve.add_argument("--anchor", metavar="FILE",
                    help="an anchor file ([audit] anchor_path, shipped off the machine): the "
                         "chain must still hold every entry it names, with its hash")
    ve.add_argument("--json", action="store_true", help="one JSON object: ok, entries, "
                    "broken_at, problem, notes")
    ve.set_defaults(func=cmd_verify)
    si = sub.add_parser("sign", help=f"seal the chain's head with ${KEY_ENV} (HMAC)",
                        description="Appends a seal: an HMAC of the head under a key kept "
                        "outside the state file, so a rewrite of the whole chain is caught.")
    si.set_defaults(func=cmd_sign)


def _period(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", metavar="T", help="from this time (inclusive)")
    p.add_argument("--until", metavar="T", help="up to this time (exclusive)")


# commands ---------------------------------------------------------------------------------
def cmd_log(args: argparse.Namespace) -> int:
    store = _open(args, readonly=True)
    try:
        WRITERS[args.format](select(store.conn, _filter(args)), sys.stdout)
    finally:
        store.close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = _open(args, readonly=True)
    out = Path(args.out)
    try:
        since, until = _time(args.since), _time(args.until)
        count, sha = export(store.conn, out, since, until)
    finally:
        store.close()
    print(f"exported {count} entries to {out} (sha256 {sha})")
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    before = _time(args.before)
    assert before is not None
    store = _open(args, readonly=False)
    try:
        return archive(store, before, Path(args.out), _key(), anchor=_anchor_path(args))
    finally:
        store.close()


def cmd_verify(args: argparse.Namespace) -> int:
    key = _key()
    anchor = _read_anchor(args.anchor)
    store = _open(args, readonly=True)
    try:
        verdict = seals.verify(store.conn, key, anchor)
        lines = _check_archives(store, [Path(f) for f in args.archive], key)
    finally:
        store.close()
    if not verdict.ok:
        return _broken(verdict, args.json)
    if isinstance(lines, Verdict):
        return _broken(lines, args.json)
    notes = [*_describe(verdict, key), *seals.describe(verdict, key, anchor), *lines]
    if args.json:
        print(json.dumps({"ok": True, "entries": verdict.entries, "broken_at": None,
                          "problem": None, "notes": notes}, ensure_ascii=False, indent=2))
        return 0
    print(f"audit log intact: {verdict.entries} entries")
    for line in notes:
        print(f"  {line}")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    key = _key()
    if key is None:
        raise ConfigError(f"set {KEY_ENV} to the audit seal key (at least 16 characters), "
                          "kept outside the state file")
    store = _open(args, readonly=False)
    try:
        with store.transaction() as conn:
            verdict = audit.verify(conn, key, require_seal=False)
            if not verdict.ok:
                return _broken(verdict)
            seal = audit.seal(conn, db.utcnow(), None, key)
    finally:
        store.close()
    _anchor(args, seal)
    d = seal.payload()
    print(f"sealed entry {d['head_seq']} (hash {d['head_hash']}) with key id {d['key_id']}: "
          f"seal entry {seal.seq}, mac {d['mac']}")
    return 0


def _open(args: argparse.Namespace, *, readonly: bool) -> StateStore:
    return StateStore.open(load_config(args.config).state.path, readonly=readonly)


def _filter(args: argparse.Namespace) -> Filter:
    return Filter(args.ref, args.source, args.run, _time(args.since), _time(args.until),
                  tuple(args.kind), args.status)


def _anchor_path(args: argparse.Namespace) -> Path | None:
    return load_config(args.config).audit.anchor_path


def _anchor(args: argparse.Namespace | Path | None, *entries: Record) -> None:
    """Append seal and checkpoint entries to the configured anchor file."""
    path = _anchor_path(args) if isinstance(args, argparse.Namespace) else args
    for entry in entries if path is not None else ():
        assert path is not None
        seals.append_anchor(path, seals.anchor_line(entry))


def _read_anchor(name: str | None) -> list[seals.Anchored] | None:
    if name is None:
        return None
    try:
        return seals.read_anchor(Path(name))
    except FileNotFoundError as exc:
        raise ConfigError(f"no anchor file at {name}") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the anchor file {name}: {exc}") from exc


def _broken(verdict: Verdict, as_json: bool = False) -> int:
    if as_json:
        print(json.dumps({"ok": False, "entries": verdict.entries,
                          "broken_at": verdict.broken_at, "problem": verdict.problem,
                          "notes": []}, ensure_ascii=False, indent=2))
    else:
        print(f"audit log broken at entry {verdict.broken_at}: {verdict.problem}")
    return BROKEN


def _key() -> bytes | None:
    value = os.environ.get(KEY_ENV, "")
    if not value:
        return None
    if len(value) < 16:
        raise ConfigError(f"{KEY_ENV} is too short: use at least 16 characters")
    logs.register_secrets([value])
    return value.encode("utf-8")


def _time(text: str | None, now: datetime | None = None) -> str | None:
    """A command-line time as a stored instant (UTC ISO-8601, microseconds)."""
    if text is None:
        return None
    moment: datetime
    if match := _AGE.match(text.strip()):
        delta = timedelta(**{_UNITS[match[2]]: int(match[1])})
        moment = (now or datetime.now(UTC)) - delta
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError as exc:
            raise ConfigError(f"not a time: {text!r} (use 2026-06-20, "
                              "2026-06-20T09:00:00+08:00, or an age such as 90d)") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=CST)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _describe(v: Verdict, key: bytes | None) -> list[str]:
    lines = []
    if v.first is not None and v.first > 1:
        lines.append(f"entries 1–{v.first - 1} are archived (checkpoint at entry "
                     f"{v.checkpoint}); the live chain runs {v.first}–{v.last}")
    if key is not None and v.sealed is not None:
        lines.append(f"sealed through entry {v.sealed - 1} with key id {keys.key_id(key)}; "
                     f"{(v.last or 0) - v.sealed} entries since the seal")
    elif v.seals:
        lines.append(f"{v.seals} seals not checked: set {KEY_ENV} to check them")
    return lines


# verify --archive -------------------------------------------------------------------------
def _check_archives(store: StateStore, paths: list[Path],
                    key: bytes | None) -> list[str] | Verdict:
    """Each file on its own, the files one after another, and the last into the live
    chain; the lines to print, or the first failure."""
    checked = []
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"no archive file at {path}")
        _, verdict = auditfile.check_file(path, key)
        if not verdict.ok:
            return _in_file(verdict, path)
        checked.append((verdict, path))
    checked.sort(key=lambda item: item[0].first or 0)
    lines = []
    for i, (v, path) in enumerate(checked):
        if v.first is None:
            lines.append(f"{path.name}: no entries")
            continue
        if i and (problem := _joins(checked[i - 1][0], v)):
            return _in_file(problem, path)
        lines.append(f"{path.name}: entries {v.first}–{v.last} intact")
    last = next((v for v, _ in reversed(checked) if v.first is not None), None)
    if last is not None:
        if isinstance(joined := _joins_live(store, last), Verdict):
            return joined
        lines.append(joined)
    return lines


def _in_file(v: Verdict, path: Path) -> Verdict:
    return Verdict(False, v.entries, v.broken_at, f"in {path.name}: {v.problem}")


def _joins(before: Verdict, after: Verdict) -> Verdict | None:
    if after.first == (before.last or 0) + 1 and after.first_prev == before.last_hash:
        return None
    return Verdict(False, after.entries, after.first,
                   f"entry {after.first} does not continue entry {before.last}")


def _joins_live(store: StateStore, v: Verdict) -> str | Verdict:
    last = v.last or 0
    same = next(audit.records(store.conn, "seq = ?", (last,)), None)
    if same is not None:
        if same.hash == v.last_hash:
            return f"the files join the live chain at entry {last}"
        return Verdict(False, v.entries, last, f"entry {last} differs from the live chain's")
    first = first_seq(store.conn)
    start = next(audit.records(store.conn, "seq = ?", (first,)), None)
    if start is not None and start.seq == last + 1 and start.prev_hash == v.last_hash:
        return f"the live chain continues the files from entry {start.seq}"
    where = f"at entry {start.seq}" if start is not None else "empty"
    return Verdict(False, v.entries, last + 1,
                   f"the files end at entry {last} and the live chain starts {where}")


# archive ---------------------------------------------------------------------------------
def archive(store: StateStore, before: str, out: Path, key: bytes | None,
            anchor: Path | None = None) -> int:
    """Archive the leading run of the chain before `before`; the exit code."""
    verdict = audit.verify(store.conn, key, require_seal=False)
    if not verdict.ok:
        print("refusing to archive a broken chain")
        return _broken(verdict)
    span = audit.leading_run(store.conn, before)
    if span is None:
        print("nothing to archive: no entry of the live chain is that old")
        return 0
    first, through = span
    header = {"format": "zybridge-audit-archive", "version": 1, "before": before,
              "from": first, "through": through, "entries": through - first + 1,
              "created_at": db.utcnow()}
    try:
        sha = auditfile.write_file(out, header,
                               audit.records(store.conn, "seq BETWEEN ? AND ?", span))
    except FileExistsError as exc:
        raise ConfigError(f"{out} already exists: choose another --out") from exc
    _, written = auditfile.check_file(out, key)
    if not written.ok or (written.first, written.last) != span:
        out.unlink(missing_ok=True)
        raise BridgeError(f"the archive did not verify ({written.problem or 'incomplete'}); "
                          "nothing was deleted")
    facts = {"file": out.name, "file_sha256": sha, "before": before}
    try:
        with store.transaction() as conn:
            checkpoint = audit.cut(conn, db.utcnow(), None, span, written.last_hash, facts,
                                   key)
            sealed = audit.seal(conn, db.utcnow(), None, key) if key is not None else None
    except ValueError as exc:
        raise BridgeError(f"{exc}: nothing was deleted ({out} is kept)") from exc
    _anchor(anchor, checkpoint, *([sealed] if sealed is not None else []))
    print(f"archived entries {first}–{through} ({through - first + 1}) to {out} "
          f"(sha256 {sha}); checkpoint entry {checkpoint.seq}")
    if key is None and verdict.seals and audit.latest(store.conn, "seal") is None:
        print(f"the chain's seals were archived: run `zybridge audit sign` with {KEY_ENV}")
    return 0


# output ---------------------------------------------------------------------------------
def write_table(rows: Iterable[Record], out: TextIO) -> None:
    out.write(f"{'seq':>7}  {'at':<25}  {'run':>5}  {'kind':<11}  "
              f"{'ref':<30}  what\n")
    for r in rows:
        run = "-" if r.run_id is None else str(r.run_id)
        out.write(f"{r.seq:>7}  {local_time(r.at):<25}  {run:>5}  {r.kind:<11}  "
                  f"{r.ref or '-':<30}  {summary(r)}\n")


def write_jsonl(rows: Iterable[Record], out: TextIO) -> None:
    for r in rows:
        out.write(audit.canonical(r.to_json()) + "\n")


def write_csv(rows: Iterable[Record], out: TextIO) -> None:
    """One row per entry; every cell spreadsheet-safe (render.csv_cell)."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["seq", "at", "run_id", "kind", "ref", "status", "summary", "data",
                "prev_hash", "hash"])
    for r in rows:
        status = r.payload().get("status")
        w.writerow([csv_cell(c) for c in (r.seq, r.at, r.run_id, r.kind, r.ref, status,
                                             summary(r), r.data, r.prev_hash, r.hash)])


WRITERS: dict[str, Callable[[Iterable[Record], TextIO], None]] = {
    "table": write_table, "jsonl": write_jsonl, "csv": write_csv}
