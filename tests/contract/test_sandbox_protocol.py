"""The envelope, paths, idempotency, sizes, rate and the order of checks (§1, §3, §4, §9)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.testing.harness import SandboxProcess
from tests.contract.conftest import Api, org, start_sandbox, volunteer


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


@pytest.fixture
def limited(api: Api) -> Iterator[Api]:
    """The session sandbox with a small token bucket for one test."""
    api.sandbox.set_faults(rate_per_s=1, burst=2)
    try:
        yield api
    finally:
        api.sandbox.set_faults(rate_per_s=0, burst=40)


def test_every_response_is_an_envelope(api: Api, uid: str) -> None:
    doc = api.post("/organizations/batch", {"items": [org(f"{uid}:o:1")]}).json()
    assert set(doc) == {"code", "message", "request_id", "data"}
    assert doc["code"] == "OK" and doc["request_id"]


def test_an_unknown_path_is_not_found(api: Api) -> None:
    assert _code(api.get("/nothing-here")) == (404, "NOT_FOUND")


def test_an_unknown_path_outside_the_base_is_not_found(sandbox: SandboxProcess) -> None:
    assert _code(httpx.get(sandbox.root_url + "/elsewhere")) == (404, "NOT_FOUND")


def test_a_wrong_method_is_not_allowed(api: Api) -> None:
    response = api.client().delete(api.sandbox.base_url + "/volunteers/batch")
    assert _code(response) == (405, "METHOD_NOT_ALLOWED")


def test_a_post_to_a_read_path_is_not_allowed(api: Api) -> None:
    response = api.client().post(api.sandbox.base_url + "/volunteers/V1234", content=b"{}")
    assert _code(response) == (405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("key", ["", "has space", "x" * 65, "bad/slash", "star*"])
def test_a_malformed_idempotency_key_is_refused(api: Api, uid: str, key: str) -> None:
    response = api.post("/organizations/batch", {"items": [org(f"{uid}:o:1")]},
                        headers={"Idempotency-Key": key})
    assert _code(response) == (400, "IDEMPOTENCY_KEY_INVALID")


def test_a_missing_idempotency_key_is_refused(api: Api, uid: str) -> None:
    body = json.dumps({"items": [org(f"{uid}:o:1")]}).encode()
    headers = api.headers("POST", "/organizations/batch", body=body)
    response = api.client().post(api.sandbox.base_url + "/organizations/batch",
                                 content=body, headers=headers)
    assert _code(response) == (400, "IDEMPOTENCY_KEY_INVALID")


def test_a_body_over_1_mib_is_too_large(api: Api, uid: str) -> None:
    item = org(f"{uid}:o:1", address="x" * 50)
    raw = json.dumps({"items": [item], "pad": " " * (1024 * 1024)}).encode()
    assert _code(api.post("/organizations/batch", raw=raw)) == (413, "PAYLOAD_TOO_LARGE")


def test_more_than_100_items_is_too_large(api: Api, uid: str) -> None:
    items = [org(f"{uid}:o:{i}") for i in range(101)]
    assert _code(api.post("/organizations/batch", {"items": items})) == (413,
                                                                         "PAYLOAD_TOO_LARGE")


def test_exactly_100_items_are_taken(api: Api, uid: str) -> None:
    results = api.batch("/organizations/batch", *[org(f"{uid}:o:{i}") for i in range(100)])
    assert [r["status"] for r in results] == ["created"] * 100


@pytest.mark.parametrize("raw", [
    b"{not json", b"[]", b'{"items": []}', b'{"items": {}}', b"{}", b'{"items": [1]}',
    b'{"items": [{"external_ref": "a"}], "extra": 1}', "\ufeff{}".encode(),
    b'{"items": [{"external_ref": NaN}]}', b'{"items": [{"name": "a", "name": "b"}]}',
    b"\xff\xfe",
])
def test_a_malformed_body_is_an_invalid_request(api: Api, raw: bytes) -> None:
    assert _code(api.post("/organizations/batch", raw=raw)) == (400, "INVALID_REQUEST")


def test_a_field_not_in_the_table_fails_the_whole_batch(api: Api, uid: str) -> None:
    good, bad = org(f"{uid}:o:1"), org(f"{uid}:o:2", colour="red")
    response = api.post("/organizations/batch", {"items": [good, bad]})
    assert _code(response) == (400, "INVALID_REQUEST")
    assert api.get("/organizations", [("external_ref", f"{uid}:o:1")]).status_code == 404


def test_a_status_on_a_service_record_is_a_field_not_in_its_table(api: Api, uid: str) -> None:
    item = {"external_ref": f"{uid}:r:1", "status": "active"}
    assert _code(api.post("/service-records/batch", {"items": [item]})) == (400,
                                                                             "INVALID_REQUEST")


def test_one_external_ref_twice_in_a_batch_is_an_invalid_request(api: Api, uid: str) -> None:
    items = [org(f"{uid}:o:1"), org(f"{uid}:o:1", name="另一个")]
    assert _code(api.post("/organizations/batch", {"items": items})) == (400,
                                                                         "INVALID_REQUEST")


def test_a_replay_returns_the_same_bytes_and_applies_nothing(api: Api, uid: str) -> None:
    body = {"items": [org(f"{uid}:o:1")]}
    first = api.post("/organizations/batch", body, key=f"{uid}-k")
    second = api.post("/organizations/batch", body, key=f"{uid}-k")
    assert second.content == first.content
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    held = api.get("/organizations", [("external_ref", f"{uid}:o:1")]).json()["data"]
    assert held["version"] == 1


def test_a_key_reused_with_another_body_is_refused(api: Api, uid: str) -> None:
    api.post("/organizations/batch", {"items": [org(f"{uid}:o:1")]}, key=f"{uid}-k")
    other = api.post("/organizations/batch", {"items": [org(f"{uid}:o:2")]}, key=f"{uid}-k")
    assert _code(other) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert api.get("/organizations", [("external_ref", f"{uid}:o:2")]).status_code == 404


def test_keys_belong_to_their_app(api: Api, uid: str) -> None:
    api.post("/organizations/batch", {"items": [org(f"{uid}:o:1")]}, key=f"{uid}-k")
    other = api.as_app("app-b").post("/organizations/batch", {"items": [org(f"{uid}:o:2")]},
                                     key=f"{uid}-k")
    assert other.status_code == 200 and "Idempotent-Replayed" not in other.headers


def test_a_stored_400_is_replayed_too(api: Api) -> None:
    first = api.post("/organizations/batch", raw=b'{"items": []}', key="k-empty-400")
    second = api.post("/organizations/batch", raw=b'{"items": []}', key="k-empty-400")
    assert second.status_code == 400 and second.content == first.content
    assert second.headers["Idempotent-Replayed"] == "true"


def test_a_key_in_flight_is_409(api: Api, uid: str) -> None:
    api.sandbox.set_faults(latency_ms=600)
    body = {"items": [org(f"{uid}:o:1")]}
    slow: list[httpx.Response] = []
    try:
        worker = threading.Thread(target=lambda: slow.append(
            api.as_app("app-a").post("/organizations/batch", body, key=f"{uid}-k")))
        worker.start()
        time.sleep(0.2)
        with httpx.Client() as other:
            second = Api(api.sandbox, "app-a", other).post("/organizations/batch", body,
                                                             key=f"{uid}-k")
        worker.join()
    finally:
        api.sandbox.set_faults(latency_ms=0)
    assert _code(second) == (409, "IDEMPOTENCY_IN_PROGRESS")
    assert slow[0].status_code == 200
    third = api.post("/organizations/batch", body, key=f"{uid}-k")
    assert third.headers["Idempotent-Replayed"] == "true"


def test_over_the_rate_is_429_with_whole_retry_after(limited: Api) -> None:
    responses = [limited.get("/organizations", [("page_size", "1")]) for _ in range(4)]
    refused = [r for r in responses if r.status_code == 429]
    assert refused and refused[0].json()["code"] == "RATE_LIMITED"
    assert int(refused[0].headers["Retry-After"]) >= 1


def test_a_rate_refusal_is_not_stored_under_its_key(limited: Api, uid: str) -> None:
    for _ in range(3):
        limited.get("/organizations", [("page_size", "1")])
    body = {"items": [org(f"{uid}:o:1")]}
    refused = limited.post("/organizations/batch", body, key=f"{uid}-k")
    assert refused.status_code == 429
    limited.sandbox.set_faults(rate_per_s=0)
    again = limited.post("/organizations/batch", body, key=f"{uid}-k")
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers


def test_the_rate_is_checked_before_the_idempotency_key(limited: Api) -> None:
    statuses = [limited.post("/organizations/batch", raw=b"{}",
                             headers={"Idempotency-Key": "bad key"}).status_code
                for _ in range(4)]
    assert statuses[:2] == [400, 400] and 429 in statuses[2:]


def test_the_key_is_checked_before_the_body_size(api: Api) -> None:
    raw = b'{"items": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = api.post("/organizations/batch", raw=raw, headers={"Idempotency-Key": "a b"})
    assert _code(response) == (400, "IDEMPOTENCY_KEY_INVALID")


def test_the_body_size_is_checked_before_the_store(api: Api, uid: str) -> None:
    api.post("/organizations/batch", {"items": [org(f"{uid}:o:1")]}, key=f"{uid}-k")
    raw = b'{"items": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert _code(api.post("/organizations/batch", raw=raw, key=f"{uid}-k")) == (
        413, "PAYLOAD_TOO_LARGE")


def test_the_store_is_checked_before_the_body_shape(api: Api, uid: str) -> None:
    api.post("/organizations/batch", {"items": [org(f"{uid}:o:1")]}, key=f"{uid}-k")
    response = api.post("/organizations/batch", raw=b"{broken", key=f"{uid}-k")
    assert _code(response) == (422, "IDEMPOTENCY_KEY_REUSED")


def test_one_rejected_item_leaves_the_others_applied(api: Api, uid: str) -> None:
    results = api.batch("/organizations/batch", org(f"{uid}:o:1"),
                        org(f"{uid}:o:2", org_type="9"), org(f"{uid}:o:3"))
    assert [r["status"] for r in results] == ["created", "rejected", "created"]
    assert results[1]["national_id"] is None
    assert all(r["national_id"] for r in (results[0], results[2]))


def test_stats_count_requests_by_route_and_status(api: Api, uid: str) -> None:
    api.sandbox.reset_stats()
    api.batch("/organizations/batch", org(f"{uid}:o:1"), org(f"{uid}:o:2", org_type="9"))
    api.get("/nothing")
    stats = api.sandbox.stats()
    assert stats["total"] == 2 and stats["items"] == 2 and stats["applied"] == 1
    assert stats["by_route"]["POST /openapi/v1/organizations/batch"] == 1
    assert stats["by_status"] == {"200": 1, "404": 1}


def test_a_restarted_sandbox_keeps_records_and_replays(tmp_path: Path, uid: str) -> None:
    sandbox = start_sandbox(tmp_path)
    try:
        api = Api(sandbox)
        body = {"items": [volunteer(f"{uid}:v:1")]}
        first = api.post("/volunteers/batch", body, key=f"{uid}-k")
        port = sandbox.port
        sandbox.restart()
        assert sandbox.port == port
        second = Api(sandbox).post("/volunteers/batch", body, key=f"{uid}-k")
        assert second.content == first.content
        assert second.headers["Idempotent-Replayed"] == "true"
        assert len(sandbox.records("volunteers")) == 1
    finally:
        sandbox.close()
