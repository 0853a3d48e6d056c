"""The record tables of national-api.md §6 as data: one Spec per field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["ext_ref", "text", "name", "code", "codes", "choice", "uscc", "area", "phone",
               "mobile", "date", "datetime", "int", "hours", "id_number", "ref", "refs",
               "strlist"]
Entity = Literal["organization", "volunteer", "project", "service_record"]

ENTITIES: tuple[Entity, ...] = ("organization", "volunteer", "project", "service_record")
PATHS: Mapping[Entity, str] = {"organization": "organizations", "volunteer": "volunteers",
                               "project": "projects", "service_record": "service-records"}
BY_PATH: Mapping[str, Entity] = {v: k for k, v in PATHS.items()}
ID_LETTER: Mapping[Entity, str] = {"organization": "O", "volunteer": "V", "project": "P",
                                   "service_record": "S"}


@dataclass(frozen=True)
class Spec:
    name: str
    kind: Kind
    required: bool = True
    max_len: int = 0          # characters, or items for lists
    table: str = ""           # code table of `code` / `codes`
    choices: tuple[str, ...] = ()
    target: Entity | None = None  # the entity a ref points to
    multiline: bool = False
    item_len: int = 0         # characters per item of a `strlist`

    @property
    def keys(self) -> tuple[str, ...]:
        """The request keys of this field (a reference has two forms)."""
        if self.kind == "ref":
            return (f"{self.name}_national_id", f"{self.name}_external_ref")
        if self.kind == "refs":
            return (f"{self.name}_national_ids", f"{self.name}_external_refs")
        return (self.name,)

    @property
    def held(self) -> str:
        """The key the platform holds the value under."""
        return self.keys[0]


def _contact() -> tuple[Spec, ...]:
    return (Spec("contact_name", "text", max_len=20), Spec("contact_phone", "phone"))


ORGANIZATION = (
    Spec("external_ref", "ext_ref"),
    Spec("name", "text", max_len=50),
    Spec("org_type", "code", table="org_type"),
    Spec("uscc", "uscc", required=False),
    Spec("parent", "ref", required=False, target="organization"),
    Spec("area_code", "area"),
    Spec("address", "text", required=False, max_len=50),
    Spec("service_categories", "codes", max_len=4, table="service_category"),
    *_contact(),
    Spec("established_on", "date", required=False),
    Spec("status", "choice", choices=("active", "dissolved")),
)

VOLUNTEER = (
    Spec("external_ref", "ext_ref"),
    Spec("name", "name", max_len=20),
    Spec("id_type", "code", table="id_type"),
    Spec("id_number", "id_number"),
    Spec("gender", "code", table="gender"),
    Spec("birth_date", "date"),
    Spec("nationality", "code", table="nationality"),
    Spec("ethnicity", "code", required=False, table="ethnicity"),
    Spec("political_status", "code", required=False, table="political_status"),
    Spec("education", "code", required=False, table="education"),
    Spec("mobile", "mobile"),
    Spec("email", "text", required=False, max_len=50),
    Spec("area_code", "area"),
    Spec("organization", "refs", required=False, target="organization"),
    Spec("skills", "strlist", required=False, max_len=10, item_len=20),
    Spec("registered_at", "datetime"),
    Spec("status", "choice", choices=("active", "inactive")),
)

PROJECT = (
    Spec("external_ref", "ext_ref"),
    Spec("name", "text", max_len=50),
    Spec("organization", "ref", target="organization"),
    Spec("service_categories", "codes", max_len=4, table="service_category"),
    Spec("area_code", "area"),
    Spec("address", "text", max_len=50),
    Spec("start_at", "datetime"),
    Spec("end_at", "datetime"),
    Spec("recruit_count", "int"),
    Spec("description", "text", max_len=2000, multiline=True),
    *_contact(),
    Spec("status", "choice", choices=("recruiting", "running", "finished", "cancelled")),
)

SERVICE_RECORD = (
    Spec("external_ref", "ext_ref"),
    Spec("volunteer", "ref", target="volunteer"),
    Spec("project", "ref", target="project"),
    Spec("start_at", "datetime"),
    Spec("end_at", "datetime"),
    Spec("hours", "hours"),
    Spec("content", "text", max_len=500, multiline=True),
    Spec("recorder", "text", max_len=20),
    Spec("recorded_at", "datetime"),
    Spec("entry_method", "code", table="entry_method"),
)

TABLES: Mapping[Entity, tuple[Spec, ...]] = {
    "organization": ORGANIZATION, "volunteer": VOLUNTEER, "project": PROJECT,
    "service_record": SERVICE_RECORD}
ALLOWED: Mapping[Entity, frozenset[str]] = {
    entity: frozenset(k for spec in specs for k in spec.keys) for entity, specs in TABLES.items()}
REVOKE_KEYS = frozenset({"external_ref", "reason"})
