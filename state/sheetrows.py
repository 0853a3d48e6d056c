"""What the state holds about given source rows, for the sheet receipts: each row's
status (the one `zybridge status` counts), its reasons, and a dead letter's errors."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

CHUNK = 400


@dataclass(frozen=True)
class RowOutcome:
    status: str
    reasons: list[dict[str, str]] = field(default_factory=list)


def row_outcomes(conn: sqlite3.Connection, source: str,
                 keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], RowOutcome]:
    """(entity, local id) → its status and reasons (a quarantine's reasons, a dead
    letter's errors); keys the state does not hold are left out."""
    by_entity: dict[str, list[str]] = {}
    for entity, local_id in dict.fromkeys(keys):
        by_entity.setdefault(entity, []).append(local_id)
    out: dict[tuple[str, str], RowOutcome] = {}
    for entity, ids in by_entity.items():
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            cur = conn.execute(
                "SELECT r.local_id, r.status, r.reasons, "
                "(SELECT d.errors FROM dead_letters d WHERE d.source = r.source AND "
                " d.entity = r.entity AND d.local_id = r.local_id "
                " ORDER BY d.last_seen DESC LIMIT 1) "
                f"FROM rows r WHERE r.source = ? AND r.entity = ? AND r.local_id IN ({marks})",
                (source, entity, *chunk))
            for local_id, status, reasons, errors in cur:
                found = _list(reasons) + (_list(errors) if status == "dead_lettered" else [])
                out[(entity, str(local_id))] = RowOutcome(str(status), found)
    return out


def _list(text: str | None) -> list[dict[str, str]]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [{k: str(v) for k, v in item.items()} for item in value if isinstance(item, dict)] \
        if isinstance(value, list) else []


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for at in range(0, len(items), CHUNK):
        yield items[at:at + CHUNK]


def source_fingerprint(conn: sqlite3.Connection, source: str) -> str:
    """A hash of every status and reason the state holds for the source's rows and dead
    letters: equal while nothing a receipt shows has changed."""
    digest = hashlib.sha256()
    for row in conn.execute("SELECT entity, local_id, status, reasons FROM rows "
                            "WHERE source = ? ORDER BY entity, local_id", (source,)):
        digest.update(repr(tuple(row)).encode())
    for row in conn.execute("SELECT ref, last_seen, errors FROM dead_letters WHERE source = ? "
                            "ORDER BY ref", (source,)):
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()[:16]
