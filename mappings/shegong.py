"""The social-work agency mapping (local-sources.md §B): workers → volunteers, service logs
→ service records. JSON, camelCase, UTC times with `Z`.

`map_row` is pure and total: any field values give one of Mapped, Quarantined, Skipped or
Deferred, every problem of the row reported at once; only a source configured without
`projects_from` (a log's project cannot be named) is a ConfigError.

Hours: `durationHours` floored to two decimals. A log that crosses midnight (UTC+08:00) is
split like every source's records (`.d1`, `.d2`…), but its unit is the hundredth of an
hour, not the minute: the hundredths are divided in proportion to time (largest remainder,
ties to the earlier part, no part above what its span holds), so the parts add up to the
log's hours exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.base import SourceRow
from bridge.errors import ConfigError
from mappings import codes
from mappings.checks import (
    Fields,
    age_problem,
    id_birth,
    id_gender,
    id_problem,
    mobile_problem,
    name_problem,
)
from mappings.fields import local_id, put_area, put_datetime, service_parts
from mappings.normalize import (
    CST,
    id_number,
    mobile,
    multiline,
    nfkc,
    person_name,
    text,
    to_date,
    to_datetime,
)
from mappings.result import Deferred, MapContext, Mapped, MapResult, Part, Quarantined, Skipped, ref

Row = Mapping[str, Any]
ENTRY_METHOD = "1"


# --- worker → volunteer -----------------------------------------------------------------

def _identity(f: Fields, row: Row) -> date | None:
    """id_type 01 and the number; gender, birth date and nationality from the number (a
    `gender` or `birthDate` that disagrees is a warning). Returns the birth date."""
    f.put("id_type", "01")
    number = id_number(row.get("idCard"))
    if number is None:
        f.missing("id_number", "idCard", required=True)
        return None
    problem = id_problem("01", number)
    if problem is not None:
        f.refuse("id_number", *problem)
        return None
    f.put("id_number", number)
    birth = id_birth(number)
    gender = id_gender(number)
    f.put("gender", gender)
    if birth is not None:   # always: id_problem checked the date
        f.put("birth_date", birth.isoformat())
    local_gender = text(row.get("gender"))
    if local_gender is not None and codes.gender(local_gender) != gender:
        f.warn("gender", "ID_MISMATCH", "gender disagrees with the ID number; the number's "
                                        "is sent")
    try:
        local_birth = to_date(row.get("birthDate"))
    except ValueError:
        local_birth = None
    if local_birth is not None and local_birth != birth:
        f.warn("birth_date", "ID_MISMATCH", "birthDate disagrees with the ID number; the "
                                            "number's is sent")
    nationality = codes.nationality_of_id(number)
    if nationality is None:
        f.refuse("nationality", "REQUIRED", "a 9-series permanent residence ID does not give "
                                            "the nationality")
    else:
        f.put("nationality", nationality)
    return birth


_FLAGS = {"true": True, "false": False, "1": True, "0": False}


def _status(f: Fields, value: object) -> None:
    """`active` (a JSON boolean; "true"/"false", 1/0 read too) → active / inactive."""
    if value is None:
        f.missing("status", "active", required=True)
        return
    flag = value if isinstance(value, bool) else _FLAGS.get(str(value).strip().lower()) \
        if isinstance(value, str | int) else None
    if flag is None:
        f.refuse("status", "INVALID_FORMAT", "active is not true or false")
    else:
        f.put("status", "active" if flag else "inactive")


def _volunteer(row: Row, ctx: MapContext, f: Fields) -> None:
    f.string("name", person_name(row.get("fullName")), 1, 20, required=True,
             source="fullName", rule=name_problem)
    birth = _identity(f, row)
    if birth is not None and (problem := age_problem(birth, ctx.now.astimezone(CST).date())):
        f.refuse("birth_date", *problem)
    nation = text(row.get("nation"))
    if nation is None:
        f.missing("ethnicity", "nation", required=f.payload.get("nationality") == "156")
    elif (code := codes.ethnicity(nation)) is not None:
        f.put("ethnicity", code)
    else:
        f.flag("ethnicity", ("INVALID_CODE", "nation has no national code"),
               required=f.payload.get("nationality") == "156")
    f.string("mobile", mobile(row.get("phone")), 1, 20, required=True, source="phone",
             rule=mobile_problem)
    put_area(f, row.get("districtCode"), "districtCode", ctx.jurisdiction)
    put_datetime(f, "registered_at", row.get("registeredAt"), "registeredAt", required=True,
                 now=ctx.now)
    _status(f, row.get("active"))


# --- log → service record ---------------------------------------------------------------

def _hundredths(f: Fields, value: object) -> int | None:
    """durationHours (a decimal string, or a JSON number) in hundredths of an hour,
    floored; more than 0."""
    if value is None or (isinstance(value, str) and not value.strip()):
        f.missing("hours", "durationHours", required=True)
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise InvalidOperation
        amount = Decimal(nfkc(value).strip() if isinstance(value, str) else str(value))
        if not amount.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        f.refuse("hours", "INVALID_FORMAT", "durationHours is not a decimal number")
        return None
    hundredths = math.floor(amount * 100)
    if hundredths <= 0:
        f.refuse("hours", "OUT_OF_RANGE", "durationHours is not more than 0 (to two decimals)")
        return None
    return hundredths


def _eligibility(local: str, base: str, row: Row, ctx: MapContext) -> MapResult | None:
    """Voided → not approved → not yet ended; None when the log is for the platform."""
    entity = "service_record"
    voided = row.get("voided")
    if voided is True or (isinstance(voided, str) and voided.strip().lower() == "true"):
        return Skipped(entity, local, base, "deleted", "voided")
    if text(row.get("approvedAt")) is None:
        return Deferred(entity, local, base, None, "not yet approved")
    try:
        end = to_datetime(row.get("endTime"))
    except ValueError:
        return None
    if end is not None and end > ctx.now:
        return Deferred(entity, local, base, end, "endTime is in the future")
    return None


def _references(f: Fields, row: Row, source: str, projects_from: str) -> None:
    worker = local_id(row.get("workerId"))
    if worker is None:
        f.missing("volunteer_external_ref", "workerId", required=True)
    else:
        f.put("volunteer_external_ref", ref(source, "volunteer", worker))
    activity = local_id(row.get("activityCode"))
    if activity is None:
        f.missing("project_external_ref", "activityCode", required=True)
    else:
        f.put("project_external_ref", ref(projects_from, "project", activity))


def _service_record(local: str, base: str, row: Row, ctx: MapContext,
                    projects_from: str) -> MapResult:
    early = _eligibility(local, base, row, ctx)
    if early is not None:
        return early
    f = Fields()
    _references(f, row, ctx.source, projects_from)
    start = put_datetime(f, "start_at", row.get("startTime"), "startTime", required=True)
    end = put_datetime(f, "end_at", row.get("endTime"), "endTime", required=True, now=ctx.now)
    hundredths = _hundredths(f, row.get("durationHours"))
    f.string("content", multiline(row.get("summary")), 1, 500, required=True,
             source="summary", multiline=True)
    f.string("recorder", text(row.get("approvedBy")), 1, 20, required=True,
             source="approvedBy")
    recorded = put_datetime(f, "recorded_at", row.get("approvedAt"), "approvedAt",
                            required=True, now=ctx.now)
    if recorded is not None and end is not None and recorded < end:
        f.refuse("recorded_at", "OUT_OF_RANGE", "approvedAt is before endTime")
    f.put("entry_method", ENTRY_METHOD)
    parts = service_parts(f, _local(start), _local(end), hundredths, unit="hundredths")
    if f.reasons:
        return Quarantined("service_record", local, base, tuple(f.reasons), tuple(f.warnings))
    return Mapped("service_record", local, base, parts, tuple(f.warnings))


# --- the entry point --------------------------------------------------------------------

def map_row(row: SourceRow, ctx: MapContext) -> MapResult:
    """One agency row → its national record(s), or why not. Never raises on field data;
    an entity the agency has not, or a log source without `projects_from`, is a
    ConfigError."""
    base = ref(ctx.source, row.entity, row.local_id)
    data: Row = row.data if isinstance(row.data, Mapping) else {}
    if row.entity == "service_record":
        if not ctx.projects_from:
            raise ConfigError(f"source {ctx.source}: the shegong mapping needs projects_from "
                              "(the source whose projects activityCode names)")
        return _service_record(row.local_id, base, data, ctx, ctx.projects_from)
    if row.entity != "volunteer":
        raise ConfigError(f"the shegong mapping has no entity {row.entity!r}")
    f = Fields()
    _volunteer(data, ctx, f)
    if f.reasons:
        return Quarantined(row.entity, row.local_id, base, tuple(f.reasons), tuple(f.warnings))
    return Mapped(row.entity, row.local_id, base, (Part("", f.payload),), tuple(f.warnings))


def _local(moment: datetime | None) -> datetime | None:
    """Days are counted in UTC+08:00 (a record splits at the local midnight)."""
    return moment.astimezone(CST) if moment is not None else None
