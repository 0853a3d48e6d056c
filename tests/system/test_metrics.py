"""The daemon's gauges as Prometheus reads them, after real cycles against the sandbox:
state counts that do not grow when the same rows are seen again, a cursor lag of 0 for
a caught-up source, the last success, the pause flag, the outbox's age."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bridge import metrics, safety
from bridge.config import Config
from bridge.national import Unreachable
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest
from state.store import StateStore
from tests.system.helpers import cycle, make_config

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(cfg: Config) -> Samples:
    registry = CollectorRegistry()
    registry.register(metrics.StateCollector(cfg.state.path, [s.name for s in cfg.sources]))
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def rows_of(samples: Samples, status: str) -> float:
    return sum(v for (name, labels), v in samples.items()
               if name == "zybridge_rows" and ("status", status) in labels)


def test_state_counts_are_gauges_that_stay_put_when_a_cycle_sees_the_same_rows(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    first = scrape(cfg)
    cycle(cfg)
    again = scrape(cfg)
    quarantined = sum(1 for out in manifest.expected.values() if out == "quarantined")
    assert rows_of(first, "quarantined") == quarantined > 0
    assert rows_of(again, "quarantined") == quarantined
    assert rows_of(again, "synced") == rows_of(first, "synced") > 0


def test_a_caught_up_source_has_cursor_lag_0_and_a_last_success(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    cfg = make_config(tmp_path, sandbox, sample[0])
    before = datetime.now(UTC).timestamp()
    cycle(cfg)
    samples = scrape(cfg)
    lags = {labels: v for (name, labels), v in samples.items()
            if name == "zybridge_cursor_lag_seconds"}
    assert lags and set(lags.values()) == {0.0}
    last = samples[("zybridge_last_success_timestamp_seconds", (("source", "haicang"),))]
    assert before <= last <= datetime.now(UTC).timestamp()


def test_a_source_whose_last_cycle_failed_shows_how_far_its_read_lags(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    cfg = make_config(tmp_path, sandbox, sample[0])
    cycle(cfg)
    state = StateStore.open(cfg.state.path)
    try:
        state.finish_run(state.start_run("daemon", ["haicang"]), "failed", {}, "source down")
    finally:
        state.close()
    lags = [v for (name, _), v in scrape(cfg).items() if name == "zybridge_cursor_lag_seconds"]
    assert lags and min(lags) > 0


def test_a_paused_source_reads_1_and_the_others_0(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    cfg = make_config(tmp_path, sandbox, sample[0])
    cycle(cfg)
    state = StateStore.open(cfg.state.path)
    try:
        assert scrape(cfg)[("zybridge_source_paused", (("source", "haicang"),))] == 0
        safety.pause(state, "haicang", "too many revocations")
    finally:
        state.close()
    assert scrape(cfg)[("zybridge_source_paused", (("source", "haicang"),))] == 1


def test_the_outbox_age_is_0_when_empty_and_the_oldest_items_age_when_not(
        tmp_path: Path, sample: tuple[Path, SampleManifest]) -> None:
    from bridge.testing.harness import free_port

    with SandboxProcess(db_path=tmp_path / "sb.db") as sb:
        cfg = make_config(tmp_path, sb, sample[0])
    dead = cfg.model_copy(update={"national": cfg.national.model_copy(update={
        "base_url": f"http://127.0.0.1:{free_port()}/openapi/v1", "max_attempts": 1})})
    empty = scrape(dead)
    assert empty.get(("zybridge_outbox_oldest_age_seconds", ()), 0.0) == 0.0
    with pytest.raises(Unreachable):   # the platform refuses connections:
        cycle(dead)                    # everything stays in the outbox
    samples = scrape(dead)
    assert samples[("zybridge_outbox_items", ())] > 0
    assert samples[("zybridge_outbox_oldest_age_seconds", ())] > 0
