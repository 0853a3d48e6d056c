"""Files the bridge writes are 0600 from their creation, whatever the umask (issue 18):
log files and the ones rotated out, a backup's `.partial` while it is written."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from bridge import logs
from state import files as state_files
from state.store import StateStore


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_log_files_and_rotated_ones_are_private(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "log" / "bridge.jsonl"
    logs.setup(str(path), "info", max_bytes=10_000, backups=2)
    try:
        for i in range(200):
            structlog.get_logger("test").info("a line long enough to rotate soon", n=i,
                                              pad="x" * 100)
    finally:
        for handler in logging.getLogger("zybridge").handlers:
            handler.close()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["bridge.jsonl", "bridge.jsonl.1", "bridge.jsonl.2"]
    assert {mode(p) for p in path.parent.iterdir()} == {0o600}


def test_a_backup_is_private_while_it_is_written(tmp_path: Path, open_umask: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    StateStore.open(tmp_path / "state.db").close()
    seen: list[int] = []
    real = sqlite3.connect

    def watching(target: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(target, *args, **kwargs)
        if str(target).endswith(".partial"):
            seen.append(mode(Path(target)))  # as SQLite is about to fill it
        return conn

    monkeypatch.setattr(sqlite3, "connect", watching)
    state_files.backup(tmp_path / "state.db", tmp_path / "backup.db")
    assert seen == [0o600] and mode(tmp_path / "backup.db") == 0o600


def test_the_copy_a_restore_keeps_aside_is_private(tmp_path: Path, open_umask: None) -> None:
    StateStore.open(tmp_path / "state.db").close()
    StateStore.open(tmp_path / "other.db").close()
    kept = state_files.restore(tmp_path / "other.db", tmp_path / "state.db")
    assert kept is not None and mode(kept) == 0o600


def test_the_command_line_gives_the_callers_umask_back(open_umask: None) -> None:
    from bridge.cli import main

    assert main(["sandbox"]) == 2
    assert os.umask(0o022) == 0o022
