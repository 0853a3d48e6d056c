"""What the admin commands do to the state file and the platform: `resync` (re-read and
re-push a selection whether or not it changed, never moving a live cursor), its dry run
on a throw-away copy of the state file, `retry` of quarantined rows and dead letters
(re-map from the current source row, then push) and `drop`.

No argument parsing and no printing here (bridge/commands/admin.py does both).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from adapters.base import ENTITIES, Cursor, Page, SourceAdapter, SourceRow
from bridge import safety
from bridge.config import Config, SourceConfig
from bridge.errors import ConfigError, SafetyStop
from bridge.ops.audit import record_admin_action
from bridge.ops.dryrun import copy_state, diff
from bridge.runtime import Runtime, open_adapter
from bridge.sync import CycleReport, SyncEngine, seal_work
from state.admin import AdminQueries
from state.lock import StateLock
from state.store import RowKey, StateStore

CST = timezone(timedelta(hours=8))
STAMP = "%Y-%m-%d %H:%M:%S"
Progress = Callable[[int], None]


def _quiet(_: int) -> None:
    return None


@dataclass(frozen=True)
class Selection:
    """What a resync names: a source, maybe one entity, maybe ids or a time."""

    source: str
    entity: str | None = None
    ids: tuple[str, ...] = ()
    since: str | None = None          # source-local 'YYYY-MM-DD HH:MM:SS'
    with_children: bool = False

    def __post_init__(self) -> None:
        if self.ids and self.entity is None:
            raise ConfigError("resync --id needs --entity (which table the ids are of)")
        if self.ids and self.since is not None:
            raise ConfigError("resync: give --id or --since, not both")

    @property
    def entities(self) -> tuple[str, ...]:
        return (self.entity,) if self.entity else ENTITIES

    @property
    def full(self) -> bool:
        """A full read of the entities (the read-share safety stop applies)."""
        return not self.ids and self.since is None


def parse_since(text: str) -> str:
    """`--since`: a date or an ISO-8601 instant (Asia/Shanghai when it has no offset) as
    the source's local 'YYYY-MM-DD HH:MM:SS'."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since {text!r}: give a date (2024-05-01) or an ISO-8601 time "
                          "(2024-05-01T08:00:00+08:00)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(CST).replace(tzinfo=None)
    return moment.strftime(STAMP)


@dataclass
class Staged:
    """What a selection staged: the rows in order, ids the source no longer has."""

    keys: list[RowKey] = field(default_factory=list)
    missing: list[RowKey] = field(default_factory=list)
    report: CycleReport = field(default_factory=CycleReport)


@dataclass(frozen=True)
class Outcome:
    """A row after an admin action: its status, and its reasons when quarantined."""

    key: RowKey
    ref: str
    status: str
    reasons: tuple[dict[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"external_ref": self.ref, "source": self.key[0], "entity": self.key[1],
                "local_id": self.key[2], "status": self.status,
                "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Planned:
    """One item a dry run would send, with its field-level diff (masked)."""

    ref: str
    op: str
    verb: str
    changes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"external_ref": self.ref, "op": self.op, "action": self.verb,
                "changes": list(self.changes)}


# reading and staging ----------------------------------------------------------------------
def estimate(store: StateStore, sel: Selection) -> int:
    """Rows the selection will read, as far as the state file knows (for the prompt and
    the progress bar); exact for ids."""
    if sel.ids:
        return len(set(sel.ids))
    return AdminQueries(store).row_count(sel.source, sel.entities, sel.since)


def check_read_share(cfg: Config, adapter: SourceAdapter, store: StateStore,
                     sel: Selection) -> None:
    """A full read that sees fewer rows than `min_read_share` of the platform's live
    records of that source and entity stops before anything is staged or sent."""
    src = cfg.source(sel.source)
    share = cfg.safety.min_read_share
    for entity in sel.entities:
        live = AdminQueries(store).live_rows(sel.source, entity)
        if live == 0:
            continue
        seen = sum(len(p.rows) for p in adapter.scan(entity, src.page_size))
        if seen < share * live:
            raise SafetyStop(
                f"resync of {sel.source} {entity}s read {seen} rows, but the platform holds "
                f"{live} of them live (safety.min_read_share {share:.2f}): is the source "
                "complete? Check it, then pass --force")


def _pages(adapter: SourceAdapter, src: SourceConfig, sel: Selection) -> Iterator[Page]:
    if sel.ids:
        assert sel.entity is not None
        ids = list(dict.fromkeys(sel.ids))
        for lo in range(0, len(ids), src.page_size):
            yield Page(adapter.read_by_ids(sel.entity, ids[lo:lo + src.page_size]), None)
    elif sel.since is not None:
        start = Cursor(sel.since)
        for stream in adapter.streams():
            if stream.entity in sel.entities:
                yield from adapter.read_changes(stream.name, start, 0, src.page_size)
    else:
        for entity in sel.entities:
            yield from adapter.scan(entity, src.page_size)


def _stage_rows(engine: SyncEngine, src: SourceConfig, rows: Sequence[SourceRow],
                staged: Staged, seen: set[RowKey], force: bool, progress: Progress) -> None:
    fresh = [r for r in rows if (src.name, r.entity, r.local_id) not in seen]
    if not fresh:
        return
    engine.stage_page(src, Page(fresh, None), None, staged.report, force=force)
    for r in fresh:
        key = (src.name, r.entity, r.local_id)
        seen.add(key)
        staged.keys.append(key)
    progress(len(fresh))


def stage_keys(engine: SyncEngine, keys: Iterable[RowKey], *, force: bool,
               staged: Staged | None = None, progress: Progress = _quiet) -> Staged:
    """Read these rows from their sources now and stage them (no cursor moves)."""
    staged = staged or Staged()
    seen = set(staged.keys)
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, entity, local_id in keys:
        grouped[(source, entity)].append(local_id)
    order = sorted(grouped, key=lambda k: (k[0], ENTITIES.index(k[1])))
    for source, entity in order:
        src = engine.cfg.source(source)
        ids = grouped[(source, entity)]
        rows = engine.adapters[source].read_by_ids(entity, ids)
        found = {r.local_id for r in rows}
        staged.missing += [(source, entity, i) for i in ids if i not in found]
        for lo in range(0, len(rows), src.page_size):
            _stage_rows(engine, src, rows[lo:lo + src.page_size], staged, seen, force,
                        progress)
    return staged


def stage_selection(engine: SyncEngine, sel: Selection, *,
                    progress: Progress = _quiet) -> Staged:
    """Read what the selection names and stage it with force: every mapped row goes to
    the outbox whether or not its hash changed; then, if asked, its children."""
    src = engine.cfg.source(sel.source)
    staged = Staged()
    seen: set[RowKey] = set()
    for page in _pages(engine.adapters[sel.source], src, sel):
        _stage_rows(engine, src, page.rows, staged, seen, True, progress)
    if sel.ids:
        assert sel.entity is not None
        staged.missing += [(sel.source, sel.entity, i) for i in dict.fromkeys(sel.ids)
                           if (sel.source, sel.entity, i) not in seen]
    if sel.with_children:
        children = AdminQueries(engine.store).children(staged.keys)
        stage_keys(engine, children, force=True, staged=staged, progress=progress)
    return staged


# the real thing -------------------------------------------------------------------------
@dataclass
class ActionReport:
    """What an admin action did: the run, the rows and where they ended up, the push."""

    run_id: int
    staged: Staged
    outcomes: list[Outcome]
    push: dict[str, Any] | None
    undelivered: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "rows": len(self.staged.keys),
                "outcomes": dict(self.staged.report.outcomes),
                "missing": [{"source": s, "entity": e, "local_id": i}
                            for s, e, i in self.staged.missing],
                "records": [o.to_json() for o in self.outcomes],
                "push": self.push, "seconds": round(self.seconds, 3)}


def _run(rt: Runtime, kind: str, sources: Sequence[str], action: str,
         audit_args: Mapping[str, Any], work: Callable[[], Staged],
         pass_safety: bool = False) -> ActionReport:
    """Stage with `work`, then push, as one recorded run with its admin audit entry."""
    started = time.monotonic()
    store = rt.store
    run_id = store.start_run(kind, list(sources))
    status, error = "failed", None
    report = ActionReport(run_id, Staged(), [], None)
    try:
        record_admin_action(store, action, audit_args)
        report.staged = work()
        if not pass_safety:
            safety.check_destructive(store, rt.cfg.safety, list(sources))
        push = rt.engine.push(None, list(sources))
        report.push, report.undelivered = push.as_dict(), push.undelivered
        status = "ok" if push.undelivered == 0 else "undelivered"
    except SafetyStop as exc:
        status, error = "safety_stop", str(exc)
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        report.seconds = time.monotonic() - started
        stats = {"action": action, "rows": len(report.staged.keys),
                 "outcomes": dict(report.staged.report.outcomes), "push": report.push}
        seal_work(rt.cfg, store, run_id)  # sealed while the run still shows as running
        store.finish_run(run_id, status, stats, error)
    report.outcomes = outcomes(store, report.staged.keys)
    return report


def resync(rt: Runtime, sel: Selection, audit_args: Mapping[str, Any], *,
           force: bool = False, progress: Progress = _quiet) -> ActionReport:
    if sel.full and not force:
        check_read_share(rt.cfg, rt.adapters[sel.source], rt.store, sel)
    if force:
        safety.unpause(rt.store, [sel.source])  # an admin read why and passed the stop
    return _run(rt, "resync", [sel.source], "resync", audit_args,
                lambda: stage_selection(rt.engine, sel, progress=progress), pass_safety=force)


def retry(rt: Runtime, keys: Sequence[RowKey], action: str, audit_args: Mapping[str, Any],
          *, force: bool, progress: Progress = _quiet) -> ActionReport:
    """Re-map these rows from their current source rows, then push. `force` re-sends a
    row even when it maps to what the platform refused before (dead letters)."""
    sources = sorted({k[0] for k in keys})
    for name in sources:
        rt.cfg.source(name)
    return _run(rt, "retry", sources, action, audit_args,
                lambda: stage_keys(rt.engine, keys, force=force, progress=progress))


def outcomes(store: StateStore, keys: Iterable[RowKey]) -> list[Outcome]:
    q = AdminQueries(store)
    out = []
    for key in keys:
        d = q.detail(key)
        if d is not None:
            reasons = tuple(d.reasons) if d.state == "quarantined" else ()
            if d.status == "dead_lettered":
                reasons = tuple(e for ref in q.dead_refs_of(key)
                                for e in (q.dead_letter(ref) or {}).get("errors", []))
            out.append(Outcome(key, d.base_ref, d.status, reasons))
    return out


def drop(cfg: Config, keys: Sequence[RowKey], action: str, audit_args: Mapping[str, Any],
         *, locked: bool = False) -> list[str]:
    """Give up on these rows' current versions, under the state lock (`locked`: the
    caller, the daemon, holds it), audited."""
    with nullcontext() if locked else StateLock(cfg.state.path):
        store = StateStore.open(cfg.state.path)
        try:
            with store.transaction():
                removed = [ref for key in keys for ref in AdminQueries(store).mark_dropped(key)]
                record_admin_action(store, action, audit_args)
            seal_work(cfg, store, None)
        finally:
            store.close()
    return removed


# dry run ----------------------------------------------------------------------------------
def dry_resync(cfg: Config, sel: Selection, *,
               force: bool = False) -> tuple[Staged, list[Planned], list[Outcome]]:
    """Stage the selection on a throw-away copy of the state file and say what would be
    sent, with the diff against what the ledger says the platform holds. Sends nothing."""
    with tempfile.TemporaryDirectory(prefix="zybridge-resync-") as tmp:
        copy = Path(tmp) / "state.db"
        copy_state(cfg.state.path, copy)
        store = StateStore.open(copy)
        adapters = {s.name: open_adapter(cfg, s) for s in cfg.sources}
        try:
            if sel.full and not force:
                check_read_share(cfg, adapters[sel.source], store, sel)
            engine = SyncEngine(cfg, store, None, adapters)
            staged = stage_selection(engine, sel)
            return staged, planned(store, staged.keys), outcomes(store, staged.keys)
        finally:
            store.close()
            for a in adapters.values():
                a.close()


def planned(store: StateStore, keys: Sequence[RowKey]) -> list[Planned]:
    wanted = set(keys)
    out = []
    for ref, op, text, key in store.outbox_rows():
        if key not in wanted:
            continue
        ledger = store.ledger(ref)
        old = ledger.payload if ledger and ledger.payload else None
        verb = "revoke" if op == "revoke" else ("update" if old else "create")
        changes = diff(old or {}, json.loads(text)) if op == "upsert" else []
        out.append(Planned(ref, op, verb, tuple(changes)))
    return out
