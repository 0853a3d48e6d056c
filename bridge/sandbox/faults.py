"""Fault injection, reproducible from a seed, and the per-app token bucket.

Every request a fault applies to draws the same number of values from one
`random.Random(seed)`, so a seed and a request sequence give the same faults again.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

PostFault = Literal["error", "drop", "slow"]
_RATES = ("pre_error_rate", "post_error_rate", "drop_rate", "slow_rate")
_PRE_STATUSES = (500, 502, 503)
_GATEWAY_PAGE = (b"<html><head><title>502 Bad Gateway</title></head><body><center>"
                 b"<h1>502 Bad Gateway</h1></center><hr><center>gateway</center></body></html>")


@dataclass(frozen=True)
class FaultSettings:
    seed: int = 0
    latency_ms: float = 0.0
    pre_error_rate: float = 0.0
    post_error_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 0.0
    burst_429: int = 0
    reads: bool = False
    rate_per_s: float = 20.0   # 0: no rate limit
    burst: int = 40

    def merged(self, changes: Mapping[str, Any]) -> FaultSettings:
        """These settings with `changes` applied; ValueError on an unknown or bad key."""
        known = {f.name: f.type for f in dataclasses.fields(self)}
        unknown = set(changes) - set(known)
        if unknown:
            raise ValueError("unknown fault settings: " + ", ".join(sorted(unknown)))
        clean = {k: _coerce(k, v) for k, v in changes.items()}
        return dataclasses.replace(self, **clean)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(key: str, value: Any) -> Any:
    if key == "reads":
        if not isinstance(value, bool):
            raise ValueError("reads must be true or false")
        return value
    if key == "rate_per_s" and value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{key} must be a number")
    value = float(value) if isinstance(value, Decimal) else value
    if not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number")
    if value < 0 or (key in _RATES and value > 1):
        raise ValueError(f"{key} is out of range")
    if key in ("seed", "burst_429", "burst"):
        if value != int(value):
            raise ValueError(f"{key} must be a whole number")
        return int(value)
    return float(value)


@dataclass(frozen=True)
class Plan:
    """What the faults do to one request."""
    burst_429: bool = False
    pre_status: int | None = None
    post: PostFault | None = None
    shape: int = 0  # 0: JSON envelope, 1: empty body, 2: a gateway's HTML page


class Faults:
    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._burst_left = settings.burst_429

    def configure(self, changes: Mapping[str, Any]) -> FaultSettings:
        changes = dict(changes)
        if changes.pop("reset", False):
            fresh = FaultSettings(rate_per_s=self.settings.rate_per_s, burst=self.settings.burst)
            self.settings = fresh.merged(changes)
            changes.setdefault("seed", self.settings.seed)
            changes.setdefault("burst_429", 0)
        else:
            self.settings = self.settings.merged(changes)
        if "seed" in changes:
            self._rng = random.Random(self.settings.seed)
        if "burst_429" in changes:
            self._burst_left = self.settings.burst_429
        return self.settings

    @property
    def burst_left(self) -> int:
        return self._burst_left

    def plan(self) -> Plan:
        if self._burst_left > 0:
            self._burst_left -= 1
            return Plan(burst_429=True)
        s = self.settings
        pre, post, drop, slow = (self._rng.random() for _ in range(4))
        status = _PRE_STATUSES[self._rng.randrange(3)]
        shape = self._rng.randrange(3)
        if pre < s.pre_error_rate:
            return Plan(pre_status=status, shape=shape)
        fault: PostFault | None = None
        if post < s.post_error_rate:
            fault = "error"
        elif drop < s.drop_rate:
            fault = "drop"
        elif slow < s.slow_rate:
            fault = "slow"
        return Plan(post=fault, shape=shape)


def fault_body(status: int, shape: int, request_id: str) -> tuple[bytes, str]:
    """The body of an injected 5xx: a JSON envelope, nothing, or a gateway's page."""
    if shape == 1:
        return b"", "text/plain"
    if shape == 2:
        return _GATEWAY_PAGE.replace(b"502 Bad Gateway", f"{status} Error".encode()), "text/html"
    code = "INTERNAL" if status == 500 else "UNAVAILABLE"
    body = {"code": code, "message": "injected fault", "request_id": request_id, "data": None}
    return json.dumps(body).encode(), "application/json"


class RateLimiter:
    """One token bucket per app; rate 0 turns it off."""

    def __init__(self, rate_per_s: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self.rate = rate_per_s
        self.burst = burst

    def configure(self, rate_per_s: float, burst: int) -> None:
        if (rate_per_s, burst) != (self.rate, self.burst):
            self.rate, self.burst = rate_per_s, burst
            self._buckets.clear()

    def take(self, app_id: str) -> int | None:
        """None when the request may go; else the whole seconds to wait (≥ 1)."""
        if self.rate <= 0:
            return None
        now = self._clock()
        capacity = max(1.0, float(self.burst))
        tokens, stamp = self._buckets.get(app_id, (capacity, now))
        tokens = min(capacity, tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._buckets[app_id] = (tokens - 1.0, now)
            return None
        self._buckets[app_id] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))
