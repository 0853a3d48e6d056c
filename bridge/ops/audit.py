"""The audit trail as a library: select entries (a record's story), export a period to a
verifiable file, record an admin action. No printing; bridge/commands/audit.py prints."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError
from mappings.mask import redact
from state import audit, db
from state.audit import Entry, Record
from state.store import StateStore

_INTERNAL = frozenset({"func", "needs_config", "debug", "command"})


# export and archive -----------------------------------------------------------------------
def export(conn: Any, out: Path, since: str | None, until: str | None) -> tuple[int, str]:
    """The contiguous run of entries from the first at or after `since` to the last
    before `until`, to a verifiable file; (entries, file sha256)."""
    conn.execute("BEGIN")
    try:
        lo = conn.execute("SELECT MIN(seq) FROM audit WHERE at >= ?",
                          (since or "",)).fetchone()[0]
        hi = conn.execute("SELECT MAX(seq) FROM audit WHERE at < ?",
                          (until or "\uffff",)).fetchone()[0]
        span = (lo, hi) if lo is not None and hi is not None and lo <= hi else (0, -1)
        header: dict[str, Any] = {
            "format": "zybridge-audit-export", "version": 1, "since": since, "until": until,
            "from": span[0] or None, "through": span[1] if span[1] >= 0 else None,
            "entries": span[1] - span[0] + 1, "created_at": db.utcnow()}
        sha = audit.write_file(out, header, audit.records(conn, "seq BETWEEN ? AND ?", span))
    except FileExistsError as exc:
        raise ConfigError(f"{out} already exists: choose another --out") from exc
    finally:
        conn.execute("COMMIT")
    return int(header["entries"]), sha


# selecting --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    ref: str | None = None
    source: str | None = None
    run: int | None = None
    since: str | None = None
    until: str | None = None
    kinds: tuple[str, ...] = ()
    status: str | None = None

    def plain(self) -> tuple[str, list[Any]]:
        """The SQL condition of every filter but the subject (ref or source)."""
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (("run_id = ?", self.run), ("at >= ?", self.since),
                              ("at < ?", self.until),
                              ("CAST(json_extract(data, '$.status') AS TEXT) = ?",
                               self.status)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if self.kinds:
            clauses.append(f"kind IN ({','.join('?' * len(self.kinds))})")
            params.extend(self.kinds)
        return " AND ".join(clauses) or "1", params

    def owns(self, ref: str) -> bool:
        """A ref of the subject: REF, its derived refs and its ancestors; or the source's."""
        if self.ref is not None:
            return ref == self.ref or ref.startswith(f"{self.ref}.") \
                or self.ref.startswith(f"{ref}.")
        return self.source is not None and ref.startswith(f"{self.source}:")

    def covers(self, scope: Mapping[str, Any]) -> bool:
        """An admin action's scope (sources, entities, ids) reaches the subject."""
        sources = scope.get("sources") or []
        if self.source is not None:
            return self.source in sources
        source, entity, local = ([*str(self.ref).split(":", 2), "", ""])[:3]
        base = local.split(".")[0]
        return (source in sources and entity in (scope.get("entities") or [entity])
                and base in (scope.get("ids") or [base]))


def select(conn: Any, f: Filter) -> list[Record]:
    """The entries the filter picks, in chain order. With a subject (ref or source): its
    own entries, the batches and attempts that carried them, and admin actions on it."""
    plain, params = f.plain()
    if f.ref is None and f.source is None:
        return list(audit.records(conn, plain, params))
    if f.ref is not None:
        own, own_params = "(ref = ? OR (ref >= ? AND ref < ?))", [f.ref, f.ref + ".",
                                                                   f.ref + "/"]
    else:
        own, own_params = "(ref >= ? AND ref < ?)", [f"{f.source}:", f"{f.source};"]
    found = {r.seq: r for r in audit.records(conn, f"{own} AND {plain}", own_params + params)}
    keys = [k for (k,) in conn.execute(
        f"SELECT DISTINCT json_extract(data, '$.batch_key') FROM audit WHERE {own} "
        "AND kind IN ('result', 'dead_letter')", own_params) if k]
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        where = (f"kind IN ('batch', 'request') AND json_extract(data, '$.key') IN "
                 f"({','.join('?' * len(chunk))}) AND {plain}")
        found.update((r.seq, r) for r in audit.records(conn, where, chunk + params))
    for r in audit.records(conn, f"kind = 'admin' AND {plain}", params):
        d = r.payload()
        if any(f.owns(str(x)) for x in d.get("refs") or []) or f.covers(d.get("scope") or {}):
            found[r.seq] = r
    return [found[seq] for seq in sorted(found)]


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
