"""Primitive checks of the national interface (national-api.md §5–§6): check digits,
formats, strings, dates. Pure functions; the sandbox's own code, independent of mappings/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8))
EPOCH_FLOOR = date(1900, 1, 1)

# Unicode White_Space, plus U+FEFF which the interface treats as white space too.
WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"
    + "".join(chr(c) for c in range(0x2000, 0x200B)))
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LF = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")

# CJK Unified Ideographs and every extension block (A, B, C–I, G–J).
_CJK = ("\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002a6df\U0002a700-\U0002ee5f"
        "\U00030000-\U0003347f")
_CJK_NAME = re.compile(f"[{_CJK}]+(?:\u00b7[{_CJK}]+)*")
_LATIN_NAME = re.compile("[A-Za-z ]+")

EXTERNAL_REF = re.compile(r"[A-Za-z0-9_.:-]{1,128}", re.ASCII)
PHONE = re.compile(r"1[3-9][0-9]{9}|0[0-9]{2,3}-[0-9]{7,8}", re.ASCII)
MOBILE = re.compile(r"1[3-9][0-9]{9}|\+85[23][0-9]{8}|\+886[0-9]{9}", re.ASCII)
_DIGITS18 = re.compile(r"[0-9]{18}", re.ASCII)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII)

# id_number formats other than 01 (national-api.md §6, volunteer).
ID_FORMATS = {
    "02": re.compile(r"[A-Z]{1,2}[0-9]{6}[0-9A]", re.ASCII),
    "03": re.compile(r"[1578][0-9]{7}", re.ASCII),
    "04": re.compile(r"[0-9]{8}|[A-Z][12][0-9]{8}", re.ASCII),
    "05": re.compile(r"[A-Z0-9]{5,17}", re.ASCII),
    "08": re.compile(r"[A-Z0-9]{6,20}", re.ASCII),
}
_MAINLAND = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# 港澳台居民居住证 prefixes: valid 01 numbers (national-api.md §6); 830000 is no GB/T 2260
# code, so region_history.csv does not hold it.
PERMIT_PREFIXES = frozenset({"810000", "820000", "830000"})

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARS)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


# strings --------------------------------------------------------------------------
def string_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why a non-empty string breaks the string rules, or None."""
    if value[0] in WHITE_SPACE or value[-1] in WHITE_SPACE:
        return "leading or trailing white space"
    pattern = _CONTROL_BUT_LF if multiline else _CONTROL
    if pattern.search(value):
        return "a control character"
    return None


def is_person_name(value: str) -> bool:
    return bool(_CJK_NAME.fullmatch(value) or _LATIN_NAME.fullmatch(value))


# GB 11643 and GB 32100 ----------------------------------------------------------------
def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


@dataclass(frozen=True)
class MainlandId:
    birth: date
    gender: str  # "1" male (odd 17th digit), "2" female


def mainland_id_problem(value: str, regions: frozenset[str]) -> str | None:
    """None for a valid 18-digit ID; else "INVALID_FORMAT" (pattern, birth date),
    "CHECKSUM_MISMATCH", or "INVALID_CODE": the first six digits are neither a code of
    `regions` (every region code that ever existed; no year compared) nor a 居住证 prefix."""
    if not _MAINLAND.fullmatch(value) or _id_birth(value) is None:
        return "INVALID_FORMAT"
    if id_check_char(value[:17]) != value[17]:
        return "CHECKSUM_MISMATCH"
    if value[:6] not in regions and value[:6] not in PERMIT_PREFIXES:
        return "INVALID_CODE"
    return None


def mainland_id(value: str, regions: frozenset[str]) -> MainlandId | None:
    """The birth date and gender a valid 18-digit ID carries; None if it is not valid."""
    if mainland_id_problem(value, regions) is not None:
        return None
    birth = _id_birth(value)
    assert birth is not None
    return MainlandId(birth, "1" if int(value[16]) % 2 else "2")


def _id_birth(value: str) -> date | None:
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def uscc_problem(value: str, regions: frozenset[str]) -> str | None:
    """INVALID_FORMAT (length, alphabet, or characters 3–8 neither `100000` nor a code of
    `regions`), CHECKSUM_MISMATCH, or None."""
    if len(value) != 18 or any(c not in _USCC_VALUE for c in value):
        return "INVALID_FORMAT"
    authority = value[2:8]
    if authority != "100000" and (not authority.isdigit() or authority not in regions):
        return "INVALID_FORMAT"
    if uscc_check_char(value[:17]) != value[17]:
        return "CHECKSUM_MISMATCH"
    return None


# area ids -----------------------------------------------------------------------
def area_problem(value: str, counties: frozenset[str], townships: Mapping[str, frozenset[str]],
                 jurisdiction: str) -> str | None:
    """INVALID_FORMAT, INVALID_CODE (county, or township digits of a county `townships`
    lists that are neither 000 nor one of its own) or FORBIDDEN_REGION, or None."""
    if not _DIGITS18.fullmatch(value) or value[12:] != "000000":
        return "INVALID_FORMAT"
    if value[4:6] == "00" or value[:6] not in counties:
        return "INVALID_CODE"
    listed = townships.get(value[:6])
    if listed is not None and value[6:9] != "000" and value[6:9] not in listed:
        return "INVALID_CODE"
    if not value[:6].startswith(jurisdiction):
        return "FORBIDDEN_REGION"
    return None


# dates and times --------------------------------------------------------------------
def parse_date(value: str) -> date | None:
    m = _DATE.fullmatch(value)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def parse_datetime(value: str) -> datetime | None:
    """An aware datetime from RFC 3339 with an offset; None when not a real value."""
    m = _DATETIME.fullmatch(value)
    if not m:
        return None
    micro = int((m[7] or "0").ljust(6, "0")[:6])
    try:
        zone = UTC if m[8] == "Z" else _offset(m[8])
        return datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]),
                        micro, tzinfo=zone)
    except ValueError:
        return None


def _offset(text: str) -> timezone:
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def instant(value: datetime) -> str:
    """Canonical, sortable UTC text of an instant: 2026-06-20T01:00:00.000000Z."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def cst_text(text: str) -> str:
    """A canonical instant shown in China Standard Time, RFC 3339."""
    local = from_instant(text).astimezone(CST)
    spec = "seconds" if local.microsecond == 0 else "microseconds"
    return local.isoformat(timespec=spec)


def age_on(birth: date, today: date) -> int:
    years = today.year - birth.year
    return years - ((today.month, today.day) < (birth.month, birth.day))


def service_day(start: datetime, end: datetime) -> tuple[date, date]:
    """The CST calendar days of a span's start and end; an end at exactly 00:00:00 closes
    the previous day."""
    s, e = start.astimezone(CST), end.astimezone(CST)
    end_day = e.date()
    if (e.hour, e.minute, e.second, e.microsecond) == (0, 0, 0, 0):
        end_day -= timedelta(days=1)
    return s.date(), end_day
