"""Everything one running sandbox holds: its store, apps, faults, rate limiter and stats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.sandbox import codes
from bridge.sandbox.apply import App, Applier
from bridge.sandbox.auth import Authenticator
from bridge.sandbox.db import Store
from bridge.sandbox.faults import Faults, FaultSettings, RateLimiter

APPLIED = frozenset({"created", "updated", "matched", "revoked"})


@dataclass
class Stats:
    """Requests that reached the app (control endpoints excepted), and batch items."""
    total: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    items: int = 0
    applied: int = 0

    def count_request(self, route: str, status: str) -> None:
        self.total += 1
        self.by_route[route] += 1
        self.by_status[status] += 1

    def count_items(self, received: int, statuses: Iterable[str]) -> None:
        self.items += received
        self.applied += sum(1 for s in statuses if s in APPLIED)

    def reset(self) -> None:
        self.total = self.items = self.applied = 0
        self.by_route.clear()
        self.by_status.clear()

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "by_route": dict(self.by_route),
                "by_status": dict(self.by_status), "items": self.items,
                "applied": self.applied}


class Sandbox:
    def __init__(self, store: Store, apps: Mapping[str, App], settings: FaultSettings,
                 *, control: bool = True) -> None:
        self.store = store
        self.control = control
        self.initial = settings
        self.applier = Applier(store, codes.load())
        self.auth = Authenticator(apps, store)
        self.faults = Faults(settings)
        self.limiter = RateLimiter(settings.rate_per_s, settings.burst)
        self.stats = Stats()
        self.inflight: dict[tuple[str, str], str] = {}

    def configure(self, changes: Mapping[str, Any]) -> FaultSettings:
        """Change faults and rate (ValueError on a bad setting); missing keys keep theirs."""
        settings = self.faults.configure(changes)
        self.limiter.configure(settings.rate_per_s, settings.burst)
        return settings

    def reset(self) -> None:
        """Back to a new sandbox on an empty file, as its command line started it: no
        records, idempotency keys, nonces or stats; the faults, their seed and the rate of
        the command line, every token bucket full. One call on the event loop (no await),
        so no request sees half of it."""
        self.store.clear()
        self.auth.forget_all()
        self.faults = Faults(self.initial)
        self.limiter = RateLimiter(self.initial.rate_per_s, self.initial.burst)
        self.stats.reset()
        self.inflight.clear()
