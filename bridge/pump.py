"""The push pump: sends a backfill's creations between the pages of the cycle that
stages them.

A backfill spends most of its time mapping and staging rows while the platform (another
process, another machine) sits idle, then the platform works while the bridge waits.
The pump overlaps the two without a second writer: after every committed page the
cycle's own thread applies the answers that came back, then forms more batches of
creations (`new_only`: upserts of refs never sent, which no safety stop counts), and
worker threads carry the requests while the next page is read and staged. Once staging
is done and the safety checks have passed, `finish()` runs the cycle's ordinary drain.

Every write goes through the one connection and the same transactions as a sequential
cycle, so a crash at any moment leaves what a sequential cycle would have left. (A pump
thread with its own connection was measured first: the two busy threads fought over the
GIL and SQLite's write lock, and each did its work about 40% slower.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import structlog

from bridge.config import NationalConfig
from bridge.national import NationalClient
from bridge.progress import Progress
from bridge.push import Pusher, PushReport
from bridge.stage import Stager
from state.store import StateStore

log = structlog.get_logger("bridge.pump")


class PushPump:
    """Call `staged()` after every committed page, then `finish()` (send everything,
    return the report) or `abandon()` (a safety stop or an error: form nothing more,
    apply what is under way)."""

    def __init__(self, store: StateStore, stager: Stager, client: NationalClient,
                 cfg: NationalConfig, *, entities: Collection[str] | None,
                 sources: Sequence[str], push_lock: AbstractContextManager[Any],
                 stop: threading.Event, sleep: Callable[[float], None],
                 progress: Progress | None = None) -> None:
        self._entities = entities
        self._sources = list(sources)
        self._push_lock = push_lock
        self._pusher = Pusher(store, stager, client, cfg, sleep=sleep, stop=stop,
                              progress=progress)
        self._pool = ThreadPoolExecutor(cfg.max_in_flight, thread_name_prefix="pump")
        self._closed = False

    def staged(self, complete: Collection[str] = ()) -> None:
        """A page committed; `complete`: entities this cycle will stage no more of. While
        another source's push holds the daemon's push lock, the step is left to the
        next page (staging never waits for another source's drain)."""
        self._pusher.staged_in_full(complete)
        acquire = getattr(self._push_lock, "acquire", None)
        release = getattr(self._push_lock, "release", None)
        if acquire is None or release is None:
            self._pusher.step(self._pool, self._entities, self._sources)
        elif acquire(blocking=False):
            try:
                self._pusher.step(self._pool, self._entities, self._sources)
            finally:
                release()

    def finish(self) -> PushReport:
        with self._push_lock:
            self._close()
            return self._pusher.drain(self._entities, self._sources)

    def abandon(self) -> None:
        """Form nothing more; the requests under way finish and their answers are
        applied (batches still waiting for a worker stay open, to go under their keys
        in a later cycle)."""
        if self._closed:
            return
        self._pusher.abandon()
        try:
            with self._push_lock:
                self._close(cancel=True)
        except Exception as exc:  # the cycle is failing already; its error is reported
            log.warning("applying the answers under way failed", error=type(exc).__name__)

    def _close(self, *, cancel: bool = False) -> None:
        self._closed = True
        try:
            self._pusher.settle(cancel=cancel)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pusher.drop_claims()
