"""Read-ahead (bridge/readahead.py): a long read of a SQL source is read and mapped in a
second process while the cycle stages. It must end exactly as the cycle's own reading
does: every row once, the cursor where it belongs, a crash at any page losing nothing
and leaving no process behind, and a failed or dying worker being the source's failed
read."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import structlog

from adapters.base import SourceAdapter
from bridge import config as config_mod
from bridge.errors import TransientError
from bridge.runtime import open_adapter, open_runtime
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import build_sample_store
from tests.system.helpers import cycle, make_config, state_rows
from tests.system.oracle import check_converged, state_intact
from tests.system.test_crash_points import sync, write_config

PAGE = 40


def reading_ahead(cfg: config_mod.Config, after: int = PAGE) -> config_mod.Config:
    """cfg with pages of PAGE rows, read ahead after the first full page."""
    src = cfg.sources[0].model_copy(update={"page_size": PAGE, "read_ahead_after": after})
    return cfg.model_copy(update={"sources": [src]})


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "haicang.db"
    build_sample_store(path, volunteers=80, seed=3)
    return path


def test_a_read_ahead_backfill_converges_and_says_so(
        tmp_path: Path, store: Path, sandbox: SandboxProcess) -> None:
    cfg = reading_ahead(make_config(tmp_path, sandbox, store))
    with structlog.testing.capture_logs() as logs:
        report = cycle(cfg)
    assert report.ok, report.as_dict()
    assert {e["stream"] for e in logs if e["event"] == "reading ahead"} >= {"service_record"}
    check_converged(cfg, sandbox, store)


def test_the_cycle_after_a_read_ahead_reads_from_its_cursor_and_sends_nothing(
        tmp_path: Path, store: Path, sandbox: SandboxProcess) -> None:
    cfg = reading_ahead(make_config(tmp_path, sandbox, store))
    assert cycle(cfg).ok
    sandbox.reset_stats()
    again = cycle(cfg)
    assert again.ok
    assert sandbox.stats()["total"] == 0
    # only the look-back window is read again, not the whole store
    assert sum(again.pulled.values()) < PAGE * 3, again.as_dict()


def test_rows_read_ahead_are_staged_as_the_cycles_own_reading_stages_them(
        tmp_path: Path, store: Path) -> None:
    """Dry: the same store staged with and without read-ahead gives the same rows."""
    got = []
    for name, after in (("ahead", PAGE), ("own", 0)):
        folder = tmp_path / name
        folder.mkdir()
        with SandboxProcess(db_path=folder / "sandbox.db") as sb:
            cfg = reading_ahead(make_config(folder, sb, store), after)
            assert cycle(cfg).ok
            got.append(sorted((r["entity"], r["local_id"], r["status"], r["parts"])
                              for r in state_rows(cfg)))
    assert got[0] == got[1]


def _marked(mark: str) -> list[int]:
    """Processes whose environment carries this test's mark."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_a_crash_while_reading_ahead_loses_nothing_and_leaves_no_process(
        tmp_path: Path, store: Path, sandbox: SandboxProcess,
        monkeypatch: pytest.MonkeyPatch) -> None:
    mark = f"ZYB_TEST_MARK={uuid.uuid4().hex}"
    monkeypatch.setenv("ZYB_TEST_MARK", mark.partition("=")[2])
    config = write_config(tmp_path, sandbox, store)
    config.write_text(config.read_text(encoding="utf-8") + f"read_ahead_after = {PAGE}\n",
                      encoding="utf-8")
    crashed = sync(config, "after_stage_page:4")   # a page the second process read
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-800:]
    deadline = time.monotonic() + 15
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _marked(mark), "the read-ahead process outlived its killed cycle"
    done = sync(config)
    assert done.returncode == 0, done.stderr.decode()[-800:]
    cfg = reading_ahead(make_config(tmp_path, sandbox, store))
    state_intact(cfg)
    check_converged(cfg, sandbox, store)


def unreadable(cfg: config_mod.Config, src: config_mod.SourceConfig) -> SourceAdapter:
    raise OSError("the store's disk went away")


def dying(cfg: config_mod.Config, src: config_mod.SourceConfig) -> SourceAdapter:
    os._exit(3)


@pytest.mark.parametrize(("opener", "says"), [
    (unreadable, "OSError: the store's disk went away"),
    (dying, "the read-ahead process ended (exit code 3)")])
def test_a_read_ahead_that_fails_is_the_sources_failed_read_and_its_cursor_stays(
        opener: Any, says: str, tmp_path: Path, store: Path,
        sandbox: SandboxProcess) -> None:
    cfg = reading_ahead(make_config(tmp_path, sandbox, store))
    with open_runtime(cfg) as rt:
        rt.engine.opener = opener
        with pytest.raises(TransientError) as failed:   # its only source: the cycle fails
            rt.engine.cycle()
        cursors = rt.store.cursors("haicang")
    assert says in str(failed.value)
    # the pages the cycle read itself were staged, their cursor stored; the rest waits
    assert cursors, "no cursor stored for the pages read before the read-ahead"
    with open_runtime(reading_ahead(cfg, 0)) as rt:
        assert rt.engine.cycle().ok
    check_converged(cfg, sandbox, store)


def test_the_runtime_hands_its_engine_the_opener_the_read_ahead_needs(
        tmp_path: Path, store: Path, sandbox: SandboxProcess) -> None:
    with open_runtime(make_config(tmp_path, sandbox, store)) as rt:
        assert rt.engine.opener is open_adapter
