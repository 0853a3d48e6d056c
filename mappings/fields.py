"""Field builders every mapping shares: each reads a raw value, normalizes it, checks it
against the national rule and puts it into a `Fields` (or records why not). Also the
service-record split: one record per calendar day (UTC+08:00), its minutes divided among
the parts (local-sources.md §A, "Overnight service": it holds for every source).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta

from mappings import codes
from mappings.checks import (
    Fields,
    Problem,
    area_problem,
    contact_phone_problem,
    date_problem,
    instant_problem,
    unknown_township,
)
from mappings.normalize import (
    CST,
    apportion,
    area_id,
    contact_phone,
    county_area,
    day_spans,
    hours,
    hundredth_cap,
    integer,
    iso_date,
    iso_datetime,
    items,
    minute_cap,
    text,
    to_date,
    to_datetime_text,
)
from mappings.result import Part, ref

MAX_SPLIT_DAYS = 31   # a span over more calendar days than this is refused, not split


def local_id(value: object) -> str | None:
    """A primary key as text: integers as their digits, strings trimmed."""
    try:
        number = integer(value)
    except ValueError:
        return text(value)
    return None if number is None else str(number)


def put_ref(f: Fields, name: str, source: str, entity: str, value: object, column: str,
            *, required: bool = True) -> str | None:
    """`<source>:<entity>:<id>` from a key column."""
    local = local_id(value)
    if local is None:
        f.missing(name, column, required=required)
        return None
    target = ref(source, entity, local)
    f.put(name, target)
    return target


def put_area(f: Fields, value: object, column: str, jurisdiction: str | None) -> None:
    """The area id; a township that township.csv does not list for its county (renamed,
    merged, mistyped) is sent at county level with a warning naming it (§A)."""
    area = area_id(value)
    if area is None:
        f.missing("area_code", column, required=True)
        return
    if (township := unknown_township(area)) is not None:
        f.warn("area_code", "COUNTY_FALLBACK",
               f"{column}: township {township} is not in township.csv; sent at county level")
        area = county_area(area)
    problem = area_problem(area, jurisdiction)
    if problem is not None:
        f.flag("area_code", problem, required=True)
    else:
        f.put("area_code", area)


def put_contact(f: Fields, name: object, phone: object, name_column: str,
                phone_column: str) -> None:
    f.string("contact_name", text(name), 1, 20, required=True, source=name_column)
    f.string("contact_phone", contact_phone(phone), 1, 20, required=True, source=phone_column,
             rule=contact_phone_problem)


def put_categories(f: Fields, value: object, column: str) -> None:
    """Local names → service_category codes in source order: unknown names dropped with a
    warning, duplicates removed, more than four cut to the first four with a warning;
    none left refuses the row."""
    names = items(value)
    found: list[str] = []
    unknown: list[str] = []
    for name in names:
        code = codes.service_category(name)
        if code is None:
            unknown.append(name)
        elif code not in found:
            found.append(code)
    if unknown:
        shown = ", ".join(repr(n[:20]) for n in unknown[:3])
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        f.warn("service_categories", "INVALID_CODE",
               f"{column}: unknown categories {shown}{more} left out")
    if len(found) > 4:
        f.warn("service_categories", "INVALID_FORMAT",
               f"{len(found)} categories: the first four are sent")
        found = found[:4]
    if found:
        f.put("service_categories", found)
    elif names:
        f.refuse("service_categories", "INVALID_CODE", f"{column}: no known category")
    else:
        f.missing("service_categories", column, required=True)


def put_code(f: Fields, name: str, value: object, table: Mapping[int, str], column: str,
             *, required: bool = True) -> str | None:
    """A national code (or status word) from an integer column."""
    try:
        number = integer(value)
    except ValueError:
        f.flag(name, ("INVALID_CODE", f"{column} is not a number"), required=required)
        return None
    if number is None:
        f.missing(name, column, required=required)
        return None
    if number not in table:
        f.flag(name, ("INVALID_CODE", f"{column} {number} has no national code"),
               required=required)
        return None
    f.put(name, table[number])
    return table[number]


def put_named_code(f: Fields, name: str, value: object, lookup: Callable[[str], str | None],
                   column: str, *, required: bool = False) -> str | None:
    """A national code from a local name (ethnicity, politics, education, …)."""
    local = text(value)
    if local is None:
        f.missing(name, column, required=required)
        return None
    code = lookup(local)
    if code is None:
        f.flag(name, ("INVALID_CODE", f"{column} has no national code"), required=required)
        return None
    f.put(name, code)
    return code


def put_datetime(f: Fields, name: str, value: object, column: str, *, required: bool,
                 now: datetime | None = None) -> datetime | None:
    """A datetime in +08:00; not before 1900, and not after `now` when it is given."""
    try:
        read = to_datetime_text(value)
    except ValueError:
        f.flag(name, ("INVALID_FORMAT", f"{column} is not a date and time"), required=required)
        return None
    if read is None:
        f.missing(name, column, required=required)
        return None
    moment, iso = read
    problem = instant_problem(moment, now)
    if problem is not None:
        f.flag(name, problem, required=required)
        return None
    f.put(name, iso)
    return moment


def put_date(f: Fields, name: str, value: object, column: str, *, required: bool,
             today: date | None = None) -> date | None:
    """A date; not before 1900, and not after `today` when it is given."""
    try:
        day = to_date(value)
    except ValueError:
        f.flag(name, ("INVALID_FORMAT", f"{column} is not a date"), required=required)
        return None
    if day is None:
        f.missing(name, column, required=required)
        return None
    problem = date_problem(day, today)
    if problem is not None:
        f.flag(name, problem, required=required)
        return None
    f.put(name, iso_date(day))
    return day


def put_minutes(f: Fields, value: object, column: str) -> int | None:
    """Whole minutes of service, more than 0."""
    try:
        minutes = integer(value)
    except ValueError:
        f.refuse("hours", "INVALID_FORMAT", f"{column} is not a whole number of minutes")
        return None
    if minutes is None:
        f.missing("hours", column, required=True)
        return None
    if minutes <= 0:
        f.refuse("hours", "OUT_OF_RANGE", f"{column} is not more than 0")
        return None
    return minutes


# --- service records: one part per calendar day ---------------------------------------

def _span_problem(start: datetime, end: datetime) -> Problem | None:
    if end <= start:
        return "OUT_OF_RANGE", "the end is not after the start"
    if (end.date() - start.date()).days > MAX_SPLIT_DAYS:
        return "OUT_OF_RANGE", f"spans more than {MAX_SPLIT_DAYS} days; not split"
    return None


def service_parts(f: Fields, start: datetime | None, end: datetime | None,
                  amount: int | None, *, unit: str = "minutes") -> tuple[Part, ...]:
    """The record's parts: "" when it stays within one day, else `.d1`, `.d2`… by the
    part's position among all its day-parts (so refs are stable), each with its share of
    `amount` as `hours`; a part left with 0.00 hours is not sent. `amount` is whole
    minutes (志愿云) or, with unit="hundredths", hundredths of an hour (sources that
    record hours). Problems (an end not after the start, more than the span holds) are
    refusals on `f`. Every source splits at midnight (local-sources.md §A)."""
    if start is None or end is None:
        return ()
    problem = _span_problem(start, end)
    if problem is not None:
        f.refuse("end_at", *problem)
        return ()
    seconds = int((end - start).total_seconds())
    if amount is None:
        return ()
    per_hour = 60 if unit == "minutes" else 100
    if amount * 3600 > seconds * per_hour:
        f.refuse("hours", "OUT_OF_RANGE", f"more {unit} than the span from start to end holds")
        return ()
    first, stop = start.astimezone(CST), end.astimezone(CST)
    if seconds > 0 and amount >= 0 and stop <= _next_midnight(first):
        return _whole_day(f, first, stop, amount, seconds, unit)
    return _day_parts(f, first, stop, amount, unit)


def _next_midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date() + timedelta(days=1), time(), CST)


def _whole_day(f: Fields, start: datetime, end: datetime, amount: int, seconds: int,
               unit: str) -> tuple[Part, ...]:
    """`_day_parts` of a span within one day (nearly every record): one part, which
    gets all of `amount`."""
    share = hours(amount) if unit == "minutes" else amount / 100
    if share * 3600 > seconds:
        f.refuse("hours", "OUT_OF_RANGE", f"the {unit} cannot be divided among the days")
        return ()
    if not share > 0:
        return ()
    payload = {k: v for k, v in f.payload.items() if k not in _SPAN_FIELDS}
    payload["start_at"] = iso_datetime(start)
    payload["end_at"] = iso_datetime(end)
    payload["hours"] = share
    return (Part("", payload),)


_SPAN_FIELDS = frozenset({"start_at", "end_at", "hours"})


def _day_parts(f: Fields, start: datetime, end: datetime, amount: int,
               unit: str) -> tuple[Part, ...]:
    """The parts of any span, cut at each midnight, `amount` divided among them."""
    cap = minute_cap if unit == "minutes" else hundredth_cap
    spans = day_spans(start, end)
    weights = [int((b - a).total_seconds()) for a, b in spans]
    shares = apportion(amount, weights, cap)
    as_hours = [hours(m) if unit == "minutes" else m / 100 for m in shares]
    if any(h * 3600 > w for h, w in zip(as_hours, weights, strict=True)):
        f.refuse("hours", "OUT_OF_RANGE", f"the {unit} cannot be divided among the days")
        return ()
    common = {k: v for k, v in f.payload.items() if k not in _SPAN_FIELDS}
    single = len(spans) == 1
    return tuple(
        Part("" if single else f".d{i}",
             {**common, "start_at": iso_datetime(a), "end_at": iso_datetime(b), "hours": h})
        for i, ((a, b), h) in enumerate(zip(spans, as_hours, strict=True), start=1) if h > 0)
