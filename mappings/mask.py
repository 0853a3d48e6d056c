"""PII masking (PIPL): ID numbers, phones and names never appear in clear in a log line,
an error message or an export (DESIGN.md invariant 7).

`redact` finds ID-number-like and phone-like runs in free text, half- or full-width,
written whole or with single spaces or dashes between digits, and masks them; the log
redaction processor runs every string through it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_D = "[0-9\uff10-\uff19]"                      # a digit, half- or full-width
_SEP = "[ \\-]?"                               # one optional space or dash between digits
_X = "[0-9\uff10-\uff19Xx\uff38\uff58]"        # the last character of an ID number
_NOT_AFTER_DIGIT = f"(?<!{_D})(?<!{_D}[ \\-])"
_NOT_BEFORE_DIGIT = f"(?!{_SEP}{_D})"
_NOT_NEAR_ALNUM = "(?<![0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a])"
_NOT_BEFORE_ALNUM = "(?![0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a])"


def _digits(n: int) -> str:
    """n digits with an optional single space or dash between any two."""
    return f"{_D}(?:{_SEP}{_D}){{{n - 1}}}"


def _compact(value: str) -> str:
    return re.sub(r"[\s\-()]", "", unicodedata.normalize("NFKC", value)).upper()


def mask_id(value: str) -> str:
    """`3502**********1234`: an ID number of 18 characters or more keeps its first 4 and
    last 4; a shorter one its first 2 and last 2; 4 or fewer are all masked."""
    s = _compact(value)
    n = len(s)
    if n >= 18:
        return s[:4] + "*" * (n - 8) + s[-4:]
    if n > 4:
        return s[:2] + "*" * (n - 4) + s[-2:]
    return "*" * n


def mask_phone(value: str) -> str:
    """`138****0000` for a mainland mobile (a +86 prefix kept); `+852****5678`,
    `+886*****5678` for Hong Kong, Macau and Taiwan: only the last 4 digits show."""
    s = _compact(value)
    if m := re.fullmatch(r"((?:\+|00)?86)?(1[0-9]{10})", s, re.ASCII):
        return f"{m[1] or ''}{m[2][:3]}****{m[2][-4:]}"
    if m := re.fullmatch(r"((?:\+|00)?(?:852|853|886))([0-9]{5,})", s, re.ASCII):
        return f"{m[1]}{'*' * (len(m[2]) - 4)}{m[2][-4:]}"
    n = len(s)
    if n >= 11:
        return s[:3] + "*" * (n - 7) + s[-4:]
    if n > 6:
        return "*" * (n - 4) + s[-4:]
    return "*" * n


def mask_name(value: str) -> str:
    """`林*贵`: first and last character kept; two characters `林*`; one `*`."""
    s = value.strip()
    if len(s) <= 1:
        return "*" * len(s)
    if len(s) == 2:
        return s[0] + "*"
    return s[0] + "*" * (len(s) - 2) + s[-1]


def _date_like(digits: str) -> bool:
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:])
    return 1900 <= year <= 2199 and 1 <= month <= 12 and 1 <= day <= 31


def _mask_eight(match: re.Match[str]) -> str:
    s = _compact(match[0])
    return match[0] if _date_like(s) else mask_id(s)


_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]
_RULES: tuple[_Rule, ...] = (
    # 18-character ID numbers (居民身份证, 居住证, 外国人永久居留身份证)
    (re.compile(f"{_NOT_AFTER_DIGIT}{_digits(17)}{_SEP}{_X}(?![0-9\uff10-\uff19])"),
     lambda m: mask_id(m[0])),
    # Taiwan, Hong Kong and Macau mobiles with their country codes
    (re.compile(f"(?:\\+|00)\\s?(?:852|853|886){_SEP}{_D}(?:{_SEP}{_D}){{7,9}}"
                f"{_NOT_BEFORE_DIGIT}"), lambda m: mask_phone(m[0])),
    # mainland mobiles, with or without +86 / 0086 / 86
    (re.compile(f"{_NOT_AFTER_DIGIT}(?:(?:\\+|00)?86{_SEP})?[1\uff11][3-9\uff13-\uff19]"
                f"(?:{_SEP}{_D}){{9}}{_NOT_BEFORE_DIGIT}"), lambda m: mask_phone(m[0])),
    # 15-digit ID numbers
    (re.compile(f"{_NOT_AFTER_DIGIT}{_digits(15)}{_NOT_BEFORE_DIGIT}"),
     lambda m: mask_id(m[0])),
    # Taiwan mobiles written locally: 09xx-xxx-xxx
    (re.compile(f"{_NOT_AFTER_DIGIT}[0\uff10][9\uff19](?:{_SEP}{_D}){{8}}{_NOT_BEFORE_DIGIT}"),
     lambda m: mask_phone(m[0])),
    # letters then digits: passports, 港澳通行证, HK ID A123456(7), 台湾身分證 A123456789
    (re.compile(f"{_NOT_NEAR_ALNUM}[A-Z\uff21-\uff3a]{{1,2}}{_D}{{6,10}}"
                f"(?:\\(?[0-9A\uff10-\uff19]\\))?{_NOT_BEFORE_ALNUM}"),
     lambda m: mask_id(m[0])),
    # 8 digits standing alone (台胞证, 澳门居民身份证), unless they read as a date
    (re.compile(f"{_NOT_AFTER_DIGIT}{_D}{{8}}{_NOT_BEFORE_DIGIT}"), _mask_eight),
)


_ANY_DIGIT = re.compile(_D)

# Keys, never values: what the audit log holds in clear, so that a log line and its audit
# entry can be matched. A batch's idempotency key, an external_ref (source:entity:id, an
# id of the local system or a keyed hash, never an ID number itself) and a national id.
KEY_TOKENS = re.compile(
    r"(?<![0-9A-Za-z])zyb-[0-9a-f]{32}(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z])[OPSR][0-9]{12}(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z])V[0-9]{16}[0-9A-Z](?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z_:])(?P<ref>[a-z0-9_]+:(?:organization|volunteer|project|service_record):)"
    r"(?P<local>[0-9A-Za-z_\-.]*[0-9A-Za-z_])(?![0-9A-Za-z_])", re.ASCII)


def redact(text: str) -> str:
    """`text` with every ID-number-like and phone-like run masked; keys (batch keys,
    external refs, national ids) are left as they are."""
    if not _ANY_DIGIT.search(text):    # every rule needs a digit
        return text
    parts: list[str] = []
    at = 0
    for key in KEY_TOKENS.finditer(text):
        parts += [_redact_free(text[at:key.start()]), _keep(key)]
        at = key.end()
    parts.append(_redact_free(text[at:]))
    return "".join(parts)


def _keep(key: re.Match[str]) -> str:
    """A key as it is; but the local id of a ref still loses a whole ID number or mobile
    (a local system keyed by ID numbers must not leak them through its refs)."""
    if key["ref"] is None:
        return key[0]
    local = key["local"]
    for pattern, masker in _RULES[:3]:   # 18-character ID numbers, mobiles
        local = pattern.sub(masker, local)
    return key["ref"] + local


def _redact_free(text: str) -> str:
    for pattern, masker in _RULES:
        text = pattern.sub(masker, text)
    return text


# listings: masking by allow-list ----------------------------------------------------------
# The fields known to hold nothing personal (operator-interface.md, "Personal data the
# bridge keeps"): keys and refs, codes of things, states, the dates of records (never a
# birth date), counts and hours. A listing shows these (free text in them still redacted);
# every other field, the unknown ones included, is masked.
SHOWN_FIELDS = frozenset({
    # the national payloads (national-api.md §4)
    "external_ref", "national_id", "op", "org_type", "uscc", "parent_national_id",
    "parent_external_ref", "area_code", "service_categories", "established_on", "status",
    "id_type", "nationality", "organization_national_ids", "organization_external_refs",
    "organization_national_id", "organization_external_ref", "registered_at", "start_at",
    "end_at", "recruit_count", "volunteer_national_id", "volunteer_external_ref",
    "project_national_id", "project_external_ref", "hours", "recorded_at", "entry_method",
    # 志愿云 (local-sources.md §A)
    "team_id", "team_name", "team_kind", "credit_code", "parent_team_id", "service_types",
    "found_date", "state", "gmt_modified", "vol_id", "cert_type", "vol_kind", "reg_time",
    "is_cancel", "memberships", "join_time", "act_id", "title", "service_type", "begin_time",
    "end_time", "plan_num", "rec_id", "service_minutes", "record_time", "record_way",
    "audit_state", "is_del",
    # a social-work agency (§B)
    "workerId", "logId", "activityCode", "districtCode", "registeredAt", "active",
    "updatedAt", "startTime", "endTime", "durationHours", "approvedAt", "voided",
    # Taiwan sheets (§C)
    "证件类型", "服务区域", "注册日期", "活动编号", "服务开始时间", "服务结束时间",
    "服务时长(小时)", "记录时间",
})
ID_FIELDS = frozenset({"id_number", "cert_no", "idCard", "certificateNo", "证件号码"})
PHONE_FIELDS = frozenset({"mobile", "phone", "link_phone", "contact_phone", "手机"})


def mask_text(value: str) -> str:
    """Any other personal value (an email, an address, a birth date): its first and last
    characters and its length show, nothing else (`l*************m`)."""
    return mask_name(value)


def mask_field(key: str, value: object) -> object:
    """A value of field `key` fit for a listing: shown (with ID-number-like and phone-like
    runs redacted) when the field is on the allow-list, masked otherwise; dicts by their
    own keys, lists item by item."""
    if isinstance(value, dict):
        return {k: mask_field(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_field(key, v) for v in value]
    if value is None:
        return None
    if key in SHOWN_FIELDS:
        return value if isinstance(value, bool | int | float) else redact(str(value))
    if key in ID_FIELDS:
        return mask_id(str(value))
    if key in PHONE_FIELDS:
        return mask_phone(str(value))
    return mask_text(str(value))
