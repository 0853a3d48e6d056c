"""Reads (national-api.md §8) and the records oracle of the control endpoint."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bridge.sandbox import checks
from bridge.sandbox.db import Row, Store
from bridge.sandbox.schema import TABLES, Entity

DEFAULT_PAGE = 100
MAX_PAGE = 500
_DATETIMES = {e: frozenset(s.name for s in specs if s.kind == "datetime")
              for e, specs in TABLES.items()}


class BadQuery(ValueError):
    """The query itself is malformed: 400 INVALID_REQUEST."""


def number(text: str) -> int | float:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(text)


def present(store: Store, row: Row, app_id: str | None) -> dict[str, Any]:
    """A record as held; `app_id` None: every app's refs (the control oracle)."""
    entity: Entity = row.entity  # type: ignore[assignment]
    out: dict[str, Any] = {}
    for key, value in row.data.items():
        if key in _DATETIMES[entity] and value is not None:
            value = checks.cst_text(value)
        elif key == "hours":
            value = number(value)
        out[key] = value
    if entity == "volunteer":
        out["organization_national_ids"] = store.union_memberships(row.national_id)
    refs = store.refs_of(row.national_id)
    out["national_id"] = row.national_id
    out["external_refs"] = [ref for app, ref, _ in refs if app_id in (None, app)]
    out["version"] = row.version
    out["updated_at"] = checks.cst_text(row.updated_at)
    if entity == "service_record" or app_id is None:
        out["revoked"] = row.revoked
    if app_id is None:
        out["refs"] = [{"app_id": app, "external_ref": ref, "role": role}
                       for app, ref, role in refs]
        out["revoke_reason"] = row.revoke_reason
    return out


def by_id(store: Store, entity: Entity, national_id: str, app_id: str) -> dict[str, Any] | None:
    row = store.record(national_id)
    if row is None or row.entity != entity:
        return None
    return present(store, row, app_id)


def query(store: Store, entity: Entity, params: Sequence[tuple[str, str]],
          app_id: str) -> dict[str, Any] | None:
    """`?external_ref=` (None when unknown) or a page of `?updated_since=&page_size=…`."""
    keys = [k for k, _ in params]
    if len(set(keys)) != len(keys):
        raise BadQuery("a query parameter appears twice")
    given = dict(params)
    if "external_ref" in given:
        if len(given) > 1:
            raise BadQuery("external_ref goes alone")
        held = store.ref(app_id, entity, given["external_ref"])
        return None if held is None else by_id(store, entity, held[0], app_id)
    unknown = set(given) - {"updated_since", "page_size", "page_token"}
    if unknown:
        raise BadQuery("unknown query parameters: " + ", ".join(sorted(unknown)))
    return _page(store, entity, given, app_id)


def _page(store: Store, entity: Entity, given: dict[str, str], app_id: str) -> dict[str, Any]:
    since = ""
    if "updated_since" in given:
        parsed = checks.parse_datetime(given["updated_since"])
        if parsed is None:
            raise BadQuery("updated_since must be an RFC 3339 datetime with an offset")
        since = checks.instant(parsed)
    size = DEFAULT_PAGE
    if "page_size" in given:
        text = given["page_size"]
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
            raise BadQuery(f"page_size must be 1-{MAX_PAGE}")
        size = int(text)
    after = _token(given["page_token"]) if "page_token" in given else None
    rows = store.page(entity, app_id, since, after, size + 1)
    more = len(rows) > size
    rows = rows[:size]
    token = _make_token(rows[-1]) if more else None
    return {"items": [present(store, r, app_id) for r in rows], "next_page_token": token}


def _make_token(row: Row) -> str:
    raw = json.dumps([row.updated_at, row.national_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _token(text: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadQuery("page_token is not one this server gave") from exc
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, str) for v in value)):
        raise BadQuery("page_token is not one this server gave")
    return value[0], value[1]


def hours(store: Store, national_id: str) -> dict[str, Any] | None:
    if not store.exists("volunteer", national_id):
        return None
    values = [Decimal(h) for h in store.live_hours(national_id)]
    total = sum(values, Decimal(0))
    return {"total_hours": number(format(total, "f")), "records": len(values)}


def oracle(store: Store, entity: Entity) -> list[dict[str, Any]]:
    return [present(store, row, None) for row in store.all_of(entity)]
