"""Drains the outbox: batches in dependency order, several in flight under a rate limit,
tenacity retries with full jitter and Retry-After, then the results applied.

A batch is formed and persisted (exact body bytes, fresh key) before it is sent; every
retry and every restart resends those bytes under that key (DESIGN.md "Idempotency").
Only the main thread writes the state file; worker threads only talk HTTP.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from enum import Enum

import structlog

from bridge.answers import Answers, Delivery, PushReport, shared_bucket
from bridge.config import NationalConfig
from bridge.crashpoints import crashpoint
from bridge.national import NationalClient
from bridge.progress import Progress, Silent
from bridge.refs import PATHS, PHASES, canonical, parent_refs, text_hash
from bridge.stage import Stager, Verdict, effective
from state.audit import Entry
from state.store import Batch, OutboxItem, StateStore

STEP_AHEAD = 2  # step(): batches under way or formed, in units of max_in_flight
log = structlog.get_logger("bridge.push")

__all__ = ["Delivery", "PushReport", "Pusher", "shared_bucket"]

MAX_BODY = 1_048_576


@dataclass(frozen=True)
class Lookups:
    parents: dict[str, tuple[bool, bool]]  # ref → (available, pending)
    in_flight: set[str]                    # refs in an unacknowledged batch
    revoking: set[str]                     # bases with a revocation waiting


class Mode(Enum):
    """Which entry point forms batches. DRAIN (`drain`, the end of every cycle): all that
    the outbox holds, phase by phase, full and partial batches, waiting for the answers.
    PUMP (`step`, a backfill's pump between pages): creations only, full batches (a
    partial one only for an entity staged in full), never waiting; each phase keeps its
    place in the outbox, and items whose parent is still on its way are held for it."""

    DRAIN = "drain"
    PUMP = "pump"


class Pusher(Answers):
    def __init__(self, store: StateStore, stager: Stager, client: NationalClient,
                 cfg: NationalConfig, *, sleep: Callable[[float], None] = time.sleep,
                 rng: Callable[[], float] = random.random,
                 stop: threading.Event | None = None,
                 progress: Progress | None = None) -> None:
        self.store = store
        self.progress: Progress = progress or Silent()
        self.stager = stager
        self.client = client
        self.cfg = cfg
        self.sleep = sleep
        self.rng = rng
        self.backoff_base = cfg.retry_base_s
        self.backoff_cap = cfg.retry_cap_s
        self.bucket = shared_bucket(client, cfg.rate_per_s, sleep)
        self.report = PushReport()
        self.stop = stop or threading.Event()
        self._skip: set[str] = set()
        self._sources: list[str] | None = None
        self._size: dict[tuple[str, str], int] = {}
        self.mode = Mode.DRAIN  # set by the entry point: drain() or step()
        self._halt = threading.Event()  # this pusher only: form nothing more (abandon)
        self._early_after: dict[tuple[str, str], int] = {}
        self._complete: set[str] = set()  # entities staged in full: a partial batch may go
        # pump steps: items to look at again by phase, and items held by parent ref
        self._relook: dict[tuple[str, str], set[int]] = {}
        self._partial: dict[tuple[str, str], list[int]] = {}  # phase → put back, unsent
        self._held_on: dict[str, set[tuple[str, str, int]]] = {}
        self._inflight: set[Future[Delivery]] = set()  # the pump's requests (step)
        self._formed: dict[int, list[OutboxItem]] = {}  # batch id → its items, as formed
        self._claims: dict[Future[Delivery], str] = {}  # future → its batch's key
        self.unreachable = None  # the platform refused connections: form nothing more
        self._lead = None
        self._lead_lock = threading.Lock()

    # the loop ----------------------------------------------------------------------
    def drain(self, entities: Collection[str] | None = None,
              sources: Sequence[str] | None = None) -> PushReport:
        """Send what the outbox holds, phase by phase; only the items of `sources` when
        given (a source paused by a safety stop is never sent by another's cycle)."""
        self._sources = list(sources) if sources is not None else None
        self.mode = Mode.DRAIN
        with ThreadPoolExecutor(self.cfg.max_in_flight, thread_name_prefix="push") as pool:
            for entity, op in PHASES:
                if self._halt.is_set() or self.unreachable is not None:
                    break
                if entities and entity not in entities:
                    continue
                self._send(pool, [b for b in self.store.open_batches()
                                  if (b.entity, b.op) == (entity, op) and self._ours(b)],
                           None)
                self._send(pool, [], (entity, op))
        if self.unreachable is not None:  # the batches not tried stay in the outbox
            raise self.unreachable
        return self.report

    def step(self, pool: ThreadPoolExecutor, entities: Collection[str] | None,
             sources: Sequence[str]) -> None:
        """One turn of a backfill's pump (bridge/pump.py), never waiting: apply the
        answers that came back, then form creations (upserts of refs the platform has
        never been sent, which no safety stop counts) phase by phase, until
        max_in_flight requests are under way and as many more wait their turn. A phase
        starts once the creations of the phases before it are acknowledged, but for
        items held for a parent (a parent's update, which no pump sends, may hold them
        until the drain); each item is checked against its own parents when formed."""
        self._sources = list(sources)
        self.mode = Mode.PUMP
        done = {f for f in self._inflight if f.done()}
        self._inflight -= done
        self._conclude(done)
        for n, (entity, op) in enumerate(PHASES):
            room = STEP_AHEAD * self.cfg.max_in_flight - len(self._inflight)
            if (room < self.cfg.max_in_flight or self._halt.is_set()
                    or self.stop.is_set() or self.unreachable is not None):
                return
            if op != "upsert" or (entities and entity not in entities):
                continue
            earlier = {e for e, _ in PHASES[:n]} - {entity}
            if any(self._partial.get((e, "upsert")) for e in earlier) or self.store.outbox_holds(
                    earlier, {e: i for (e, o), i in self._early_after.items() if o == "upsert"}):
                return  # their parents are still on the way: the items would wait
            self._submit(pool, self._form(entity, op, room), self._inflight)

    def staged_in_full(self, entities: Collection[str]) -> None:
        """The cycle stages no more of these entities: a pump step may send their last,
        partial batch."""
        self._complete.update(entities)

    def abandon(self) -> None:
        """Form nothing more (the pump gives up; what is under way is still applied)."""
        self._halt.set()

    @property
    def _pumping(self) -> bool:
        return self.mode is Mode.PUMP

    def settle(self, *, cancel: bool = False) -> None:
        """Wait for the pump's requests and apply their answers; with `cancel`, only
        for those under way (the batches still waiting for a worker stay open, sent
        again under their keys by a later drain)."""
        if cancel:
            for fut in self._inflight:
                fut.cancel()
        error: Exception | None = None
        while self._inflight:
            done, self._inflight = wait(self._inflight, return_when=FIRST_COMPLETED)
            try:
                self._conclude(done)
            except Exception as exc:  # the other answers are recorded all the same
                error = error or exc
        if error is not None:
            raise error

    def _send(self, pool: ThreadPoolExecutor, batches: list[Batch],
              phase: tuple[str, str] | None) -> None:
        """Send batches; with a phase, keep forming more of it as answers come back, so
        that max_in_flight requests stay under way until the phase has nothing left."""
        futures: set[Future[Delivery]] = set()
        low, high = self.cfg.max_in_flight, self.cfg.max_in_flight * 2
        formable = phase is not None
        try:
            self._submit(pool, batches, futures)
            while True:
                if (formable and len(futures) <= low and not self.stop.is_set()
                        and not self._halt.is_set() and self.unreachable is None):
                    assert phase is not None
                    formed = self._form(*phase, high - len(futures))
                    formable = bool(formed)
                    self._submit(pool, formed, futures)
                if not futures:
                    break
                done, futures = wait(futures, return_when=FIRST_COMPLETED)
                self._conclude(done)
                formable = phase is not None  # answers may free items held for a parent
        except BaseException:
            for fut in futures:
                fut.cancel()
            try:
                wait(futures)  # those under way end; their batches stay open for later
            finally:
                self._unclaim(futures)
            raise

    # forming -------------------------------------------------------------------------
    def _ours(self, batch: Batch) -> bool:
        return self._sources is None or bool(self.store.batch_sources(batch.id)
                                             & set(self._sources))

    def _form(self, entity: str, op: str, max_batches: int) -> list[Batch]:
        """Persist up to max_batches batches of what can go now. A pump step
        (step) forms full batches only (but for entities in `complete`), reads each
        unsent item once, and looks again only at items it put back: a partial batch's,
        a split batch's, and those held for a parent whose acknowledgement has come
        since (so it costs about what it sends; what it never sends, the cycle's
        ordinary drain takes)."""
        phase = (entity, op)
        formed: list[Batch] = []
        start = self._early_after.get(phase, 0) if self._pumping else 0
        chunks = self._chunks(phase, start)
        try:
            with self.store.transaction():
                self._fill(phase, chunks, start, max_batches, formed)
        except BaseException:
            for batch in formed:  # rolled back: those batches were never stored
                self._formed.pop(batch.id, None)
            raise
        finally:
            chunks.close()
        crashpoint("after_persist_batch", when=bool(formed))
        return formed

    def _fill(self, phase: tuple[str, str], chunks: Iterator[list[OutboxItem]], start: int,
              max_batches: int, formed: list[Batch]) -> None:
        entity, op = phase
        size = self._size.get(phase, self.cfg.batch_size)
        chosen: list[OutboxItem] = []
        refs: set[str] = set()
        blobs: list[bytes] = []
        body_len = 0
        scanned = start
        for chunk in chunks:
            looked = self._look_up(chunk)
            for n, item in enumerate(chunk):
                if len(formed) >= max_batches:
                    # read again next time: the scan's above `scanned`, the re-looked
                    # ones (at or below `start`) put back
                    self._put_back(phase, [i for i in chunk[n:] if i.id <= start])
                    break
                scanned = max(scanned, item.id)
                if len(chosen) >= size:
                    formed.append(self._persist(entity, op, chosen, blobs))
                    chosen, refs, blobs, body_len = [], set(), [], 0
                # an item may name a parent earlier in its own batch, never one in
                # another batch (batches go concurrently)
                ready = self._prepare(item, refs, looked)
                if ready is not None and chosen and body_len + len(ready[1]) + 13 > MAX_BODY:
                    formed.append(self._persist(entity, op, chosen, blobs))
                    chosen, refs, blobs, body_len = [], set(), [], 0
                    ready = self._prepare(ready[0], refs, looked)
                if ready is None:
                    continue
                item, blob = ready
                chosen.append(item)
                refs.add(item.ref)
                blobs.append(blob)
                body_len += len(blob) + 1
            if len(formed) >= max_batches:
                break
        waiting: list[int] = []
        if chosen and (len(formed) >= max_batches or (
                self._pumping and len(chosen) < size and entity not in self._complete)):
            self._put_back(phase, chosen)  # a partial batch waits for more
            waiting = [i.id for i in chosen]
        elif chosen:
            formed.append(self._persist(entity, op, chosen, blobs))
        if self._pumping:
            self._early_after[phase] = scanned
            self._partial[phase] = waiting  # later phases wait for these too (step)

    def _chunks(self, phase: tuple[str, str],
                after: int) -> Generator[list[OutboxItem], None, None]:
        """The unsent items of a phase in chunks by id: in a pump step first those
        put back to be looked at again (all at or below `after`, the last id read),
        then those above it. Re-looked ids not reached when the caller stops are put
        back again."""
        if self._pumping and self._relook.get(phase):
            ids = sorted(self._relook.pop(phase))
            at = 0
            try:
                while at < len(ids):
                    part, at = ids[at:at + 500], at + 500
                    chunk = self.store.unsent_by_ids(*phase, part, self._sources,
                                                     new_only=True)
                    if chunk:
                        yield chunk
            finally:
                self._look_again(phase, ids[at:])
        while True:
            chunk = self.store.unsent(*phase, 500, after, self._sources,
                                      new_only=self._pumping)
            if not chunk:
                return
            yield chunk
            after = chunk[-1].id

    def _put_back(self, phase: tuple[str, str], items: Sequence[OutboxItem]) -> None:
        if self._pumping:
            self._look_again(phase, [i.id for i in items])

    def _look_again(self, phase: tuple[str, str], ids: Iterable[int]) -> None:
        """A pump step reads these items first the next time it forms `phase`."""
        self._relook.setdefault(phase, set()).update(ids)

    def _hold(self, item: OutboxItem, looked: Lookups) -> None:
        """A pump step held this item for parents on their way: it is looked at
        again once one of them is acknowledged."""
        for ref, _ in parent_refs(item.entity, item.payload):
            if looked.parents.get(ref, (False, False))[1]:
                self._held_on.setdefault(ref, set()).add((item.entity, item.op, item.id))

    def _release(self, refs: Iterable[str]) -> None:
        for ref in refs:
            for entity, op, item_id in self._held_on.pop(ref, ()):
                self._look_again((entity, op), [item_id])

    def _look_up(self, chunk: list[OutboxItem]) -> Lookups:
        """What _prepare asks of the state file for a chunk of items, in a few queries:
        none of it changes while the chunk is formed (its own items go into batches, and
        _prepare checks those against the batch being formed)."""
        parents = {ref for i in chunk if i.op == "upsert"
                   for ref, _ in parent_refs(i.entity, i.payload)}
        return Lookups(self.store.parent_states(parents),
                       self.store.refs_in_open_batches([i.ref for i in chunk]),
                       self.store.bases_revoking([i.base_ref for i in chunk
                                                  if i.entity == "service_record"]))

    def _prepare(self, item: OutboxItem, batch_refs: set[str],
                 looked: Lookups) -> tuple[OutboxItem, bytes] | None:
        """The item as it goes (its payload made effective) and its bytes for a batch
        now, or None when it must not go in this round."""
        if item.ref in self._skip or item.ref in batch_refs or item.ref in looked.in_flight:
            return None
        if item.op == "revoke":
            return item, item.text.encode("utf-8")
        if item.entity == "service_record" and item.base_ref in looked.revoking:
            return None  # the record it replaces must be revoked first, or they overlap
        eff, waits, verdict = effective(self.store, item.entity, item.payload, strict=True,
                                        batch_refs=batch_refs, hold_pending=self._pumping,
                                        known=looked.parents)
        if verdict is Verdict.HOLD:  # formed again in a later round, waits and all
            if self._pumping:
                self._hold(item, looked)
            return None
        key = (item.source, item.entity, item.local_id)
        for parent, required in waits:
            self.store.add_wait(key, parent, required)
        if verdict is Verdict.BLOCKED:
            self.store.delete_outbox(item.id)
            self.stager.refresh_status(key)
            return None
        if eff != item.payload:
            text = canonical(eff)
            digest = text_hash(text)
            ledger = self.store.ledger(item.ref)
            if ledger and ledger.hash == digest and ledger.status != "revoked":
                self.store.delete_outbox(item.id)
                self.stager.refresh_status(key)
                return None
            self.store.update_unsent(item.id, text, digest)
            return replace(item, text=text, hash=digest), text.encode("utf-8")
        return item, item.text.encode("utf-8")

    def _persist(self, entity: str, op: str, items: list[OutboxItem],
                 blobs: list[bytes]) -> Batch:
        body = b'{"items":[' + b",".join(blobs) + b"]}"
        key = f"zyb-{uuid.uuid4().hex}"
        digest = hashlib.sha256(body).hexdigest()
        path = PATHS[(entity, op)]
        batch_id = self.store.create_batch(key, entity, op, path, body, digest,
                                           [i.id for i in items])
        self._formed[batch_id] = items
        self.store.audit([Entry("batch", {"key": key, "path": path, "body_sha256": digest,
                                          "items": len(items)})])
        return Batch(batch_id, key, entity, op, path, body, digest, len(items), 0)
