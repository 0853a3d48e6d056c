"""One sync cycle for some sources: pull → map → stage → push → apply (DESIGN.md "The flow")."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from adapters.base import ENTITIES, Page, SourceAdapter, SourceRow
from bridge import metrics, safety
from bridge.config import Config, SourceConfig
from bridge.crashpoints import crashpoint
from bridge.errors import BridgeError, ConfigError, SafetyStop, TransientError
from bridge.national import NationalClient
from bridge.progress import Progress, Silent
from bridge.pump import PushPump
from bridge.push import Pusher, PushReport
from bridge.stage import Stager
from mappings import get as get_mapping
from mappings.result import MapContext, MapResult, Quarantined, Reason
from mappings.result import ref as make_ref
from state import keys, seal
from state.store import SourceText, StateStore

log = structlog.get_logger("bridge.sync")
CST = timedelta(hours=8)


@dataclass
class CycleReport:
    run_id: int = 0
    pulled: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    push: PushReport | None = None
    seconds: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)   # source → why its read failed

    @property
    def ok(self) -> bool:
        return not self.failed and (self.push is None or self.push.undelivered == 0)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "pulled": dict(self.pulled),
                "outcomes": dict(self.outcomes), "failed_sources": dict(self.failed),
                "push": self.push.as_dict() if self.push else None,
                "seconds": round(self.seconds, 3)}


class SyncEngine:
    def __init__(self, cfg: Config, store: StateStore, client: NationalClient | None,
                 adapters: Mapping[str, SourceAdapter], *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], None] = time.sleep,
                 stop: threading.Event | None = None,
                 push_lock: AbstractContextManager[Any] | None = None,
                 progress: Progress | None = None) -> None:
        self.cfg = cfg
        self.progress: Progress = progress or Silent()   # told of pages read, batches sent
        self.store = store
        self.client = client
        self.adapters = adapters
        self.now = now
        self.sleep = sleep
        self.stager = Stager(store)
        self.stop = stop or threading.Event()
        self.push_lock = push_lock or nullcontext()
        self._page_done: Callable[..., None] | None = None
        self._last_source = ""

    def cycle(self, sources: Sequence[str] | None = None,
              entities: Collection[str] | None = None, *, kind: str = "sync",
              full: bool = False, force: bool = False) -> CycleReport:
        """One cycle; `full` re-reads every row by primary key (the reconcile pass);
        `force` passes the safety stops (and lifts a daemon's pause of these sources)."""
        names = list(sources) if sources else [s.name for s in self.cfg.sources]
        report = CycleReport()
        started = time.monotonic()
        report.run_id = self.store.start_run(kind, names)
        structlog.contextvars.bind_contextvars(run_id=report.run_id)
        status, error = "failed", None
        live = safety.live_count(self.store, names)
        self._expect(names, entities)
        pump: PushPump | None = None
        try:
            if not full and live == 0:
                pump = self._pump(entities, names)
            errors: list[TransientError] = []
            for name in names:
                self._last_source = names[-1]
                if full:
                    seen = self.reread(self.cfg.source(name), entities, report)
                    if not force and not entities:
                        safety.check_full_read(self.store, self.cfg.safety, name, seen)
                else:
                    errors += self._pull_or_fail(self.cfg.source(name), entities, report)
            if errors and len(errors) == len(names):
                raise errors[0]     # no healthy source: the cycle failed
            if not force:
                safety.check_destructive(self.store, self.cfg.safety, names, live)
            if force or not entities:  # a whole cycle passed the checks: no pause holds
                safety.unpause(self.store, names)
            report.push = pump.finish() if pump else self.push(entities, names)
            pump = None
            self._receipts()
            status = "stopped" if self.stop.is_set() else (
                "ok" if report.ok else "partial" if report.failed else "undelivered")
        except SafetyStop as exc:
            status, error = "safety_stop", str(exc)
            raise
        except BridgeError as exc:
            error = str(exc)
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._page_done = None
            if pump is not None:
                pump.abandon()
            report.seconds = time.monotonic() - started
            if self.client is not None:  # a dry run's throw-away copy is never sealed
                seal_work(self.cfg, self.store, report.run_id, self.now())
            self.store.finish_run(report.run_id, status, report.as_dict(), error)
            structlog.contextvars.unbind_contextvars("run_id")
        log.info("cycle done", **report.as_dict())
        return report

    def _expect(self, names: Sequence[str], entities: Collection[str] | None) -> None:
        """Tell the progress observer how many rows each source and entity had last time
        (nothing for a first backfill); nothing is counted when nobody watches."""
        if isinstance(self.progress, Silent):
            return
        counts = self.store.status_counts()
        for name in names:
            for entity, by_status in counts.get(name, {}).items():
                if not entities or entity in entities:
                    self.progress.expect(name, entity, sum(by_status.values()))

    def _receipts(self) -> None:
        """The sheet files' receipts (bridge/receipts.py); never a failed cycle. Only a
        files source has them (the module, with openpyxl, loads only then)."""
        if not any(s.kind == "files" and s.receipts for s in self.cfg.sources):
            return
        from bridge.receipts import write_receipts

        try:
            write_receipts(self.cfg, self.store, self.adapters)
        except Exception as exc:
            log.error("receipts not written", error=f"{type(exc).__name__}: {exc}")

    def _pump(self, entities: Collection[str] | None,
              names: Sequence[str]) -> PushPump | None:
        """A pump that sends creations between the pages this cycle stages
        (bridge/pump.py). The caller asks for one only for a backfill: an incremental
        cycle of sources of which the platform holds no live record, so that no creation
        can overlap a record on its way off the platform, and no safety stop can trip
        (there is nothing to revoke or deactivate, and a full read never pipelines).
        None when the engine only stages or pipelining is off."""
        if self.client is None or not self.cfg.national.pipeline:
            return None
        pump = PushPump(self.store, self.stager, self.client, self.cfg.national,
                        entities=entities, sources=names, push_lock=self.push_lock,
                        stop=self.stop, sleep=self.sleep, progress=self.progress)
        self._page_done = pump.staged
        return pump

    def push(self, entities: Collection[str] | None = None,
             sources: Sequence[str] | None = None) -> PushReport:
        if self.client is None:
            raise ConfigError("no national client: this engine only stages (dry run)")
        with self.push_lock:
            pusher = Pusher(self.store, self.stager, self.client, self.cfg.national,
                            sleep=self.sleep, stop=self.stop, progress=self.progress)
            return pusher.drain(entities, sources)

    # pulling and staging ----------------------------------------------------------------
    def _pull_or_fail(self, src: SourceConfig, entities: Collection[str] | None,
                      report: CycleReport) -> list[TransientError]:
        """A source whose read fails (its server, its files) is logged and counted, its
        cursor stays; the cycle goes on with the other sources (local-sources.md §B)."""
        try:
            self.pull(src, entities, report)
        except TransientError as exc:
            report.failed[src.name] = str(exc)
            metrics.SOURCE_FAILURES.labels(src.name).inc()
            log.error("source read failed: the other sources go on", source=src.name,
                      error=str(exc))
            return [exc]
        return []

    def pull(self, src: SourceConfig, entities: Collection[str] | None,
             report: CycleReport) -> None:
        adapter = self.adapters[src.name]
        streams = list(adapter.streams())
        for n, stream in enumerate(streams):
            if entities and stream.entity not in entities:
                continue
            since = self.store.cursor(src.name, stream.name)
            pages = adapter.read_changes(stream.name, since, src.lookback_s, src.page_size)
            for page in _guarded(pages, src.name):
                self.stage_page(src, page, stream.name, report)
                if self.stop.is_set():
                    return
            if self._page_done is not None and src.name == self._last_source:
                later = {s.entity for s in streams[n + 1:]} | {"service_record"}
                self._page_done({s.entity for s in streams[:n + 1]} - later)
        self.remap_due(src, entities, report)

    def reread(self, src: SourceConfig, entities: Collection[str] | None,
               report: CycleReport) -> int:
        """Every row by primary key, without moving any cursor; only changed hashes are
        staged for sending (the nightly reconcile)."""
        adapter = self.adapters[src.name]
        seen = 0
        for entity in ENTITIES:
            if entities and entity not in entities:
                continue
            for page in _guarded(adapter.scan(entity, src.page_size), src.name):
                self.stage_page(src, page, None, report)
                seen += len(page.rows)
                if self.stop.is_set():
                    return seen
        return seen

    def stage_page(self, src: SourceConfig, page: Page, stream: str | None,
                   report: CycleReport, *, force: bool = False) -> None:
        ctx = self.context(src)
        mapping = get_mapping(src.mapping)
        rows = [(row, SourceText.of(row.data)) for row in page.rows]
        read = Counter(row.entity for row, _ in rows)
        if stream is not None and not force:
            rows = self._changed(src.name, rows, report)
        results = [(row, data, _map_safely(mapping.map_row, row, ctx)) for row, data in rows]
        with self.store.transaction():
            self.stager.stage_many(src.name, [(result, data, row.modified)
                                              for row, data, result in results], force=force)
            for row, _, result in results:
                report.pulled[row.entity] += 1
                report.outcomes[type(result).__name__.lower()] += 1
            if stream is not None and page.cursor is not None:
                self.store.set_cursor(src.name, stream, page.cursor)
        crashpoint("after_stage_page")
        for entity, n in read.items():
            self.progress.read(src.name, entity, n)
        if self._page_done is not None:
            self._page_done()
        for row, _, result in results:
            if isinstance(result, Quarantined):
                log.warning("quarantined", source=src.name, entity=row.entity,
                            external_ref=result.base_ref,
                            reasons=[f"{r.field}:{r.code}" for r in result.reasons])

    def _changed(self, source: str, rows: list[tuple[SourceRow, SourceText]],
                 report: CycleReport) -> list[tuple[SourceRow, SourceText]]:
        """Leave out rows whose source data equals what was last staged for them (the
        look-back window's re-reads, a volunteer again through its memberships): their
        mapping is settled and staging them again would change nothing."""
        by_entity: dict[str, list[str]] = {}
        for row, _ in rows:
            by_entity.setdefault(row.entity, []).append(row.local_id)
        stored = {(entity, local_id): text for entity, ids in by_entity.items()
                  for local_id, text in self.store.settled_source_rows(source, entity,
                                                                       ids).items()}
        out = []
        for row, data in rows:
            if stored.get((row.entity, row.local_id)) == data:
                report.pulled[row.entity] += 1
                report.outcomes["unchanged"] += 1
            else:
                out.append((row, data))
        return out

    def remap_due(self, src: SourceConfig, entities: Collection[str] | None,
                  report: CycleReport) -> None:
        """Rows deferred until a time that has now passed are read again and mapped."""
        due = self.store.deferred_due(src.name, self.now().isoformat(timespec="microseconds"))
        by_entity: dict[str, list[str]] = {}
        for _, entity, local_id in due:
            if not entities or entity in entities:
                by_entity.setdefault(entity, []).append(local_id)
        adapter = self.adapters[src.name]
        for entity, ids in by_entity.items():
            (rows,) = _guarded(iter([adapter.read_by_ids(entity, ids)]), src.name)
            self.stage_page(src, Page(rows, None), None, report)

    def context(self, src: SourceConfig) -> MapContext:
        key = src.ref_key.get_secret_value().encode("utf-8") if src.ref_key else None
        return MapContext(source=src.name, now=self.now(),
                          jurisdiction=self.cfg.national.jurisdiction,
                          projects_from=src.projects_from, ref_key=key)


def seal_work(cfg: Config, store: StateStore, run_id: int | None,
              now: datetime | None = None) -> None:
    """The end of every piece of work that wrote audit entries (a cycle, a resync or
    retry, a drop): retention, then with $ZYBRIDGE_AUDIT_KEY a seal, also appended to
    `[audit] anchor_path` (state/seal.py)."""
    seal.end_of_cycle(store, run_id, key=keys.key_from_env(), anchor=cfg.audit.anchor_path,
                      keep_days=cfg.retention.sent_bodies_days, now=now)


def _guarded(pages: Any, source: str) -> Any:
    """Translate a source's own failures once, at the boundary: whatever a source's read
    raises that is not one of ours (OSError, a parser's RecursionError…) is a failed read
    of that source."""
    try:
        yield from pages
    except BridgeError:
        raise
    except Exception as exc:
        raise TransientError(f"source {source}: {type(exc).__name__}: {exc}") from exc


def _map_safely(fn: Callable[[SourceRow, MapContext], MapResult], row: SourceRow,
                ctx: MapContext) -> MapResult:
    """A mapping bug on one row quarantines that row; it never stops the cycle."""
    try:
        return fn(row, ctx)
    except ConfigError:
        raise
    except Exception as exc:
        return Quarantined(row.entity, row.local_id, make_ref(ctx.source, row.entity,
                                                              row.local_id),
                           (Reason("", "MAPPING_ERROR",
                                   f"the mapping failed on this row: {type(exc).__name__}"),))
