"""Which payload fields refer to other records, and the order entities are pushed in."""

from __future__ import annotations

import hashlib
from typing import Any

from state.base import dumps

# field -> required?; list-valued fields end in "_refs"
REF_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "organization": (("parent_external_ref", False),),
    "volunteer": (("organization_external_refs", False),),
    "project": (("organization_external_ref", True),),
    "service_record": (("volunteer_external_ref", True), ("project_external_ref", True)),
}

# organizations → volunteers → projects → revocations → service records (DESIGN.md "Order")
PHASES: tuple[tuple[str, str], ...] = (
    ("organization", "upsert"),
    ("volunteer", "upsert"),
    ("project", "upsert"),
    ("service_record", "revoke"),
    ("service_record", "upsert"),
)

PATHS: dict[tuple[str, str], str] = {
    ("organization", "upsert"): "/organizations/batch",
    ("volunteer", "upsert"): "/volunteers/batch",
    ("project", "upsert"): "/projects/batch",
    ("service_record", "upsert"): "/service-records/batch",
    ("service_record", "revoke"): "/service-records/revoke",
}


def compose(base_ref: str, generation: int, suffix: str) -> str:
    """`<ref>`, `<ref>.g2`, `<ref>.d1`, `<ref>.g2.d1` (DESIGN.md "Derived refs")."""
    gen = f".g{generation}" if generation > 1 else ""
    return f"{base_ref}{gen}{suffix}"


# the payload's canonical text: the state file's one canonical JSON (state.base.dumps)
canonical = dumps


def payload_hash(payload: dict[str, Any]) -> str:
    return text_hash(canonical(payload))


def text_hash(text: str) -> str:
    """payload_hash of a payload whose canonical text is at hand."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parent_refs(entity: str, payload: dict[str, Any]) -> list[tuple[str, bool]]:
    """Every (ref, required) the payload names."""
    out: list[tuple[str, bool]] = []
    for field, required in REF_FIELDS.get(entity, ()):
        value = payload.get(field)
        if isinstance(value, list):
            out.extend((str(v), required) for v in value)
        elif value:
            out.append((str(value), required))
    return out
