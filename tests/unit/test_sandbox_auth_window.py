"""The sandbox's timestamp window (national-api.md §2: more than 300 s from server time is
AUTH_EXPIRED) at its edges, on a clock the test holds: over loopback a request may take
more than a second to reach the check on a loaded machine, so the exact edges are tested
here and tests/contract/test_sandbox_auth.py keeps a margin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import signing
from bridge.sandbox import BASE_PATH
from bridge.sandbox.apply import App
from bridge.sandbox.auth import Authenticator, AuthError
from bridge.sandbox.db import Store

NOW = 1_780_000_000.0
APP = App("app-a", "secret-a", "3502")
PATH = BASE_PATH + "/volunteers"


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[Authenticator]:
    store = Store(tmp_path / "sandbox.db")
    yield Authenticator({APP.id: APP}, store, clock=lambda: NOW)
    store.close()


def check(auth: Authenticator, offset: int) -> App:
    headers = signing.sign_headers(APP.id, APP.secret, "GET", PATH, now=int(NOW) + offset)
    return auth.check("GET", PATH, [], {k.lower(): v for k, v in headers.items()}, b"")


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_timestamp_within_300_s_of_server_time_is_accepted(auth: Authenticator,
                                                             offset: int) -> None:
    assert check(auth, offset) == APP


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_more_than_300_s_from_server_time_is_expired(auth: Authenticator,
                                                                 offset: int) -> None:
    with pytest.raises(AuthError) as caught:
        check(auth, offset)
    assert caught.value.code == "AUTH_EXPIRED"
