"""What the daemon needs to reload its configuration on SIGHUP (bridge/daemon.py): the new
file checked exactly as `zybridge run` checks it at start-up, plus what only a restart can
change; and a count of the cycles under way, so that the swap happens between cycles."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bridge import configcheck
from bridge.config import Config, SourceConfig
from bridge.config import load as load_file
from bridge.errors import ConfigError

RESTART_ONLY = ("state.path", "metrics")   # a running daemon holds these open


def validated(old: Config, path: Path, trigger: Callable[[SourceConfig], Any]) -> Config:
    """The configuration at `path`, checked as at start-up (its keys, its variables, the
    files it writes, every schedule); a ConfigError names what is wrong, including a key
    only a restart can change."""
    new = load_file(path)
    new.require_env()
    configcheck.preflight(new, listen=False)
    for src in new.sources:
        trigger(src)
    if new.state.path != old.state.path:
        raise ConfigError("state.path changed: the daemon holds the old state file; "
                          "restart it to use another")
    if new.metrics != old.metrics:
        raise ConfigError("[metrics] changed: restart the daemon to listen elsewhere")
    return new


class Cycles:
    """The cycles under way; `wait_idle` returns once none runs (or the daemon stops)."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._idle:
            self._count += 1
        try:
            yield
        finally:
            with self._idle:
                self._count -= 1
                self._idle.notify_all()

    def wait_idle(self, stop: threading.Event) -> bool:
        """True once no cycle runs; False when the daemon is told to stop first."""
        with self._idle:
            while self._count and not stop.is_set():
                self._idle.wait(0.5)
            return not stop.is_set()
