"""Differential test of the ID number (GB 11643) and USCC (GB 32100) checks against
python-stdnum (`stdnum.cn.ric`, `stdnum.cn.uscc`), on random and generated corpora.

The two must agree on every number except in these known, documented disagreements
(docs/codes.md, "Checked against python-stdnum"):

ID numbers (`01`):
- BIRTH_YEAR: stdnum also requires the region code to have been in force in the birth
  year; national-api.md §6 takes a code that existed at any time (an ID keeps the code of
  where and when it was issued, not of the birth). We accept, stdnum refuses.
- PERMIT_830000: 台湾居民居住证 numbers start with 830000, which is no GB/T 2260 code;
  national-api.md §6 makes them valid `01` numbers. We accept, stdnum refuses.
  (810000 and 820000 are codes of both tables; their disagreements are BIRTH_YEAR ones.)
(stdnum 2.2 raises KeyError, even from is_valid, for an unknown county in a known
province: counted as its refusal.) The region tables themselves hold the same 6,885
codes (test_both_region_tables_hold_the_same_codes), so a region that never existed is
refused by both.

USCCs:
- LETTER_AUTHORITY: GB 32100 lets characters 1–2 (registering authority, entity type) be
  letters of its alphabet (N 农业, Y 其他, …); stdnum wants digits. We accept, stdnum refuses.
- REGION_HISTORY: national-api.md §6 wants characters 3–8 to be 100000 or a code of
  region_history.csv; stdnum takes any six digits. We refuse, stdnum accepts.

Run as a module to measure the agreement figures on larger corpora:
`.venv/bin/python -m tests.unit.test_id_differential [N]`.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidComponent, ValidationError

from mappings import codes
from mappings.checks import gb11643_check, gb32100_check, id_problem, uscc_problem

USCC_SET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
EVER = sorted(codes.regions_ever())
ID_DOCUMENTED = {"agree", "BIRTH_YEAR", "PERMIT_830000"}
USCC_DOCUMENTED = {"agree", "LETTER_AUTHORITY", "REGION_HISTORY"}


def _stdnum_county_known(region: str) -> bool:
    info = {k: v for _, props in numdb.get("cn/loc").info(region) for k, v in props.items()}
    return "county" in info


def _stdnum_ric(number: str) -> str:
    """"valid", or the name of the exception stdnum raised ("InvalidComponent", …).
    stdnum 2.2 raises KeyError, not a ValidationError, for a county code it does not know
    in a province it knows (even from is_valid): counted as its refusal of the region."""
    try:
        ric.validate(number)
    except KeyError:
        return InvalidComponent.__name__
    except ValidationError as exc:
        return type(exc).__name__
    return "valid"


def classify_id(number: str) -> str:
    """"agree", a documented disagreement's name, or "UNDOCUMENTED: …"."""
    ours = id_problem("01", number) is None
    theirs = _stdnum_ric(number)
    if ours == (theirs == "valid"):
        return "agree"
    if ours and theirs == InvalidComponent.__name__:
        if number[:6] == "830000":
            return "PERMIT_830000"
        if _stdnum_county_known(number[:6]):
            return "BIRTH_YEAR"
    return f"UNDOCUMENTED: ours {ours}, stdnum {theirs}, region {number[:6]}"


def classify_uscc(code: str) -> str:
    ours = uscc_problem(code) is None
    theirs = uscc.is_valid(code)
    if ours == theirs:
        return "agree"
    if ours and not code[:2].isdigit():
        return "LETTER_AUTHORITY"
    region = code[2:8]
    if theirs and region != "100000" and region not in codes.regions_ever():
        return "REGION_HISTORY"
    return f"UNDOCUMENTED: ours {ours}, stdnum {theirs}"


# --- corpora --------------------------------------------------------------------------

def _with_check(body: str) -> str:
    return body + gb11643_check(body)


def random_ids(rng: random.Random) -> Iterator[str]:
    """17 random digits and the right check digit (the issue's corpus)."""
    while True:
        yield _with_check(f"{rng.randrange(10 ** 17):017d}")


def generated_ids(rng: random.Random) -> Iterator[str]:
    """A region of region_history.csv (or a 居住证 prefix), a real birth date 1900–2025,
    a sequence, the right check digit; one in ten then has one character changed."""
    first, span = date(1900, 1, 1), (date(2025, 12, 31) - date(1900, 1, 1)).days
    regions = [*EVER, "810000", "820000", "830000"]
    while True:
        born = first + timedelta(days=rng.randrange(span + 1))
        number = _with_check(f"{rng.choice(regions)}{born:%Y%m%d}{rng.randrange(1000):03d}")
        if rng.random() < 0.1:
            at = rng.randrange(18)
            number = number[:at] + rng.choice("0123456789X") + number[at + 1:]
        yield number


def random_usccs(rng: random.Random) -> Iterator[str]:
    while True:
        body = "".join(rng.choice(USCC_SET) for _ in range(17))
        yield body + gb32100_check(body)


def generated_usccs(rng: random.Random) -> Iterator[str]:
    """Authority and type from the GB 32100 set, a region of the history or 100000, an
    organization code, the right check character; one in ten with one character changed."""
    regions = [*EVER, "100000"]
    while True:
        body = (rng.choice("123456789ANY") + rng.choice("123456789") + rng.choice(regions)
                + "".join(rng.choice(USCC_SET) for _ in range(9)))
        code = body + gb32100_check(body)
        if rng.random() < 0.1:
            at = rng.randrange(18)
            code = code[:at] + rng.choice(USCC_SET) + code[at + 1:]
        yield code


def tally(corpus: Iterator[str], classify: Callable[[str], str], n: int) -> Counter[str]:
    return Counter(classify(next(corpus)) for _ in range(n))


# --- tests ----------------------------------------------------------------------------

def test_both_region_tables_hold_the_same_codes() -> None:
    theirs = {f"{i:06d}" for i in range(110000, 830001) if _stdnum_county_known(f"{i:06d}")}
    assert theirs == codes.regions_ever()


@settings(max_examples=300)
@given(st.text("0123456789", min_size=17, max_size=17))
def test_random_ids_disagree_only_in_documented_ways(body: str) -> None:
    assert classify_id(_with_check(body)) in ID_DOCUMENTED


@settings(max_examples=300)
@given(st.sampled_from([*EVER, "810000", "820000", "830000"]),
       st.dates(date(1900, 1, 1), date(2025, 12, 31)), st.integers(0, 999),
       st.integers(0, 17), st.sampled_from("0123456789X"), st.booleans())
def test_generated_ids_disagree_only_in_documented_ways(
        region: str, born: date, seq: int, at: int, char: str, spoil: bool) -> None:
    number = _with_check(f"{region}{born:%Y%m%d}{seq:03d}")
    if spoil:
        number = number[:at] + char + number[at + 1:]
    assert classify_id(number) in ID_DOCUMENTED


@settings(max_examples=300)
@given(st.text("0123456789", min_size=17, max_size=17), st.sampled_from("0123456789X"),
       st.booleans(), st.dates(date(1900, 1, 1), date(2025, 12, 31)), st.booleans())
def test_the_format_date_and_check_digit_rules_agree_exactly(
        body: str, last: str, right: bool, born: date, real_date: bool) -> None:
    if real_date:
        body = f"{body[:6]}{born:%Y%m%d}{body[14:]}"
    number = body + (gb11643_check(body) if right else last)
    ours = id_problem("01", number)
    theirs = _stdnum_ric(number)
    # stdnum's InvalidComponent is a bad date or a region: only the latter passes here
    assert (ours is None or ours[0] == "INVALID_CODE") == (
        theirs == "valid" or (theirs == "InvalidComponent" and _real_date(number)))


def _real_date(number: str) -> bool:
    try:
        ric.get_birth_date(number)
    except InvalidComponent:
        return False
    return True


def test_a_code_in_force_only_after_the_birth_is_the_birth_year_disagreement() -> None:
    number = _with_check("11011819900101001")   # 密云区 since 2015, born 1990
    assert classify_id(number) == "BIRTH_YEAR"


def test_a_taiwan_residence_permit_is_the_830000_disagreement() -> None:
    assert classify_id(_with_check("83000019900305122")) == "PERMIT_830000"


def test_a_region_that_never_existed_is_refused_by_both() -> None:
    number = _with_check("35029919900101001")
    assert id_problem("01", number) is not None and _stdnum_ric(number) != "valid"


@settings(max_examples=300)
@given(st.text(USCC_SET, min_size=17, max_size=17))
def test_random_usccs_disagree_only_in_documented_ways(body: str) -> None:
    assert classify_uscc(body + gb32100_check(body)) in USCC_DOCUMENTED


@settings(max_examples=300)
@given(st.sampled_from("123456789ANY"), st.sampled_from([*EVER, "100000"]),
       st.text(USCC_SET, min_size=9, max_size=9), st.integers(0, 17),
       st.sampled_from(USCC_SET), st.booleans())
def test_generated_usccs_disagree_only_in_documented_ways(
        authority: str, region: str, org: str, at: int, char: str, spoil: bool) -> None:
    body = f"{authority}1{region}{org}"
    code = body + gb32100_check(body)
    if spoil:
        code = code[:at] + char + code[at + 1:]
    assert classify_uscc(code) in USCC_DOCUMENTED


def test_a_letter_authority_is_the_documented_uscc_disagreement() -> None:
    body = "N2350205MJD123456"
    assert classify_uscc(body + gb32100_check(body)) == "LETTER_AUTHORITY"


def test_a_region_that_never_existed_in_a_uscc_is_the_region_history_disagreement() -> None:
    body = "51350299MJD123456"
    assert classify_uscc(body + gb32100_check(body)) == "REGION_HISTORY"


@pytest.mark.parametrize(("corpus", "classify", "documented"), [
    (random_ids, classify_id, ID_DOCUMENTED), (generated_ids, classify_id, ID_DOCUMENTED),
    (random_usccs, classify_uscc, USCC_DOCUMENTED),
    (generated_usccs, classify_uscc, USCC_DOCUMENTED)])
def test_a_seeded_corpus_of_2000_has_only_documented_disagreements(
        corpus: Callable[[random.Random], Iterator[str]], classify: Callable[[str], str],
        documented: set[str]) -> None:
    counts = tally(corpus(random.Random(16)), classify, 2000)
    assert set(counts) <= documented, counts


def main(n: int) -> None:
    """Print the agreement figures of each corpus of `n` numbers (seed 16)."""
    for name, corpus, classify in (("random IDs", random_ids, classify_id),
                                   ("generated IDs", generated_ids, classify_id),
                                   ("random USCCs", random_usccs, classify_uscc),
                                   ("generated USCCs", generated_usccs, classify_uscc)):
        counts = tally(corpus(random.Random(16)), classify, n)
        shown = ", ".join(f"{k} {v} ({v / n:.2%})" for k, v in counts.most_common())
        print(f"{name}, n={n}: {shown}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
