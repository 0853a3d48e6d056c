"""Push's key discipline inside one process: a batch's idempotency key is claimed while
its request is under way, so that no other pusher sends the same open batch; a batch
another pusher holds is skipped (and only that one); a key whose send could not even
start is let go again. Survivors of make mutate in Pusher._submit and _Claims."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import httpx
import pytest

from bridge import answers
from bridge.config import NationalConfig
from bridge.national import NationalClient
from bridge.push import Delivery, Pusher
from bridge.stage import Stager
from state.store import Batch, StateStore
from tests.unit.test_phase_order import Platform


@pytest.fixture
def pusher(tmp_path: Path) -> Iterator[Pusher]:
    store = StateStore.open(tmp_path / "state.db")
    cfg = NationalConfig(base_url="https://platform.test/openapi/v1", app_id="app",
                         app_secret="secret-value", rate_per_s=1000.0, max_attempts=1)
    client = NationalClient(cfg.base_url, "app", "secret-value",
                            transport=httpx.MockTransport(Platform()))
    yield Pusher(store, Stager(store), client, cfg, sleep=lambda s: None)
    store.close()


def batch(n: int, key: str) -> Batch:
    body = b'{"items":[{"external_ref":"haicang:organization:%d","name":"x"}]}' % n
    return Batch(n, key, "organization", "upsert", "/organizations/batch", body, "d", 1, 0)


def test_a_key_is_claimed_once_until_released() -> None:
    claims = answers._Claims()
    assert claims.claim("k1") and not claims.claim("k1")
    claims.release(["k1"])
    assert claims.claim("k1")


def test_claims_are_per_key() -> None:
    claims = answers._Claims()
    assert claims.claim("k1") and claims.claim("k2")


def test_a_batch_another_pusher_holds_is_skipped_and_the_next_is_sent(
        pusher: Pusher) -> None:
    held, free = batch(1, "zyb-held-by-another"), batch(2, "zyb-free")
    assert answers._CLAIMED.claim(held.key)
    futures: set[Future[Delivery]] = set()
    try:
        with ThreadPoolExecutor(2) as pool:
            pusher._submit(pool, [held, free], futures)
            wait(futures)
        assert [f.result().batch.key for f in futures] == [free.key]
        assert not answers._CLAIMED.claim(free.key), "a sent batch keeps its key until applied"
    finally:
        answers._CLAIMED.release([held.key, free.key])


def test_a_key_is_released_when_its_send_cannot_start(pusher: Pusher) -> None:
    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    b = batch(3, "zyb-never-sent")
    with pytest.raises(RuntimeError):
        pusher._submit(pool, [b], set())
    assert answers._CLAIMED.claim(b.key), "the key stayed claimed"
    answers._CLAIMED.release([b.key])
