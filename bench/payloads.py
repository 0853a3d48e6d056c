"""The national items the contenders of scenario 4 send: our mapping's payloads, read off
the 志愿云 store, with the engine's reference rule (bridge/stage.py `effective`) in its
simplest form, so that each contender sends what the bridge sends:

- an optional reference (a parent team, a membership) to a record that did not map is
  left out; a required one (a project's team, a record's volunteer or project) makes
  the item blocked, and blocked items are not sent;
- entities go in the engine's order (bridge/refs.py PHASES), each by primary key.

Items are dicts with their `external_ref`; `Tally` counts what the platform answered.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.base import SourceRow
from adapters.sql import open_sql_source
from bridge.refs import PATHS, REF_FIELDS, canonical, compose
from mappings import get as get_mapping
from mappings.result import MapContext, Mapped

SOURCE = "haicang"
JURISDICTION = "3502"
ORDER: tuple[str, ...] = ("organization", "volunteer", "project", "service_record")
ACKNOWLEDGED = frozenset({"created", "updated", "unchanged", "matched"})
BATCH = 100


def context() -> MapContext:
    return MapContext(source=SOURCE, now=datetime.now(UTC), jurisdiction=JURISDICTION)


class Resolver:
    """Which refs mapped so far; applies the reference rule to each new item."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.blocked = 0

    def admit(self, result: Mapped) -> list[dict[str, Any]]:
        """The items of a mapped row as they can be sent ([] when it is blocked)."""
        items: list[dict[str, Any]] = []
        for part in result.parts:
            payload = self.resolve(result.entity, part.payload)
            if payload is None:
                self.blocked += 1
                return []
            items.append({"external_ref": compose(result.base_ref, 1, part.suffix),
                          **payload})
        self.known.add(result.base_ref)
        return items

    def resolve(self, entity: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        out = dict(payload)
        for name, required in REF_FIELDS.get(entity, ()):
            value = out.get(name)
            if value is None:
                continue
            if isinstance(value, list):
                keep = [v for v in value if v in self.known]
                if keep:
                    out[name] = keep
                else:
                    del out[name]
            elif value not in self.known:
                if required:
                    return None
                del out[name]
        return out


def map_rows(rows: Iterable[SourceRow], resolver: Resolver, ctx: MapContext,
             mapping: str = "zhiyuanyun") -> Iterator[dict[str, Any]]:
    """The items of these rows (quarantined, skipped, deferred and blocked rows give none)."""
    mapper = get_mapping(mapping)
    for row in rows:
        result = mapper.map_row(row, ctx)
        if isinstance(result, Mapped):
            yield from resolver.admit(result)


def store_items(store: Path, page_size: int = 500) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every item of a store, in the engine's order: (entity, item)."""
    source = open_sql_source(f"sqlite:///{Path(store).resolve()}", Path.cwd())
    resolver, ctx = Resolver(), context()
    try:
        for entity in ORDER:
            for page in source.scan(entity, page_size):
                for item in map_rows(page.rows, resolver, ctx):
                    yield entity, item
    finally:
        source.close()


def path_of(entity: str) -> str:
    return PATHS[(entity, "upsert")]


def body(items: list[dict[str, Any]]) -> bytes:
    return canonical({"items": items}).encode("utf-8")


def batches(items: Iterable[tuple[str, dict[str, Any]]], size: int = BATCH
            ) -> Iterator[tuple[str, bytes]]:
    """(path, body) of batches of up to `size` items, never mixing entities."""
    current, chunk = "", list[dict[str, Any]]()
    for entity, item in items:
        if chunk and (entity != current or len(chunk) >= size):
            yield path_of(current), body(chunk)
            chunk = []
        current = entity
        chunk.append(item)
    if chunk:
        yield path_of(current), body(chunk)


def entity_of(ref: str) -> str:
    return ref.split(":")[1]


def base_of(ref: str) -> str:
    """`haicang:service_record:9.d2` → `haicang:service_record:9`."""
    head, _, tail = ref.rpartition(":")
    return f"{head}:{tail.split('.')[0]}"


@dataclass
class Tally:
    """What the platform answered, summed over threads; with `track_rows`, also the
    distinct rows acknowledged per entity (a split record is one row), for the checks
    against the manifest (it costs memory: off when measuring)."""

    track_rows: bool = False
    requests: int = 0
    items: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    rows: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, results: Iterable[Mapping[str, Any]]) -> None:
        with self.lock:
            self.requests += 1
            for r in results:
                self.items += 1
                self.statuses[str(r["status"])] += 1
                if self.track_rows and r["status"] in ACKNOWLEDGED:
                    ref = str(r["external_ref"])
                    self.rows.setdefault(entity_of(ref), set()).add(base_of(ref))

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "items": self.items,
                "statuses": dict(self.statuses),
                "rows": {e: len(refs) for e, refs in self.rows.items()}}

    def dumps(self, **extra: Any) -> str:
        return json.dumps({**self.as_dict(), **extra}, ensure_ascii=False)
