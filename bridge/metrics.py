"""Prometheus metrics of the daemon (`[metrics] listen`; docs/operations.md "Health,
metrics, alerts").

Counters and the batch-latency histogram count events as the engine works (a request
sent, an item answered). Everything that describes the state — rows by status, paused
sources, the last success, the outbox, cursor lag — is a gauge read from the state file
at scrape time through a read-only connection, so it never grows because a cycle saw the
same rows again, and it is true after a restart. `/healthz` and `/readyz` are served next
to `/metrics` (bridge/health.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
ITEMS = Counter("zybridge_items_total", "Item results from the platform",
                ["entity", "status"], registry=REGISTRY)
DEAD = Counter("zybridge_dead_letters_total", "Items the platform rejected", ["entity"],
               registry=REGISTRY)
REQUESTS = Counter("zybridge_requests_total", "Batch requests sent, by HTTP status",
                   ["path", "status"], registry=REGISTRY)
RETRIES = Counter("zybridge_retries_total", "Batch attempts after the first",
                  registry=REGISTRY)
SOURCE_FAILURES = Counter("zybridge_source_failures_total",
                          "Reads of a source that failed (its server, its files)", ["source"],
                          registry=REGISTRY)
RATE_LIMITED = Counter("zybridge_rate_limited_total", "429 answers", registry=REGISTRY)
LATENCY = Histogram("zybridge_batch_seconds", "Duration of one batch attempt", ["path"],
                    registry=REGISTRY,
                    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CST = timedelta(hours=8)
CYCLE_KINDS = ("sync", "daemon", "reconcile")   # runs that read a whole source
READ_COMPLETE = ("ok", "undelivered")           # the read finished; sending may not have


class StateCollector(Collector):
    """The state file's gauges, read at scrape time (nothing when it cannot be read)."""

    def __init__(self, state_path: Path, sources: Sequence[str]) -> None:
        self.state_path = state_path
        self.sources = tuple(sources)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            conn = sqlite3.connect(f"file:{self.state_path}?mode=ro", uri=True)
        except sqlite3.Error:
            return
        try:
            families = state_gauges(conn, self.sources, datetime.now(UTC))
        except sqlite3.Error:
            return
        finally:
            conn.close()
        yield from families


def state_gauges(conn: sqlite3.Connection, sources: Sequence[str],
                 now: datetime) -> list[GaugeMetricFamily]:
    return [_rows(conn), _paused(conn, sources), _last_success(conn, sources),
            *_outbox(conn, now), _cursor_lag(conn, now)]


def _rows(conn: sqlite3.Connection) -> GaugeMetricFamily:
    rows = GaugeMetricFamily("zybridge_rows", "Source rows the state holds, by status "
                             "(synced, revoked, pending, blocked, skipped, quarantined, "
                             "dead_lettered); they add up to the source's rows",
                             labels=["source", "entity", "status"])
    for source, entity, status, n in conn.execute(
            "SELECT source, entity, status, COUNT(*) FROM rows "
            "GROUP BY source, entity, status"):
        rows.add_metric([source, entity, status], n)
    return rows


def _paused(conn: sqlite3.Connection, sources: Sequence[str]) -> GaugeMetricFamily:
    paused = GaugeMetricFamily("zybridge_source_paused", "1 while a safety stop pauses the "
                               "source (zybridge status says why)", labels=["source"])
    held = {s for (s,) in conn.execute("SELECT source FROM paused")}
    for source in sorted(set(sources) | held):
        paused.add_metric([source], 1 if source in held else 0)
    return paused


def _last_success(conn: sqlite3.Connection, sources: Sequence[str]) -> GaugeMetricFamily:
    last = GaugeMetricFamily("zybridge_last_success_timestamp_seconds",
                             "Unix time the source's last cycle finished with everything "
                             "read and delivered", labels=["source"])
    marks = ", ".join("?" * len(CYCLE_KINDS))
    for source, finished in conn.execute(
            "SELECT j.value, MAX(r.finished_at) FROM runs r, json_each(r.sources) j "
            f"WHERE r.status = 'ok' AND r.kind IN ({marks}) GROUP BY j.value", CYCLE_KINDS):
        if not sources or source in sources:
            last.add_metric([source], _unix(finished))
    return last


def _outbox(conn: sqlite3.Connection, now: datetime) -> list[GaugeMetricFamily]:
    depth = GaugeMetricFamily("zybridge_outbox_items", "Items waiting in the outbox")
    batches = GaugeMetricFamily("zybridge_outbox_open_batches",
                                "Batches formed and not yet acknowledged")
    age = GaugeMetricFamily("zybridge_outbox_oldest_age_seconds",
                            "Age of the oldest item waiting in the outbox (0 when empty)")
    count, oldest = conn.execute("SELECT COUNT(*), MIN(created_at) FROM outbox").fetchone()
    depth.add_metric([], count)
    batches.add_metric([], conn.execute(
        "SELECT COUNT(*) FROM batches WHERE state = 'open'").fetchone()[0])
    age.add_metric([], max(0.0, now.timestamp() - _unix(oldest)) if oldest else 0.0)
    return [depth, batches, age]


def _cursor_lag(conn: sqlite3.Connection, now: datetime) -> GaugeMetricFamily:
    lag = GaugeMetricFamily("zybridge_cursor_lag_seconds",
                            "How far behind the source a stream's read is: 0 once the "
                            "source's last cycle read everything, else now minus the "
                            "newest change staged", labels=["source", "stream"])
    complete = _read_complete(conn)
    for source, stream, text in conn.execute("SELECT source, stream, cursor FROM cursors"):
        lag.add_metric([source, stream], 0.0 if complete.get(source) else _lag(text, now))
    return lag


def _read_complete(conn: sqlite3.Connection) -> dict[str, bool]:
    """Per source: did its last finished cycle read the source through?"""
    marks = ", ".join("?" * len(CYCLE_KINDS))
    out: dict[str, bool] = {}
    for source, status in conn.execute(
            "SELECT j.value, r.status FROM runs r, json_each(r.sources) j "
            f"WHERE r.finished_at IS NOT NULL AND r.kind IN ({marks}) ORDER BY r.id",
            CYCLE_KINDS):
        out[source] = status in READ_COMPLETE
    return out


def _unix(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _lag(cursor_text: str, now: datetime) -> float:
    try:
        modified = json.loads(cursor_text)["modified"]
        local = datetime.strptime(modified, "%Y-%m-%d %H:%M:%S")
    except (ValueError, KeyError, TypeError):
        return float("nan")
    return max(0.0, (now - (local - CST).replace(tzinfo=UTC)).total_seconds())
