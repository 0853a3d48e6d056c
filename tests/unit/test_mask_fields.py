"""Listings mask by allow-list (issue 18; operator-interface.md "Personal data the bridge
keeps"): a field on the list of known non-personal fields shows, every other one is
masked, including the ones no one thought of."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mappings.mask import ID_FIELDS, PHONE_FIELDS, SHOWN_FIELDS, mask_field

VOLUNTEER = {"vol_id": 30, "real_name": "林志明", "cert_type": "身份证",
             "cert_no": "350205199001011234", "mobile": "13800001234",
             "email": "lin.zhiming@example.com", "birthday": "1990-01-01", "nation": "汉族",
             "reg_time": "2024-03-01 09:00:00", "is_cancel": 0,
             "memberships": [{"team_id": 7, "state": 1, "join_time": "2024-03-02"}]}


def test_an_email_and_an_address_are_masked() -> None:
    shown = mask_field("", {"email": "lin.zhiming@example.com",
                            "address": "厦门市海沧区兴港路10号"})
    assert shown == {"email": "l*********************m", "address": "厦**********号"}


def test_names_id_numbers_and_mobiles_are_masked_in_their_own_way() -> None:
    shown = mask_field("", VOLUNTEER)
    assert isinstance(shown, dict)
    assert shown["real_name"] == "林*明"
    assert shown["cert_no"] == "3502**********1234"
    assert shown["mobile"] == "138****1234"
    assert shown["birthday"] == "1********1" and shown["nation"] == "汉*"


def test_the_allow_listed_fields_show_as_they_are_nested_ones_too() -> None:
    shown = mask_field("", VOLUNTEER)
    assert isinstance(shown, dict)
    assert (shown["vol_id"], shown["cert_type"], shown["is_cancel"]) == (30, "身份证", 0)
    assert shown["reg_time"] == "2024-03-01 09:00:00"
    assert shown["memberships"] == [{"team_id": 7, "state": 1, "join_time": "2024-03-02"}]


def test_an_id_number_written_into_an_allow_listed_field_is_still_redacted() -> None:
    assert mask_field("title", "为350205199001011234服务") == "为3502**********1234服务"


def test_a_field_no_one_listed_is_masked() -> None:
    assert mask_field("", {"wechat_id": "linzhiming88", "disabled": True}) == {
        "wechat_id": "l**********8", "disabled": "T**e"}


@given(st.text(min_size=1).filter(lambda k: k not in SHOWN_FIELDS | ID_FIELDS | PHONE_FIELDS),
       st.text(min_size=3, max_size=40).filter(lambda v: len(v.strip()) >= 3))
def test_an_unlisted_field_shows_only_its_first_and_last_characters(key: str,
                                                                    value: str) -> None:
    shown = mask_field(key, value)
    assert isinstance(shown, str)
    assert len(shown) == len(value.strip()) and set(shown[1:-1]) == {"*"}
