"""The safety stops at their boundaries (operator-interface.md `[safety]`): a cycle may
revoke or deactivate exactly max(max_revoke_min, ⌊max_revoke_share × live⌋) records, one
more stops it; a full read may see exactly min_read_share of the live records, one fewer
stops it. Tested on a real state file; limits used to be tested only far from the edge
(120 against 5), so `>` turned `>=` survived."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import safety
from bridge.config import SafetyConfig
from bridge.errors import SafetyStop
from state.store import StateStore

SRC = "haicang"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


def hold(store: StateStore, n: int, entity: str = "service_record", *,
         status: str = "synced", payload: dict[str, str] | None = None,
         source: str = SRC) -> list[str]:
    """n records the platform holds (ledger rows); their refs."""
    refs = [f"{source}:{entity}:{i}" for i in range(1, n + 1)]
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO ledger (ref, base_ref, source, entity, local_id, national_id, hash, "
            "payload, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'h', ?, ?, "
            "'2026-01-01T00:00:00Z')",
            [(r, r, source, entity, str(i), f"N{i}", json.dumps(payload or {}), status)
             for i, r in enumerate(refs, 1)])
    return refs


def revoke(store: StateStore, refs: list[str]) -> None:
    with store.transaction():
        for ref in refs:
            source, entity, local_id = ref.split(":")
            store.enqueue(ref, ref, (source, entity, local_id), "revoke",
                          {"external_ref": ref, "reason": "x"}, "d")


def limits(share: float = 0.0, least: int = 0, read: float = 0.5) -> SafetyConfig:
    return SafetyConfig(max_revoke_share=share, max_revoke_min=least, min_read_share=read)


def test_exactly_max_revoke_min_revocations_pass(store: StateStore) -> None:
    refs = hold(store, 100)
    revoke(store, refs[:7])
    safety.check_destructive(store, limits(share=0.0, least=7), [SRC])


def test_one_revocation_above_max_revoke_min_stops(store: StateStore) -> None:
    refs = hold(store, 100)
    revoke(store, refs[:8])
    with pytest.raises(SafetyStop, match=r"revoke or deactivate 8 of 100 .*limit is 7"):
        safety.check_destructive(store, limits(share=0.0, least=7), [SRC])


def test_exactly_the_share_of_live_records_passes(store: StateStore) -> None:
    refs = hold(store, 200)
    revoke(store, refs[:20])
    safety.check_destructive(store, limits(share=0.10, least=0), [SRC])


def test_one_above_the_share_of_live_records_stops(store: StateStore) -> None:
    refs = hold(store, 200)
    revoke(store, refs[:21])
    with pytest.raises(SafetyStop, match=r"21 of 200 .*limit is 20"):
        safety.check_destructive(store, limits(share=0.10, least=0), [SRC])


def test_the_larger_of_the_two_limits_applies(store: StateStore) -> None:
    refs = hold(store, 200)
    revoke(store, refs[:30])
    safety.check_destructive(store, limits(share=0.15, least=5), [SRC])   # 30 by share
    safety.check_destructive(store, limits(share=0.01, least=30), [SRC])  # 30 by minimum


def test_the_live_count_when_the_cycle_began_sets_the_limit(store: StateStore) -> None:
    refs = hold(store, 200)
    revoke(store, refs[:11])
    with pytest.raises(SafetyStop):
        safety.check_destructive(store, limits(share=0.10), [SRC], live_before=100)


def test_a_deactivation_counts_like_a_revocation(store: StateStore) -> None:
    refs = hold(store, 10, "volunteer", payload={"status": "active"})
    with store.transaction():
        for ref in refs[:2]:
            store.enqueue(ref, ref, (SRC, "volunteer", ref.split(":")[2]), "upsert",
                          {"external_ref": ref, "status": "inactive"}, "d2")
    assert safety.destructive_count(store, [SRC]) == 2
    safety.check_destructive(store, limits(least=2), [SRC])
    with pytest.raises(SafetyStop):
        safety.check_destructive(store, limits(least=1), [SRC])


def test_revocations_of_another_source_do_not_count(store: StateStore) -> None:
    hold(store, 10)
    other = hold(store, 10, source="tongan")
    revoke(store, other)
    assert safety.destructive_count(store, [SRC]) == 0
    safety.check_destructive(store, limits(least=0), [SRC])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(live=st.integers(1, 60), share=st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.5, 1.0]),
       least=st.integers(0, 10), count=st.integers(0, 60))
def test_the_stop_trips_exactly_above_the_larger_limit(
        tmp_path_factory: pytest.TempPathFactory, live: int, share: float, least: int,
        count: int) -> None:
    s = StateStore.open(tmp_path_factory.mktemp("p") / "state.db")
    try:
        refs = hold(s, live)
        revoke(s, refs[:count])
        n = min(count, live)
        allowed = max(least, int(share * live))
        if n > allowed:
            with pytest.raises(SafetyStop):
                safety.check_destructive(s, limits(share, least), [SRC])
        else:
            safety.check_destructive(s, limits(share, least), [SRC])
    finally:
        s.close()


# --- min_read_share -------------------------------------------------------------------

def test_a_full_read_of_exactly_min_read_share_passes(store: StateStore) -> None:
    hold(store, 40)
    safety.check_full_read(store, limits(read=0.5), SRC, seen=20)


def test_a_full_read_one_row_below_min_read_share_stops(store: StateStore) -> None:
    hold(store, 40)
    with pytest.raises(SafetyStop, match=r"saw 19 rows, fewer than 50% of the 40"):
        safety.check_full_read(store, limits(read=0.5), SRC, seen=19)


def test_a_full_read_counts_a_record_with_parts_once(store: StateStore) -> None:
    """Live records are counted by base ref: a record split in two parts is one row."""
    hold(store, 10)
    with store.transaction():
        store.conn.execute(
            "INSERT INTO ledger (ref, base_ref, source, entity, local_id, status, updated_at) "
            "VALUES ('haicang:service_record:1.d2', 'haicang:service_record:1', ?, "
            "'service_record', '1', 'synced', 'x')", (SRC,))
    safety.check_full_read(store, limits(read=1.0), SRC, seen=10)
    with pytest.raises(SafetyStop):
        safety.check_full_read(store, limits(read=1.0), SRC, seen=9)


def test_a_source_the_platform_holds_nothing_of_never_stops_a_full_read(
        store: StateStore) -> None:
    hold(store, 5, source="tongan")
    safety.check_full_read(store, limits(read=1.0), SRC, seen=0)


# --- what the operator reads ----------------------------------------------------------

def test_the_revocation_stop_says_what_it_counted_and_what_to_do(store: StateStore) -> None:
    refs = hold(store, 100)
    revoke(store, refs[:8])
    with pytest.raises(SafetyStop) as stop:
        safety.check_destructive(store, limits(share=0.05, least=7), [SRC])
    assert str(stop.value) == (
        "this cycle would revoke or deactivate 8 of 100 live records on the platform (the "
        "limit is 7: max_revoke_share 0.05, max_revoke_min 7); nothing was sent. Check the "
        "source, then run it once with --force to send them")


def test_the_short_read_stop_says_what_it_saw_and_what_to_do(store: StateStore) -> None:
    hold(store, 40)
    with pytest.raises(SafetyStop) as stop:
        safety.check_full_read(store, limits(read=0.5), SRC, seen=3)
    assert str(stop.value) == (
        "a full read of source haicang saw 3 rows, fewer than 50% of the 40 records it has "
        "on the platform; nothing was sent. Check the source, then run it once with --force")


# --- what counts as destructive (survivors of make mutate) ----------------------------

def deactivate(store: StateStore, refs: list[str], status: str = "inactive") -> None:
    with store.transaction():
        for ref in refs:
            store.enqueue(ref, ref, (SRC, "volunteer", ref.split(":")[2]), "upsert",
                          {"external_ref": ref, "status": status}, "d-" + status)


def test_revocations_of_several_sources_add_up(store: StateStore) -> None:
    revoke(store, hold(store, 3))
    revoke(store, hold(store, 2, source="tongan"))
    assert safety.destructive_count(store, [SRC, "tongan"]) == 5
    assert safety.live_count(store, [SRC, "tongan"]) == 5


def test_an_update_that_does_not_end_a_record_is_not_destructive(store: StateStore) -> None:
    refs = hold(store, 3, "volunteer", payload={"status": "active"})
    deactivate(store, refs, status="active")
    assert safety.destructive_count(store, [SRC]) == 0


def test_a_record_already_ended_on_the_platform_is_not_counted_again(
        store: StateStore) -> None:
    refs = hold(store, 3, "volunteer", payload={"status": "inactive"})
    deactivate(store, refs)
    assert safety.destructive_count(store, [SRC]) == 0


def test_an_ending_of_a_record_held_without_a_payload_counts(store: StateStore) -> None:
    refs = hold(store, 2, "volunteer")
    with store.transaction():
        store.conn.execute("UPDATE ledger SET payload = NULL")
    deactivate(store, refs)
    assert safety.destructive_count(store, [SRC]) == 2
