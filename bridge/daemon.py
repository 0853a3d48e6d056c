"""`zybridge run`: every source on its schedule until SIGTERM or SIGINT, then a clean stop.

APScheduler 3.x traps handled here: misfires are coalesced with a grace time as long as
the interval (the default of 1 s silently drops late runs); `max_instances=1` so a
source never overlaps itself; one worker thread per source, so a slow source does not
stall the others. Only the push phase is serialized across sources (one outbox).
A first signal lets the batches in flight finish and checkpoints; a second aborts at
once, which is safe because every state change is one SQLite transaction. SIGHUP reopens
the log file (logrotate) and reloads the configuration file at the next cycle boundary
(bridge/reload.py): a new configuration that fails validation is logged as an error and
the old one keeps running.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from adapters.base import SourceAdapter
from bridge import configcheck, health, logs, reload, safety
from bridge.config import Config, SourceConfig
from bridge.errors import BridgeError, ConfigError, SafetyStop
from bridge.national import NationalClient
from bridge.progress import LogProgress
from bridge.runtime import Runtime, open_adapter, secrets_of
from bridge.sync import SyncEngine
from state.db import utcnow
from state.lock import StateLock
from state.store import StateStore

log = structlog.get_logger("bridge.daemon")
TZ = "Asia/Shanghai"
PROGRESS_EVERY_S = 10.0   # a long cycle logs a progress line this often


def trigger_for(src: SourceConfig) -> IntervalTrigger | CronTrigger:
    if src.cron:
        try:
            return CronTrigger.from_crontab(src.cron, timezone=TZ)
        except ValueError as exc:
            raise ConfigError(f"source {src.name}: cron {src.cron!r} is not valid: {exc}") from exc
    return IntervalTrigger(seconds=src.every_seconds or 300, timezone=TZ)


class Daemon:
    def __init__(self, cfg: Config, *, stop_timeout_s: float = 60.0,
                 requests: Callable[[Runtime], int] | None = None,
                 config_path: Path | None = None) -> None:
        """`requests` runs the admin requests handed over while the daemon holds the lock
        (the command line gives it; the daemon knows nothing of commands); `config_path`,
        the file SIGHUP reads again."""
        self.cfg = cfg
        self.config_path = config_path
        self.hup = threading.Event()
        self.cycles = reload.Cycles()
        self.requests = requests
        self.stop = threading.Event()
        self.push_lock = threading.Lock()
        self.stop_timeout_s = stop_timeout_s
        self.started_at = utcnow()
        self._signals = 0
        self.client: NationalClient | None = None
        self.adapters: dict[str, SourceAdapter] = {}
        self.main: StateStore
        self.health = health.Health(cfg.sources)

    def run(self) -> int:
        self.cfg.require_env()
        configcheck.preflight(self.cfg, listen=False)   # the listen address: metrics.serve
        logs.register_secrets(secrets_of(self.cfg))
        with StateLock(self.cfg.state.path):
            server = None if self.cfg.metrics is None else health.serve(
                self.cfg.metrics.listen, self.cfg.state.path, self.health,
                [s.name for s in self.cfg.sources])   # a port in use: exit 2 before any work
            self.main = StateStore.open(self.cfg.state.path)  # the main thread's connection
            self._install_signals()
            n = self.cfg.national
            self.client = NationalClient(n.base_url, n.app_id, n.app_secret.get_secret_value(),
                                         timeout_s=n.timeout_s,
                                         max_connections=n.max_in_flight * 2, tls=n.tls)
            self.adapters = {s.name: open_adapter(self.cfg, s) for s in self.cfg.sources}
            scheduler = self._scheduler()
            self.health.running = lambda: scheduler.running and not self.stop.is_set()
            try:
                scheduler.start()
                log.info("daemon started", pid=os.getpid(),
                         sources=[s.name for s in self.cfg.sources])
                self._beat(scheduler)
                while not self.stop.wait(1.0):
                    if self.hup.is_set():
                        self.hup.clear()
                        self._reload(scheduler)
                    self._beat(scheduler)
                    self._requests()
                log.info("daemon stopping: finishing the batches in flight")
                scheduler.shutdown(wait=True)
            finally:
                self._beat(scheduler, stopped=True)
                self.main.close()
                self.client.close()
                for adapter in self.adapters.values():
                    adapter.close()
                if server is not None:
                    server.shutdown()
                    server.server_close()
        log.info("daemon stopped")
        return 0

    def _scheduler(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            timezone=TZ, executors={"default": ThreadPoolExecutor(len(self.cfg.sources) + 1)})
        self._add_jobs(scheduler)
        return scheduler

    def _add_jobs(self, scheduler: BackgroundScheduler) -> None:
        now = datetime.now(UTC)
        for src in self.cfg.sources:
            grace = max(60, src.every_seconds or 300)
            scheduler.add_job(self._job, trigger_for(src), args=[src.name, False],
                              id=f"sync:{src.name}", name=f"sync {src.name}",
                              coalesce=True, max_instances=1, misfire_grace_time=grace,
                              next_run_time=now)
            if src.reconcile_cron:
                trigger = CronTrigger.from_crontab(src.reconcile_cron, timezone=TZ)
                scheduler.add_job(self._job, trigger, args=[src.name, True],
                                  id=f"reconcile:{src.name}", name=f"reconcile {src.name}",
                                  coalesce=True, max_instances=1, misfire_grace_time=3600)

    def _reload(self, scheduler: BackgroundScheduler) -> None:
        """SIGHUP: the log file reopened now; the configuration file read and checked,
        then, once no cycle runs, put in place of the old one (its sources, schedules,
        platform client and log settings). A configuration that fails is logged and the
        old one keeps running."""
        logs.reopen()
        if self.config_path is None:
            log.warning("SIGHUP: log file reopened; no config file to reload")
            return
        try:
            new = reload.validated(self.cfg, self.config_path, trigger_for)
        except ConfigError as exc:
            log.error("SIGHUP: the new configuration is not valid; the old one keeps running",
                      error=str(exc))
            return
        scheduler.pause()
        try:
            if not self.cycles.wait_idle(self.stop):
                return
            self._swap(new)
            scheduler.remove_all_jobs()
            self._add_jobs(scheduler)
        finally:
            scheduler.resume()
        log.info("SIGHUP: configuration reloaded", sources={
            s.name: s.cron or s.every for s in new.sources})

    def _swap(self, new: Config) -> None:
        """Between cycles: the new config's log, client and adapters replace the old."""
        old_client, old_adapters = self.client, self.adapters
        logs.setup(new.log.path, new.log.level, max_bytes=new.log.max_bytes,
                   backups=new.log.backups)
        logs.register_secrets(secrets_of(new))
        n = new.national
        self.client = NationalClient(n.base_url, n.app_id, n.app_secret.get_secret_value(),
                                     timeout_s=n.timeout_s,
                                     max_connections=n.max_in_flight * 2, tls=n.tls)
        self.adapters = {s.name: open_adapter(new, s) for s in new.sources}
        self.cfg = new
        self.health.intervals = {s.name: health.interval_seconds(s) for s in new.sources}
        if old_client is not None:
            old_client.close()
        for adapter in old_adapters.values():
            adapter.close()

    def _job(self, name: str, full: bool) -> None:
        with self.cycles.running():
            self._cycle(name, full)

    def _cycle(self, name: str, full: bool) -> None:
        if self.stop.is_set():
            return
        assert self.client is not None
        self.health.cycle_started(name)
        store = StateStore.open(self.cfg.state.path)
        try:
            reason = safety.paused(store).get(name)
            if reason is not None:
                log.error("source paused by a safety stop: after reading why, run "
                          f"`zybridge resync --source {name} --force`", source=name,
                          reason=reason)
                return
            engine = SyncEngine(self.cfg, store, self.client, self.adapters, stop=self.stop,
                                push_lock=self.push_lock,
                                progress=LogProgress(log.info, PROGRESS_EVERY_S))
            structlog.contextvars.bind_contextvars(source=name)
            engine.cycle([name], kind="reconcile" if full else "daemon", full=full)
        except SafetyStop as exc:
            safety.pause(store, name, str(exc))
            log.error("safety stop: source paused", source=name, error=str(exc))
        except ConfigError as exc:
            log.error("cycle refused: configuration or credentials", source=name,
                      error=str(exc))
        except BridgeError as exc:
            log.error("cycle failed", source=name, error=str(exc))
        except Exception:
            log.exception("cycle crashed", source=name)
        finally:
            self.health.cycle_finished(name)
            structlog.contextvars.unbind_contextvars("source")
            store.close()

    def _requests(self) -> None:
        """Admin commands handed over through request rows, run between cycles."""
        assert self.client is not None
        store = self.main
        if self.requests is None or not store.queued_requests():
            return
        try:
            engine = SyncEngine(self.cfg, store, self.client, self.adapters, stop=self.stop,
                                push_lock=self.push_lock)
            self.requests(Runtime(self.cfg, store, self.client, self.adapters, engine))
        except Exception:
            log.exception("admin requests failed")

    def _install_signals(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            self._signals += 1
            if self._signals > 1:
                log.warning("second signal: aborting now; the outbox keeps what was not "
                            "acknowledged")
                os._exit(130)
            self.stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGHUP, lambda signum, frame: self.hup.set())

    def _beat(self, scheduler: BackgroundScheduler, *, stopped: bool = False) -> None:
        jobs: dict[str, Any] = {}
        if not stopped:
            for job in scheduler.get_jobs():
                nxt = job.next_run_time
                jobs[job.id] = nxt.astimezone(UTC).isoformat() if nxt else None
        self.main.beat(self.started_at, jobs, stopped=stopped)
