"""What a mapping returns for one source row. Pure values, no I/O.

A payload never holds `external_ref`: the engine composes it (base ref, generation,
part suffix). References to other records use the `_external_ref` form; which fields
are references is the engine's table (`bridge/refs.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Reason:
    """Why a field was refused (quarantine) or dropped (warning).

    `message` never holds an ID number, a phone or a name in clear (PIPL)."""

    field: str
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Part:
    """One national record produced by a source row. `suffix` is "" for a whole
    record, ".d1", ".d2"… for the parts of a record split at midnight."""

    suffix: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Mapped:
    entity: str
    local_id: str
    base_ref: str
    parts: tuple[Part, ...]
    warnings: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class Quarantined:
    entity: str
    local_id: str
    base_ref: str
    reasons: tuple[Reason, ...]
    warnings: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """Not for the platform now: `why` is "ineligible" (e.g. audit_state ≠ 1) or
    "deleted" (soft delete, voided). If it was sent before, the engine revokes it."""

    entity: str
    local_id: str
    base_ref: str
    why: str
    detail: str = ""


@dataclass(frozen=True)
class Deferred:
    """Eligible only once `until` (aware datetime) has passed: an end time in the future,
    a log not yet approved. The engine keeps it and maps it again then."""

    entity: str
    local_id: str
    base_ref: str
    until: datetime | None
    detail: str = ""


MapResult = Mapped | Quarantined | Skipped | Deferred


@dataclass(frozen=True)
class MapContext:
    """Everything a mapping may know besides the row. `now` is an aware datetime."""

    source: str
    now: datetime
    jurisdiction: str | None = None
    projects_from: str | None = None
    ref_key: bytes | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def ref(source: str, entity: str, local_id: str) -> str:
    """`<source>:<entity>:<local id>`, the external_ref of a whole local record."""
    return f"{source}:{entity}:{local_id}"
