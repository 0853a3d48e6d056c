"""Every batch is persisted with its idempotency key before it is sent, and the audit
log's `batch` entry names that key, the path, the SHA-256 of the exact body and the item
count: what an auditor matches against the platform's records. A survivor of make
mutate (the entry's names were unasserted)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.config import NationalConfig
from bridge.national import NationalClient
from bridge.push import Pusher
from bridge.stage import Stager
from state import audit
from state.store import StateStore
from tests.unit.test_phase_order import Platform, queue


class Wire(Platform):
    """The platform of test_phase_order, also keeping each request's key and body."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.headers["Idempotency-Key"], request.content))
        return super().__call__(request)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


def drain(store: StateStore, batch_size: int) -> Wire:
    wire = Wire()
    cfg = NationalConfig(base_url="https://platform.test/openapi/v1", app_id="app",
                         app_secret="secret-value", rate_per_s=1000.0, max_attempts=1,
                         batch_size=batch_size)
    client = NationalClient(cfg.base_url, "app", "secret-value",
                            transport=httpx.MockTransport(wire))
    Pusher(store, Stager(store), client, cfg, sleep=lambda s: None).drain()
    return wire


def test_each_batch_sent_is_audited_under_its_key_with_its_body_digest(
        store: StateStore) -> None:
    for n in range(5):
        queue(store, "organization", str(n), "upsert", {"name": f"队伍{n}"})
    wire = drain(store, batch_size=2)
    entries = [json.loads(r.data) for r in audit.records(store.conn, "kind = 'batch'")]
    sent = {key: hashlib.sha256(body).hexdigest() for key, body in wire.sent}
    assert {e["key"]: e["body_sha256"] for e in entries} == sent
    assert [e["items"] for e in entries] == [2, 2, 1]
    assert {e["path"] for e in entries} == {"/organizations/batch"}


def test_every_batch_has_a_key_of_its_own(store: StateStore) -> None:
    for n in range(5):
        queue(store, "organization", str(n), "upsert", {"name": f"队伍{n}"})
    wire = drain(store, batch_size=2)
    keys = [key for key, _ in wire.sent]
    assert len(set(keys)) == len(keys) == 3
    assert all(k.startswith("zyb-") for k in keys)


def test_each_attempt_is_audited_with_the_digest_of_the_body_sent(store: StateStore) -> None:
    queue(store, "organization", "1", "upsert", {"name": "队伍"})
    wire = drain(store, batch_size=2)
    [(key, body)] = wire.sent
    [attempt] = [json.loads(r.data) for r in audit.records(store.conn, "kind = 'request'")]
    assert (attempt["key"], attempt["body_sha256"]) == (key, hashlib.sha256(body).hexdigest())


def test_a_batch_answered_at_the_first_attempt_is_closed_with_one_attempt(
        store: StateStore) -> None:
    queue(store, "organization", "1", "upsert", {"name": "队伍"})
    drain(store, batch_size=2)
    assert store.conn.execute("SELECT state, attempts FROM batches").fetchall() == [("done", 1)]
