"""`/healthz`, `/readyz` and `/metrics` of the daemon on `[metrics] listen`
(operator-interface.md "The daemon under a service manager").

- `/healthz`: 200 while the scheduler runs and every source's last cycle finished less
  than three of its intervals ago (counted from the daemon's start until its first cycle);
  503 naming each stale source otherwise, and while the daemon stops.
- `/readyz`: 200 once every source finished its first cycle after the start; 503 before.
- `/metrics`: the Prometheus text (bridge/metrics.py). Any other path is 404.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from apscheduler.triggers.cron import CronTrigger
from prometheus_client import make_wsgi_app

from bridge import configcheck, metrics
from bridge.config import TZ, SourceConfig
from bridge.errors import ConfigError

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def interval_seconds(src: SourceConfig, now: datetime | None = None,
                     runs: int = 16) -> float:
    """A source's schedule as seconds: `every`, or the longest gap between its next cron
    runs (a weekday cron's weekend gap, not its daily one)."""
    if src.cron is None:
        return float(src.every_seconds or 300)
    trigger = CronTrigger.from_crontab(src.cron, timezone=TZ)
    times: list[datetime] = []
    at = now or datetime.now(UTC)
    for _ in range(runs):
        nxt = trigger.get_next_fire_time(times[-1] if times else None, at)
        if nxt is None:
            break
        times.append(nxt)
        at = nxt + timedelta(seconds=1)
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    return max(1.0, float(max(gaps))) if gaps else 86_400.0


class Health:
    """What the daemon tells the probes: its scheduler, and each source's last cycle."""

    def __init__(self, sources: Sequence[SourceConfig],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.intervals = {s.name: interval_seconds(s) for s in sources}
        self.last_cycle: dict[str, float] = {}
        self.running_since: dict[str, float] = {}
        self.running: Callable[[], bool] = lambda: False
        self._lock = threading.Lock()

    def cycle_started(self, source: str) -> None:
        with self._lock:
            self.running_since[source] = self.clock()

    def cycle_finished(self, source: str) -> None:
        with self._lock:
            self.last_cycle[source] = self.clock()
            self.running_since.pop(source, None)

    def stale(self) -> list[str]:
        """Each source whose last cycle finished three intervals ago or more, and why."""
        now = self.clock()
        with self._lock:
            return [self._why(name, interval, now) for name, interval in self.intervals.items()
                    if self._age(name, now) > 3 * interval]

    def _why(self, name: str, interval: float, now: float) -> str:
        last = (f"the last finished {self._age(name, now):.0f} s ago"
                if name in self.last_cycle else
                f"none finished since the start {now - self.started:.0f} s ago")
        running = self.running_since.get(name)
        busy = "" if running is None else f"a cycle running for {now - running:.0f} s; "
        return f"{name} ({busy}{last}, every {interval:.0f} s)"

    def _age(self, name: str, now: float) -> float:
        return now - self.last_cycle.get(name, self.started)

    def healthz(self) -> tuple[int, str]:
        if not self.running():
            return 503, "the scheduler is not running\n"
        stale = self.stale()
        if stale:
            return 503, "stale: " + "; ".join(stale) + "\n"
        return 200, "ok\n"

    def readyz(self) -> tuple[int, str]:
        with self._lock:
            waiting = sorted(set(self.intervals) - set(self.last_cycle))
        if waiting:
            return 503, "waiting for the first cycle of: " + ", ".join(waiting) + "\n"
        return 200, "ready\n"


def app(health: Health) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    scrape = make_wsgi_app(metrics.REGISTRY)

    def route(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        probes = {"/healthz": health.healthz, "/readyz": health.readyz}
        if path in probes:
            code, text = probes[path]()
            reason = "OK" if code == 200 else "Service Unavailable"
            start(f"{code} {reason}", [("Content-Type", "text/plain; charset=utf-8")])
            return [text.encode("utf-8")]
        if path == "/metrics":
            body: Iterable[bytes] = scrape(environ, start)
            return body
        start("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: /metrics, /healthz, /readyz\n"]

    return route


_registered: list[metrics.StateCollector] = []
_registered_lock = threading.Lock()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:   # scrapes are not news
        return


def serve(listen: str, state_path: Any, health: Health,
          sources: Sequence[str]) -> WSGIServer:
    """Serve on `host:port` in a daemon thread; a port in use is a config error."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    collector = metrics.StateCollector(state_path, sources)
    with _registered_lock:   # one state collector per process (tests start several)
        for old in _registered:
            metrics.REGISTRY.unregister(old)
        _registered[:] = [collector]
        metrics.REGISTRY.register(collector)
    server_class = _Server6 if ":" in host else _Server
    try:
        server = make_server(host, int(port), app(health), server_class=server_class,
                             handler_class=_Quiet)
    except OSError as exc:
        raise ConfigError("metrics.listen: " + configcheck.describe_bind_error(listen, exc)) \
            from exc
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
