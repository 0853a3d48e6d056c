"""Applying a batch in item order (national-api.md §5–§7): references, identities and
aliases, spans and overlaps, replace semantics, revocation. The caller holds the
transaction; one item's rejection never touches the others."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bridge.sandbox import checks
from bridge.sandbox.codes import Codes
from bridge.sandbox.db import Row, Store
from bridge.sandbox.fields import Err, FieldCtx, Ref, Refs
from bridge.sandbox.rules import validate
from bridge.sandbox.schema import ID_LETTER, TABLES, Entity

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class App:
    id: str
    secret: str = field(repr=False)
    jurisdiction: str


@dataclass(frozen=True)
class Result:
    external_ref: Any
    status: str
    national_id: str | None = None
    errors: tuple[Err, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"external_ref": self.external_ref, "status": self.status,
                "national_id": self.national_id,
                "errors": [e.as_dict() for e in self.errors]}


@dataclass
class _Item:
    """One item on its way: checked values, resolved refs, errors so far."""
    app: App
    entity: Entity
    sent_ref: Any
    values: dict[str, Any]
    errors: list[Err]
    resolved: dict[str, Any]
    held: tuple[str, str] | None  # (national_id, role) already under this external_ref

    def rejected(self) -> Result:
        return Result(self.sent_ref, "rejected", None, tuple(self.errors))

    def fine(self, *names: str) -> bool:
        """The named fields are present and carry no error."""
        bad = {e.field for e in self.errors}
        return all(self.values.get(n) is not None and n not in bad for n in names)


def canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return checks.instant(value)
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class Applier:
    def __init__(self, store: Store, codes: Codes) -> None:
        self.store = store
        self.codes = codes
        self._last = datetime.min.replace(tzinfo=UTC)

    def stamp(self) -> str:
        """A strictly increasing updated_at."""
        now = datetime.now(UTC)
        self._last = max(now, self._last + timedelta(microseconds=1))
        return checks.instant(self._last)

    # upserts ------------------------------------------------------------------------
    def upsert(self, app: App, entity: Entity, items: list[dict[str, Any]],
               now: datetime) -> list[Result]:
        return [self._upsert(app, entity, item, now) for item in items]

    def _upsert(self, app: App, entity: Entity, raw: Mapping[str, Any],
                now: datetime) -> Result:
        checked = validate(entity, raw, FieldCtx(self.codes, app.jurisdiction), now)
        ref = checked.values["external_ref"]
        item = _Item(app, entity, raw.get("external_ref"), checked.values, list(checked.errors),
                     {}, self.store.ref(app.id, entity, ref) if ref is not None else None)
        self._resolve(item)
        if entity == "volunteer":
            return self._volunteer(item)
        if entity == "service_record":
            self._record_checks(item)
        if item.errors:
            return item.rejected()
        return self._write(item, self._data(item))

    def _resolve(self, item: _Item) -> None:
        for spec in TABLES[item.entity]:
            value = item.values.get(spec.name)
            if isinstance(value, Ref) and spec.target:
                found = self._find(item.app, spec.target, value)
                item.resolved[spec.held] = found
                if found is None:
                    item.errors.append(Err(spec.keys[0 if value.national else 1],
                                           "REF_NOT_FOUND", f"no such {spec.target}"))
            elif isinstance(value, Refs) and spec.target:
                target = spec.target
                found_all = [self._find(item.app, target, Ref(value.national, v))
                             for v in value.values]
                item.resolved[spec.held] = sorted({f for f in found_all if f is not None})
                if None in found_all:
                    item.errors.append(Err(spec.keys[0 if value.national else 1],
                                           "REF_NOT_FOUND", f"holds an unknown {target}"))

    def _find(self, app: App, target: Entity, ref: Ref) -> str | None:
        if ref.national:
            return ref.value if self.store.exists(target, ref.value) else None
        held = self.store.ref(app.id, target, ref.value)
        return None if held is None else held[0]

    def _data(self, item: _Item) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for spec in TABLES[item.entity]:
            if spec.name == "external_ref" or spec.kind == "refs":
                continue
            if spec.kind == "ref":
                data[spec.held] = item.resolved.get(spec.held)
            elif spec.kind == "strlist":
                data[spec.name] = list(item.values[spec.name] or ())
            else:
                data[spec.name] = canonical_value(item.values[spec.name])
        return data

    def _write(self, item: _Item, data: dict[str, Any]) -> Result:
        extra = self._columns(item.entity, data)
        if item.held is None:
            national_id = self._new_id(item.entity, data)
            self.store.insert(Row(national_id, item.entity, data, 1, False, None, self.stamp(),
                                  None), **extra)
            self.store.add_ref(item.app.id, item.entity, item.values["external_ref"],
                               national_id, "owner")
            return Result(item.sent_ref, "created", national_id)
        national_id = item.held[0]
        current = self.store.record(national_id)
        assert current is not None
        if current.data == data:
            return Result(item.sent_ref, "unchanged", national_id)
        self.store.update(national_id, data, self.stamp(), **extra)
        return Result(item.sent_ref, "updated", national_id)

    @staticmethod
    def _columns(entity: Entity, data: dict[str, Any]) -> dict[str, Any]:
        if entity == "project":
            return {"span": (data["start_at"], data["end_at"])}
        if entity == "service_record":
            return {"span": (data["start_at"], data["end_at"]),
                    "volunteer_id": data["volunteer_national_id"]}
        return {}

    def _new_id(self, entity: Entity, data: dict[str, Any]) -> str:
        seq = self.store.next_value(entity)
        if entity != "volunteer":
            return f"{ID_LETTER[entity]}{seq:012d}"
        month = datetime.now(checks.CST).strftime("%y%m")
        body = f"{data['area_code'][:2]}0000{month}{seq % 1_000_000:06d}"
        check = sum((i + 3) * int(c) for i, c in enumerate(body)) % 36
        return f"V{body}{_ALNUM[check]}"

    # service records ----------------------------------------------------------------
    def _record_checks(self, item: _Item) -> None:
        if item.held is not None:
            current = self.store.record(item.held[0])
            if current is not None and current.revoked:
                item.errors.append(Err("external_ref", "REVOKED",
                                       "this service record was revoked"))
        begin, finish = item.values["start_at"], item.values["end_at"]
        if begin is None or finish is None or finish <= begin:
            return
        start, end = checks.instant(begin), checks.instant(finish)
        project = item.resolved.get("project_national_id")
        span = self.store.span(project) if project else None
        if span is not None and start < span[0]:
            item.errors.append(Err("start_at", "OUT_OF_RANGE", "before the project's start_at"))
        if span is not None and end > span[1]:
            item.errors.append(Err("end_at", "OUT_OF_RANGE", "after the project's end_at"))
        volunteer = item.resolved.get("volunteer_national_id")
        mine = item.held[0] if item.held else None
        if volunteer and self.store.overlaps(volunteer, start, end, mine):
            item.errors.append(Err("start_at", "OVERLAPPING_RECORD",
                                   "the volunteer holds a live record overlapping this span"))

    # volunteers -----------------------------------------------------------------------
    def _volunteer(self, item: _Item) -> Result:
        identity = None
        if item.fine("id_type", "id_number"):
            identity = f"{item.values['id_type']}|{item.values['id_number']}"
            if item.held is not None:
                current = self.store.record(item.held[0])
                if current is not None and current.identity != identity:
                    item.errors.append(Err("id_number", "IDENTITY_CONFLICT",
                                           "this external_ref is bound to another person"))
        if item.errors or identity is None:
            return item.rejected()
        orgs: list[str] = item.resolved.get("organization_national_ids") or []
        ref = item.values["external_ref"]
        if item.held is None:
            person = self.store.by_identity(identity)
            if person is not None:
                self.store.add_ref(item.app.id, "volunteer", ref, person, "alias")
                self.store.set_memberships(item.app.id, ref, person, orgs)
                self.store.touch(person, self.stamp())
                return Result(item.sent_ref, "matched", person)
            return self._new_volunteer(item, identity, orgs)
        return self._known_volunteer(item, orgs)

    def _known_volunteer(self, item: _Item, orgs: list[str]) -> Result:
        """An upsert under a ref already held: the owner replaces the profile; any ref
        replaces its own memberships."""
        assert item.held is not None
        national_id, role = item.held
        ref = item.values["external_ref"]
        mine_changed = self.store.memberships(item.app.id, ref) != orgs
        if mine_changed:
            self.store.set_memberships(item.app.id, ref, national_id, orgs)
        if role == "owner":
            result = self._write(item, self._data(item))
            if result.status == "updated" or not mine_changed:
                return result
        elif not mine_changed:
            return Result(item.sent_ref, "unchanged", national_id)
        self.store.touch(national_id, self.stamp())
        return Result(item.sent_ref, "updated", national_id)

    def _new_volunteer(self, item: _Item, identity: str, orgs: list[str]) -> Result:
        data = self._data(item)
        national_id = self._new_id("volunteer", data)
        self.store.insert(Row(national_id, "volunteer", data, 1, False, None, self.stamp(),
                              identity))
        ref = item.values["external_ref"]
        self.store.add_ref(item.app.id, "volunteer", ref, national_id, "owner")
        self.store.set_memberships(item.app.id, ref, national_id, orgs)
        return Result(item.sent_ref, "created", national_id)

    # revocation -----------------------------------------------------------------------
    def revoke(self, app: App, items: list[dict[str, Any]]) -> list[Result]:
        return [self._revoke(app, item) for item in items]

    def _revoke(self, app: App, item: Mapping[str, Any]) -> Result:
        ref, reason = item.get("external_ref"), item.get("reason")
        errors = [*_plain("external_ref", ref, 128), *_plain("reason", reason, 200)]
        if not errors and not checks.EXTERNAL_REF.fullmatch(str(ref)):
            errors.append(Err("external_ref", "INVALID_FORMAT", "not a valid external_ref"))
        if errors:
            return Result(ref, "rejected", None, tuple(errors))
        held = self.store.ref(app.id, "service_record", str(ref))
        if held is None:
            return Result(ref, "not_found")
        current = self.store.record(held[0])
        assert current is not None
        if current.revoked:
            return Result(ref, "unchanged", held[0])
        self.store.revoke(held[0], str(reason), self.stamp())
        return Result(ref, "revoked", held[0])


def _plain(name: str, value: Any, limit: int) -> list[Err]:
    if value is None or value == "":
        return [Err(name, "REQUIRED", "required")]
    if not isinstance(value, str):
        return [Err(name, "INVALID_FORMAT", "must be a string")]
    problem = checks.string_problem(value)
    if problem:
        return [Err(name, "INVALID_FORMAT", f"has {problem}")]
    if len(value) > limit:
        return [Err(name, "INVALID_FORMAT", f"longer than {limit} characters")]
    return []
