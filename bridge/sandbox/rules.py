"""One item, checked on its own: every field of its table, then the rules that join
fields (national-api.md §6). Checks against held records are in apply.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bridge.sandbox import checks
from bridge.sandbox.codes import Codes
from bridge.sandbox.fields import Err, FieldCtx, check
from bridge.sandbox.schema import TABLES, Entity

SKEW = timedelta(seconds=300)


@dataclass(frozen=True)
class Validated:
    values: dict[str, Any]   # by Spec.name; None where absent or invalid
    errors: list[Err]
    invalid: frozenset[str]  # names of the fields that had an error


def validate(entity: Entity, item: Mapping[str, Any], ctx: FieldCtx,
             now: datetime) -> Validated:
    values: dict[str, Any] = {}
    errors: list[Err] = []
    for spec in TABLES[entity]:
        value, errs = check(spec, item, ctx)
        values[spec.name] = value
        errors.extend(errs)
    _RULES[entity](values, errors, now, ctx.codes)
    return Validated(values, errors, frozenset(e.field for e in errors))


def _organization(v: dict[str, Any], errors: list[Err], now: datetime,
                  codes: Codes) -> None:
    if v["org_type"] in ("2", "3") and v["uscc"] is None and not _has(errors, "uscc"):
        errors.append(Err("uscc", "REQUIRED", "required when org_type is 2 or 3"))
    founded = v["established_on"]
    if founded is not None and founded > (now + SKEW).astimezone(checks.CST).date():
        errors.append(Err("established_on", "OUT_OF_RANGE", "in the future"))


def _volunteer(v: dict[str, Any], errors: list[Err], now: datetime, codes: Codes) -> None:
    _identity(v, errors, codes.regions_ever)
    if v["nationality"] == "156" and v["ethnicity"] is None and not _has(errors, "ethnicity"):
        errors.append(Err("ethnicity", "REQUIRED", "required when nationality is 156"))
    birth = v["birth_date"]
    today = now.astimezone(checks.CST).date()
    if birth is not None and (birth > today or checks.age_on(birth, today) > 120):
        errors.append(Err("birth_date", "OUT_OF_RANGE", "must make the person 0-120 years old"))
    _not_future(v, errors, "registered_at", now)


_ID_MESSAGES = {
    "CHECKSUM_MISMATCH": "the GB 11643 check digit does not match",
    "INVALID_CODE": "the first six digits are no region code that ever existed",
    "INVALID_FORMAT": "not an 18-character ID number"}


def _identity(v: dict[str, Any], errors: list[Err], regions: frozenset[str]) -> None:
    id_type, number = v["id_type"], v["id_number"]
    if id_type is None or number is None:
        return
    if id_type == "01":
        problem = checks.mainland_id_problem(number, regions)
        if problem:
            errors.append(Err("id_number", problem, _ID_MESSAGES[problem]))
        else:
            _agreement(v, errors, number, regions)
    elif checks.mainland_id(number, regions) is not None:
        errors.append(Err("id_type", "INVALID_CODE", "a valid mainland ID number is type 01"))
    elif not checks.ID_FORMATS[id_type].fullmatch(number):
        errors.append(Err("id_number", "INVALID_FORMAT", f"not the format of id_type {id_type}"))


def _agreement(v: dict[str, Any], errors: list[Err], number: str,
               regions: frozenset[str]) -> None:
    held = checks.mainland_id(number, regions)
    assert held is not None
    if v["gender"] is not None and v["gender"] != held.gender:
        errors.append(Err("gender", "ID_MISMATCH", "disagrees with the ID number"))
    if v["birth_date"] is not None and v["birth_date"] != held.birth:
        errors.append(Err("birth_date", "ID_MISMATCH", "disagrees with the ID number"))


def _project(v: dict[str, Any], errors: list[Err], now: datetime,
             codes: Codes) -> None:
    if v["start_at"] is not None and v["end_at"] is not None and v["end_at"] <= v["start_at"]:
        errors.append(Err("end_at", "OUT_OF_RANGE", "must be after start_at"))


def _service_record(v: dict[str, Any], errors: list[Err], now: datetime,
                    codes: Codes) -> None:
    start, end = v["start_at"], v["end_at"]
    if start is not None and end is not None:
        if end <= start:
            errors.append(Err("end_at", "OUT_OF_RANGE", "must be after start_at"))
        else:
            first, last = checks.service_day(start, end)
            if first != last:
                errors.append(Err("end_at", "OUT_OF_RANGE",
                                  "not on start_at's calendar day (UTC+08:00)"))
            _hours_fit(v["hours"], end - start, errors)
    _not_future(v, errors, "end_at", now)
    _not_future(v, errors, "recorded_at", now)
    if v["recorded_at"] is not None and end is not None and v["recorded_at"] < end:
        errors.append(Err("recorded_at", "OUT_OF_RANGE", "before end_at"))


def _hours_fit(hours: Decimal | None, span: timedelta, errors: list[Err]) -> None:
    if hours is None:
        return
    span_us = (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds
    if hours * 3_600_000_000 > span_us:
        errors.append(Err("hours", "OUT_OF_RANGE", "more than the span from start_at to end_at"))


def _not_future(v: dict[str, Any], errors: list[Err], name: str, now: datetime) -> None:
    if v[name] is not None and v[name] > now + SKEW:
        errors.append(Err(name, "OUT_OF_RANGE", "in the future"))


def _has(errors: list[Err], name: str) -> bool:
    return any(e.field == name for e in errors)


_RULES: dict[str, Callable[[dict[str, Any], list[Err], datetime, Codes], None]] = {
    "organization": _organization, "volunteer": _volunteer, "project": _project,
    "service_record": _service_record}
