from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.checks import gb11643_check
from mappings.mask import mask_id, mask_name, mask_phone, redact

FULL = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ids = st.text("0123456789", min_size=17, max_size=17).map(lambda b: b + gb11643_check(b))
mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
# text around a number that cannot join it into a longer run
words = st.text(st.sampled_from("林志贵 abc:=，。/_"), max_size=12)


def test_an_18_character_id_keeps_its_first_and_last_four() -> None:
    assert mask_id("350205199001011234") == "3502**********1234"
    assert mask_id("35020519900101123x") == "3502**********123X"


@pytest.mark.parametrize(("raw", "expected"), [("H12345678", "H1*****78"),
                                                ("12345678", "12****78"), ("A1234567", "A1****67")])
def test_a_shorter_id_keeps_its_first_and_last_two(raw: str, expected: str) -> None:
    assert mask_id(raw) == expected


def test_a_very_short_id_is_all_masked() -> None:
    assert mask_id("1234") == "****"


@pytest.mark.parametrize(("raw", "expected"), [
    ("13800000000", "138****0000"), ("+86 138-0000-0000", "+86138****0000"),
    ("+886912345678", "+886*****5678"), ("+85291234567", "+852****4567"),
    ("0592-1234567", "059****4567"), ("1234567", "***4567"), ("123", "***"),
])
def test_phones_show_at_most_their_last_four_digits_and_a_prefix(raw: str, expected: str) -> None:
    assert mask_phone(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("林志贵", "林*贵"), ("林志", "林*"), ("林", "*"),
                                                ("欧阳志贵", "欧**贵"), ("", "")])
def test_names_keep_their_first_and_last_character(raw: str, expected: str) -> None:
    assert mask_name(raw) == expected


@given(ids)
def test_masking_an_id_never_shows_its_middle(number: str) -> None:
    masked = mask_id(number)
    assert masked[4:14] == "*" * 10 and masked[:4] + masked[14:] == number[:4] + number[14:]


@given(mobiles)
def test_masking_a_mobile_never_shows_its_middle(number: str) -> None:
    assert mask_phone(number) == number[:3] + "****" + number[7:]


@given(words, ids, words, st.booleans())
def test_redact_masks_any_id_number_in_text(before: str, number: str, after: str,
                                            full_width: bool) -> None:
    shown = number.translate(FULL) if full_width else number
    out = redact(before + shown + after)
    assert number[4:14] not in out and shown not in out


@given(words, mobiles, words, st.sampled_from(["{}", "+86 {}", "+86{}", "{} "]))
def test_redact_masks_any_mobile_in_text(before: str, number: str, after: str, form: str) -> None:
    out = redact(before + form.format(number) + after)
    assert number not in out.replace(" ", "") and number[3:7] + number[7:] not in out


@pytest.mark.parametrize("raw", ["3502 0519 9001 0112 34", "350205-19900101-1234",
                                 "138-0000-0000", "138 0000 0000", "+852 9123 4567",
                                 "+886 912 345 678", "0912-345-678", "H12345678", "A123456(7)",
                                 "A123456789", "台胞证 12345678", "350205900101123"])
def test_redact_masks_written_forms_of_numbers(raw: str) -> None:
    digits = "".join(c for c in raw if c.isalnum() and c.isascii())
    assert digits not in "".join(c for c in redact(raw) if c.isalnum() and c.isascii())


@pytest.mark.parametrize("raw", [
    "2026-06-20T09:00:00+08:00", "haicang:volunteer:1001", "haicang:service_record:17.g2.d1",
    "V3500002611000123K", "batch 42 of 100", "20260620", "sha256 9f2c4e1a0b3d",
])
def test_redact_leaves_times_refs_and_counts_alone(raw: str) -> None:
    assert redact(raw) == raw


@given(st.text(max_size=80))
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
