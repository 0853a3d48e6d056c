"""Local values → the shapes of the national interface. Pure functions.

Each takes a raw column value (str, int, None, …) and returns the normalized value, or
None when the value is absent (None, "", only white space). Normalizing never validates:
a value that cannot be made right comes back in its best cleaned form (or, for dates
and numbers, raises ValueError) and `checks` refuses it. Source times without an offset
are local, UTC+08:00 (`CST`).

The split of a service span at each midnight it crosses, the division of its minutes
among the parts, and minutes → hours are in `mappings.spans` (and importable from here).
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import lru_cache

from mappings.checks import CJK, MIDDLE_DOT, WHITE_SPACE, gb11643_check
from mappings.spans import CST as CST
from mappings.spans import apportion as apportion
from mappings.spans import day_spans as day_spans
from mappings.spans import hours as hours
from mappings.spans import hundredth_cap as hundredth_cap
from mappings.spans import minute_cap as minute_cap

MAX_DATE_CHARS = 64
MAX_NAME_CHARS = 100


def nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value)


# --- text -----------------------------------------------------------------------------

def text(value: object) -> str | None:
    """Trimmed of Unicode White_Space (U+3000 and U+FEFF included); None when absent.
    Integers and integral floats read as their digits; other types are absent."""
    if type(value) is str:      # nearly every value: no isinstance chain
        return value.strip(WHITE_SPACE) or None
    return _text_general(value)


def _text_general(value: object) -> str | None:
    """`text` for any type (the reference the fast path of `text` is tested against)."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int | float | Decimal):
        value = str(value)
    if not isinstance(value, str):
        return None
    trimmed = value.strip(WHITE_SPACE)
    return trimmed or None


def multiline(value: object) -> str | None:
    """Like `text`, with CR LF and CR line ends made LF (description, content)."""
    s = text(value)
    return None if s is None else s.replace("\r\n", "\n").replace("\r", "\n")


_INTEGER = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)


def integer(value: object) -> int | None:
    """An integer column: None when absent; ValueError when not a whole number."""
    if type(value) is int:      # a database's integer (never a bool: its type is bool)
        return value
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        if not math.isfinite(value) or value != int(value):
            raise ValueError("not a whole number")
        return int(value)
    s = text(value)
    if s is None:
        return None
    s = nfkc(s)
    if not _INTEGER.fullmatch(s):
        raise ValueError("not a whole number")
    return int(s)


_ITEM_SEPARATORS = re.compile("[、,;]")


def items(value: object) -> list[str]:
    """A list joined by 、 , ， ; or ；: trimmed items, empty ones left out."""
    s = text(value)
    if s is None:
        return []
    parts = _ITEM_SEPARATORS.split(nfkc(s))
    return [p for p in (text(x) for x in parts) if p is not None]


# --- dates and times ------------------------------------------------------------------

_SEPARATED = re.compile(r"\s*([-/.年月日:时点分秒Tt])\s*")
_DATE = re.compile(r"([0-9]{4})(?:[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?|([0-9]{2})([0-9]{2}))",
                   re.ASCII)
_TIME = re.compile(
    r"(?:[Tt]|\s+)?"
    r"(?:([0-9]{1,2})(?:[:时点]([0-9]{1,2})(?:[:分]([0-9]{1,2})秒?)?分?|时|点)?"
    r"|([0-9]{2})([0-9]{2})([0-9]{2})?)"
    r"(?:\.[0-9]{1,9})?\s*(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?", re.ASCII)


def _offset(text_: str | None) -> timezone:
    if text_ is None:
        return CST
    if text_ in ("Z", "z"):
        return UTC
    sign = -1 if text_[0] == "-" else 1
    digits = text_[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:]) if len(digits) > 2 else 0)
    if minutes >= 24 * 60:
        raise ValueError("not a UTC offset")
    return timezone(sign * timedelta(minutes=minutes))


def _clock(rest: str) -> tuple[timedelta, timezone]:
    """The time of day and offset after a date: empty means midnight, local."""
    if not rest:
        return timedelta(0), CST
    m = _TIME.fullmatch(rest)
    if m is None:
        raise ValueError("not a time of day")
    fields = [m[1], m[2], m[3]] if m[1] is not None else [m[4], m[5], m[6]]
    hour, minute, second = (int(f) if f else 0 for f in fields)
    if minute > 59 or second > 59 or hour > 24 or (hour == 24 and (minute or second)):
        raise ValueError("not a time of day")
    return timedelta(hours=hour, minutes=minute, seconds=second), _offset(m[7])


_PLAIN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[ T][0-9]{2}:[0-9]{2}:[0-9]{2})?", re.ASCII)


def _parse(s: str) -> datetime:
    """`_parse_general`, with a fast path for the common 'YYYY-MM-DD HH:MM:SS' (or a bare
    date) of a database: C's fromisoformat reads exactly that shape; whatever it refuses
    (hour 24, second 60, 2月30日) goes the general way, which decides."""
    if _PLAIN.fullmatch(s):
        try:
            return datetime.fromisoformat(s).replace(tzinfo=CST)
        except ValueError:
            pass
    return _parse_general(s)


def _parse_general(s: str) -> datetime:
    if len(s) > MAX_DATE_CHARS:     # also keeps the patterns below linear
        raise ValueError("too long for a date")
    s = _SEPARATED.sub(r"\1", nfkc(s))
    m = _DATE.match(s)
    if m is None:
        raise ValueError("not a date")
    month, day = (m[2], m[3]) if m[2] is not None else (m[4], m[5])
    day_ = date(int(m[1]), int(month), int(day))
    clock, zone = _clock(s[m.end():])
    return (datetime.combine(day_, time(), zone) + clock).astimezone(CST)


def to_datetime(value: object) -> datetime | None:
    """An aware datetime in +08:00, whole seconds; None when absent; ValueError when not
    a date. Reads 2016-08-08, 2016/8/8, 2016年8月8日, 20160808, each with an optional
    time (09:30, 09:30:00, 9时30分, T093000, …) and offset; a date alone is midnight."""
    if type(value) is str:      # nearly every value
        s = value.strip(WHITE_SPACE)
        return _stamp(s)[0] if s else None
    if type(value) is datetime and value.tzinfo is None:    # a MySQL DATETIME
        return value.replace(tzinfo=CST, microsecond=0)
    return _to_datetime_general(value)


def to_datetime_text(value: object) -> tuple[datetime, str] | None:
    """`to_datetime` of the value and the `iso_datetime` of that, in one go. The pair is
    remembered: a service record's start and end are written again as its part's."""
    if type(value) is str:
        s = value.strip(WHITE_SPACE)
        return _remember(*_stamp(s)) if s else None
    if type(value) is datetime and value.tzinfo is None:    # a MySQL DATETIME: local
        whole = value.replace(microsecond=0) if value.microsecond else value
        return _remember(whole.replace(tzinfo=CST), whole.isoformat() + "+08:00")
    moment = _to_datetime_general(value)
    return None if moment is None else (moment, iso_datetime(moment))


@lru_cache(maxsize=4096)
def _stamp(s: str) -> tuple[datetime, str]:
    """A trimmed text as `to_datetime` reads it, and its `iso_datetime` (for a database's
    'YYYY-MM-DD HH:MM:SS', the same digits). Cached: a record's end is read twice, and an
    activity's records share their times. A text that is no date raises each time."""
    if _PLAIN.fullmatch(s):
        try:
            naive = datetime.fromisoformat(s)
        except ValueError:
            pass
        else:
            iso = f"{s[:10]}T{s[11:]}+08:00" if len(s) > 10 else f"{s}T00:00:00+08:00"
            return naive.replace(tzinfo=CST), iso
    elif day := _DATE.fullmatch(s):     # a date alone, as birthdays are written: midnight
        month, mday = (day[2], day[3]) if day[2] is not None else (day[4], day[5])
        try:
            moment = datetime(int(day[1]), int(month), int(mday), tzinfo=CST)
        except ValueError:
            pass
        else:
            return moment, moment.isoformat()   # midnight in CST: the RFC 3339 text
    moment = _parse_general(s).replace(microsecond=0)
    return moment, iso_datetime(moment)


def _to_datetime_general(value: object) -> datetime | None:
    """`to_datetime` for any type (the reference its fast path is tested against)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=CST)
        return aware.astimezone(CST).replace(microsecond=0)
    if isinstance(value, date):
        return datetime.combine(value, time(), CST)
    s = text(value)
    return None if s is None else _parse(s).replace(microsecond=0)


def to_date(value: object) -> date | None:
    """The calendar date (+08:00) of a date or date-time value; see `to_datetime`."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    moment = to_datetime(value)
    return None if moment is None else moment.date()


def iso_datetime(moment: datetime) -> str:
    """RFC 3339 in +08:00: YYYY-MM-DDTHH:MM:SS+08:00."""
    if moment.tzinfo is CST:    # the moments to_datetime makes: equal means same fields
        known = _ISO_TEXTS.get(moment)
        if known is not None:
            return known
        return _remember(moment, moment.replace(microsecond=0).isoformat())[1]
    return iso_datetime_general(moment)


# CST moment → its text, for the moments just read or written (bounded: emptied when full)
_ISO_TEXTS: dict[datetime, str] = {}
_ISO_TEXTS_MAX = 8192


def _remember(moment: datetime, iso: str) -> tuple[datetime, str]:
    if moment.tzinfo is CST:
        if len(_ISO_TEXTS) >= _ISO_TEXTS_MAX:
            _ISO_TEXTS.clear()
        _ISO_TEXTS[moment] = iso
    return moment, iso


def iso_datetime_general(moment: datetime) -> str:
    """`iso_datetime` field by field (the reference its isoformat is tested against)."""
    t = moment.astimezone(CST)
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}"
            f"T{t.hour:02d}:{t.minute:02d}:{t.second:02d}+08:00")


def iso_date(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


# --- identity numbers, phones, areas, names -------------------------------------------

_ID_MARKS = re.compile(r"[-()]")
_DIAL_MARKS = re.compile(r"[\s\-().]")
_PHONE_MARKS = re.compile(r"[\s\-()]")
_MAINLAND_MOBILE = re.compile(r"(?:\+?86)?(1[3-9][0-9]{9})", re.ASCII)
_HK_MACAU_MOBILE = re.compile(r"\+(85[23])([0-9]{8})", re.ASCII)
_TAIWAN_MOBILE = re.compile(r"(?:\+886|0)0?(9[0-9]{8})", re.ASCII)
_MOBILE_DIGITS = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
_FIXED_LINE = re.compile(r"(0[0-9]{2,3})[\s-]+([0-9]{7,8})|\((0[0-9]{2,3})\)[\s-]*([0-9]{7,8})",
                         re.ASCII)
_FIXED_DIGITS = re.compile(r"0[0-9]{9,11}", re.ASCII)
_SPACED_DOT = re.compile(rf"\s*{MIDDLE_DOT}\s*")
_SPACE_IN_CJK = re.compile(rf"(?<=[{CJK}])\s+(?=[{CJK}])")
_CJK_ONLY = re.compile(f"[{CJK}]+")


def compact(value: str) -> str:
    """NFKC (full-width → half-width), no white space, upper case."""
    return "".join(nfkc(value).split()).upper()


def upgrade15(number: str) -> str:
    """A 15-digit (pre-1999) ID number as 18: 19 before the two-digit birth year, then
    the GB 11643 check digit."""
    if len(number) != 15 or not number.isascii() or not number.isdigit():
        raise ValueError("not a 15-digit ID number")
    body = number[:6] + "19" + number[6:]
    return body + gb11643_check(body)


def id_number(value: object) -> str | None:
    """Half-width, no spaces, dashes or brackets, upper case (x → X); 15 digits → 18."""
    s = text(value)
    if s is None:
        return None
    number = _ID_MARKS.sub("", compact(s))
    if len(number) == 15 and number.isascii() and number.isdigit():
        return upgrade15(number)
    return number or None


def _dial(value: object) -> str | None:
    s = text(value)
    if s is None:
        return None
    s = _DIAL_MARKS.sub("", nfkc(s))
    return "+" + s[2:] if s.startswith("00") else s


def mobile(value: object) -> str | None:
    """Mainland mobiles as 11 digits (+86 / 0086 / 86 dropped); Taiwan as +8869xxxxxxxx
    (from 09xx-xxx-xxx or +886 9…); Hong Kong and Macau as +852/+853 and 8 digits."""
    s = _dial(value)
    if s is None:
        return None
    if m := _MAINLAND_MOBILE.fullmatch(s):
        return m[1]
    if m := _HK_MACAU_MOBILE.fullmatch(s):
        return f"+{m[1]}{m[2]}"
    if m := _TAIWAN_MOBILE.fullmatch(s):
        return f"+886{m[1]}"
    return s


def contact_phone(value: object) -> str | None:
    """A mainland mobile as 11 digits, or a fixed line as 0xxx-xxxxxxx (the area code is
    three digits for 01x and 02x, four otherwise)."""
    s = text(value)
    if s is None:
        return None
    dialled = mobile(s)
    if dialled is not None and _MOBILE_DIGITS.fullmatch(dialled):
        return dialled
    flat = nfkc(s)
    if m := _FIXED_LINE.fullmatch(flat):
        return f"{m[1] or m[3]}-{m[2] or m[4]}"
    digits = _PHONE_MARKS.sub("", flat)
    if _FIXED_DIGITS.fullmatch(digits):
        cut = 3 if digits[1] in "12" else 4
        return f"{digits[:cut]}-{digits[cut:]}"
    return flat


def area_id(value: object) -> str | None:
    """A 6-digit county, 9-digit township or 12-digit village code, padded with zeros
    to the 18-digit national area id."""
    s = text(value)
    if s is None:
        return None
    code = compact(s)
    if code.isascii() and code.isdigit() and len(code) in (6, 9, 12):
        return code.ljust(18, "0")
    return code


def county_area(area: str) -> str:
    """The county-level area id of an area id: its first six digits, then twelve zeros."""
    return area[:6] + "0" * 12


_DOTS = str.maketrans(dict.fromkeys(
    "\u2022\u30fb\uff65.\uff0e\u2027\u2219\u22c5\u0387\u00b7", MIDDLE_DOT))


def person_name(value: object) -> str | None:
    """Full-width → half-width; •, ・, . and the like → ·; no white space between CJK
    characters or around ·; other runs of white space → one space."""
    s = text(value)
    if s is None or len(s) > MAX_NAME_CHARS:   # too long to be a name: left for the checks
        return s
    if _CJK_ONLY.fullmatch(s):      # most names: nothing to change (NFKC keeps these)
        return s
    return _tidy_name(s)


def _tidy_name(s: str) -> str | None:
    """`person_name` of a trimmed text (its general form, which the fast path matches)."""
    s = nfkc(s).translate(_DOTS)
    s = _SPACED_DOT.sub(MIDDLE_DOT, s)
    s = _SPACE_IN_CJK.sub("", s)
    return " ".join(s.split()) or None
