"""Field by field checks of one item against its table (national-api.md §6).

Each check gives the field's typed value (or None) and its errors; cross-field rules
are in rules.py, checks against held records in apply.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from bridge.sandbox import checks
from bridge.sandbox.codes import Codes
from bridge.sandbox.schema import Spec


class Err(NamedTuple):
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Ref:
    national: bool   # True: a national id; False: an external_ref of this app
    value: str


@dataclass(frozen=True)
class Refs:
    national: bool
    values: tuple[str, ...]


@dataclass(frozen=True)
class FieldCtx:
    codes: Codes
    jurisdiction: str


Checked = tuple[Any, list[Err]]


def check(spec: Spec, item: Mapping[str, Any], ctx: FieldCtx) -> Checked:
    if spec.kind == "ref":
        return _ref(spec, item)
    if spec.kind == "refs":
        return _refs(spec, item)
    value = item.get(spec.name)
    if value is None or value == "" or value == []:
        if spec.required:
            return None, [Err(spec.name, "REQUIRED", "required")]
        if value is None:
            return None, []
    return _KINDS[spec.kind](spec, value, ctx)


def _fail(spec: Spec, code: str, message: str, field: str | None = None) -> Checked:
    return None, [Err(field or spec.name, code, message)]


def _string(spec: Spec, value: Any, max_len: int = 0, field: str | None = None
            ) -> tuple[str | None, list[Err]]:
    name = field or spec.name
    if not isinstance(value, str):
        return None, [Err(name, "INVALID_FORMAT", "must be a string")]
    if value == "":
        return None, [Err(name, "INVALID_FORMAT", "must not be empty")]
    problem = checks.string_problem(value, multiline=spec.multiline)
    if problem:
        return None, [Err(name, "INVALID_FORMAT", f"has {problem}")]
    limit = max_len or spec.max_len
    if limit and len(value) > limit:
        return None, [Err(name, "INVALID_FORMAT", f"longer than {limit} characters")]
    return value, []


def _text(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    return _string(spec, value)


def _ext_ref(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    text, errs = _string(spec, value)
    if text is not None and not checks.EXTERNAL_REF.fullmatch(text):
        return _fail(spec, "INVALID_FORMAT", "must be 1-128 characters of [A-Za-z0-9_.:-]")
    return text, errs


def _name(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    text, errs = _string(spec, value)
    if text is not None and not checks.is_person_name(text):
        return _fail(spec, "INVALID_FORMAT",
                     "must be CJK characters (with ·) or Latin letters and spaces")
    return text, errs


def _code(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    text, errs = _string(spec, value)
    if text is not None and not ctx.codes.has(spec.table, text):
        return _fail(spec, "INVALID_CODE", f"not a code of {spec.table}")
    return text, errs


def _choice(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    text, errs = _string(spec, value)
    if text is not None and text not in spec.choices:
        return _fail(spec, "INVALID_CODE", "must be one of " + ", ".join(spec.choices))
    return text, errs


def _codes(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    if not isinstance(value, list):
        return _fail(spec, "INVALID_FORMAT", "must be a list of codes")
    if len(value) > spec.max_len:
        return _fail(spec, "INVALID_FORMAT", f"holds more than {spec.max_len} codes")
    if not all(isinstance(v, str) for v in value):
        return _fail(spec, "INVALID_FORMAT", "must be a list of strings")
    if len(set(value)) != len(value):
        return _fail(spec, "INVALID_FORMAT", "holds a code twice")
    if not all(ctx.codes.has(spec.table, v) for v in value):
        return _fail(spec, "INVALID_CODE", f"holds a code not in {spec.table}")
    return tuple(sorted(value)), []


def _strlist(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    if not isinstance(value, list):
        return _fail(spec, "INVALID_FORMAT", "must be a list of strings")
    if len(value) > spec.max_len:
        return _fail(spec, "INVALID_FORMAT", f"holds more than {spec.max_len} items")
    for v in value:
        _, errs = _string(spec, v, spec.item_len)
        if errs:
            return None, errs
    return tuple(value), []


def _pattern(kind: str) -> Callable[[Spec, Any, FieldCtx], Checked]:
    regex = checks.PHONE if kind == "phone" else checks.MOBILE

    def run(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
        text, errs = _string(spec, value)
        if text is not None and not regex.fullmatch(text):
            return _fail(spec, "INVALID_FORMAT", f"not a valid {kind} number")
        return text, errs
    return run


def _uscc(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    text, errs = _string(spec, value)
    regions = ctx.codes.regions_ever
    problem = checks.uscc_problem(text, regions) if text is not None else None
    if problem == "CHECKSUM_MISMATCH":
        return _fail(spec, problem, "the GB 32100 check character does not match")
    if problem:
        return _fail(spec, problem, "must be 18 characters of the GB 32100 set, characters "
                                    "3-8 being 100000 or a region code of region_history")
    return text, errs


def _area(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    text, errs = _string(spec, value)
    problem = (checks.area_problem(text, ctx.codes.counties, ctx.codes.townships,
                                   ctx.jurisdiction) if text else None)
    messages = {"INVALID_FORMAT": "must be 18 digits ending in six zeros",
                "INVALID_CODE": "not a county-level code of region, or a township of "
                                "that county not in township",
                "FORBIDDEN_REGION": "outside the app's jurisdiction"}
    if problem:
        return _fail(spec, problem, messages[problem])
    return text, errs


def _date(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    text, errs = _string(spec, value)
    if text is None:
        return None, errs
    parsed = checks.parse_date(text)
    if parsed is None:
        return _fail(spec, "INVALID_FORMAT", "not a real YYYY-MM-DD date")
    if parsed < checks.EPOCH_FLOOR:
        return _fail(spec, "OUT_OF_RANGE", "before 1900-01-01")
    return parsed, []


def _datetime(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    text, errs = _string(spec, value)
    if text is None:
        return None, errs
    parsed = checks.parse_datetime(text)
    if parsed is None:
        return _fail(spec, "INVALID_FORMAT", "not a real RFC 3339 datetime with an offset")
    if parsed.date() < checks.EPOCH_FLOOR:
        return _fail(spec, "OUT_OF_RANGE", "before 1900-01-01")
    try:
        checks.instant(parsed)
    except OverflowError:
        return _fail(spec, "OUT_OF_RANGE", "beyond the calendar")
    return parsed, []


def _int(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    if not isinstance(value, int) or isinstance(value, bool):
        return _fail(spec, "INVALID_FORMAT", "must be an integer")
    if not 0 <= value <= 999_999:
        return _fail(spec, "OUT_OF_RANGE", "must be 0-999999")
    return value, []


def _hours(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return _fail(spec, "INVALID_FORMAT", "must be a number")
    number = Decimal(value)
    if not number.is_finite():
        return _fail(spec, "INVALID_FORMAT", "must be a finite number")
    if number <= 0:
        return _fail(spec, "OUT_OF_RANGE", "must be more than 0")
    if _decimals(number) > 2:
        return _fail(spec, "INVALID_FORMAT", "two decimals at most")
    return number, []


def _decimals(number: Decimal) -> int:
    """Decimal places of a finite number's value (trailing zeros do not count)."""
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    places = -exponent
    for digit in reversed(digits):
        if places <= 0 or digit != 0:
            break
        places -= 1
    return max(places, 0)


def _id_number(spec: Spec, value: Any, ctx: FieldCtx) -> Checked:
    return _string(spec, value)


def _ref(spec: Spec, item: Mapping[str, Any]) -> Checked:
    nat_key, ext_key = spec.keys
    nat, ext = item.get(nat_key), item.get(ext_key)
    if nat is not None and ext is not None:
        return _fail(spec, "INVALID_FORMAT", f"give {nat_key} or {ext_key}, not both", ext_key)
    if nat is None and ext is None:
        return (_fail(spec, "REQUIRED", "required", nat_key) if spec.required else (None, []))
    key, raw = (nat_key, nat) if nat is not None else (ext_key, ext)
    text, errs = _string(spec, raw, 128, key)
    if text is not None and not checks.EXTERNAL_REF.fullmatch(text):
        return _fail(spec, "INVALID_FORMAT", "not a valid reference", key)
    return (Ref(nat is not None, text) if text is not None else None), errs


def _refs(spec: Spec, item: Mapping[str, Any]) -> Checked:
    nat_key, ext_key = spec.keys
    nat, ext = item.get(nat_key), item.get(ext_key)
    if nat is not None and ext is not None:
        return _fail(spec, "INVALID_FORMAT", f"give {nat_key} or {ext_key}, not both", ext_key)
    if nat is None and ext is None:
        return None, []
    key, raw = (nat_key, nat) if nat is not None else (ext_key, ext)
    if not isinstance(raw, list):
        return _fail(spec, "INVALID_FORMAT", "must be a list of references", key)
    for v in raw:
        text, errs = _string(spec, v, 128, key)
        if errs or text is None or not checks.EXTERNAL_REF.fullmatch(text):
            return _fail(spec, "INVALID_FORMAT", "holds an invalid reference", key)
    return Refs(nat is not None, tuple(dict.fromkeys(raw))), []


_KINDS: dict[str, Callable[[Spec, Any, FieldCtx], Checked]] = {
    "ext_ref": _ext_ref, "text": _text, "name": _name, "code": _code, "codes": _codes,
    "choice": _choice, "uscc": _uscc, "area": _area, "phone": _pattern("phone"),
    "mobile": _pattern("mobile"), "date": _date, "datetime": _datetime, "int": _int,
    "hours": _hours, "id_number": _id_number, "strlist": _strlist,
}
