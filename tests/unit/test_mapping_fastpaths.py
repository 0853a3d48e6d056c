"""The fast paths of the mapping code read exactly what their general forms read: `text`
and `to_datetime` for a plain str, `_parse` for a database's 'YYYY-MM-DD HH:MM:SS',
`iso_datetime` by isoformat, and `service_parts` for a record within one day."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mappings import checks, fields
from mappings import normalize as n
from mappings.checks import WHITE_SPACE, Fields

CST = timezone(timedelta(hours=8))
# the characters a near-database stamp is made of, and a few that look like them
DIGITS = st.sampled_from("0123456789０１٢")
SEPARATORS = st.sampled_from("-:T t/.年")
SPACES = st.text(alphabet=st.sampled_from(WHITE_SPACE + "x"), max_size=2)


def _outcome(fn: Callable[[Any], object], value: object) -> object:
    """What `fn(value)` returns (with its UTC offset for a datetime), or that it raised."""
    try:
        result = fn(value)
    except ValueError:
        return "ValueError"
    if isinstance(result, datetime):
        return result, result.utcoffset()
    return result


@st.composite
def stamps(draw: st.DrawFn) -> str:
    """'YYYY-MM-DD HH:MM:SS' and near misses: other digits, separators, lengths, edges."""
    year = draw(st.integers(0, 9999))
    fields = [f"{year:04d}", f"{draw(st.integers(0, 13)):02d}",
              f"{draw(st.integers(0, 32)):02d}"]
    clock = [f"{draw(st.integers(0, 25)):02d}", f"{draw(st.integers(0, 61)):02d}",
             f"{draw(st.integers(0, 61)):02d}"]
    shape = draw(st.sampled_from(["date", "stamp", "stamp", "stamp"]))
    s = "-".join(fields) + (draw(st.sampled_from(" T")) + ":".join(clock)
                            if shape == "stamp" else "")
    if draw(st.booleans()):      # one character replaced by a look-alike
        i = draw(st.integers(0, len(s) - 1))
        s = s[:i] + draw(st.one_of(DIGITS, SEPARATORS)) + s[i + 1:]
    return draw(SPACES) + s + draw(SPACES)


@st.composite
def written_dates(draw: st.DrawFn) -> str:
    """A date alone as people write it (2024/5/6, 2024年5月6日, 20240506, …) and near
    misses: three-digit days, a missing 日, a stray look-alike character."""
    year = f"{draw(st.integers(0, 9999)):04d}"
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    width = draw(st.sampled_from(["{:d}", "{:02d}", "{:03d}"]))
    form = draw(st.sampled_from(["{}-{}-{}", "{}/{}/{}", "{}.{}.{}", "{}年{}月{}日",
                                 "{}年{}月{}", "{}{}{}", "{}/{}-{}"]))
    s = form.format(year, width.format(month), width.format(day))
    if draw(st.booleans()):
        i = draw(st.integers(0, len(s) - 1))
        s = s[:i] + draw(st.one_of(DIGITS, SEPARATORS)) + s[i + 1:]
    return s


ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(),
    st.decimals(allow_nan=False, allow_infinity=False), st.binary(max_size=8),
    st.text(max_size=30), st.text(alphabet=st.sampled_from(WHITE_SPACE + "a1"), max_size=6),
    st.datetimes(), st.dates(), st.lists(st.integers(), max_size=2))


@given(ANY_VALUE)
@example("\u3000 志愿 \ufeff")
@example(b"\xff")
@example(3.0)
def test_text_reads_what_the_general_text_reads(value: object) -> None:
    assert _outcome(n.text, value) == _outcome(n._text_general, value)


@settings(max_examples=800)
@given(st.one_of(stamps(), written_dates(), ANY_VALUE))
@example("2024-05-06 24:00:00")
@example("2024-05-06 23:59:60")
@example("2024-02-30 10:00:00")
@example("0000-01-01 00:00:00")
@example("２０２４-05-06 09:30:00")
@example(" 2024-05-06T09:30:00\u3000")
def test_to_datetime_reads_what_the_general_form_reads(value: object) -> None:
    assert _outcome(n.to_datetime, value) == _outcome(n._to_datetime_general, value)


@settings(max_examples=500)
@given(stamps())
def test_the_stamp_parser_reads_what_the_general_parser_reads(value: str) -> None:
    s = value.strip(WHITE_SPACE)
    assert _outcome(n._parse, s) == _outcome(n._parse_general, s)


@settings(max_examples=800)
@given(st.one_of(stamps(), written_dates(), ANY_VALUE))
@example("2024-05-06")
@example("1990年1月15日")
@example("19900115")
@example("2024-05-06T09:30:00")
@example(datetime(2024, 5, 6, 9, 30, 1, 5))
@example(datetime(999, 1, 2, 3, 4, 5))
@example(datetime(1, 1, 1, 0, 0, 0, 1))
def test_a_moment_and_its_text_are_what_to_datetime_and_iso_datetime_give(
        value: object) -> None:
    expected = _outcome(n._to_datetime_general, value)
    got = _outcome(n.to_datetime_text, value)
    if isinstance(expected, tuple):
        moment, offset = expected
        assert isinstance(got, tuple)
        assert got == (moment, n.iso_datetime_general(moment))
        assert got[0].utcoffset() == offset
    else:
        assert got == expected


def test_a_text_that_is_no_date_raises_every_time_it_is_read() -> None:
    for _ in range(3):
        try:
            n.to_datetime("2024-02-30 10:00:00")
        except ValueError:
            continue
        raise AssertionError("a date that does not exist was read")


def test_a_cached_stamp_is_the_value_a_fresh_parse_gives() -> None:
    first = n.to_datetime("2024-05-06 09:30:00")
    n._stamp.cache_clear()
    assert n.to_datetime("2024-05-06 09:30:00") == first == datetime(2024, 5, 6, 9, 30,
                                                                        tzinfo=CST)


OFFSETS = st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-1439, 1439))


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),
                    timezones=OFFSETS))
@example(datetime(999, 1, 2, 3, 4, 5, 999_999, tzinfo=CST))
@example(datetime(2024, 5, 6, 0, 0, tzinfo=timezone(timedelta(hours=-11))))
def test_iso_datetime_writes_what_the_field_by_field_form_writes(moment: datetime) -> None:
    assert n.iso_datetime(moment) == n.iso_datetime_general(moment)


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
@example(datetime(2024, 5, 6, 9, 30, 15, 999_999))
def test_iso_datetime_of_a_cst_moment_is_the_field_by_field_text(naive: datetime) -> None:
    moment = naive.replace(tzinfo=n.CST)
    assert n.iso_datetime(moment) == n.iso_datetime_general(moment)


@given(st.one_of(st.integers(), st.decimals(allow_nan=False, allow_infinity=False),
                 st.floats(), st.booleans(), st.text(max_size=20)))
@example(Decimal("3.0"))
@example(True)
def test_integer_reads_a_plain_int_as_itself(value: object) -> None:
    out = _outcome(n.integer, value)
    if type(value) is int:
        assert out == value
    elif isinstance(value, bool):
        assert out == "ValueError"


def test_a_date_object_is_midnight_local() -> None:
    assert n.to_datetime(date(2024, 5, 6)) == datetime(2024, 5, 6, tzinfo=CST)


SPAN_STARTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1))


@settings(max_examples=300)
@given(SPAN_STARTS, st.integers(1, 86_400), st.integers(0, 1_500),
       st.sampled_from(["minutes", "hundredths"]), st.booleans())
@example(datetime(2024, 5, 6, 23, 0), 3600, 60, "minutes", False)   # ends at midnight
@example(datetime(2024, 5, 6, 9, 0), 30, 1, "minutes", True)         # 0.01 h > 30 s
@example(datetime(2024, 5, 6, 9, 0), 60, 0, "hundredths", True)      # 0.00 h: no part
def test_a_span_within_one_day_is_the_one_part_the_general_split_makes(
        naive: datetime, seconds: int, amount: int, unit: str, utc: bool) -> None:
    start = naive.replace(microsecond=0, tzinfo=CST)     # moments are whole seconds
    end = start + timedelta(seconds=seconds)
    if end > datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), CST):
        end = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), CST)
    if utc:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
    whole = Fields(payload={"volunteer_external_ref": "s:volunteer:1", "start_at": "x",
                            "end_at": "y", "content": "c"})
    general = Fields(payload=dict(whole.payload))
    fast = fields._whole_day(whole, start.astimezone(CST), end.astimezone(CST), amount,
                             int((end - start).total_seconds()), unit)
    slow = fields._day_parts(general, start, end, amount, unit)
    assert fast == slow
    assert [list(p.payload) for p in fast] == [list(p.payload) for p in slow]
    assert whole.reasons == general.reasons


@given(st.text(alphabet=st.sampled_from(WHITE_SPACE + "ab\n\x00"), max_size=6),
       st.integers(0, 3), st.integers(0, 6), st.booleans())
@example("ab \n", 1, 5, False)
@example("", 1, 5, True)
def test_the_string_rules_are_the_ones_the_edge_pattern_gave(
        value: str, lo: int, hi: int, multiline: bool) -> None:
    edge = re.compile(f"^[{re.escape(WHITE_SPACE)}]|[{re.escape(WHITE_SPACE)}]$")
    problem = checks.string_problem(value, lo, hi, multiline=multiline)
    if edge.search(value) or not value.strip(WHITE_SPACE):
        assert problem == ("INVALID_FORMAT", "white space at an end, or only white space")
    else:
        assert problem is None or "white space" not in problem[1]


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_the_id_check_digit_is_iso_7064_mod_11_2(body: str) -> None:
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    total = sum(int(c) * w for c, w in zip(body, weights, strict=True))
    assert checks.gb11643_check(body) == "10X98765432"[total % 11]


CJK_TEXT = st.text(alphabet=st.characters(
    codec="utf-8", categories=["Lo"], min_codepoint=0x3400, max_codepoint=0x3347F),
    min_size=1, max_size=8)


@given(CJK_TEXT)
@example("林志贵")
def test_a_name_of_cjk_characters_alone_is_what_the_general_tidying_gives(name: str) -> None:
    expected = n._tidy_name(name) if n._CJK_ONLY.fullmatch(name) else None
    if expected is not None:
        assert n.person_name(name) == expected == name


@given(st.one_of(CJK_TEXT, st.text(max_size=12)))
def test_a_name_is_tidied_as_the_general_form_tidies_it(name: str) -> None:
    s = n.text(name)
    if s is not None and len(s) <= n.MAX_NAME_CHARS:
        assert n.person_name(name) == n._tidy_name(s)


def test_the_remembered_texts_stay_bounded() -> None:
    start = datetime(2024, 5, 6, tzinfo=CST)
    for i in range(n._ISO_TEXTS_MAX + 10):
        n.iso_datetime(start + timedelta(seconds=i))
    assert 0 < len(n._ISO_TEXTS) <= n._ISO_TEXTS_MAX
    later = start + timedelta(seconds=n._ISO_TEXTS_MAX + 9)
    assert n.iso_datetime(later) == n.iso_datetime_general(later)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
       st.booleans())
def test_a_moment_read_is_written_back_as_the_text_it_was_read_with(
        naive: datetime, as_text: bool) -> None:
    value: object = naive.strftime("%Y-%m-%d %H:%M:%S") if as_text else naive
    read = n.to_datetime_text(value)
    assert read is not None
    assert n.iso_datetime(read[0]) == read[1] == n.iso_datetime_general(read[0])
