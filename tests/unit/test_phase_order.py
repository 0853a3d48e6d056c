"""The order of a drain (DESIGN.md "Order"): organizations → volunteers → projects →
revocations → service records, whatever order the outbox was filled in. Parents go
before what names them, and a replaced service record is revoked before its successor
is sent (the platform refuses two overlapping live records of one volunteer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.config import NationalConfig
from bridge.national import NationalClient
from bridge.push import Pusher
from bridge.refs import payload_hash
from bridge.stage import Stager
from state.store import StateStore

SRC = "haicang"
EXPECTED = ["/organizations/batch", "/volunteers/batch", "/projects/batch",
            "/service-records/revoke", "/service-records/batch"]


class Platform:
    """Answers every item as applied; records the path of each request."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/openapi/v1")
        self.paths.append(path)
        status = "revoked" if path.endswith("/revoke") else "created"
        results = [{"external_ref": i["external_ref"], "status": status,
                    "national_id": f"N{n}", "errors": []}
                   for n, i in enumerate(json.loads(request.content)["items"])]
        return httpx.Response(200, json={"code": "OK", "message": "", "request_id": "r",
                                         "data": {"results": results}})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


def queue(store: StateStore, entity: str, local_id: str, op: str,
          payload: dict[str, Any]) -> None:
    ref = f"{SRC}:{entity}:{local_id}"
    full = {**payload, "external_ref": ref}
    with store.transaction():
        store.put_row((SRC, entity, local_id), base_ref=ref, state="mapped", generation=1,
                      parts=[("", payload)])
        store.enqueue(ref, ref, (SRC, entity, local_id), op, full, payload_hash(full))


def held(store: StateStore, entity: str, local_id: str) -> None:
    ref = f"{SRC}:{entity}:{local_id}"
    with store.transaction():
        store.conn.execute(
            "INSERT INTO ledger (ref, base_ref, source, entity, local_id, national_id, hash, "
            "payload, status, updated_at) VALUES (?, ?, ?, ?, ?, 'S0', 'h', '{}', 'synced', "
            "'2026-01-01T00:00:00Z')", (ref, ref, SRC, entity, local_id))


def drain(store: StateStore) -> list[str]:
    platform = Platform()
    cfg = NationalConfig(base_url="https://platform.test/openapi/v1", app_id="app",
                         app_secret="secret-value", rate_per_s=1000.0, max_attempts=1)
    client = NationalClient(cfg.base_url, "app", "secret-value",
                            transport=httpx.MockTransport(platform))
    Pusher(store, Stager(store), client, cfg, sleep=lambda s: None).drain()
    return platform.paths


def fill_backwards(store: StateStore) -> None:
    """One item of every phase, queued in the reverse of the order they must go in."""
    queue(store, "service_record", "2", "upsert", {"hours": 1.0})
    held(store, "service_record", "1")
    queue(store, "service_record", "1", "revoke", {"reason": "记录已在本地系统删除"})
    queue(store, "project", "1", "upsert", {"name": "项目"})
    queue(store, "volunteer", "1", "upsert", {"name": "张三"})
    queue(store, "organization", "1", "upsert", {"name": "队伍"})


def test_a_drain_sends_the_phases_in_the_design_order(store: StateStore) -> None:
    fill_backwards(store)
    assert drain(store) == EXPECTED


def test_a_drain_leaves_the_outbox_empty(store: StateStore) -> None:
    fill_backwards(store)
    drain(store)
    assert store.outbox_depth()[0] == 0
