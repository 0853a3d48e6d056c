from __future__ import annotations

from bridge.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        assert bucket.acquire() == 0.0
    for _ in range(20):
        bucket.acquire()
    assert abs(clock.t - 2.0) < 1e-6  # 20 more tokens at 10/s


def test_rate_must_be_positive() -> None:
    import pytest

    with pytest.raises(ValueError):
        TokenBucket(0)
