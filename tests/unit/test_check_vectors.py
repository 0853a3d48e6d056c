"""GB 11643 and GB 32100 check characters against an independent implementation
(python-stdnum's cn.ric and cn.uscc): a fixed vector for every check character each
standard has (eleven and thirty-one), and a differential property over random bodies.

The properties of test_checks.py check the functions against themselves, so a permuted
check table (``"10X98765432"`` → ``"10X98765423"``) passed them; these do not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from mappings import checks

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

# One ID number per check character 0–9 and X (area 350203, real birth dates), each valid
# by stdnum.cn.ric, which computed its check character (not the code under test).
ID_VECTORS = ["350203199404281920", "350203199311067511", "350203199006296692",
              "350203200101057433", "350203199309181534", "350203199712279945",
              "350203199112080326", "350203199101275777", "350203200205222018",
              "350203199111032509", "35020319930901105X"]

# One USCC per check character of the GB 32100 alphabet (stdnum.cn.uscc).
USCC_VECTORS = ["12350203DBH7ULNGN0", "53350203L3CX7R0XX1", "93350203QCJ2630YC2",
                "11350203HXU6TXFJ63", "13350203JCDUWQG744", "13350203DJX3MFW7J5",
                "1335020327GQRGNHD6", "91350203RKTRJKGWN7", "933502037X6YMT96W8",
                "21350203H9F8B2XMY9", "933502032FXFPY9NXA", "233502035WTA62YYHB",
                "52350203GCUK5837XC", "92350203C423PDCAED", "22350203X2R6Q8G4LE",
                "22350203G1XWA1WDHF", "53350203JY31E1P0KG", "233502032430E6R9LH",
                "13350203YMR61N362J", "223502036XBFW7A4QK", "12350203TP15C7QJ3L",
                "53350203GU2RC5474M", "52350203J4G5JXE4FN", "23350203X27MXL055P",
                "113502036RPEQM4U0Q", "22350203M2ATE4X98R", "13350203C3414Y7A1T",
                "2335020357Q4QN3C4U", "52350203URK52D23CW", "933502039YAFT03DGX",
                "23350203PT05K5N6XY"]


def test_the_id_vectors_cover_all_eleven_check_characters() -> None:
    assert sorted(v[17] for v in ID_VECTORS) == sorted("0123456789X")


def test_the_uscc_vectors_cover_all_thirty_one_check_characters() -> None:
    assert sorted(v[17] for v in USCC_VECTORS) == sorted(USCC_ALPHABET)


@pytest.mark.parametrize("number", ID_VECTORS, ids=lambda v: f"check-{v[17]}")
def test_the_id_check_character_matches_the_vector(number: str) -> None:
    assert checks.gb11643_check(number[:17]) == number[17]


@pytest.mark.parametrize("number", ID_VECTORS, ids=lambda v: f"check-{v[17]}")
def test_an_id_vector_is_a_mainland_id_without_problems(number: str) -> None:
    assert ric.is_valid(number)
    assert checks.is_mainland_id(number)
    assert checks.id_problem("01", number) is None


@pytest.mark.parametrize("code", USCC_VECTORS, ids=lambda v: f"check-{v[17]}")
def test_the_uscc_check_character_matches_the_vector(code: str) -> None:
    assert checks.gb32100_check(code[:17]) == code[17]
    assert checks.uscc_problem(code) is None


@given(st.text("0123456789", min_size=17, max_size=17))
def test_the_id_check_character_agrees_with_stdnum(body: str) -> None:
    # stdnum takes the whole number and ignores its last character
    assert checks.gb11643_check(body) == ric.calc_check_digit(body + "?")


@given(st.text("0123456789", min_size=8, max_size=8),
       st.text(USCC_ALPHABET, min_size=9, max_size=9))
def test_the_uscc_check_character_agrees_with_stdnum(head: str, tail: str) -> None:
    assert checks.gb32100_check(head + tail) == uscc.calc_check_digit(head + tail)


@given(st.text("0123456789", min_size=17, max_size=17), st.sampled_from("0123456789X"))
def test_id_validity_agrees_with_stdnum_on_the_check_character(body: str, last: str) -> None:
    """Only the check character decides: stdnum's ric also checks the birth date, so the
    comparison is on gb11643_valid, which does not."""
    assert checks.gb11643_valid(body + last) == (ric.calc_check_digit(body + "?") == last)
