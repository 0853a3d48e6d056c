"""Read-ahead: the pages of a long read of a SQL source are read and mapped in a second
process while the cycle's thread stages and pushes the pages before them.

The cycle's thread is the bridge's bottleneck in a backfill (one writer, DESIGN.md); a
page's read, the JSON of its source rows and its mapping need no state file, so they go
to a spawned process that opens its own read-only connection to the source and hands
each page back mapped, a few pages ahead, over a bounded queue. Nothing durable happens
in it: the cycle stages each page and stores its cursor in one transaction, as without
read-ahead, so a crash at any moment loses only pages not yet staged, which the next
cycle reads again from the stored cursor. A failed read, or a failing worker, is the
source's failed read (TransientError), as in the cycle's own thread.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from adapters.base import Cursor, SourceAdapter, SourceRow
from bridge.config import Config, SourceConfig
from bridge.errors import BridgeError, ConfigError, TransientError
from mappings import get as get_mapping
from mappings.result import MapContext, MapResult, Quarantined, Reason
from mappings.result import ref as make_ref
from state.rows import SourceText

DEPTH = 4            # pages mapped ahead of the one being staged
POLL_S = 1.0         # how often a waiting cycle checks that the worker is alive
_END = "end"
Opener = Callable[[Config, SourceConfig], SourceAdapter]  # bridge.runtime.open_adapter


@dataclass(frozen=True)
class MappedPage:
    """A page as the worker hands it back: each row with its stored JSON text and its
    mapping, and the cursor to store once the page is staged."""

    rows: list[tuple[SourceRow, SourceText, MapResult]]
    cursor: Cursor | None


def map_safely(fn: Callable[[SourceRow, MapContext], MapResult], row: SourceRow,
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


def _worker(opener: Opener, cfg: Config, source: str, stream: str, since: Cursor | None,
            ctx: MapContext, pinned_now: bool, out: Any) -> None:
    """The second process: read the stream from `since`, map every page, put it on `out`;
    then _END, or the failure (as a TransientError when it does not pickle)."""
    try:
        src = cfg.source(source)
        adapter = opener(cfg, src)
        mapping = get_mapping(src.mapping).map_row
        try:
            for page in adapter.read_changes(stream, since, src.lookback_s, src.page_size):
                now = ctx if pinned_now else _at(ctx, datetime.now(UTC))
                rows = [(SourceRow(r.entity, r.local_id, r.modified),
                         SourceText.of(r.data), map_safely(mapping, r, now))
                        for r in page.rows]
                _put(out, MappedPage(rows, page.cursor))
        finally:
            adapter.close()
        _put(out, _END)
    except BaseException as exc:  # handed to the cycle as (kind, message): it decides
        if isinstance(exc, ConfigError):
            _put(out, ("config", str(exc)))
        elif isinstance(exc, BridgeError):
            _put(out, ("transient", str(exc)))
        else:
            _put(out, ("transient", f"source {source}: {type(exc).__name__}: {exc}"))


def _put(out: Any, item: object) -> None:
    """Put on the bounded queue; a worker whose cycle is gone (killed: nothing takes
    from the queue any more) ends instead of waiting for ever."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            out.put(item, timeout=POLL_S)
            return
        except queue.Full:
            if parent is not None and not parent.is_alive():
                os._exit(0)


def _at(ctx: MapContext, now: datetime) -> MapContext:
    return replace(ctx, now=now)


class ReadAhead:
    """One stream read ahead by a spawned process; iterate for its MappedPages; close()
    (also on an error or a stop) ends the process."""

    def __init__(self, opener: Opener, cfg: Config, src: SourceConfig, stream: str,
                 since: Cursor | None, ctx: MapContext, *, pinned_now: bool = False) -> None:
        spawn = multiprocessing.get_context("spawn")  # never fork a process with threads
        self._queue: Any = spawn.Queue(maxsize=DEPTH)
        self._source = src.name
        self._proc = spawn.Process(target=_worker, name=f"zybridge-read-{src.name}",
                                   args=(opener, cfg, src.name, stream, since, ctx, pinned_now,
                                         self._queue), daemon=True)
        self._proc.start()

    def __iter__(self) -> Iterator[MappedPage]:
        while True:
            got = self._next()
            if isinstance(got, MappedPage):
                yield got
            elif isinstance(got, tuple):
                kind, message = got
                raise ConfigError(message) if kind == "config" else TransientError(message)
            elif isinstance(got, BaseException):
                raise got
            else:
                return

    def _next(self) -> object:
        while True:
            try:
                return self._queue.get(timeout=POLL_S)
            except queue.Empty:
                if not self._proc.is_alive():
                    try:   # it may have put its last item just before it ended
                        return self._queue.get(timeout=POLL_S)
                    except queue.Empty:
                        return TransientError(
                            f"source {self._source}: the read-ahead process ended "
                            f"(exit code {self._proc.exitcode})")

    def close(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(timeout=10)
        self._queue.close()
        self._queue.cancel_join_thread()
