"""The push pump: sends a cycle's creations while the cycle is still staging.

A backfill spends most of its time mapping and staging rows in this process while the
platform (another process, another machine) sits idle, then the platform works while
this process waits. The pump overlaps the two: a thread with its own connection to the
state file drains the outbox in `new_only` passes (creations only, which no safety stop
counts) as pages commit; once staging is done and the safety checks have passed, it
runs the cycle's ordinary drain. Everything it writes goes through the same
transactions as a sequential cycle (SQLite serializes the two writers; BEGIN IMMEDIATE
and the busy timeout make them wait, never fail), so a crash at any moment leaves what
a sequential cycle would have left.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

import structlog

from bridge.config import NationalConfig
from bridge.national import NationalClient
from bridge.push import Pusher, PushReport
from bridge.stage import Stager
from state.store import StateStore

log = structlog.get_logger("bridge.pump")
IDLE_WAIT_S = 0.25


class PushPump:
    """Run `start()`, call `staged()` after every committed page, then `finish()` (send
    everything, return the report) or `abandon()` (a safety stop: send nothing more)."""

    def __init__(self, open_store: Callable[[], StateStore], run_id: int,
                 client: NationalClient, cfg: NationalConfig, *,
                 entities: Collection[str] | None, sources: Sequence[str],
                 push_lock: AbstractContextManager[Any], stop: threading.Event,
                 sleep: Callable[[float], None]) -> None:
        self._open_store = open_store
        self._run_id = run_id
        self._client = client
        self._cfg = cfg
        self._entities = entities
        self._sources = list(sources)
        self._push_lock = push_lock
        self._stop = stop
        self._sleep = sleep
        self._work = threading.Event()
        self._final = threading.Event()
        self._abandon = threading.Event()
        self._report: PushReport | None = None
        self._complete: set[str] = set()
        self._pusher: Pusher | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=contextvars.copy_context().run,
                                        args=(self._run,), name="push-pump", daemon=True)

    @property
    def failed(self) -> BaseException | None:
        return self._error

    def start(self) -> None:
        self._thread.start()

    def staged(self, complete: Collection[str] = ()) -> None:
        """A page committed; `complete`: entities this cycle will stage no more of."""
        self._complete.update(complete)
        self._work.set()

    def finish(self) -> PushReport:
        self._final.set()
        self._work.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._report is not None
        return self._report

    def abandon(self) -> None:
        """Send nothing more: requests under way finish and are applied, then the
        thread ends (a safety stop, a failed source, an interrupt)."""
        self._abandon.set()
        if self._pusher is not None:
            self._pusher.halt.set()
        self._work.set()
        self._thread.join()

    # the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            store = self._open_store()
        except BaseException as exc:
            self._error = exc
            return
        store.run_id = self._run_id
        try:
            pusher = self._pusher = Pusher(store, Stager(store), self._client, self._cfg,
                                           sleep=self._sleep, stop=self._stop)
            if self._abandon.is_set():
                pusher.halt.set()
            self._report = pusher.report
            while not (self._final.is_set() or self._abandon.is_set() or self._stop.is_set()):
                self._work.wait(IDLE_WAIT_S)
                self._work.clear()
                pusher.complete = set(self._complete)
                with self._push_lock:
                    pusher.drain(self._entities, self._sources, new_only=True)
            if self._final.is_set() and not self._abandon.is_set():
                with self._push_lock:
                    pusher.drain(self._entities, self._sources)
        except BaseException as exc:
            self._error = exc
            log.warning("the push failed while staging; the cycle stops",
                        error=type(exc).__name__)
        finally:
            store.close()
