"""The ledger's content-hash skip: a row staged again with the payload the platform
already holds (a re-stamped row of the look-back window) queues nothing; a changed
payload queues its update. Without the skip every re-read row was sent again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.stage import Stager
from mappings.result import Mapped, Part
from state.store import StateStore
from tests.unit.test_phase_order import drain

REF = "haicang:organization:1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


def stage(store: StateStore, name: str, stamp: str) -> None:
    result = Mapped("organization", "1", REF, (Part("", {"name": name}),))
    with store.transaction():
        Stager(store).stage("haicang", result, {"team_name": name, "gmt_modified": stamp})


def unsent(store: StateStore) -> int:
    return int(store.conn.execute("SELECT COUNT(*) FROM outbox WHERE batch_id IS NULL")
               .fetchone()[0])


def test_a_re_stamped_row_with_the_held_payload_queues_nothing(store: StateStore) -> None:
    stage(store, "海沧志愿者协会", "2026-01-01 09:00:00")
    assert drain(store) == ["/organizations/batch"]
    stage(store, "海沧志愿者协会", "2026-01-02 09:00:00")
    assert unsent(store) == 0
    assert drain(store) == []


def test_a_changed_payload_queues_its_update(store: StateStore) -> None:
    stage(store, "海沧志愿者协会", "2026-01-01 09:00:00")
    drain(store)
    stage(store, "海沧区志愿者协会", "2026-01-02 09:00:00")
    assert unsent(store) == 1
    assert drain(store) == ["/organizations/batch"]


def test_a_row_staged_back_to_the_held_payload_drops_the_queued_update(
        store: StateStore) -> None:
    stage(store, "海沧志愿者协会", "2026-01-01 09:00:00")
    drain(store)
    stage(store, "海沧区志愿者协会", "2026-01-02 09:00:00")
    stage(store, "海沧志愿者协会", "2026-01-03 09:00:00")
    assert unsent(store) == 0
