"""The rules of national-api.md that one record can be checked against: GB 11643 (ID
number) and GB 32100 (统一社会信用代码) check digits and region digits (region_history.csv),
id_number formats, strings, names, phones, area ids with their township digits
(township.csv), dates; and `Fields`, which gathers a payload with its refusals
(quarantine reasons) and warnings (optional values dropped).

A problem is a `(code, message)` pair with a national item error code; messages never
hold the value itself (PIPL), only what is wrong with it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from mappings import codes
from mappings.result import Reason

Problem = tuple[str, str]

# Unicode White_Space, plus U+FEFF, which the interface treats as white space too.
WHITE_SPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"
               + "".join(chr(c) for c in range(0x2000, 0x200B)))
# CJK Unified Ideographs and every extension block (A; B–F, I; G–H, J).
CJK = ("\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002a6df\U0002a700-\U0002ee5f"
       "\U00030000-\U0003347f")
MIDDLE_DOT = "\u00b7"
FLOOR = date(1900, 1, 1)

_CJK_NAME = re.compile(f"[{CJK}]+(?:{MIDDLE_DOT}[{CJK}]+)*")
_LATIN_NAME = re.compile("[A-Za-z]+(?: [A-Za-z]+)*")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LF = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_WHITE = frozenset(WHITE_SPACE)
_MOBILE = re.compile(r"1[3-9][0-9]{9}|\+85[23][0-9]{8}|\+886[0-9]{9}", re.ASCII)
_CONTACT_PHONE = re.compile(r"1[3-9][0-9]{9}|0[0-9]{2,3}-[0-9]{7,8}", re.ASCII)
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_ID18 = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_AREA = re.compile(r"[0-9]{12}0{6}", re.ASCII)
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC = re.compile(f"[{_USCC_CHARS}]{{18}}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_CODE_OFFSET = ord("0") * sum(_ID_WEIGHTS)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# 港澳台居民居住证 numbers: sent as 01 (national-api.md §6), though 830000 is no GB/T 2260
# code and so not in region_history.csv.
RESIDENCE_PERMIT_REGIONS = frozenset({"810000", "820000", "830000"})
NATIONAL_AUTHORITY = "100000"   # a USCC registered by a national authority

# id_number formats other than 01 (national-api.md §6, volunteer).
ID_FORMATS: dict[str, re.Pattern[str]] = {
    "02": re.compile(r"[A-Z]{1,2}[0-9]{6}[0-9A]", re.ASCII),
    "03": re.compile(r"[1578][0-9]{7}", re.ASCII),
    "04": re.compile(r"[0-9]{8}|[A-Z][12][0-9]{8}", re.ASCII),
    "05": re.compile(r"[A-Z0-9]{5,17}", re.ASCII),
    "08": re.compile(r"[A-Z0-9]{6,20}", re.ASCII),
}


# --- check digits ---------------------------------------------------------------------

def gb11643_check(body: str) -> str:
    """The check character of an ID number's first 17 digits (ISO 7064 MOD 11-2)."""
    if len(body) != 17 or not body.isascii() or not body.isdigit():
        raise ValueError("an ID number body is 17 digits")
    # Σ digit × weight, from the ASCII codes: Σ (code - 48) × weight
    total = sum(map(operator.mul, body.encode("ascii"), _ID_WEIGHTS)) - _ID_CODE_OFFSET
    return _ID_CHECK[total % 11]


def gb11643_valid(number: str) -> bool:
    return bool(_ID18.fullmatch(number)) and gb11643_check(number[:17]) == number[17]


def gb32100_check(body: str) -> str:
    """The check character of a USCC's first 17 characters (GB 32100, MOD 31)."""
    if len(body) != 17 or any(c not in _USCC_CHARS for c in body):
        raise ValueError("a USCC body is 17 characters of the GB 32100 alphabet")
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def gb32100_valid(code: str) -> bool:
    return bool(_USCC.fullmatch(code)) and gb32100_check(code[:17]) == code[17]


def uscc_region_known(code: str) -> bool:
    """Characters 3–8 of a USCC: `100000` or a code of region_history.csv."""
    region = code[2:8]
    return region == NATIONAL_AUTHORITY or region in codes.regions_ever()


def uscc_problem(code: str) -> Problem | None:
    """Format, then the registering authority's region (characters 3–8), then the check
    character (national-api.md §6, organization)."""
    if not _USCC.fullmatch(code):
        return "INVALID_FORMAT", "not 18 characters of the GB 32100 alphabet"
    if not code[2:8].isdigit():
        return "INVALID_FORMAT", "characters 3-8 (the registering region) are not six digits"
    if not uscc_region_known(code):
        return "INVALID_FORMAT", ("characters 3-8 are neither 100000 nor a region code that "
                                  "ever existed (region_history.csv)")
    if gb32100_check(code[:17]) != code[17]:
        return "CHECKSUM_MISMATCH", "the GB 32100 check character does not match"
    return None


# --- ID numbers -----------------------------------------------------------------------

def id_birth(number: str) -> date | None:
    """The birth date digits 7–14 of an 18-character ID number hold, if a real date."""
    if not _ID18.fullmatch(number):
        return None
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def id_gender(number: str) -> str:
    """GB/T 2261.1 code from digit 17: odd is 1 (male), even 2 (female)."""
    return "1" if int(number[16]) % 2 else "2"


def id_region_known(number: str) -> bool:
    """The first six digits are a region code that existed at any time (region_history.csv;
    no year is compared: a number keeps the code of where it was issued) or a 港澳台居民
    居住证 prefix."""
    region = number[:6]
    return region in codes.regions_ever() or region in RESIDENCE_PERMIT_REGIONS


def is_mainland_id(number: str) -> bool:
    """A number that passes every rule of id_type 01: a valid GB 11643 check digit, a real
    birth date and a region code that existed."""
    return id_problem("01", number) is None


def _mainland_problem(number: str) -> Problem | None:
    if not _ID18.fullmatch(number):
        return "INVALID_FORMAT", "not 17 digits and a check character 0-9 or X"
    if id_birth(number) is None:
        return "INVALID_FORMAT", "the birth date digits are not a real date"
    if not gb11643_valid(number):
        return "CHECKSUM_MISMATCH", "the GB 11643 check digit does not match"
    if not id_region_known(number):
        return "INVALID_CODE", ("the first six digits are not a region code that ever "
                                "existed (region_history.csv)")
    return None


def id_problem(id_type: str, number: str) -> Problem | None:
    """What is wrong with `number` as an id_number of `id_type` (a code of id_type.csv).
    For 01: the format, the birth date, the check digit, then the region digits."""
    if id_type == "01":
        return _mainland_problem(number)
    pattern = ID_FORMATS.get(id_type)
    if pattern is None:
        return "INVALID_CODE", "not a code of id_type.csv"
    if not pattern.fullmatch(number):
        return "INVALID_FORMAT", f"not the format of id_type {id_type}"
    return None


# --- strings --------------------------------------------------------------------------

def string_problem(value: str, lo: int, hi: int, *, multiline: bool = False) -> Problem | None:
    """The interface's rules for every string: no edge white space, no control
    characters (`\\n` allowed in multi-line fields), length in characters."""
    if not value or value[0] in _WHITE or value[-1] in _WHITE:
        return "INVALID_FORMAT", "white space at an end, or only white space"
    if (_CONTROL_BUT_LF if multiline else _CONTROL).search(value):
        return "INVALID_FORMAT", "holds a control character"
    if not lo <= len(value) <= hi:
        return "INVALID_FORMAT", f"{len(value)} characters, not {lo}-{hi}"
    return None


def name_problem(value: str) -> Problem | None:
    """A person's name: CJK characters joined by `·`, or Latin letters and spaces."""
    if _CJK_NAME.fullmatch(value) or _LATIN_NAME.fullmatch(value):
        return None
    return "INVALID_FORMAT", "not CJK characters with ·, nor Latin letters and spaces"


def mobile_problem(value: str) -> Problem | None:
    if _MOBILE.fullmatch(value):
        return None
    return "INVALID_FORMAT", "not a mainland mobile, nor +852/+853 and 8 digits, nor +886 and 9"


def contact_phone_problem(value: str) -> Problem | None:
    if _CONTACT_PHONE.fullmatch(value):
        return None
    return "INVALID_FORMAT", "not a mainland mobile nor a fixed line 0xxx-xxxxxxx"


def email_problem(value: str) -> Problem | None:
    if _EMAIL.fullmatch(value):
        return None
    return "INVALID_FORMAT", "not an e-mail address"


# --- area ids and dates ---------------------------------------------------------------

def unknown_township(area: str) -> str | None:
    """The 9-digit township code of an area id whose county township.csv lists, when its
    township digits are neither 000 nor one of that county's; else None (also for a
    string that is not an area id)."""
    listed = codes.townships().get(area[:6])
    if listed is None or not _AREA.fullmatch(area) or area[6:9] == "000" or area[6:9] in listed:
        return None
    return area[:9]


def area_problem(area: str, jurisdiction: str | None) -> Problem | None:
    """An 18-digit area id on a county-level code of region.csv, its township digits 000 or
    a township of township.csv (when the county is listed there), inside the jurisdiction."""
    if not _AREA.fullmatch(area):
        return "INVALID_FORMAT", "not a 6, 9, 12 or 18-digit area code"
    if area[:6] not in codes.counties():
        return "INVALID_CODE", "its first six digits are not a county-level code of region.csv"
    if (township := unknown_township(area)) is not None:
        return "INVALID_CODE", f"township {township} is not in township.csv for its county"
    if jurisdiction and not area.startswith(jurisdiction):
        return "FORBIDDEN_REGION", f"outside the jurisdiction {jurisdiction}"
    return None


def date_problem(value: date, today: date | None = None) -> Problem | None:
    """Not before 1900-01-01; when `today` is given, not after it."""
    day = value.date() if isinstance(value, datetime) else value
    if day < FLOOR:
        return "OUT_OF_RANGE", "before 1900-01-01"
    if today is not None and day > today:
        return "OUT_OF_RANGE", "in the future"
    return None


def instant_problem(value: datetime, now: datetime | None = None) -> Problem | None:
    """Not before 1900-01-01; when `now` is given, not after it."""
    if value.date() < FLOOR:
        return "OUT_OF_RANGE", "before 1900-01-01"
    if now is not None and value > now:
        return "OUT_OF_RANGE", "in the future"
    return None


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def age_problem(birth: date, today: date) -> Problem | None:
    if birth > today or age_on(birth, today) > 120:
        return "OUT_OF_RANGE", "must make the person 0-120 years old"
    return None


# --- one record's fields --------------------------------------------------------------

@dataclass(slots=True)
class Fields:
    """Builds one national payload. A problem with a required field is a refusal (the
    row is quarantined); with an optional one, a warning, and the value is left out."""

    payload: dict[str, Any] = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)

    def put(self, name: str, value: Any) -> None:
        self.payload[name] = value

    def refuse(self, name: str, code: str, message: str) -> None:
        self.reasons.append(Reason(name, code, message))

    def warn(self, name: str, code: str, message: str) -> None:
        self.warnings.append(Reason(name, code, message))

    def flag(self, name: str, problem: Problem, *, required: bool) -> None:
        code, message = problem
        if required:
            self.refuse(name, code, message)
        else:
            self.warn(name, code, f"{message}; left out")

    def missing(self, name: str, source: str, *, required: bool) -> None:
        """An absent value: REQUIRED for a required field, nothing for an optional one."""
        if required:
            self.refuse(name, "REQUIRED", f"{source} is empty")

    def string(self, name: str, value: str | None, lo: int, hi: int, *, required: bool,
               source: str, multiline: bool = False,
               rule: Callable[[str], Problem | None] | None = None) -> str | None:
        """Check a normalized string and put it; returns it when it was put."""
        if value is None:
            self.missing(name, source, required=required)
            return None
        problem = string_problem(value, lo, hi, multiline=multiline)
        if problem is None and rule is not None:
            problem = rule(value)
        if problem is not None:
            self.flag(name, problem, required=required)
            return None
        self.put(name, value)
        return value

    def has(self, name: str) -> bool:
        """Whether a refusal names the field."""
        return any(r.field == name for r in self.reasons)
