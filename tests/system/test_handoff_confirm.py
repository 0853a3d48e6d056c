"""Issue 17: a command handed to a running daemon asks for --yes above 100 rows exactly
as it does without a daemon; the question is asked before the hand-off, so a refusal
queues nothing (operator-interface.md "Also")."""

from __future__ import annotations

import re
import signal
import sqlite3
from pathlib import Path

from bridge.testing.harness import SandboxProcess, free_port
from bridge.testing.sample import build_sample_store
from tests.system.helpers import platform_by_ref
from tests.system.test_daemon import wait_for, write_config, zybridge


def _requests(state: Path) -> int:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
    finally:
        conn.close()


def test_a_large_resync_handed_to_a_daemon_without_yes_is_refused_and_nothing_queued(
        tmp_path: Path) -> None:
    build_sample_store(tmp_path / "haicang.db", volunteers=120, seed=1)
    build_sample_store(tmp_path / "xinyang.db", volunteers=5, seed=2)
    with SandboxProcess(db_path=tmp_path / "sb.db", extra_args=["--rate-per-s", "0"]) as sb:
        config = write_config(tmp_path, sb, free_port())
        proc = zybridge(config, "run")
        try:
            wait_for(lambda: sum(1 for r in platform_by_ref(sb)
                                 if r.startswith("haicang:")) > 100, timeout=90)
            handed = zybridge(config, "resync", "--source", "haicang")
            out, err = handed.communicate(timeout=60)
            assert handed.returncode == 2, (out + err).decode()
            found = re.search(r"resync about (\d+) rows", err.decode())
            assert found and int(found.group(1)) > 100 and "--yes" in err.decode()
            assert "handed to the running daemon" not in out.decode()
            assert _requests(tmp_path / "state.db") == 0
        finally:
            proc.send_signal(signal.SIGTERM)
            _, perr = proc.communicate(timeout=60)
        assert proc.returncode == 0, perr.decode()
