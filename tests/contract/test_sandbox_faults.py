"""Fault injection: every mode, its effect on what is committed, and seeded replay."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.testing.harness import SandboxProcess
from tests.contract.conftest import Api, org, start_sandbox


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("faults"))
    try:
        yield sandbox
    finally:
        sandbox.close()


@pytest.fixture
def fapi(faulty: SandboxProcess) -> Iterator[Api]:
    client = Api(faulty)
    try:
        yield client
    finally:
        faulty.set_faults(reset=True)
        if client.http is not None:
            client.http.close()


def _held_refs(sandbox: SandboxProcess) -> set[str]:
    return {r for o in sandbox.records("organizations") for r in o["external_refs"]}


def _revoke_statuses(api: Api, n: int) -> list[int]:
    body = {"items": [{"external_ref": "nothing:service_record:1", "reason": "测试"}]}
    return [api.post("/service-records/revoke", body, key=uuid.uuid4().hex).status_code
            for _ in range(n)]


def test_a_pre_error_applies_nothing_and_is_not_stored(fapi: Api, uid: str) -> None:
    fapi.sandbox.set_faults(pre_error_rate=1.0, seed=1)
    body = {"items": [org(f"{uid}:o:1")]}
    failed = fapi.post("/organizations/batch", body, key=f"{uid}-k")
    assert failed.status_code in (500, 502, 503)
    assert f"{uid}:o:1" not in _held_refs(fapi.sandbox)
    fapi.sandbox.set_faults(reset=True)
    retried = fapi.post("/organizations/batch", body, key=f"{uid}-k")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
    assert retried.json()["data"]["results"][0]["status"] == "created"


def test_pre_error_bodies_are_sometimes_empty_or_not_json(fapi: Api) -> None:
    fapi.sandbox.set_faults(pre_error_rate=1.0, seed=5)
    kinds: set[str] = set()
    for _ in range(15):
        response = fapi.post("/service-records/revoke",
                             {"items": [{"external_ref": "x:y:1", "reason": "r"}]})
        text = response.text
        kinds.add("empty" if not text else "json" if text.startswith("{") else "html")
    assert kinds == {"empty", "json", "html"}


def test_a_502_after_commit_has_applied_and_replays_on_retry(fapi: Api, uid: str) -> None:
    fapi.sandbox.set_faults(post_error_rate=1.0)
    body = {"items": [org(f"{uid}:o:1")]}
    assert fapi.post("/organizations/batch", body, key=f"{uid}-k").status_code == 502
    assert f"{uid}:o:1" in _held_refs(fapi.sandbox)
    fapi.sandbox.set_faults(reset=True)
    retried = fapi.post("/organizations/batch", body, key=f"{uid}-k")
    assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json()["data"]["results"][0]["status"] == "created"


def test_a_dropped_connection_is_a_transport_error_after_commit(fapi: Api, uid: str) -> None:
    fapi.sandbox.set_faults(drop_rate=1.0)
    fapi.sandbox.reset_stats()
    body = {"items": [org(f"{uid}:o:1")]}
    with pytest.raises(httpx.TransportError):
        fapi.post("/organizations/batch", body, key=f"{uid}-k")
    assert f"{uid}:o:1" in _held_refs(fapi.sandbox)
    assert fapi.sandbox.stats()["by_status"] == {"dropped": 1}
    fapi.sandbox.set_faults(reset=True)
    retried = fapi.post("/organizations/batch", body, key=f"{uid}-k")
    assert retried.headers["Idempotent-Replayed"] == "true"


def test_a_slow_response_outlives_the_client_timeout_after_commit(fapi: Api, uid: str) -> None:
    fapi.sandbox.set_faults(slow_rate=1.0, slow_ms=800)
    with pytest.raises(httpx.ReadTimeout):
        fapi.post("/organizations/batch", {"items": [org(f"{uid}:o:1")]}, timeout=0.3)
    assert f"{uid}:o:1" in _held_refs(fapi.sandbox)


def test_a_429_burst_answers_the_next_n_requests(fapi: Api) -> None:
    fapi.sandbox.set_faults(burst_429=2)
    body = {"items": [{"external_ref": "x:y:1", "reason": "r"}]}
    responses = [fapi.post("/service-records/revoke", body) for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].json()["code"] == "RATE_LIMITED"
    assert int(responses[0].headers["Retry-After"]) >= 1


def test_the_same_seed_gives_the_same_faults(fapi: Api) -> None:
    fapi.sandbox.set_faults(seed=42, pre_error_rate=0.4, post_error_rate=0.3)
    first = _revoke_statuses(fapi, 16)
    fapi.sandbox.set_faults(seed=42)
    second = _revoke_statuses(fapi, 16)
    assert first == second
    assert len(set(first)) > 1


def test_another_seed_gives_other_faults(fapi: Api) -> None:
    fapi.sandbox.set_faults(seed=1, pre_error_rate=0.5)
    first = _revoke_statuses(fapi, 16)
    fapi.sandbox.set_faults(seed=2)
    assert _revoke_statuses(fapi, 16) != first


def test_latency_delays_each_batch(fapi: Api) -> None:
    fapi.sandbox.set_faults(latency_ms=300)
    started = time.monotonic()
    _revoke_statuses(fapi, 1)
    assert time.monotonic() - started >= 0.3


def test_reads_are_spared_unless_asked(fapi: Api) -> None:
    fapi.sandbox.set_faults(pre_error_rate=1.0)
    assert fapi.get("/organizations", [("page_size", "1")]).status_code == 200
    fapi.sandbox.set_faults(reads=True)
    assert fapi.get("/organizations", [("page_size", "1")]).status_code in (500, 502, 503)


def test_a_bad_fault_setting_is_refused(fapi: Api) -> None:
    with pytest.raises(ValueError, match="out of range"):
        fapi.sandbox.set_faults(drop_rate=2)
    with pytest.raises(ValueError, match="unknown"):
        fapi.sandbox.set_faults(explode=True)


def test_fault_options_on_the_command_line(tmp_path: Path, uid: str) -> None:
    sandbox = start_sandbox(tmp_path, "--pre-error-rate", "1", "--fault-seed", "3")
    try:
        status = Api(sandbox).post("/organizations/batch",
                                   {"items": [org(f"{uid}:o:1")]}).status_code
        assert status in (500, 502, 503)
        assert sandbox.set_faults()["seed"] == 3
    finally:
        sandbox.close()
