"""Prometheus metrics of the daemon (`[metrics]` in the config), on 127.0.0.1 by default.

Counters and the batch-latency histogram are fed by the engine as it works; outbox
depth and cursor lag are read from the state file when scraped (read-only), so they are
true even after a restart."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
ITEMS = Counter("zybridge_items_total", "Item results from the platform",
                ["entity", "status"], registry=REGISTRY)
QUARANTINED = Counter("zybridge_quarantined_total", "Source rows our mapping refused",
                      ["source", "entity"], registry=REGISTRY)
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


class StateCollector(Collector):
    """Outbox depth and cursor lag, read from the state file at scrape time."""

    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("zybridge_outbox_items", "Items waiting in the outbox")
        batches = GaugeMetricFamily("zybridge_outbox_open_batches",
                                    "Batches formed and not yet acknowledged")
        lag = GaugeMetricFamily("zybridge_cursor_lag_seconds",
                                "Now minus the newest change a stream has staged",
                                labels=["source", "stream"])
        try:
            conn = sqlite3.connect(f"file:{self.state_path}?mode=ro", uri=True)
        except sqlite3.Error:
            return
        try:
            depth.add_metric([], conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            batches.add_metric([], conn.execute(
                "SELECT COUNT(*) FROM batches WHERE state = 'open'").fetchone()[0])
            now = datetime.now(UTC)
            for source, stream, text in conn.execute(
                    "SELECT source, stream, cursor FROM cursors"):
                lag.add_metric([source, stream], _lag(text, now))
        except sqlite3.Error:
            return
        finally:
            conn.close()
        yield depth
        yield batches
        yield lag


def _lag(cursor_text: str, now: datetime) -> float:
    try:
        modified = json.loads(cursor_text)["modified"]
        local = datetime.strptime(modified, "%Y-%m-%d %H:%M:%S")
    except (ValueError, KeyError, TypeError):
        return float("nan")
    return (now - (local - CST).replace(tzinfo=UTC)).total_seconds()


def serve(listen: str, state_path: Path) -> None:
    host, _, port = listen.rpartition(":")
    REGISTRY.register(StateCollector(state_path))
    start_http_server(int(port), addr=host or "127.0.0.1", registry=REGISTRY)
