"""`POST /_sandbox/reset` (SandboxProcess.reset): a running sandbox emptied as if it were
new, so that the tests reuse one process instead of starting their own. After a reset no
record, idempotency key, nonce or count is left, and the faults and rate are those of the
command line again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.testing.harness import SandboxProcess
from tests.contract.conftest import Api, id_number, org, start_sandbox, volunteer

ENTITIES = ("organizations", "volunteers", "projects", "service-records")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A sandbox started with a fault seed of its own (the command line a reset returns to)."""
    sandbox = start_sandbox(tmp_path_factory.mktemp("reset"), "--fault-seed", "7")
    try:
        yield sandbox
    finally:
        sandbox.close()


@pytest.fixture
def rapi(seeded: SandboxProcess) -> Iterator[Api]:
    seeded.reset()
    client = Api(seeded)
    yield client
    if client.http is not None:
        client.http.close()


def test_after_a_reset_the_platform_holds_no_record(rapi: Api, uid: str) -> None:
    assert rapi.one("/organizations/batch", org(f"{uid}:o:1"))["status"] == "created"
    assert rapi.one("/volunteers/batch", volunteer(f"{uid}:v:1"))["status"] == "created"
    rapi.sandbox.reset()
    assert rapi.sandbox.counts() == {}
    assert all(rapi.sandbox.records(e) == [] for e in ENTITIES)


def test_after_a_reset_the_request_counts_are_zero(rapi: Api, uid: str) -> None:
    rapi.one("/organizations/batch", org(f"{uid}:o:1"))
    rapi.sandbox.reset()
    assert rapi.sandbox.stats() == {"total": 0, "by_route": {}, "by_status": {},
                                    "items": 0, "applied": 0}


def test_an_idempotency_key_used_before_a_reset_is_new_after_it(rapi: Api, uid: str) -> None:
    key = f"{uid}-key"
    assert rapi.post("/organizations/batch", {"items": [org(f"{uid}:o:1")]},
                     key=key).status_code == 200
    rapi.sandbox.reset()
    other = rapi.post("/organizations/batch", {"items": [org(f"{uid}:o:2")]}, key=key)
    assert other.status_code == 200, other.text  # not 422 IDEMPOTENCY_KEY_REUSED
    assert "Idempotent-Replayed" not in other.headers
    assert other.json()["data"]["results"][0]["status"] == "created"


def test_a_person_created_before_a_reset_is_created_again_after_it(rapi: Api,
                                                                   uid: str) -> None:
    number = id_number()
    first = rapi.one("/volunteers/batch", volunteer(f"{uid}:v:1", number))
    rapi.sandbox.reset()
    again = rapi.one("/volunteers/batch", volunteer(f"{uid}:v:2", number))
    assert (first["status"], again["status"]) == ("created", "created")
    assert again["national_id"] == first["national_id"], "the id counters start again"


def test_a_nonce_seen_before_a_reset_is_accepted_after_it(rapi: Api) -> None:
    headers = rapi.headers("GET", "/volunteers", nonce=uuid.uuid4().hex)
    url = rapi.sandbox.base_url + "/volunteers"
    assert httpx.get(url, headers=headers).status_code == 200
    assert httpx.get(url, headers=headers).json()["code"] == "AUTH_REPLAY"
    rapi.sandbox.reset()
    assert httpx.get(url, headers=headers).status_code == 200


def test_a_reset_turns_the_faults_off(rapi: Api, uid: str) -> None:
    rapi.sandbox.set_faults(pre_error_rate=1.0, post_error_rate=1.0, burst_429=5,
                            latency_ms=50, reads=True)
    rapi.sandbox.reset()
    settings = rapi.sandbox.set_faults()
    assert {k: settings[k] for k in ("pre_error_rate", "post_error_rate", "latency_ms",
                                     "burst_429", "burst_429_left", "reads")} == {
        "pre_error_rate": 0.0, "post_error_rate": 0.0, "latency_ms": 0.0, "burst_429": 0,
        "burst_429_left": 0, "reads": False}
    assert rapi.one("/organizations/batch", org(f"{uid}:o:1"))["status"] == "created"


def test_a_reset_restores_the_command_lines_seed_and_rate(rapi: Api) -> None:
    rapi.sandbox.set_faults(seed=99, rate_per_s=0.5, burst=1)
    rapi.sandbox.reset()
    settings = rapi.sandbox.set_faults()
    assert (settings["seed"], settings["rate_per_s"]) == (7, 0.0)


def test_a_reset_fills_the_rate_limiters_buckets(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, "--rate-per-s", "0.01", "--burst", "1") as sandbox:
        api = Api(sandbox)
        try:
            assert api.get("/volunteers").status_code == 200
            assert api.get("/volunteers").status_code == 429
            sandbox.reset()
            assert api.get("/volunteers").status_code == 200
        finally:
            api.client().close()


def test_a_reset_replays_the_seeded_faults_from_the_start(rapi: Api) -> None:
    def statuses() -> list[int]:
        rapi.sandbox.set_faults(pre_error_rate=0.5, reads=True)
        return [rapi.get("/volunteers").status_code for _ in range(12)]

    first = statuses()
    assert [rapi.get("/volunteers").status_code for _ in range(5)]  # the generator moves on
    rapi.sandbox.reset()
    assert statuses() == first
    assert 200 in first and set(first) - {200}, first


def test_the_reset_endpoint_needs_the_control_token(seeded: SandboxProcess) -> None:
    assert httpx.post(seeded.root_url + "/_sandbox/reset").status_code == 401
