"""Failure shapes a server cannot produce on demand, through a scripted transport.

The end-to-end behaviour is tested against the real sandbox in tests/system/."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bridge.config import NationalConfig
from bridge.errors import ConfigError
from bridge.national import NationalClient
from bridge.push import Mode, Pusher
from bridge.refs import payload_hash
from bridge.stage import Stager
from state.store import StateStore

Handler = Callable[[httpx.Request], httpx.Response]


def ok_results(request: httpx.Request) -> httpx.Response:
    items = json.loads(request.content)["items"]
    results = [{"external_ref": i["external_ref"], "status": "created",
                "national_id": f"O{n:012d}", "errors": []} for n, i in enumerate(items)]
    return httpx.Response(200, json={"code": "OK", "message": "", "request_id": "r",
                                     "data": {"results": results}})


class Script:
    """Answers requests from a list of handlers, then with `ok_results`."""

    def __init__(self, *steps: Handler) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if self.steps else ok_results
        return step(request)


def status(code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(code, content=body, headers=headers or {})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


def enqueue_orgs(store: StateStore, n: int) -> None:
    with store.transaction():
        for i in range(n):
            ref = f"haicang:organization:{i}"
            payload = {"external_ref": ref, "name": f"队伍{i}"}
            store.put_row(("haicang", "organization", str(i)), base_ref=ref, state="mapped",
                          generation=1, parts=[("", {"name": f"队伍{i}"})])
            store.enqueue(ref, ref, ("haicang", "organization", str(i)), "upsert", payload,
                          payload_hash(payload))


def pusher(store: StateStore, script: Script, sleeps: list[float],
           **cfg: object) -> Pusher:
    national = NationalConfig(base_url="https://platform.test/openapi/v1", app_id="app",
                              app_secret="secret-value", rate_per_s=1000.0,
                              **cfg)  # type: ignore[arg-type]
    client = NationalClient(national.base_url, "app", "secret-value",
                            transport=httpx.MockTransport(script))
    return Pusher(store, Stager(store), client, national, sleep=sleeps.append,
                  rng=lambda: 1.0)


def test_401_stops_the_cycle_without_retrying(store: StateStore) -> None:
    enqueue_orgs(store, 3)
    script = Script(status(401, json.dumps({"code": "AUTH_SIGNATURE"}).encode()))
    with pytest.raises(ConfigError, match="AUTH_SIGNATURE") as err:
        pusher(store, script, []).drain()
    assert len(script.requests) == 1
    assert "secret-value" not in str(err.value)
    assert store.outbox_depth() == (3, 1)  # the batch stays, persisted, for the next cycle


def test_retry_schedule_is_exponential_with_full_jitter(store: StateStore) -> None:
    enqueue_orgs(store, 1)
    sleeps: list[float] = []
    script = Script(status(503), status(502, b"<html>bad gateway</html>"), status(500))
    report = pusher(store, script, sleeps).drain()
    assert sleeps == [0.5, 1.0, 2.0]  # rng() = 1.0: the ceiling of each full-jitter draw
    assert report.retries == 3 and report.undelivered == 0
    keys = {r.headers["Idempotency-Key"] for r in script.requests}
    bodies = {r.content for r in script.requests}
    assert len(keys) == 1 and len(bodies) == 1  # same bytes, same key, every attempt


def test_retry_after_is_honoured(store: StateStore) -> None:
    enqueue_orgs(store, 1)
    sleeps: list[float] = []
    script = Script(status(429, b'{"code":"RATE_LIMITED"}', {"Retry-After": "7"}))
    pusher(store, script, sleeps).drain()
    assert sleeps == [7.0]


def test_exhausted_attempts_leave_the_batch_for_the_next_cycle(store: StateStore) -> None:
    enqueue_orgs(store, 2)
    script = Script(*[status(503)] * 3)
    report = pusher(store, script, [], max_attempts=3).drain()
    assert report.undelivered == 1
    assert store.outbox_depth() == (2, 1)
    first_key = script.requests[0].headers["Idempotency-Key"]
    again = Script()
    pusher(store, again, []).drain()
    assert [r.headers["Idempotency-Key"] for r in again.requests] == [first_key]
    assert again.requests[0].content == script.requests[0].content
    assert store.outbox_depth() == (0, 0)


def test_timeouts_and_dropped_connections_are_retried(store: StateStore) -> None:
    enqueue_orgs(store, 1)

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def dropped(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed", request=request)

    script = Script(timeout, dropped)
    report = pusher(store, script, []).drain()
    assert report.retries == 2 and store.outbox_depth() == (0, 0)


def test_413_splits_the_batch_instead_of_looping(store: StateStore) -> None:
    enqueue_orgs(store, 10)
    script = Script(status(413, b'{"code":"PAYLOAD_TOO_LARGE"}'))
    pusher(store, script, []).drain()
    sizes = [len(json.loads(r.content)["items"]) for r in script.requests]
    assert sizes[0] == 10 and max(sizes[1:]) == 5 and sum(sizes[1:]) == 10
    assert store.outbox_depth() == (0, 0)


def test_400_on_a_lone_item_dead_letters_it(store: StateStore) -> None:
    enqueue_orgs(store, 1)
    script = Script(status(400, b'{"code":"INVALID_REQUEST"}'))
    pusher(store, script, []).drain()
    assert store.dead_hash("haicang:organization:0") is not None
    assert store.outbox_depth() == (0, 0)
    assert len(script.requests) == 1


def test_an_item_without_a_result_waits_for_the_next_cycle(store: StateStore) -> None:
    enqueue_orgs(store, 2)

    def one_result_missing(request: httpx.Request) -> httpx.Response:
        response = ok_results(request)
        body = json.loads(response.content)
        body["data"]["results"] = body["data"]["results"][:1]
        return httpx.Response(200, json=body)

    script = Script(one_result_missing)
    pusher(store, script, []).drain()
    assert len(script.requests) == 1
    assert store.outbox_depth() == (1, 0)


def test_an_item_never_names_a_parent_that_went_into_another_batch(store: StateStore) -> None:
    """Batches go concurrently: a team whose parent closed the previous batch must go
    without the parent (and wait for it), never with a ref the platform may not hold yet."""
    with store.transaction():
        for i in range(4):
            ref = f"haicang:organization:{i}"
            payload: dict[str, object] = {"external_ref": ref, "name": f"队伍{i}"}
            if i == 2:
                payload["parent_external_ref"] = "haicang:organization:1"
            key = ("haicang", "organization", str(i))
            store.put_row(key, base_ref=ref, state="mapped", generation=1,
                          parts=[("", {k: v for k, v in payload.items()
                                       if k != "external_ref"})])
            store.enqueue(ref, ref, key, "upsert", payload, payload_hash(payload))
    script = Script()
    pusher(store, script, [], batch_size=2).drain()
    first_round = [json.loads(r.content)["items"] for r in script.requests[:2]]
    child = next(i for batch in first_round for i in batch
                 if i["external_ref"] == "haicang:organization:2")
    assert "parent_external_ref" not in child
    later = [i for r in script.requests[2:] for i in json.loads(r.content)["items"]]
    assert [i.get("parent_external_ref") for i in later
            if i["external_ref"] == "haicang:organization:2"] == ["haicang:organization:1"]


def test_a_pump_step_keeps_the_items_it_had_no_room_for(store: StateStore) -> None:
    """Items put back to be looked at again (held for a parent now acknowledged) that do
    not fit in this step's batches stay put back for the next one, not forgotten."""
    enqueue_orgs(store, 5)
    script = Script()
    p = pusher(store, script, [], batch_size=1, max_in_flight=1)
    phase = ("organization", "upsert")
    ids = [i.id for i in store.unsent(*phase, 10)]
    p.staged_in_full(["organization"])
    p.mode, p._sources = Mode.PUMP, ["haicang"]
    p._early_after[phase] = max(ids)  # read once already, all held back then released
    p._relook[phase] = set(ids)
    first = p._form(*phase, 2)
    assert [b.items for b in first] == [1, 1]
    assert p._relook[phase] == set(ids[2:])
    second = p._form(*phase, 5)
    assert len(second) == 3 and not p._relook.get(phase)
    assert store.unsent(*phase, 10) == []


def test_a_batch_under_way_is_not_sent_again_by_another_pusher(store: StateStore) -> None:
    """A backfill's pump leaves requests under way between its steps; another pusher of
    the process (an admin's resync of that source) finds their batches open in the
    state file and must not send them a second time."""
    enqueue_orgs(store, 3)
    gate = threading.Event()

    def held(request: httpx.Request) -> httpx.Response:
        gate.wait(10)
        return ok_results(request)

    pump = pusher(store, Script(held), [])
    pump.staged_in_full(["organization"])
    with ThreadPoolExecutor(1) as pool:
        pump.step(pool, None, ["haicang"])
        other = Script()
        report = pusher(store, other, []).drain()
        assert other.requests == [] and report.requests == 0
        gate.set()
        pump.settle()
    assert store.outbox_depth() == (0, 0)
