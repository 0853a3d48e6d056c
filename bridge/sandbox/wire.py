"""JSON on the wire: the response envelope and the shape of a batch body (§1, §4)."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any

from bridge.sandbox.schema import ALLOWED, REVOKE_KEYS, Entity

MAX_BODY = 1024 * 1024
MAX_ITEMS = 100


def request_id() -> str:
    return "req-" + secrets.token_hex(10)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      default=_default).encode("utf-8")


def envelope(code: str, message: str, data: Any, rid: str) -> bytes:
    return dumps({"code": code, "message": message, "request_id": rid, "data": data})


class ShapeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    return json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constant,
                      object_pairs_hook=_pairs)


def parse_items(kind: Entity | None, body: bytes) -> list[dict[str, Any]]:
    """The items of a batch body (kind None: a revocation), or ShapeError (400 or 413)."""
    try:
        doc = parse_json(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ShapeError(400, "the body is not valid UTF-8 JSON") from exc
    if not isinstance(doc, dict) or set(doc) != {"items"}:
        raise ShapeError(400, "the body must be an object with only an items array")
    items = doc["items"]
    if not isinstance(items, list) or not items:
        raise ShapeError(400, "items must be a non-empty array")
    if len(items) > MAX_ITEMS:
        raise ShapeError(413, f"a batch holds at most {MAX_ITEMS} items")
    allowed = REVOKE_KEYS if kind is None else ALLOWED[kind]
    refs: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ShapeError(400, f"items[{index}] is not an object")
        unknown = set(item) - allowed
        if unknown:
            raise ShapeError(400, f"items[{index}] has fields not in the table: "
                             + ", ".join(sorted(unknown)))
        ref = item.get("external_ref")
        if isinstance(ref, str):
            if ref in refs:
                raise ShapeError(400, f"items[{index}] repeats an external_ref of this batch")
            refs.add(ref)
    return items
