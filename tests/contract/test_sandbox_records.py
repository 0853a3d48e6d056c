"""Upsert semantics, references, aliases, identities, spans and revocation (§5–§7)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from tests.contract.conftest import Api, World, codes, id_number, org, project, record, volunteer

VOL_ID = re.compile(r"V[0-9]{6}[0-9]{4}[0-9]{6}[0-9A-Z]")


def _held(api: Api, path: str, ref: str) -> dict[str, Any]:
    response = api.get(path, [("external_ref", ref)])
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


# upserts -----------------------------------------------------------------------------
def test_the_same_item_again_is_unchanged(api: Api, uid: str) -> None:
    first = api.one("/organizations/batch", org(f"{uid}:o:1"))
    second = api.one("/organizations/batch", org(f"{uid}:o:1"))
    assert second == {**first, "status": "unchanged"}
    assert _held(api, "/organizations", f"{uid}:o:1")["version"] == 1


def test_a_change_is_updated_and_bumps_the_version(api: Api, uid: str) -> None:
    api.one("/organizations/batch", org(f"{uid}:o:1"))
    result = api.one("/organizations/batch", org(f"{uid}:o:1", name="海沧区新阳街道志愿队"))
    assert result["status"] == "updated"
    held = _held(api, "/organizations", f"{uid}:o:1")
    assert held["version"] == 2 and held["name"] == "海沧区新阳街道志愿队"


def test_an_omitted_optional_field_is_cleared(api: Api, uid: str) -> None:
    api.one("/organizations/batch", org(f"{uid}:o:1", address="海沧街道"))
    assert api.one("/organizations/batch", org(f"{uid}:o:1"))["status"] == "updated"
    assert _held(api, "/organizations", f"{uid}:o:1")["address"] is None


def test_unchanged_compares_instants_sets_and_numbers(api: Api, world: World) -> None:
    first = record(f"{world.uid}:r:1", world.volunteer, world.project, hours=2)
    assert api.one("/service-records/batch", first)["status"] == "created"
    same = dict(first, start_at="2025-06-01T01:00:00Z", end_at="2025-06-01T03:00:00.000Z",
                hours=2.00)
    assert api.one("/service-records/batch", same)["status"] == "unchanged"
    o = org(f"{world.uid}:o:2", service_categories=["0006", "0001"])
    api.one("/organizations/batch", o)
    reordered = dict(o, service_categories=["0001", "0006"])
    assert api.one("/organizations/batch", reordered)["status"] == "unchanged"


def test_skills_keep_their_order(api: Api, uid: str) -> None:
    number = id_number()
    api.one("/volunteers/batch", volunteer(f"{uid}:v:1", number, skills=["急救", "翻译"]))
    again = volunteer(f"{uid}:v:1", number, skills=["翻译", "急救"])
    assert api.one("/volunteers/batch", again)["status"] == "updated"


def test_national_ids_have_the_documented_shape(api: Api, world: World) -> None:
    assert VOL_ID.fullmatch(world.volunteer_id)
    assert world.volunteer_id[1:7] == "350000"
    held = _held(api, "/organizations", world.org)
    assert re.fullmatch(r"O[0-9]+", held["national_id"])
    assert re.fullmatch(r"P[0-9]+", _held(api, "/projects", world.project)["national_id"])


def test_an_item_may_refer_to_an_earlier_item_of_its_batch(api: Api, uid: str) -> None:
    parent, team = org(f"{uid}:o:1"), org(f"{uid}:o:2", parent_external_ref=f"{uid}:o:1")
    results = api.batch("/organizations/batch", parent, team)
    assert [r["status"] for r in results] == ["created", "created"]
    assert _held(api, "/organizations", f"{uid}:o:2")["parent_national_id"] == \
        results[0]["national_id"]


def test_an_item_cannot_refer_to_a_later_item_of_its_batch(api: Api, uid: str) -> None:
    team, parent = org(f"{uid}:o:2", parent_external_ref=f"{uid}:o:1"), org(f"{uid}:o:1")
    results = api.batch("/organizations/batch", team, parent)
    assert codes(results[0]) == {("parent_external_ref", "REF_NOT_FOUND")}


def test_a_reference_by_national_id_is_resolved(api: Api, world: World) -> None:
    org_id = _held(api, "/organizations", world.org)["national_id"]
    item = project(f"{world.uid}:p:2", world.org)
    del item["organization_external_ref"]
    item["organization_national_id"] = org_id
    assert api.one("/projects/batch", item)["status"] == "created"


def test_external_refs_resolve_only_among_the_apps_own(api: Api, world: World) -> None:
    other = api.as_app("app-b")
    result = other.one("/projects/batch", project(f"{world.uid}:p:9", world.org))
    assert codes(result) == {("organization_external_ref", "REF_NOT_FOUND")}


# volunteers: aliases and identity --------------------------------------------------------
def test_a_second_ref_of_the_same_person_is_matched(api: Api, uid: str) -> None:
    number = id_number()
    first = api.one("/volunteers/batch", volunteer(f"{uid}:v:1", number))
    second = api.one("/volunteers/batch", volunteer(f"{uid}:v:2", number, name="林志"))
    assert second["status"] == "matched" and second["national_id"] == first["national_id"]
    held = _held(api, "/volunteers", f"{uid}:v:2")
    assert held["external_refs"] == [f"{uid}:v:1", f"{uid}:v:2"]
    assert held["name"] == "林志贵"


def test_another_apps_registration_is_matched(api: Api, uid: str) -> None:
    number = id_number()
    first = api.one("/volunteers/batch", volunteer(f"{uid}:v:1", number))
    other = api.as_app("app-b").one("/volunteers/batch", volunteer(f"{uid}:v:1", number))
    assert other["status"] == "matched" and other["national_id"] == first["national_id"]
    refs = {(r["app_id"], r["external_ref"], r["role"])
            for v in api.sandbox.records("volunteers") if v["national_id"] == first["national_id"]
            for r in v["refs"]}
    assert refs == {("app-a", f"{uid}:v:1", "owner"), ("app-b", f"{uid}:v:1", "alias")}


def test_the_owner_ref_replaces_the_profile_and_an_alias_does_not(api: Api, uid: str) -> None:
    number = id_number()
    api.one("/volunteers/batch", volunteer(f"{uid}:v:1", number))
    api.one("/volunteers/batch", volunteer(f"{uid}:v:2", number))
    alias = api.one("/volunteers/batch", volunteer(f"{uid}:v:2", number, email="a@b.cn"))
    assert alias["status"] == "unchanged"
    assert _held(api, "/volunteers", f"{uid}:v:1")["email"] is None
    owner = api.one("/volunteers/batch", volunteer(f"{uid}:v:1", number, email="a@b.cn"))
    assert owner["status"] == "updated"


def test_an_alias_status_never_deactivates_the_person(api: Api, uid: str) -> None:
    number = id_number()
    api.one("/volunteers/batch", volunteer(f"{uid}:v:1", number))
    api.one("/volunteers/batch", volunteer(f"{uid}:v:2", number, status="inactive"))
    api.one("/volunteers/batch", volunteer(f"{uid}:v:2", number, status="inactive"))
    assert _held(api, "/volunteers", f"{uid}:v:1")["status"] == "active"


def test_memberships_are_the_union_of_every_refs(api: Api, uid: str) -> None:
    api.batch("/organizations/batch", org(f"{uid}:o:1"), org(f"{uid}:o:2"))
    number = id_number()
    api.one("/volunteers/batch", volunteer(f"{uid}:v:1", number,
                                           organization_external_refs=[f"{uid}:o:1"]))
    matched = api.one("/volunteers/batch", volunteer(
        f"{uid}:v:2", number, organization_external_refs=[f"{uid}:o:2"]))
    assert matched["status"] == "matched"
    orgs = {_held(api, "/organizations", f"{uid}:o:{i}")["national_id"] for i in (1, 2)}
    assert set(_held(api, "/volunteers", f"{uid}:v:1")["organization_national_ids"]) == orgs


def test_a_later_alias_upsert_is_judged_by_its_own_memberships(api: Api, uid: str) -> None:
    api.one("/organizations/batch", org(f"{uid}:o:1"))
    number = id_number()
    api.one("/volunteers/batch", volunteer(f"{uid}:v:1", number))
    api.one("/volunteers/batch", volunteer(f"{uid}:v:2", number))
    joined = volunteer(f"{uid}:v:2", number, organization_external_refs=[f"{uid}:o:1"])
    assert api.one("/volunteers/batch", joined)["status"] == "updated"
    assert api.one("/volunteers/batch", joined)["status"] == "unchanged"
    held = _held(api, "/volunteers", f"{uid}:v:1")
    assert len(held["organization_national_ids"]) == 1 and held["version"] == 3


def test_an_alias_item_is_validated_in_full(api: Api, uid: str) -> None:
    number = id_number()
    api.one("/volunteers/batch", volunteer(f"{uid}:v:1", number))
    bad = api.one("/volunteers/batch", volunteer(f"{uid}:v:2", number, mobile="123"))
    assert codes(bad) == {("mobile", "INVALID_FORMAT")}


def test_a_ref_sent_with_another_persons_id_is_an_identity_conflict(api: Api, uid: str) -> None:
    api.one("/volunteers/batch", volunteer(f"{uid}:v:1"))
    result = api.one("/volunteers/batch", volunteer(f"{uid}:v:1"))
    assert codes(result) == {("id_number", "IDENTITY_CONFLICT")}


def test_an_alias_sent_with_another_persons_id_is_an_identity_conflict(api: Api,
                                                                        uid: str) -> None:
    number = id_number()
    api.one("/volunteers/batch", volunteer(f"{uid}:v:1", number))
    api.one("/volunteers/batch", volunteer(f"{uid}:v:2", number))
    result = api.one("/volunteers/batch", volunteer(f"{uid}:v:2"))
    assert codes(result) == {("id_number", "IDENTITY_CONFLICT")}


def test_one_human_under_two_id_types_is_two_volunteers(api: Api, uid: str) -> None:
    taiwan = {"nationality": "158", "mobile": "+886912345678", "ethnicity": None}
    permit = volunteer(f"{uid}:v:1", id_number(date(1980, 1, 1)), **taiwan)
    pass_card = dict(permit, external_ref=f"{uid}:v:2", id_type="04",
                     id_number=f"{int(uid[1:9], 16) % 10**8:08d}")
    results = api.batch("/volunteers/batch", permit, pass_card)
    assert results[0]["status"] == "created"
    assert results[1]["status"] in ("created", "matched")
    assert results[0]["national_id"] != results[1]["national_id"]


# service records: overlaps and revocation ----------------------------------------------
def test_an_overlapping_record_is_refused(api: Api, world: World) -> None:
    api.one("/service-records/batch", record(f"{world.uid}:r:1", world.volunteer,
                                             world.project))
    other = record(f"{world.uid}:r:2", world.volunteer, world.project, start="10:00:00",
                   end="12:00:00")
    assert codes(api.one("/service-records/batch", other)) == {("start_at",
                                                                "OVERLAPPING_RECORD")}


def test_touching_spans_do_not_overlap(api: Api, world: World) -> None:
    api.one("/service-records/batch", record(f"{world.uid}:r:1", world.volunteer,
                                             world.project))
    after = record(f"{world.uid}:r:2", world.volunteer, world.project, start="11:00:00",
                   end="13:00:00")
    assert api.one("/service-records/batch", after)["status"] == "created"


def test_a_record_never_overlaps_itself(api: Api, world: World) -> None:
    api.one("/service-records/batch", record(f"{world.uid}:r:1", world.volunteer,
                                             world.project))
    moved = record(f"{world.uid}:r:1", world.volunteer, world.project, start="10:00:00",
                   end="12:00:00")
    assert api.one("/service-records/batch", moved)["status"] == "updated"


def test_overlaps_count_across_the_persons_aliases(api: Api, world: World) -> None:
    number = id_number()
    api.one("/volunteers/batch", volunteer(f"{world.uid}:v:8", number))
    api.one("/volunteers/batch", volunteer(f"{world.uid}:v:9", number))
    api.one("/service-records/batch", record(f"{world.uid}:r:1", f"{world.uid}:v:8",
                                             world.project))
    twin = record(f"{world.uid}:r:2", f"{world.uid}:v:9", world.project)
    assert ("start_at", "OVERLAPPING_RECORD") in codes(api.one("/service-records/batch", twin))


def test_revocation_statuses(api: Api, world: World) -> None:
    created = api.one("/service-records/batch", record(f"{world.uid}:r:1", world.volunteer,
                                                       world.project))
    results = api.batch("/service-records/revoke",
                        {"external_ref": f"{world.uid}:r:1", "reason": "重复录入"},
                        {"external_ref": f"{world.uid}:r:404", "reason": "重复录入"},
                        {"external_ref": f"{world.uid}:r:5", "reason": ""})
    assert [r["status"] for r in results] == ["revoked", "not_found", "rejected"]
    assert results[0]["national_id"] == created["national_id"]
    assert results[1]["national_id"] is None
    assert codes(results[2]) == {("reason", "REQUIRED")}
    again = api.one("/service-records/revoke", {"external_ref": f"{world.uid}:r:1",
                                                "reason": "重复录入"})
    assert again["status"] == "unchanged" and again["national_id"] == created["national_id"]


def test_a_reason_over_200_characters_is_rejected(api: Api, world: World) -> None:
    result = api.one("/service-records/revoke", {"external_ref": f"{world.uid}:r:1",
                                                 "reason": "因" * 201})
    assert codes(result) == {("reason", "INVALID_FORMAT")}


def test_a_revoked_record_cannot_be_updated(api: Api, world: World) -> None:
    item = record(f"{world.uid}:r:1", world.volunteer, world.project)
    api.one("/service-records/batch", item)
    api.one("/service-records/revoke", {"external_ref": f"{world.uid}:r:1", "reason": "错"})
    result = api.one("/service-records/batch", dict(item, content="改过"))
    assert codes(result) == {("external_ref", "REVOKED")}
    held = _held(api, "/service-records", f"{world.uid}:r:1")
    assert held["revoked"] is True and held["content"] == "清理海滩垃圾"


def test_a_revoked_record_frees_its_span(api: Api, world: World) -> None:
    api.one("/service-records/batch", record(f"{world.uid}:r:1", world.volunteer,
                                             world.project))
    api.one("/service-records/revoke", {"external_ref": f"{world.uid}:r:1", "reason": "错"})
    again = record(f"{world.uid}:r:1.g2", world.volunteer, world.project)
    assert api.one("/service-records/batch", again)["status"] == "created"


def test_revoked_records_do_not_count_toward_hours(api: Api, world: World) -> None:
    results = api.batch(
        "/service-records/batch",
        record(f"{world.uid}:r:1", world.volunteer, world.project, hours=1.5),
        record(f"{world.uid}:r:2", world.volunteer, world.project, day="2025-06-02",
               end="11:30:00", hours=2.25),
        record(f"{world.uid}:r:3", world.volunteer, world.project, day="2025-06-03"))
    assert {r["status"] for r in results} == {"created"}
    api.one("/service-records/revoke", {"external_ref": f"{world.uid}:r:3", "reason": "错"})
    data = api.get(f"/volunteers/{world.volunteer_id}/hours").json()["data"]
    assert data == {"total_hours": 3.75, "records": 2}
