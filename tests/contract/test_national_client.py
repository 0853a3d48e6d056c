"""The bridge's NationalClient against the running sandbox over loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from bridge.errors import ConfigError, RejectedError
from bridge.national import NationalClient
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess


@pytest.fixture(scope="module")
def platform() -> Iterator[SandboxProcess]:
    with SandboxProcess(extra_args=["--rate-per-s", "0"]) as sb:
        yield sb


def org(ref: str) -> dict[str, object]:
    return {"external_ref": ref, "name": "海沧区志愿者协会", "org_type": "1",
            "area_code": "350205000000000000", "service_categories": ["0001"],
            "contact_name": "林志贵", "contact_phone": "13800000000", "status": "active"}


def body(*items: dict[str, object]) -> bytes:
    return json.dumps({"items": list(items)}, ensure_ascii=False).encode()


def test_a_signed_batch_is_applied_and_replayed_under_its_key(platform: SandboxProcess) -> None:
    client = NationalClient(platform.base_url, DEMO_APP_ID, DEMO_APP_SECRET)
    payload = body(org("t:organization:1"))
    first = client.post_batch("/organizations/batch", payload, "k-client-1")
    again = client.post_batch("/organizations/batch", payload, "k-client-1")
    assert first.results[0].status == "created"
    assert again.replayed and again.results == first.results


def test_signed_reads_with_query_parameters(platform: SandboxProcess) -> None:
    client = NationalClient(platform.base_url, DEMO_APP_ID, DEMO_APP_SECRET)
    client.post_batch("/organizations/batch", body(org("t:organization:2")), "k-client-2")
    found = client.get("/organizations", {"external_ref": "t:organization:2"})
    assert found is not None and found["name"] == "海沧区志愿者协会"
    assert client.get("/organizations", {"external_ref": "t:organization:none"}) is None
    page = client.get("/organizations", {"updated_since": "2000-01-01T00:00:00+08:00",
                                          "page_size": "10"})
    assert page is not None and len(page["items"]) >= 1


def test_a_wrong_secret_is_a_config_error_without_the_secret(platform: SandboxProcess) -> None:
    client = NationalClient(platform.base_url, DEMO_APP_ID, "wrong-secret-value")
    with pytest.raises(ConfigError, match="AUTH_SIGNATURE") as err:
        client.post_batch("/organizations/batch", body(org("t:organization:3")), "k-client-3")
    assert "wrong-secret-value" not in str(err.value)


def test_a_skewed_clock_is_detected_and_named(platform: SandboxProcess) -> None:
    client = NationalClient(platform.base_url, DEMO_APP_ID, DEMO_APP_SECRET,
                            clock=lambda: time.time() + 900)
    with pytest.raises(ConfigError, match="clock"):
        client.get("/organizations", {"external_ref": "t:organization:1"})


def test_a_malformed_batch_is_rejected_not_retried(platform: SandboxProcess) -> None:
    client = NationalClient(platform.base_url, DEMO_APP_ID, DEMO_APP_SECRET)
    with pytest.raises(RejectedError) as err:
        client.post_batch("/organizations/batch", body({**org("t:organization:4"),
                                                        "colour": "red"}), "k-client-4")
    assert err.value.status == 400 and err.value.code == "INVALID_REQUEST"


def test_health_answers(platform: SandboxProcess) -> None:
    assert NationalClient(platform.base_url, DEMO_APP_ID, DEMO_APP_SECRET).health()
