"""Service spans: the split of a span at each midnight (UTC+08:00, `CST`, the local time
of every source whose times carry no offset) it crosses, the division of its units
(minutes, or hundredths of an hour) among the parts, and minutes → hours. Pure
functions; `mappings.normalize` re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta, timezone
from fractions import Fraction

CST = timezone(timedelta(hours=8))


def day_spans(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at every midnight (+08:00) strictly inside it, in time order. An
    end at exactly 00:00:00 closes the previous day: it makes no empty part."""
    if end <= start:
        raise ValueError("end must be after start")
    cursor, stop = start.astimezone(CST), end.astimezone(CST)
    spans: list[tuple[datetime, datetime]] = []
    while True:
        midnight = datetime.combine(cursor.date() + timedelta(days=1), time(), CST)
        if midnight >= stop:
            spans.append((cursor, stop))
            return spans
        spans.append((cursor, midnight))
        cursor = midnight


def hours(minutes: int) -> float:
    """floor(minutes × 100 / 60) / 100: 50 minutes are 0.83 hours, 10 are 0.16."""
    return (minutes * 100 // 60) / 100


def minute_cap(seconds: int) -> int:
    """The most whole minutes whose `hours` fit in a span of `seconds`."""
    hundredths = seconds // 36
    return ((hundredths + 1) * 60 - 1) // 100


def hundredth_cap(seconds: int) -> int:
    """The most hundredths of an hour that fit in a span of `seconds`."""
    return seconds // 36


def apportion(total: int, weights: Sequence[int],
              cap: Callable[[int], int] = minute_cap) -> list[int]:
    """Divide `total` units (minutes by default; hundredths of an hour with
    `cap=hundredth_cap`) in proportion to `weights` (seconds of each part) by largest
    remainder, ties to the earlier part. Parts whose units would outgrow their span
    (`cap`) are passed over for the extra units while others have room."""
    whole = sum(weights)
    if total < 0 or whole <= 0 or any(w < 0 for w in weights):
        raise ValueError("a non-negative total over positive weights")
    if len(weights) == 1:  # a record within one day, nearly every record
        return [total]
    quotas = [Fraction(total * w, whole) for w in weights]
    shares = [math.floor(q) for q in quotas]
    left = total - sum(shares)

    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - shares[i]), i))
    while left > 0:
        room = [i for i in order if shares[i] < cap(weights[i])][:left] or order[:left]
        for i in room:
            shares[i] += 1
        left -= len(room)
    return shares
