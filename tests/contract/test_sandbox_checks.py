"""The sandbox's own check-digit and format primitives, against the standards' arithmetic
written out again here (GB 11643, GB 32100) and published examples."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.sandbox import checks
from bridge.sandbox.codes import load

USCC_SET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
REGIONS = load().regions_ever


def gb11643(body17: str) -> str:
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(body17))
    return "10X98765432"[total % 11]


def gb32100(body17: str) -> str:
    total = sum(USCC_SET.index(c) * (3 ** i % 31) for i, c in enumerate(body17))
    return USCC_SET[(31 - total % 31) % 31]


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_published_ids_are_valid(number: str) -> None:
    assert checks.mainland_id_problem(number, REGIONS) is None


@pytest.mark.parametrize("code", ["91110108551385082Q", "91330100799655058B"])
def test_published_usccs_are_valid(code: str) -> None:
    assert checks.uscc_problem(code, REGIONS) is None


@given(st.dates(date(1900, 1, 1), date(2025, 12, 31)), st.integers(0, 999))
def test_the_id_check_digit_is_gb_11643(born: date, seq: int) -> None:
    body = f"350205{born:%Y%m%d}{seq:03d}"
    assert checks.id_check_char(body) == gb11643(body)
    assert checks.mainland_id_problem(body + gb11643(body), REGIONS) is None
    wrong = next(c for c in "0123456789X" if c != gb11643(body))
    assert checks.mainland_id_problem(body + wrong, REGIONS) == "CHECKSUM_MISMATCH"


@given(st.text(USCC_SET, min_size=17, max_size=17))
def test_the_uscc_check_character_is_gb_32100(body: str) -> None:
    assert checks.uscc_check_char(body) == gb32100(body)


@given(st.text(USCC_SET, min_size=2, max_size=2), st.sampled_from(sorted(REGIONS)),
       st.text(USCC_SET, min_size=9, max_size=9))
def test_a_uscc_with_a_known_region_and_its_check_character_is_valid(
        head: str, region: str, tail: str) -> None:
    body = head + region + tail
    assert checks.uscc_problem(body + gb32100(body), REGIONS) is None


@given(st.datetimes(datetime(1950, 1, 1), datetime(2030, 1, 1)),
       st.integers(-12 * 60, 14 * 60))
def test_an_rfc_3339_datetime_parses_to_its_instant(moment: datetime, minutes: int) -> None:
    zone = timezone(timedelta(minutes=minutes))
    aware = moment.replace(tzinfo=zone)
    parsed = checks.parse_datetime(aware.isoformat())
    assert parsed == aware
    assert checks.from_instant(checks.instant(aware)) == aware


@pytest.mark.parametrize("text", ["2025-06-01T09:00:00", "2025-06-01 09:00:00+08:00",
                                  "2025-02-29T09:00:00+08:00", "2025-06-01T09:60:00Z",
                                  "2025-06-01T09:00:00+8:00", "２０２５-06-01T09:00:00Z"])
def test_an_improper_datetime_does_not_parse(text: str) -> None:
    assert checks.parse_datetime(text) is None


@pytest.mark.parametrize(("start", "end", "same"), [
    ("2025-06-01T22:00:00+08:00", "2025-06-02T00:00:00+08:00", True),
    ("2025-06-01T22:00:00+08:00", "2025-06-02T00:00:01+08:00", False),
    ("2025-06-01T15:00:00Z", "2025-06-01T17:00:00Z", False),
])
def test_the_service_day_is_the_cst_calendar_day(start: str, end: str, same: bool) -> None:
    first, last = checks.service_day(checks.parse_datetime(start),  # type: ignore[arg-type]
                                     checks.parse_datetime(end))  # type: ignore[arg-type]
    assert (first == last) is same


@pytest.mark.parametrize("value", ["\u3000x", "x\ufeff", "x\u00a0", "\u2003x", "x\t"])
def test_unicode_white_space_at_either_end_is_refused(value: str) -> None:
    assert checks.string_problem(value) is not None


def test_a_newline_is_allowed_only_in_multiline_fields() -> None:
    assert checks.string_problem("a\nb") is not None
    assert checks.string_problem("a\nb", multiline=True) is None
    assert checks.string_problem("a\x85b", multiline=True) is not None
