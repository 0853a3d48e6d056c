"""The port every local source implements, and the values it hands the engine."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

ENTITIES: tuple[str, ...] = ("organization", "volunteer", "project", "service_record")


@dataclass(frozen=True, order=True)
class Cursor:
    """Keyset position in one stream: the source's change value, then its primary key.

    `modified` is the source's own text (志愿云: local time 'YYYY-MM-DD HH:MM:SS'); `key`
    holds the primary-key columns in order. Both are JSON-serialisable.
    """

    modified: str
    key: tuple[Any, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"modified": self.modified, "key": list(self.key)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cursor:
        return cls(str(data["modified"]), tuple(data.get("key") or ()))


@dataclass(frozen=True)
class SourceRow:
    """One local record as the source holds it, before any mapping.

    `data` is the raw column map. For a 志愿云 volunteer it also holds `memberships`: the
    list of its `zyy_team_member` rows (dicts with team_id, state, join_time).
    """

    entity: str
    local_id: str
    modified: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """A bounded page of rows, and the cursor to store once the page is staged."""

    rows: Sequence[SourceRow]
    cursor: Cursor | None


@dataclass(frozen=True)
class Stream:
    """One change feed of a source. Several streams may feed one entity (a change in
    `zyy_team_member` yields its volunteer again)."""

    name: str
    entity: str


class SourceAdapter(Protocol):
    """A local source: incremental reads by cursor, reads by primary key, full scans."""

    def streams(self) -> Sequence[Stream]:
        """The streams in dependency order (parents first)."""
        ...

    def read_changes(self, stream: str, since: Cursor | None, lookback_s: int,
                     page_size: int) -> Iterator[Page]:
        """Rows changed at or after `since` minus `lookback_s`, in cursor order, page by
        page. Each page's cursor is never behind `since`."""
        ...

    def read_by_ids(self, entity: str, local_ids: Sequence[str]) -> list[SourceRow]:
        """The current rows with these primary keys (absent ids are simply missing)."""
        ...

    def scan(self, entity: str, page_size: int) -> Iterator[Page]:
        """Every row of the entity, by primary key (reconcile, resync); pages carry no cursor."""
        ...

    def close(self) -> None: ...
