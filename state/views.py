"""Read-only queries the web console shows (operator-interface.md, "the web console").

Every query is paged or bounded and served by an index (migration 8), so a page stays
fast on a state file of a million rows. Values come back unmasked: the console masks
what it shows (mappings/mask.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from state import audit
from state.audit import Record

_PERSON = "json_extract(parts, '$[0][1].id_number')"
_VOLUNTEER_REF = "json_extract(parts, '$[0][1].volunteer_external_ref')"
_CHUNK = 500


@dataclass(frozen=True)
class Page:
    """One page of a listing and how many rows the whole listing has."""

    rows: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def _reasons(text: str | None) -> list[dict[str, str]]:
    found = json.loads(text or "[]")
    return [{"field": str(e.get("field") or ""), "code": str(e.get("code") or ""),
             "message": str(e.get("message") or "")} for e in found if isinstance(e, dict)]


def _filters(source: str | None, entity: str | None, code: str | None,
             reasons_column: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("source", source), ("entity", entity)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if code:
        clauses.append(f"EXISTS (SELECT 1 FROM json_each({reasons_column}) AS j "
                       "WHERE json_extract(j.value, '$.code') = ?)")
        params.append(code)
    return "".join(f" AND {c}" for c in clauses), params


def runs(conn: sqlite3.Connection, limit: int, offset: int) -> Page:
    total = int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    cur = conn.execute("SELECT id, kind, sources, started_at, finished_at, status, stats, "
                       "error FROM runs ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset))
    cols = ("id", "kind", "sources", "started_at", "finished_at", "status", "stats", "error")
    rows = []
    for r in cur:
        d = dict(zip(cols, r, strict=True))
        d["sources"] = json.loads(d["sources"])
        d["stats"] = json.loads(d["stats"]) if d["stats"] else None
        rows.append(d)
    return Page(rows, total, offset, limit)


def quarantined(conn: sqlite3.Connection, source: str | None, entity: str | None,
                code: str | None, limit: int, offset: int) -> Page:
    where, params = _filters(source, entity, code, "reasons")
    base = f"FROM rows INDEXED BY rows_quarantined WHERE state = 'quarantined'{where}"
    total = int(conn.execute(f"SELECT COUNT(*) {base}", params).fetchone()[0])
    cur = conn.execute(f"SELECT base_ref, source, entity, local_id, reasons, first_seen, "
                       f"last_seen, status {base} ORDER BY source, entity, local_id "
                       "LIMIT ? OFFSET ?", [*params, limit, offset])
    cols = ("ref", "source", "entity", "local_id", "reasons", "first_seen", "last_seen",
            "status")
    rows = [{**dict(zip(cols, r, strict=True)), "reasons": _reasons(r[4]), "times": 1}
            for r in cur]
    return Page(rows, total, offset, limit)


def dead_letters(conn: sqlite3.Connection, source: str | None, entity: str | None,
                 code: str | None, limit: int, offset: int) -> Page:
    where, params = _filters(source, entity, code, "errors")
    base = f"FROM dead_letters WHERE 1{where}"
    total = int(conn.execute(f"SELECT COUNT(*) {base}", params).fetchone()[0])
    cur = conn.execute(f"SELECT ref, source, entity, local_id, errors, first_seen, last_seen, "
                       f"times {base} ORDER BY ref LIMIT ? OFFSET ?", [*params, limit, offset])
    cols = ("ref", "source", "entity", "local_id", "reasons", "first_seen", "last_seen",
            "times")
    rows = [{**dict(zip(cols, r, strict=True)), "reasons": _reasons(r[4]),
             "status": "dead_lettered"} for r in cur]
    return Page(rows, total, offset, limit)


def row_of(conn: sqlite3.Connection, ref: str) -> dict[str, Any] | None:
    """The source row an external_ref (base or derived) belongs to, with its status."""
    found = conn.execute("SELECT source, entity, local_id, base_ref, state, status, why, "
                         "reasons, first_seen, last_seen FROM rows WHERE base_ref = ?",
                         (ref.split(".")[0],)).fetchone()
    if found is None:
        return None
    cols = ("source", "entity", "local_id", "base_ref", "state", "status", "why", "reasons",
            "first_seen", "last_seen")
    row = dict(zip(cols, found, strict=True))
    row["reasons"] = _reasons(row["reasons"])
    return row


def ledger_of(conn: sqlite3.Connection, base_ref: str) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT ref, national_id, status, updated_at FROM ledger "
                       "WHERE base_ref = ? ORDER BY ref", (base_ref,))
    return [dict(zip(("ref", "national_id", "status", "updated_at"), r, strict=True))
            for r in cur]


def story(conn: sqlite3.Connection, base_ref: str, limit: int = 500) -> list[Record]:
    """Every audit entry of the ref and its derived refs (`.g2`, `.d1`), oldest first."""
    return list(audit.records(
        conn, "seq IN (SELECT seq FROM audit WHERE ref = ? UNION SELECT seq FROM audit "
        "WHERE ref > ? AND ref < ? ORDER BY seq LIMIT ?)",
        (base_ref, base_ref + ".", base_ref + "/", limit)))


def person_volunteers(conn: sqlite3.Connection, id_number: str) -> list[dict[str, Any]]:
    """Every source's volunteer row whose mapped payload carries this ID number."""
    cur = conn.execute(f"SELECT source, local_id, base_ref, status, parts FROM rows "
                       f"WHERE entity = 'volunteer' AND {_PERSON} = ? "
                       "ORDER BY source, local_id", (id_number,))
    out = []
    for source, local_id, base_ref, status, parts in cur:
        payload = json.loads(parts)[0][1]
        out.append({"source": source, "entity": "volunteer", "local_id": local_id,
                    "ref": base_ref, "status": status, "name": payload.get("name") or "",
                    "mobile": payload.get("mobile") or ""})
    return out


def records_of(conn: sqlite3.Connection, volunteer_refs: Sequence[str],
               limit: int = 1000) -> list[dict[str, Any]]:
    """Service records (their last mapping) that name one of these volunteers."""
    out: list[dict[str, Any]] = []
    refs = list(volunteer_refs)
    for i in range(0, len(refs), _CHUNK):
        chunk = refs[i:i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        cur = conn.execute(f"SELECT source, local_id, base_ref, status, parts FROM rows "
                           f"WHERE entity = 'service_record' AND {_VOLUNTEER_REF} IN "
                           f"({marks}) ORDER BY source, local_id LIMIT ?", [*chunk, limit])
        for source, local_id, base_ref, status, parts in cur:
            payloads = [p for _, p in json.loads(parts)]
            hours = sum(float(p.get("hours") or 0) for p in payloads)
            out.append({"source": source, "entity": "service_record", "local_id": local_id,
                        "ref": base_ref, "status": status, "hours": round(hours, 2),
                        "start_at": payloads[0].get("start_at") if payloads else None})
    return out[:limit]


def synced_per_day(conn: sqlite3.Connection, since: str) -> list[tuple[str, str, int]]:
    """(UTC day, source, items the platform acknowledged as synced) since an instant."""
    cur = conn.execute("SELECT substr(updated_at, 1, 10), source, COUNT(*) FROM ledger "
                       "WHERE status = 'synced' AND updated_at >= ? "
                       "GROUP BY 1, 2 ORDER BY 1, 2", (since,))
    return [(str(d), str(s), int(n)) for d, s, n in cur]


def hours_per_day(conn: sqlite3.Connection, since_day: str) -> list[tuple[str, str, float]]:
    """(service day, source, hours the platform holds) for days at or after since_day."""
    cur = conn.execute(
        "SELECT substr(json_extract(payload, '$.start_at'), 1, 10), source, "
        "SUM(CAST(json_extract(payload, '$.hours') AS REAL)) FROM ledger "
        "WHERE entity = 'service_record' AND status = 'synced' "
        "AND json_extract(payload, '$.start_at') >= ? GROUP BY 1, 2 ORDER BY 1, 2",
        (since_day,))
    return [(str(d), str(s), float(h or 0)) for d, s, h in cur]


def quarantine_by_reason(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    cur = conn.execute("SELECT json_extract(j.value, '$.code'), COUNT(*) FROM rows "
                       "INDEXED BY rows_quarantined, json_each(rows.reasons) AS j "
                       "WHERE rows.state = 'quarantined' GROUP BY 1 ORDER BY 2 DESC, 1")
    return [(str(c), int(n)) for c, n in cur]


def audit_state(conn: sqlite3.Connection) -> dict[str, Any]:
    """The chain's head, first live entry, latest seal and checkpoint (no full walk)."""
    head_seq, head_hash = audit.head(conn)
    first = conn.execute("SELECT MIN(seq) FROM audit").fetchone()[0]
    seal = audit.latest(conn, "seal")
    checkpoint = audit.latest(conn, "checkpoint")
    return {"head_seq": head_seq, "head_hash": head_hash, "first_seq": first,
            "entries": head_seq - int(first) + 1 if first is not None else 0,
            "sealed_at": seal.at if seal else None,
            "sealed_seq": seal.payload().get("head_seq") if seal else None,
            "checkpoint_seq": checkpoint.seq if checkpoint else None}


def audit_period(conn: sqlite3.Connection, since: str, until: str) -> Iterator[Record]:
    """The entries written at or after `since` and before `until` (UTC instants). Entries
    are appended in time order, so the period's ends are found by a binary search on seq
    (no index on the time)."""
    lo, hi = _first_at(conn, since), _first_at(conn, until)
    return audit.records(conn, "seq >= ? AND seq < ? AND at >= ? AND at < ?",
                         (lo, hi, since, until))


def _first_at(conn: sqlite3.Connection, at: str) -> int:
    """The seq of the first entry written at or after `at` (one past the last if none)."""
    first, last = conn.execute("SELECT MIN(seq), MAX(seq) FROM audit").fetchone()
    if first is None:
        return 0
    lo, hi = int(first), int(last) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        found = conn.execute("SELECT at FROM audit WHERE seq >= ? ORDER BY seq LIMIT 1",
                             (mid,)).fetchone()
        if found is None or found[0] >= at:
            hi = mid
        else:
            lo = mid + 1
    return lo


# the daemon's request rows (bridge/ops/handoff.py): the console reads them -------------
def request_row(conn: sqlite3.Connection, request_id: int) -> dict[str, Any] | None:
    """A request row; `argv` is the command line it stands for, for people to read."""
    row = conn.execute("SELECT id, argv, requested_by, created_at, status, exit_code, "
                       "output FROM requests WHERE id = ?", (request_id,)).fetchone()
    if row is None:
        return None
    cols = ("id", "argv", "requested_by", "created_at", "status", "exit_code", "output")
    out = dict(zip(cols, row, strict=True))
    out["argv"] = command_line(json.loads(out["argv"]))
    return out


def command_line(request: Any) -> list[str]:
    """`zybridge …` words of a typed request ({"kind", "args"}, the arguments in the order
    the command line parsed them), or of a legacy argv list."""
    if isinstance(request, list):
        return [str(word) for word in request]
    if not isinstance(request, dict):
        return [str(request)]
    words = str(request.get("kind", "?")).split()
    for name, value in (request.get("args") or {}).items():
        if name in ("command", "debug", "no_wait", "config", "json") or name.endswith(
                "_command") or value in (None, False, [], ""):
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
            continue
        for one in value if isinstance(value, list) else [value]:
            words += [flag, str(one)]
    return words
