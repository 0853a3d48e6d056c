"""The SQL adapter's look-back start from a stored cursor: a negative window is refused
by name, and a cursor that is not a 'YYYY-MM-DD HH:MM:SS' time gives None (the adapter
then reads the stream again from the start, with a warning) instead of failing.
Survivors of make mutate in adapters.sql.lookback_start."""

from __future__ import annotations

import pytest

from adapters.base import Cursor
from adapters.sql import lookback_start


def test_a_negative_window_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^lookback_s must not be negative$"):
        lookback_start(Cursor("2026-01-01 00:05:00", (9,)), -1)


@pytest.mark.parametrize("text", ["2026-01-01T00:05:00Z", "garbage", "2026-02-30 00:00:00"])
def test_a_cursor_that_is_not_a_local_time_gives_no_start(text: str) -> None:
    assert lookback_start(Cursor(text, (9,)), 600) is None


def test_a_zero_window_starts_at_the_cursor() -> None:
    assert lookback_start(Cursor("2026-01-01 00:05:00", (9,)), 0) == "2026-01-01 00:05:00"
