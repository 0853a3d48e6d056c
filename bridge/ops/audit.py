"""The audit trail as a library: select entries (a record's story), export a period to a
verifiable file, record an admin action. No printing; bridge/commands/audit.py prints."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mappings.mask import redact
from state import audit
from state.audit import Entry, Record
from state.store import StateStore
from state.trail import Filter, export, select

__all__ = ["Filter", "codes", "export", "masked", "record_admin_action", "select", "summary"]

_INTERNAL = frozenset({"func", "needs_config", "debug", "command"})


# export and archive -----------------------------------------------------------------------
# selecting --------------------------------------------------------------------------------
# admin actions ----------------------------------------------------------------------------
def record_admin_action(store: StateStore, action: str, args: Mapping[str, Any]) -> None:
    """One `admin` entry: the action, the OS user, host and pid, and the arguments with
    ID numbers and phones masked; refs and the scope (sources, entities, ids) let
    `audit log --ref` find it. Joins the caller's transaction, or makes its own."""
    raw = dict(args)
    shown = {k: masked(v) for k, v in sorted(raw.items())
             if k not in _INTERNAL and not k.endswith("_command")}
    refs = sorted({str(r) for k in ("ref", "refs") for r in _listed(raw.get(k)) if r})
    data: dict[str, Any] = {"action": action, "user": _user(), "host": socket.gethostname(),
                            "pid": os.getpid(), "args": shown}
    if os.environ.get("SUDO_USER"):
        data["sudo_user"] = os.environ["SUDO_USER"]
    if refs:
        data["refs"] = refs
    if raw.get("source"):
        data["scope"] = {"sources": [str(s) for s in _listed(raw.get("source"))],
                         "entities": [str(e) for e in _listed(raw.get("entity"))],
                         "ids": [str(i) for i in _listed(raw.get("id"))]}
    entry = Entry("admin", data, ref=refs[0] if len(refs) == 1 else None)
    if store.conn.in_transaction:
        store.audit([entry])
    else:
        with store.transaction():
            store.audit([entry])


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | set) else [value]


def masked(value: Any) -> Any:
    """A value (or list of values) with ID numbers and phones masked; numbers as they are."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple | set):
        return [masked(v) for v in value]
    return redact(str(value))


# one line per entry ----------------------------------------------------------------------
def _short(value: Any) -> str:
    return str(value)[:12] if value else "-"


def codes(reasons: Sequence[Mapping[str, Any]] | None) -> str:
    """`field:code, field:code` (`-` for a reason of no field)."""
    return ", ".join(f"{r.get('field') or '-'}:{r.get('code')}" for r in reasons or [])


def _request(d: dict[str, Any]) -> str:
    status = f"HTTP {d['status']}" if d.get("status") else "no response"
    extra = "".join([" (replayed)" if d.get("replayed") else "",
                     f": {redact(str(d['error']))}" if d.get("error") else ""])
    return (f"{d.get('key')} attempt {d.get('attempt')}: {status}{extra}, "
            f"{d.get('duration_ms')} ms")


def _result(d: dict[str, Any]) -> str:
    nid = f" {d['national_id']}" if d.get("national_id") else ""
    errors = f" [{codes(d.get('errors'))}]" if d.get("errors") else ""
    return (f"{d.get('op')} → {d.get('status')}{nid}{errors}, payload "
            f"{_short(d.get('payload_sha256'))}, batch {d.get('batch_key')}")


SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "batch": lambda d: (f"{d.get('key')} POST {d.get('path')}: {d.get('items')} items, "
                        f"body {_short(d.get('body_sha256'))}"),
    "request": _request,
    "result": _result,
    "quarantine": lambda d: f"quarantined: {codes(d.get('reasons'))}",
    "dead_letter": lambda d: (f"dead letter ({d.get('op')}): {codes(d.get('errors'))}, "
                              f"payload {_short(d.get('payload_sha256'))}, "
                              f"batch {d.get('batch_key')}"),
    "admin": lambda d: (f"{d.get('action')} by {d.get('user')}@{d.get('host')}: "
                        f"{audit.canonical(d.get('args'))}"),
    "checkpoint": lambda d: (f"entries {d.get('from')}–{d.get('through')} archived to "
                             f"{d.get('file')} (sha256 {_short(d.get('file_sha256'))}), "
                             f"last hash {_short(d.get('last_hash'))}"),
    "seal": lambda d: (f"seal of entry {d.get('head_seq')} ({_short(d.get('head_hash'))}), "
                       f"key id {d.get('key_id')}"),
}


def summary(r: Record) -> str:
    """One line saying what the entry records. Entries hold no PII by construction (admin
    arguments are masked when written); free text from the wire is masked here again."""
    d = r.payload()
    fn = SUMMARIES.get(r.kind)
    return fn(d) if fn else redact(audit.canonical(d))
