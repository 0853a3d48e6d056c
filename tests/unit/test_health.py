"""`/healthz`, `/readyz` and `/metrics` on `[metrics] listen`, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import health
from bridge.config import SourceConfig
from bridge.testing.harness import free_port
from state.store import StateStore


def source(name: str, **schedule: str) -> SourceConfig:
    return SourceConfig(name=name, kind="sql", url="sqlite:///x.db", mapping="zhiyuanyun",
                        **schedule)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def probe(clock: Clock) -> health.Health:
    h = health.Health([source("haicang", every="5m"), source("xinyang", every="1h")], clock)
    h.running = lambda: True
    return h


def test_interval_of_an_every_source_is_its_seconds() -> None:
    assert health.interval_seconds(source("a", every="2h")) == 7200


def test_interval_of_a_cron_source_is_the_gap_between_its_runs() -> None:
    assert health.interval_seconds(source("a", cron="*/10 * * * *")) == 600


def test_interval_of_a_weekday_cron_is_its_weekend_gap() -> None:
    assert health.interval_seconds(source("a", cron="0 9 * * 1-5")) == 3 * 86_400


def test_healthy_while_every_source_cycled_within_three_intervals(
        probe: health.Health, clock: Clock) -> None:
    probe.cycle_finished("haicang")
    probe.cycle_finished("xinyang")
    clock.now += 3 * 300
    assert probe.healthz() == (200, "ok\n")


def test_unhealthy_naming_the_source_past_three_intervals(
        probe: health.Health, clock: Clock) -> None:
    probe.cycle_finished("haicang")
    probe.cycle_finished("xinyang")
    clock.now += 3 * 300 + 1
    code, text = probe.healthz()
    assert code == 503
    assert "haicang" in text and "xinyang" not in text


@given(st.floats(min_value=0, max_value=10 * 3600))
def test_a_source_never_cycled_counts_from_the_start(elapsed: float) -> None:
    clock = Clock()
    probe = health.Health([source("haicang", every="5m")], clock)
    probe.running = lambda: True
    clock.now += elapsed
    assert (probe.healthz()[0] == 200) == (elapsed <= 900)


def test_a_stale_source_with_a_long_cycle_running_says_so(
        probe: health.Health, clock: Clock) -> None:
    probe.cycle_finished("xinyang")
    probe.cycle_started("haicang")
    clock.now += 4000
    code, text = probe.healthz()
    assert code == 503
    assert "haicang (a cycle running for 4000 s; none finished since the start" in text


def test_unhealthy_when_the_scheduler_is_not_running(probe: health.Health) -> None:
    probe.running = lambda: False
    assert probe.healthz() == (503, "the scheduler is not running\n")


def test_ready_only_once_every_source_finished_a_cycle(probe: health.Health) -> None:
    probe.cycle_finished("haicang")
    code, text = probe.readyz()
    assert code == 503 and "xinyang" in text
    probe.cycle_finished("xinyang")
    assert probe.readyz() == (200, "ready\n")


@pytest.fixture
def served(tmp_path: Path, probe: health.Health) -> Iterator[str]:
    StateStore.open(tmp_path / "state.db").close()
    port = free_port()
    server = health.serve(f"127.0.0.1:{port}", tmp_path / "state.db", probe,
                          ["haicang", "xinyang"])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_probes_answer_over_http(served: str, probe: health.Health) -> None:
    assert httpx.get(f"{served}/healthz").status_code == 200
    assert httpx.get(f"{served}/readyz").status_code == 503
    probe.running = lambda: False
    answer = httpx.get(f"{served}/healthz")
    assert (answer.status_code, answer.text) == (503, "the scheduler is not running\n")


def test_metrics_are_served_on_metrics_only(served: str) -> None:
    scrape = httpx.get(f"{served}/metrics")
    assert scrape.status_code == 200
    assert 'zybridge_source_paused{source="haicang"} 0.0' in scrape.text
    assert httpx.get(f"{served}/health").status_code == 404
