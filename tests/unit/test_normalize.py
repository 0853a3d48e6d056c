from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import normalize as n
from mappings.checks import gb11643_valid

CST = timezone(timedelta(hours=8))
FULL = str.maketrans("0123456789+-X", "０１２３４５６７８９＋－Ｘ")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
       second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=CST)


# --- text -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["\u3000林志贵 ", "\ufeff林志贵", "\t林志贵\n", "\u00a0林志贵"])
def test_text_trims_unicode_white_space(raw: str) -> None:
    assert n.text(raw) == "林志贵"


@pytest.mark.parametrize("raw", [None, "", "  ", "\u3000\ufeff", True, [1], {"a": 1}])
def test_empty_or_non_text_values_are_absent(raw: object) -> None:
    assert n.text(raw) is None


def test_numbers_read_as_their_digits() -> None:
    assert n.text(350205) == "350205" and n.text(350205.0) == "350205"


def test_multiline_makes_line_ends_lf() -> None:
    assert n.multiline("a\r\nb\rc") == "a\nb\nc"


def test_integer_reads_digits_and_refuses_other_text() -> None:
    assert n.integer(" ３ ") == 3 and n.integer(4.0) == 4 and n.integer("") is None
    with pytest.raises(ValueError):
        n.integer("3.5")
    with pytest.raises(ValueError):
        n.integer(True)


def test_items_split_on_every_listed_separator() -> None:
    assert n.items("环保、助老,义诊，支教；普法; ,") == ["环保", "助老", "义诊", "支教", "普法"]


# --- dates ----------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["2016-08-08", "2016/8/8", "2016年8月8日", "20160808",
                                 "2016.8.8", "２０１６－０８－０８", " 2016-08-08 ",
                                 "2016 年 8 月 8 日"])
def test_every_local_date_form_reads(raw: str) -> None:
    assert n.to_date(raw) == date(2016, 8, 8)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2016-08-08 09:30:00", at(2016, 8, 8, 9, 30)),
    ("2016/8/8 9:30", at(2016, 8, 8, 9, 30)),
    ("2016年8月8日 9时30分", at(2016, 8, 8, 9, 30)),
    ("2016年8月8日9时30分15秒", at(2016, 8, 8, 9, 30, 15)),
    ("2016-08-08T09:30:00", at(2016, 8, 8, 9, 30)),
    ("20160808 093000", at(2016, 8, 8, 9, 30)),
    ("2016-08-08 09:30:00.0", at(2016, 8, 8, 9, 30)),
    ("2016-08-08T01:30:00Z", at(2016, 8, 8, 9, 30)),
    ("2016-08-08T09:30:00+08:00", at(2016, 8, 8, 9, 30)),
    ("2016-08-08 24:00:00", at(2016, 8, 9)),
    ("2016-08-08", at(2016, 8, 8)),
])
def test_date_times_read_as_local_time(raw: str, expected: datetime) -> None:
    assert n.to_datetime(raw) == expected


def test_a_datetime_is_in_plus_eight() -> None:
    moment = n.to_datetime("2016-08-08T01:30:00Z")
    assert moment is not None and moment.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("raw", ["2016-02-30", "2016-13-01", "2016-08-08 25:00", "yesterday",
                                 "2016-08-08 09:61", "8/8/2016", "2016-08-08 24:30"])
def test_impossible_dates_raise(raw: str) -> None:
    with pytest.raises(ValueError):
        n.to_datetime(raw)


def test_empty_dates_are_absent() -> None:
    assert n.to_datetime("") is None and n.to_date(None) is None


def test_a_naive_datetime_value_is_local_time() -> None:
    assert n.to_datetime(datetime(2016, 8, 8, 9, 30)) == at(2016, 8, 8, 9, 30)


def test_iso_datetime_is_rfc3339_in_plus_eight() -> None:
    assert n.iso_datetime(at(2026, 6, 20, 9)) == "2026-06-20T09:00:00+08:00"
    assert n.iso_datetime(datetime(2026, 6, 20, 1, tzinfo=UTC)) == (
        "2026-06-20T09:00:00+08:00")


# --- identity numbers -----------------------------------------------------------------

def test_id_numbers_lose_spaces_and_get_half_width_and_upper_case() -> None:
    assert n.id_number(" １１０１０５ 19491231 002x ") == "11010519491231002X"


def test_a_15_digit_id_number_is_upgraded_to_18() -> None:
    assert n.id_number("110105491231002") == "11010519491231002X"


@given(st.text("0123456789", min_size=15, max_size=15))
def test_an_upgraded_number_keeps_its_digits_and_validates(old: str) -> None:
    new = n.upgrade15(old)
    assert new[:6] == old[:6] and new[6:8] == "19" and new[8:17] == old[6:]
    assert gb11643_valid(new)


@given(st.text("0123456789", min_size=17, max_size=17), st.sampled_from("0123456789Xx"))
def test_full_width_id_numbers_read_like_half_width(body: str, last: str) -> None:
    number = body + last
    assert n.id_number(number.translate(FULL)) == n.id_number(number) == number.upper()


def test_hong_kong_check_digit_brackets_are_dropped() -> None:
    assert n.id_number("A123456(7)") == "A1234567"


# --- phones ---------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("+86 138-0000-0000", "13800000000"), ("138 0000 0000", "13800000000"),
    ("１３８００００００００", "13800000000"), ("008613800000000", "13800000000"),
    ("0912-345-678", "+886912345678"), ("+886 912 345 678", "+886912345678"),
    ("+886 0912345678", "+886912345678"), ("+852 9123 4567", "+85291234567"),
    ("00853 6612 3456", "+85366123456"),
])
def test_mobiles_normalize(raw: str, expected: str) -> None:
    assert n.mobile(raw) == expected


def test_an_unrecognised_mobile_comes_back_cleaned() -> None:
    assert n.mobile("12-3") == "123"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_full_width_mobiles_read_like_half_width(number: str) -> None:
    assert n.mobile(number.translate(FULL)) == number


@pytest.mark.parametrize(("raw", "expected"), [
    ("0592-1234567", "0592-1234567"), ("(0592)1234567", "0592-1234567"),
    ("0592 12345678", "0592-12345678"), ("01012345678", "010-12345678"),
    ("05921234567", "0592-1234567"), ("+86 138 0000 0000", "13800000000"),
])
def test_contact_phones_normalize(raw: str, expected: str) -> None:
    assert n.contact_phone(raw) == expected


# --- areas and names ------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("350205", "350205000000000000"), ("350205001", "350205001000000000"),
    ("350205001002", "350205001002000000"), (350205, "350205000000000000"),
    ("350205000000000000", "350205000000000000"), ("３５０２０５", "350205000000000000"),
])
def test_area_codes_become_18_digit_area_ids(raw: object, expected: str) -> None:
    assert n.area_id(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("林 志 贵", "林志贵"), ("阿依古丽•买买提", "阿依古丽·买买提"),
    ("阿依古丽・买买提", "阿依古丽·买买提"),
    ("阿依古丽.买买提", "阿依古丽·买买提"), ("阿依古丽 · 买买提", "阿依古丽·买买提"),
    ("John   Smith", "John Smith"), ("ＪＯＨＮ", "JOHN"),
])
def test_person_names_normalize(raw: str, expected: str) -> None:
    assert n.person_name(raw) == expected


# --- service spans --------------------------------------------------------------------

def test_a_span_within_one_day_is_one_span() -> None:
    assert n.day_spans(at(2026, 6, 1, 9), at(2026, 6, 1, 11)) == [
        (at(2026, 6, 1, 9), at(2026, 6, 1, 11))]


def test_an_overnight_span_is_cut_at_midnight() -> None:
    assert n.day_spans(at(2026, 6, 1, 22), at(2026, 6, 2, 2)) == [
        (at(2026, 6, 1, 22), at(2026, 6, 2)), (at(2026, 6, 2), at(2026, 6, 2, 2))]


def test_an_end_at_midnight_closes_the_previous_day() -> None:
    assert n.day_spans(at(2026, 6, 1, 22), at(2026, 6, 2)) == [(at(2026, 6, 1, 22), at(2026, 6, 2))]


def test_midnight_is_taken_in_plus_eight() -> None:
    utc = UTC
    spans = n.day_spans(datetime(2026, 6, 1, 14, tzinfo=utc),
                        datetime(2026, 6, 1, 18, tzinfo=utc))
    assert [b for _, b in spans] == [at(2026, 6, 2), at(2026, 6, 2, 2)]


@pytest.mark.parametrize(("minutes", "expected"), [(50, 0.83), (10, 0.16), (60, 1.0),
                                                   (1, 0.01), (0, 0.0), (90, 1.5)])
def test_hours_are_floored_to_hundredths(minutes: int, expected: float) -> None:
    assert n.hours(minutes) == expected


def test_apportion_gives_the_remainder_to_the_largest_fraction() -> None:
    assert n.apportion(10, [3600, 7200]) == [3, 7]


def test_apportion_breaks_ties_toward_the_earlier_part() -> None:
    assert n.apportion(1, [3600, 3600]) == [1, 0]


@given(st.lists(st.integers(1, 5) .map(lambda k: k * 3600), min_size=1, max_size=6),
       st.data())
def test_apportioning_sums_and_fits_each_span(weights: list[int], data: st.DataObject) -> None:
    total = data.draw(st.integers(0, sum(weights) // 60))
    shares = n.apportion(total, weights)
    assert sum(shares) == total
    assert all(n.hours(m) * 3600 <= w for m, w in zip(shares, weights, strict=True))
    assert shares == n.apportion(total, weights)


@given(st.lists(st.integers(1, 90_000), min_size=1, max_size=6), st.data())
def test_apportioning_any_seconds_sums_and_stays_near_proportion(
        weights: list[int], data: st.DataObject) -> None:
    total = data.draw(st.integers(0, sum(weights) // 60))
    shares = n.apportion(total, weights)
    assert sum(shares) == total
    quotas = [Fraction(total * w, sum(weights)) for w in weights]
    assert all(m >= math.floor(q) for m, q in zip(shares, quotas, strict=True))
    # a part gets more than its rounded-up quota only when another is full to its span
    # (80 s holds 1 minute: [80, 22600] seconds share 349 minutes as [1, 348])
    if not any(m >= n.minute_cap(w) for m, w in zip(shares, weights, strict=True)):
        assert all(m <= math.ceil(q) for m, q in zip(shares, quotas, strict=True))


def test_apportioning_gives_a_full_part_s_excess_to_the_others() -> None:
    shares = n.apportion(349, [80, 35, 90, 99, 22600, 31])
    assert sum(shares) == 349
    assert all(n.hours(m) * 3600 <= w for m, w in
               zip(shares, [80, 35, 90, 99, 22600, 31], strict=True))


@given(st.integers(1, 9999), st.integers(0, 13), st.integers(0, 32),
       st.one_of(st.none(), st.tuples(st.integers(0, 25), st.integers(0, 61),
                                     st.integers(0, 61))), st.sampled_from([" ", "T"]))
def test_the_fast_path_for_database_stamps_reads_what_the_general_parser_reads(
        year: int, month: int, day: int, clock: tuple[int, int, int] | None, sep: str) -> None:
    from mappings.normalize import _parse, _parse_general
    stamp = f"{year:04d}-{month:02d}-{day:02d}"
    if clock is not None:
        stamp += f"{sep}{clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d}"
    outcomes = []
    for parse in (_parse, _parse_general):
        try:
            outcomes.append(parse(stamp))
        except ValueError:
            outcomes.append(None)
    assert outcomes[0] == outcomes[1]
    if outcomes[0] is not None:
        assert outcomes[0].utcoffset() == outcomes[1].utcoffset()  # type: ignore[union-attr]
