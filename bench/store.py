"""The 志愿云 store a benchmark runs on: bridge.testing.sample's generator, run in a child
process so that its manifest (one entry per row) never weighs on the benchmark's own
memory; only the per-entity outcome counts and the rows scenario 3 changes come back.
"""

from __future__ import annotations

import multiprocessing
import random
import resource
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bridge.testing.sample import TABLES, build_sample_store, update_rows

ENTITIES: tuple[str, ...] = tuple(TABLES)
# a change a 志愿云 user makes, per entity: a column and a value that changes the payload
CHANGES: dict[str, tuple[str, str]] = {
    "organization": ("address", "厦门市海沧区新阳路88号"),
    "volunteer": ("email", "changed@example.org"),
    "project": ("intro", "活动简介已更新。"),
    "service_record": ("content", "参与社区志愿服务（已更正）"),
}


@dataclass(frozen=True)
class Expected:
    """What the manifest expects of a store: counts per entity and status (as `zybridge
    status` names them: a deferred row counts as skipped), the rows one share-of-rows
    change would touch, and what building it cost."""

    path: Path
    volunteers: int
    counts: dict[str, dict[str, int]]
    changeable: dict[str, list[int]]
    build_s: float
    build_peak_rss_mb: float

    @property
    def rows(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def synced(self, entity: str | None = None) -> int:
        names = [entity] if entity else list(self.counts)
        return sum(self.counts[e].get("synced", 0) for e in names)


def build(path: Path, volunteers: int, *, seed: int = 7, change_share: float = 0.01,
          invalid_share: float = 0.01) -> Expected:
    """Build the store in a fresh (spawned) process and return what it expects."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        result: Expected = pool.apply(_build, (Path(path), volunteers, seed, change_share,
                                               invalid_share))
    return result


def _build(path: Path, volunteers: int, seed: int, change_share: float,
           invalid_share: float) -> Expected:
    started = time.perf_counter()
    manifest = build_sample_store(path, volunteers=volunteers, seed=seed,
                                  invalid_share=invalid_share)
    seconds = time.perf_counter() - started
    counts = {e: dict(c) for e, c in manifest.tally().items()}
    for c in counts.values():
        if "deferred" in c:
            c["skipped"] = c.get("skipped", 0) + c.pop("deferred")
    rng = random.Random(seed)
    changeable: dict[str, list[int]] = {}
    for entity in ENTITIES:
        # generated rows only (ids from 1000): the hand-written ones are special cases
        ids = [int(i) for i in manifest.ids(entity, "synced") if int(i) >= 1000]
        if entity == "service_record":
            ids = _whole_day(path, ids)
        want = round(change_share * manifest.counts[entity])
        changeable[entity] = sorted(rng.sample(ids, min(want, len(ids))))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Expected(path, volunteers, counts, changeable, seconds, peak)


def _whole_day(path: Path, ids: list[int]) -> list[int]:
    """The records among `ids` that do not cross midnight (one national record each, so
    one changed row is one item sent)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        same = {int(r[0]) for r in conn.execute(
            "SELECT rec_id FROM zyy_service_time WHERE rec_id >= 1000 AND "
            "substr(begin_time, 1, 10) = substr(end_time, 1, 10)")}
    finally:
        conn.close()
    return [i for i in ids if i in same]


def apply_changes(path: Path, changeable: dict[str, list[int]]) -> int:
    """Change the chosen rows the way a 志愿云 user would (gmt_modified = now); returns
    how many rows changed."""
    total = 0
    for entity, ids in changeable.items():
        column, value = CHANGES[entity]
        update_rows(path, entity, ids, {column: value})
        total += len(ids)
    return total
