"""How a long cycle reports its progress without printing (operator-interface.md "A long
cycle shows its progress"): the engine calls a `Progress` observer as it reads pages and
as the platform acknowledges batches; the command line renders it as rich bars on a
terminal (bridge/commands/progress.py), the daemon as a log line every 10 s (LogProgress).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol


class Progress(Protocol):
    """What the engine tells an observer; each call is cheap and never raises."""

    def expect(self, source: str, entity: str, rows: int) -> None:
        """About this many rows of source/entity will be read (the state's count)."""

    def read(self, source: str, entity: str, rows: int) -> None:
        """This many more rows of source/entity were read and staged."""

    def sent(self, entity: str, items: int) -> None:
        """The platform answered a batch of this many items of the entity."""


class Silent:
    """The observer when nobody watches."""

    def expect(self, source: str, entity: str, rows: int) -> None:
        return None

    def read(self, source: str, entity: str, rows: int) -> None:
        return None

    def sent(self, entity: str, items: int) -> None:
        return None


class LogProgress:
    """A progress line at most every `every_s` seconds: rows read per source and entity,
    items sent per entity, the rate and, where the expected count is known, an ETA."""

    def __init__(self, emit: Callable[..., Any], every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.emit = emit
        self.every_s = every_s
        self.clock = clock
        self.started = self.last = clock()
        self.expected: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        self._lock = threading.Lock()   # pushes are answered on the cycle's thread only,
        # but a daemon may share one observer between its sources' threads

    def expect(self, source: str, entity: str, rows: int) -> None:
        with self._lock:
            self.expected[f"{source}:{entity}"] = rows

    def read(self, source: str, entity: str, rows: int) -> None:
        with self._lock:
            self.rows[f"{source}:{entity}"] += rows
        self._tick()

    def sent(self, entity: str, items: int) -> None:
        with self._lock:
            self.items[entity] += items
        self._tick()

    def _tick(self) -> None:
        now = self.clock()
        with self._lock:
            if now - self.last < self.every_s:
                return
            self.last = now
            line = self._line(now)
        self.emit("progress", **line)

    def _line(self, now: float) -> dict[str, Any]:
        elapsed = max(now - self.started, 1e-9)
        read, expected = sum(self.rows.values()), sum(self.expected.values())
        rate = read / elapsed
        line: dict[str, Any] = {"rows_read": dict(self.rows), "items_sent": dict(self.items),
                                "rows_per_s": round(rate, 1),
                                "elapsed_s": round(elapsed, 1)}
        if expected > read and rate > 0:
            line["eta_s"] = round((expected - read) / rate, 1)
        return line
