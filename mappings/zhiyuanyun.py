"""The 志愿云 mapping (local-sources.md §A): zyy_team, zyy_volunteer (with its
zyy_team_member rows), zyy_activity and zyy_service_time → national records.

`map_row` is pure and total: any column values give one of Mapped, Quarantined, Skipped
or Deferred, with every problem of the row reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from adapters.base import SourceRow
from bridge.errors import ConfigError
from mappings import codes
from mappings.checks import (
    Fields,
    age_problem,
    email_problem,
    id_birth,
    id_gender,
    id_problem,
    is_mainland_id,
    mobile_problem,
    name_problem,
    uscc_problem,
)
from mappings.fields import (
    local_id,
    put_area,
    put_categories,
    put_code,
    put_contact,
    put_date,
    put_datetime,
    put_minutes,
    put_named_code,
    put_ref,
    service_parts,
)
from mappings.normalize import (
    CST,
    compact,
    id_number,
    integer,
    items,
    mobile,
    multiline,
    person_name,
    text,
    to_date,
    to_datetime,
)
from mappings.result import (
    Deferred,
    MapContext,
    Mapped,
    MapResult,
    Part,
    Quarantined,
    Skipped,
    ref,
)

Row = Mapping[str, Any]
_ID18_SHAPE = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)


# --- organization (zyy_team) ----------------------------------------------------------

def _organization(row: Row, ctx: MapContext, f: Fields) -> None:
    f.string("name", text(row.get("team_name")), 1, 50, required=True, source="team_name")
    org_type = put_named_code(f, "org_type", row.get("team_kind"), codes.org_type, "team_kind",
                              required=True)
    _uscc(f, row.get("credit_code"), required=org_type in ("2", "3"))
    parent = local_id(row.get("parent_team_id"))
    if parent is not None and parent == local_id(row.get("team_id")):
        f.warn("parent_external_ref", "INVALID_FORMAT", "the team is its own parent; left out")
    else:
        put_ref(f, "parent_external_ref", ctx.source, "organization", parent, "parent_team_id",
                required=False)
    put_area(f, row.get("area_code"), "area_code", ctx.jurisdiction)
    f.string("address", text(row.get("address")), 1, 50, required=False, source="address")
    put_categories(f, row.get("service_types"), "service_types")
    put_contact(f, row.get("linkman"), row.get("link_phone"), "linkman", "link_phone")
    put_date(f, "established_on", row.get("found_date"), "found_date", required=False,
             today=ctx.now.astimezone(CST).date())
    put_code(f, "status", row.get("state"), codes.ORG_STATUS_BY_STATE, "state")


def _uscc(f: Fields, value: object, *, required: bool) -> None:
    """统一社会信用代码: required for org_type 2 and 3, else sent only when valid."""
    raw = text(value)
    if raw is None:
        if required:
            f.refuse("uscc", "REQUIRED", "credit_code is empty; org_type 2 and 3 need it")
        return
    code = compact(raw)
    problem = uscc_problem(code)
    if problem is not None:
        f.flag("uscc", problem, required=required)
    else:
        f.put("uscc", code)


# --- volunteer (zyy_volunteer) --------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    """What the certificate says beyond the number itself."""

    nationality: str | None
    birth_date: date | None


def identity(row: Row, f: Fields) -> Identity:
    """id_type, id_number, gender, birth_date and nationality from cert_type, cert_no,
    sex and birthday.

    For a 01 number (身份证, 居住证, an 18-digit 外国人永久居留证) the number decides gender
    and birth date; a local sex or birthday that disagrees is a warning. Other types take
    them from the columns. A valid 18-digit mainland ID number recorded under another
    cert_type (or none) is sent as 01 with a warning: the platform accepts such a number
    only as 01, and a number with a valid GB 11643 check digit and birth date is far more
    likely a mis-chosen type than a coincidence. The nationality of a 01 number comes from
    its prefix (810000 → 344, 820000 → 446, 830000 → 158, else 156), except a number
    starting with 9, the 外国人永久居留身份证 series, whose nationality is unknown.
    """
    cert = text(row.get("cert_type"))
    number = id_number(row.get("cert_no"))
    id_type = _id_type(f, cert, number)
    if number is None:
        f.missing("id_number", "cert_no", required=True)
    elif id_type is not None:
        problem = id_problem(id_type, number)
        if problem is not None:
            f.refuse("id_number", *problem)
        else:
            f.put("id_number", number)
    if number is not None and id_type == "01":
        birth = _from_number(f, row, number)
    else:
        birth = _from_columns(f, row)
    return Identity(_nationality(f, cert, id_type, number), birth)


def _id_type(f: Fields, cert: str | None, number: str | None) -> str | None:
    foreign = cert is not None and codes.is_foreign_permit(cert)
    if foreign:
        code: str | None = "01" if number and _ID18_SHAPE.fullmatch(number) else "08"
    else:
        code = None if cert is None else codes.id_type(cert)
    if code != "01" and number is not None and is_mainland_id(number):
        f.warn("id_type", "INVALID_CODE",
               "cert_no is a valid mainland ID number, which is type 01: sent as 01")
        code = "01"
    elif cert is None:
        f.missing("id_type", "cert_type", required=True)
    elif code is None:
        f.refuse("id_type", "INVALID_CODE", "cert_type is not a known kind of certificate")
    if code is not None:
        f.put("id_type", code)
    return code


def _from_number(f: Fields, row: Row, number: str) -> date | None:
    birth = id_birth(number)
    if birth is None:        # the number is malformed: already refused
        return None
    gender = id_gender(number)
    f.put("gender", gender)
    f.put("birth_date", birth.isoformat())
    sex = text(row.get("sex"))
    if sex is not None and codes.gender(sex) != gender:
        f.warn("gender", "ID_MISMATCH", "sex disagrees with the ID number; the number's is sent")
    try:
        local = to_date(row.get("birthday"))
    except ValueError:
        local = None
    if local is not None and local != birth:
        f.warn("birth_date", "ID_MISMATCH",
               "birthday disagrees with the ID number; the number's is sent")
    return birth


def _from_columns(f: Fields, row: Row) -> date | None:
    put_named_code(f, "gender", row.get("sex"), codes.gender, "sex", required=True)
    return put_date(f, "birth_date", row.get("birthday"), "birthday", required=True)


def _nationality(f: Fields, cert: str | None, id_type: str | None,
                 number: str | None) -> str | None:
    code: str | None = None
    why = ""
    if cert is not None and codes.is_foreign_permit(cert):
        why = "a foreign permanent residence permit does not give the nationality"
    elif id_type == "01" and number is not None:
        code = codes.nationality_of_id(number)
        why = "a 9-series permanent residence ID does not give the nationality"
    elif id_type == "04":
        code = "158"
    elif id_type == "08" and number is not None:
        code = {"H": "344", "M": "446"}.get(number[:1])
        why = "a 港澳通行证 number starting with neither H nor M gives no nationality"
    elif id_type == "05":
        why = "a passport's nationality is not recorded"
    if code is not None:
        f.put("nationality", code)
    elif why:
        f.refuse("nationality", "REQUIRED", why)
    return code


def _volunteer(row: Row, ctx: MapContext, f: Fields) -> None:
    today = ctx.now.astimezone(CST).date()
    f.string("name", person_name(row.get("real_name")), 1, 20, required=True,
             source="real_name", rule=name_problem)
    who = identity(row, f)
    if who.birth_date is not None and (problem := age_problem(who.birth_date, today)):
        f.refuse("birth_date", *problem)
    put_named_code(f, "ethnicity", row.get("nation"), codes.ethnicity, "nation",
                   required=who.nationality == "156")
    put_named_code(f, "political_status", row.get("politics"), codes.political_status,
                   "politics")
    put_named_code(f, "education", row.get("edu"), codes.education, "edu")
    f.string("mobile", mobile(row.get("mobile")), 1, 20, required=True, source="mobile",
             rule=mobile_problem)
    f.string("email", text(row.get("email")), 1, 50, required=False, source="email",
             rule=email_problem)
    put_area(f, row.get("area_code"), "area_code", ctx.jurisdiction)
    _memberships(f, row.get("memberships"), ctx.source)
    _skills(f, row.get("skills"))
    put_datetime(f, "registered_at", row.get("reg_time"), "reg_time", required=True,
                 now=ctx.now)
    cancel = _number(row.get("is_cancel"))
    put_code(f, "status", 0 if cancel is None else cancel, codes.VOLUNTEER_STATUS_BY_CANCEL,
             "is_cancel")


def _memberships(f: Fields, members: object, source: str) -> None:
    """The teams the volunteer formally belongs to: zyy_team_member rows with state 1,
    as sorted, distinct refs; none leaves the field out."""
    if not isinstance(members, list | tuple):
        return
    refs: set[str] = set()
    for member in members:
        if not isinstance(member, Mapping):
            continue
        try:
            state = integer(member.get("state"))
        except ValueError:
            continue
        team = local_id(member.get("team_id"))
        if state == 1 and team is not None:
            refs.add(ref(source, "organization", team))
    if refs:
        f.put("organization_external_refs", sorted(refs))


def _skills(f: Fields, value: object) -> None:
    """At most 10 distinct skills of at most 20 characters; the rest dropped, warned."""
    kept: list[str] = []
    bad = 0
    for skill in items(value):
        if len(skill) > 20 or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in skill):
            bad += 1
        elif skill not in kept:
            kept.append(skill)
    if bad:
        f.warn("skills", "INVALID_FORMAT", f"{bad} skills over 20 characters or with "
                                           "control characters left out")
    if len(kept) > 10:
        f.warn("skills", "INVALID_FORMAT", f"{len(kept)} skills: the first ten are sent")
        kept = kept[:10]
    if kept:
        f.put("skills", kept)


# --- project (zyy_activity) -----------------------------------------------------------

def _project(row: Row, ctx: MapContext, f: Fields) -> None:
    f.string("name", text(row.get("title")), 1, 50, required=True, source="title")
    put_ref(f, "organization_external_ref", ctx.source, "organization", row.get("team_id"),
            "team_id")
    put_categories(f, row.get("service_type"), "service_type")
    put_area(f, row.get("area_code"), "area_code", ctx.jurisdiction)
    f.string("address", text(row.get("address")), 1, 50, required=True, source="address")
    start = put_datetime(f, "start_at", row.get("begin_time"), "begin_time", required=True)
    end = put_datetime(f, "end_at", row.get("end_time"), "end_time", required=True)
    if start is not None and end is not None and end <= start:
        f.refuse("end_at", "OUT_OF_RANGE", "end_time is not after begin_time")
    _recruit(f, row.get("plan_num"))
    f.string("description", multiline(row.get("intro")), 1, 2000, required=True,
             source="intro", multiline=True)
    put_contact(f, row.get("linkman"), row.get("link_phone"), "linkman", "link_phone")
    put_code(f, "status", row.get("status"), codes.PROJECT_STATUS_BY_STATE, "status")


def _recruit(f: Fields, value: object) -> None:
    try:
        count = integer(value)
    except ValueError:
        f.refuse("recruit_count", "INVALID_FORMAT", "plan_num is not a whole number")
        return
    if count is None:
        f.missing("recruit_count", "plan_num", required=True)
    elif not 0 <= count <= 999_999:
        f.refuse("recruit_count", "OUT_OF_RANGE", "plan_num is not within 0-999999")
    else:
        f.put("recruit_count", count)


# --- service record (zyy_service_time) ------------------------------------------------

def _eligibility(local: str, base: str, row: Row, ctx: MapContext) -> MapResult | None:
    """Deleted → ineligible → not yet ended; None when the record is for the platform."""
    entity = "service_record"
    if _number(row.get("is_del")) not in (None, 0):
        return Skipped(entity, local, base, "deleted", "is_del is set")
    audit = _number(row.get("audit_state"))
    if audit != 1:
        return Skipped(entity, local, base, "ineligible", f"audit_state is {audit}")
    try:
        end = to_datetime(row.get("end_time"))
    except ValueError:
        return None
    if end is not None and end > ctx.now:
        return Deferred(entity, local, base, end, "end_time is in the future")
    return None


def _number(value: object) -> int | None:
    """An integer column; -1 for a value that is not a whole number."""
    try:
        return integer(value)
    except ValueError:
        return -1


def _service_record(local: str, base: str, row: Row, ctx: MapContext) -> MapResult:
    early = _eligibility(local, base, row, ctx)
    if early is not None:
        return early
    f = Fields()
    put_ref(f, "volunteer_external_ref", ctx.source, "volunteer", row.get("vol_id"), "vol_id")
    put_ref(f, "project_external_ref", ctx.source, "project", row.get("act_id"), "act_id")
    start = put_datetime(f, "start_at", row.get("begin_time"), "begin_time", required=True)
    end = put_datetime(f, "end_at", row.get("end_time"), "end_time", required=True,
                       now=ctx.now)
    minutes = put_minutes(f, row.get("service_minutes"), "service_minutes")
    f.string("content", multiline(row.get("content")), 1, 500, required=True,
             source="content", multiline=True)
    f.string("recorder", text(row.get("recorder")), 1, 20, required=True, source="recorder")
    recorded = put_datetime(f, "recorded_at", row.get("record_time"), "record_time",
                            required=True, now=ctx.now)
    if recorded is not None and end is not None and recorded < end:
        f.refuse("recorded_at", "OUT_OF_RANGE", "record_time is before end_time")
    put_code(f, "entry_method", row.get("record_way"), codes.ENTRY_METHOD_BY_WAY, "record_way")
    parts = service_parts(f, start, end, minutes)
    if f.reasons:
        return Quarantined("service_record", local, base, tuple(f.reasons), tuple(f.warnings))
    return Mapped("service_record", local, base, parts, tuple(f.warnings))


# --- the entry point ------------------------------------------------------------------

_BUILDERS: dict[str, Callable[[Row, MapContext, Fields], None]] = {
    "organization": _organization, "volunteer": _volunteer, "project": _project}


def map_row(row: SourceRow, ctx: MapContext) -> MapResult:
    """One 志愿云 row → its national record(s), or why not. Never raises on column data;
    an entity this mapping does not know is a ConfigError (the wrong mapping)."""
    base = ref(ctx.source, row.entity, row.local_id)
    data: Row = row.data if type(row.data) is dict or isinstance(row.data, Mapping) else {}
    if row.entity == "service_record":
        return _service_record(row.local_id, base, data, ctx)
    builder = _BUILDERS.get(row.entity)
    if builder is None:
        raise ConfigError(f"the zhiyuanyun mapping has no entity {row.entity!r}")
    f = Fields()
    builder(data, ctx, f)
    if f.reasons:
        return Quarantined(row.entity, row.local_id, base, tuple(f.reasons), tuple(f.warnings))
    return Mapped(row.entity, row.local_id, base, (Part("", f.payload),), tuple(f.warnings))
