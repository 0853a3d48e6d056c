"""Micro-benchmark of the 志愿云 mapping alone: the rows of a sample store of N volunteers
(read through the SQL adapter before any clock starts) mapped in-process with
`mappings.get("zhiyuanyun").map_row`, CPU time (time.process_time) per row, per entity
and in all. The first row of each entity is mapped before the clock starts: it reads
the code tables, a once-a-process cost shown apart as "setup" (ms). Each run is a fresh
(spawned) process, so no cache a run fills helps the next; the figures are the median
of the runs. One table, or one JSON line with --json.

    python -m bench.map_rows [--volunteers 5000] [--runs 3] [--store PATH] [--mysql] [--json]

The store is built with a fixed clock and seed, so a second run on the same --store
(e.g. against another checkout: PYTHONPATH=<checkout> python bench/map_rows.py --store
PATH) maps the very same rows.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import mappings
from adapters.base import SourceRow
from adapters.sql import open_sql_source
from bridge.testing.sample import build_sample_store
from mappings.result import MapContext

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 6, 20, 12, 0, 0, tzinfo=CST)
ENTITIES: tuple[str, ...] = ("organization", "volunteer", "project", "service_record")
CONTEXT = MapContext(source="haicang", now=NOW, jurisdiction="3502")


def read_rows(store: Path) -> dict[str, list[SourceRow]]:
    """Every row of the store, per entity, as the engine reads them."""
    source = open_sql_source(f"sqlite:///{store.resolve()}", store.parent)
    try:
        return {e: [r for page in source.scan(e, 500) for r in page.rows] for e in ENTITIES}
    finally:
        source.close()


_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}", re.ASCII)


def as_mysql(row: SourceRow) -> SourceRow:
    """The row as a MySQL server's driver gives it: DATETIME columns as naive datetimes
    (SQLite gives their text)."""
    data = {k: datetime.fromisoformat(v) if isinstance(v, str) and _STAMP.fullmatch(v) else v
            for k, v in row.data.items()}
    return SourceRow(row.entity, row.local_id, row.modified, data)


def one_run(store: Path, mysql: bool = False) -> dict[str, tuple[int, float]]:
    """Per entity: rows and CPU seconds to map them all; "setup": the CPU seconds of
    mapping the first row of each entity before that (the code tables are read then,
    once a process)."""
    rows = read_rows(store)
    if mysql:
        rows = {e: [as_mysql(r) for r in batch] for e, batch in rows.items()}
    mapper = mappings.get("zhiyuanyun")
    started = time.process_time()
    for entity in ENTITIES:
        mapper.map_row(rows[entity][0], CONTEXT)
    out: dict[str, tuple[int, float]] = {"setup": (0, time.process_time() - started)}
    for entity in ENTITIES:
        batch = rows[entity]
        started = time.process_time()
        for row in batch:
            mapper.map_row(row, CONTEXT)
        out[entity] = (len(batch), time.process_time() - started)
    return out


def measure(store: Path, runs: int, *, mysql: bool = False) -> dict[str, dict[str, float]]:
    """µs per row, the median of `runs` fresh processes, per entity and "total"."""
    spawn = multiprocessing.get_context("spawn")
    results = []
    for _ in range(runs):
        with spawn.Pool(1) as pool:
            results.append(pool.apply(one_run, (store, mysql)))
    table: dict[str, dict[str, float]] = {}
    for entity in ENTITIES:
        count = results[0][entity][0]
        seconds = statistics.median(r[entity][1] for r in results)
        table[entity] = {"rows": count, "us_per_row": seconds / max(count, 1) * 1e6}
    count = sum(int(table[e]["rows"]) for e in ENTITIES)
    seconds = statistics.median(sum(r[e][1] for e in ENTITIES) for r in results)
    table["total"] = {"rows": count, "us_per_row": seconds / max(count, 1) * 1e6}
    table["setup_ms"] = {"rows": 0, "us_per_row": statistics.median(
        r["setup"][1] for r in results) * 1e3}
    return table


def render(table: dict[str, dict[str, float]]) -> str:
    lines = [f"{'entity':<16}{'rows':>8}{'µs/row':>10}"]
    lines += [f"{name:<16}{int(row['rows']):>8}{row['us_per_row']:>10.1f}"
              for name, row in table.items() if name != "setup_ms"]
    lines.append(f"(setup, once a process: {table['setup_ms']['us_per_row']:.1f} ms)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--store", type=Path, help="reuse (or build) the store at PATH")
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--mysql", action="store_true",
                        help="date-time columns as datetimes, as a MySQL driver gives them")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        store = args.store or Path(folder) / "map_rows.db"
        if not store.exists():
            build_sample_store(store, volunteers=args.volunteers, seed=7, now=NOW)
        table = measure(store, max(1, args.runs), mysql=args.mysql)
    if args.json:
        print(json.dumps({"mappings": str(Path(mappings.__file__).parent), **table}))
    else:
        print(f"mappings from {Path(mappings.__file__).parent}, median of {args.runs} runs")
        print(render(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
