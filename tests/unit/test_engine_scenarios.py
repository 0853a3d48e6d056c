"""Engine scenarios a review found, replayed against a small fake platform that enforces
overlaps and revocations (the shapes — an unacknowledged batch, a crash before a push —
are set up directly; the end-to-end behaviour is in tests/system/)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.config import NationalConfig
from bridge.national import NationalClient
from bridge.push import Pusher
from bridge.stage import Stager
from mappings.result import Mapped, MapResult, Part
from state.store import StateStore

VOL, PRJ, SR = "src:volunteer:1", "src:project:1", "src:service_record:1"


@dataclass
class Platform:
    """Holds items by ref; refuses overlapping live records of one volunteer."""

    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    fail: int = 0
    log: list[tuple[str, list[str]]] = field(default_factory=list)
    ref_not_found: bool = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        path = request.url.path
        self.log.append((path, [i["external_ref"] for i in body["items"]]))
        if self.fail:
            self.fail -= 1
            return httpx.Response(503)
        results = [self._one(path, item) for item in body["items"]]
        return httpx.Response(200, json={"code": "OK", "message": "", "request_id": "r",
                                         "data": {"results": results}})

    def _one(self, path: str, item: dict[str, Any]) -> dict[str, Any]:
        ref = item["external_ref"]
        if path.endswith("/revoke"):
            status = ("not_found" if ref not in self.held else
                      "unchanged" if ref in self.revoked else "revoked")
            self.revoked.add(ref)
            return {"external_ref": ref, "status": status, "national_id": "S1", "errors": []}
        if "service-records" in path:
            error = self._refuse(ref, item)
            if error:
                return {"external_ref": ref, "status": "rejected", "national_id": None,
                        "errors": [{"field": "", "code": error}]}
        status = ("created" if ref not in self.held else
                  "unchanged" if self.held[ref] == item else "updated")
        self.held[ref] = item
        return {"external_ref": ref, "status": status, "national_id": "N" + ref[-6:],
                "errors": []}

    def _refuse(self, ref: str, item: dict[str, Any]) -> str | None:
        if self.ref_not_found:
            return "REF_NOT_FOUND"
        if ref in self.revoked:
            return "REVOKED"
        for other, held in self.held.items():
            if (other != ref and other not in self.revoked
                    and held.get("volunteer_external_ref") == item["volunteer_external_ref"]
                    and held["start_at"] < item["end_at"] and item["start_at"] < held["end_at"]):
                return "OVERLAPPING_RECORD"
        return None

    def live(self) -> list[str]:
        return sorted(r for r in self.held if r not in self.revoked and "service" in r)


@dataclass
class Bridge:
    store: StateStore
    platform: Platform
    push: Callable[[], object]
    stage: Callable[[MapResult], None]

    def status(self, entity: str = "service_record", local_id: str = "1") -> str:
        return str(self.store.conn.execute(
            "SELECT status FROM rows WHERE entity = ? AND local_id = ?",
            (entity, local_id)).fetchone()[0])


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    store = StateStore.open(tmp_path / "state.db")
    platform = Platform()
    cfg = NationalConfig(base_url="https://p.test/openapi/v1", app_id="a", app_secret="s",
                         rate_per_s=1000.0, max_attempts=1)
    client = NationalClient(cfg.base_url, "a", "s", transport=httpx.MockTransport(platform))
    stager = Stager(store)

    def push() -> object:
        return Pusher(store, stager, client, cfg, sleep=lambda s: None).drain()

    def stage(result: MapResult) -> None:
        with store.transaction():
            stager.stage("src", result, {"row": repr(result)})

    stage(Mapped("volunteer", "1", VOL, (Part("", {"name": "v"}),)))
    stage(Mapped("project", "1", PRJ, (Part("", {"name": "p"}),)))
    yield Bridge(store, platform, push, stage)
    store.close()


def record(*parts: tuple[str, str, str, float]) -> Mapped:
    return Mapped("service_record", "1", SR, tuple(
        Part(s, {"volunteer_external_ref": VOL, "project_external_ref": PRJ, "start_at": a,
                 "end_at": b, "hours": h}) for s, a, b, h in parts))


def test_a_row_reverted_while_its_new_version_is_unacknowledged_ends_reverted(
        bridge: Bridge) -> None:
    v1 = record(("", "2026-01-01T09:00", "2026-01-01T10:00", 1.0))
    bridge.stage(v1)
    bridge.push()
    bridge.stage(record(("", "2026-01-01T09:00", "2026-01-01T11:00", 2.0)))
    bridge.platform.fail = 1
    bridge.push()  # the v2 batch is persisted and undelivered
    bridge.stage(v1)
    bridge.push()
    bridge.push()
    assert bridge.platform.held[SR]["hours"] == 1.0
    assert bridge.status() == "synced"


def test_a_replacing_record_waits_for_the_revocation_of_what_it_replaces(
        bridge: Bridge) -> None:
    bridge.stage(record((".d1", "2026-01-01T22:00", "2026-01-02T00:00", 2.0),
                        (".d2", "2026-01-02T00:00", "2026-01-02T02:00", 2.0)))
    bridge.push()
    bridge.stage(record((".d1", "2026-01-01T22:30", "2026-01-02T00:00", 1.5),
                        (".d2", "2026-01-02T00:00", "2026-01-02T02:00", 2.0)))
    bridge.platform.fail = 1
    bridge.push()  # the update of the parts is persisted and undelivered
    bridge.stage(record(("", "2026-01-01T22:30", "2026-01-01T23:30", 1.0)))
    for _ in range(3):
        bridge.push()
    assert bridge.platform.live() == [SR]
    assert bridge.status() == "synced"


def test_dead_letters_of_parts_no_longer_produced_are_forgotten(bridge: Bridge) -> None:
    bridge.platform.held["other"] = {"volunteer_external_ref": VOL,
                                     "start_at": "2026-01-02T00:30", "end_at": "2026-01-02T01:00"}
    bridge.stage(record((".d1", "2026-01-01T22:00", "2026-01-02T00:00", 2.0),
                        (".d2", "2026-01-02T00:00", "2026-01-02T02:00", 2.0)))
    bridge.push()
    assert bridge.status() == "dead_lettered"
    bridge.stage(record(("", "2026-01-01T22:00", "2026-01-01T23:59", 1.9)))
    bridge.push()
    bridge.push()
    assert bridge.status() == "synced"


def test_teams_naming_each_other_as_parent_are_sent_after_a_crash(bridge: Bridge) -> None:
    def team(i: int, parent: int) -> Mapped:
        return Mapped("organization", str(i), f"src:organization:{i}", (Part("", {
            "name": str(i), "parent_external_ref": f"src:organization:{parent}"}),))

    for _ in range(2):  # staged, a crash before the push, then the look-back re-reads both
        bridge.stage(team(1, 2))
        bridge.stage(team(2, 1))
    bridge.push()
    assert bridge.status("organization", "1") == "synced"
    assert bridge.status("organization", "2") == "synced"
    assert bridge.store.outbox_depth() == (0, 0)


def test_ref_not_found_is_retried_three_cycles_even_when_the_row_is_re_read(
        bridge: Bridge) -> None:
    bridge.push()
    bridge.platform.ref_not_found = True
    one = record(("", "2026-01-01T09:00", "2026-01-01T10:00", 1.0))
    for _ in range(6):
        bridge.stage(one)  # still inside the look-back window: read again every cycle
        bridge.push()
    sends = [refs for path, refs in bridge.platform.log if path.endswith("service-records/batch")]
    assert len(sends) == 3
    assert bridge.status() == "dead_lettered"
