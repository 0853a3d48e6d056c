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
from collections import Counter
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any
from weakref import WeakKeyDictionary

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
)

from bridge import metrics
from bridge.config import NationalConfig
from bridge.crashpoints import crashpoint
from bridge.errors import RejectedError, TransientError
from bridge.national import BatchResponse, ItemResult, NationalClient
from bridge.ratelimit import TokenBucket
from bridge.refs import PATHS, PHASES, canonical, parent_refs, text_hash
from bridge.stage import Stager, Verdict, effective
from state.audit import Entry, dead_letter_entry
from state.store import Batch, OutboxItem, StateStore

STEP_AHEAD = 2  # step(): batches under way or formed, in units of max_in_flight
log = structlog.get_logger("bridge.push")

MAX_BODY = 1_048_576
REF_NOT_FOUND_CYCLES = 3
OK_STATUSES = {"created": "synced", "updated": "synced", "unchanged": "synced",
               "matched": "alias"}


@dataclass
class PushReport:
    requests: int = 0
    batches: int = 0
    retries: int = 0
    rate_limited: int = 0
    undelivered: int = 0
    items: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "batches": self.batches, "retries": self.retries,
                "rate_limited": self.rate_limited, "undelivered_batches": self.undelivered,
                "items": dict(self.items)}


@dataclass(frozen=True)
class Lookups:
    parents: dict[str, tuple[bool, bool]]  # ref → (available, pending)
    in_flight: set[str]                    # refs in an unacknowledged batch
    revoking: set[str]                     # bases with a revocation waiting


@dataclass
class Delivery:
    batch: Batch
    response: BatchResponse | None = None
    error: Exception | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


class Pusher:
    def __init__(self, store: StateStore, stager: Stager, client: NationalClient,
                 cfg: NationalConfig, *, sleep: Callable[[float], None] = time.sleep,
                 rng: Callable[[], float] = random.random,
                 stop: threading.Event | None = None) -> None:
        self.store = store
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
        self._new_only = False
        self.halt = threading.Event()  # this pusher only: form nothing more (pump.abandon)
        self._early_after: dict[tuple[str, str], int] = {}
        self.complete: set[str] = set()  # entities staged in full: a partial batch may go
        # new_only passes: items to look at again by phase, and items held by parent ref
        self._relook: dict[tuple[str, str], set[int]] = {}
        self._partial: dict[tuple[str, str], list[int]] = {}  # phase → put back, unsent
        self._held_on: dict[str, set[tuple[str, str, int]]] = {}
        self._inflight: set[Future[Delivery]] = set()  # the pump's requests (step)
        self._formed: dict[int, list[OutboxItem]] = {}  # batch id → its items, as formed
        self._claims: dict[Future[Delivery], str] = {}  # future → its batch's key

    # the loop ----------------------------------------------------------------------
    def drain(self, entities: Collection[str] | None = None,
              sources: Sequence[str] | None = None) -> PushReport:
        """Send what the outbox holds, phase by phase; only the items of `sources` when
        given (a source paused by a safety stop is never sent by another's cycle)."""
        self._sources = list(sources) if sources is not None else None
        self._new_only = False
        with ThreadPoolExecutor(self.cfg.max_in_flight, thread_name_prefix="push") as pool:
            for entity, op in PHASES:
                if self.halt.is_set():
                    break
                if entities and entity not in entities:
                    continue
                self._send(pool, [b for b in self.store.open_batches()
                                  if (b.entity, b.op) == (entity, op) and self._ours(b)],
                           None)
                self._send(pool, [], (entity, op))
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
        self._new_only = True
        done = {f for f in self._inflight if f.done()}
        self._inflight -= done
        self._conclude(done)
        for n, (entity, op) in enumerate(PHASES):
            room = STEP_AHEAD * self.cfg.max_in_flight - len(self._inflight)
            if (room < self.cfg.max_in_flight or self.halt.is_set()
                    or self.stop.is_set()):
                return
            if op != "upsert" or (entities and entity not in entities):
                continue
            earlier = {e for e, _ in PHASES[:n]} - {entity}
            if any(self._partial.get((e, "upsert")) for e in earlier) or self.store.outbox_holds(
                    earlier, {e: i for (e, o), i in self._early_after.items() if o == "upsert"}):
                return  # their parents are still on the way: the items would wait
            self._submit(pool, self._form(entity, op, room), self._inflight)

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
                        and not self.halt.is_set()):
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
        """Persist up to max_batches batches of what can go now. A `new_only` pass
        (step) forms full batches only (but for entities in `complete`), reads each
        unsent item once, and looks again only at items it put back: a partial batch's,
        a split batch's, and those held for a parent whose acknowledgement has come
        since (so it costs about what it sends; what it never sends, the cycle's
        ordinary drain takes)."""
        phase = (entity, op)
        formed: list[Batch] = []
        start = self._early_after.get(phase, 0) if self._new_only else 0
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
                self._new_only and len(chosen) < size and entity not in self.complete)):
            self._put_back(phase, chosen)  # a partial batch waits for more
            waiting = [i.id for i in chosen]
        elif chosen:
            formed.append(self._persist(entity, op, chosen, blobs))
        if self._new_only:
            self._early_after[phase] = scanned
            self._partial[phase] = waiting  # later phases wait for these too (step)

    def _chunks(self, phase: tuple[str, str],
                after: int) -> Generator[list[OutboxItem], None, None]:
        """The unsent items of a phase in chunks by id: in a `new_only` pass first those
        put back to be looked at again (all at or below `after`, the last id read),
        then those above it. Re-looked ids not reached when the caller stops are put
        back again."""
        if self._new_only and self._relook.get(phase):
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
                                      new_only=self._new_only)
            if not chunk:
                return
            yield chunk
            after = chunk[-1].id

    def _put_back(self, phase: tuple[str, str], items: Sequence[OutboxItem]) -> None:
        if self._new_only:
            self._look_again(phase, [i.id for i in items])

    def _look_again(self, phase: tuple[str, str], ids: Iterable[int]) -> None:
        """A `new_only` pass reads these items first the next time it forms `phase`."""
        self._relook.setdefault(phase, set()).update(ids)

    def _hold(self, item: OutboxItem, looked: Lookups) -> None:
        """A `new_only` pass held this item for parents on their way: it is looked at
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
                                        batch_refs=batch_refs, hold_pending=self._new_only,
                                        known=looked.parents)
        if verdict is Verdict.HOLD:  # formed again in a later round, waits and all
            if self._new_only:
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

    # sending (worker threads: HTTP only) ----------------------------------------------
    def _conclude(self, done: Collection[Future[Delivery]]) -> None:
        """Apply the answers of finished requests (not of cancelled ones) and let go of
        their batches' keys, whatever happens."""
        try:
            answered = [f.result() for f in done if not f.cancelled()]
            if answered:
                self._apply(answered)
        finally:
            self._unclaim(done)

    def _submit(self, pool: ThreadPoolExecutor, batches: Sequence[Batch],
                futures: set[Future[Delivery]]) -> None:
        """Send batches in workers, adding their futures to `futures` one by one. A
        batch's key stays claimed until its answer is applied: no other pusher of this
        process (an admin's resync while a backfill's pump has requests out) sends an
        open batch another has claimed; this one skips such a batch too."""
        for batch in batches:
            if not _CLAIMED.claim(batch.key):
                continue
            try:
                fut = pool.submit(self._deliver, batch)
            except BaseException:
                _CLAIMED.release([batch.key])
                raise
            self._claims[fut] = batch.key
            futures.add(fut)

    def _unclaim(self, futures: Collection[Future[Delivery]]) -> None:
        _CLAIMED.release([k for k in (self._claims.pop(f, None) for f in futures) if k])

    def drop_claims(self) -> None:
        """Let go of every key still claimed (the pump's pool has ended: what was not
        applied stays open, for a later drain)."""
        self._inflight.clear()
        self._unclaim(list(self._claims))

    def _deliver(self, batch: Batch) -> Delivery:
        delivery = Delivery(batch)
        retrying = Retrying(
            stop=self._should_stop,
            wait=self._wait, retry=retry_if_exception_type(TransientError),
            sleep=self.sleep, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    self._attempt(batch, delivery, attempt.retry_state.attempt_number)
        except Exception as exc:  # ConfigError, RejectedError, exhausted TransientError
            delivery.error = exc
        return delivery

    def _attempt(self, batch: Batch, delivery: Delivery, number: int) -> None:
        self.bucket.acquire()
        started = time.monotonic()
        record: dict[str, Any] = {"key": batch.key, "path": batch.path, "attempt": number,
                                  "body_sha256": batch.body_sha256}
        delivery.attempts.append(record)
        try:
            delivery.response = self.client.post_batch(batch.path, batch.body, batch.key)
            crashpoint("after_platform_answer")
            record["status"] = delivery.response.status
            record["replayed"] = delivery.response.replayed
        except TransientError as exc:
            record["status"], record["error"] = exc.status, str(exc)
            raise
        except RejectedError as exc:
            record["status"], record["error"] = exc.status, exc.code
            raise
        finally:
            record["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            log.info("request", batch_key=batch.key, path=batch.path, attempt=number,
                     status=record.get("status"), duration_ms=record["duration_ms"],
                     error=record.get("error"))

    def _should_stop(self, state: RetryCallState) -> bool:
        """Attempts and the deadline bound a batch's retries in one cycle; a stop request
        ends them too (the batch stays persisted for the next cycle)."""
        elapsed = state.seconds_since_start or 0.0
        return (state.attempt_number >= self.cfg.max_attempts
                or elapsed >= self.cfg.deadline_s or self.stop.is_set())

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        ceiling = min(self.backoff_cap,
                      self.backoff_base * 2.0 ** float(state.attempt_number - 1))
        delay = float(self.rng()) * ceiling
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        return float(max(delay, retry_after) if retry_after else delay)

    # applying (main thread) -------------------------------------------------------------
    def _apply(self, deliveries: Sequence[Delivery]) -> None:
        """Record the answers of finished requests, all in one transaction (a crash
        before it commits leaves their batches open, to be sent again under the same
        keys); then raise the first error that is not the platform's."""
        with self.store.transaction():
            for delivery in deliveries:
                self._apply_one(delivery)
        crashpoint("after_apply")
        for delivery in deliveries:
            if delivery.error is not None and not isinstance(
                    delivery.error, (TransientError, RejectedError)):
                raise delivery.error

    def _apply_one(self, delivery: Delivery) -> None:
        batch = delivery.batch
        self.report.requests += len(delivery.attempts)
        self.report.retries += max(0, len(delivery.attempts) - 1)
        self.report.rate_limited += sum(1 for a in delivery.attempts if a.get("status") == 429)
        _count(batch, delivery)
        self.store.audit([Entry("request", a) for a in delivery.attempts])
        if delivery.response is not None:
            self._apply_results(batch, delivery.response)
        elif isinstance(delivery.error, RejectedError):
            self._rejected(batch, delivery.error, len(delivery.attempts))
        else:
            error = delivery.error
            status = getattr(error, "status", None)
            self.store.note_attempts(batch.id, batch.attempts + len(delivery.attempts),
                                     status, str(error))
            if isinstance(error, TransientError):
                self.report.undelivered += 1

    def _apply_results(self, batch: Batch, response: BatchResponse) -> None:
        self.report.batches += 1
        by_ref = {r.external_ref: r for r in response.results}
        entries: list[Entry] = []
        items = self._items(batch)
        acked = [i for i in items if i.op == "upsert" and i.ref in by_ref
                 and by_ref[i.ref].status in OK_STATUSES]
        self._acknowledge(acked, by_ref)
        acked_ids = {i.id for i in acked}
        for item in items:
            result = by_ref.get(item.ref)
            if result is None:
                log.warning("result missing", external_ref=item.ref, batch_key=batch.key)
                self.store.release(item)
                self._skip.add(item.ref)  # next cycle, not in a loop now
                continue
            self.report.items[result.status] += 1
            entries.append(Entry("result", {
                "batch_key": batch.key, "op": item.op, "status": result.status,
                "national_id": result.national_id, "payload_sha256": item.hash,
                "errors": [{"field": e.get("field"), "code": e.get("code")}
                           for e in result.errors]}, ref=item.ref))
            dead = None if item.id in acked_ids else self._apply_item(item, result)
            if dead is not None:
                entries.append(dead_letter_entry(item.ref, batch_key=batch.key, op=item.op,
                                                 payload_sha256=item.hash, errors=dead))
        self.store.close_batch(batch.id, "done", response.status,
                               batch.attempts + 1)
        self.store.audit(entries)
        for child in self.store.waiting_on_many([i.ref for i in acked]):
            self.stager.plan(child)
            self.stager.refresh_status(child)
        self.stager.refresh_many({(i.source, i.entity, i.local_id) for i in acked})

    def _items(self, batch: Batch) -> list[OutboxItem]:
        """A batch's items: as formed by this pusher, else (a batch an earlier run left
        open) from the outbox."""
        formed = self._formed.pop(batch.id, None)
        return formed if formed is not None else self.store.batch_items(batch.id)

    def _acknowledge(self, items: list[OutboxItem], by_ref: dict[str, ItemResult]) -> None:
        """The accepted upserts of a batch, at once: in the ledger, out of the outbox and
        the dead letters (their waiting children and statuses follow the batch)."""
        self._release(i.ref for i in items)
        aliases = self.store.alias_refs([i.ref for i in items])
        self.store.put_ledger_many([(i, by_ref[i.ref].national_id,
                                     _ledger_status(by_ref[i.ref].status, i.ref in aliases))
                                    for i in items])
        self.store.clear_dead_many([i.ref for i in items])
        self.store.delete_outbox_many([i.id for i in items])

    def _apply_item(self, item: OutboxItem,
                    result: ItemResult) -> list[dict[str, str]] | None:
        """Apply one result other than an accepted upsert (those go by _acknowledge);
        returns the errors when the item became a dead letter."""
        dead: list[dict[str, str]] | None = None
        key = (item.source, item.entity, item.local_id)
        if item.op == "revoke" and result.status in ("revoked", "unchanged", "not_found"):
            status = "absent" if result.status == "not_found" else "revoked"
            self.store.put_ledger(item, national_id=result.national_id, status=status)
            self.store.clear_dead(item.ref)
            self.store.delete_outbox(item.id)
        else:
            errors = [dict(e) for e in result.errors] or [
                {"field": "", "code": "UNKNOWN", "message": f"status {result.status}"}]
            codes = {e.get("code") for e in errors}
            if codes == {"REF_NOT_FOUND"} and item.ref_misses + 1 < REF_NOT_FOUND_CYCLES:
                self.store.release(item, miss=True)
                self._skip.add(item.ref)
            else:
                self.store.add_dead(item, errors)
                self.store.delete_outbox(item.id)
                metrics.DEAD.labels(item.entity).inc()
                dead = errors
                log.warning("dead letter", external_ref=item.ref,
                            codes=sorted(str(c) for c in codes))
        self.stager.refresh_status(key)
        return dead

    def _rejected(self, batch: Batch, error: RejectedError, attempts: int) -> None:
        """400/413/422: split (or dead-letter a lone item), never loop."""
        items = self._items(batch)
        self.store.close_batch(batch.id, "abandoned", error.status, batch.attempts + attempts,
                               error.code)
        if error.code == "IDEMPOTENCY_KEY_REUSED" or len(items) > 1:
            half = max(1, len(items) // 2)
            self._size[(batch.entity, batch.op)] = min(
                half, self._size.get((batch.entity, batch.op), self.cfg.batch_size))
            for item in items:
                self.store.release(item)
            self._put_back((batch.entity, batch.op), items)  # the pump forms them again
            return
        for item in items:
            errors = [{"field": "", "code": error.code or str(error.status),
                       "message": f"the platform refused the request: HTTP {error.status}"}]
            self.store.add_dead(item, errors)
            self.store.delete_outbox(item.id)
            metrics.DEAD.labels(item.entity).inc()
            self.store.audit([dead_letter_entry(item.ref, batch_key=batch.key, op=item.op,
                                                payload_sha256=item.hash, errors=errors)])
            self.stager.refresh_status((item.source, item.entity, item.local_id))


class _Claims:
    """The keys of batches under way in this process, by any pusher."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, key: str) -> bool:
        """Claim a key; False when some pusher holds it already."""
        with self._lock:
            if key in self._keys:
                return False
            self._keys.add(key)
            return True

    def release(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._keys.difference_update(keys)


_CLAIMED = _Claims()
_BUCKETS: WeakKeyDictionary[NationalClient, TokenBucket] = WeakKeyDictionary()
_BUCKETS_LOCK = threading.Lock()


def shared_bucket(client: NationalClient, rate_per_s: float,
                  sleep: Callable[[float], None]) -> TokenBucket:
    """One token bucket per client (one app's credentials): the daemon's cycles, and a
    backfill's pump whose requests outlive its step, share the platform's rate."""
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(client)
        if bucket is None or bucket.rate != rate_per_s:
            bucket = _BUCKETS[client] = TokenBucket(rate_per_s, max(1.0, rate_per_s),
                                                    sleep=sleep)
        return bucket


def _ledger_status(result: str, was_alias: bool) -> str:
    """An alias sent again (its source row changed) stays an alias: the platform's
    `updated`/`unchanged` does not make this ref the owner of the person's profile."""
    if was_alias and result in ("updated", "unchanged"):
        return "alias"
    return OK_STATUSES[result]


def _count(batch: Batch, delivery: Delivery) -> None:
    for attempt in delivery.attempts:
        metrics.REQUESTS.labels(batch.path, str(attempt.get("status"))).inc()
        metrics.LATENCY.labels(batch.path).observe(attempt["duration_ms"] / 1000)
        if attempt.get("status") == 429:
            metrics.RATE_LIMITED.inc()
    metrics.RETRIES.inc(max(0, len(delivery.attempts) - 1))
    if delivery.response is not None:
        for status, n in Counter(r.status for r in delivery.response.results).items():
            metrics.ITEMS.labels(batch.entity, status).inc(n)
