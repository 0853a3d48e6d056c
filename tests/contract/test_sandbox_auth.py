"""Authentication (national-api.md §2) of the sandbox, over loopback."""

from __future__ import annotations

import time

import httpx
import pytest

from bridge import signing
from bridge.sandbox import BASE_PATH
from bridge.testing.harness import SandboxProcess
from tests.contract.conftest import Api


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def test_health_needs_no_authentication(sandbox: SandboxProcess) -> None:
    response = httpx.get(sandbox.base_url + "/health")
    assert response.status_code == 200
    assert response.json()["code"] == "OK"


def test_a_signed_read_is_accepted(api: Api) -> None:
    assert _code(api.get("/volunteers", [("page_size", "1")])) == (200, "OK")


def test_the_secret_may_come_from_the_environment(api: Api) -> None:
    """app-a's secret is `${ZY_SANDBOX_TEST_SECRET}` in the apps file."""
    assert api.app_id == "app-a"
    assert api.get("/organizations").status_code == 200


@pytest.mark.parametrize("header", ["X-App-Id", "X-Timestamp", "X-Nonce", "X-Signature"])
def test_each_missing_header_is_auth_missing(api: Api, header: str) -> None:
    headers = api.headers("GET", "/volunteers")
    del headers[header]
    response = api.client().get(api.sandbox.base_url + "/volunteers", headers=headers)
    assert _code(response) == (401, "AUTH_MISSING")


def test_a_malformed_nonce_is_auth_missing(api: Api) -> None:
    headers = api.headers("GET", "/volunteers", nonce="short")
    response = api.client().get(api.sandbox.base_url + "/volunteers", headers=headers)
    assert _code(response) == (401, "AUTH_MISSING")


def test_an_unknown_app_is_refused(api: Api) -> None:
    headers = signing.sign_headers("nobody", "x", "GET", BASE_PATH + "/volunteers")
    response = api.client().get(api.sandbox.base_url + "/volunteers", headers=headers)
    assert _code(response) == (401, "AUTH_UNKNOWN_APP")


# +301 would be accepted by a request that takes more than a second to reach the check (a
# loaded machine): the exact edges are tests/unit/test_sandbox_auth_window.py's, on a clock
@pytest.mark.parametrize("offset", [-301, 330, -100_000, 100_000])
def test_a_timestamp_beyond_300_s_is_expired(api: Api, offset: int) -> None:
    headers = api.headers("GET", "/volunteers", now=time.time() + offset)
    response = api.client().get(api.sandbox.base_url + "/volunteers", headers=headers)
    assert _code(response) == (401, "AUTH_EXPIRED")


@pytest.mark.parametrize("offset", [-290, 290])
def test_a_timestamp_within_300_s_is_accepted(api: Api, offset: int) -> None:
    headers = api.headers("GET", "/volunteers", now=time.time() + offset)
    response = api.client().get(api.sandbox.base_url + "/volunteers", headers=headers)
    assert response.status_code == 200


def test_a_reused_nonce_is_a_replay(api: Api) -> None:
    headers = api.headers("GET", "/volunteers")
    url = api.sandbox.base_url + "/volunteers"
    assert api.client().get(url, headers=headers).status_code == 200
    again = api.headers("GET", "/volunteers", nonce=headers["X-Nonce"])
    assert _code(api.client().get(url, headers=again)) == (401, "AUTH_REPLAY")


def test_a_nonce_refused_for_its_signature_is_not_burnt(api: Api) -> None:
    url = api.sandbox.base_url + "/volunteers"
    bad = api.headers("GET", "/volunteers")
    nonce = bad["X-Nonce"]
    bad["X-Signature"] = "0" * 64
    assert _code(api.client().get(url, headers=bad)) == (401, "AUTH_SIGNATURE")
    good = api.headers("GET", "/volunteers", nonce=nonce)
    assert api.client().get(url, headers=good).status_code == 200


def test_another_apps_nonce_is_not_a_replay(api: Api) -> None:
    url = api.sandbox.base_url + "/volunteers"
    first = api.headers("GET", "/volunteers")
    assert api.client().get(url, headers=first).status_code == 200
    other = api.as_app("app-b").headers("GET", "/volunteers", nonce=first["X-Nonce"])
    assert api.client().get(url, headers=other).status_code == 200


def test_a_wrong_secret_is_a_signature_error(api: Api) -> None:
    headers = signing.sign_headers("app-a", "wrong", "GET", BASE_PATH + "/volunteers")
    response = api.client().get(api.sandbox.base_url + "/volunteers", headers=headers)
    assert _code(response) == (401, "AUTH_SIGNATURE")


def test_a_signature_over_another_body_is_refused(api: Api) -> None:
    headers = api.headers("POST", "/volunteers/batch", body=b'{"items": []}')
    headers["Idempotency-Key"] = "k-sig-body"
    response = api.client().post(api.sandbox.base_url + "/volunteers/batch",
                                 content=b'{"items": [{}]}', headers=headers)
    assert _code(response) == (401, "AUTH_SIGNATURE")


def test_the_query_is_signed_as_the_server_decodes_it(api: Api) -> None:
    """A raw '+' reads as a space: signing it as '+' fails, '%2B' passes."""
    value = "2025-01-01T00:00:00+08:00"
    url = api.sandbox.base_url + "/volunteers"
    raw = api.headers("GET", "/volunteers", [("updated_since", value)])
    response = api.client().get(f"{url}?updated_since={value}", headers=raw)
    assert _code(response) == (401, "AUTH_SIGNATURE")
    assert api.get("/volunteers", [("updated_since", value)]).status_code == 200


def test_the_query_pairs_are_signed_sorted_whatever_their_url_order(api: Api) -> None:
    params = [("page_size", "5"), ("updated_since", "2025-01-01T00:00:00Z")]
    headers = api.headers("GET", "/volunteers", params)
    url = (api.sandbox.base_url + "/volunteers?updated_since=2025-01-01T00%3A00%3A00Z"
           "&page_size=5")
    assert api.client().get(url, headers=headers).status_code == 200


def test_the_path_is_signed_as_sent(api: Api) -> None:
    headers = api.headers("GET", "/volunteers/")
    response = api.client().get(api.sandbox.base_url + "/volunteers", headers=headers)
    assert _code(response) == (401, "AUTH_SIGNATURE")


def test_authentication_comes_before_the_idempotency_key(api: Api) -> None:
    response = api.client().post(api.sandbox.base_url + "/volunteers/batch",
                                 content=b"{}", headers={"Content-Type": "application/json"})
    assert _code(response) == (401, "AUTH_MISSING")
