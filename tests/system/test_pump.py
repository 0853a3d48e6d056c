"""The push pump (bridge/pump.py): a backfill sends creations while it still stages,
ends where a sequential cycle ends, and survives SIGKILL; an established source's cycle
sends nothing before its safety checks."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge import safety
from bridge.config import Config
from bridge.runtime import open_runtime
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import build_sample_store, soft_delete, update_rows
from tests.system.helpers import check_invariants, cycle, make_config
from tests.system.oracle import check_no_duplicates
from tests.system.test_faults import _sync, _write_config, content


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    """25 ms per batch: staging a page is quicker than the platform's answer."""
    with SandboxProcess(db_path=tmp_path / "slow.db",
                        extra_args=["--rate-per-s", "0", "--latency-ms", "25"]) as sb:
        yield sb


def _requests_at_check(cfg: Config, sandbox: SandboxProcess,
                       monkeypatch: pytest.MonkeyPatch) -> tuple[int, Any]:
    """A cycle; returns the platform's request count when the safety check ran (staging
    over, nothing of the ordinary drain sent yet) and the cycle's report."""
    seen: list[int] = []
    before = int(sandbox.stats()["total"])
    check = safety.check_destructive

    def spy(*args: Any, **kwargs: Any) -> None:
        seen.append(int(sandbox.stats()["total"]) - before)
        check(*args, **kwargs)

    monkeypatch.setattr(safety, "check_destructive", spy)
    with open_runtime(cfg) as rt:
        report = rt.engine.cycle()
    assert len(seen) == 1
    return seen[0], report


def test_a_backfill_sends_creations_while_it_still_stages(
        tmp_path: Path, slow_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "haicang.db"
    build_sample_store(store, volunteers=300, seed=5)
    cfg = make_config(tmp_path, slow_sandbox, store)
    sent_early, report = _requests_at_check(cfg, slow_sandbox, monkeypatch)
    assert sent_early > 0, "the pump sent nothing while the cycle staged"
    assert report.ok and report.push is not None
    assert sent_early < report.push.requests
    check_invariants(cfg, slow_sandbox, store)
    check_no_duplicates(slow_sandbox)
    assert cycle(cfg).push.requests == 0  # type: ignore[union-attr]


def test_pipelined_and_sequential_backfills_leave_the_same_platform(
        tmp_path: Path, slow_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "haicang.db"
    build_sample_store(store, volunteers=200, seed=11)
    piped = make_config(tmp_path / "piped", slow_sandbox, store)
    cycle(piped)
    with SandboxProcess(db_path=tmp_path / "seq.db", extra_args=["--rate-per-s", "0"]) as seq_sb:
        seq = make_config(tmp_path / "seq", seq_sb, store, pipeline=False)
        sent_early, _ = _requests_at_check(seq, seq_sb, monkeypatch)
        assert sent_early == 0, "pipeline = false sent before the safety checks"
        assert content(seq_sb) == content(slow_sandbox)


def test_an_established_source_sends_nothing_before_its_safety_checks(
        tmp_path: Path, slow_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "haicang.db"
    manifest = build_sample_store(store, volunteers=120, seed=8)
    cfg = make_config(tmp_path, slow_sandbox, store)
    cycle(cfg)
    synced = manifest.ids("service_record", "synced")
    soft_delete(store, "service_record", synced[:5])
    update_rows(store, "service_record", synced[5:60], {"content": "社区环境整治（补记）"})
    sent_early, report = _requests_at_check(cfg, slow_sandbox, monkeypatch)
    assert sent_early == 0
    assert report.push is not None and report.push.items["revoked"] >= 5
    check_invariants(cfg, slow_sandbox, store)


def test_sigkill_during_a_pipelined_backfill_then_restart_converges(tmp_path: Path) -> None:
    store = tmp_path / "haicang.db"
    build_sample_store(store, volunteers=250, seed=21)
    rng = random.Random(7)
    work = tmp_path / "killed"
    work.mkdir()
    with SandboxProcess(db_path=tmp_path / "sb1.db",
                        extra_args=["--rate-per-s", "0", "--latency-ms", "25"]) as sandbox:
        config = _write_config(work, sandbox, store)
        kills = 0  # random kills, fixed rounds (test_crash_points.py crashes every step)
        for _ in range(8):
            proc = _sync(config)
            time.sleep(rng.uniform(0.2, 0.9))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        print(f"{kills} kills in 8 rounds")
        for _ in range(2):
            proc = _sync(config)
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
        check_no_duplicates(sandbox)
        killed = content(sandbox)
    with SandboxProcess(db_path=tmp_path / "sb2.db", extra_args=["--rate-per-s", "0"]) as clean:
        cycle(make_config(tmp_path / "clean", clean, store))
        assert killed == content(clean), "the killed backfill converged to another state"


def test_a_full_read_never_sends_before_its_safety_checks(
        tmp_path: Path, slow_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """The nightly reconcile's short-read stop must find nothing sent, backfill or not."""
    store = tmp_path / "haicang.db"
    build_sample_store(store, volunteers=150, seed=4)
    cfg = make_config(tmp_path, slow_sandbox, store)
    seen: list[int] = []
    before = int(slow_sandbox.stats()["total"])
    check = safety.check_destructive

    def spy(*args: Any, **kwargs: Any) -> None:
        seen.append(int(slow_sandbox.stats()["total"]) - before)
        check(*args, **kwargs)

    monkeypatch.setattr(safety, "check_destructive", spy)
    with open_runtime(cfg) as rt:
        assert rt.engine.cycle(full=True).ok
    assert seen == [0]


def test_a_failed_cycle_stops_the_pump_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error ends the cycle: the pump finishes the requests under way and forms no more
    (it does not drain the backlog before the error is reported)."""
    store = tmp_path / "haicang.db"
    build_sample_store(store, volunteers=300, seed=6)
    with SandboxProcess(db_path=tmp_path / "rated.db",
                        extra_args=["--rate-per-s", "0", "--latency-ms", "150"]) as sandbox:
        cfg = make_config(tmp_path, sandbox, store, max_in_flight=2)
        at_stop: list[int] = []
        check = safety.check_destructive

        def failing(*args: Any, **kwargs: Any) -> None:
            check(*args, **kwargs)
            at_stop.append(int(sandbox.stats()["total"]))
            raise RuntimeError("the cycle fails after staging")

        monkeypatch.setattr(safety, "check_destructive", failing)
        with open_runtime(cfg) as rt, pytest.raises(RuntimeError):
            rt.engine.cycle()
        assert at_stop, "the check ran"
        after = int(sandbox.stats()["total"])
        # at most the batches already formed (2 × max_in_flight) go after the failure
        assert after - at_stop[0] <= 4, (at_stop[0], after)
        assert at_stop[0] > 0, "the pump had sent creations before the failure"
        monkeypatch.undo()
        cycle(cfg)
        check_invariants(cfg, sandbox, store)
        check_no_duplicates(sandbox)


def test_an_item_held_for_its_parent_goes_once_the_parent_is_acknowledged(
        tmp_path: Path, sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """One item per batch: a team's parent team is always in another batch, so the pump
    holds the team until that batch is acknowledged, then sends it while the cycle is
    still staging. It used to leave every held item, and the items naming it, to the
    drain after the safety checks (8 of these 28 teams). Only a team whose parent is
    sent again (read before its parent, the parent went without its own parent and is
    completed by an update, which the pump never sends) still waits for the drain."""
    store = tmp_path / "haicang.db"
    build_sample_store(store, volunteers=300, seed=5)
    cfg = make_config(tmp_path, sandbox, store, batch_size=1, max_in_flight=4)
    early: set[str] = set()
    check = safety.check_destructive

    def spy(*args: Any, **kwargs: Any) -> None:
        early.update(r["national_id"] for r in sandbox.records("organization"))
        check(*args, **kwargs)

    monkeypatch.setattr(safety, "check_destructive", spy)
    with open_runtime(cfg) as rt:
        report = rt.engine.cycle()
    assert report.ok
    teams = {r["national_id"]: r for r in sandbox.records("organization")}
    under = [t for t in teams.values() if t.get("parent_national_id")]
    assert len(under) >= 5, "the sample has teams under teams under teams"
    late = [t for t in under if t["national_id"] not in early]
    assert all(teams[t["parent_national_id"]]["version"] > 1 for t in late), \
        [(t["external_refs"], teams[t["parent_national_id"]]["version"]) for t in late]
    check_invariants(cfg, sandbox, store)
