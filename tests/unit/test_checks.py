from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import checks
from mappings.checks import Fields

CST = timezone(timedelta(hours=8))
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
digits17 = st.text("0123456789", min_size=17, max_size=17)
uscc17 = st.text(USCC_ALPHABET, min_size=17, max_size=17)


# --- GB 11643 -------------------------------------------------------------------------

@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_published_id_numbers_validate(number: str) -> None:
    assert checks.gb11643_valid(number)


def test_an_id_number_with_a_wrong_check_digit_is_invalid() -> None:
    assert not checks.gb11643_valid("110105194912310021")


def test_a_lower_case_x_is_not_a_valid_check_character() -> None:
    assert not checks.gb11643_valid("11010519491231002x")


@given(digits17)
def test_a_computed_id_check_digit_always_validates(body: str) -> None:
    assert checks.gb11643_valid(body + checks.gb11643_check(body))


@given(digits17, st.integers(0, 16), st.integers(1, 9))
def test_changing_one_id_digit_breaks_the_check(body: str, pos: int, delta: int) -> None:
    number = body + checks.gb11643_check(body)
    changed = str((int(number[pos]) + delta) % 10)
    assert not checks.gb11643_valid(number[:pos] + changed + number[pos + 1:])


@given(digits17, st.sampled_from("0123456789X"))
def test_any_other_id_check_character_fails(body: str, other: str) -> None:
    right = checks.gb11643_check(body)
    if other != right:
        assert not checks.gb11643_valid(body + other)


def test_the_id_check_digit_needs_17_digits() -> None:
    with pytest.raises(ValueError):
        checks.gb11643_check("1234")


# --- GB 32100 -------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["91440300708461136T", "91330100716105852F",
                                  "914403001922038216"])
def test_published_credit_codes_validate(code: str) -> None:
    assert checks.gb32100_valid(code)


@given(uscc17)
def test_a_computed_uscc_check_character_always_validates(body: str) -> None:
    assert checks.gb32100_valid(body + checks.gb32100_check(body))


@given(uscc17, st.integers(0, 16), st.integers(1, 30))
def test_changing_one_uscc_character_breaks_the_check(body: str, pos: int, delta: int) -> None:
    code = body + checks.gb32100_check(body)
    changed = USCC_ALPHABET[(USCC_ALPHABET.index(code[pos]) + delta) % 31]
    assert not checks.gb32100_valid(code[:pos] + changed + code[pos + 1:])


def test_a_uscc_with_a_letter_outside_the_alphabet_is_a_format_problem() -> None:
    assert checks.uscc_problem("91440300708461136I") == (
        "INVALID_FORMAT", "not 18 characters of the GB 32100 alphabet")


def test_a_uscc_with_a_wrong_check_character_is_a_checksum_problem() -> None:
    problem = checks.uscc_problem("91440300708461136A")
    assert problem is not None and problem[0] == "CHECKSUM_MISMATCH"


# --- id_number formats ----------------------------------------------------------------

@pytest.mark.parametrize(("id_type", "number"), [
    ("01", "11010519491231002X"), ("02", "A1234567"), ("02", "AB123456A"), ("03", "51234567"),
    ("04", "12345678"), ("04", "A123456789"), ("05", "E12345678"), ("08", "H12345678"),
])
def test_well_formed_id_numbers_pass(id_type: str, number: str) -> None:
    assert checks.id_problem(id_type, number) is None


@pytest.mark.parametrize(("id_type", "number", "code"), [
    ("01", "1101051949123100", "INVALID_FORMAT"),
    ("01", "110105194913310025", "INVALID_FORMAT"),
    ("01", "110105194912310021", "CHECKSUM_MISMATCH"),
    ("02", "A12345", "INVALID_FORMAT"), ("03", "21234567", "INVALID_FORMAT"),
    ("04", "A323456789", "INVALID_FORMAT"), ("05", "E1-2345", "INVALID_FORMAT"),
    ("08", "H123", "INVALID_FORMAT"), ("07", "H12345678", "INVALID_CODE"),
])
def test_malformed_id_numbers_are_refused(id_type: str, number: str, code: str) -> None:
    problem = checks.id_problem(id_type, number)
    assert problem is not None and problem[0] == code


def test_birth_date_and_gender_come_from_the_id_number() -> None:
    assert checks.id_birth("11010519491231002X") == date(1949, 12, 31)
    assert checks.id_gender("11010519491231002X") == "2"
    assert checks.id_gender("440524188001010014") == "1"


def test_a_number_with_an_impossible_date_is_not_a_mainland_id() -> None:
    body = "11010519490231002"
    assert not checks.is_mainland_id(body + checks.gb11643_check(body))


# --- strings, names, phones -----------------------------------------------------------

@pytest.mark.parametrize("value", [" 林", "林\u3000", "\ufeff林", "林\u00a0", "\u3000"])
def test_edge_white_space_is_a_format_problem(value: str) -> None:
    assert checks.string_problem(value, 1, 20) is not None


def test_a_control_character_is_a_format_problem() -> None:
    assert checks.string_problem("a\x07b", 1, 20) is not None


def test_a_newline_is_allowed_only_in_multiline_fields() -> None:
    assert checks.string_problem("a\nb", 1, 20) is not None
    assert checks.string_problem("a\nb", 1, 20, multiline=True) is None


def test_lengths_count_characters_not_bytes() -> None:
    assert checks.string_problem("志" * 20, 1, 20) is None
    assert checks.string_problem("志" * 21, 1, 20) is not None


@pytest.mark.parametrize("name", ["林志贵", "阿依古丽·买买提", "John Smith", "𠀀林"])
def test_valid_person_names_pass(name: str) -> None:
    assert checks.name_problem(name) is None


@pytest.mark.parametrize("name", ["林 志贵", "·林", "林··贵", "John林", "Jo.hn", "林1"])
def test_invalid_person_names_are_refused(name: str) -> None:
    assert checks.name_problem(name) is not None


@pytest.mark.parametrize("value", ["13800000000", "+85291234567", "+85366123456",
                                   "+886912345678"])
def test_national_mobile_forms_pass(value: str) -> None:
    assert checks.mobile_problem(value) is None


@pytest.mark.parametrize("value", ["12800000000", "+8529123456", "+88691234567", "0592-1234567"])
def test_other_numbers_are_not_mobiles(value: str) -> None:
    assert checks.mobile_problem(value) is not None


def test_contact_phones_are_mobiles_or_fixed_lines() -> None:
    assert checks.contact_phone_problem("0592-1234567") is None
    assert checks.contact_phone_problem("010-12345678") is None
    assert checks.contact_phone_problem("+85291234567") is not None


def test_email_needs_an_at_and_a_domain() -> None:
    assert checks.email_problem("a@b.cn") is None
    assert checks.email_problem("a.b.cn") is not None


# --- areas and dates ------------------------------------------------------------------

def test_a_county_area_id_passes() -> None:
    assert checks.area_problem("350205001000000000", None) is None


def test_a_city_level_code_is_not_an_area_id() -> None:
    assert checks.area_problem("350200000000000000", None) == (
        "INVALID_CODE", "its first six digits are not a county-level code of region.csv")


def test_an_area_id_needs_six_zeros_at_the_end() -> None:
    problem = checks.area_problem("350205001000000001", None)
    assert problem is not None and problem[0] == "INVALID_FORMAT"


def test_an_area_outside_the_jurisdiction_is_forbidden() -> None:
    problem = checks.area_problem("350102000000000000", "3502")
    assert problem is not None and problem[0] == "FORBIDDEN_REGION"


def test_ages_from_0_to_120_pass() -> None:
    today = date(2026, 6, 20)
    assert checks.age_problem(date(1906, 6, 20), today) is None
    assert checks.age_problem(today, today) is None


def test_ages_over_120_or_below_0_are_out_of_range() -> None:
    today = date(2026, 6, 20)
    assert checks.age_problem(date(1905, 6, 20), today) is not None
    assert checks.age_problem(date(2026, 6, 21), today) is not None


def test_dates_before_1900_are_out_of_range() -> None:
    assert checks.date_problem(date(1899, 12, 31)) is not None
    assert checks.date_problem(date(1900, 1, 1)) is None


def test_an_instant_after_now_is_in_the_future() -> None:
    now = datetime(2026, 6, 20, 12, tzinfo=CST)
    assert checks.instant_problem(now + timedelta(seconds=1), now) == (
        "OUT_OF_RANGE", "in the future")
    assert checks.instant_problem(now, now) is None


# --- Fields ---------------------------------------------------------------------------

def test_a_problem_with_a_required_field_is_a_refusal() -> None:
    f = Fields()
    f.string("name", " x", 1, 20, required=True, source="real_name")
    assert [r.field for r in f.reasons] == ["name"] and not f.warnings
    assert "name" not in f.payload


def test_a_problem_with_an_optional_field_is_a_warning_and_leaves_it_out() -> None:
    f = Fields()
    f.string("address", "路" * 51, 1, 50, required=False, source="address")
    assert not f.reasons and [w.field for w in f.warnings] == ["address"]
    assert "address" not in f.payload


def test_an_absent_required_field_is_required() -> None:
    f = Fields()
    f.string("recorder", None, 1, 20, required=True, source="recorder")
    assert [(r.field, r.code) for r in f.reasons] == [("recorder", "REQUIRED")]


def test_an_absent_optional_field_is_silently_left_out() -> None:
    f = Fields()
    f.string("email", None, 1, 50, required=False, source="email")
    assert not f.reasons and not f.warnings and not f.payload
