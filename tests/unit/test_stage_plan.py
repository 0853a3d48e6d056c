"""Stager.plan, the change detection of staging: what a staged row queues against the
ledger and its parents. Survivors of make mutate in plan had no unit test: a required
parent that is missing, a parent pending in the outbox, a record the platform revoked,
a forced resend, a queued item whose parent went away."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.refs import payload_hash
from bridge.stage import Stager
from mappings.result import Mapped, Part
from state.store import StateStore

SRC = "haicang"
ORG, ORG2, PRJ = f"{SRC}:organization:1", f"{SRC}:organization:2", f"{SRC}:project:1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


def stage(store: StateStore, entity: str, local_id: str, payload: dict[str, Any], *,
          force: bool = False) -> None:
    ref = f"{SRC}:{entity}:{local_id}"
    result = Mapped(entity, local_id, ref, (Part("", payload),))
    with store.transaction():
        Stager(store).stage(SRC, result, {"row": json.dumps(payload)}, force=force)


def hold(store: StateStore, ref: str, payload: dict[str, Any] | None = None,
         status: str = "synced") -> None:
    """The platform holds `ref` (a ledger row), with `payload` when given."""
    entity, local_id = ref.split(":")[1:]
    full = {**(payload or {}), "external_ref": ref}
    with store.transaction():
        store.conn.execute(
            "INSERT INTO ledger (ref, base_ref, source, entity, local_id, national_id, hash, "
            "payload, status, updated_at) VALUES (?, ?, ?, ?, ?, 'N1', ?, ?, ?, 'x') "
            "ON CONFLICT (ref) DO UPDATE SET status = excluded.status",
            (ref, ref, SRC, entity, local_id, payload_hash(full), json.dumps(full), status))


def queued(store: StateStore, ref: str) -> dict[str, Any] | None:
    row = store.conn.execute("SELECT payload, force FROM outbox WHERE ref = ?",
                             (ref,)).fetchone()
    return None if row is None else {**json.loads(row[0]), "_force": row[1]}


def test_a_project_whose_required_organization_is_missing_queues_nothing(
        store: StateStore) -> None:
    stage(store, "project", "1", {"name": "项目", "organization_external_ref": ORG})
    assert queued(store, PRJ) is None


def test_a_project_whose_organization_is_queued_keeps_the_reference(
        store: StateStore) -> None:
    stage(store, "organization", "1", {"name": "队伍"})
    stage(store, "project", "1", {"name": "项目", "organization_external_ref": ORG})
    assert (queued(store, PRJ) or {}).get("organization_external_ref") == ORG


def test_an_optional_parent_still_queued_stays_in_the_payload(store: StateStore) -> None:
    stage(store, "organization", "2", {"name": "上级"})
    stage(store, "organization", "1", {"name": "队伍", "parent_external_ref": ORG2})
    assert (queued(store, ORG) or {}).get("parent_external_ref") == ORG2


def test_a_record_the_platform_revoked_is_queued_again_with_the_same_payload(
        store: StateStore) -> None:
    hold(store, ORG, {"name": "队伍"}, status="revoked")
    stage(store, "organization", "1", {"name": "队伍"})
    assert queued(store, ORG) is not None


def test_a_forced_stage_of_an_unchanged_record_queues_it_marked_forced(
        store: StateStore) -> None:
    hold(store, ORG, {"name": "队伍"})
    stage(store, "organization", "1", {"name": "队伍"}, force=True)
    assert (queued(store, ORG) or {}).get("_force") == 1


def test_an_unchanged_record_is_not_queued(store: StateStore) -> None:
    hold(store, ORG, {"name": "队伍"})
    stage(store, "organization", "1", {"name": "队伍"})
    assert queued(store, ORG) is None


def test_a_queued_item_whose_required_parent_went_away_is_dropped(store: StateStore) -> None:
    hold(store, ORG, {"name": "队伍"})
    stage(store, "project", "1", {"name": "项目", "organization_external_ref": ORG})
    assert queued(store, PRJ) is not None
    hold(store, ORG, status="revoked")
    stage(store, "project", "1", {"name": "项目（改）", "organization_external_ref": ORG})
    assert queued(store, PRJ) is None


def test_a_plan_without_force_queues_nothing_for_a_row_the_platform_holds(
        store: StateStore) -> None:
    """Push re-plans a waiting child with `plan(key)`: not a forced resend."""
    hold(store, ORG, {"name": "队伍"})
    stage(store, "organization", "1", {"name": "队伍"})
    with store.transaction():
        Stager(store).plan((SRC, "organization", "1"))
    assert queued(store, ORG) is None


def test_a_plan_without_force_queues_a_changed_row_unforced(store: StateStore) -> None:
    hold(store, ORG, {"name": "队伍"})
    stage(store, "organization", "1", {"name": "队伍（改）"})
    with store.transaction():
        store.conn.execute("DELETE FROM outbox")
        Stager(store).plan((SRC, "organization", "1"))
    assert (queued(store, ORG) or {}).get("_force") == 0
