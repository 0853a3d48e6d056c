"""The console's one door to the bridge: configuration, the state file (read-only), the
status document, the audit log and the hand-off to the daemon. Pages call only this
module, so the bridge's admin library can be swapped in here in one place."""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from bridge import config as config_mod
from bridge.commands import admin
from bridge.config import Config
from bridge.errors import ConfigError
from bridge.ops import handoff
from bridge.ops.audit import masked
from bridge.ops.audit import summary as entry_summary
from bridge.ops.resync import Selection, estimate, parse_since
from bridge.ops.status import daemon_row, status_document
from state import audit, views
from state import seal as seals
from state.audit import Entry, Verdict
from state.keys import key_from_env
from state.lock import holder
from state.store import StateStore

T = TypeVar("T")


class _Unset(dict[str, str]):
    """The environment, where a variable the console does not use may be unset: the
    console holds no platform or source secret (operator-interface.md)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ)

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return f"<unset:{key}>"


def load_config(path: Path) -> Config:
    return config_mod.load(path, environ=_Unset(os.environ))


@contextmanager
def reader(cfg: Config) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the state file (`mode=ro`)."""
    store = StateStore.open(cfg.state.path, readonly=True)
    try:
        yield store.conn
    finally:
        store.close()


class Cache:
    """Aggregates over the whole state file (the counts by status, the charts) take
    seconds at a million rows: a page shows the last result while it is younger than
    `ttl_s`, and an older one while a background thread computes the next; only the very
    first call waits."""

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._values: dict[str, tuple[float, Any]] = {}
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def get(self, key: str, compute: Callable[[], T]) -> tuple[T, float]:
        """The value and when (time.time()) it was computed."""
        with self._lock:
            found = self._values.get(key)
            stale = found is None or time.time() - found[0] > self.ttl_s
            start = stale and found is not None and key not in self._running
            if start:
                self._running.add(key)
        if found is None:
            self._store(key, compute)
            return self._values[key][1], self._values[key][0]
        if start:
            threading.Thread(target=self._store, args=(key, compute), daemon=True).start()
        return found[1], found[0]

    def _store(self, key: str, compute: Callable[[], Any]) -> None:
        try:
            value = compute()
            with self._lock:
                self._values[key] = (time.time(), value)
        finally:
            with self._lock:
                self._running.discard(key)


def status(cfg: Config, cache: Cache) -> tuple[dict[str, Any], float]:
    """The status document (`zybridge status --json`), its daemon and lock fresh."""
    doc, at = cache.get("status", lambda: status_document(cfg))
    return {**doc, "daemon": daemon(cfg), "lock": {"held": holder(cfg.state.path) is not None,
                                                   "pid": holder(cfg.state.path)}}, at


def daemon(cfg: Config) -> dict[str, Any] | None:
    """The daemon's row, and whether it runs (it holds the state lock), read now."""
    with reader(cfg) as conn:
        row = StateStore(conn, cfg.state.path).daemon()
    return daemon_row(row, holder(cfg.state.path))


def daemon_running(cfg: Config) -> bool:
    found = daemon(cfg)
    return bool(found and found["running"])


def record(cfg: Config, user: str, action: str, details: Mapping[str, Any]) -> None:
    """An `admin` audit entry for a console login, logout or action (masked details)."""
    data = {"action": f"console {action}", "user": user, "via": "console",
            "host": socket.gethostname(), "pid": os.getpid(),
            "args": {k: masked(v) for k, v in sorted(details.items())}}
    refs = [str(r) for r in details.get("refs") or []]
    if refs:
        data["refs"] = sorted(refs)
    store = StateStore.open(cfg.state.path)
    try:
        with store.transaction():
            store.audit([Entry("admin", data, ref=refs[0] if len(refs) == 1 else None)])
    finally:
        store.close()


def hand_off(cfg: Config, argv: list[str], user: str) -> int:
    """Queue a command for the running daemon exactly as the command line hands it
    (bridge/ops/handoff.py: the typed request its parser makes of `argv`); the request id.
    Raises ConfigError when no daemon runs."""
    if not daemon_running(cfg):
        raise ConfigError("no daemon runs: admin actions need `zybridge run`")
    found = handed_request(argv)
    store = StateStore.open(cfg.state.path)
    try:
        return store.queue_request(found.to_json(), f"console:{user}")
    finally:
        store.close()


def handed_request(argv: list[str]) -> handoff.Request:
    """The request the command line would hand over for `zybridge <argv>`."""
    parser = argparse.ArgumentParser(prog="zybridge", exit_on_error=False)
    admin.register(parser.add_subparsers(dest="command", required=True))
    found = admin.handed_request(parser.parse_args(argv))
    if found is None:
        raise ConfigError(f"not an action the daemon runs: {argv[:2]}")
    return found


def request(cfg: Config, request_id: int) -> dict[str, Any] | None:
    with reader(cfg) as conn:
        return views.request_row(conn, request_id)


def resync_size(cfg: Config, source: str, entity: str | None, ids: tuple[str, ...],
                since: str | None) -> int:
    """Rows a resync will read, as the command line counts them for its confirmation."""
    cfg.source(source)
    sel = Selection(source, entity, ids, parse_since(since) if since else None)
    store = StateStore.open(cfg.state.path, readonly=True)
    try:
        return estimate(store, sel)
    finally:
        store.close()


def verify(cfg: Config) -> Verdict:
    with reader(cfg) as conn:
        return seals.verify(conn, key_from_env())


def summary(r: audit.Record) -> str:
    return entry_summary(r)
