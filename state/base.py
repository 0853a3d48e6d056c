"""What every part of the StateStore shares: the connection, transactions, the look-ups
of many keys in chunks (SQLite caps the parameters of one statement) and the JSON form
the state file stores."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from state import db

RowKey = tuple[str, str, str]  # (source, entity, local_id)


_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def dumps(obj: Any) -> str:
    """json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")), by
    one encoder made once."""
    return _CANONICAL.encode(obj)


def _by_kind(keys: Iterable[RowKey]) -> dict[tuple[str, str], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for source, entity, local_id in keys:
        groups.setdefault((source, entity), []).append(local_id)
    return groups


def _list(values: Sequence[Any]) -> str:
    return dumps(list(values)) if values else "[]"


def _chunks(items: list[str], size: int = 400) -> Iterator[list[str]]:
    for at in range(0, len(items), size):
        yield items[at:at + size]


def _marks(chunk: Sequence[Any]) -> str:
    return ",".join("?" * len(chunk))


class Queries:
    """The connection and the helpers the parts of StateStore share."""

    conn: sqlite3.Connection
    run_id: int | None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with db.transaction(self.conn) as conn:
            yield conn

    def _rows_in(self, sql: str, values: Collection[Any],
                 before: Sequence[Any] = ()) -> Iterator[Any]:
        """The rows of `sql` run once per chunk of `values` (SQLite caps the parameters
        of one statement); `before` are the parameters ahead of the chunk."""
        for chunk in _chunks(list(values)):
            yield from self.conn.execute(sql.format(**{"in": _marks(chunk)}),
                                         (*before, *chunk))

    def _column_in(self, sql: str, values: Collection[Any]) -> set[Any]:
        return {value for (value,) in self._rows_in(sql, values)}

    def _bases_in(self, table: str, base_refs: Collection[str]) -> set[str]:
        return self._column_in(f"SELECT DISTINCT base_ref FROM {table} WHERE base_ref IN ({{in}})",
                               base_refs)
