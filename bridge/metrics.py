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
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from state.gauges import Gauges, gauges

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


class StateCollector(Collector):
    """The state file's gauges, read at scrape time (nothing when it cannot be read)."""

    def __init__(self, state_path: Path, sources: Sequence[str]) -> None:
        self.state_path = state_path
        self.sources = tuple(sources)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        found = gauges(self.state_path)
        if found is not None:
            yield from state_gauges(found, self.sources, datetime.now(UTC))


def state_gauges(found: Gauges, sources: Sequence[str],
                 now: datetime) -> list[GaugeMetricFamily]:
    return [_rows(found), _paused(found, sources), _last_success(found, sources),
            *_outbox(found, now), _cursor_lag(found, now)]


def _rows(found: Gauges) -> GaugeMetricFamily:
    rows = GaugeMetricFamily("zybridge_rows", "Source rows the state holds, by status "
                             "(synced, revoked, pending, blocked, skipped, quarantined, "
                             "dead_lettered); they add up to the source's rows",
                             labels=["source", "entity", "status"])
    for source, entity, status, n in found.rows:
        rows.add_metric([source, entity, status], n)
    return rows


def _paused(found: Gauges, sources: Sequence[str]) -> GaugeMetricFamily:
    paused = GaugeMetricFamily("zybridge_source_paused", "1 while a safety stop pauses the "
                               "source (zybridge status says why)", labels=["source"])
    for source in sorted(set(sources) | found.paused):
        paused.add_metric([source], 1 if source in found.paused else 0)
    return paused


def _last_success(found: Gauges, sources: Sequence[str]) -> GaugeMetricFamily:
    last = GaugeMetricFamily("zybridge_last_success_timestamp_seconds",
                             "Unix time the source's last cycle finished with everything "
                             "read and delivered", labels=["source"])
    for source, finished in found.last_success.items():
        if not sources or source in sources:
            last.add_metric([source], _unix(finished))
    return last


def _outbox(found: Gauges, now: datetime) -> list[GaugeMetricFamily]:
    depth = GaugeMetricFamily("zybridge_outbox_items", "Items waiting in the outbox")
    batches = GaugeMetricFamily("zybridge_outbox_open_batches",
                                "Batches formed and not yet acknowledged")
    age = GaugeMetricFamily("zybridge_outbox_oldest_age_seconds",
                            "Age of the oldest item waiting in the outbox (0 when empty)")
    depth.add_metric([], found.outbox_items)
    batches.add_metric([], found.open_batches)
    oldest = found.oldest_outbox
    age.add_metric([], max(0.0, now.timestamp() - _unix(oldest)) if oldest else 0.0)
    return [depth, batches, age]


def _cursor_lag(found: Gauges, now: datetime) -> GaugeMetricFamily:
    lag = GaugeMetricFamily("zybridge_cursor_lag_seconds",
                            "How far behind the source a stream's read is: 0 once the "
                            "source's last cycle read everything, else now minus the "
                            "newest change staged", labels=["source", "stream"])
    for source, stream, text in found.cursors:
        done = found.read_complete.get(source)
        lag.add_metric([source, stream], 0.0 if done else _lag(text, now))
    return lag


def _unix(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _lag(cursor_text: str, now: datetime) -> float:
    try:
        modified = json.loads(cursor_text)["modified"]
        local = datetime.strptime(modified, "%Y-%m-%d %H:%M:%S")
    except (ValueError, KeyError, TypeError):
        return float("nan")
    return max(0.0, (now - (local - CST).replace(tzinfo=UTC)).total_seconds())
