"""Issue 17: the engine's progress observer as the daemon logs it (bridge/progress.py):
a line at most every 10 s with rows read, items sent, the rate and an ETA."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bridge.progress import LogProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _observer() -> tuple[LogProgress, Clock, list[dict[str, Any]]]:
    clock, lines = Clock(), []
    observer = LogProgress(lambda event, **kw: lines.append({"event": event, **kw}),
                           every_s=10.0, clock=clock)
    return observer, clock, lines


def test_no_line_before_ten_seconds() -> None:
    observer, clock, lines = _observer()
    clock.now += 9.9
    observer.read("haicang", "volunteer", 500)
    observer.sent("volunteer", 100)
    assert lines == []


def test_a_line_after_ten_seconds_with_rows_items_rate_and_eta() -> None:
    observer, clock, lines = _observer()
    observer.expect("haicang", "volunteer", 3000)
    clock.now += 10.0
    observer.read("haicang", "volunteer", 1000)
    assert lines == [{"event": "progress", "rows_read": {"haicang:volunteer": 1000},
                      "items_sent": {}, "rows_per_s": 100.0, "elapsed_s": 10.0,
                      "eta_s": 20.0}]


def test_no_eta_without_an_expected_count() -> None:
    observer, clock, lines = _observer()
    clock.now += 11.0
    observer.sent("volunteer", 100)
    assert lines[0]["items_sent"] == {"volunteer": 100} and "eta_s" not in lines[0]


@given(st.lists(st.floats(0.0, 30.0), min_size=1, max_size=60))
def test_lines_are_at_least_ten_seconds_apart(gaps: list[float]) -> None:
    observer, clock, lines = _observer()
    times = []
    for gap in gaps:
        clock.now += gap
        before = len(lines)
        observer.read("s", "volunteer", 1)
        if len(lines) > before:
            times.append(clock.now)
    assert all(b - a >= 10.0 for a, b in zip([100.0, *times], times, strict=False))
