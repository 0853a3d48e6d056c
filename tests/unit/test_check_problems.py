"""Each check's problem as the quarantine shows it: the national error code and the
message, exactly (the message is what an operator reads in `zybridge quarantine`; it
names what is wrong, never the value). Mutation testing found these unasserted. The
checks run inside the test (a table computed at import would escape mutmut)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pytest

from mappings import checks
from mappings.checks import Problem

FMT, CODE, SUM, RANGE = "INVALID_FORMAT", "INVALID_CODE", "CHECKSUM_MISMATCH", "OUT_OF_RANGE"

CASES: dict[str, tuple[Callable[[], Problem | None], Problem]] = {
    "id too short": (lambda: checks.id_problem("01", "12345"),
                     (FMT, "not 17 digits and a check character 0-9 or X")),
    "id lower-case x": (lambda: checks.id_problem("01", "35020319930901105x"),
                        (FMT, "not 17 digits and a check character 0-9 or X")),
    "id birth date": (lambda: checks.id_problem("01", "350203199913320010"),
                      (FMT, "the birth date digits are not a real date")),
    "id check digit": (lambda: checks.id_problem("01", "350203199404281921"),
                       (SUM, "the GB 11643 check digit does not match")),
    "id type unknown": (lambda: checks.id_problem("99", "X"), (CODE, "not a code of id_type.csv")),
    "id type 02": (lambda: checks.id_problem("02", "1"), (FMT, "not the format of id_type 02")),
    "uscc check": (lambda: checks.uscc_problem("12350203DBH7ULNGN1"),
                   (SUM, "the GB 32100 check character does not match")),
    "uscc alphabet": (lambda: checks.uscc_problem("12350203DBH7ULNGNI"),
                      (FMT, "not 18 characters of the GB 32100 alphabet")),
    "contact phone": (lambda: checks.contact_phone_problem("12"),
                      (FMT, "not a mainland mobile nor a fixed line 0xxx-xxxxxxx")),
    "email": (lambda: checks.email_problem("a@b"), (FMT, "not an e-mail address")),
    "mobile": (lambda: checks.mobile_problem("12"),
               (FMT, "not a mainland mobile, nor +852/+853 and 8 digits, nor +886 and 9")),
    "name": (lambda: checks.name_problem("a1"),
             (FMT, "not CJK characters with ·, nor Latin letters and spaces")),
    "string edge": (lambda: checks.string_problem(" a", 1, 5),
                    (FMT, "white space at an end, or only white space")),
    "string control": (lambda: checks.string_problem("a\x01", 1, 5),
                       (FMT, "holds a control character")),
    "string length": (lambda: checks.string_problem("abcdef", 1, 5),
                      (FMT, "6 characters, not 1-5")),
    "area format": (lambda: checks.area_problem("1", None),
                    (FMT, "not a 6, 9, 12 or 18-digit area code")),
    "area county": (lambda: checks.area_problem("999999000000000000", None),
                    (CODE, "its first six digits are not a county-level code of region.csv")),
    "area jurisdiction": (lambda: checks.area_problem("350203000000000000", "3501"),
                          ("FORBIDDEN_REGION", "outside the jurisdiction 3501")),
    "date floor": (lambda: checks.date_problem(date(1899, 12, 31)), (RANGE, "before 1900-01-01")),
    "date future": (lambda: checks.date_problem(date(2030, 1, 1), date(2029, 12, 31)),
                    (RANGE, "in the future")),
    "instant floor": (lambda: checks.instant_problem(datetime(1899, 12, 31, 23, 59)),
                      (RANGE, "before 1900-01-01")),
    "instant future": (lambda: checks.instant_problem(datetime(2030, 1, 1, 0, 1),
                                              datetime(2030, 1, 1)), (RANGE, "in the future")),
    "age": (lambda: checks.age_problem(date(1900, 1, 1), date(2026, 1, 1)),
            (RANGE, "must make the person 0-120 years old")),
}


@pytest.mark.parametrize("case", CASES)
def test_each_check_gives_its_code_and_message(case: str) -> None:
    check, want = CASES[case]
    assert check() == want


@pytest.mark.parametrize("body", ["1234", "12350203DBH7ULNGNN", "12350203DBH7ULNGI"])
def test_a_uscc_body_of_the_wrong_length_or_alphabet_is_refused_by_name(body: str) -> None:
    with pytest.raises(ValueError, match=r"^a USCC body is 17 characters of the GB 32100 "
                                         r"alphabet$"):
        checks.gb32100_check(body)


@pytest.mark.parametrize("body", ["1234", "350203199404281920", "3502031994042819X",
                                  "１" * 17])  # full-width digits: isdigit, not ASCII
def test_an_id_body_that_is_not_17_digits_is_refused_by_name(body: str) -> None:
    with pytest.raises(ValueError, match=r"^an ID number body is 17 digits$"):
        checks.gb11643_check(body)


def test_the_edges_of_the_ranges_pass() -> None:
    assert checks.date_problem(date(1900, 1, 1), date(1900, 1, 1)) is None
    assert checks.instant_problem(datetime(1900, 1, 1), datetime(1900, 1, 1)) is None
    assert checks.age_problem(date(1906, 1, 1), date(2026, 1, 1)) is None
    assert checks.string_problem("abcde", 1, 5) is None
    assert checks.string_problem("a", 1, 5) is None
