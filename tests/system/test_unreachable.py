"""Issue 17: a `sync` against a platform that refuses connections stops after the first
batch's attempts, naming the URL, exit 1, in seconds; every attempt is a warning in the
log; the batches not tried stay in the outbox and a later cycle delivers everything
(operator-interface.md "Also")."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from bridge import cli
from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess, free_port
from bridge.testing.sample import SampleManifest
from tests.system import helpers
from tests.system.helpers import check_invariants, make_config


def _config(tmp: Path, store: Path, base_url: str) -> Path:
    """The operator's defaults for retries (8 attempts, 300 s deadline, 0.5-30 s backoff)
    and small batches, so that the outbox holds many."""
    return helpers.write_config(
        tmp / "zybridge.toml",
        {"base_url": base_url, "app_id": "haicang-demo", "app_secret": "${ZYBRIDGE_APP_SECRET}",
         "jurisdiction": "3502", "rate_per_s": 500.0, "batch_size": 10},
        [{"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}",
          "mapping": "zhiyuanyun", "every": "5m"}],
        log={"path": "bridge.jsonl", "level": "info"})


def _outbox(tmp: Path) -> int:
    conn = sqlite3.connect(f"file:{tmp / 'state.db'}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def refused(tmp_path: Path, sample: tuple[Path, SampleManifest],
            monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float, str]:
    """`zybridge sync` against a port where nothing listens: exit code, stderr, seconds,
    the base URL."""
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    base_url = f"http://127.0.0.1:{free_port()}/openapi/v1"
    config = _config(tmp_path, sample[0], base_url)
    started = time.monotonic()
    code = cli.main(["--config", str(config), "sync"])
    seconds = time.monotonic() - started
    return code, capsys.readouterr().err, seconds, base_url


def test_a_refused_connection_ends_the_sync_naming_the_url_with_exit_1(
        refused: tuple[int, str, float, str]) -> None:
    code, err, _, base_url = refused
    assert code == 1
    assert f"cannot reach {base_url} : connection refused" in err
    assert "Traceback" not in err


def test_a_refused_connection_costs_seconds_not_a_minute(
        refused: tuple[int, str, float, str]) -> None:
    assert refused[2] < 10.0


def test_the_failed_attempts_are_warnings_and_only_one_batch_retries(
        tmp_path: Path, refused: tuple[int, str, float, str]) -> None:
    lines = [json.loads(line) for line in
             (tmp_path / "bridge.jsonl").read_text(encoding="utf-8").splitlines()]
    failed = [e for e in lines if e.get("event") == "request failed"]
    assert failed and all(e["level"] == "warning" for e in failed)
    batches = {e["batch_key"] for e in failed}
    assert len(failed) <= 3 + len(batches) - 1   # the others tried once, while one retried
    assert len(batches) <= 4                     # max_in_flight: no batch formed after


def test_nothing_is_lost_the_next_cycle_delivers_everything(
        tmp_path: Path, sample: tuple[Path, SampleManifest], sandbox: SandboxProcess,
        refused: tuple[int, str, float, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _outbox(tmp_path) > 40
    config = _config(tmp_path, sample[0], sandbox.base_url)
    assert cli.main(["--config", str(config), "sync"]) == 0, capsys.readouterr().err
    assert _outbox(tmp_path) == 0
    check_invariants(make_config(tmp_path, sandbox, sample[0]), sandbox, sample[0])
