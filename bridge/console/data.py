"""The console's one door to the bridge: configuration, the state file (read-only), the
status document, the audit log and the hand-off to the daemon. Pages call only this
module, so the bridge's admin library can be swapped in here in one place."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bridge import config as config_mod
from bridge.config import Config
from bridge.errors import ConfigError
from bridge.report import status_document
from bridge.resync import Selection, estimate, parse_since
from state import audit, db, views
from state.audit import Entry, Verdict
from state.store import StateStore

HANDED_KINDS = {"quarantine": "quarantine", "dead_letters": "dead-letters"}


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


def status(cfg: Config) -> dict[str, Any]:
    return status_document(cfg)


def daemon_running(cfg: Config) -> bool:
    daemon = status_document(cfg).get("daemon")
    return bool(daemon and daemon["running"])


def record(cfg: Config, user: str, action: str, details: Mapping[str, Any]) -> None:
    """An `admin` audit entry for a console login, logout or action (masked details)."""
    from bridge.auditlog import _masked

    data = {"action": f"console {action}", "user": user, "via": "console",
            "host": socket.gethostname(), "pid": os.getpid(),
            "args": {k: _masked(v) for k, v in sorted(details.items())}}
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
    """Queue a command for the running daemon as the command line does (bridge/handoff.py,
    a `requests` row); the request id. Raises ConfigError when no daemon runs."""
    if not daemon_running(cfg):
        raise ConfigError("no daemon runs: admin actions need `zybridge run`")
    store = StateStore.open(cfg.state.path)
    try:
        with store.transaction():
            return views.queue_request(store.conn, argv, f"console:{user}", db.utcnow())
    finally:
        store.close()


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
    from bridge.auditlog import _key

    with reader(cfg) as conn:
        return audit.verify(conn, _key())


def summary(r: audit.Record) -> str:
    from bridge.auditlog import summary as text

    return text(r)
