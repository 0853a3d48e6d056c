"""Named crash points, for the tests: the process kills itself (SIGKILL, as a power cut
or the OOM killer would) right after a step of the flow, so that every step can be
crashed deterministically and the restart's convergence checked (docs/testing.md).

`$ZYB_CRASH_AT` names the point, optionally with the how-many-th pass of it that kills:
`after_stage_page` (the first), `after_persist_batch:3` (the third). Unset, a crash
point costs one dictionary look-up. Never set in production.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

ENV = "ZYB_CRASH_AT"
POINTS = (
    "after_stage_page",       # a page's rows, outbox items and cursor committed
    "after_persist_batch",    # a batch formed and committed, not yet sent
    "after_platform_answer",  # the platform answered a batch, nothing of it applied
    "after_apply",            # the answers of finished batches applied and committed
)

_passes: Counter[str] = Counter()
_lock = threading.Lock()


def parse(value: str) -> tuple[str, int]:
    """`name` or `name:n` → (name, n); a name not in POINTS or an n below 1 is an error
    (a typo must not turn a crash test into one that never crashes)."""
    name, _, nth = value.partition(":")
    if name not in POINTS:
        raise ValueError(f"{ENV}={value!r}: not one of {', '.join(POINTS)}")
    if nth and (not nth.isdecimal() or int(nth) < 1):
        raise ValueError(f"{ENV}={value!r}: the pass after ':' is a number from 1")
    return name, int(nth) if nth else 1


def crashpoint(name: str, *, when: bool = True) -> None:
    """Kill this process if `$ZYB_CRASH_AT` names this point and this is the pass it
    names; `when` False means the step did nothing here (it does not count)."""
    value = os.environ.get(ENV)
    if not value or not when:
        return
    wanted, nth = parse(value)
    if wanted != name:
        return
    with _lock:
        _passes[name] += 1
        if _passes[name] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
