"""Issue 17: a long cycle shows its progress. The engine tells a Progress observer of
every page read and every batch the platform answers (the counts match the cycle's own
report); `zybridge sync` on a terminal draws rich bars per source and entity with an
ETA, and draws nothing when stderr is not a terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest
from tests.system import helpers
from tests.system.helpers import make_config, source_counts

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    def __init__(self) -> None:
        self.expected: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self.items: Counter[str] = Counter()

    def expect(self, source: str, entity: str, rows: int) -> None:
        self.expected[entity] = rows

    def read(self, source: str, entity: str, rows: int) -> None:
        self.rows[entity] += rows

    def sent(self, entity: str, items: int) -> None:
        self.items[entity] += items


def test_the_engine_reports_every_row_read_and_item_sent(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.runtime import open_runtime

    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    recorder = Recorder()
    with open_runtime(make_config(tmp_path, sandbox, sample[0])) as rt:
        rt.engine.progress = recorder
        report = rt.engine.cycle()
        assert recorder.rows == report.pulled
        assert report.push is not None
        assert sum(recorder.items.values()) == sum(report.push.items.values())
        recorder.rows.clear()
        rt.engine.cycle()
    # the second cycle expected as many rows as the state holds of each entity
    assert recorder.expected == Counter(source_counts(sample[0]))


def _sync(tmp_path: Path, sandbox: SandboxProcess, store: Path, *,
          terminal: bool, command: tuple[str, ...] = ("sync",)) -> tuple[int, str]:
    config = helpers.write_config(
        tmp_path / "zybridge.toml",
        {"base_url": sandbox.base_url, "app_id": "haicang-demo",
         "app_secret": "${ZYBRIDGE_APP_SECRET}", "jurisdiction": "3502", "rate_per_s": 500.0},
        [{"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}",
          "mapping": "zhiyuanyun", "every": "5m", "page_size": 50}],
        log={"path": "bridge.jsonl", "level": "info"})
    env = {**os.environ, "ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET, "COLUMNS": "160",
           "TERM": "xterm"}
    argv = [sys.executable, "-m", "bridge", "--config", str(config), *command]
    if not terminal:
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=120)
        return done.returncode, done.stderr.decode()
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:   # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=120), b"".join(chunks).decode(errors="replace")


def test_sync_on_a_terminal_draws_bars_per_source_and_entity_with_an_eta(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    code, shown = _sync(tmp_path, sandbox, sample[0], terminal=True)
    assert code == 0, shown
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    for entity in ("organization", "volunteer", "project", "service_record"):
        assert f"read haicang {entity}" in plain and f"sent {entity}" in plain
    assert "ETA" in plain and "rows" in plain and "items" in plain


def test_sync_without_a_terminal_draws_nothing(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    code, err = _sync(tmp_path, sandbox, sample[0], terminal=False)
    assert code == 0, err
    assert "read haicang" not in err and "\x1b[" not in err


def test_resync_on_a_terminal_draws_its_rows_and_the_bars_of_what_it_reads_and_sends(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    code, err = _sync(tmp_path, sandbox, sample[0], terminal=False)
    assert code == 0, err
    code, shown = _sync(tmp_path, sandbox, sample[0], terminal=True,
                        command=("resync", "--source", "haicang", "--entity", "volunteer",
                                 "--yes"))
    assert code == 0, shown
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert "resync" in plain and "read haicang volunteer" in plain
    assert "sent volunteer" in plain
