"""`zybridge run` as docs/operations.md sets it up: logs as JSON lines on stderr (what the
journal keeps under systemd), `/readyz` once the first cycles finished, `/healthz` while
it runs, a clean exit 0 on SIGTERM."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from bridge.testing.harness import SandboxProcess, free_port
from bridge.testing.sample import build_sample_store
from tests.system.test_daemon import wait_for, write_config, zybridge


def answers(url: str, code: int) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == code
    except httpx.HTTPError:
        return False


def test_the_daemon_logs_to_stderr_answers_its_probes_and_stops_on_sigterm(
        tmp_path: Path) -> None:
    for seed, name in enumerate(("haicang", "xinyang")):
        build_sample_store(tmp_path / f"{name}.db", volunteers=10, seed=seed)
    with SandboxProcess(db_path=tmp_path / "sb.db", extra_args=["--rate-per-s", "0"]) as sb:
        port = free_port()
        config = write_config(tmp_path, sb, port)
        config.write_text(config.read_text(encoding="utf-8").replace(
            'path = "bridge.jsonl"', 'path = "-"'), encoding="utf-8")
        proc = zybridge(config, "run")
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: answers(f"{base}/readyz", 200))
            assert answers(f"{base}/healthz", 200)
            scrape = httpx.get(f"{base}/metrics").text
            assert 'zybridge_cursor_lag_seconds{source="haicang",stream=' in scrape
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()[-2000:]
        lines = [json.loads(x) for x in err.decode().splitlines() if x.strip()]
        events = [x["event"] for x in lines]
        assert "daemon started" in events and events[-1] == "daemon stopped"
