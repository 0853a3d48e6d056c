"""Contender "dlt" of scenario 4: the same job built on dlt, as a dlt user would. dlt's
`sql_database` source reads the 志愿云 tables; a custom `@dlt.destination`
(batch_size=100) maps each batch of rows with our mapping and posts the items as one
signed batch to the sandbox. One pipeline run per table, parents first (the platform
needs a record's parents before it), in a fresh pipelines folder (dev_mode). A
volunteer's memberships are read from zyy_team_member per batch, as the bridge's
adapter does. Prints one JSON line.

    python -m bench.dltsink --store S --root-url URL --workdir DIR [--check]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from adapters.base import SourceRow
from bench.payloads import Resolver, Tally, body, context, map_rows, path_of
from bench.sandbox_intake import post

# table → (entity, primary key), parents first
TABLES: tuple[tuple[str, str, str], ...] = (
    ("zyy_team", "organization", "team_id"), ("zyy_volunteer", "volunteer", "vol_id"),
    ("zyy_activity", "project", "act_id"), ("zyy_service_time", "service_record", "rec_id"))
KEYS = {table: (entity, key) for table, entity, key in TABLES}


class Sink:
    """What the destination function does with one batch of rows."""

    def __init__(self, store: Path, root: str, tally: Tally) -> None:
        self.store = sqlite3.connect(f"file:{store}?mode=ro", uri=True,
                                     check_same_thread=False)
        self.root = root
        self.tally = tally
        self.resolver = Resolver()
        self.ctx = context()
        self.client = httpx.Client(timeout=60.0)

    def close(self) -> None:
        self.client.close()
        self.store.close()

    def __call__(self, items: list[dict[str, Any]], table: dict[str, Any]) -> None:
        entity, key = KEYS[str(table["name"])]
        if entity == "volunteer":
            self.attach_memberships(items)
        rows = [SourceRow(entity, str(r[key]), str(r.get("gmt_modified")), r) for r in items]
        mapped = list(map_rows(rows, self.resolver, self.ctx))
        if mapped:
            doc = post(self.client, self.root, path_of(entity), body(mapped),
                       f"dlt-{uuid.uuid4().hex}")
            self.tally.count(doc["data"]["results"])

    def attach_memberships(self, rows: list[dict[str, Any]]) -> None:
        by_vol: dict[Any, list[dict[str, Any]]] = {r["vol_id"]: [] for r in rows}
        marks = ", ".join("?" * len(by_vol))
        for vol_id, team_id, state, join_time in self.store.execute(
                "SELECT vol_id, team_id, state, join_time FROM zyy_team_member "
                f"WHERE vol_id IN ({marks}) ORDER BY vol_id, team_id", list(by_vol)):
            by_vol[vol_id].append({"team_id": team_id, "state": state, "join_time": join_time})
        for r in rows:
            r["memberships"] = by_vol[r["vol_id"]]


def run(store: Path, root: str, workdir: Path, tally: Tally) -> float:
    """The four pipeline runs; returns the seconds they took (imports excluded)."""
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.sources.sql_database import sql_database

    sink = Sink(store, root, tally)

    @dlt.destination(batch_size=100, name="national",
                     loader_parallelism_strategy="table-sequential")
    def national(items: Any, table: Any) -> None:
        sink(items, table)

    started = time.perf_counter()
    try:
        pipeline = dlt.pipeline(pipeline_name="zyy_bench", pipelines_dir=str(workdir),
                                destination=national(), dev_mode=True)
        for table, _, _ in TABLES:
            source = sql_database(credentials=f"sqlite:///{store.resolve()}",
                                  table_names=[table])
            pipeline.run(source)
    finally:
        sink.close()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dltsink", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--root-url", required=True)
    p.add_argument("--workdir", type=Path, required=True, help="dlt's pipelines folder")
    p.add_argument("--check", action="store_true",
                   help="count the rows acknowledged per entity (for the manifest check)")
    args = p.parse_args(argv)
    tally = Tally(track_rows=args.check)
    seconds = run(args.store, args.root_url, args.workdir, tally)
    print(tally.dumps(seconds=seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
