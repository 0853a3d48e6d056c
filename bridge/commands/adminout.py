"""How the admin commands show their results: the progress bars, the dry run's plan, an
action's report (counts per status above PER_ROW_UP_TO rows), a record's story."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bridge.commands.render import clean, codes, local_time, raw_stream, scrub, table

if TYPE_CHECKING:  # the operations import the engine: only when a command runs
    from bridge.ops.resync import ActionReport, Outcome, Planned, Progress, Staged
    from bridge.sync import SyncEngine

PER_ROW_UP_TO = 20    # an action on more rows prints counts per status (--verbose: each row)


@contextmanager
def progress_bar(total: int, label: str, engine: SyncEngine | None = None) -> Iterator[Progress]:
    """A rich progress bar (count, rate, ETA) on stderr when it is a terminal; with the
    engine, also its bars per source and entity (rows read, items sent)."""
    import rich.progress as rp
    from rich.console import Console

    from bridge.commands.progress import Bars
    from bridge.progress import Silent

    console = Console(file=raw_stream(sys.stderr))   # its own escape codes, no values
    bar = rp.Progress(rp.TextColumn("{task.description}"), rp.BarColumn(),
                      rp.MofNCompleteColumn(), rp.TaskProgressColumn(),
                      rp.TextColumn("{task.fields[rate]}"), rp.TimeRemainingColumn(),
                      console=console, disable=not console.is_terminal)
    with bar:
        task = bar.add_task(label, total=max(total, 1), rate="", unit="")
        if engine is not None and console.is_terminal:
            engine.progress = Bars(bar)

        def advance(n: int) -> None:
            bar.advance(task, n)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:.0f} rows/s" if speed else "")

        try:
            yield advance
        finally:
            if engine is not None:
                engine.progress = Silent()


def print_dry(staged: Staged, plan: list[Planned], rows: list[Outcome], as_json: bool) -> None:
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
        for line in p.changes or (["(no field differs from what the platform holds: sent "
                                   "again as it is)"] if p.verb == "update" else []):
            print(f"          {line}")
    for o in others:
        print(f"{o.status:<7} {o.ref}  {codes(o.reasons)}".rstrip())
    for s, e, i in staged.missing:
        print(f"missing {s}:{e}:{i} (not in the source)")
    print(f"{len(plan)} item(s) would be sent for {len(staged.keys)} row(s); nothing was sent")


def print_report(report: ActionReport, verb: str, as_json: bool,
                  verbose: bool = False) -> int:
    tally = Counter(o.status for o in report.outcomes)
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print_rows(report, tally, verbose)
        push = report.push or {}
        print(f"run {report.run_id}: {verb} {len(report.staged.keys)} row(s) "
              f"({', '.join(f'{n} {s}' for s, n in sorted(tally.items())) or 'none'}); "
              f"{push.get('requests', 0)} requests, items {push.get('items', {})}")
    if report.undelivered:
        print(f"zybridge: {report.undelivered} batches undelivered after their attempts; "
              "they stay in the outbox for the next cycle", file=sys.stderr)
        return 1
    return 0


def print_rows(report: ActionReport, tally: Counter[str], verbose: bool) -> None:
    """Each row with its status and reasons for a small action (or --verbose); for a
    larger one the rows per status, so a full resync is a summary, not a scroll."""
    missing = report.staged.missing
    if verbose or len(report.outcomes) <= PER_ROW_UP_TO:
        table(("external_ref", "status", "reasons"),
              [(o.ref, o.status, codes(o.reasons)) for o in report.outcomes])
    else:
        table(("status", "rows"), [(s, str(n)) for s, n in sorted(tally.items())])
        print("(one line per row: --verbose, or --json)")
    if verbose or len(missing) <= PER_ROW_UP_TO:
        for s, e, i in missing:
            print(f"missing {s}:{e}:{i} (not in the source: nothing done)")
    else:
        print(f"missing {len(missing)} rows (not in the source: nothing done; --verbose "
              "names them)")


def print_show(doc: dict[str, Any]) -> None:
    print(f"{doc['external_ref']}  {doc['status']}  ({doc['entity']} {doc['local_id']} of "
          f"{doc['source']}; first seen {local_time(doc['first_seen'])}, last seen "
          f"{local_time(doc['last_seen'])})")
    _section("reasons", [f"{r['field'] or '-'}: {r['code']}  {scrub(r['message'])}"
                         for r in doc["reasons"]])
    _section("warnings", [f"{r['field'] or '-'}: {r['code']}  {scrub(r['message'])}"
                          for r in doc["warnings"]])
    for d in doc["dead_letters"]:
        _section(f"refused by the platform: {d['external_ref']} ({d['times']} time(s))",
                 [f"{e['field'] or '-'}: {e['code']}  {scrub(e['message'])}" for e in d["errors"]])
    _section("source row (masked)", _lines(doc["source_row"]))
    for part in doc["payloads"]:
        _section(f"mapped payload{part['suffix']} (masked)", _lines(part["payload"]))
    _section("the platform holds", [f"{e['external_ref']}: {e['status']} {e['national_id']}"
                                    for e in doc["ledger"]])
    _section("history", [f"{h['seq']:>6}  {local_time(h['at'])}  {h['kind']:<11} "
                         f"{h['what']}" for h in doc["history"]])


def _section(title: str, lines: Sequence[str]) -> None:
    if lines:
        print(f"\n{title}:")
        for line in lines:
            print(f"  {clean(line)}")   # a value's line break cannot start a line


def _lines(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [] if value is None else [str(value)]
    return [f"{k}: {json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v}"
            for k, v in value.items()]
