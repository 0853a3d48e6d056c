"""Edges of mappings/normalize.py that `make mutate` found untested (issue 21): UTC
offsets, the 15-digit ID upgrade's refusals, a span of no length, the county of an area,
the minute and hundredth caps, a fixed line written with spaces."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import normalize as n


def cst(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=n.CST)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-06-01T09:00:00Z", cst(2026, 6, 1, 17)),
    ("2026-06-01T09:00:00z", cst(2026, 6, 1, 17)),
    ("2026-06-01 09:00+05:30", cst(2026, 6, 1, 11, 30)),
    ("2026-06-01T09:00-0930", cst(2026, 6, 2, 2, 30)),
    ("2026-06-01T09:00+08", cst(2026, 6, 1, 9)),
    ("2026-06-01T09:00+23:59", cst(2026, 5, 31, 17, 1)),
])
def test_an_offset_moves_the_time_to_plus_eight(raw: str, expected: datetime) -> None:
    moment = n.to_datetime(raw)
    assert moment == expected and moment is not None
    assert moment.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("raw", ["2026-06-01T09:00+24:00", "2026-06-01T09:00-2400"])
def test_an_offset_of_a_day_or_more_is_not_a_date(raw: str) -> None:
    with pytest.raises(ValueError, match=r"^not a UTC offset$"):
        n.to_datetime(raw)


@pytest.mark.parametrize("number", ["35020580010111A", "３５０２０５８００１０１１１３",
                                    "3502058001011", "3502058001011130"])
def test_upgrade15_refuses_what_is_not_fifteen_ascii_digits(number: str) -> None:
    with pytest.raises(ValueError, match=r"^not a 15-digit ID number$"):
        n.upgrade15(number)


def test_a_span_that_ends_as_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^end must be after start$"):
        n.day_spans(cst(2026, 6, 1, 9), cst(2026, 6, 1, 9))


def test_the_spans_of_utc_times_are_in_plus_eight_to_the_end() -> None:
    spans = n.day_spans(datetime(2026, 6, 1, 14, tzinfo=UTC),
                        datetime(2026, 6, 1, 18, tzinfo=UTC))
    assert [(a.utcoffset(), b.utcoffset()) for a, b in spans] == [
        (timedelta(hours=8), timedelta(hours=8))] * 2


def test_the_county_of_a_village_is_its_first_six_digits_then_zeros() -> None:
    assert n.county_area("350205123456000000") == "350205000000000000"


@pytest.mark.parametrize(("seconds", "minutes", "hundredths"), [
    (0, 0, 0), (35, 0, 0), (36, 1, 1), (3000, 50, 83), (3599, 59, 99), (3600, 60, 100),
    (7200, 120, 200)])
def test_the_caps_of_a_span(seconds: int, minutes: int, hundredths: int) -> None:
    assert (n.minute_cap(seconds), n.hundredth_cap(seconds)) == (minutes, hundredths)


@given(st.integers(min_value=0, max_value=400_000))
def test_minute_cap_is_the_most_minutes_whose_hours_fit(seconds: int) -> None:
    fits = seconds / 3600
    cap = n.minute_cap(seconds)
    assert n.hours(cap) <= fits < n.hours(cap + 1)
    assert isinstance(n.hundredth_cap(seconds), int)


@pytest.mark.parametrize(("raw", "expected"), [
    ("0592 605 1234", "0592-6051234"), ("010 6605 1234", "010-66051234"),
    ("(0592) 605-1234", "0592-6051234")])
def test_a_fixed_line_written_in_groups_reads_as_area_code_and_number(
        raw: str, expected: str) -> None:
    assert n.contact_phone(raw) == expected


def test_a_fixed_line_written_with_a_separator_keeps_its_area_code_as_written() -> None:
    """Only digits run together are cut by the rule (three for 01x and 02x, else four)."""
    assert n.contact_phone("039-12345678") == "039-12345678"
    assert n.contact_phone("03912345678") == "0391-2345678"


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026年6月1日9点", cst(2026, 6, 1, 9)), ("20260601T093015", cst(2026, 6, 1, 9, 30, 15)),
    ("2026/6/1 09:30:59", cst(2026, 6, 1, 9, 30, 59)), ("2026/6/1 24:00", cst(2026, 6, 2))])
def test_the_time_of_day_forms_read(raw: str, expected: datetime) -> None:
    assert n.to_datetime(raw) == expected


@pytest.mark.parametrize("raw", ["2026/6/1 09:60", "2026/6/1 09:30:60", "2026/6/1 25:00",
                                 "2026/6/1 24:01", "2026/6/1 abc"])
def test_what_is_not_a_time_of_day_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"^not a time of day$"):
        n.to_datetime(raw)


@pytest.mark.parametrize(("total", "weights"), [(-1, [1]), (5, [0, 0]), (5, [3, -1])])
def test_apportion_refuses_a_negative_total_or_weight_or_no_weight(
        total: int, weights: list[int]) -> None:
    with pytest.raises(ValueError, match=r"^a non-negative total over positive weights$"):
        n.apportion(total, weights)


def test_a_part_of_no_length_gets_nothing() -> None:
    assert n.apportion(6, [0, 3]) == [0, 6]


def test_the_extra_unit_goes_to_the_largest_remainder() -> None:
    assert n.apportion(10, [50_000, 10_000]) == [8, 2]  # quotas 8.33 and 1.67


def test_a_date_of_exactly_the_longest_length_reads() -> None:
    raw = "2016" + " " * (n.MAX_DATE_CHARS - 8) + "/8/9"
    assert len(raw) == n.MAX_DATE_CHARS
    assert n.to_date(raw) == date(2016, 8, 9)


def test_a_date_one_character_longer_is_too_long() -> None:
    with pytest.raises(ValueError, match=r"^too long for a date$"):
        n.to_date("2016" + " " * (n.MAX_DATE_CHARS - 7) + "/8/9")


def test_text_that_is_no_date_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^not a date$"):
        n.to_date("hello")


def test_a_compact_date_reads_its_month_and_day_apart() -> None:
    assert n.to_date("20160809") == date(2016, 8, 9)


@pytest.mark.parametrize("raw", ["35020A", "3502051", "35020512345"])
def test_an_area_that_is_not_6_9_or_12_digits_is_left_unpadded(raw: str) -> None:
    assert n.area_id(raw) == raw


def test_a_name_of_exactly_the_longest_length_is_still_normalized() -> None:
    raw = "阿" * 49 + " • " + "阿" * (n.MAX_NAME_CHARS - 52)
    assert len(raw) == n.MAX_NAME_CHARS
    assert n.person_name(raw) == "阿" * 49 + "·" + "阿" * (n.MAX_NAME_CHARS - 52)


def test_utf8_bytes_read_as_their_text() -> None:
    assert n.text(" 林志贵 ".encode()) == "林志贵"


@pytest.mark.parametrize(("raw", "message"), [
    (True, "a boolean is not a number"), (1.5, "not a whole number"),
    ("1.5", "not a whole number"), ("１２ａ", "not a whole number")])
def test_integer_names_what_is_not_a_whole_number(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^{message}$"):
        n.integer(raw)


@pytest.mark.parametrize("raw", ["2026-06-01 09:60:00", "2026-06-01 09:30:60",
                                 "2026-06-01 24:00:01"])
def test_a_database_time_out_of_range_is_not_a_time_of_day(raw: str) -> None:
    with pytest.raises(ValueError, match=r"^not a time of day$"):
        n.to_datetime(raw)


def test_an_aware_datetime_keeps_its_instant() -> None:
    moment = n.to_datetime(datetime(2026, 6, 1, 1, 0, 0, 500, tzinfo=UTC))
    assert moment == cst(2026, 6, 1, 9) and moment is not None
    assert moment.utcoffset() == timedelta(hours=8) and moment.microsecond == 0


def test_a_naive_datetime_is_local_time() -> None:
    assert n.to_datetime(datetime(2026, 6, 1, 9)) == cst(2026, 6, 1, 9)
