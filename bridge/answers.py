"""Sending a formed batch and applying the platform's answers: the half of Pusher
(bridge/push.py) that talks HTTP, with tenacity retries (full jitter, Retry-After), on
worker threads, and records the answers (ledger, outbox, dead letters, audit) on the main
thread, which alone writes the state file."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from bridge import metrics
from bridge.config import NationalConfig
from bridge.crashpoints import crashpoint
from bridge.errors import RejectedError, TransientError
from bridge.national import BatchResponse, ItemResult, NationalClient, Unreachable
from bridge.progress import Progress
from bridge.ratelimit import TokenBucket
from bridge.stage import Stager
from state.audit import Entry, dead_letter_entry
from state.store import Batch, OutboxItem, StateStore

log = structlog.get_logger("bridge.push")

REF_NOT_FOUND_CYCLES = 3
UNREACHABLE_ATTEMPTS = 3      # a refused connection is retried this often at most…
UNREACHABLE_DEADLINE_S = 10.0  # …and for this long, whatever max_attempts and deadline_s say
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


@dataclass
class Delivery:
    batch: Batch
    response: BatchResponse | None = None
    error: Exception | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


class Answers:
    """Pusher's delivery and bookkeeping; the attributes are Pusher's own."""

    store: StateStore
    stager: Stager
    client: NationalClient
    cfg: NationalConfig
    sleep: Callable[[float], None]
    rng: Callable[[], float]
    backoff_base: float
    backoff_cap: float
    bucket: TokenBucket
    report: PushReport
    progress: Progress
    stop: threading.Event
    _skip: set[str]
    _size: dict[tuple[str, str], int]
    _formed: dict[int, list[OutboxItem]]
    _claims: dict[Future[Delivery], str]
    _inflight: set[Future[Delivery]]
    unreachable: Unreachable | None  # set by the first batch whose attempts found no platform
    _lead: int | None  # the worker thread whose batch retries a refused connection
    _lead_lock: threading.Lock

    def _release(self, refs: Iterable[str]) -> None:
        raise NotImplementedError

    def _put_back(self, phase: tuple[str, str], items: Sequence[OutboxItem]) -> None:
        raise NotImplementedError

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
        if self.unreachable is not None:  # another batch's attempts found no platform
            delivery.error = self.unreachable
            return delivery
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
        with self._lead_lock:
            if self._lead == threading.get_ident():  # the verdict on a refused connection
                self._lead = None
                if isinstance(delivery.error, Unreachable):
                    self.unreachable = delivery.error
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
            emit = log.warning if "error" in record else log.info
            emit("request failed" if "error" in record else "request", batch_key=batch.key,
                 path=batch.path, attempt=number, status=record.get("status"),
                 duration_ms=record["duration_ms"], error=record.get("error"))

    def _should_stop(self, state: RetryCallState) -> bool:
        """Attempts and the deadline bound a batch's retries in one cycle; a stop request
        ends them too (the batch stays persisted for the next cycle)."""
        elapsed = state.seconds_since_start or 0.0
        attempts, deadline = self.cfg.max_attempts, self.cfg.deadline_s
        if state.outcome is not None and isinstance(state.outcome.exception(), Unreachable):
            if not self._leads():
                return True  # one batch retries a refused connection; the others stay queued
            attempts = min(attempts, UNREACHABLE_ATTEMPTS)
            deadline = min(deadline, UNREACHABLE_DEADLINE_S)
        return (state.attempt_number >= attempts or elapsed >= deadline
                or self.stop.is_set() or self.unreachable is not None)

    def _leads(self) -> bool:
        """Whether this worker's batch is the one that retries a refused connection (the
        first to meet one): the platform answers all batches or none."""
        with self._lead_lock:
            if self._lead is None:
                self._lead = threading.get_ident()
            return self._lead == threading.get_ident()

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
        self.progress.sent(batch.entity, len(items))
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
