"""The sync/crash state machine (issue #7, part 1; DESIGN.md invariants 1-4).

Steps: change source rows (insert, update, soft-delete, revive, move a record to another
volunteer), run a cycle, run a cycle with sandbox faults, SIGKILL the bridge at a random
instant and restart it, restart the sandbox. After every step the invariants are checked
against the sandbox's own records (tests/system/oracle.py).

CI runs a fixed seed (its time is printed, not asserted: a wall-time budget measured the
machine's load, not the bridge; issue 21). `ZYB_SOAK=1` (`make soak`) runs a longer,
random profile; `ZYB_SOAK_EXAMPLES` and `ZYB_SOAK_STEPS` size it. The tally is printed
(run with -s) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import (
    build_sample_store,
    id_check,
    local_stamp,
    revive,
    soft_delete,
    update_rows,
)
from tests.system.helpers import check_invariants, cycle, make_config
from tests.system.machine import SOAK, sigkill_a_cycle
from tests.system.oracle import check_converged, check_no_duplicates, state_intact

EXAMPLES = int(os.environ.get("ZYB_SOAK_EXAMPLES", "30" if SOAK else "9"))
STEPS = int(os.environ.get("ZYB_SOAK_STEPS", "60" if SOAK else "32"))
TALLY: Counter[str] = Counter()
CHANGES = ("insert_record", "insert_volunteer", "insert_same_person", "update_record",
           "update_volunteer", "soft_delete", "revive", "move_record", "unapprove")
SOFT_ENTITIES = ("service_record", "service_record", "volunteer", "project")


class Source:
    """The 志愿云 store, changed the way its users would."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ids(self, table: str, key: str) -> list[int]:
        conn = sqlite3.connect(self.path)
        try:
            return [i for (i,) in conn.execute(f"SELECT {key} FROM {table} ORDER BY {key}")]
        finally:
            conn.close()

    def copy_row(self, table: str, key: str, of: int, changes: dict[str, object]) -> None:
        conn = sqlite3.connect(self.path)
        try:
            with conn:
                row = dict(zip([d[1] for d in conn.execute(f"PRAGMA table_info({table})")],
                               conn.execute(f"SELECT * FROM {table} WHERE {key} = ?",
                                            (of,)).fetchone(), strict=True))
                new = int(conn.execute(f"SELECT MAX({key}) FROM {table}").fetchone()[0]) + 1
                row.update({key: new, "gmt_modified": local_stamp(), **changes})
                conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES "
                             f"({', '.join('?' * len(row))})", list(row.values()))
        finally:
            conn.close()

    def change(self, kind: str, rng: random.Random) -> None:
        recs = self.ids("zyy_service_time", "rec_id")
        vols = self.ids("zyy_volunteer", "vol_id")
        if kind == "insert_record":
            days = rng.randint(30, 300)
            self.copy_row("zyy_service_time", "rec_id", rng.choice(recs), {
                "begin_time": f"2025-{1 + days % 12:02d}-{1 + days % 27:02d} 08:{days % 60:02d}:00",
                "end_time": f"2025-{1 + days % 12:02d}-{1 + days % 27:02d} 10:{days % 60:02d}:00",
                "service_minutes": 120, "audit_state": 1, "is_del": 0})
        elif kind in ("insert_volunteer", "insert_same_person"):
            self.copy_row("zyy_volunteer", "vol_id", rng.choice(vols),
                          {} if kind == "insert_same_person" else {"cert_no": self.new_id(rng)})
        elif kind == "update_record":
            update_rows(self.path, "service_record", rng.sample(recs, 3),
                        {"content": f"社区服务第{rng.randint(1, 999)}次"})
        elif kind == "update_volunteer":
            update_rows(self.path, "volunteer", rng.sample(vols, 2),
                        {"email": f"v{rng.randint(1, 999)}@example.org"})
        elif kind in ("soft_delete", "revive"):
            entity = rng.choice(SOFT_ENTITIES)
            ids = {"service_record": recs, "volunteer": vols,
                   "project": self.ids("zyy_activity", "act_id")}[entity]
            (soft_delete if kind == "soft_delete" else revive)(self.path, entity,
                                                               rng.sample(ids, 2))
        elif kind == "move_record":
            update_rows(self.path, "service_record", [rng.choice(recs)],
                        {"vol_id": rng.choice(vols)})
        else:
            update_rows(self.path, "service_record", rng.sample(recs, 2),
                        {"audit_state": rng.choice((0, 2))})

    @staticmethod
    def new_id(rng: random.Random) -> str:
        body = f"350205{rng.randint(1960, 2004)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}" \
               f"{rng.randint(100, 999)}"
        return body + id_check(body)


class BridgeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="zyb-sm-"))
        self.store = self.dir / "haicang.db"
        build_sample_store(self.store, volunteers=8, seed=7 + TALLY["runs"])
        self.source = Source(self.store)
        self.sandbox = SandboxProcess(self.dir / "sandbox.db", extra_args=[
            "--rate-per-s", "0", "--latency-ms", "25"]).start()
        self.cfg = make_config(self.dir, self.sandbox, self.store, timeout_s=0.5,
                               max_attempts=3, batch_size=20)
        self.converged = False
        TALLY["runs"] += 1

    def teardown(self) -> None:
        self.sandbox.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def step(self, name: str) -> None:
        TALLY["steps"] += 1
        TALLY[name] += 1

    @rule(kind=st.sampled_from(CHANGES), seed=st.integers(0, 2**32 - 1))
    def change_rows(self, kind: str, seed: int) -> None:
        self.source.change(kind, random.Random(seed))
        self.converged = False
        self.step("changes")

    @rule(crash_first=st.booleans(), delay_ms=st.integers(0, 120))
    def run_cycle(self, crash_first: bool, delay_ms: int) -> None:
        """A cycle; with `crash_first`, a bridge is SIGKILLed inside the cycle before it."""
        if crash_first:
            self.crash(random.Random(delay_ms), delay_ms / 1000)
        report = cycle(self.cfg)
        assert report.ok, report.as_dict()
        self.converged = True
        self.step("cycles")

    @rule(seed=st.integers(0, 2**16))
    def cycle_with_faults(self, seed: int) -> None:
        self.sandbox.set_faults(seed=seed, pre_error_rate=0.2, post_error_rate=0.15,
                                drop_rate=0.1, burst_429=2, slow_rate=0.05, slow_ms=800)
        try:
            cycle(self.cfg)
        finally:
            self.sandbox.set_faults(reset=True)
        check_invariants(self.cfg, self.sandbox, self.store)
        self.converged = False
        self.step("fault_cycles")

    @rule(kind=st.sampled_from(CHANGES), seed=st.integers(0, 2**32 - 1),
          delay_ms=st.integers(0, 120))
    def kill_and_restart(self, kind: str, seed: int, delay_ms: int) -> None:
        self.source.change(kind, random.Random(seed))
        self.crash(random.Random(seed), delay_ms / 1000)
        for _ in range(3):
            if cycle(self.cfg).ok:
                break
        self.converged = True
        self.step("kill_steps")

    @rule()
    def restart_sandbox(self) -> None:
        self.sandbox.restart()
        self.step("sandbox_restarts")

    def crash(self, rng: random.Random, delay_s: float) -> None:
        """SIGKILL a bridge inside a cycle: when the cycle was done before the kill, change
        rows and try again sooner (at most 3 tries)."""
        for _ in range(3):
            if sigkill_a_cycle(self.cfg, delay_s):
                TALLY["kills"] += 1
                break
            self.source.change(rng.choice(CHANGES), rng)
            delay_s /= 2
        state_intact(self.cfg)

    @invariant()
    def invariants_hold(self) -> None:
        if self.converged:
            check_converged(self.cfg, self.sandbox, self.store)
            TALLY["full_checks"] += 1
        else:
            check_no_duplicates(self.sandbox)
            state_intact(self.cfg)
        TALLY["checks"] += 1


# a hang guard, not a budget: the run takes 1-3 minutes, more on a loaded machine
@pytest.mark.timeout(900)
def test_sync_crash_state_machine_keeps_every_invariant() -> None:
    TALLY.clear()
    started = time.monotonic()
    run_state_machine_as_test(BridgeMachine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
        derandomize=not SOAK, database=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck)))
    seconds = time.monotonic() - started
    print(f"\nstate machine: {dict(TALLY)} in {seconds:.0f} s")
    assert TALLY["steps"] >= (200 if not SOAK else EXAMPLES * STEPS // 2), dict(TALLY)
    assert TALLY["kills"] >= 30, f"only {TALLY['kills']} kills landed inside a cycle"
